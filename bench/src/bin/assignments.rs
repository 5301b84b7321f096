//! Submissions accepted per second at 8 clients, as a ratio of `POST /groups` at 8 clients
//! in the same run (issue #21), alternating, three rounds each.
//!
//! Run: `cargo run --release -p bench --bin assignments` (services as for the tests;
//! `BENCH_SECS` sets the step length, default 5).

#[tokio::main]
async fn main() {
    bench::assignments::run().await;
}
