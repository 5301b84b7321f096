//! Identity and permission benchmarks (not tests), each figure as a ratio to a baseline
//! measured in the same run:
//! - logins/s at 2 and 8 clients vs raw argon2id verifications/s (same parameters), and
//!   beside them logins for an unknown email (the same lookup and verification, no event
//!   written: the ceiling before any session is started); first with everything on the
//!   machine's shared cores, then with a `raptscallions serve` process alone on CPU 0 and
//!   PostgreSQL, NATS and the clients on the others, against raw on CPU 0 (ADR 0008; needs
//!   `cargo build --release --bin raptscallions`);
//! - `GET /health` latency from one client, alone and while 8 clients log in (hashing must
//!   not stall other requests);
//! - authenticated `GET /auth/me` vs unauthenticated `GET /health`;
//! - authorized `GET /classes/{id}` for a user with 1, 100 and 1,000 memberships vs
//!   `GET /health`.
//!
//! Run: `cargo run --release -p bench --bin access` (services as for the tests;
//! `BENCH_SECS` sets the length of each step, default 5; `BENCH_LOGIN_CLIENTS`, default
//! `2,8`, the login steps; `BENCH_ONLY=logins` runs only those; `BENCH_ROUNDS`, default 4,
//! the slices in which each measurement alternates with its baseline).

use std::sync::Arc;

use application::ports::PasswordHasher as _;
use application::CommandContext;
use bench::{client, rate_for, secs};
use domain::group::{GroupName, GroupRole};
use domain::user::Password;
use infrastructure::passwords::{Argon2Hasher, Argon2Settings};
use serde_json::{json, Value};
use tests::{
    register, server_binary_path, spawn_app_with, test_env, ServerProcess, TestApp, TestDb,
    TestOptions,
};

/// Authenticated (`token`) or anonymous `GET path` per second from 8 clients, beside
/// anonymous `GET /health` per second from 8 clients: the two alternate in
/// [`rounds`] slices of the step so that the machine's drift falls on both alike. Returns
/// `(path/s, /health/s)`.
async fn get_rate_beside_health(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    token: Option<String>,
) -> (f64, f64) {
    let rounds = rounds();
    let slice = secs() / rounds;
    let (mut rate, mut health) = (0.0, 0.0);
    for _ in 0..rounds {
        health += get_rate(http, app, "/health", None, slice).await / f64::from(rounds);
        rate += get_rate(http, app, path, token.clone(), slice).await / f64::from(rounds);
    }
    (rate, health)
}

