//! The access benchmark's settings besides `BENCH_SECS`: `BENCH_LOGIN_CLIENTS` and
//! `BENCH_ROUNDS`.

/// The login steps: `BENCH_LOGIN_CLIENTS` (default `2,8`); 1 client shows what a login adds
/// to one verification in wall time.
pub(super) fn login_clients() -> Vec<usize> {
    std::env::var("BENCH_LOGIN_CLIENTS")
        .unwrap_or_else(|_| "2,8".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// Each step is measured in `BENCH_ROUNDS` slices (default 4), alternating with its
/// baseline.
pub(super) fn rounds() -> u32 {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4)
}
