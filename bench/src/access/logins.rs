//! Logins against raw argon2id: logins/s and unknown-email logins/s from some clients,
//! beside raw verifications/s with the server's hasher, alternating in slices; first with
//! everything on the machine's shared cores.

use std::sync::Arc;

use application::ports::PasswordHasher as _;
use domain::user::Password;
use infrastructure::passwords::{Argon2Hasher, Argon2Settings};
use serde_json::json;
use tests::TestApp;

use super::busy::{cpu_reading, Busy};
use super::pinning::pin_this_thread;
use super::settings::{login_clients, rounds};
use crate::closed_loop::{rate_for, secs};

/// Logins at each of `BENCH_LOGIN_CLIENTS` against raw verifications on as many threads
/// (no more than CPUs), all on the machine's shared cores.
pub(super) async fn on_shared_cores(
    app: &TestApp,
    http: &reqwest::Client,
    hashing: &RawHashing,
) -> anyhow::Result<()> {
    println!("\n## Logins (argon2id m=19456 KiB, t=2, p=1)\n");
    // Columns 5 and 6: the same request for an unknown email (a new one each time, so that
    // the throttle for emails without an account never starts), which costs the same lookup
    // and verification (enumeration resistance) and writes no event, only its failure's row
    // in `unknown_email_login_failures`: what HTTP, the lookup and the verification leave of
    // raw, before any session is started. The last: the points of raw between that ceiling
    // and the logins, i.e. what starting a session (its append, projection and relay) costs
    // beyond recording a failure.
    println!(
        "| clients | raw verifications/s | logins/s | ratio | unknown email/s (no event written) | ratio | session start costs |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let cpus = std::thread::available_parallelism()?.get();
    let url = app.url("/auth/login");
    for clients in login_clients() {
        // Raw: verifications back to back on plain threads, as many as there are clients but
        // no more than CPUs (more would only share the cores and the caches): the most this
        // machine verifies, with the server's hasher and nothing around it.
        let step = login_step(
            http,
            &url,
            clients,
            (clients.min(cpus), None),
            hashing,
            None,
        )
        .await?;
        println!("| {clients} | {} |", step.columns());
    }
    Ok(())
}

/// What the raw baseline verifies: the server's hasher, the benchmark's password and its
/// hash.
pub(super) struct RawHashing {
    hasher: Arc<Argon2Hasher>,
    password: Password,
    hash: domain::user::PasswordHash,
}

impl RawHashing {
    /// The server's hasher with its default parameters, and the benchmark password's hash.
    pub(super) async fn new() -> anyhow::Result<Self> {
        let hasher = Arc::new(Argon2Hasher::new(Argon2Settings::default())?);
        let password = Password::parse("benchmark password")?;
        let hash = hasher
            .hash(&password)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self {
            hasher,
            password,
            hash,
        })
    }
}

/// One login step's figures, each the mean of its `BENCH_ROUNDS` slices.
pub(super) struct LoginStep {
    raw: f64,
    logins: f64,
    unknown: f64,
    /// The machine's CPUs (and the server process, when given) during the raw slices.
    pub(super) raw_busy: Busy,
    /// The same during the login slices.
    pub(super) busy: Busy,
}

impl LoginStep {
    /// Raw, logins, their ratio, unknown-email logins, their ratio, and the points a
    /// session start costs (the ceiling minus the logins), as table cells.
    pub(super) fn columns(&self) -> String {
        let Self {
            raw,
            logins,
            unknown,
            ..
        } = self;
        format!(
            "{raw:.1} | {logins:.1} | {:.0}% | {unknown:.1} | {:.0}% | {:.0} points",
            100.0 * logins / raw,
            100.0 * unknown / raw,
            100.0 * (unknown - logins) / raw
        )
    }
}

/// Raw verifications on `raw_threads.0` threads (on the CPUs `raw_threads.1` when given),
/// logins and unknown-email logins at `url` from `clients` clients, alternating in
/// [`rounds`] slices so that the machine's drift (it is shared) falls on all alike. The CPU
/// counters follow the server process `server` when given.
pub(super) async fn login_step(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    raw_threads: (usize, Option<&'static str>),
    hashing: &RawHashing,
    server: Option<u32>,
) -> anyhow::Result<LoginStep> {
    let rounds = rounds();
    let slice = secs() / rounds;
    let share = |rate: f64| rate / f64::from(rounds);
    let mut step = LoginStep {
        raw: 0.0,
        logins: 0.0,
        unknown: 0.0,
        raw_busy: Busy::default(),
        busy: Busy::default(),
    };
    for _ in 0..rounds {
        let (hasher, password, hash) = (
            hashing.hasher.clone(),
            hashing.password.clone(),
            hashing.hash.clone(),
        );
        let (threads, cpus) = raw_threads;
        let before = cpu_reading(server);
        step.raw += share(
            tokio::task::spawn_blocking(move || {
                raw_verifications(&hasher, &password, &hash, threads, slice, cpus)
            })
            .await?,
        );
        step.raw_busy.add(&before, &cpu_reading(server));
        let before = cpu_reading(server);
        step.logins += share(login_rate(http, url, "bench@example.org", 200, clients, slice).await);
        step.busy.add(&before, &cpu_reading(server));
        step.unknown +=
            share(login_rate(http, url, "nobody-{n}@example.org", 401, clients, slice).await);
    }
    Ok(step)
}

/// `POST /auth/login` per second for `email` (`{n}` in it replaced by the request's number)
/// with the benchmark's password, each answered with `status`.
pub(super) async fn login_rate(
    http: &reqwest::Client,
    url: &str,
    email: &'static str,
    status: u16,
    clients: usize,
    length: std::time::Duration,
) -> f64 {
    let (http, url) = (http.clone(), url.to_owned());
    rate_for(clients, length, move |n| {
        let email = email.replace("{n}", &n.to_string());
        let request = http
            .post(url.clone())
            .json(&json!({"email": email, "password": "benchmark password"}));
        async move { request.send().await.is_ok_and(|r| r.status() == status) }
    })
    .await
}

/// Verifications per second on `threads` OS threads during `length`, each thread on the
/// CPUs `cpus` (a `taskset` list) when given.
fn raw_verifications(
    hasher: &Argon2Hasher,
    password: &Password,
    hash: &domain::user::PasswordHash,
    threads: usize,
    length: std::time::Duration,
    cpus: Option<&str>,
) -> f64 {
    let started = std::time::Instant::now();
    let deadline = started + length;
    let done: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    if let Some(cpus) = cpus {
                        pin_this_thread(cpus);
                    }
                    let mut done = 0u64;
                    while std::time::Instant::now() < deadline {
                        assert!(hasher.verify_now(password, hash), "verification failed");
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("verifier"))
            .sum()
    });
    done as f64 / started.elapsed().as_secs_f64()
}
