//! Requests other than logins: `GET /health` latency from one client, alone and during
//! 8-client logins; authenticated `GET /auth/me` and authorized `GET /classes/{id}` (for a
//! user with 1, 100 and 1,000 memberships) against `GET /health`, from 8 clients.

use application::CommandContext;
use domain::group::{GroupName, GroupRole};
use tests::{json_id, register, TestApp};

use super::logins::login_rate;
use super::settings::rounds;
use crate::closed_loop::{rate_for, secs};
use crate::stats::quantile;

/// One client asks for `/health` back to back, alone and then while 8 clients log in; the
/// hashes run off the async workers, so the answer should not wait for them.
pub(super) async fn health_during_logins(app: &TestApp, http: &reqwest::Client) {
    println!("\n## GET /health from one client, alone and during 8-client logins\n");
    println!("| condition | /health p50 | p99 | max | logins/s meanwhile |");
    println!("| --- | --- | --- | --- | --- |");
    let url = app.url("/auth/login");
    let health_url = app.url("/health");
    let idle = health_latencies(http, &health_url, secs()).await;
    let logging_in = tokio::join!(
        health_latencies(http, &health_url, secs()),
        login_rate(http, &url, "bench@example.org", 200, 8, secs()),
    );
    for (condition, latencies, logins) in [
        ("alone", idle, None),
        ("during logins", logging_in.0, Some(logging_in.1)),
    ] {
        println!(
            "| {condition} | {} | {} | {} | {} |",
            millis(quantile(&latencies, 0.5)),
            millis(quantile(&latencies, 0.99)),
            millis(quantile(&latencies, 1.0)),
            logins.map_or("–".to_owned(), |l| format!("{l:.1}"))
        );
    }
}

/// `GET /auth/me` beside `GET /health`.
pub(super) async fn authenticated(app: &TestApp, http: &reqwest::Client) {
    let token = app.token.clone();
    println!("\n## Authenticated requests (8 clients)\n");
    println!("| request | req/s | ratio to /health |");
    println!("| --- | --- | --- |");
    let (me, health) = get_rate_beside_health(http, app, "/auth/me", Some(token.clone())).await;
    println!("| GET /health | {health:.0} | 100% |");
    println!("| GET /auth/me | {me:.0} | {:.0}% |", 100.0 * me / health);
}

/// `GET /classes/{id}` as its teacher beside `GET /health`, the teacher being a member of
/// 1, 100 and 1,000 groups.
pub(super) async fn authorized_by_memberships(
    app: &TestApp,
    http: &reqwest::Client,
) -> anyhow::Result<()> {
    let services = app.application().services().clone();
    let context = CommandContext {
        actor: "bench".into(),
        correlation_id: "bench".into(),
        causation_id: None,
    };
    let district_id = json_id(&app.create_group("District", None).await);
    let school_id = json_id(&app.create_group("School", Some(&district_id)).await);
    let class_id = json_id(&app.create_class(&school_id, "Algebra").await);
    let (teacher, teacher_user) = register(app, "teacher@example.org", "benchmark password").await;
    let teacher_id: uuid::Uuid = teacher_user["id"].as_str().unwrap().parse()?;
    app.put_role(
        &format!("/classes/{class_id}/members/{teacher_id}"),
        "teacher",
    )
    .await;
    println!("\n## Authorized GET /classes/{{id}} (8 clients)\n");
    println!("| memberships | req/s | ratio to /health (same step) |");
    println!("| --- | --- | --- |");
    let mut memberships = 1;
    for target in [1, 100, 1000] {
        while memberships < target {
            let (group, appended) = services
                .groups
                .create(
                    &context,
                    GroupName::parse(&format!("Club {memberships}"))?,
                    Some(district_id.parse()?),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let _ = appended;
            services
                .groups
                .set_member(&context, group, teacher_id, GroupRole::Member, true)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            memberships += 1;
        }
        app.wait_for_subscribers().await;
        let (class_rate, health) = get_rate_beside_health(
            http,
            app,
            &format!("/classes/{class_id}"),
            Some(teacher.clone()),
        )
        .await;
        println!(
            "| {target} | {class_rate:.0} | {:.0}% (/health {health:.0}) |",
            100.0 * class_rate / health
        );
    }
    Ok(())
}

/// Authenticated (`token`) or anonymous `GET path` per second from 8 clients, beside
/// anonymous `GET /health` per second from 8 clients: the two alternate in
/// [`rounds`] slices of the step so that the machine's drift falls on both alike. Returns
/// `(path/s, /health/s)`.
async fn get_rate_beside_health(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    token: Option<String>,
) -> (f64, f64) {
    let rounds = rounds();
    let slice = secs() / rounds;
    let (mut rate, mut health) = (0.0, 0.0);
    for _ in 0..rounds {
        health += get_rate(http, app, "/health", None, slice).await / f64::from(rounds);
        rate += get_rate(http, app, path, token.clone(), slice).await / f64::from(rounds);
    }
    (rate, health)
}

/// `GET path` per second from 8 clients during `length`, each answered 200.
async fn get_rate(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    token: Option<String>,
    length: std::time::Duration,
) -> f64 {
    let http = http.clone();
    let url = app.url(path);
    rate_for(8, length, move |_| {
        let mut request = http.get(url.clone());
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        async move {
            match request.send().await {
                Ok(r) if r.status() == 200 => true,
                Ok(r) => {
                    eprintln!(
                        "status {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    );
                    false
                }
                Err(e) => {
                    eprintln!("request failed: {e}");
                    false
                }
            }
        }
    })
    .await
}

/// Latencies of `GET url` sent back to back by one client for `length`, sorted.
async fn health_latencies(
    http: &reqwest::Client,
    url: &str,
    length: std::time::Duration,
) -> Vec<std::time::Duration> {
    let deadline = std::time::Instant::now() + length;
    let mut latencies = Vec::new();
    while std::time::Instant::now() < deadline {
        let sent = std::time::Instant::now();
        let response = http.get(url).send().await.expect("GET /health");
        assert_eq!(response.status(), 200);
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    latencies
}

fn millis(duration: std::time::Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}
