//! The write-path benchmark (the `bench` binary): `POST /groups`, and the in-process steps
//! that split its cost, each against a raw PostgreSQL insert ceiling measured in the same
//! run; then projection and relay lag under a paced load. Its settings are described at the
//! top of `bench/src/main.rs`.
//!
//! - [`settings`]: the `BENCH_*` variables, and which projection and relay are measured;
//! - [`step`]: one closed-loop throughput step (warm-up, measured window, latencies);
//! - [`cpu`]: who used the machine during a window, and retrying a disturbed step;
//! - [`raw`]: 1, the raw PostgreSQL ceiling;
//! - [`post_groups`]: 2, `POST /groups` and its in-process diagnostics;
//! - [`lag`]: 3 + 4, projection and relay lag under a paced load;
//! - [`report`]: the Markdown report and its targets.

mod cpu;
mod lag;
mod post_groups;
mod raw;
mod report;
mod settings;
mod step;

use cpu::{least_disturbed, register_database};
use lag::{lag_run, LagRun};
use post_groups::{app_step, auth_step, catch_up, http_step, login_tokens};
use raw::raw_ceiling;
use report::{postgres_facts, report, AppMeasurements};
pub use settings::Settings;
use step::progress;
pub use step::stop;
use tests::{spawn_app, TestApp};

/// Runs every step and prints the report to stdout (progress goes to stderr). The databases
/// it creates are dropped and the app's JetStream stream deleted, also when it fails or is
/// dropped.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let facts = postgres_facts(&tests::admin_url()).await;
    eprintln!("bench: {facts}");

    eprintln!("1. raw PostgreSQL ceiling");
    let raw = raw_ceiling(&settings).await?;

    eprintln!("2. POST /groups");
    let mut app = spawn_app().await;
    register_database(&app.db.name);
    let pool_size = app.config.database_max_connections;
    let outcome = measure_app(&app, &settings).await;

    // Clean up whatever happened: the stream on the shared NATS, the app, its database.
    app.stop().await;
    app.pool.close().await;
    if let Ok(nats) = async_nats::connect(&app.config.nats_url).await {
        let _ = async_nats::jetstream::new(nats)
            .delete_stream(&app.config.nats_events_stream)
            .await;
    }
    drop(app);

    let measured = outcome?;
    println!("{}", report(&settings, &facts, pool_size, &raw, &measured));
    Ok(())
}

/// 2, the diagnostics, then 3 + 4, against the running app.
async fn measure_app(app: &TestApp, settings: &Settings) -> anyhow::Result<AppMeasurements> {
    let max_clients = settings.clients.iter().copied().max().unwrap_or(1);
    let tokens = if settings.shared_session {
        vec![app.token.clone()]
    } else {
        login_tokens(app, max_clients).await?
    };
    let mut http = Vec::new();
    for &clients in &settings.clients {
        let step = http_step(app, &tokens, clients, settings).await?;
        let drained = catch_up(app).await?;
        progress("POST /groups", &step, Some(drained));
        http.push(step);
    }
    let (mut app_auth, mut app_ryw, mut app_cmd) = (Vec::new(), Vec::new(), Vec::new());
    if settings.diagnostics {
        eprintln!("diagnostics: in-process");
        for &clients in &settings.clients {
            let step = auth_step(app, &tokens, clients, settings).await?;
            progress("authenticate", &step, None);
            app_auth.push(step);
        }
        for &clients in &settings.clients {
            let step = app_step(app, clients, settings, true).await?;
            let drained = catch_up(app).await?;
            progress("create + RYW", &step, Some(drained));
            app_ryw.push(step);
        }
        for &clients in &settings.clients {
            let step = app_step(app, clients, settings, false).await?;
            let drained = catch_up(app).await?;
            progress("create only", &step, Some(drained));
            app_cmd.push(step);
        }
    }
    eprintln!(
        "3+4. projection and relay lag at {} commands/s",
        settings.rate
    );
    // A run measured again starts once the subscribers have caught up with the last one.
    let lag = least_disturbed(
        settings.retries,
        |lag: &LagRun| lag.cpu,
        |attempt| async move {
            if attempt > 0 {
                catch_up(app).await?;
            }
            lag_run(app, settings).await
        },
    )
    .await?;
    Ok(AppMeasurements {
        http,
        app_auth,
        app_ryw,
        app_cmd,
        lag,
    })
}
