//! Health, readiness, OpenAPI, configuration errors and failure modes.

use serde_json::Value;
use tests::{run_cli, spawn_app};

#[tokio::test]
async fn health_ready_openapi_and_docs() {
    let app = spawn_app().await;
    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    let health: Value = health.json().await.unwrap();
    assert!(
        health["status"] == "ok" || health["nats"] != "ok",
        "{health}"
    );

    // The NATS connection is made in the background after start-up (`/ready` does not
    // wait for it).
    let mut ready = app.get("/ready").await;
    for _ in 0..100 {
        if ready.status() == 200 {
            let body: Value = app.get("/ready").await.json().await.unwrap();
            if body["nats"] == "ok" {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        ready = app.get("/ready").await;
    }
    assert_eq!(ready.status(), 200);
    let ready: Value = app.get("/ready").await.json().await.unwrap();
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["migrations"], "ok");
    assert_eq!(ready["nats"], "ok");
    let health: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["nats"], "ok");

    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/groups",
        "/groups/{id}",
        "/groups/{id}/archive",
        "/events",
        "/streams/{aggregate_type}/{aggregate_id}",
        "/health",
        "/ready",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} documented");
    }
    let create = &spec["paths"]["/groups"]["post"];
    for status in ["201", "400", "409", "413", "415", "422", "500", "503"] {
        assert!(
            create["responses"][status].is_object(),
            "POST /groups documents {status}"
        );
    }
    assert!(create["responses"]["422"]["content"]["application/problem+json"].is_object());

    // Identity: every endpoint documented, every body it takes or gives with an example.
    for (path, method) in [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/logout", "post"),
        ("/auth/logout-all", "post"),
        ("/auth/me", "get"),
        ("/auth/sessions", "get"),
        ("/auth/sessions/{id}", "delete"),
        ("/auth/password", "put"),
        ("/auth/password-reset", "post"),
        ("/auth/password-reset/confirm", "post"),
        ("/users/{id}/disable", "post"),
        ("/users/{id}/enable", "post"),
        ("/users/{id}/admin", "post"),
        ("/users/{id}/auditor", "post"),
    ] {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} documented"
        );
    }
    let schemas = &spec["components"]["schemas"];
    for schema in [
        "Register",
        "Login",
        "ChangePassword",
        "ResetRequest",
        "ResetConfirm",
        "AdminFlag",
        "AuditorFlag",
        "SignedIn",
        "User",
        "CurrentSession",
        "Me",
        "SessionDto",
        "SessionList",
        "Problem",
        "ProviderList",
        "LinkStart",
        "Links",
        "LinkDto",
        "Event",
        "EventMetadata",
        "StreamRef",
        "EventPage",
        "EventStream",
    ] {
        assert!(
            schemas[schema]["example"].is_object(),
            "{schema} has an example: {}",
            schemas[schema]
        );
    }
    assert_eq!(
        schemas["SignedIn"]["example"]["user"]["email"],
        "ada@example.org"
    );
    // Every body a client sends or gets, anywhere in the API, comes with an example: a
    // list's through its items, a union's with one per kind (poem-openapi gives unions none
    // of their own).
    let named = |reference: &Value| {
        reference
            .as_str()
            .map(|r| r.trim_start_matches("#/components/schemas/").to_owned())
    };
    let with_examples = |schema: &Value| -> Vec<String> {
        let Some(name) = named(&schema["$ref"]).or_else(|| named(&schema["items"]["$ref"])) else {
            return vec![];
        };
        match schemas[&name]["discriminator"]["mapping"].as_object() {
            Some(mapping) => mapping
                .values()
                .filter_map(|variant| named(&schemas[named(variant).unwrap()]["allOf"][1]["$ref"]))
                .collect(),
            None => vec![name],
        }
    };
    let (mut requests, mut responses) = (0, 0);
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let request = operation["requestBody"]["content"].as_object();
            let answers = operation["responses"].as_object().unwrap().values();
            let bodies = request
                .into_iter()
                .flat_map(|content| content.values().map(|c| (true, c)))
                .chain(answers.flat_map(|answer| {
                    answer["content"]
                        .as_object()
                        .into_iter()
                        .flat_map(|content| content.values().map(|c| (false, c)))
                }));
            for (sent, content) in bodies {
                if sent && content["schema"]["$ref"].is_string() {
                    let name = named(&content["schema"]["$ref"]).unwrap();
                    assert!(
                        schemas[&name]["additionalProperties"] == false
                            || schemas[&name]["discriminator"].is_object(),
                        "{method} {path}: {name} says it refuses unknown fields"
                    );
                }
                for schema in with_examples(&content["schema"]) {
                    *(if sent { &mut requests } else { &mut responses }) += 1;
                    assert!(
                        !schemas[&schema]["example"].is_null(),
                        "{method} {path}: {schema} has an example"
                    );
                }
            }
        }
    }
    // An optional field is sent as null when it has no value (and null is accepted for it),
    // so the document says so: strict clients generated from it would reject the null
    // otherwise. `Problem` leaves absent members out instead.
    for (name, schema) in schemas.as_object().unwrap() {
        let required: Vec<&Value> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if name != "Problem" && !required.contains(&&Value::from(field.as_str())) {
                assert_eq!(
                    property["nullable"], true,
                    "{name}.{field} is optional, so nullable: {property}"
                );
            }
        }
    }
    assert!(requests >= 25, "{requests} request bodies found");
    // The objects inside closed bodies are closed too; request strings exclude NUL.
    for inner in [
        "EmailPreferences",
        "CriterionScoreInput",
        "AssessmentTraceInput",
    ] {
        assert_eq!(schemas[inner]["additionalProperties"], false, "{inner}");
    }
    assert_eq!(
        schemas["CreateGroup"]["properties"]["name"]["pattern"],
        "^[^\\u0000]*$"
    );
    assert!(responses >= 60, "{responses} response bodies found");
    // Even the documentation's events show password hashes only as the API does.
    assert_eq!(
        schemas["Event"]["example"]["payload"]["password_hash"],
        "[redacted]"
    );

    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn database_down_is_503_and_recovers() {
    let app = spawn_app().await;
    let group = app.create_group("Before outage", None).await;
    let id = group["id"].as_str().unwrap();
    let admin = tests::TestDb::admin_pool().await;
    let name = &app.db.name;
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&admin)
        .await
        .unwrap();

    let response = app.get(&format!("/groups/{id}")).await;
    assert_eq!(response.status(), 503);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/service-unavailable"
    );
    let response = app
        .post_json("/groups", &serde_json::json!({"name": "During outage"}))
        .await;
    assert_eq!(response.status(), 503);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    // Liveness needs no database (probes send no token).
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let mut recovered = false;
    for _ in 0..100 {
        if app.get(&format!("/groups/{id}")).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(recovered);
}

