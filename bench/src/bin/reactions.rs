//! Detections and their reactions (not a test), in one run:
//! - detections/s accepted at 8 clients (`POST /learning-sessions/{id}/detections`, medium
//!   misbehavior, the whole reaction pipeline running), against unauthenticated `GET /health`
//!   at 8 clients as the same-run baseline;
//! - at a steady 200 detections/s: detection → notification visible in the read model, and
//!   detection → email accepted by the SMTP server, p50/p99 (from the moment the detection
//!   request is sent).
//!
//! The SMTP server is a minimal one inside this binary (it answers every command with success
//! and timestamps each message as its DATA ends), so that the time of acceptance is exact.
//!
//! Run: `cargo run --release -p bench --bin reactions` (services as for the tests;
//! `BENCH_SECS` sets the length of each step, default 5).

#[tokio::main]
async fn main() {
    bench::reactions::run().await;
}
