//! The session cookie: `__Host-session` when it is `Secure` and host-only, so a sibling
//! subdomain cannot shadow it; the CSRF check compares origins exactly.

use serde_json::{json, Value};
use tests::{spawn_app, spawn_app_with, TestApp, TestOptions};

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn me_with_cookie(app: &TestApp, cookie: &str) -> u16 {
    app.http
        .get(app.url("/auth/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_secure_host_only_session_cookie_is_a_host_prefixed_one_that_cannot_be_shadowed() {
    let app = spawn_app_with(TestOptions {
        env: vec![("COOKIE_SECURE".into(), "true".into())],
        ..TestOptions::default()
    })
    .await;
    let response = app
        .http
        .post(app.url("/auth/register"))
        .json(&json!({"email": "host@example.org", "name": "Host", "password": "long enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
    // What browsers require of a `__Host-` cookie.
    for attribute in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap();

    // A sibling subdomain planted `session=garbage` first: the prefixed cookie wins.
    let shadowed = format!("session=garbage; __Host-session={token}");
    assert_eq!(me_with_cookie(&app, &shadowed).await, 200);
    let shadowed = format!("__Host-session={token}; session=garbage");
    assert_eq!(me_with_cookie(&app, &shadowed).await, 200);
    // A plain `session` cookie (set before the prefix, or by plain-HTTP development) is
    // still read.
    assert_eq!(me_with_cookie(&app, &format!("session={token}")).await, 200);
    assert_eq!(me_with_cookie(&app, "__Host-session=garbage").await, 401);

    // Signing out clears both names, so the plain one is not read after it.
    let logout = app
        .http
        .post(app.url("/auth/logout"))
        .header("cookie", format!("__Host-session={token}; session={token}"))
        .header("origin", "http://app.test.example")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let cleared = set_cookies(&logout);
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("__Host-session=") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("session=") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
}

#[tokio::test]
async fn plain_http_development_and_cookie_domain_keep_the_plain_name() {
    // The test apps run with COOKIE_SECURE=false: browsers refuse `__Host-` without Secure.
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"email": tests::ADMIN_EMAIL, "password": tests::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&response)[0].starts_with("session="));

    let app = spawn_app_with(TestOptions {
        env: vec![
            ("COOKIE_SECURE".into(), "true".into()),
            ("COOKIE_DOMAIN".into(), "test.example".into()),
        ],
        ..TestOptions::default()
    })
    .await;
    let response = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"email": tests::ADMIN_EMAIL, "password": tests::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = &set_cookies(&response)[0];
    assert!(cookie.starts_with("session="), "{cookie}");
    assert!(cookie.contains("Domain=test.example"), "{cookie}");
}

#[tokio::test]
async fn the_csrf_check_compares_origins_exactly() {
    let app = spawn_app().await;
    let post = |origin: &'static str| {
        app.http
            .post(app.url("/groups"))
            .header("cookie", format!("session={}", app.token))
            .header("origin", origin)
            .json(&json!({"name": "Origin check"}))
            .send()
    };
    // FRONTEND_URL is http://app.test.example in the tests.
    assert_eq!(post("http://app.test.example").await.unwrap().status(), 201);
    for origin in [
        "http://app.test.example/",
        "http://app.test.example//",
        "http://app.test.example/path",
        "http://app.test.example:80",
        "https://app.test.example",
        "http://app.test.example.evil.example",
        "null",
    ] {
        let response = post(origin).await.unwrap();
        assert_eq!(response.status(), 403, "{origin}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"], "https://raptscallions.app/problems/cross-site-request",
            "{origin}"
        );
    }
}
