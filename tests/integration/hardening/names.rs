//! Names that do not show what they say (a zero-width space, a right-to-left override) are
//! refused with `422 invisible-name`, wherever a name is taken.

use reqwest::Method;
use serde_json::{json, Value};
use tests::{json_id, spawn_app};

const INVISIBLE: &str = "https://raptscallions.app/problems/invisible-name";

async fn assert_invisible(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 422, "{what}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], INVISIBLE, "{what}: {problem}");
}

#[tokio::test]
async fn invisible_names_are_refused_everywhere_a_name_is_taken() {
    let app = spawn_app().await;
    let group = app.create_group("Lincoln High", None).await;
    let group = json_id(&group);
    let class = json_id(&app.create_class(&group, "Algebra").await);
    let tool = json_id(&app.create_tool(&group, "Tutor").await);
    let before = app.log_length().await;

    for name in [
        "\u{200b}\u{200b}",
        "abc\u{202e}gnp.exe",
        "\u{3164}",
        "ad\u{00ad}min",
    ] {
        let body = json!({"name": name});
        assert_invisible(app.post_json("/groups", &body).await, "POST /groups").await;
        assert_invisible(
            app.patch_json(&format!("/groups/{group}"), &body).await,
            "PATCH /groups/{id}",
        )
        .await;
        assert_invisible(
            app.post_json(&format!("/groups/{group}/classes"), &body)
                .await,
            "POST /groups/{id}/classes",
        )
        .await;
        assert_invisible(
            app.patch_json(&format!("/classes/{class}"), &body).await,
            "PATCH /classes/{id}",
        )
        .await;
        assert_invisible(
            app.post_json(&format!("/groups/{group}/tools"), &body)
                .await,
            "POST /groups/{id}/tools",
        )
        .await;
        assert_invisible(
            app.patch_json(&format!("/tools/{tool}"), &body).await,
            "PATCH /tools/{id}",
        )
        .await;
        assert_invisible(
            app.post_json(
                "/service-accounts",
                &json!({"name": name, "group_ids": [group]}),
            )
            .await,
            "POST /service-accounts",
        )
        .await;
        assert_invisible(
            app.http
                .post(app.url("/auth/register"))
                .json(&json!({"email": "new@example.org", "name": name, "password": "long enough"}))
                .send()
                .await
                .unwrap(),
            "POST /auth/register",
        )
        .await;
        assert_invisible(
            app.request(Method::PATCH, "/auth/me")
                .json(&body)
                .send()
                .await
                .unwrap(),
            "PATCH /auth/me",
        )
        .await;
    }
    assert_eq!(app.log_length().await, before, "nothing was recorded");

    // Names in any script, with spaces and marks, are fine.
    for name in ["École Saint-Exupéry", "数学クラス", "Ньютон 2"] {
        let response = app.post_json("/groups", &json!({"name": name})).await;
        assert_eq!(response.status(), 201, "{name}");
    }
    // Blank stays the schema's `invalid-request`.
    let blank: Value = app
        .post_json("/groups", &json!({"name": "   "}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        blank["type"],
        "https://raptscallions.app/problems/invalid-request"
    );
}
