//! `PUT /auth/password` is a password guess like a login: wrong current passwords count in
//! the account's login throttle (`user.login_failed`) and the per-IP login limit, with the
//! same `429 too-many-requests`.

use std::sync::Arc;

use application::ports::ManualClock;
use chrono::Duration;
use serde_json::{json, Value};
use tests::{register, spawn_app_with, TestApp, TestOptions};

async fn change_password(app: &TestApp, token: &str, current: &str) -> reqwest::Response {
    app.http
        .put(app.url("/auth/password"))
        .bearer_auth(token)
        .json(&json!({"current_password": current, "new_password": "a brand new password"}))
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn problem_type(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["type"].as_str().unwrap_or_default().to_owned()
}

const TOO_MANY: &str = "https://raptscallions.app/problems/too-many-requests";

#[tokio::test]
async fn wrong_current_passwords_throttle_the_account_like_failed_logins() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = spawn_app_with(TestOptions {
        clock: Some(clock.clone()),
        ..TestOptions::default()
    })
    .await;
    let (token, _) = register(&app, "guessed@example.org", "the password").await;

    for _ in 0..5 {
        let wrong = change_password(&app, &token, "a wrong guess").await;
        assert_eq!(wrong.status(), 403);
        assert_eq!(
            problem_type(wrong).await,
            "https://raptscallions.app/problems/wrong-password"
        );
    }
    assert_eq!(app.count_event_type("user.login_failed").await, 5);

    // Throttled like a login: even the right current password waits, and so do logins.
    let throttled = change_password(&app, &token, "the password").await;
    assert_eq!(throttled.status(), 429);
    let retry: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(problem_type(throttled).await, TOO_MANY);
    let login_throttled = login(&app, "guessed@example.org", "the password").await;
    assert_eq!(login_throttled.status(), 429);
    assert_eq!(app.count_event_type("user.login_failed").await, 5);
    assert_eq!(app.count_event_type("user.password_changed").await, 0);

    // After the wait the right password works and clears the count.
    clock.advance(Duration::seconds(2));
    assert_eq!(
        change_password(&app, &token, "the password").await.status(),
        204
    );
    assert_eq!(app.count_event_type("user.login_failures_cleared").await, 1);
}

#[tokio::test]
async fn password_changes_count_in_the_per_ip_login_limit() {
    let app = spawn_app_with(TestOptions {
        env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "4".into())],
        ..TestOptions::default()
    })
    .await;
    // The harness's admin login was the first request of this IP. (Registration has a
    // count of its own.)
    let (token, _) = register(&app, "limited@example.org", "the password").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            change_password(&app, &token, "a wrong guess")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [403, 403, 403, 429]);
    let limited = change_password(&app, &token, "a wrong guess").await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(problem_type(limited).await, TOO_MANY);
    // Logins share the count.
    assert_eq!(
        login(&app, "limited@example.org", "the password")
            .await
            .status(),
        429
    );
}
