//! The workflows (not a test), in one run (ADR 0010):
//! - detection → first teacher notification with a saga in the path (a struggle: the
//!   intervention tells the teachers) beside the same run's detection → notification without
//!   one (a medium misbehavior: the reactions subscriber), interleaved at a steady 200
//!   detections/s, p50/p99;
//! - `BENCH_SLEEPING` sleeping interventions (default 100000): the process's RSS before and
//!   after, and `GET /health` latency on the idle server before and after;
//! - 10,000 of their timers made due at the same moment: the time until every one has fired;
//! - 2,000 more made due from 2 s on at 200/s, with nothing else running: the lateness of
//!   each (marked fired minus due), p50/p99;
//! - on a second server whose recheck is 2 s, struggles at a steady 200/s: the lateness of
//!   each timer while the next struggles start, p50/p99.
//!
//! Run: `cargo run --release -p bench --bin workflows` (services as for the tests;
//! `BENCH_SECS` sets the length of the paced steps, default 5).

#[tokio::main]
async fn main() {
    bench::workflows::run().await;
}
