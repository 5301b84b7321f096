//! Step 2, `POST /groups` over HTTP against the real server (in this process), N clients;
//! and, as diagnostics, what it is made of, called in-process: the bearer-token check
//! alone, and `Groups::create` with and without the read-your-writes wait.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use application::CommandContext;
use domain::group::GroupName;
use serde_json::json;
use tests::TestApp;
use uuid::Uuid;

use super::settings::{Settings, PROJECTION, RELAY};
use super::step::{run_step, Op, Step};

/// One session per client, as with real users: signs the test admin in `n` times.
pub(super) async fn login_tokens(app: &TestApp, n: usize) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let login: serde_json::Value = app
            .http
            .post(app.url("/auth/login"))
            .json(&json!({"email": tests::ADMIN_EMAIL, "password": tests::ADMIN_PASSWORD}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        tokens.push(
            login["token"]
                .as_str()
                .context("the login answer has no token")?
                .to_owned(),
        );
    }
    Ok(tokens)
}

/// `POST /groups` from `clients` clients, each with its own connection and a session of
/// `tokens`.
pub(super) async fn http_step(
    app: &TestApp,
    tokens: &[String],
    clients: usize,
    settings: &Settings,
) -> anyhow::Result<Step> {
    let url = app.url("/groups");
    // One client (one keep-alive connection) and one session per task.
    let http: Arc<Vec<(reqwest::Client, String)>> = Arc::new(
        (0..clients)
            .map(|worker| {
                reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .timeout(Duration::from_secs(30))
                    .build()
                    .map(|client| (client, tokens[worker % tokens.len()].clone()))
            })
            .collect::<Result<_, _>>()?,
    );
    let first_failure: Arc<Mutex<Option<String>>> = Arc::default();
    let failure = first_failure.clone();
    let op: Op = Arc::new(move |worker, n| {
        let http = http.clone();
        let url = url.clone();
        let failure = failure.clone();
        Box::pin(async move {
            let (client, token) = &http[worker];
            let outcome = client
                .post(&url)
                .bearer_auth(token)
                .json(&json!({"name": format!("bench {clients}-{worker}-{n}")}))
                .send()
                .await;
            // Read the body so that the connection is reused.
            let (status, body) = match outcome {
                Ok(response) => (response.status(), response.text().await),
                Err(error) => {
                    failure
                        .lock()
                        .expect("lock")
                        .get_or_insert(error.to_string());
                    return false;
                }
            };
            if status == 201 && body.is_ok() {
                return true;
            }
            failure
                .lock()
                .expect("lock")
                .get_or_insert_with(|| format!("{status}: {}", body.unwrap_or_default()));
            false
        })
    });
    let step = run_step(clients, settings, op).await?;
    if let Some(failure) = first_failure.lock().expect("lock").take() {
        eprintln!("  first failed POST /groups: {failure}");
    }
    Ok(step)
}

/// Diagnostics: what the `resolve_caller` middleware does for a bearer token on every request.
pub(super) async fn auth_step(
    app: &TestApp,
    tokens: &[String],
    clients: usize,
    settings: &Settings,
) -> anyhow::Result<Step> {
    let services = app.application().services().clone();
    let tokens: Arc<Vec<String>> = Arc::new(tokens.to_vec());
    let op: Op = Arc::new(move |worker, _n| {
        let services = services.clone();
        let tokens = tokens.clone();
        Box::pin(async move {
            let token = &tokens[worker % tokens.len()];
            matches!(
                services
                    .identity
                    .authenticate(token, &bench_context())
                    .await,
                Ok(Some(_))
            )
        })
    });
    run_step(clients, settings, op).await
}

/// The context of the benchmark's in-process commands.
pub(super) fn bench_context() -> CommandContext {
    CommandContext {
        actor: "system:bench".to_owned(),
        correlation_id: Uuid::new_v4().to_string(),
        causation_id: None,
    }
}

/// Diagnostics: `Groups::create` called directly (no HTTP); with `read_your_writes`, followed
/// by what `POST /groups` does after the append (wait for the `groups` checkpoint, read the
/// row).
pub(super) async fn app_step(
    app: &TestApp,
    clients: usize,
    settings: &Settings,
    read_your_writes: bool,
) -> anyhow::Result<Step> {
    let services = app.application().services().clone();
    let op: Op = Arc::new(move |worker, n| {
        let services = services.clone();
        Box::pin(async move {
            let name = GroupName::parse(&format!("app {clients}-{worker}-{n}")).expect("name");
            let Ok((id, appended)) = services.groups.create(&bench_context(), name, None).await
            else {
                return false;
            };
            if !read_your_writes {
                return true;
            }
            if let Some(position) = appended.position {
                if services
                    .checkpoints
                    .wait_for(PROJECTION, position, services.read_your_writes_timeout)
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            matches!(
                projections::directory::get_group(&services.pool, id).await,
                Ok(Some(_))
            )
        })
    });
    run_step(clients, settings, op).await
}

/// Waits (bounded) until the projection and the relay have handled the whole log; returns how
/// long that took.
pub(super) async fn catch_up(app: &TestApp) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let head = app.log_head().await;
    let checkpoints = &app.application().services().checkpoints;
    for name in [PROJECTION, RELAY] {
        checkpoints
            .wait_for(name, head, Duration::from_secs(120))
            .await
            .with_context(|| format!("{name} did not catch up with the log"))?;
    }
    Ok(started.elapsed())
}
