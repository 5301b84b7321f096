//! The workflows benchmark (binary `workflows`; what it measures is described at the top of
//! `bench/src/bin/workflows.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::{spawn_app_with, TestApp, TestOptions};

use crate::closed_loop::{client, secs};
use crate::school::{fixture, Fixture};
use crate::stats::{ms, quantile};

const CLIENTS: usize = 8;
const STEADY_RATE: u64 = 200;

fn sleeping() -> usize {
    std::env::var("BENCH_SLEEPING")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

async fn app(recheck_ms: u64) -> TestApp {
    let app = spawn_app_with(TestOptions {
        env: vec![
            ("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into()),
            ("DATABASE_MAX_CONNECTIONS".into(), "20".into()),
            ("STRUGGLE_RECHECK_AFTER_MS".into(), recheck_ms.to_string()),
        ],
        ..TestOptions::default()
    })
    .await;
    app.wait_for_subscribers().await;
    app
}

/// A detection whose notification will carry `token` in its body.
fn detection(struggle: bool, token: &str) -> Value {
    if struggle {
        json!({"type": "struggle", "topic": token, "indicators": [token], "duration_seconds": 60})
    } else {
        json!({"type": "misbehavior", "category": "off_topic", "severity": "medium",
               "evidence": token})
    }
}

async fn detect(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    session: &str,
    body: Value,
) -> bool {
    for _ in 0..5 {
        match http
            .post(format!("{url}/learning-sessions/{session}/detections"))
            .bearer_auth(secret)
            .json(&body)
            .send()
            .await
        {
            Ok(r) if r.status() == 200 => return true,
            // Two detections on one session at once: the loser retries.
            Ok(r) if r.status() == 409 => continue,
            Ok(r) => {
                eprintln!("detection: {}", r.status());
                return false;
            }
            Err(e) => {
                eprintln!("detection: {e}");
                return false;
            }
        }
    }
    false
}

/// The `bench-…-x` token in a notification body.
fn token_in(body: &str) -> Option<String> {
    let start = body.find("bench-")?;
    let end = body[start..].find("-x")? + start + 2;
    Some(body[start..end].to_owned())
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// One client's `GET /health` latencies over `n` requests: (p50, p99).
async fn health_latency(http: &reqwest::Client, url: &str, n: usize) -> (Duration, Duration) {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let ok = http
            .get(format!("{url}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        assert!(ok, "GET /health");
        all.push(started.elapsed());
    }
    all.sort();
    (quantile(&all, 0.5), quantile(&all, 0.99))
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

/// Waits until `sql` counts at least `n`.
async fn wait_for_count(app: &TestApp, sql: &str, n: i64, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if count(app, sql).await >= n {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not reached: {sql} ≥ {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to an hour, unlike the tests' 30 s) until every subscriber has caught up with
/// the log and the log has stopped growing: after 100,000 sagas the emails and read models
/// they set off take minutes.
async fn settle(app: &TestApp) {
    let names = app.subscriber_names();
    let started = Instant::now();
    loop {
        let head = app.log_head().await;
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM subscriber_checkpoints WHERE position < $1 AND name = ANY($2)",
        )
        .bind(head)
        .bind(&names)
        .fetch_one(&app.pool)
        .await
        .expect("checkpoints");
        if behind == 0 && app.log_head().await == head {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "not settled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Detection → notification, with and without a saga, interleaved at a steady rate.
async fn saga_in_the_path(app: &TestApp, f: &Fixture, url: &str) {
    let http = client();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (pool, seen, stop) = (app.pool.clone(), seen.clone(), stop.clone());
        tokio::spawn(async move {
            let mut after: i64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT position, body FROM notifications WHERE position > $1 ORDER BY position",
                )
                .bind(after)
                .fetch_all(&pool)
                .await
                .expect("notifications");
                let now = Instant::now();
                {
                    let mut seen = seen.lock().expect("seen");
                    for (position, body) in rows {
                        after = after.max(position);
                        if let Some(token) = token_in(&body) {
                            seen.entry(token).or_insert(now);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let n = (STEADY_RATE * (secs() * 2).as_secs()) as usize;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / STEADY_RATE));
    let sent_at: Arc<Mutex<HashMap<String, (bool, Instant)>>> = Arc::default();
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        ticker.tick().await;
        let struggle = i % 2 == 1;
        let token = format!("bench-p{i}-x");
        sent_at
            .lock()
            .expect("sent")
            .insert(token.clone(), (struggle, Instant::now()));
        let (http, url, secret) = (http.clone(), url.to_owned(), f.service_secret.clone());
        let session = f.sessions[i % f.sessions.len()].clone();
        requests.push(tokio::spawn(async move {
            detect(&http, &url, &secret, &session, detection(struggle, &token)).await
        }));
    }
    let mut failed = 0;
    for r in requests {
        if !r.await.expect("request") {
            failed += 1;
        }
    }
    let started = Instant::now();
    while seen.lock().expect("seen").len() < n - failed
        && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    watcher.await.expect("watcher");
    let seen = seen.lock().expect("seen").clone();
    let sent_at = sent_at.lock().expect("sent").clone();
    let latencies = |with_saga: bool| {
        let mut all: Vec<Duration> = sent_at
            .iter()
            .filter(|(_, (struggle, _))| *struggle == with_saga)
            .filter_map(|(token, (_, sent))| seen.get(token).map(|at| at.duration_since(*sent)))
            .collect();
        all.sort();
        all
    };
    let (without, with) = (latencies(false), latencies(true));
    println!("steady {STEADY_RATE} detections/s (half each kind), {n} sent, {failed} failed");
    for (what, all) in [
        ("misbehavior → notification (reactions, no saga)", &without),
        (
            "struggle → first teacher notification (intervention saga)",
            &with,
        ),
    ] {
        println!(
            "{what}: n={} p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
            all.len(),
            ms(quantile(all, 0.5)),
            ms(quantile(all, 0.99)),
            ms(quantile(all, 1.0)),
        );
    }
    println!(
        "saga in the path: p99 {:+.1} ms against the same run without it; target ≤ +10 ms",
        ms(quantile(&with, 0.99)) - ms(quantile(&without, 0.99))
    );
}

/// Sleeping interventions: memory and `/health`; then all of their timers at once.
async fn sleeping_sagas(app: &TestApp, f: &Fixture, url: &str) {
    let http = client();
    let n = sleeping();
    let scheduled = "SELECT count(*) FROM workflow_timers WHERE fired_at IS NULL";
    let before_timers = count(app, scheduled).await;
    let (idle_p50, idle_p99) = health_latency(&http, url, 1000).await;
    let rss_before = rss_mib();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, url, secret, sessions, next) = (
                http.clone(),
                url.to_owned(),
                f.service_secret.clone(),
                f.sessions.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let token = format!("bench-z{i}-x");
                    let session = &sessions[i % sessions.len()];
                    assert!(detect(&http, &url, &secret, session, detection(true, &token)).await);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client");
    }
    let sent = started.elapsed();
    let drained = wait_for_count(
        app,
        scheduled,
        before_timers + n as i64,
        Duration::from_secs(3600),
    )
    .await;
    settle(app).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_mib();
    let (p50, p99) = health_latency(&http, url, 1000).await;
    println!(
        "{n} sleeping interventions: detections sent in {:.1} s, all asleep {:.1} s later",
        sent.as_secs_f64(),
        drained.as_secs_f64()
    );
    println!(
        "RSS of the process (server and load generator): {rss_before:.0} → {rss_after:.0} MiB ({:+.0} MiB, {:.2} KiB per saga); target < 200 MB for 100000",
        rss_after - rss_before,
        (rss_after - rss_before) * 1024.0 / n as f64
    );
    println!(
        "GET /health, one client, idle: p50 {:.2} ms p99 {:.2} ms before, p50 {:.2} ms p99 {:.2} ms with them asleep ({:.0} % / {:.0} %); target within 20 %",
        ms(idle_p50),
        ms(idle_p99),
        ms(p50),
        ms(p99),
        100.0 * ms(p50) / ms(idle_p50),
        100.0 * ms(p99) / ms(idle_p99),
    );

    // 10,000 of them due at the same moment.
    let fired = "SELECT count(*) FROM workflow_timers WHERE fired_at IS NOT NULL";
    let fired_before = count(app, fired).await;
    let burst: i64 = 10_000.min(count(app, scheduled).await);
    sqlx::query(
        "UPDATE workflow_timers SET due_at = clock_timestamp() WHERE id IN \
         (SELECT id FROM workflow_timers WHERE fired_at IS NULL ORDER BY id LIMIT $1)",
    )
    .bind(burst)
    .execute(&app.pool)
    .await
    .expect("make them due");
    let all_fired =
        wait_for_count(app, fired, fired_before + burst, Duration::from_secs(3600)).await;
    println!(
        "{burst} timers due at the same moment: all fired in {:.2} s ({:.0}/s); target ≤ 10 s for 10000",
        all_fired.as_secs_f64(),
        burst as f64 / all_fired.as_secs_f64()
    );
    // What their firing set off (decisions, messages) settles first.
    settle(app).await;

    // Lateness with nothing else going on: 2,000 more, due from 2 s on at 200/s.
    let spread: i64 = 2_000.min(count(app, scheduled).await);
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "UPDATE workflow_timers t SET due_at = clock_timestamp() + interval '2 seconds' \
             + (s.n / $2::float8) * interval '1 second' \
         FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM workflow_timers \
               WHERE fired_at IS NULL ORDER BY id LIMIT $1) s \
         WHERE t.id = s.id RETURNING t.id",
    )
    .bind(spread)
    .bind(STEADY_RATE as f64)
    .fetch_all(&app.pool)
    .await
    .expect("spread them");
    let fired_before = count(app, fired).await;
    wait_for_count(app, fired, fired_before + spread, Duration::from_secs(600)).await;
    let (p50, p99, max) = lateness_of(app, Some(&ids)).await;
    println!(
        "{spread} timers at {STEADY_RATE}/s, nothing else running: lateness p50 {p50:.1} ms p99 {p99:.1} ms max {max:.1} ms; target p99 ≤ 100 ms"
    );
}

/// Lateness (marked fired − due) of the fired timers, or of `ids`: p50, p99, max in ms.
async fn lateness_of(app: &TestApp, ids: Option<&[uuid::Uuid]>) -> (f64, f64, f64) {
    sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) \
         FROM (SELECT (extract(epoch FROM fired_at - due_at) * 1000)::float8 AS ms \
               FROM workflow_timers \
               WHERE fired_at IS NOT NULL AND ($1::uuid[] IS NULL OR id = ANY($1))) t",
    )
    .bind(ids)
    .fetch_one(&app.pool)
    .await
    .expect("lateness")
}

/// Timers created at a steady 200/s, each due 2 s later: their lateness.
async fn lateness() {
    let app = app(2000).await;
    let f = fixture(&app).await;
    let url = app.url("").trim_end_matches('/').to_owned();
    let http = client();
    let n = (STEADY_RATE * (secs() * 2).as_secs()) as usize;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / STEADY_RATE));
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        ticker.tick().await;
        let (http, url, secret) = (http.clone(), url.clone(), f.service_secret.clone());
        let session = f.sessions[i % f.sessions.len()].clone();
        requests.push(tokio::spawn(async move {
            let token = format!("bench-l{i}-x");
            detect(&http, &url, &secret, &session, detection(true, &token)).await
        }));
    }
    for r in requests {
        assert!(r.await.expect("request"));
    }
    wait_for_count(
        &app,
        "SELECT count(*) FROM workflow_timers WHERE fired_at IS NOT NULL",
        n as i64,
        Duration::from_secs(600),
    )
    .await;
    let (p50, p99, max) = lateness_of(&app, None).await;
    println!(
        "{n} timers at {STEADY_RATE}/s (struggles paced, recheck 2 s, while the next struggles start): lateness p50 {p50:.1} ms p99 {p99:.1} ms max {max:.1} ms; target p99 ≤ 100 ms"
    );
    // The saga's own record of the firing (its event) against the due time, and when the
    // timer's struggle was started (the saga's first event) against the detection.
    let quantiles = |sql: &'static str| {
        let pool = app.pool.clone();
        async move {
            let row: (f64, f64, f64) = sqlx::query_as(sql)
                .fetch_one(&pool)
                .await
                .expect("quantiles");
            row
        }
    };
    let fired = quantiles(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) \
         FROM (SELECT (extract(epoch FROM f.recorded_at - (s.payload->>'due_at')::timestamptz) \
                   * 1000)::float8 AS ms \
               FROM events s JOIN events f USING (aggregate_type, aggregate_id) \
               WHERE s.event_type = 'intervention.recheck_scheduled' \
                 AND f.event_type = 'intervention.recheck_fired') t",
    )
    .await;
    let started = quantiles(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms) \
         FROM (SELECT (extract(epoch FROM s.recorded_at - d.recorded_at) * 1000)::float8 AS ms \
               FROM events s JOIN events d \
                 ON d.event_id = (s.payload->>'detection_id')::uuid \
               WHERE s.event_type = 'intervention.started') t",
    )
    .await;
    println!(
        "  of which: recheck_fired recorded − due p50 {:.1} ms p99 {:.1} ms max {:.1} ms; struggle → saga started p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
        fired.0, fired.1, fired.2, started.0, started.1, started.2
    );
}

/// Runs every step, printing the figures to stdout.
pub async fn run() {
    // `BENCH_ONLY=lateness`: only the lateness run while struggles start; `BENCH_ONLY=path`:
    // only the saga in the path.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only == "lateness" {
        lateness().await;
        return;
    }
    // Interventions sleep for an hour: the timers fire only when the run makes them due.
    let mut app = app(3_600_000).await;
    let f = fixture(&app).await;
    let url = app.url("").trim_end_matches('/').to_owned();
    println!("# workflows benchmark: steps of {:?}", secs());
    saga_in_the_path(&app, &f, &url).await;
    if only == "path" {
        return;
    }
    sleeping_sagas(&app, &f, &url).await;
    // The first server goes before the second starts: its pools keep their idle connections
    // (ten minutes), and two servers' pools and subscribers together exceed the database's
    // 100 connections, so the second's timer loop could not connect.
    settle(&app).await;
    app.stop().await;
    drop(app);
    lateness().await;
}
