//! Writes that wait for their read model under mixed load (issue #24), in one run against one
//! server:
//! - 4 closed-loop clients posting learning-session messages as the bench school's student
//!   (`POST /learning-sessions/{id}/messages`, each client on sessions of its own; the answer
//!   waits for the `learning` read model) alone for `BENCH_SECS`;
//! - the same 4 beside 8 more clients flooding `POST /groups` (as the system admin);
//! - the same 4 beside 8 more clients flooding detections
//!   (`POST /learning-sessions/{id}/detections` with the service secret, on the other sessions).
//!
//! For each phase: the messages' p50/p95/p99 and the p95 as a ratio to the same run's p95
//! alone (goal ≤ 3×), the messages' and the flood's answers by status (200/201, 202, 503;
//! goal: no 503 for a committed write), the flood's rate; and, to see why, how far the
//! `learning` projection was behind the log head (sampled every 20 ms), the active backends
//! and the machine's CPU.
//!
//! Run: `cargo run --release -p bench --bin mixed` (services as for the tests; `BENCH_SECS`
//! sets each phase's length, default 5).

#[tokio::main]
async fn main() {
    bench::mixed::run().await;
}
