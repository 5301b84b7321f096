//! Identity: registration, login, sessions, passwords, reset, throttling, CSRF, secrets.

use std::sync::Arc;

use application::ports::ManualClock;
use chrono::Duration;
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::{
    register, spawn_app, spawn_app_with, SmtpSink, TestApp, TestOptions, ADMIN_EMAIL,
    ADMIN_PASSWORD,
};

const PROBLEM: &str = "https://raptscallions.app/problems/";

async fn problem_type(response: reqwest::Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches(PROBLEM)
        .to_owned()
}

fn bearer(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    app.http.request(method, app.url(path)).bearer_auth(token)
}

/// `POST path` with a JSON body and no credentials.
async fn post_anonymous(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post_anonymous(
        app,
        "/auth/login",
        &json!({"email": email, "password": password}),
    )
    .await
}

/// The `Retry-After` header of a 429, in seconds.
pub(crate) fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `GET path` with `token` as the bearer, its JSON body.
async fn get_as(app: &TestApp, path: &str, token: &str) -> Value {
    bearer(app, Method::GET, path, token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    bearer(app, Method::GET, "/auth/me", token)
        .send()
        .await
        .unwrap()
        .status()
}

/// The `Set-Cookie` header of a response.
fn set_cookie(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A server whose clock the test moves.
async fn spawn_app_with_clock() -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = spawn_app_with(TestOptions {
        clock: Some(clock.clone()),
        ..TestOptions::default()
    })
    .await;
    (app, clock)
}

/// The expiry of the caller's session as `GET /auth/me` reports it.
async fn session_expiry(app: &TestApp, token: &str) -> chrono::DateTime<chrono::Utc> {
    let me: Value = get_as(app, "/auth/me", token).await;
    me["session"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn register_login_me_sessions_logout_flows() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/auth/register"))
        .header("user-agent", "flow-test/1.0")
        .json(&json!({"email": "  Ada@Example.ORG ", "name": "Ada", "password": "correct horse 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // The answer carries the token: no cache may keep it (nor any other answer).
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = set_cookie(&response);
    assert!(cookie.starts_with("session="));
    // The cookie lasts the session's absolute lifetime (30 days); the idle expiry slides on
    // the server, so renewals need no new cookie.
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "COOKIE_SECURE=false in tests");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ada@example.org");
    assert!(body["user"].get("password_hash").is_none());
    let first = body["token"].as_str().unwrap().to_owned();
    assert_eq!(first.len(), 43);
    assert!(cookie.contains(&first));

    // Usable at once, by bearer and by cookie.
    let me: Value = get_as(&app, "/auth/me", &first).await;
    assert_eq!(me["user"]["name"], "Ada");
    let by_cookie = app
        .http
        .get(app.url("/auth/me"))
        .header("cookie", format!("session={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);

    // A second device.
    let second: Value = login(&app, "ADA@example.org", "correct horse 1")
        .await
        .json()
        .await
        .unwrap();
    let second = second["token"].as_str().unwrap().to_owned();
    let sessions: Value = get_as(&app, "/auth/sessions", &first).await;
    let items = sessions["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items.iter().any(|s| s["user_agent"] == "flow-test/1.0"));
    assert!(items.iter().all(|s| s["ip"] == "127.0.0.1"));

    // Revoke the second device from the first; another user's session id is 404.
    let second_id = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_sessions: Value = app.get("/auth/sessions").await.json().await.unwrap();
    let admin_session = admin_sessions["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = bearer(
        &app,
        Method::DELETE,
        &format!("/auth/sessions/{admin_session}"),
        &first,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(foreign.status(), 404);
    let revoked = bearer(
        &app,
        Method::DELETE,
        &format!("/auth/sessions/{second_id}"),
        &first,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(me_status(&app, &second).await, 401);
    assert_eq!(me_status(&app, &first).await, 200);

    // Logout ends this session at once and clears the cookie.
    let logout = bearer(&app, Method::POST, "/auth/logout", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert!(set_cookie(&logout).contains("Max-Age=0"));
    assert_eq!(me_status(&app, &first).await, 401);

    // Logout-all ends every session.
    let a: Value = login(&app, "ada@example.org", "correct horse 1")
        .await
        .json()
        .await
        .unwrap();
    let b: Value = login(&app, "ada@example.org", "correct horse 1")
        .await
        .json()
        .await
        .unwrap();
    let (a, b) = (a["token"].as_str().unwrap(), b["token"].as_str().unwrap());
    let all = bearer(&app, Method::POST, "/auth/logout-all", a)
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 204);
    assert_eq!(me_status(&app, a).await, 401);
    assert_eq!(me_status(&app, b).await, 401);
    assert_eq!(
        me_status(&app, &app.token).await,
        200,
        "other users unaffected"
    );

    // Every ending is an event with its reason.
    let ended: Value = app
        .get("/events?event_type=auth.session_ended&limit=100")
        .await
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = ended["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["revoked", "logout", "logout_all", "logout_all"]);
}

#[tokio::test]
async fn duplicate_emails_are_refused_even_when_concurrent() {
    let app = Arc::new(spawn_app().await);
    register(&app, "taken@example.org", "password one").await;
    let again = post_anonymous(
        &app,
        "/auth/register",
        &json!({"email": "TAKEN@example.org", "name": "X", "password": "password two"}),
    )
    .await;
    assert_eq!(again.status(), 409);
    assert_eq!(problem_type(again).await, "email-taken");

    let attempts = (0..20).map(|i| {
        let app = app.clone();
        async move {
            app.http
                .post(app.url("/auth/register"))
                .json(&json!({"email": "race@example.org", "name": format!("R{i}"), "password": "password race"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    let accounts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'user.registered' \
         AND payload->>'email' = 'race@example.org'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_the_same_401() {
    let app = spawn_app().await;
    register(&app, "known@example.org", "right password").await;
    let wrong = login(&app, "known@example.org", "wrong password").await;
    assert_eq!(wrong.status(), 401);
    let wrong_body = wrong.text().await.unwrap();
    let unknown = login(&app, "nobody@example.org", "wrong password").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.text().await.unwrap(), wrong_body, "no enumeration");
    let malformed = login(&app, "not-an-email", "x").await;
    assert_eq!(malformed.status(), 401);
    assert_eq!(malformed.text().await.unwrap(), wrong_body);
}

/// A session that expires without being used again is ended by the periodic sweep, reason
/// `expired`, and leaves `auth_sessions`; one that was renewed is left alone.
#[tokio::test]
async fn sessions_that_expire_unused_are_ended_by_the_sweep() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = spawn_app_with(TestOptions {
        clock: Some(clock.clone()),
        env: vec![("SESSION_SWEEP_INTERVAL_MS".into(), "100".into())],
        ..TestOptions::default()
    })
    .await;
    let session_of = |token: String| {
        let app = &app;
        async move {
            let me: Value = get_as(app, "/auth/me", &token).await;
            me["session"]["id"].as_str().unwrap().to_owned()
        }
    };
    let (idle, _) = register(&app, "left@example.org", "password left").await;
    let (used, _) = register(&app, "kept@example.org", "password kept").await;
    let (idle, used_id) = (session_of(idle).await, session_of(used.clone()).await);
    // Day 4: the used one slides to day 11. Day 8: the idle one is past its 7 days.
    clock.advance(Duration::days(4));
    assert_eq!(me_status(&app, &used).await, 200);
    clock.advance(Duration::days(4));
    let ended = |id: String| {
        let app = &app;
        async move {
            sqlx::query_as::<_, (String, Value)>(
                "SELECT payload ->> 'reason', metadata FROM events \
                 WHERE event_type = 'auth.session_ended' AND aggregate_id = $1",
            )
            .bind(id)
            .fetch_optional(&app.pool)
            .await
            .unwrap()
        }
    };
    let mut end = None;
    for _ in 0..200 {
        end = ended(idle.clone()).await;
        if end.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (reason, metadata) = end.expect("the sweep ended the idle session");
    assert_eq!(reason, "expired");
    assert_eq!(metadata["actor"], "system:session-expiry");
    app.wait_for_subscribers().await;
    let live: Vec<String> = sqlx::query_scalar("SELECT id::text FROM auth_sessions ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(!live.contains(&idle), "{live:?}");
    assert!(live.contains(&used_id), "{live:?}");
    assert_eq!(ended(used_id).await, None, "the renewed session lives on");
    assert_eq!(me_status(&app, &used).await, 200);
}

/// A reset link clicked at once works: the token is found in the log, whether or not the
/// `identity` projection has applied the request.
#[tokio::test]
async fn a_reset_link_works_before_the_read_model_has_its_token() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(TestOptions {
        env: vec![("SMTP_URL".into(), smtp.url())],
        ..TestOptions::default()
    })
    .await;
    let (session, _) = register(&app, "quick@example.org", "old password").await;
    app.wait_for_subscribers().await;
    let hold = app.hold_projection("identity").await;
    let asked = post_anonymous(
        &app,
        "/auth/password-reset",
        &json!({"email": "quick@example.org"}),
    )
    .await;
    assert_eq!(asked.status(), 202);
    let token = token_in(&smtp.wait_for("quick@example.org", 1).await.body);
    let known: i64 = sqlx::query_scalar("SELECT count(*) FROM password_reset_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(known, 0, "the read model does not have the token yet");
    let confirm = app
        .http
        .post(app.url("/auth/password-reset/confirm"))
        .json(&json!({"token": token, "new_password": "new password 1"}));
    let mut answer = tokio::spawn(async move { confirm.send().await.unwrap().status() });
    // The answer may wait for the held projection (the sessions it ends): release it then.
    let early = tokio::select! {
        status = &mut answer => Some(status.unwrap()),
        () = tokio::time::sleep(std::time::Duration::from_millis(300)) => None,
    };
    hold.commit().await.unwrap();
    let status = match early {
        Some(status) => status,
        None => answer.await.unwrap(),
    };
    assert_eq!(status, 204);
    assert_eq!(me_status(&app, &session).await, 401, "the reset ended it");
    assert_eq!(end_reasons(&app).await, [("password_reset".into(), 1)]);
    assert_eq!(
        login(&app, "quick@example.org", "new password 1")
            .await
            .status(),
        200
    );
}

/// The account throttle must not tell which emails have an account: an unknown email is
/// throttled on the same schedule, with the same answer, and writes no event.
#[tokio::test]
async fn an_unknown_email_is_throttled_exactly_like_an_account() {
    let (app, clock) = spawn_app_with_clock().await;
    register(&app, "known@example.org", "right password").await;
    let log_before = app.log_length().await;
    // What each email answers, in order: status, Retry-After, body.
    async fn answers(app: &TestApp, email: &str, count: usize) -> Vec<(u16, Option<u64>, String)> {
        let mut answers = Vec::new();
        for _ in 0..count {
            let response = login(app, email, "wrong password").await;
            let status = response.status().as_u16();
            let retry = (status == 429).then(|| retry_after(&response));
            answers.push((status, retry, response.text().await.unwrap()));
        }
        answers
    }
    let known = answers(&app, "known@example.org", 7).await;
    let unknown = answers(&app, "Nobody@Example.org ", 7).await;
    assert_eq!(
        known.iter().map(|a| a.0).collect::<Vec<_>>(),
        [401, 401, 401, 401, 401, 429, 429]
    );
    assert_eq!(known, unknown, "the same answers, bodies and Retry-After");
    // The unknown email's failures are counted by its normalized form, and no event is
    // written for an email without an account (the known one's five failures are events).
    assert_eq!(app.log_length().await, log_before + 5);
    let count: i32 = sqlx::query_scalar("SELECT failures FROM unknown_email_login_failures")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 5);

    // After the delay both fail again, and the next delay doubles for both.
    clock.advance(Duration::seconds(2));
    let known = answers(&app, "known@example.org", 2).await;
    let unknown = answers(&app, "nobody@example.org", 2).await;
    assert_eq!(known.iter().map(|a| a.0).collect::<Vec<_>>(), [401, 429]);
    assert_eq!(known[1].1, Some(2));
    assert_eq!(known, unknown);

    // Many failures at once: an account's concurrent appends may conflict, which must not
    // show (an unknown email's row never conflicts).
    clock.advance(Duration::hours(1));
    for email in ["known@example.org", "nobody@example.org"] {
        let statuses: Vec<u16> = join_all((0..12).map(|_| login(&app, email, "wrong password")))
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        assert!(
            statuses.iter().all(|s| [401, 429].contains(s)),
            "{email}: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_and_loses_its_sessions_at_once() {
    let app = spawn_app().await;
    let (token, user) = register(&app, "dis@example.org", "password dis").await;
    let id = user["id"].as_str().unwrap();

    // Only system admins may disable.
    let (other, _) = register(&app, "other@example.org", "password other").await;
    let forbidden = bearer(&app, Method::POST, &format!("/users/{id}/disable"), &other)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let anonymous = app
        .http
        .post(app.url(&format!("/users/{id}/disable")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let disabled = app.post(&format!("/users/{id}/disable")).await;
    assert_eq!(disabled.status(), 200);
    let disabled: Value = disabled.json().await.unwrap();
    assert_eq!(disabled["disabled"], true);
    assert_eq!(me_status(&app, &token).await, 401, "ended at once");
    let refused = login(&app, "dis@example.org", "password dis").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(problem_type(refused).await, "account-disabled");
    // A wrong password on a disabled account says nothing about the account.
    let wrong = login(&app, "dis@example.org", "password wrong").await;
    assert_eq!(wrong.status(), 401);

    // Nor may anyone else enable, or grant or revoke admin; nothing is written.
    let before = app.log_length().await;
    for (path, body) in [
        (format!("/users/{id}/enable"), None),
        (format!("/users/{id}/admin"), Some(json!({"admin": true}))),
    ] {
        let mut request = bearer(&app, Method::POST, &path, &other);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let forbidden = request.send().await.unwrap();
        assert_eq!(forbidden.status(), 403, "{path}");
        assert_eq!(problem_type(forbidden).await, "forbidden", "{path}");
        let mut request = app.http.post(app.url(&path));
        if let Some(body) = &body {
            request = request.json(body);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{path}");
    }
    assert_eq!(app.log_length().await, before);

    let enabled = app.post(&format!("/users/{id}/enable")).await;
    assert_eq!(enabled.status(), 200);
    assert_eq!(
        login(&app, "dis@example.org", "password dis")
            .await
            .status(),
        200
    );

    // Admin grant and revoke.
    let granted: Value = app
        .post_json(&format!("/users/{id}/admin"), &json!({"admin": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(granted["system_admin"], true);
    let revoked: Value = app
        .post_json(&format!("/users/{id}/admin"), &json!({"admin": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["system_admin"], false);
}

#[tokio::test]
async fn sessions_expire_when_idle_and_absolutely_and_slide_when_used() {
    let (app, clock) = spawn_app_with_clock().await;
    let (idle, _) = register(&app, "idle@example.org", "password idle").await;
    let (used, _) = register(&app, "used@example.org", "password used").await;

    let renewals = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM events WHERE event_type = 'auth.session_renewed'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };

    // Day 3: more than half of the 7-day idle window is left: no renewal.
    clock.advance(Duration::days(3));
    assert_eq!(me_status(&app, &used).await, 200);
    assert_eq!(renewals().await, 0);
    // Day 4: less than half left: one renewal, and only one however often it is used.
    clock.advance(Duration::days(1));
    for _ in 0..3 {
        assert_eq!(me_status(&app, &used).await, 200);
    }
    assert_eq!(renewals().await, 1);
    // The device list shows when the session was last used (written at most once a minute).
    let list: Value = get_as(&app, "/auth/sessions", &used).await;
    let item = &list["items"][0];
    let at = |field: &str| -> chrono::DateTime<chrono::Utc> {
        item[field].as_str().unwrap().parse().unwrap()
    };
    // (`created_at` is the commit's time, not the test clock's.)
    let seen_after = at("last_seen_at") - at("created_at");
    assert!(
        (seen_after - Duration::days(4)).num_seconds().abs() < 60,
        "{list}"
    );
    assert!((at("last_seen_at") - clock_now(&clock)).num_seconds().abs() < 1);
    let expires = session_expiry(&app, &used).await;
    let expected = clock_now(&clock) + Duration::days(7);
    assert!(
        (expires - expected).num_milliseconds().abs() < 1,
        "{expires} vs {expected}"
    );

    // Day 8: the idle session has expired, the used one was renewed on day 4.
    clock.advance(Duration::days(4));
    assert_eq!(me_status(&app, &idle).await, 401);
    assert_eq!(me_status(&app, &used).await, 200);

    // Keep using it every 3 days: it lives until the 30-day absolute limit, not beyond.
    for _ in 0..7 {
        clock.advance(Duration::days(3));
        assert_eq!(me_status(&app, &used).await, 200);
    }
    // Day 29.
    clock.advance(Duration::days(1) + Duration::hours(1));
    assert_eq!(me_status(&app, &used).await, 401, "absolute expiry");
    app.wait_for_subscribers().await;
    let expired: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'auth.session_ended' \
         AND payload->>'reason' = 'expired'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(expired, 2);
}

fn clock_now(clock: &ManualClock) -> chrono::DateTime<chrono::Utc> {
    application::ports::Clock::now(clock)
}

fn token_in(body: &str) -> String {
    body.lines()
        .find_map(|l| l.strip_prefix("Reset token: "))
        .expect("the email carries the token")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn password_reset_through_a_real_smtp_server() {
    let smtp = SmtpSink::start().await;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = spawn_app_with(TestOptions {
        clock: Some(clock.clone()),
        env: vec![("SMTP_URL".into(), smtp.url())],
        ..TestOptions::default()
    })
    .await;
    let (session, _) = register(&app, "reset@example.org", "old password").await;

    let ask = |email: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/auth/password-reset"))
                .json(&json!({"email": email}))
                .send()
                .await
                .unwrap()
        }
    };
    let known = ask("reset@example.org").await;
    assert_eq!(known.status(), 202);
    let unknown = ask("nobody@example.org").await;
    assert_eq!(unknown.status(), 202);
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());

    let mail = smtp.wait_for("reset@example.org", 1).await;
    assert_eq!(mail.subject, "Reset your Raptscallions password");
    assert!(mail.from.contains("no-reply@raptscallions.app"));
    let token = token_in(&mail.body);
    assert!(mail.body.contains(&format!(
        "http://app.test.example/reset-password?token={token}"
    )));
    app.wait_for_subscribers().await;

    let confirm = |token: String, password: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/auth/password-reset/confirm"))
                .json(&json!({"token": token, "new_password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    let done = confirm(token.clone(), "new password 1").await;
    assert_eq!(done.status(), 204);
    assert_eq!(
        me_status(&app, &session).await,
        401,
        "reset ends every session"
    );
    assert_eq!(
        login(&app, "reset@example.org", "old password")
            .await
            .status(),
        401
    );
    assert_eq!(
        login(&app, "reset@example.org", "new password 1")
            .await
            .status(),
        200
    );

    // Reused token.
    let reused = confirm(token, "new password 2").await;
    assert_eq!(reused.status(), 422);
    assert_eq!(problem_type(reused).await, "invalid-reset-token");

    // Superseded token: only the newest works.
    ask("reset@example.org").await;
    let older = token_in(&smtp.wait_for("reset@example.org", 2).await.body);
    ask("reset@example.org").await;
    let newer = token_in(&smtp.wait_for("reset@example.org", 3).await.body);
    app.wait_for_subscribers().await;
    let superseded = confirm(older, "new password 3").await;
    assert_eq!(superseded.status(), 422);
    assert_eq!(problem_type(superseded).await, "invalid-reset-token");

    // A token still works 59 minutes after it was issued…
    clock.advance(Duration::minutes(59));
    assert_eq!(confirm(newer, "new password 3").await.status(), 204);

    // …and not after one hour.
    ask("reset@example.org").await;
    let newest = token_in(&smtp.wait_for("reset@example.org", 4).await.body);
    app.wait_for_subscribers().await;
    clock.advance(Duration::minutes(61));
    let expired = confirm(newest, "new password 4").await;
    assert_eq!(expired.status(), 422);
    assert_eq!(problem_type(expired).await, "reset-token-expired");

    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'user.password_reset_email_sent'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(sent, 4);
}

#[tokio::test]
async fn a_failing_smtp_server_is_retried_and_recorded_without_telling_the_requester() {
    let mut smtp = SmtpSink::start().await;
    smtp.stop().await;
    let app = spawn_app_with(TestOptions {
        env: vec![
            ("SMTP_URL".into(), smtp.url()),
            ("MAIL_RETRY_ATTEMPTS".into(), "3".into()),
            ("MAIL_RETRY_DELAY_MS".into(), "100".into()),
        ],
        ..TestOptions::default()
    })
    .await;
    register(&app, "down@example.org", "password down").await;
    let response = post_anonymous(
        &app,
        "/auth/password-reset",
        &json!({"email": "down@example.org"}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let mut failures = Vec::new();
    for _ in 0..500 {
        failures = sqlx::query_as::<_, (Value, chrono::DateTime<chrono::Utc>)>(
            "SELECT payload, recorded_at FROM events \
             WHERE event_type = 'user.password_reset_email_failed' ORDER BY sequence",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        if failures.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(failures.len(), 3, "three attempts, each recorded");
    assert_eq!(failures[2].0["final_attempt"], true);
    assert_eq!(failures[0].0["final_attempt"], false);
    // Backoff: 100 ms before the second attempt, doubled before the third (a pause is never
    // shorter than asked, so these are lower bounds whatever the machine's speed).
    let gap = |i: usize| (failures[i + 1].1 - failures[i].1).num_milliseconds();
    assert!(gap(0) >= 100, "{}", gap(0));
    assert!(gap(1) >= 200, "{}", gap(1));
}

#[tokio::test]
async fn failed_logins_throttle_the_account_and_ips_are_rate_limited() {
    let (app, clock) = spawn_app_with_clock().await;
    register(&app, "victim@example.org", "the password").await;
    for _ in 0..5 {
        assert_eq!(
            login(&app, "victim@example.org", "bad password")
                .await
                .status(),
            401
        );
    }
    // Throttled: even the right password waits.
    let throttled = login(&app, "victim@example.org", "the password").await;
    assert_eq!(throttled.status(), 429);
    let retry = retry_after(&throttled);
    assert!((1..=900).contains(&retry));
    assert_eq!(problem_type(throttled).await, "too-many-requests");
    clock.advance(Duration::seconds(2));
    assert_eq!(
        login(&app, "victim@example.org", "the password")
            .await
            .status(),
        200
    );
    // Success cleared the count.
    assert_eq!(
        login(&app, "victim@example.org", "bad password")
            .await
            .status(),
        401
    );
    assert_eq!(
        login(&app, "victim@example.org", "the password")
            .await
            .status(),
        200
    );

    // Capped at 15 minutes.
    for _ in 0..30 {
        clock.advance(Duration::hours(1));
        login(&app, "victim@example.org", "bad password").await;
    }
    let capped = login(&app, "victim@example.org", "the password").await;
    assert_eq!(capped.status(), 429);
    let retry = retry_after(&capped);
    assert!(retry <= 900 && retry > 800, "{retry}");

    // Per-IP limits.
    let limited = spawn_app_with(TestOptions {
        env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "3".into())],
        ..TestOptions::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            login(&limited, "x@example.org", "whatever pw")
                .await
                .status()
                .as_u16(),
        );
    }
    // The harness's own admin login counts against the same IP.
    assert_eq!(statuses, [401, 401, 429, 429, 429]);
    // Registration and reset requests have limits of their own, each with `Retry-After`.
    for (path, body) in [
        (
            "/auth/register",
            json!({"email": "limited@example.org", "name": "L", "password": "long enough"}),
        ),
        (
            "/auth/password-reset",
            json!({"email": "limited@example.org"}),
        ),
    ] {
        let mut statuses = Vec::new();
        let mut retry_after_seen = None;
        for _ in 0..4 {
            let response = post_anonymous(&limited, path, &body).await;
            statuses.push(response.status().as_u16());
            if response.status() == 429 {
                retry_after_seen = Some(retry_after(&response));
                assert_eq!(problem_type(response).await, "too-many-requests");
            }
        }
        assert_eq!(statuses[3], 429, "{path}: {statuses:?}");
        assert!(
            statuses[..3].iter().all(|s| *s != 429),
            "{path}: {statuses:?}"
        );
        assert!(
            retry_after_seen.is_some_and(|s| (1..=60).contains(&s)),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_session_cookie_is_secure_and_takes_the_configured_domain() {
    // The harness sets `COOKIE_SECURE=false` (plain HTTP); `true` is the default (see the
    // config's `defaults_apply`).
    let app = spawn_app_with(TestOptions {
        env: vec![
            ("COOKIE_SECURE".into(), "true".into()),
            ("COOKIE_DOMAIN".into(), "app.test.example".into()),
        ],
        ..TestOptions::default()
    })
    .await;
    let response = post_anonymous(
        &app,
        "/auth/register",
        &json!({"email": "c@example.org", "name": "C", "password": "long enough"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let cookie = set_cookie(&response);
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        "Domain=app.test.example",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
}

#[tokio::test]
async fn cookie_requests_from_other_origins_are_refused() {
    let app = spawn_app().await;
    // The test's system admin may create groups; it presents its token as a cookie here.
    let token = app.token.clone();
    let cookie = format!("session={token}");
    let post = |origin: Option<&str>, fetch_site: Option<&'static str>| {
        let mut request = app
            .http
            .post(app.url("/groups"))
            .header("cookie", cookie.clone())
            .json(&json!({"name": "CSRF"}));
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        if let Some(s) = fetch_site {
            request = request.header("sec-fetch-site", s);
        }
        request.send()
    };
    let evil = post(Some("https://evil.example"), None).await.unwrap();
    assert_eq!(evil.status(), 403);
    assert_eq!(problem_type(evil).await, "cross-site-request");
    let cross = post(None, Some("cross-site")).await.unwrap();
    assert_eq!(cross.status(), 403);
    let before = app.count_events("group").await;
    assert_eq!(before, 0);
    assert_eq!(
        post(Some("http://app.test.example"), None)
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(post(None, Some("same-origin")).await.unwrap().status(), 201);
    // A page of the API's own origin (the dashboard page), which `ALLOWED_ORIGINS` does not
    // list: the browser says the request is same-origin.
    assert_eq!(
        post(Some(&app.address), Some("same-origin"))
            .await
            .unwrap()
            .status(),
        201
    );
    // The same origin claimed without the browser's word is not enough.
    let claimed = post(Some(&app.address), None).await.unwrap();
    assert_eq!(claimed.status(), 403);
    let claimed = post(Some(&app.address), Some("cross-site")).await.unwrap();
    assert_eq!(claimed.status(), 403);
    // A sibling subdomain is same-site but not an allowed origin.
    let sibling = post(None, Some("same-site")).await.unwrap();
    assert_eq!(sibling.status(), 403);
    let sibling = post(Some("https://other.test.example"), Some("same-site"))
        .await
        .unwrap();
    assert_eq!(sibling.status(), 403);
    assert_eq!(
        app.count_events("group").await,
        3,
        "only the three allowed ones"
    );
    // Bearer tokens are not sent by browsers on their own: no origin check.
    let bearer_cross = bearer(&app, Method::POST, "/groups", &token)
        .header("origin", "https://evil.example")
        .json(&json!({"name": "API client"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer_cross.status(), 201);
}

/// `ALLOWED_ORIGINS` replaces the origin of `FRONTEND_URL`: a list, spaces and a trailing
/// slash tolerated.
#[tokio::test]
async fn allowed_origins_come_from_their_setting() {
    let app = spawn_app_with(TestOptions {
        env: vec![(
            "ALLOWED_ORIGINS".into(),
            "https://app.school.example/ , https://admin.school.example".into(),
        )],
        ..TestOptions::default()
    })
    .await;
    let cookie = format!("session={}", app.token);
    for (origin, status) in [
        ("https://app.school.example", 201),
        ("https://admin.school.example", 201),
        ("http://app.test.example", 403),
        ("https://app.school.example:8443", 403),
    ] {
        let response = app
            .http
            .post(app.url("/groups"))
            .header("cookie", cookie.clone())
            .header("origin", origin)
            .json(&json!({"name": origin}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{origin}");
    }
}

/// Behind a proxy the client IP is the entry the proxy appended, not one the client wrote.
#[tokio::test]
async fn a_client_behind_the_proxy_cannot_choose_its_ip() {
    let app = spawn_app_with(TestOptions {
        env: vec![
            ("TRUST_FORWARDED_FOR".into(), "true".into()),
            ("AUTH_RATE_LIMIT_PER_MINUTE".into(), "3".into()),
        ],
        ..TestOptions::default()
    })
    .await;
    let attempt = |forwarded: String| {
        app.http
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": "x@example.org", "password": "whatever pw"}))
            .send()
    };
    let mut statuses = Vec::new();
    for i in 0..4 {
        // A new made-up first entry each time; the proxy's entry stays the same.
        let response = attempt(format!("10.0.0.{i}, 203.0.113.7")).await.unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    let other = attempt("203.0.113.8".into()).await.unwrap();
    assert_eq!(other.status(), 401, "another client has its own limit");

    // The session list shows the address the proxy saw.
    let registered = app
        .http
        .post(app.url("/auth/register"))
        .header("x-forwarded-for", "10.9.9.9,203.0.113.9")
        .json(&json!({"email": "proxied@example.org", "name": "P", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let token = registered.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sessions: Value = get_as(&app, "/auth/sessions", &token).await;
    assert_eq!(sessions["items"][0]["ip"], "203.0.113.9", "{sessions}");
}

#[tokio::test]
async fn the_caller_changes_its_name() {
    let app = spawn_app().await;
    let (token, user) = register(&app, "renamed@example.org", "password renamed").await;
    let id = user["id"].as_str().unwrap();
    let rename = |name: &str| {
        bearer(&app, Method::PATCH, "/auth/me", &token)
            .json(&json!({ "name": name }))
            .send()
    };
    let renamed = rename("  Ada King ").await.unwrap();
    assert_eq!(renamed.status(), 200);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(renamed["user"]["name"], "Ada King");
    // The very next requests see it: the caller's own and an admin's view of the account.
    let me: Value = get_as(&app, "/auth/me", &token).await;
    assert_eq!(me["user"]["name"], "Ada King");
    let read_model: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(read_model, "Ada King", "what rosters and admins read");
    let renames: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'user.renamed'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(renames, 1);

    // The same name again changes nothing; a bad one is refused and changes nothing.
    let log = app.log_length().await;
    assert_eq!(rename("Ada King").await.unwrap().status(), 200);
    for bad in ["", "   ", &"x".repeat(101), "Ada\u{7}"] {
        let refused = rename(bad).await.unwrap();
        assert_eq!(refused.status(), 422, "{bad:?}");
        assert_eq!(problem_type(refused).await, "invalid-request");
    }
    assert_eq!(app.log_length().await, log);
    let anonymous = app
        .http
        .patch(app.url("/auth/me"))
        .json(&json!({"name": "Nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn endpoints_require_the_right_caller() {
    let app = spawn_app().await;
    let (user, _) = register(&app, "plain@example.org", "password plain").await;
    let anonymous = app.http.get(app.url("/groups")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(problem_type(anonymous).await, "unauthenticated");
    let garbage = bearer(&app, Method::GET, "/groups", "not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);
    assert_eq!(
        bearer(&app, Method::GET, "/groups", &user)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let events = bearer(&app, Method::GET, "/events", &user)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 403);
    assert_eq!(
        app.http
            .get(app.url("/events"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(app.get("/events").await.status(), 200);
    assert_eq!(
        app.http
            .get(app.url("/auth/me"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_password_typed_in_another_unicode_form_signs_in() {
    let app = spawn_app().await;
    // Registered from a keyboard that sends "é" as "e" + a combining accent …
    register(&app, "zoe@example.org", "cafe\u{301} cre\u{300}me").await;
    // … signing in from one that sends it as one code point.
    let response = login(&app, "zoe@example.org", "caf\u{e9} cr\u{e8}me").await;
    assert_eq!(response.status(), 200);
    // Unicode normalization is not case folding: another password stays another password.
    let response = login(&app, "zoe@example.org", "CAF\u{c9} CR\u{c8}ME").await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_sign_in_upgrades_a_password_hash_made_with_older_parameters() {
    let app = spawn_app().await;
    // An account hashed with cheaper parameters than the server's (m=19456, t=2): made by
    // `create-admin` run with them, as before an operator raised `ARGON2_*`.
    let (email, password) = ("veteran@example.org", "veteran password");
    let mut before_upgrade = tests::test_env(&app.db, &TestOptions::default());
    before_upgrade.insert("ARGON2_MEMORY_KIB".into(), "8192".into());
    before_upgrade.insert("ARGON2_ITERATIONS".into(), "1".into());
    tests::create_admin_cli(&before_upgrade, email, password).await;
    let stored_hashes = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT payload ->> 'password_hash' FROM events \
             WHERE aggregate_type = 'user' \
               AND aggregate_id = (SELECT user_id::text FROM email_reservations WHERE email = $1) \
               AND event_type IN ('user.registered', 'user.password_rehashed') \
             ORDER BY sequence",
        )
        .bind(email)
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let hashes = stored_hashes().await;
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$argon2id$v=19$m=8192,t=1,p=1$"));

    // A wrong password upgrades nothing.
    assert_eq!(login(&app, email, "wrong password").await.status(), 401);
    assert_eq!(stored_hashes().await.len(), 1);

    // The right one signs in, and the same password is stored under the current parameters.
    let response = login(&app, email, password).await;
    assert_eq!(response.status(), 200);
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let hashes = stored_hashes().await;
    assert_eq!(hashes.len(), 2);
    assert!(hashes[1].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));

    // Not a password change: the session goes on, and the next sign-in has nothing to upgrade.
    assert_eq!(me_status(&app, &token).await, 200);
    assert_eq!(login(&app, email, password).await.status(), 200);
    assert_eq!(stored_hashes().await.len(), 2);

    // The event history shows the upgrade, never the hash.
    let rehashed: Value = app
        .get("/events?event_type=user.password_rehashed")
        .await
        .json()
        .await
        .unwrap();
    let items = rehashed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["payload"]["password_hash"], "[redacted]");
}

#[tokio::test]
async fn change_password_needs_the_current_one_and_ends_other_sessions() {
    let app = spawn_app().await;
    let (this, _) = register(&app, "pw@example.org", "first password").await;
    let other: Value = login(&app, "pw@example.org", "first password")
        .await
        .json()
        .await
        .unwrap();
    let other = other["token"].as_str().unwrap();
    let wrong = bearer(&app, Method::PUT, "/auth/password", &this)
        .json(&json!({"current_password": "not it at all", "new_password": "second password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(problem_type(wrong).await, "wrong-password");
    let before = app.log_length().await;
    for new_password in ["short".to_owned(), "seven77".to_owned(), "p".repeat(1025)] {
        let refused = bearer(&app, Method::PUT, "/auth/password", &this)
            .json(&json!({"current_password": "first password", "new_password": new_password}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422, "{} characters", new_password.len());
        assert_eq!(problem_type(refused).await, "invalid-request");
    }
    assert_eq!(app.log_length().await, before, "refusals write nothing");
    // 8 characters is enough.
    let ok = bearer(&app, Method::PUT, "/auth/password", &this)
        .json(&json!({"current_password": "first password", "new_password": "8 chars!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    assert_eq!(me_status(&app, &this).await, 200, "this session stays");
    assert_eq!(me_status(&app, other).await, 401, "others end at once");
    assert_eq!(
        login(&app, "pw@example.org", "8 chars!").await.status(),
        200
    );
}

#[tokio::test]
async fn malformed_identity_requests_change_nothing() {
    let app = spawn_app().await;
    let before = app.log_length().await;
    #[rustfmt::skip]
    let cases: [(&str, &str, u16, &str); 10] = [
        ("/auth/register", r#"{"email":"a@example.org","name":"A"}"#,                                   422, "invalid-request"),
        ("/auth/register", r#"{"email":"a@example.org","name":"A","password":"short"}"#,                422, "invalid-request"),
        ("/auth/register", r#"{"email":"nope","name":"A","password":"long enough"}"#,                   422, "invalid-request"),
        ("/auth/register", r#"{"email":"a@example.org","name":"A","password":"long enough","x":1}"#,    422, "invalid-request"),
        ("/auth/register", r#"{"email":"a@example.org","name":"A","password":12345678}"#,               422, "invalid-request"),
        ("/auth/register", r#"{"email":"#,                                                              400, "malformed-json"),
        ("/auth/login",    r#"{"email":"a@example.org"}"#,                                              422, "invalid-request"),
        ("/auth/password-reset", r#"{"mail":"a@example.org"}"#,                                         422, "invalid-request"),
        ("/auth/password-reset", r#"{"email":"#,                                                        400, "malformed-json"),
        ("/auth/password-reset/confirm", r#"{"token":"x","new_password":"long enough"}"#,               422, "invalid-reset-token"),
    ];
    for (path, body, status, kind) in cases {
        let response = app
            .http
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path} {body}");
        assert_eq!(problem_type(response).await, kind, "{path} {body}");
    }
    let too_long = "p".repeat(1025);
    let response = post_anonymous(
        &app,
        "/auth/register",
        &json!({"email": "b@example.org", "name": "B", "password": too_long}),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert_eq!(app.log_length().await, before);
}

/// At a terminal, create-admin prompts for the password and does not echo it. The terminal
/// is a pseudo-terminal made by `script` (util-linux).
#[tokio::test]
async fn create_admin_prompts_for_the_password_at_a_terminal() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_app().await;
    let env = tests::test_env(&app.db, &TestOptions::default());
    let command = format!(
        "{} create-admin --email tty@example.org --name Tty",
        tests::server_binary().display()
    );
    let mut child = tokio::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    let prompt = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut buffer = [0u8; 1024];
        while !String::from_utf8_lossy(&shown).contains("Password: ") {
            let n = stdout.read(&mut buffer).await.unwrap();
            assert!(
                n > 0,
                "ended before the prompt: {}",
                String::from_utf8_lossy(&shown)
            );
            shown.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    assert!(
        prompt.is_ok(),
        "no prompt: {}",
        String::from_utf8_lossy(&shown)
    );
    // The prompt is printed just before echo is turned off; a person types later than that,
    // and so does this test.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stdin.write_all(b"tty password 1\n").await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        stdout.read_to_end(&mut shown),
    )
    .await
    .expect("create-admin finished")
    .unwrap();
    assert!(child.wait().await.unwrap().success());
    let shown = String::from_utf8_lossy(&shown);
    assert!(
        shown.contains("created system admin tty@example.org"),
        "{shown}"
    );
    assert!(
        !shown.contains("tty password 1"),
        "the password was echoed: {shown}"
    );
    drop(stdin);
    let signed_in: Value = login(&app, "tty@example.org", "tty password 1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signed_in["user"]["system_admin"], true);
}

#[tokio::test]
async fn create_admin_reads_the_password_from_stdin() {
    use tokio::io::AsyncWriteExt as _;
    let app = spawn_app().await;
    let env = tests::test_env(&app.db, &TestOptions::default());
    let mut child = tokio::process::Command::new(tests::server_binary())
        .args([
            "create-admin",
            "--email",
            "root@example.org",
            "--name",
            "Root",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"root password 1\n")
        .await
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success());
    let signed_in: Value = login(&app, "root@example.org", "root password 1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signed_in["user"]["system_admin"], true);

    // Promoting an existing account.
    let (_, user) = register(&app, "promote@example.org", "password promo").await;
    let (ok, out) = tests::run_cli(
        &env,
        &[
            "create-admin",
            "--email",
            "promote@example.org",
            "--name",
            "P",
        ],
    )
    .await;
    assert!(ok, "{out}");
    app.wait_for_subscribers().await;
    let promoted: Value = app
        .get(&format!("/streams/user/{}", user["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert!(promoted["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "user.system_admin_granted"));
    let _ = (ADMIN_EMAIL, ADMIN_PASSWORD);
}

/// A login answers before the `identity` projection has its session (ADR 0007): the token
/// works at once, and revoking or logging out everywhere still reaches that session. The
/// projection is held back by locking its checkpoint row, as a busy or slow projection would
/// be.
#[tokio::test]
async fn sessions_the_read_model_has_not_applied_yet_work_and_are_ended_everywhere() {
    let app = spawn_app().await;
    register(&app, "lag@example.org", "lagging pass 1").await;
    let hold = app.hold_projection("identity").await;

    let first: Value = login(&app, "lag@example.org", "lagging pass 1")
        .await
        .json()
        .await
        .unwrap();
    let second: Value = login(&app, "lag@example.org", "lagging pass 1")
        .await
        .json()
        .await
        .unwrap();
    let ids = [&first, &second].map(|s| s["session"]["id"].as_str().unwrap().to_owned());
    let (first, second) = (
        first["token"].as_str().unwrap().to_owned(),
        second["token"].as_str().unwrap().to_owned(),
    );
    let projected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth_sessions WHERE id::text = ANY($1)")
            .bind(&ids[..])
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(projected, 0, "the projection was held back");
    assert_eq!(me_status(&app, &first).await, StatusCode::OK);
    assert_eq!(me_status(&app, &second).await, StatusCode::OK);
    assert_eq!(me_status(&app, "not-a-session-token").await, 401);

    // Log out everywhere while the read model still knows neither session; the request
    // waits for the projection, so let it go a moment later.
    let logout = {
        let request = bearer(&app, Method::POST, "/auth/logout-all", &first);
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    hold.commit().await.unwrap();
    assert!(logout.await.unwrap().is_success());
    assert_eq!(me_status(&app, &first).await, 401);
    assert_eq!(me_status(&app, &second).await, 401);
}

#[tokio::test]
async fn a_session_the_read_model_has_not_applied_yet_slides_when_used() {
    let (app, clock) = spawn_app_with_clock().await;
    register(&app, "slide@example.org", "sliding pass 1").await;
    let hold = app.hold_projection("identity").await;
    let signed_in: Value = login(&app, "slide@example.org", "sliding pass 1")
        .await
        .json()
        .await
        .unwrap();
    let token = signed_in["token"].as_str().unwrap().to_owned();
    let session_id = signed_in["session"]["id"].as_str().unwrap().to_owned();
    let first_expiry: chrono::DateTime<chrono::Utc> = signed_in["session"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // Four days later less than half of the 7-day idle window is left: the use slides it,
    // although the read model has not even applied the login yet.
    clock.advance(Duration::days(4));
    let slid = session_expiry(&app, &token).await;
    assert_eq!(slid - first_expiry, Duration::days(4));
    let renewals: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events \
         WHERE event_type = 'auth.session_renewed' AND aggregate_id = $1",
    )
    .bind(&session_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(renewals, 1);
    let projected: i64 =
        sqlx::query_scalar("SELECT count(*) FROM auth_sessions WHERE id::text = $1")
            .bind(&session_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(projected, 0, "the projection was held back");
    hold.commit().await.unwrap();

    // Eight days after the login (past the first expiry) the session still works.
    clock.advance(Duration::days(4));
    assert_eq!(me_status(&app, &token).await, StatusCode::OK);
}

/// Sends `request` while the `identity` projection is held back, then checks that every
/// token in `ended` is refused by the very next request after the answer, whether the
/// server answers before the read model catches up or waits for it (the hold is released
/// after 300 ms if it waits).
async fn ends_at_once_while_the_read_model_lags(
    app: &TestApp,
    request: reqwest::RequestBuilder,
    expected: StatusCode,
    ended: &[&str],
) {
    let hold = app.hold_projection("identity").await;
    let mut answer = tokio::spawn(async move { request.send().await.unwrap().status() });
    let hold = tokio::select! {
        status = &mut answer => {
            assert_eq!(status.unwrap(), expected);
            for token in ended {
                assert_eq!(me_status(app, token).await, 401, "ended before the read model knew");
            }
            Some(hold)
        }
        () = tokio::time::sleep(std::time::Duration::from_millis(300)) => {
            hold.commit().await.unwrap();
            assert_eq!(answer.await.unwrap(), expected);
            None
        }
    };
    for token in ended {
        assert_eq!(me_status(app, token).await, 401);
    }
    if let Some(hold) = hold {
        hold.commit().await.unwrap();
    }
}

#[tokio::test]
async fn logout_password_change_and_disable_end_sessions_even_while_the_read_model_lags() {
    let app = spawn_app().await;
    let (token, user) = register(&app, "lagging@example.org", "lagging pass 1").await;
    // Each token is used once before it is ended, so that it sits in the session cache.
    let sign_in = |password: &'static str| {
        let app = &app;
        async move {
            let body: Value = login(app, "lagging@example.org", password)
                .await
                .json()
                .await
                .unwrap();
            let token = body["token"].as_str().unwrap().to_owned();
            assert_eq!(me_status(app, &token).await, 200);
            token
        }
    };
    assert_eq!(me_status(&app, &token).await, 200);
    app.wait_for_subscribers().await;

    // Logout ends this session.
    ends_at_once_while_the_read_model_lags(
        &app,
        bearer(&app, Method::POST, "/auth/logout", &token),
        StatusCode::NO_CONTENT,
        &[&token],
    )
    .await;

    // A password change ends every other session, and this one lives on.
    let (this, other) = (
        sign_in("lagging pass 1").await,
        sign_in("lagging pass 1").await,
    );
    app.wait_for_subscribers().await;
    ends_at_once_while_the_read_model_lags(
        &app,
        bearer(&app, Method::PUT, "/auth/password", &this)
            .json(&json!({"current_password": "lagging pass 1", "new_password": "lagging pass 2"})),
        StatusCode::NO_CONTENT,
        &[&other],
    )
    .await;
    assert_eq!(me_status(&app, &this).await, 200);

    // Disabling the account ends all of its sessions.
    let (first, second) = (
        sign_in("lagging pass 2").await,
        sign_in("lagging pass 2").await,
    );
    app.wait_for_subscribers().await;
    let id = user["id"].as_str().unwrap();
    ends_at_once_while_the_read_model_lags(
        &app,
        app.request(Method::POST, &format!("/users/{id}/disable")),
        StatusCode::OK,
        &[&this, &first, &second],
    )
    .await;
    // Each end is in the log with its reason.
    assert_eq!(
        end_reasons(&app).await,
        [
            ("disabled".into(), 3),
            ("logout".into(), 1),
            ("password_change".into(), 1)
        ]
    );
}

/// How many `auth.session_ended` events the log holds for each reason, by reason.
async fn end_reasons(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT payload ->> 'reason', count(*) FROM events \
         WHERE event_type = 'auth.session_ended' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}
