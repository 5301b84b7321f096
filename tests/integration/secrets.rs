//! No secret in logs, responses, the event API or NATS: the real binary runs with debug logs
//! captured to a file while a user goes through every credential flow; then everything it
//! printed and answered is searched for the secrets.

use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tests::{run_cli, test_env, ServerProcess, SmtpSink, TestDb, TestOptions};

#[tokio::test]
async fn no_secret_reaches_logs_responses_or_the_event_api() {
    let smtp = SmtpSink::start().await;
    let db = TestDb::create().await;
    let mut env = test_env(&db, &TestOptions::default());
    env.insert("SMTP_URL".into(), smtp.url());
    env.insert("RUST_LOG".into(), "debug".into());
    env.insert("LOG_FORMAT".into(), "json".into());
    let log_path = std::env::temp_dir().join(format!("rapt-secrets-{}.log", db.name));
    let server = ServerProcess::start_logging(&env, Some(&log_path)).await;
    let http = reqwest::Client::new();
    let mut responses = String::new();
    let call = |method: Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut request = http.request(method, server.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    };

    let (p1, p2, p3) = ("first secret pw", "second secret pw", "third secret pw");
    let register = call(
        Method::POST,
        "/auth/register",
        None,
        Some(json!({"email": "sec@example.org", "name": "Sec", "password": p1})),
    )
    .send()
    .await
    .unwrap();
    let registered: Value = register.json().await.unwrap();
    let t1 = registered["token"].as_str().unwrap().to_owned();
    let user_id = registered["user"]["id"].as_str().unwrap().to_owned();
    let login: Value = call(
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": "sec@example.org", "password": p1})),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let t2 = login["token"].as_str().unwrap().to_owned();
    // Responses other than the two that hand a token to its owner.
    for (method, path, token, body) in [
        (Method::GET, "/auth/me", Some(&t1), None),
        (Method::GET, "/auth/sessions", Some(&t1), None),
        (
            Method::PUT,
            "/auth/password",
            Some(&t1),
            Some(json!({"current_password": p1, "new_password": p2})),
        ),
        (
            Method::POST,
            "/auth/password-reset",
            None,
            Some(json!({"email": "sec@example.org"})),
        ),
        (Method::GET, "/auth/me", Some(&t2), None),
    ] {
        let response = call(method, path, token.map(String::as_str), body)
            .send()
            .await
            .unwrap();
        responses.push_str(&format!("{:?}\n", response.headers()));
        responses.push_str(&response.text().await.unwrap());
    }
    let mail = smtp.wait_for("sec@example.org", 1).await;
    let reset = mail
        .body
        .lines()
        .find_map(|l| l.strip_prefix("Reset token: "))
        .unwrap()
        .trim()
        .to_owned();
    // The reset token becomes usable once the projection has it.
    let mut confirmed = false;
    for _ in 0..200 {
        let response = call(
            Method::POST,
            "/auth/password-reset/confirm",
            None,
            Some(json!({"token": reset, "new_password": p3})),
        )
        .send()
        .await
        .unwrap();
        let status = response.status();
        responses.push_str(&response.text().await.unwrap());
        if status == 204 {
            confirmed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(confirmed);

    // Two more devices: one revokes the other, then logs out.
    let sign_in = || async {
        let body: Value = call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": "sec@example.org", "password": p3})),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        (
            body["token"].as_str().unwrap().to_owned(),
            body["session"]["id"].as_str().unwrap().to_owned(),
        )
    };
    let ((t3, _), (t4, s4)) = (sign_in().await, sign_in().await);
    for (method, path, token) in [
        (Method::GET, "/auth/sessions".to_owned(), &t3),
        (Method::DELETE, format!("/auth/sessions/{s4}"), &t3),
        (Method::POST, "/auth/logout".to_owned(), &t3),
        (Method::GET, "/auth/me".to_owned(), &t4),
    ] {
        let response = call(method, &path, Some(token), None).send().await.unwrap();
        responses.push_str(&format!("{:?}\n", response.headers()));
        responses.push_str(&response.text().await.unwrap());
    }

    // An admin reads the whole history.
    let mut admin_env = env.clone();
    admin_env.remove("RUST_LOG");
    let mut child = tokio::process::Command::new(tests::server_binary())
        .args([
            "create-admin",
            "--email",
            "auditor@example.org",
            "--name",
            "Aud",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&admin_env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"auditor password\n").await.unwrap();
    }
    let cli = child.wait_with_output().await.unwrap();
    assert!(cli.status.success());
    // What the command printed is searched like the server's log.
    let cli_output = format!(
        "{}{}",
        String::from_utf8_lossy(&cli.stdout),
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(cli_output.contains("created system admin auditor@example.org"));
    let admin: Value = call(
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": "auditor@example.org", "password": "auditor password"})),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let admin_token = admin["token"].as_str().unwrap().to_owned();
    // The admin disables the account (ending its sessions) and enables it again.
    for action in ["disable", "enable"] {
        let response = call(
            Method::POST,
            &format!("/users/{user_id}/{action}"),
            Some(&admin_token),
            None,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 200, "{action}");
        responses.push_str(&response.text().await.unwrap());
    }
    for path in [
        "/events?limit=1000".to_owned(),
        format!("/streams/user/{user_id}"),
    ] {
        let response = call(Method::GET, &path, Some(&admin_token), None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("[redacted]"), "{path} shows the redaction");
        responses.push_str(&text);
    }
    let (ok, _) = run_cli(&env, &["replay", "--list"]).await;
    assert!(ok);
    server.kill().await;

    let logs = std::fs::read_to_string(&log_path).unwrap() + &cli_output;
    let _ = std::fs::remove_file(&log_path);
    assert!(logs.contains("request"), "the log was captured");
    let sha = |s: &str| hex::encode(Sha256::digest(s.as_bytes()));
    let never_anywhere = [
        p1.to_owned(),
        p2.to_owned(),
        p3.to_owned(),
        reset.clone(),
        "auditor password".to_owned(),
        sha(&t1),
        sha(&t2),
        sha(&t3),
        sha(&t4),
        sha(&reset),
        "$argon2id".to_owned(),
    ];
    for secret in &never_anywhere {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
        assert!(
            !responses.contains(secret.as_str()),
            "a secret is in a response"
        );
    }
    for token in [&t1, &t2, &t3, &t4, &admin_token] {
        assert!(
            !logs.contains(token.as_str()),
            "a session token is in the logs"
        );
        assert!(
            !responses.contains(token.as_str()),
            "a token leaked into another response"
        );
    }
}
