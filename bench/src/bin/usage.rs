//! A group's usage report against a plain group read (issue #21, point 4), in one run:
//! - a district of 50 schools with 4 classes each (made through the API), and a year of usage
//!   written straight into the `usage` read model with SQL (a read benchmark: the rows are
//!   seeded, not projected): every class, day and tool (2 tools) a row of counters, plus a
//!   submissions row on weekdays; 25 students per class (each in two classes of their school),
//!   active with each tool on about 40 % of the weekdays, as rows of active days per year;
//! - `GET /groups/{district}/usage` over the last 366 days against `GET /groups/{district}`,
//!   8 closed-loop clients each, alternating for `BENCH_ROUNDS` rounds: the ratio of the
//!   rates; also the CSV form, a school's usage, one-client latencies and the report's own
//!   time in the process.
//!
//! Run: `cargo run --release -p bench --bin usage` (services as for the tests; `BENCH_SECS`
//! sets each step's length, default 5; `BENCH_ROUNDS` 2; `BENCH_SCHOOLS` 50,
//! `BENCH_CLASSES_PER_SCHOOL` 4, `BENCH_STUDENTS_PER_CLASS` 25, `BENCH_TOOLS` 2).

#[tokio::main]
async fn main() {
    bench::usage::run().await;
}
