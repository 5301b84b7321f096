//! Signing in with OpenID providers, against a real provider (node-oidc-provider) driven
//! through the whole browser flow: redirects, the provider's login and consent pages.

use reqwest::{Client, Method};
use serde_json::{json, Value};
use tests::{free_port, register, spawn_app_with, OidcTestProvider, TestApp, TestOptions};

const FRONTEND: &str = "http://app.test.example";

struct Env {
    app: TestApp,
    provider: OidcTestProvider,
}

async fn setup(allowed_tenants: &str) -> Env {
    let app_port = free_port();
    let provider = OidcTestProvider::start(app_port).await;
    let app = spawn_app_with(TestOptions {
        env: provider.env(app_port, allowed_tenants),
        ..TestOptions::default()
    })
    .await;
    Env { app, provider }
}

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn absolute(base: &reqwest::Url, location: &str) -> String {
    base.join(location).unwrap().to_string()
}

fn form_action(html: &str) -> String {
    let start = html.find("<form").expect("a form");
    let action = &html[start..];
    let action = &action[action.find("action=\"").expect("an action") + 8..];
    action[..action.find('"').unwrap()].replace("&amp;", "&")
}

fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter(|i| i.contains("type=\"hidden\""))
        .filter_map(|i| {
            let name = i.split("name=\"").nth(1)?.split('"').next()?.to_owned();
            let value = i.split("value=\"").nth(1)?.split('"').next()?.to_owned();
            Some((name, value))
        })
        .collect()
}

/// Follows the browser from `start` until it is sent to the frontend; logs in at the
/// provider as `login` and consents. Returns the frontend URL, and every URL of our app's
/// callback it passed through.
async fn run_browser(browser: &Client, start: String, login: &str) -> (String, Vec<String>) {
    let mut url = start;
    let mut method = Method::GET;
    let mut form: Vec<(String, String)> = vec![];
    let mut callbacks = vec![];
    for _ in 0..30 {
        if url.starts_with(FRONTEND) {
            return (url, callbacks);
        }
        if url.contains("/callback") {
            callbacks.push(url.clone());
        }
        let request = browser.request(method.clone(), &url);
        let request = if method == Method::POST {
            request.form(&form)
        } else {
            request
        };
        let response = request.send().await.unwrap();
        let current = response.url().clone();
        if response.status().is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            url = absolute(&current, &location);
            method = Method::GET;
            continue;
        }
        assert_eq!(response.status(), 200, "unexpected page at {current}");
        let html = response.text().await.unwrap();
        url = absolute(&current, &form_action(&html));
        method = Method::POST;
        form = hidden_inputs(&html);
        if html.contains("name=\"login\"") {
            form.push(("login".into(), login.to_owned()));
            form.push(("password".into(), "anything".into()));
        }
    }
    panic!("the browser flow did not end");
}

async fn sign_in(
    env: &Env,
    browser: &Client,
    provider: &str,
    claims: Value,
) -> (String, Vec<String>) {
    let login = OidcTestProvider::login_for(&claims);
    run_browser(browser, env.app.url(&format!("/auth/{provider}")), &login).await
}

