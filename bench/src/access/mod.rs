//! The identity and permission benchmarks (the `access` binary), each figure as a ratio to
//! a baseline measured in the same run: logins against raw argon2id verifications, on the
//! machine's shared cores and with the server on a CPU of its own (ADR 0008); `/health`
//! latency during logins; authenticated and authorized requests against `GET /health`. Its
//! settings are described at the top of `bench/src/bin/access.rs`.
//!
//! - [`logins`]: logins, unknown-email logins and raw verifications, on the shared cores;
//! - [`own_cpu`]: the same with the server alone on CPU 0;
//! - [`pinning`]: pinning processes and threads to CPUs, and undoing it;
//! - [`busy`]: how busy each CPU and the server process were during the slices;
//! - [`requests`]: `/health` during logins, `/auth/me`, `/classes/{id}` by memberships;
//! - [`settings`]: the login steps' clients and the slices of each step.

mod busy;
mod logins;
mod own_cpu;
mod pinning;
mod requests;
mod settings;

use tests::{register, spawn_app_with, TestOptions};

use crate::closed_loop::{client, secs};
use logins::RawHashing;

/// Runs every step, printing the tables to stdout.
pub async fn run() -> anyhow::Result<()> {
    let app = spawn_app_with(TestOptions {
        env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into())],
        ..TestOptions::default()
    })
    .await;
    println!(
        "step length: {:?}; machine: {} CPUs",
        secs(),
        std::thread::available_parallelism()?.get()
    );

    let hashing = RawHashing::new().await?;
    register(&app, "bench@example.org", "benchmark password").await;
    let http = client();
    logins::on_shared_cores(&app, &http, &hashing).await?;
    own_cpu::logins_on_own_cpu(&http, &hashing).await?;

    // `BENCH_ONLY=logins` stops here.
    if std::env::var("BENCH_ONLY").is_ok_and(|only| only == "logins") {
        return Ok(());
    }

    requests::health_during_logins(&app, &http).await;
    requests::authenticated(&app, &http).await;
    requests::authorized_by_memberships(&app, &http).await
}
