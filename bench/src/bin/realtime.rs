//! Live dashboards (not a test), in one run (ADR 0011):
//! - `POST /realtime/credentials` per second beside `GET /auth/me` per second (8 clients each,
//!   the same caller);
//! - 500 websocket dashboards (NATS over its websocket listener, each with its own credential)
//!   across 100 classes; misbehavior detections at a steady 200/s, spread over the classes:
//!   the time from sending a detection to its update arriving at each dashboard of its class,
//!   p50/p99, beside the same run's detection → dashboards read model lag (the `dashboards`
//!   checkpoint passing the update's position).
//!
//! Run: `cargo run --release -p bench --bin realtime` (services as for the tests; `BENCH_SECS`
//! sets the length of each step, default 5; `BENCH_DASHBOARDS` (500), `BENCH_CLASSES` (100)
//! and `BENCH_RATE` (200) the load).

#[tokio::main]
async fn main() {
    bench::realtime::run().await;
}
