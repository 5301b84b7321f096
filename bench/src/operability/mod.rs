//! Metrics and tracing on against off (issue #22; what it measures is described at the top
//! of `bench/src/bin/operability.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tests::{create_admin_cli, test_env, ServerProcess, TestDb, TestOptions};

use crate::closed_loop::{client, rate};

/// Closed-loop clients.
const CLIENTS: usize = 8;

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// A collector that accepts every export and keeps only their number and size.
async fn collector() -> (u16, Arc<AtomicU64>, Arc<AtomicU64>) {
    let (exports, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (e, b) = (exports.clone(), bytes.clone());
    let endpoint = poem::endpoint::make(move |mut req: poem::Request| {
        let (e, b) = (e.clone(), b.clone());
        async move {
            let body = req.take_body().into_bytes().await?;
            e.fetch_add(1, Ordering::Relaxed);
            b.fetch_add(body.len() as u64, Ordering::Relaxed);
            Ok::<_, poem::Error>(
                poem::Response::builder()
                    .content_type("application/x-protobuf")
                    .body(Vec::<u8>::new()),
            )
        }
    });
    let port = tests::free_port();
    tokio::spawn(
        poem::Server::new(poem::listener::TcpListener::bind(format!(
            "127.0.0.1:{port}"
        )))
        .run(poem::Route::new().at("/v1/traces", poem::post(endpoint))),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    (port, exports, bytes)
}

/// One step: a server with `extra` settings, `POST /groups` from 8 clients (and, with the
/// metrics on, a scrape of `/metrics` every second, as a Prometheus would, ten times as often
/// as usual); returns groups/s.
async fn step(env: &HashMap<String, String>, extra: &[(&str, String)], scrape: bool) -> f64 {
    let mut env = env.clone();
    for (name, value) in extra {
        env.insert((*name).to_owned(), value.clone());
    }
    let server = ServerProcess::start(&env).await;
    let http = client();
    let login: serde_json::Value = http
        .post(server.url("/auth/login"))
        .json(&json!({"email": "ops@example.org", "password": "benchmark password"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let token = login["token"].as_str().expect("token").to_owned();
    // `BENCH_SCRAPE_EVERY_MS` (default 1000; 0: no scrape).
    let every = std::env::var("BENCH_SCRAPE_EVERY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000u64);
    let scraper = (scrape && every > 0).then(|| {
        let (http, url) = (http.clone(), server.url("/metrics"));
        tokio::spawn(async move {
            loop {
                let scraped = http.get(&url).send().await.expect("scrape");
                assert_eq!(scraped.status(), 200);
                scraped.bytes().await.expect("metrics");
                tokio::time::sleep(Duration::from_millis(every)).await;
            }
        })
    });
    let url = server.url("/groups");
    let groups = rate(CLIENTS, move |n| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            http.post(&url)
                .bearer_auth(&token)
                .json(&json!({"name": format!("School {n}")}))
                .send()
                .await
                .is_ok_and(|r| r.status() == 201)
        }
    })
    .await;
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    server.kill().await;
    groups
}

pub async fn run() {
    let (port, exports, bytes) = collector().await;
    let db = TestDb::create().await;
    let env = test_env(&db, &TestOptions::default());
    create_admin_cli(&env, "ops@example.org", "benchmark password").await;
    // `BENCH_ON`: `both` (default), or only `metrics` or `tracing`, to see which costs what.
    let only = std::env::var("BENCH_ON").unwrap_or_else(|_| "both".into());
    let mut on = vec![
        ("RUST_LOG", "info".to_owned()),
        ("METRICS_ENABLED", (only != "tracing").to_string()),
    ];
    if only != "metrics" {
        on.push((
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ));
    }
    let off = vec![
        ("METRICS_ENABLED", "false".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    println!(
        "# {only} on vs off (metrics and tracing: both): POST /groups at {CLIENTS} clients, \
         steps of {:?}, each a fresh server process on one database (logs to /dev/null)",
        crate::closed_loop::secs()
    );
    println!("| round | on, groups/s | off, groups/s | on ÷ off |");
    println!("| --- | --- | --- | --- |");
    let (mut on_sum, mut off_sum) = (0.0, 0.0);
    for round in 1..=rounds() {
        // Alternating which goes first, so a drift of the machine falls on both.
        let (on_rate, off_rate) = if round % 2 == 1 {
            let a = step(&env, &on, only != "tracing").await;
            (a, step(&env, &off, false).await)
        } else {
            let b = step(&env, &off, false).await;
            (step(&env, &on, only != "tracing").await, b)
        };
        on_sum += on_rate;
        off_sum += off_rate;
        println!(
            "| {round} | {on_rate:.0} | {off_rate:.0} | {:.3} |",
            on_rate / off_rate
        );
    }
    println!(
        "means: on {:.0}/s, off {:.0}/s; **on ÷ off = {:.3}** (goal: within 5 %, ≥ 0.95); \
         the collector got {} exports, {} KiB of spans",
        on_sum / rounds() as f64,
        off_sum / rounds() as f64,
        on_sum / off_sum,
        exports.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed) / 1024
    );
    drop(db);
}
