//! `raptscallions demo`: the sample school, made by the real command against a running
//! server's database; interrupted, finished, and asked for again.

use api::demo::{ACTOR, CLASS, PASSWORD, TEACHER_EMAIL};
use serde_json::Value;
use tests::{run_cli, spawn_app, test_env, TestApp, TestOptions};

/// How many events of `event_type` the demo appended.
async fn demo_events(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = $1 AND metadata ->> 'actor' = $2",
    )
    .bind(event_type)
    .bind(ACTOR)
    .fetch_one(&app.pool)
    .await
    .expect("count demo events")
}

#[tokio::test]
async fn the_demo_school_is_made_once_and_its_teacher_sees_a_busy_dashboard() {
    let app = spawn_app().await;
    let env = test_env(&app.db, &TestOptions::default());

    // A run that stops part-way, then one that finishes the school.
    let (ok, output) = run_cli(&env, &["demo", "--stop-after", "25"]).await;
    assert!(!ok, "the interrupted run succeeded: {output}");
    assert!(output.contains("stopped after 25 steps"), "{output}");
    let (ok, output) = run_cli(&env, &["demo", "--base-url", "http://demo.test:8080"]).await;
    assert!(ok, "demo failed: {output}");
    assert!(output.contains("stopped part-way"), "{output}");
    for printed in [
        PASSWORD,
        TEACHER_EMAIL,
        "http://demo.test:8080/dashboard",
        "http://demo.test:8080/docs",
    ] {
        assert!(output.contains(printed), "{printed} missing from: {output}");
    }

    // Nothing was made twice: each step's events are one transaction's, and the school has
    // what the story says.
    let repeated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT metadata ->> 'correlation_id' FROM events \
         WHERE metadata ->> 'actor' = $1 GROUP BY 1 HAVING count(DISTINCT position >> 16) > 1) s",
    )
    .bind(ACTOR)
    .fetch_one(&app.pool)
    .await
    .expect("repeated steps");
    assert_eq!(repeated, 0, "a step of the demo ran twice");
    for (event_type, expected) in [
        ("group.created", 3),
        ("class.created", 3),
        ("tool.created", 1),
        ("user.registered", 12),
        ("session.started", 6),
        ("assessment.recorded", 2),
        ("safety.concern_detected", 1),
    ] {
        assert_eq!(
            demo_events(&app, event_type).await,
            expected,
            "{event_type}"
        );
    }

    // The server's subscribers take the school in (and react to it) as if it came over HTTP.
    app.wait_for_all_subscribers().await;
    let login = app
        .http
        .post(app.url("/auth/login"))
        .json(&serde_json::json!({"email": TEACHER_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200, "the demo teacher signs in");
    let token = login.json::<Value>().await.expect("login json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let memberships: Value = app
        .call_as(&token, reqwest::Method::GET, "/me/memberships", None)
        .await
        .json()
        .await
        .expect("memberships");
    let class = memberships["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|m| m["kind"] == "class" && m["name"] == CLASS)
        .unwrap_or_else(|| panic!("{CLASS} missing from {memberships}"));
    let class_id = class["id"].as_str().expect("class id");
    let response = app
        .call_as(
            &token,
            reqwest::Method::GET,
            &format!("/classes/{class_id}/dashboard"),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let dashboard: Value = response.json().await.expect("dashboard");
    assert_eq!(dashboard["active_sessions"], 3, "{dashboard}");
    assert_eq!(
        dashboard["misbehavior"]["total"]["medium"], 1,
        "{dashboard}"
    );
    assert_eq!(
        dashboard["struggling_students"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_default(),
        1,
        "{dashboard}"
    );
    assert_eq!(dashboard["open_safety_concerns"], 1, "{dashboard}");
    assert_eq!(dashboard["assessments_awaiting_review"], 1, "{dashboard}");
    assert_eq!(dashboard["submissions_awaiting_grade"], 1, "{dashboard}");
    assert!(
        dashboard["recent_events"]
            .as_array()
            .is_some_and(|events| events.len() >= 5),
        "{dashboard}"
    );
    // The teacher was told of the struggle, the misbehavior and the assessment to review.
    let notifications: Value = app
        .call_as(&token, reqwest::Method::GET, "/notifications", None)
        .await
        .json()
        .await
        .expect("notifications");
    assert!(
        notifications["items"]
            .as_array()
            .is_some_and(|items| items.len() >= 3),
        "{notifications}"
    );

    // Asked again: already there, and the log does not grow.
    let length = app.log_length().await;
    let (ok, output) = run_cli(&env, &["demo"]).await;
    assert!(ok, "demo failed: {output}");
    assert!(output.contains("already there"), "{output}");
    assert!(output.contains(TEACHER_EMAIL), "{output}");
    app.wait_for_all_subscribers().await;
    assert_eq!(app.log_length().await, length, "the second run appended");
}
