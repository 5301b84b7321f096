//! Metrics and tracing on against off (issue #22), in one run: `POST /groups` from 8
//! closed-loop clients against a `raptscallions serve` process with the metrics recorded and
//! scraped every second and its spans exported to an OpenTelemetry collector (one in this
//! process that accepts and counts them), against the same with `METRICS_ENABLED=false` and
//! no exporter; `BENCH_ROUNDS` rounds (default 3), alternating which goes first; the ratio of
//! the rates.
//!
//! Run: `cargo build --release --bin raptscallions && cargo run --release -p bench --bin
//! operability` (services as for the tests; `BENCH_SECS` sets each step's length, default 5).

#[tokio::main]
async fn main() {
    bench::operability::run().await;
}
