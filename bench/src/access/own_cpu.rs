//! Logins with the server alone on CPU 0 (a `raptscallions serve` process) and PostgreSQL,
//! NATS and the clients on the other CPUs, against raw verifications on CPU 0 (ADR 0008).

use serde_json::json;
use tests::{server_binary_path, test_env, ServerProcess, TestDb, TestOptions};

use super::logins::{login_step, RawHashing};
use super::pinning::{pinned_already, Pinned};
use super::settings::login_clients;

/// Logins with the server alone on CPU 0 and everything else on the other CPUs, against raw
/// verifications on CPU 0.
///
/// The shared-cores table (printed before this one) runs the benchmark's clients,
/// PostgreSQL and nats-server on the same two cores as the hashes, so every millisecond
/// they spend is taken from argon2id.
/// In a deployment the database and the clients are other machines; this step models that
/// on one machine: a `raptscallions serve` process started on CPU 0 (it sees one CPU, so one
/// async worker and one hashing permit) on a fresh database, and this process, every
/// `postgres` process and `nats-server` pinned to the other CPUs for the step (and
/// unpinned after). The server's own work — HTTP, the lookup and append calls, the
/// subscribers, the relay — still shares CPU 0 with its hashes; the baseline is raw
/// verifications on one thread on CPU 0. The shared L3 cache stays shared.
pub(super) async fn logins_on_own_cpu(
    http: &reqwest::Client,
    hashing: &RawHashing,
) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism()?.get();
    println!("\n## Logins, server on its own CPU (PostgreSQL, NATS and clients on the others)\n");
    if cpus < 2 {
        println!("Skipped: this machine has one CPU.");
        return Ok(());
    }
    if !server_binary_path().exists() {
        println!(
            "Skipped: {} is missing (`cargo build --release --bin raptscallions`).",
            server_binary_path().display()
        );
        return Ok(());
    }
    let built = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if built(&server_binary_path()) < built(&std::env::current_exe()?) {
        println!(
            "Note: {} is older than this benchmark; `cargo build --release --bin raptscallions` \
             if the server changed since.\n",
            server_binary_path().display()
        );
    }
    let all = format!("0-{}", cpus - 1);
    let others = format!("1-{}", cpus - 1);
    let services = ["postgres", "nats-server"];
    if let Some(pid) = pinned_already(&services, &all) {
        println!("Skipped: process {pid} is already pinned to some CPUs; left as it is.");
        return Ok(());
    }
    let db = TestDb::create().await;
    let mut env = test_env(
        &db,
        &TestOptions {
            env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into())],
            ..TestOptions::default()
        },
    );
    // The subscribers' takeover check at its production interval, not the tests' 200 ms:
    // it runs on CPU 0 during the raw slices too.
    env.remove("SUBSCRIBER_TAKEOVER_INTERVAL_MS");
    let server = ServerProcess::start_on(&env, None, Some("0")).await;
    let registered = http
        .post(server.url("/auth/register"))
        .json(&json!({"email": "bench@example.org", "name": "Bench", "password": "benchmark password"}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status() == 201,
        "register: {}",
        registered.status()
    );
    let url = server.url("/auth/login");
    let pinned = match Pinned::new(&services, &others, &all) {
        Ok(pinned) => pinned,
        Err(e) => {
            println!("Skipped: {e}.");
            return Ok(());
        }
    };
    // The last columns, from /proc: how busy the server's CPU and the others were during the
    // logins (with CPU 0 near 100 % and the others far from it, the server, not the load
    // side, sets the rate), and the server process's own CPU time as a share of CPU 0 during
    // the raw slices (what it took from the baseline while idle) and the logins.
    println!("| clients | raw verifications/s (1 thread, CPU 0) | logins/s | ratio | unknown email/s | ratio | session start costs | busy during logins: CPU 0 / others | server process on CPU 0: raw / logins |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for clients in login_clients() {
        let step = login_step(http, &url, clients, (1, Some("0")), hashing, server.pid()).await?;
        println!(
            "| {clients} | {} | {:.0}% / {:.0}% | {:.1}% / {:.0}% |",
            step.columns(),
            step.busy.percent(0..1),
            step.busy.percent(1..cpus),
            step.raw_busy.process_percent(0),
            step.busy.process_percent(0),
        );
    }

    drop(pinned);
    server.kill().await;
    drop(db);
    Ok(())
}