#[tokio::test]
async fn an_internal_error_is_an_opaque_500() {
    let app = spawn_app().await;
    let group = app.create_group("Will break", None).await;
    let id = group["id"].as_str().unwrap();
    // The row is in the read model once a read has returned it (creation does not wait).
    assert_eq!(app.get(&format!("/groups/{id}")).await.status(), 200);
    // Corrupt the read model so that reading the row fails inside the server.
    sqlx::query("UPDATE groups SET path = 'secretinternalvalue' WHERE id = $1::uuid")
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app.get(&format!("/groups/{id}")).await;
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/internal"
    );
    for leak in ["secretinternalvalue", "ColumnDecode", "sqlx", "path"] {
        assert!(!body.contains(leak), "500 body leaks {leak}: {body}");
    }
}

#[tokio::test]
async fn missing_or_malformed_configuration_names_the_variable() {
    let mut env = std::collections::HashMap::new();
    env.insert("NATS_URL".to_owned(), "nats://127.0.0.1:4222".to_owned());
    let (ok, output) = run_cli(&env, &["serve"]).await;
    assert!(!ok);
    assert!(output.contains("DATABASE_URL"), "{output}");

    env.insert(
        "DATABASE_URL".to_owned(),
        "postgres://postgres@127.0.0.1:5432/x".to_owned(),
    );
    env.insert("BIND_ADDR".to_owned(), "not-an-address".to_owned());
    let (ok, output) = run_cli(&env, &["serve"]).await;
    assert!(!ok);
    assert!(output.contains("BIND_ADDR"), "{output}");
}

#[tokio::test]
async fn connections_the_database_dropped_while_idle_are_replaced_before_use() {
    let db = tests::TestDb::create().await;
    let config =
        infrastructure::Config::from_vars(tests::test_env(&db, &tests::TestOptions::default()))
            .unwrap();
    // The server's pool, alone (a running server has background users that would find a
    // dead connection first).
    let pool = infrastructure::db::pool(&config);
    let one = || async {
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(&pool)
            .await
    };
    assert_eq!(one().await.unwrap(), 1);
    // Its connection goes, as in a database restart or a server-side idle timeout.
    let admin = tests::TestDb::admin_pool().await;
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db.name)
        .execute(&admin)
        .await
        .unwrap();
    // Idle for longer than the pool trusts a connection without a ping: it is pinged, found
    // dead and replaced, and the query succeeds.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(one().await.unwrap(), 1);
}

/// A subscriber that cannot handle an event restarts on it again and again; `/health` says
/// so (`failures`, `status: degraded`) instead of looking fine while a read model stands
/// still. Here: an event of a type no version of the code wrote, put into the log directly.
#[tokio::test]
async fn a_subscriber_stuck_on_an_event_shows_in_health() {
    let app = spawn_app().await;
    app.wait_for_subscribers().await;
    let before: Value = app.get("/health").await.json().await.unwrap();
    assert_eq!(before["status"], "ok");
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata) \
         VALUES ('group', gen_random_uuid()::text, 1, 'group.unheard_of', '1', \
         '{\"type\": \"group.unheard_of\"}', '{}')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let mut health = Value::Null;
    for _ in 0..200 {
        health = app.get("/health").await.json().await.unwrap();
        if health["status"] == "degraded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(health["status"], "degraded", "{health}");
    let groups = health["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "groups")
        .unwrap();
    assert!(groups["failures"].as_u64().unwrap() >= 1, "{health}");
    // Subscribers of other aggregate types go on.
    let identity = health["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "identity")
        .unwrap();
    assert_eq!(identity["failures"], 0, "{health}");
}
