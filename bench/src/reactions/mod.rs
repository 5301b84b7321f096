//! Detections and their reactions (the `reactions` binary): detections/s accepted at 8
//! clients against `GET /health`, and at a steady 200 detections/s the latency from a
//! detection to its notification in the read model and to its email accepted by SMTP. Its
//! settings are described at the top of `bench/src/bin/reactions.rs`.

mod smtp_server;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tests::{spawn_app_with, TestApp, TestOptions};

use crate::closed_loop::{client, rate, secs};
use crate::school::fixture;
use crate::stats::{ms, quantile};
use smtp_server::{smtp_server, token_in, Arrivals};

const CLIENTS: usize = 8;
const STEADY_RATE: u64 = 200;

/// Sends one medium misbehavior detection with `token` as its evidence; whether it was
/// accepted.
async fn detect(
    http: &reqwest::Client,
    app_url: &str,
    secret: &str,
    session: &str,
    token: &str,
) -> bool {
    let response = http
        .post(format!("{app_url}/learning-sessions/{session}/detections"))
        .bearer_auth(secret)
        .json(
            &json!({"type": "misbehavior", "category": "off_topic", "severity": "medium",
                      "evidence": token}),
        )
        .send()
        .await;
    match response {
        Ok(r) if r.status() == 200 => true,
        Ok(r) => {
            eprintln!(
                "detection: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
            false
        }
        Err(e) => {
            eprintln!("detection: {e}");
            false
        }
    }
}

/// Waits until the notifications read model holds `n` rows and `n` emails arrived.
async fn drain(app: &TestApp, arrivals: &Arrivals, n: usize) -> Duration {
    let started = Instant::now();
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
            .fetch_one(&app.pool)
            .await
            .expect("count");
        let emails = arrivals.lock().expect("arrivals").len();
        if rows as usize >= n && emails >= n {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "reactions did not drain: {rows} notifications, {emails} emails of {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs both steps, printing the figures to stdout.
pub async fn run() {
    let arrivals: Arrivals = Arc::default();
    let smtp_port = smtp_server(arrivals.clone()).await;
    let app = spawn_app_with(TestOptions {
        env: vec![
            ("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into()),
            ("SMTP_URL".into(), format!("smtp://127.0.0.1:{smtp_port}")),
            ("DATABASE_MAX_CONNECTIONS".into(), "20".into()),
        ],
        ..TestOptions::default()
    })
    .await;
    app.wait_for_subscribers().await;
    let f = fixture(&app).await;
    let http = client();
    let url = app.url("");
    let url = url.trim_end_matches('/').to_owned();
    println!(
        "# reactions benchmark: {CLIENTS} clients, steps of {:?}",
        secs()
    );

    // Baseline: GET /health at the same concurrency.
    let health = {
        let http = http.clone();
        let url = format!("{url}/health");
        rate(CLIENTS, move |_| {
            let request = http.get(url.clone());
            async move { request.send().await.is_ok_and(|r| r.status() == 200) }
        })
        .await
    };
    println!("GET /health, {CLIENTS} clients: {health:.0}/s");

    // Throughput: detections accepted per second, the reactions running behind them.
    let sessions = Arc::new(f.sessions);
    let secret = Arc::new(f.service_secret);
    let sent = Arc::new(AtomicUsize::new(0));
    let detections = {
        let (http, url, sessions, secret, sent) = (
            http.clone(),
            url.clone(),
            sessions.clone(),
            secret.clone(),
            sent.clone(),
        );
        rate(CLIENTS, move |n| {
            let (http, url, sessions, secret, sent) = (
                http.clone(),
                url.clone(),
                sessions.clone(),
                secret.clone(),
                sent.clone(),
            );
            async move {
                sent.fetch_add(1, Ordering::Relaxed);
                let session = &sessions[n as usize % sessions.len()];
                detect(&http, &url, &secret, session, &format!("bench-t{n}-x")).await
            }
        })
        .await
    };
    let total = sent.load(Ordering::Relaxed);
    println!(
        "detections accepted, {CLIENTS} clients: {detections:.0}/s ({:.1} % of GET /health); target ≥ 1000/s",
        100.0 * detections / health
    );
    let drained = drain(&app, &arrivals, total).await;
    println!(
        "backlog of {total} notifications and emails drained {:.1} s after the last detection",
        drained.as_secs_f64()
    );

    // Latency at a steady rate.
    let base_rows = total;
    let seen: Arrivals = Arc::default();
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
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let steady = secs() * 2;
    let n = (STEADY_RATE * steady.as_secs()) as usize;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / STEADY_RATE));
    let mut requests = Vec::with_capacity(n);
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    for i in 0..n {
        ticker.tick().await;
        let token = format!("bench-s{i}-x");
        sent_at
            .lock()
            .expect("sent")
            .insert(token.clone(), Instant::now());
        let (http, url, sessions, secret) =
            (http.clone(), url.clone(), sessions.clone(), secret.clone());
        requests.push(tokio::spawn(async move {
            let session = &sessions[i % sessions.len()];
            detect(&http, &url, &secret, session, &token).await
        }));
    }
    let mut failed = 0;
    for r in requests {
        if !r.await.expect("request") {
            failed += 1;
        }
    }
    drain(&app, &arrivals, base_rows + n).await;
    // Let the watcher see the last rows.
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::Relaxed);
    watcher.await.expect("watcher");
    let sent_at = sent_at.lock().expect("sent").clone();
    let latencies = |observed: &HashMap<String, Instant>| {
        let mut all: Vec<Duration> = sent_at
            .iter()
            .filter_map(|(token, sent)| observed.get(token).map(|at| at.duration_since(*sent)))
            .collect();
        all.sort();
        all
    };
    let notified = latencies(&seen.lock().expect("seen"));
    let emailed = latencies(&arrivals.lock().expect("arrivals"));
    println!(
        "steady {STEADY_RATE}/s for {:?}: {n} detections, {failed} failed",
        steady
    );
    println!(
        "detection → notification in read model: n={} p50 {:.1} ms p99 {:.1} ms max {:.1} ms; target p99 ≤ 100 ms",
        notified.len(),
        ms(quantile(&notified, 0.5)),
        ms(quantile(&notified, 0.99)),
        ms(quantile(&notified, 1.0)),
    );
    println!(
        "detection → email accepted by SMTP: n={} p50 {:.1} ms p99 {:.1} ms max {:.1} ms",
        emailed.len(),
        ms(quantile(&emailed, 0.5)),
        ms(quantile(&emailed, 0.99)),
        ms(quantile(&emailed, 1.0)),
    );
}
