//! Throughput and latency of the write path, each figure set against a raw PostgreSQL ceiling
//! measured in the same run on the same machine.
//!
//! 1. Raw PostgreSQL: `BEGIN; INSERT <one event-shaped row>; COMMIT` with sqlx, N clients.
//! 2. `POST /groups` over HTTP against the real server (in this process), N clients.
//! 3. Projection lag: commands paced at a fixed rate through the application layer; time from
//!    "append returned" until the `groups` checkpoint has passed the command's position.
//! 4. Relay lag: same run; time from "append returned" until the event arrives on NATS.
//!
//! Run: `cargo run --release -p bench` (needs PostgreSQL at TEST_DATABASE_URL and NATS at
//! NATS_URL, like the integration tests). Settings, all optional:
//! - `BENCH_SECS` (5): measured seconds per throughput step;
//! - `BENCH_WARMUP_SECS` (1): unmeasured seconds before each step;
//! - `BENCH_CLIENTS` (`1,8,32`): the concurrency levels;
//! - `BENCH_RATE` (500): commands per second of the lag run;
//! - `BENCH_LAG_SECS` (`BENCH_SECS`): length of the lag run;
//! - `BENCH_DIAGNOSTICS` (1): 0 skips the extra in-process steps (`Groups::create` alone, and
//!   with the read-your-writes wait) that split the cost of `POST /groups`;
//! - `BENCH_RETRIES` (3): how often a step is measured again when other processes used more
//!   than 15 % of the machine during it (after waiting, at most a minute, for a quiet
//!   machine); the least disturbed attempt is kept, and a figure still disturbed is marked ⚠;
//! - `BENCH_SHARED_SESSION` (0): 1 sends every client's requests with the one session of the
//!   harness instead of one session per client.
//!
//! Every loop is bounded by time or count; the databases created here are dropped at the end
//! and the JetStream stream of the app is deleted.

use std::time::Duration;

use bench::write_path::{self, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    // On Ctrl-C or SIGTERM the run is dropped, and with it the databases it created.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let run = write_path::run(settings);
    tokio::pin!(run);
    tokio::select! {
        outcome = &mut run => return outcome,
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    // Stop the load first, so that nothing reconnects to the databases being dropped.
    write_path::stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Returning drops the pinned run, and with it the databases it created.
    anyhow::bail!("interrupted; the benchmark's databases were dropped")
}
