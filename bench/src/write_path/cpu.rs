//! Who used the machine's CPU during a measured window: this process, PostgreSQL (told
//! from other people's backends by this benchmark's databases), nats-server, kernel threads
//! and anything else; and waiting for a quiet machine before a disturbed step is measured
//! again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;

/// Whose CPU time a process's is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    /// This process: load generator, server, subscribers.
    This,
    /// PostgreSQL: background processes and the backends of this benchmark's databases.
    Postgres,
    NatsServer,
    /// Kernel threads (I/O completion, journaling): mostly caused by the benchmark's fsyncs.
    /// (Interrupt time is charged to the processes it interrupts.)
    Kernel,
    /// Anything else, including backends of other databases (concurrent test runs).
    Other,
}

/// CPU time (clock ticks) of the whole machine and of every process.
#[derive(Debug, Clone, Default)]
pub(super) struct CpuSample {
    total: u64,
    idle: u64,
    processes: HashMap<u32, (Owner, u64)>,
}

/// The databases of this benchmark, to tell its PostgreSQL backends from other people's.
static OUR_DATABASES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static ADMIN_POOL: tokio::sync::OnceCell<Option<sqlx::PgPool>> = tokio::sync::OnceCell::const_new();

/// Counts the backends of database `name` as this benchmark's.
pub(super) fn register_database(name: &str) {
    eprintln!("  (database {name})");
    OUR_DATABASES.lock().expect("lock").push(name.to_owned());
}

/// Which database each PostgreSQL backend serves (None: background process).
async fn backend_databases() -> HashMap<u32, Option<String>> {
    let pool = ADMIN_POOL
        .get_or_init(|| async {
            PgPoolOptions::new()
                .max_connections(1)
                .connect(&tests::admin_url())
                .await
                .ok()
        })
        .await;
    let Some(pool) = pool else {
        return HashMap::new();
    };
    sqlx::query_as::<_, (i32, Option<String>)>("SELECT pid, datname::text FROM pg_stat_activity")
        .fetch_all(pool)
        .await
        .map(|rows| rows.into_iter().map(|(pid, db)| (pid as u32, db)).collect())
        .unwrap_or_default()
}

/// Reads /proc (and pg_stat_activity); empty where /proc is not available.
pub(super) async fn cpu_sample() -> CpuSample {
    let databases = backend_databases().await;
    let ours = OUR_DATABASES.lock().expect("lock").clone();
    let mut sample = CpuSample::default();
    (sample.total, sample.idle) = crate::procfs::machine_ticks();
    let own = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return sample;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(crate::procfs::PidStat {
            comm,
            parent,
            ticks,
        }) = crate::procfs::pid_stat(&stat)
        else {
            continue;
        };
        // Kernel threads are children of kthreadd (pid 2).
        let owner = if pid == own {
            Owner::This
        } else if pid == 2 || parent == Some(2) {
            Owner::Kernel
        } else if comm.starts_with("postgres") {
            match databases.get(&pid) {
                Some(Some(db)) if !ours.contains(db) => Owner::Other,
                _ => Owner::Postgres,
            }
        } else if comm.starts_with("nats-server") {
            Owner::NatsServer
        } else {
            Owner::Other
        };
        sample.processes.insert(pid, (owner, ticks));
    }
    sample
}

/// Shares of the machine's CPU capacity (all cores = 100 %) during a window.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CpuShare {
    pub(super) busy: f64,
    pub(super) this: f64,
    pub(super) postgres: f64,
    pub(super) nats: f64,
    pub(super) kernel: f64,
}

/// Per process: time used between the samples (all of it for a process started in between;
/// a process that ended in between is missed).
pub(super) fn cpu_share(before: &CpuSample, after: &CpuSample) -> CpuShare {
    let total = after.total.saturating_sub(before.total) as f64;
    if total == 0.0 {
        return CpuShare::default();
    }
    let mut used: HashMap<Owner, u64> = HashMap::new();
    for (pid, (owner, ticks)) in &after.processes {
        let earlier = before.processes.get(pid).map_or(0, |(_, t)| *t);
        *used.entry(*owner).or_default() += ticks.saturating_sub(earlier);
    }
    let pct = |owner| 100.0 * used.get(&owner).copied().unwrap_or(0) as f64 / total;
    CpuShare {
        busy: 100.0 * (1.0 - after.idle.saturating_sub(before.idle) as f64 / total),
        this: pct(Owner::This),
        postgres: pct(Owner::Postgres),
        nats: pct(Owner::NatsServer),
        kernel: pct(Owner::Kernel),
    }
}

/// Above this share of the machine used by other processes, a figure is marked as disturbed.
pub(super) const DISTURBED_OTHER_PCT: f64 = 15.0;

impl CpuShare {
    pub(super) fn other(&self) -> f64 {
        (self.busy - self.this - self.postgres - self.nats - self.kernel).max(0.0)
    }
    pub(super) fn disturbed(&self) -> bool {
        self.other() > DISTURBED_OTHER_PCT
    }
}

/// The machine's busy share (all cores = 100 %) over `window`.
async fn busy_pct(window: Duration) -> f64 {
    let (t1, i1) = crate::procfs::machine_ticks();
    tokio::time::sleep(window).await;
    let (t2, i2) = crate::procfs::machine_ticks();
    let total = t2.saturating_sub(t1);
    if total == 0 {
        return 0.0;
    }
    100.0 * (1.0 - i2.saturating_sub(i1) as f64 / total as f64)
}

/// Waits (at most a minute) until the machine has been nearly idle for 3 s.
pub(super) async fn wait_for_quiet() {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        if busy_pct(Duration::from_secs(1)).await < 10.0 {
            quiet += 1;
        } else {
            quiet = 0;
        }
    }
}

/// Measures with `measure` (given the attempt: 0, then 1, 2, …) and, while other processes
/// disturbed the measurement (`cpu` gives its shares), waits for a quiet machine and measures
/// again, up to `retries` times; keeps the least disturbed outcome.
pub(super) async fn least_disturbed<T, F, Fut>(
    retries: u32,
    cpu: impl Fn(&T) -> CpuShare,
    mut measure: F,
) -> anyhow::Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut best = measure(0).await?;
    let mut attempt = 0;
    while cpu(&best).disturbed() && attempt < retries {
        attempt += 1;
        eprintln!(
            "  (disturbed: other processes used {:.0} % of the machine; waiting for quiet, \
             retry {attempt}/{retries})",
            cpu(&best).other(),
        );
        wait_for_quiet().await;
        let again = measure(attempt).await?;
        if cpu(&again).other() < cpu(&best).other() {
            best = again;
        }
    }
    Ok(best)
}
