//! Themes: set by group admins, inherited down the tree (subgroups, classes) unless set on
//! the way, resolved with where each value comes from; moves change what is inherited; bad
//! input is refused with nothing recorded.

use reqwest::Method;
use serde_json::{json, Value};
use tests::{json_id, register, send, spawn_app, TestApp};

async fn put_theme(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, theme) = send(app, &app.token, Method::PUT, path, Some(body)).await;
    assert_eq!(status, 200, "PUT {path}: {theme}");
    theme
}

async fn theme(app: &TestApp, path: &str) -> Value {
    let (status, theme) = send(app, &app.token, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {theme}");
    theme
}

/// `(value, source, source_id)` of one member of a resolved theme.
fn value(theme: &Value, member: &str) -> (Value, String, Value) {
    let v = &theme[member];
    (
        v["value"].clone(),
        v["source"].as_str().unwrap_or_default().to_owned(),
        v["source_id"].clone(),
    )
}

fn from_group(value: &str, group: &str) -> (Value, String, Value) {
    (json!(value), "group".to_owned(), json!(group))
}

#[tokio::test]
async fn a_district_theme_is_inherited_overridden_below_and_follows_moves() {
    let app = spawn_app().await;
    let d = json_id(&app.create_group("District", None).await);
    let a = json_id(&app.create_group("School A", Some(&d)).await);
    let b = json_id(&app.create_group("School B", Some(&d)).await);
    let c = json_id(&app.create_class(&a, "Algebra").await);

    // Nothing set anywhere: the defaults.
    let fresh = theme(&app, &format!("/classes/{c}/theme")).await;
    for member in ["display_name", "primary_color", "accent_color", "logo_url"] {
        assert_eq!(fresh[member]["source"], "default", "{fresh}");
        assert!(fresh[member]["source_id"].is_null(), "{fresh}");
    }
    assert!(fresh["logo_url"]["value"].is_null(), "{fresh}");

    // The district sets everything (colours in any case, answered in lower case).
    let district = put_theme(
        &app,
        &format!("/groups/{d}/theme"),
        json!({"display_name": "  Lincoln District ", "primary_color": "#1E3A8A",
               "accent_color": "#f59e0b", "logo_url": "https://cdn.example.org/district.svg"}),
    )
    .await;
    assert_eq!(
        value(&district, "display_name"),
        from_group("Lincoln District", &d)
    );
    assert_eq!(value(&district, "primary_color"), from_group("#1e3a8a", &d));
    assert_eq!(
        value(&district, "logo_url"),
        from_group("https://cdn.example.org/district.svg", &d)
    );

    // School A overrides the accent colour only; missing members are inherited.
    let school = put_theme(
        &app,
        &format!("/groups/{a}/theme"),
        json!({"accent_color": "#16a34a"}),
    )
    .await;
    assert_eq!(value(&school, "accent_color"), from_group("#16a34a", &a));
    assert_eq!(value(&school, "primary_color"), from_group("#1e3a8a", &d));

    // The class shows the resolved theme with where each value comes from.
    let class = theme(&app, &format!("/classes/{c}/theme")).await;
    assert_eq!(value(&class, "accent_color"), from_group("#16a34a", &a));
    assert_eq!(value(&class, "primary_color"), from_group("#1e3a8a", &d));
    assert_eq!(
        value(&class, "display_name"),
        from_group("Lincoln District", &d)
    );
    assert_eq!(
        value(&class, "logo_url"),
        from_group("https://cdn.example.org/district.svg", &d)
    );
    // School B has the district's accent.
    let other = theme(&app, &format!("/groups/{b}/theme")).await;
    assert_eq!(value(&other, "accent_color"), from_group("#f59e0b", &d));

    // Moving the class to school B: it inherits from there at once.
    let moved = app
        .post_json(&format!("/classes/{c}/move"), &json!({"group_id": b}))
        .await;
    assert_eq!(moved.status(), 200);
    let class = theme(&app, &format!("/classes/{c}/theme")).await;
    assert_eq!(value(&class, "accent_color"), from_group("#f59e0b", &d));

    // A class may set its own value; it wins over its groups'.
    let own = put_theme(
        &app,
        &format!("/classes/{c}/theme"),
        json!({"primary_color": "#000000", "display_name": null}),
    )
    .await;
    assert_eq!(
        value(&own, "primary_color"),
        (json!("#000000"), "class".to_owned(), json!(c))
    );
    assert_eq!(value(&own, "accent_color"), from_group("#f59e0b", &d));

    // Moving a group carries its subtree to new ancestors: school B under school A now
    // takes school A's accent, and so does the class in it.
    let moved = app
        .post_json(&format!("/groups/{b}/move"), &json!({"parent_id": a}))
        .await;
    assert_eq!(moved.status(), 200);
    let school_b = theme(&app, &format!("/groups/{b}/theme")).await;
    assert_eq!(value(&school_b, "accent_color"), from_group("#16a34a", &a));
    let class = theme(&app, &format!("/classes/{c}/theme")).await;
    assert_eq!(value(&class, "accent_color"), from_group("#16a34a", &a));

    // Clearing a value (null) goes back to inheriting it: the district drops its name.
    let before = app.count_event_type("group.theme_set").await;
    let cleared = put_theme(
        &app,
        &format!("/groups/{d}/theme"),
        json!({"display_name": null, "primary_color": "#1e3a8a", "accent_color": "#f59e0b",
               "logo_url": "https://cdn.example.org/district.svg"}),
    )
    .await;
    assert_eq!(
        value(&cleared, "display_name"),
        (json!("Raptscallions"), "default".to_owned(), Value::Null)
    );
    assert_eq!(app.count_event_type("group.theme_set").await, before + 1);
    // The same theme again records nothing.
    put_theme(
        &app,
        &format!("/groups/{d}/theme"),
        json!({"primary_color": "#1E3A8A", "accent_color": "#f59e0b",
               "logo_url": "https://cdn.example.org/district.svg"}),
    )
    .await;
    assert_eq!(app.count_event_type("group.theme_set").await, before + 1);
    let class = theme(&app, &format!("/classes/{c}/theme")).await;
    assert_eq!(class["display_name"]["source"], "default", "{class}");

    // Replaying the read model from the log gives the same rows, and the same answers.
    app.wait_for_subscribers().await;
    let themes: Vec<_> = projections::all_projections()
        .into_iter()
        .filter(|p| p.name() == projections::themes::NAME)
        .collect();
    let comparisons = projections::replay::compare(&app.config.database, &themes, 500, &|_| {})
        .await
        .unwrap();
    assert!(
        comparisons
            .iter()
            .all(|c| c.identical() && c.events_applied > 0),
        "{comparisons:?}"
    );
    projections::replay::rebuild(
        &app.pool,
        &app.config.database,
        themes[0].as_ref(),
        500,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(theme(&app, &format!("/classes/{c}/theme")).await, class);
}

#[tokio::test]
async fn bad_theme_input_is_a_422_with_a_stable_type_and_records_nothing() {
    let app = spawn_app().await;
    let g = json_id(&app.create_group("District", None).await);
    let c = json_id(&app.create_class(&g, "Algebra").await);
    let cases = [
        (json!({"primary_color": "#12345"}), "invalid-color"),
        (json!({"primary_color": "red"}), "invalid-color"),
        (json!({"accent_color": "#GGGGGG"}), "invalid-color"),
        (json!({"accent_color": "1d4ed8"}), "invalid-color"),
        (json!({"accent_color": "#1d4ed8ff"}), "invalid-color"),
        (
            json!({"logo_url": "http://cdn.example.org/logo.png"}),
            "invalid-logo-url",
        ),
        (json!({"logo_url": "not a url"}), "invalid-logo-url"),
        (json!({"logo_url": "/logo.png"}), "invalid-logo-url"),
        (
            json!({"logo_url": "javascript:alert(1)"}),
            "invalid-logo-url",
        ),
        (
            json!({"logo_url": "https://user:secret@cdn.example.org/logo.png"}),
            "invalid-logo-url",
        ),
        (
            json!({"display_name": "\u{200b}\u{200b}"}),
            "invisible-name",
        ),
        (
            json!({"display_name": "abc\u{202e}gnp.exe"}),
            "invisible-name",
        ),
        (json!({"display_name": "   "}), "invalid-request"),
        (json!({"display_name": "x".repeat(201)}), "invalid-request"),
        (json!({"primary_color": 5}), "invalid-request"),
        (json!({"colour": "#ffffff"}), "invalid-request"),
    ];
    let events = app.log_length().await;
    for path in [format!("/groups/{g}/theme"), format!("/classes/{c}/theme")] {
        for (body, kind) in &cases {
            let response = app
                .request(Method::PUT, &path)
                .json(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 422, "{path} {body}");
            let content_type = response.headers()["content-type"].to_str().unwrap();
            assert!(
                content_type.starts_with("application/problem+json"),
                "{path} {body}: {content_type}"
            );
            let problem: Value = response.json().await.unwrap();
            assert_eq!(
                problem["type"],
                format!("https://raptscallions.app/problems/{kind}"),
                "{path} {body}: {problem}"
            );
        }
    }
    assert_eq!(app.log_length().await, events, "nothing was recorded");

    // Archived groups and classes keep the theme they have.
    app.post(&format!("/classes/{c}/archive")).await;
    app.post(&format!("/groups/{g}/archive")).await;
    for (path, kind) in [
        (format!("/groups/{g}/theme"), "group-archived"),
        (format!("/classes/{c}/theme"), "class-archived"),
    ] {
        let (status, problem) = send(
            &app,
            &app.token,
            Method::PUT,
            &path,
            Some(json!({"accent_color": "#16a34a"})),
        )
        .await;
        assert_eq!(status, 409, "{path}: {problem}");
        assert_eq!(
            problem["type"],
            format!("https://raptscallions.app/problems/{kind}")
        );
        // Still readable.
        theme(&app, &path).await;
    }
}

#[tokio::test]
async fn admins_set_themes_everyone_who_reads_sees_them() {
    let app = spawn_app().await;
    let d = json_id(&app.create_group("District", None).await);
    let g = json_id(&app.create_group("School", Some(&d)).await);
    let sibling = json_id(&app.create_group("Sibling", Some(&d)).await);
    let c = json_id(&app.create_class(&g, "Algebra").await);
    let mut tokens = std::collections::HashMap::new();
    for who in ["admin", "sibling_admin", "teacher", "student", "counselor"] {
        let (token, user) = register(&app, &format!("{who}@example.org"), "theme password").await;
        let id = json_id(&user);
        match who {
            "admin" => {
                app.put_role(&format!("/groups/{g}/members/{id}"), "admin")
                    .await
            }
            "counselor" => {
                app.put_role(&format!("/groups/{g}/members/{id}"), "counselor")
                    .await
            }
            "sibling_admin" => {
                app.put_role(&format!("/groups/{sibling}/members/{id}"), "admin")
                    .await
            }
            role => {
                app.put_role(&format!("/classes/{c}/members/{id}"), role)
                    .await
            }
        }
        tokens.insert(who, token);
    }
    let body = json!({"accent_color": "#16a34a"});
    let school_theme = format!("/groups/{g}/theme");
    let class_theme = format!("/classes/{c}/theme");
    for (who, path, expected) in [
        ("admin", &school_theme, 200),
        ("admin", &class_theme, 200),
        ("counselor", &school_theme, 403),
        ("counselor", &class_theme, 403),
        ("teacher", &class_theme, 403),
        ("student", &class_theme, 403),
        ("teacher", &school_theme, 404),
        ("sibling_admin", &school_theme, 404),
        ("sibling_admin", &class_theme, 404),
    ] {
        let status = app
            .status_as(&tokens[who], Method::PUT, path, Some(body.clone()))
            .await;
        assert_eq!(status, expected, "PUT {path} as {who}");
    }
    // The class's students and teachers read the class's theme, not the school's.
    for who in ["student", "teacher", "counselor", "admin"] {
        let (status, theme) = send(&app, &tokens[who], Method::GET, &class_theme, None).await;
        assert_eq!(status, 200, "GET {class_theme} as {who}");
        assert_eq!(theme["accent_color"]["source"], "class", "{who}: {theme}");
    }
    assert_eq!(
        app.status_as(&tokens["student"], Method::GET, &school_theme, None)
            .await,
        404
    );
    assert_eq!(
        app.status_as(&tokens["sibling_admin"], Method::GET, &class_theme, None)
            .await,
        404
    );

    // /me/abilities offers the theme actions to the admins above, and to nobody else.
    let abilities = |who: &'static str| {
        let app = &app;
        let token = tokens[who].clone();
        async move {
            let (status, abilities) = send(app, &token, Method::GET, "/me/abilities", None).await;
            assert_eq!(status, 200);
            abilities
        }
    };
    let admin = abilities("admin").await;
    assert!(admin["groups"][&g]
        .as_array()
        .unwrap()
        .contains(&json!("group.manage_theme")));
    assert!(admin["classes"][&c]
        .as_array()
        .unwrap()
        .contains(&json!("class.manage_theme")));
    let teacher = abilities("teacher").await;
    assert!(!teacher["classes"][&c]
        .as_array()
        .unwrap()
        .contains(&json!("class.manage_theme")));
    let counselor = abilities("counselor").await;
    assert!(!counselor["groups"][&g]
        .as_array()
        .unwrap()
        .contains(&json!("group.manage_theme")));
}