async fn sessions(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'auth.session_started'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn me(app: &TestApp, browser: &Client) -> Value {
    let response = browser.get(app.url("/auth/me")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn claims(email: &str, verified: bool) -> Value {
    json!({"email": email, "email_verified": verified, "name": "Oidc User", "nonce_tag": email})
}

#[tokio::test]
async fn new_and_returning_users_sign_in_with_google() {
    let env = setup("tenant-a").await;
    let providers: Value = env.app.get("/auth/providers").await.json().await.unwrap();
    assert_eq!(
        providers["providers"],
        json!(["clever", "google", "microsoft"])
    );

    let browser = browser();
    let start = browser
        .get(env.app.url("/auth/google"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302);
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("code_challenge_method=S256"),
        "{location}"
    );
    assert!(location.contains("state=") && location.contains("nonce="));
    let flow_cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(flow_cookie.contains("HttpOnly") && flow_cookie.contains("Max-Age=600"));

    let fresh = browser_fresh_claims("new@example.org");
    let (landing, _) = sign_in(&env, &browser, "google", fresh.clone()).await;
    assert_eq!(landing, format!("{FRONTEND}/onboarding"));
    let me = me(&env.app, &browser).await;
    assert_eq!(me["user"]["email"], "new@example.org");

    let again = self::browser();
    let (landing, _) = sign_in(&env, &again, "google", fresh).await;
    assert_eq!(landing, format!("{FRONTEND}/dashboard"));
    let second = self::me(&env.app, &again).await;
    assert_eq!(second["user"]["id"], me["user"]["id"]);
}

/// Claims of one person (the subject is derived from them by the test provider).
fn browser_fresh_claims(email: &str) -> Value {
    claims(email, true)
}

#[tokio::test]
async fn broken_flows_and_tokens_are_rejected_with_their_code_and_no_session() {
    let env = setup("tenant-a").await;
    let before = sessions(&env.app).await;

    // A callback in another browser than the one that started the flow.
    let browser_a = browser();
    let login = OidcTestProvider::login_for(&claims("a@example.org", true));
    let start = env.app.url("/auth/google");
    // Stop right at our callback, then present it from a browser without the flow cookie.
    let (_, callbacks) = run_browser(&browser_a, start.clone(), &login).await;
    assert_eq!(callbacks.len(), 1);
    let callback = callbacks[0].clone();
    // Replayed callback (same browser): the flow was consumed.
    let replay = browser_a.get(&callback).send().await.unwrap();
    assert_eq!(
        location_of(&replay),
        format!("{FRONTEND}/login?error=invalid_state")
    );
    let before = before + 1;

    let browser_b = browser();
    let mut stolen = None;
    {
        // Start in B, but deliver B's callback through a client without B's cookies.
        let response = browser_b
            .get(env.app.url("/auth/google"))
            .send()
            .await
            .unwrap();
        let authorize = location_of(&response);
        let (_, cbs) = run_browser_until_callback(&browser_b, authorize, &login).await;
        stolen = stolen.or(Some(cbs));
    }
    let other = browser();
    let mismatch = other.get(stolen.unwrap()).send().await.unwrap();
    assert_eq!(
        location_of(&mismatch),
        format!("{FRONTEND}/login?error=state_mismatch")
    );

    // Missing state: an error for Google, a fresh start for Clever.
    let missing = browser()
        .get(env.app.url("/auth/google/callback?code=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        location_of(&missing),
        format!("{FRONTEND}/login?error=missing_state")
    );
    let clever = browser()
        .get(env.app.url("/auth/clever/callback?code=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(location_of(&clever), "/auth/clever");

    // Broken ID tokens.
    for (fault, code) in [
        ("nonce", "nonce_mismatch"),
        ("expired", "token_expired"),
        ("wrong_aud", "wrong_audience"),
        ("tamper", "invalid_signature"),
    ] {
        let browser = browser();
        let response = browser
            .get(env.app.url("/auth/google"))
            .send()
            .await
            .unwrap();
        let authorize = location_of(&response);
        let (_, callback) = run_browser_until_callback(&browser, authorize, &login).await;
        env.provider.fault(fault).await;
        let result = browser.get(callback).send().await.unwrap();
        assert_eq!(
            location_of(&result),
            format!("{FRONTEND}/login?error={code}"),
            "{fault}"
        );
    }
    assert_eq!(
        sessions(&env.app).await,
        before,
        "no session from a failed flow"
    );
}

fn location_of(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), 302, "{}", response.url());
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Like [`run_browser`] but stops before our callback, returning its URL.
async fn run_browser_until_callback(
    browser: &Client,
    start: String,
    login: &str,
) -> (String, String) {
    let mut url = start;
    let mut method = Method::GET;
    let mut form: Vec<(String, String)> = vec![];
    for _ in 0..30 {
        if url.contains("/callback") {
            return (String::new(), url);
        }
        let request = browser.request(method.clone(), &url);
        let request = if method == Method::POST {
            request.form(&form)
        } else {
            request
        };
        let response = request.send().await.unwrap();
        let current = response.url().clone();
        if response.status().is_redirection() {
            url = absolute(&current, response.headers()["location"].to_str().unwrap());
            method = Method::GET;
            continue;
        }
        let html = response.text().await.unwrap();
        url = absolute(&current, &form_action(&html));
        method = Method::POST;
        form = hidden_inputs(&html);
        if html.contains("name=\"login\"") {
            form.push(("login".into(), login.to_owned()));
            form.push(("password".into(), "anything".into()));
        }
    }
    panic!("no callback reached");
}

#[tokio::test]
async fn entra_tenants_are_checked_against_the_issuer_template_and_the_allow_list() {
    let allowed = setup("tenant-a").await;
    let (landing, _) = sign_in(
        &allowed,
        &browser(),
        "microsoft",
        json!({"email": "t@example.org", "email_verified": true, "tid": "tenant-a"}),
    )
    .await;
    assert_eq!(landing, format!("{FRONTEND}/onboarding"));
    // A token whose tid does not match its issuer.
    let (landing, _) = sign_in(
        &allowed,
        &browser(),
        "microsoft",
        json!({"email": "u@example.org", "email_verified": true, "tid": "tenant-b"}),
    )
    .await;
    assert_eq!(landing, format!("{FRONTEND}/login?error=wrong_issuer"));

    let denied = setup("tenant-z").await;
    let (landing, _) = sign_in(
        &denied,
        &browser(),
        "microsoft",
        json!({"email": "t@example.org", "email_verified": true, "tid": "tenant-a"}),
    )
    .await;
    assert_eq!(
        landing,
        format!("{FRONTEND}/login?error=tenant_not_allowed")
    );
}

#[tokio::test]
async fn unverified_emails_never_link_and_links_can_be_managed() {
    let env = setup("tenant-a").await;
    let (token, user) = register(&env.app, "existing@example.org", "existing password").await;

    let (landing, _) = sign_in(
        &env,
        &browser(),
        "google",
        claims("existing@example.org", false),
    )
    .await;
    assert_eq!(
        landing,
        format!("{FRONTEND}/login?error=email_not_verified")
    );
    let links: i64 = sqlx::query_scalar("SELECT count(*) FROM identity_links")
        .fetch_one(&env.app.pool)
        .await
        .unwrap();
    assert_eq!(links, 0);

    // Nor does it create an account for an address nobody vouched for.
    let (landing, _) = sign_in(
        &env,
        &browser(),
        "google",
        claims("unclaimed@example.org", false),
    )
    .await;
    assert_eq!(
        landing,
        format!("{FRONTEND}/login?error=email_not_verified")
    );
    let accounts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM email_reservations WHERE email = 'unclaimed@example.org'",
    )
    .fetch_one(&env.app.pool)
    .await
    .unwrap();
    assert_eq!(accounts, 0);

    // A verified email links to the existing account.
    let (landing, _) = sign_in(
        &env,
        &browser(),
        "google",
        claims("existing@example.org", true),
    )
    .await;
    assert_eq!(landing, format!("{FRONTEND}/dashboard"));
    let listed: Value = env
        .app
        .http
        .get(env.app.url("/auth/links"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["provider"], "google");

    // Linking Clever from settings while signed in; Clever's user type goes to the profile.
    let browser = browser();
    let started = browser
        .post(env.app.url("/auth/clever/link"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let url = started.json::<Value>().await.unwrap()["authorization_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = OidcTestProvider::login_for(
        &json!({"email": "teacher@clever.example", "email_verified": true, "user_type": "teacher"}),
    );
    let (landing, _) = run_browser(&browser, url, &login).await;
    assert_eq!(landing, format!("{FRONTEND}/settings?linked=clever"));
    let stream: Value = env
        .app
        .get(&format!("/streams/user/{}", user["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert!(stream["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "user.identity_linked"
            && e["payload"]["provider"] == "clever"
            && e["payload"]["user_type"] == "teacher"));

    // With a password, a link may go; a passwordless account keeps its last one.
    let unlink = env
        .app
        .http
        .delete(env.app.url("/auth/links/google"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status(), 204);
    let sso = self::browser();
    let (landing, _) = sign_in(&env, &sso, "google", claims("sso-only@example.org", true)).await;
    assert_eq!(landing, format!("{FRONTEND}/onboarding"));
    let refused = sso
        .delete(env.app.url("/auth/links/google"))
        .header("origin", FRONTEND)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://raptscallions.app/problems/last-sign-in-method"
    );
}

/// A provider's email is taken like any other (ADR 0013): its full-width spelling finds the
/// account registered with the plain one, and a local part of another script matches no
/// account and makes none.
#[tokio::test]
async fn a_providers_email_is_folded_like_a_typed_one() {
    let env = setup("tenant-a").await;
    let (_, account) = register(&env.app, "lee@example.org", "lee password 1").await;

    let browser = browser();
    let (landing, _) = sign_in(
        &env,
        &browser,
        "google",
        claims("\u{ff4c}\u{ff45}\u{ff45}@Example.org", true),
    )
    .await;
    assert_eq!(landing, format!("{FRONTEND}/dashboard"));
    assert_eq!(me(&env.app, &browser).await["user"]["id"], account["id"]);

    let before = sessions(&env.app).await;
    let other = self::browser();
    let (landing, _) = sign_in(
        &env,
        &other,
        "google",
        claims("l\u{435}\u{435}@example.org", true),
    )
    .await;
    assert!(landing.contains("error=email_missing"), "{landing}");
    assert_eq!(sessions(&env.app).await, before);
}
