//! One throughput step of the write-path benchmark: an operation run in a closed loop by
//! some clients, a warm-up and then a measured window, with the latencies, errors and CPU
//! shares of that window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::future::BoxFuture;

use super::cpu::{cpu_sample, cpu_share, least_disturbed, CpuShare};
use super::settings::Settings;
use crate::stats::{ms, nearest_rank};

/// Set on Ctrl-C / SIGTERM: the load generators stop at once.
static STOP: AtomicBool = AtomicBool::new(false);

/// Stops the load generators at once (on Ctrl-C or SIGTERM), so that nothing reconnects to
/// the databases being dropped.
pub fn stop() {
    STOP.store(true, Ordering::Relaxed);
}

/// Whether [`stop`] was called.
pub(super) fn stopped() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// The outcome of one throughput step.
pub(super) struct Step {
    pub(super) clients: usize,
    pub(super) ok: usize,
    pub(super) errors: usize,
    pub(super) window: Duration,
    pub(super) latencies: Vec<Duration>,
    pub(super) cpu: CpuShare,
}

impl Step {
    pub(super) fn per_sec(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64()
    }
    pub(super) fn p50(&self) -> Duration {
        nearest_rank(&self.latencies, 50.0)
    }
    pub(super) fn p99(&self) -> Duration {
        nearest_rank(&self.latencies, 99.0)
    }
    /// CPU time per successful operation, in ms: (bench + postgres + nats, bench process,
    /// postgres).
    pub(super) fn cpu_per_op(&self, cores: usize) -> (f64, f64, f64) {
        let ops = self.ok.max(1) as f64;
        let capacity_ms = cores as f64 * self.window.as_secs_f64() * 1000.0 / 100.0;
        (
            (self.cpu.this + self.cpu.postgres + self.cpu.nats) * capacity_ms / ops,
            self.cpu.this * capacity_ms / ops,
            self.cpu.postgres * capacity_ms / ops,
        )
    }
}

/// One operation of a worker: `(worker, n)` → success.
pub(super) type Op = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, bool> + Send + Sync>;

/// [`measure_step`], repeated (up to `BENCH_RETRIES` times) while other processes disturbed
/// it; keeps the least disturbed attempt.
pub(super) async fn run_step(clients: usize, settings: &Settings, op: Op) -> anyhow::Result<Step> {
    least_disturbed(
        settings.retries,
        |step: &Step| step.cpu,
        move |_| measure_step(clients, settings, op.clone()),
    )
    .await
}

/// Runs `op` in a closed loop on `clients` tasks: a warm-up, then a measured window. Every
/// operation that starts inside the window counts (its latency and its success).
async fn measure_step(clients: usize, settings: &Settings, op: Op) -> anyhow::Result<Step> {
    let window_start = Instant::now() + settings.warmup;
    let window_end = window_start + settings.secs;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(window_start.into()).await;
        let before = cpu_sample().await;
        tokio::time::sleep_until(window_end.into()).await;
        cpu_share(&before, &cpu_sample().await)
    });
    let workers: Vec<_> = (0..clients)
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                let mut n = 0u64;
                loop {
                    let begun = Instant::now();
                    if begun >= window_end || stopped() {
                        break;
                    }
                    n += 1;
                    let ok = op(worker, n).await;
                    let took = begun.elapsed();
                    if begun >= window_start {
                        if ok {
                            latencies.push(took);
                        } else {
                            errors += 1;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await.context("worker panicked")?;
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_unstable();
    Ok(Step {
        clients,
        ok: latencies.len(),
        errors,
        window: settings.secs,
        latencies,
        cpu: cpu.await.unwrap_or_default(),
    })
}

/// One line on stderr with a step's figures (and how long the subscribers took to drain).
pub(super) fn progress(label: &str, step: &Step, drained: Option<Duration>) {
    eprintln!(
        "  {label:<18} {:>3} clients: {:>8.0} /s  p50 {:>7.2} ms  p99 {:>7.2} ms  {} errors{}",
        step.clients,
        step.per_sec(),
        ms(step.p50()),
        ms(step.p99()),
        step.errors,
        drained.map_or(String::new(), |d| format!(
            "; subscribers drained in {:.0} ms",
            ms(d)
        ))
    );
}
