//! The write-path benchmark's settings, from the `BENCH_*` variables described at the top of
//! `bench/src/main.rs`.

use std::time::Duration;

use anyhow::Context as _;

/// The projection whose lag is measured.
pub(super) const PROJECTION: &str = projections::directory::NAME;
/// The relay whose lag is measured.
pub(super) const RELAY: &str = infrastructure::nats::NatsRelay::NAME;

/// How long, how many clients and how fast the write-path benchmark measures.
pub struct Settings {
    pub(super) secs: Duration,
    pub(super) warmup: Duration,
    pub(super) clients: Vec<usize>,
    pub(super) rate: u32,
    pub(super) lag_secs: Duration,
    pub(super) diagnostics: bool,
    pub(super) shared_session: bool,
    pub(super) retries: u32,
}

fn env_f64(name: &str, default: f64) -> anyhow::Result<f64> {
    match std::env::var(name) {
        Ok(v) => {
            let x: f64 = v.trim().parse().with_context(|| format!("{name}={v}"))?;
            anyhow::ensure!(x.is_finite() && x >= 0.0, "{name} must be >= 0");
            Ok(x)
        }
        Err(_) => Ok(default),
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let secs = env_f64("BENCH_SECS", 5.0)?;
        anyhow::ensure!(secs > 0.0, "BENCH_SECS must be > 0");
        let warmup = env_f64("BENCH_WARMUP_SECS", 1.0)?;
        let lag_secs = env_f64("BENCH_LAG_SECS", secs)?;
        let rate = env_f64("BENCH_RATE", 500.0)? as u32;
        anyhow::ensure!(rate > 0, "BENCH_RATE must be > 0");
        let clients = match std::env::var("BENCH_CLIENTS") {
            Ok(v) => v
                .split(',')
                .map(|c| {
                    c.trim()
                        .parse::<usize>()
                        .with_context(|| format!("BENCH_CLIENTS={v}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
            Err(_) => vec![1, 8, 32],
        };
        anyhow::ensure!(
            !clients.is_empty() && clients.iter().all(|&c| (1..=90).contains(&c)),
            "BENCH_CLIENTS: 1 to 90 clients per step"
        );
        Ok(Self {
            secs: Duration::from_secs_f64(secs),
            warmup: Duration::from_secs_f64(warmup),
            clients,
            rate,
            lag_secs: Duration::from_secs_f64(lag_secs),
            diagnostics: env_f64("BENCH_DIAGNOSTICS", 1.0)? != 0.0,
            shared_session: env_f64("BENCH_SHARED_SESSION", 0.0)? != 0.0,
            retries: env_f64("BENCH_RETRIES", 3.0)? as u32,
        })
    }
}
