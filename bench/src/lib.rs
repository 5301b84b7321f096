//! What the `access` and `reactions` benchmark binaries share: the step length, the closed-loop
//! rate measurement and the HTTP client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The length of each step: `BENCH_SECS` (default 5).
pub fn secs() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    )
}

/// Runs `clients` loops of `op` for the step length; returns operations per second. `op`
/// gets the operation's number (0, 1, 2, … across all clients) and reports success.
pub async fn rate<F, Fut>(clients: usize, op: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    rate_for(clients, secs(), op).await
}

/// [`rate`] for a step of `length`.
pub async fn rate_for<F, Fut>(clients: usize, length: Duration, op: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + length;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let op = op.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    assert!(op(n).await, "operation failed");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut done = 0;
    for task in tasks {
        done += task.await.expect("client");
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// An HTTP client that keeps enough idle connections for every client loop.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client")
}

/// The numbers of a `cpu` line of /proc/stat, in clock ticks: user, nice, system, idle,
/// iowait, irq, softirq, steal, guest, guest_nice (guest time is inside user).
pub fn proc_stat_ticks(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect()
}

/// What the benchmarks read of a /proc/<pid>/stat line.
pub struct PidStat<'a> {
    /// The command name (without the parentheses; it may hold spaces).
    pub comm: &'a str,
    pub parent: Option<u32>,
    /// User + system CPU time, in clock ticks.
    pub ticks: u64,
}

/// Parses a /proc/<pid>/stat line: after the command, state is field 3, the parent 4,
/// utime 14 and stime 15.
pub fn pid_stat(stat: &str) -> Option<PidStat<'_>> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let field = |i: usize| rest.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    Some(PidStat {
        comm: &stat[open + 1..close],
        parent: rest.get(1).and_then(|p| p.parse().ok()),
        ticks: field(11) + field(12),
    })
}
