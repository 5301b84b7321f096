//! The audit chain (not a test), in one run (ADR 0015):
//! - `POST /groups` at 8 clients with the sealer running and held back, alternately, four
//!   rounds each: the ratio of the mean rates;
//! - events appended at a steady 1,000/s: the sealer's lag from commit to seal, p50/p99;
//! - a log of `BENCH_AUDIT_EVENTS` (default 1,000,000) events: verification from the start
//!   beside a raw `SELECT` of the same rows and columns (events/s, and their ratio), and the
//!   rebuild of every read model (log events/s).
//!
//! Run: `cargo run --release -p bench --bin audit` (services as for the tests; `BENCH_SECS`
//! sets the step length, default 5; `BENCH_ONLY=groups|lag|verify` runs one part).

#[tokio::main]
async fn main() {
    bench::audit::run().await;
}
