//! Lookalike emails: an address typed with full-width letters is the plain one, a local part
//! with letters of another script (a Cyrillic `а` for a Latin `a`) is refused, and a domain
//! is kept in its ASCII form. Wherever an email enters (registration, login, password reset),
//! one spelling finds one account, or is refused everywhere.

use serde_json::{json, Value};
use tests::{register, spawn_app, spawn_app_with, SmtpSink, TestApp, TestOptions};

const UNSUPPORTED: &str = "https://raptscallions.app/problems/unsupported-email";
const TAKEN: &str = "https://raptscallions.app/problems/email-taken";

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn register_as(app: &TestApp, email: &str) -> reqwest::Response {
    post(
        app,
        "/auth/register",
        json!({"email": email, "name": "Pat", "password": "lookalike password"}),
    )
    .await
}

async fn login(app: &TestApp, email: &str) -> reqwest::Response {
    post(
        app,
        "/auth/login",
        json!({"email": email, "password": "lookalike password"}),
    )
    .await
}

async fn problem(response: reqwest::Response, status: u16, kind: &str, what: &str) {
    assert_eq!(response.status(), status, "{what}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], kind, "{what}: {body}");
}

#[tokio::test]
async fn a_lookalike_email_finds_the_same_account_or_is_refused() {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(TestOptions {
        env: vec![("SMTP_URL".into(), smtp.url())],
        ..TestOptions::default()
    })
    .await;
    let created = register_as(&app, "principal@lincoln.example.org").await;
    assert_eq!(created.status(), 201);
    let account: Value = created.json().await.unwrap();
    let id = account["user"]["id"].as_str().unwrap().to_owned();

    // Full-width letters (and at sign), upper case: the same address, already taken.
    for same in [
        "\u{ff50}rincipal@lincoln.example.org",
        "\u{ff30}\u{ff32}\u{ff29}\u{ff2e}\u{ff23}\u{ff29}\u{ff30}\u{ff21}\u{ff2c}\u{ff20}lincoln.example.org",
        " PRINCIPAL@Lincoln.Example.ORG ",
    ] {
        problem(register_as(&app, same).await, 409, TAKEN, same).await;
        let signed_in = login(&app, same).await;
        assert_eq!(signed_in.status(), 200, "{same}");
        let body: Value = signed_in.json().await.unwrap();
        assert_eq!(body["user"]["id"], id.as_str(), "{same}");
    }

    // A Cyrillic р (U+0440) or а (U+0430) in the local part: refused, at registration with
    // its own problem, at login like any malformed email.
    for other_script in [
        "\u{440}rincipal@lincoln.example.org",
        "princip\u{430}l@lincoln.example.org",
    ] {
        problem(
            register_as(&app, other_script).await,
            422,
            UNSUPPORTED,
            other_script,
        )
        .await;
        problem(
            login(&app, other_script).await,
            401,
            "https://raptscallions.app/problems/invalid-credentials",
            other_script,
        )
        .await;
    }

    // A password reset asked with the full-width spelling goes to the account's address.
    let asked = post(
        &app,
        "/auth/password-reset",
        json!({"email": "\u{ff50}rincipal@lincoln.example.org"}),
    )
    .await;
    assert_eq!(asked.status(), 202);
    smtp.wait_for("principal@lincoln.example.org", 1).await;
}

#[tokio::test]
async fn domains_are_kept_in_their_ascii_form() {
    let app = spawn_app().await;
    let (_, user) = register(&app, "Ada@B\u{fc}cher.example", "lookalike password").await;
    assert_eq!(user["email"], "ada@xn--bcher-kva.example");
    let signed_in = login(&app, "ada@B\u{dc}CHER.example").await;
    assert_eq!(signed_in.status(), 200);
    problem(
        register_as(&app, "ada@xn--bcher-kva.example").await,
        409,
        TAKEN,
        "the punycode spelling",
    )
    .await;
    // A Cyrillic о in the domain is another domain, and it shows: its address is in punycode,
    // not the Latin lookalike.
    let (_, lookalike) = register(
        &app,
        "principal@linc\u{43e}ln.example.org",
        "lookalike password",
    )
    .await;
    let shown = lookalike["email"].as_str().unwrap();
    assert!(shown.starts_with("principal@xn--"), "{shown}");
    assert!(shown.is_ascii(), "{shown}");
}

/// Accounts registered before the folding are reserved under the spelling they were
/// registered with; start-up (the migration step) reserves the folded spelling beside it, so
/// they are found by what people type now, and reports two accounts that fold to one email.
#[tokio::test]
async fn emails_registered_before_the_folding_are_found_after_the_migration_step() {
    let app = spawn_app().await;
    let (_, idn) = register(&app, "legacy@b\u{fc}cher.example", "lookalike password").await;
    let (_, kim) = register(&app, "kim@example.org", "lookalike password").await;
    // As they were reserved before the folding: the domain as typed, lower-cased; a
    // full-width twin of kim's, registered beside it back then; and a Cyrillic lookalike.
    sqlx::query(
        "UPDATE email_reservations SET email = 'legacy@b\u{fc}cher.example' \
         WHERE email = 'legacy@xn--bcher-kva.example'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let twin = uuid::Uuid::now_v7();
    let cyrillic = uuid::Uuid::now_v7();
    for (email, user_id) in [
        ("\u{ff4b}im@example.org", twin),
        ("\u{430}dmin@example.org", cyrillic),
    ] {
        sqlx::query("INSERT INTO email_reservations (email, user_id) VALUES ($1, $2)")
            .bind(email)
            .bind(user_id)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    assert_eq!(
        login(&app, "legacy@b\u{fc}cher.example").await.status(),
        401,
        "not found under the folded spelling yet"
    );

    infrastructure::db::migrate(&app.pool).await.unwrap();
    let signed_in = login(&app, "legacy@B\u{fc}cher.example").await;
    assert_eq!(signed_in.status(), 200);
    let body: Value = signed_in.json().await.unwrap();
    assert_eq!(body["user"]["id"], idn["id"]);

    // Run again: nothing more to reserve; the Cyrillic one is reported as refused, and the
    // clash, kim keeping the email.
    let report = application::store::lookups::reserve_folded_emails(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        report.refused,
        [(cyrillic, "\u{430}dmin@example.org".to_owned())]
    );
    let clashes = report.clashes;
    assert_eq!(clashes.len(), 1, "{clashes:?}");
    assert_eq!(clashes[0].folded, "kim@example.org");
    assert_eq!(clashes[0].kept.to_string(), kim["id"].as_str().unwrap());
    assert_eq!(clashes[0].other, twin);
    let signed_in = login(&app, "\u{ff4b}im@example.org").await;
    assert_eq!(signed_in.status(), 200);
    let body: Value = signed_in.json().await.unwrap();
    assert_eq!(body["user"]["id"], kim["id"]);
}

/// `raptscallions create-admin` takes an email like the API: the full-width spelling of an
/// account promotes that account, and a local part of another script is refused.
#[tokio::test]
async fn create_admin_folds_and_refuses_like_the_api() {
    let app = spawn_app().await;
    let env = tests::test_env(&app.db, &TestOptions::default());
    let (_, user) = register(&app, "promote@example.org", "lookalike password").await;
    let (ok, out) = tests::run_cli(
        &env,
        &[
            "create-admin",
            "--email",
            "\u{ff50}romote@example.org",
            "--name",
            "P",
        ],
    )
    .await;
    assert!(ok, "{out}");
    app.wait_for_subscribers().await;
    let stream: Value = app
        .get(&format!("/streams/user/{}", user["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        stream["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "user.system_admin_granted"),
        "{stream}"
    );

    let (ok, out) = tests::run_cli(
        &env,
        &[
            "create-admin",
            "--email",
            "pr\u{43e}mote@example.org",
            "--name",
            "P",
        ],
    )
    .await;
    assert!(!ok, "a Cyrillic о is refused");
    assert!(out.contains("--email"), "{out}");
}