/// `GET path` per second from 8 clients during `length`, each answered 200.
async fn get_rate(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    token: Option<String>,
    length: std::time::Duration,
) -> f64 {
    let http = http.clone();
    let url = app.url(path);
    rate_for(8, length, move |_| {
        let mut request = http.get(url.clone());
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        async move {
            match request.send().await {
                Ok(r) if r.status() == 200 => true,
                Ok(r) => {
                    eprintln!(
                        "status {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    );
                    false
                }
                Err(e) => {
                    eprintln!("request failed: {e}");
                    false
                }
            }
        }
    })
    .await
}

/// The login steps: `BENCH_LOGIN_CLIENTS` (default `2,8`); 1 client shows what a login adds
/// to one verification in wall time.
fn login_clients() -> Vec<usize> {
    std::env::var("BENCH_LOGIN_CLIENTS")
        .unwrap_or_else(|_| "2,8".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// Each step is measured in `BENCH_ROUNDS` slices (default 4), alternating with its
/// baseline.
fn rounds() -> u32 {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // On Ctrl-C, SIGTERM or SIGHUP the benchmark is dropped where it stands, so that what it
    // set up is undone:
    // processes pinned to CPUs unpinned, the server process killed, databases dropped.
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::select! {
        result = run() => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted");
            Ok(())
        }
        _ = terminate.recv() => {
            eprintln!("terminated");
            Ok(())
        }
        _ = hangup.recv() => {
            eprintln!("hung up");
            Ok(())
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let app = spawn_app_with(TestOptions {
        env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into())],
        ..TestOptions::default()
    })
    .await;
    println!(
        "step length: {:?}; machine: {} CPUs",
        secs(),
        std::thread::available_parallelism()?.get()
    );

    // --- Logins vs raw argon2id ---
    let hasher = Arc::new(Argon2Hasher::new(Argon2Settings::default())?);
    let password = Password::parse("benchmark password")?;
    let hash = hasher
        .hash(&password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let hashing = RawHashing {
        hasher,
        password,
        hash,
    };
    register(&app, "bench@example.org", "benchmark password").await;
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
    let http = client();
    let url = app.url("/auth/login");
    for clients in login_clients() {
        // Raw: verifications back to back on plain threads, as many as there are clients but
        // no more than CPUs (more would only share the cores and the caches): the most this
        // machine verifies, with the server's hasher and nothing around it.
        let step = login_step(
            &http,
            &url,
            clients,
            (clients.min(cpus), None),
            &hashing,
            None,
        )
        .await?;
        println!("| {clients} | {} |", step.columns());
    }

    split_logins(&http, &hashing).await?;

    // `BENCH_ONLY=logins` stops here.
    if std::env::var("BENCH_ONLY").is_ok_and(|only| only == "logins") {
        return Ok(());
    }

    // --- Other requests while logins hash ---
    // One client asks for `/health` back to back, alone and then while 8 clients log in;
    // the hashes run off the async workers, so the answer should not wait for them.
    println!("\n## GET /health from one client, alone and during 8-client logins\n");
    println!("| condition | /health p50 | p99 | max | logins/s meanwhile |");
    println!("| --- | --- | --- | --- | --- |");
    let health_url = app.url("/health");
    let idle = health_latencies(&http, &health_url, secs()).await;
    let logging_in = tokio::join!(
        health_latencies(&http, &health_url, secs()),
        login_rate(&http, &url, "bench@example.org", 200, 8, secs()),
    );
    for (condition, latencies, logins) in [
        ("alone", idle, None),
        ("during logins", logging_in.0, Some(logging_in.1)),
    ] {
        println!(
            "| {condition} | {} | {} | {} | {} |",
            millis(quantile(&latencies, 0.5)),
            millis(quantile(&latencies, 0.99)),
            millis(quantile(&latencies, 1.0)),
            logins.map_or("–".to_owned(), |l| format!("{l:.1}"))
        );
    }

    // --- /auth/me vs /health ---
    let token = app.token.clone();
    println!("\n## Authenticated requests (8 clients)\n");
    println!("| request | req/s | ratio to /health |");
    println!("| --- | --- | --- |");
    let (me, health) = get_rate_beside_health(&http, &app, "/auth/me", Some(token.clone())).await;
    println!("| GET /health | {health:.0} | 100% |");
    println!("| GET /auth/me | {me:.0} | {:.0}% |", 100.0 * me / health);

    // --- Authorized GET /classes/{id} by number of memberships ---
    let services = app.application().services().clone();
    let context = CommandContext {
        actor: "bench".into(),
        correlation_id: "bench".into(),
        causation_id: None,
    };
    let district = app.create_group("District", None).await;
    let district_id = district["id"].as_str().unwrap().to_owned();
    let school = app.create_group("School", Some(&district_id)).await;
    let school_id = school["id"].as_str().unwrap().to_owned();
    let class: Value = app
        .post_json(
            &format!("/groups/{school_id}/classes"),
            &json!({"name": "Algebra"}),
        )
        .await
        .json()
        .await?;
    let class_id = class["id"].as_str().unwrap().to_owned();
    let (teacher, teacher_user) = register(&app, "teacher@example.org", "benchmark password").await;
    let teacher_id: uuid::Uuid = teacher_user["id"].as_str().unwrap().parse()?;
    let response = app
        .request(
            reqwest::Method::PUT,
            &format!("/classes/{class_id}/members/{teacher_id}"),
        )
        .json(&json!({"role": "teacher"}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "teacher membership");
    println!("\n## Authorized GET /classes/{{id}} (8 clients)\n");
    println!("| memberships | req/s | ratio to /health (same step) |");
    println!("| --- | --- | --- |");
    let mut memberships = 1;
    for target in [1, 100, 1000] {
        while memberships < target {
            let (group, appended) = services
                .groups
                .create(
                    &context,
                    GroupName::parse(&format!("Club {memberships}"))?,
                    Some(district_id.parse()?),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let _ = appended;
            services
                .groups
                .set_member(&context, group, teacher_id, GroupRole::Member, true)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            memberships += 1;
        }
        app.wait_for_subscribers().await;
        let (class_rate, health) = get_rate_beside_health(
            &http,
            &app,
            &format!("/classes/{class_id}"),
            Some(teacher.clone()),
        )
        .await;
        println!(
            "| {target} | {class_rate:.0} | {:.0}% (/health {health:.0}) |",
            100.0 * class_rate / health
        );
    }
    Ok(())
}

/// What the raw baseline verifies: the server's hasher, the benchmark's password and its
/// hash.
struct RawHashing {
    hasher: Arc<Argon2Hasher>,
    password: Password,
    hash: domain::user::PasswordHash,
}

/// One login step's figures, each the mean of its `BENCH_ROUNDS` slices.
struct LoginStep {
    raw: f64,
    logins: f64,
    unknown: f64,
    /// The machine's CPUs (and the server process, when given) during the raw slices.
    raw_busy: Busy,
    /// The same during the login slices.
    busy: Busy,
}

impl LoginStep {
    /// Raw, logins, their ratio, unknown-email logins, their ratio, and the points a
    /// session start costs (the ceiling minus the logins), as table cells.
    fn columns(&self) -> String {
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
async fn login_step(
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
async fn login_rate(
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

/// Latencies of `GET url` sent back to back by one client for `length`, sorted.
async fn health_latencies(
    http: &reqwest::Client,
    url: &str,
    length: std::time::Duration,
) -> Vec<std::time::Duration> {
    let deadline = std::time::Instant::now() + length;
    let mut latencies = Vec::new();
    while std::time::Instant::now() < deadline {
        let sent = std::time::Instant::now();
        let response = http.get(url).send().await.expect("GET /health");
        assert_eq!(response.status(), 200);
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    latencies
}

/// The `q` quantile of sorted, non-empty `values`.
fn quantile(values: &[std::time::Duration], q: f64) -> std::time::Duration {
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index]
}

fn millis(duration: std::time::Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
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

/// Logins with the server alone on CPU 0 and everything else on the other CPUs, against raw
/// verifications on CPU 0.
///
/// The shared-cores table above runs the benchmark's clients, PostgreSQL and nats-server on
/// the same two cores as the hashes, so every millisecond they spend is taken from argon2id.
/// In a deployment the database and the clients are other machines; this step models that
/// on one machine: a `raptscallions serve` process started on CPU 0 (it sees one CPU, so one
/// async worker and one hashing permit) on a fresh database, and this process, every
/// `postgres` process and `nats-server` pinned to the other CPUs for the step (and
/// unpinned after). The server's own work — HTTP, the lookup and append calls, the
/// subscribers, the relay — still shares CPU 0 with its hashes; the baseline is raw
/// verifications on one thread on CPU 0. The shared L3 cache stays shared.
async fn split_logins(http: &reqwest::Client, hashing: &RawHashing) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism()?.get();
    println!("\n## Logins, server on its own CPU (PostgreSQL, NATS and clients on the others)\n");
    if cpus < 2 {
        println!("Skipped: this machine has one CPU.");
        return Ok(());
    }
    if !server_binary_path().exists() {
        println!(
            "Skipped: {} is missing (`cargo build --release --bin raptscallions`).",
            server_binary_path().display()
        );
        return Ok(());
    }
    let built = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if built(&server_binary_path()) < built(&std::env::current_exe()?) {
        println!(
            "Note: {} is older than this benchmark; `cargo build --release --bin raptscallions` \
             if the server changed since.\n",
            server_binary_path().display()
        );
    }
    let all = format!("0-{}", cpus - 1);
    let others = format!("1-{}", cpus - 1);
    let services = ["postgres", "nats-server"];
    if let Some(pid) = pinned_already(&services, &all) {
        println!("Skipped: process {pid} is already pinned to some CPUs; left as it is.");
        return Ok(());
    }
    let db = TestDb::create().await;
    let mut env = test_env(
        &db,
        &TestOptions {
            env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into())],
            ..TestOptions::default()
        },
    );
    // The subscribers' takeover check at its production interval, not the tests' 200 ms:
    // it runs on CPU 0 during the raw slices too.
    env.remove("SUBSCRIBER_TAKEOVER_INTERVAL_MS");
    let server = ServerProcess::start_on(&env, None, Some("0")).await;
    let registered = http
        .post(server.url("/auth/register"))
        .json(&json!({"email": "bench@example.org", "name": "Bench", "password": "benchmark password"}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status() == 201,
        "register: {}",
        registered.status()
    );
    let url = server.url("/auth/login");
    let pinned = match Pinned::new(&services, &others, &all) {
        Ok(pinned) => pinned,
        Err(e) => {
            println!("Skipped: {e}.");
            return Ok(());
        }
    };
    // The last columns, from /proc: how busy the server's CPU and the others were during the
    // logins (with CPU 0 near 100 % and the others far from it, the server, not the load
    // side, sets the rate), and the server process's own CPU time as a share of CPU 0 during
    // the raw slices (what it took from the baseline while idle) and the logins.
    println!("| clients | raw verifications/s (1 thread, CPU 0) | logins/s | ratio | unknown email/s | ratio | session start costs | busy during logins: CPU 0 / others | server process on CPU 0: raw / logins |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for clients in login_clients() {
        let step = login_step(http, &url, clients, (1, Some("0")), hashing, server.pid()).await?;
        println!(
            "| {clients} | {} | {:.0}% / {:.0}% | {:.1}% / {:.0}% |",
            step.columns(),
            step.busy.percent(0..1),
            step.busy.percent(1..cpus),
            step.raw_busy.process_percent(0),
            step.busy.process_percent(0),
        );
    }

    drop(pinned);
    server.kill().await;
    drop(db);
    Ok(())
}

/// This process and every process named in `names`, pinned (every thread) to the CPUs
/// `cpus` while this lives, then to `all` again.
struct Pinned {
    names: Vec<&'static str>,
    all: String,
}

impl Pinned {
    /// Fails (having put back what it pinned) when some process could not be pinned, for
    /// example one of another user without the rights to change it.
    fn new(names: &[&'static str], cpus: &str, all: &str) -> anyhow::Result<Self> {
        let pinned = Self {
            names: names.to_vec(),
            all: all.to_owned(),
        };
        let left = settle(&pinned.names, cpus);
        anyhow::ensure!(left.is_empty(), "could not pin processes {left:?}");
        Ok(pinned)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let left = settle(&self.names, &self.all);
        if !left.is_empty() {
            eprintln!(
                "could not unpin processes {left:?}: `taskset -a -p -c {} <pid>`",
                self.all
            );
        }
    }
}

/// Sets every thread of this process and of the processes named `names` to the CPUs
/// `cpus`, scanning again until a scan finds nothing left to change (a PostgreSQL backend
/// forked during a scan inherits the postmaster's CPUs from before or after it). Returns
/// the processes still elsewhere after five scans.
fn settle(names: &[&str], cpus: &str) -> Vec<u32> {
    let wanted = cpu_list(cpus);
    let elsewhere = || {
        processes(names)
            .into_iter()
            .filter(|&pid| thread_cpus(pid).iter().any(|set| *set != wanted))
            .collect::<Vec<_>>()
    };
    for _ in 0..5 {
        let left = elsewhere();
        if left.is_empty() {
            return left;
        }
        for pid in left {
            taskset(pid, cpus);
        }
    }
    elsewhere()
}

/// The CPUs each thread of `pid` may run on (none if it has exited).
fn thread_cpus(pid: u32) -> Vec<Vec<usize>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .filter_map(|task| {
            let status = std::fs::read_to_string(task.path().join("status")).ok()?;
            let list = status
                .lines()
                .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?;
            Some(cpu_list(list))
        })
        .collect()
}

/// A CPU list as `taskset` and /proc write it (`0-3,6`), expanded.
fn cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(first), Ok(last)) = (first.parse::<usize>(), last.parse::<usize>()) {
            cpus.extend(first..=last);
        }
    }
    cpus
}

/// This process and the processes whose command name is one of `names`.
fn processes(names: &[&str]) -> Vec<u32> {
    let mut pids = vec![std::process::id()];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if names.contains(&comm.trim()) {
            pids.push(pid);
        }
    }
    pids
}

/// A process of `names` (or this one) with a thread that may run on fewer CPUs than `all`,
/// if any: the step would unpin it afterwards, so it does not run.
fn pinned_already(names: &[&str], all: &str) -> Option<u32> {
    let all = cpu_list(all);
    processes(names)
        .into_iter()
        .find(|&pid| thread_cpus(pid).iter().any(|set| *set != all))
}

/// `taskset -a -p -c cpus pid`: every thread of `pid` on `cpus`; whether it worked.
fn taskset(pid: u32, cpus: &str) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Pins the calling thread (only) to `cpus`: `/proc/thread-self` names its thread id.
fn pin_this_thread(cpus: &str) {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    let tid: u32 = link
        .file_name()
        .and_then(|tid| tid.to_str()?.parse().ok())
        .expect("thread id");
    assert!(
        std::process::Command::new("taskset")
            .args(["-p", "-c", cpus, &format!("{tid}")])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success()),
        "taskset could not pin a raw thread"
    );
}

/// CPU counters in clock ticks: per CPU (busy, total) from the `cpuN` lines of /proc/stat,
/// and the user + system time of one process (the server) from its /proc/<pid>/stat.
struct CpuReading {
    cpus: Vec<(u64, u64)>,
    process: u64,
}

fn cpu_reading(process: Option<u32>) -> CpuReading {
    let cpus = std::fs::read_to_string("/proc/stat")
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("cpu") && !line.starts_with("cpu "))
        .map(|line| {
            let fields = bench::proc_stat_ticks(line);
            // Busy is what this guest ran, total adds idle, iowait and what the host stole.
            let field = |i: usize| fields.get(i).copied().unwrap_or(0);
            let busy = field(0) + field(1) + field(2) + field(5) + field(6);
            (busy, busy + field(3) + field(4) + field(7))
        })
        .collect();
    let process = process
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .and_then(|stat| bench::pid_stat(&stat).map(|stat| stat.ticks))
        .unwrap_or(0);
    CpuReading { cpus, process }
}

/// Busy and total ticks per CPU, and one process's ticks, summed over measured intervals.
#[derive(Default)]
struct Busy {
    cpus: Vec<(u64, u64)>,
    process: u64,
}

impl Busy {
    fn add(&mut self, before: &CpuReading, after: &CpuReading) {
        self.cpus.resize(after.cpus.len(), (0, 0));
        for (sum, (b, a)) in self
            .cpus
            .iter_mut()
            .zip(before.cpus.iter().zip(&after.cpus))
        {
            sum.0 += a.0.saturating_sub(b.0);
            sum.1 += a.1.saturating_sub(b.1);
        }
        self.process += after.process.saturating_sub(before.process);
    }

    /// Busy share of the CPUs `cpus`, in percent.
    fn percent(&self, cpus: std::ops::Range<usize>) -> f64 {
        let (busy, total) = self
            .cpus
            .get(cpus)
            .unwrap_or_default()
            .iter()
            .fold((0, 0), |(b, t), (busy, total)| (b + busy, t + total));
        100.0 * busy as f64 / total.max(1) as f64
    }

    /// The process's CPU time as a share of CPU `cpu`'s time, in percent.
    fn process_percent(&self, cpu: usize) -> f64 {
        let total = self.cpus.get(cpu).map_or(0, |&(_, total)| total);
        100.0 * self.process as f64 / total.max(1) as f64
    }
}
