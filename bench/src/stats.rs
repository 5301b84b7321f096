//! Percentiles and milliseconds of measured latencies.
//!
//! Two rules are in use and stay apart, because the figures in docs/benchmarks.md were
//! computed with them: the write-path benchmark takes the nearest rank ([`nearest_rank`]);
//! the access and reactions benchmarks take the element at the rounded index ([`quantile`]).

use std::time::Duration;

/// Nearest-rank percentile of a sorted slice, `p` in percent (zero when empty).
pub fn nearest_rank(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The `q` quantile (0 to 1) of a sorted slice: the element at the index `(len - 1) · q`,
/// rounded (zero when empty).
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
