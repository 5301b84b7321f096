//! Identity and permission benchmarks (not tests), each figure as a ratio to a baseline
//! measured in the same run:
//! - logins/s at 2 and 8 clients vs raw argon2id verifications/s (same parameters), and
//!   beside them logins for an unknown email (the same lookup and verification, no event
//!   written: the ceiling before any session is started); first with everything on the
//!   machine's shared cores, then with a `raptscallions serve` process alone on CPU 0 and
//!   PostgreSQL, NATS and the clients on the others, against raw on CPU 0 (ADR 0008; needs
//!   `cargo build --release --bin raptscallions`);
//! - `GET /health` latency from one client, alone and while 8 clients log in (hashing must
//!   not stall other requests);
//! - authenticated `GET /auth/me` vs unauthenticated `GET /health`;
//! - authorized `GET /classes/{id}` for a user with 1, 100 and 1,000 memberships vs
//!   `GET /health`.
//!
//! Run: `cargo run --release -p bench --bin access` (services as for the tests;
//! `BENCH_SECS` sets the length of each step, default 5; `BENCH_LOGIN_CLIENTS`, default
//! `2,8`, the login steps; `BENCH_ONLY=logins` runs only those; `BENCH_ROUNDS`, default 4,
//! the slices in which each measurement alternates with its baseline).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // On Ctrl-C, SIGTERM or SIGHUP the benchmark is dropped where it stands, so that what it
    // set up is undone:
    // processes pinned to CPUs unpinned, the server process killed, databases dropped.
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::select! {
        result = bench::access::run() => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            Ok(())
        }
        _ = terminate.recv() => {
            eprintln!("terminated");
            Ok(())
        }
        _ = hangup.recv() => {
            eprintln!("hung up");
            Ok(())
        }
    }
}
