//! The audit benchmark (binary `audit`; what it measures is described at the top of
//! `bench/src/bin/audit.rs`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use tests::{json_id, register, spawn_app_with, TestApp, TestOptions};

use crate::closed_loop::{client, rate_for, secs};
use crate::stats::{ms, nearest_rank};

fn events_target() -> i64 {
    std::env::var("BENCH_AUDIT_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// The learning-session stream every copy repeats: started, messages, detections.
async fn template(app: &TestApp) -> String {
    let group = json_id(&app.create_group("Audit bench school", None).await);
    let class = json_id(&app.create_class(&group, "Audit bench class").await);
    let tool = json_id(&app.create_tool(&group, "Tutor").await);
    let (student, user) = register(app, "student@audit.bench", "bench password 1").await;
    app.put_role(
        &format!("/classes/{class}/members/{}", json_id(&user)),
        "student",
    )
    .await;
    let session = app
        .http
        .post(app.url("/learning-sessions"))
        .bearer_auth(&student)
        .json(&json!({"class_id": class, "tool_id": tool}))
        .send()
        .await
        .expect("session")
        .json::<serde_json::Value>()
        .await
        .expect("session json");
    let session = json_id(&session);
    for i in 0..8 {
        let status = app
            .http
            .post(app.url(&format!("/learning-sessions/{session}/messages")))
            .bearer_auth(&student)
            .json(&json!({"role": "student", "content": format!("What is {i} / 7 as a decimal? I keep getting it wrong.")}))
            .send()
            .await
            .expect("message")
            .status();
        assert!(status.is_success(), "message: {status}");
    }
    session
}

/// Commits an append made by SQL with the wake-up a command sends its subscribers.
async fn commit_and_wake(mut tx: sqlx::Transaction<'_, sqlx::Postgres>) {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(projections::signal::CHANNEL)
        .execute(&mut *tx)
        .await
        .expect("notify");
    tx.commit().await.expect("commit");
}

/// Copies the template stream `copies` times (new stream ids, the same events), in
/// transactions of at most 60,000 events (a transaction holds at most 65,536), waking the
/// subscribers after each.
async fn fill(app: &TestApp, session: &str, copies: i64) {
    let per_copy: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'learning_session' AND aggregate_id = $1",
    )
    .bind(session)
    .fetch_one(&app.pool)
    .await
    .expect("template");
    let chunk = (60_000 / per_copy).max(1);
    let mut from = 1;
    while from <= copies {
        let to = (from + chunk - 1).min(copies);
        let mut tx = app.pool.begin().await.expect("begin");
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                                 event_version, payload, metadata) \
             SELECT t.aggregate_type, md5(t.aggregate_id || '-' || g)::uuid::text, t.sequence, \
                    t.event_type, t.event_version, t.payload, t.metadata \
             FROM events t CROSS JOIN generate_series($2::bigint, $3::bigint) g \
             WHERE t.aggregate_type = 'learning_session' AND t.aggregate_id = $1 \
             ORDER BY g, t.sequence",
        )
        .bind(session)
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await
        .expect("copies");
        commit_and_wake(tx).await;
        from = to + 1;
    }
}

/// Reads every event's sealed columns, as verification does, and nothing else.
async fn raw_select(app: &TestApp) -> i64 {
    let sql = format!(
        "{} ORDER BY position",
        projections::audit::chain::SELECT_SEALED_COLUMNS
    );
    sqlx::query_as::<_, projections::audit::SealedColumns>(&sql)
        .fetch(&app.pool)
        .try_fold(0_i64, |n, _| async move { Ok(n + 1) })
        .await
        .expect("select")
}

fn line(label: &str, events: i64, took: Duration) -> f64 {
    let rate = events as f64 / took.as_secs_f64();
    println!(
        "{label:<48} {events:>9} events in {:>7.2} s = {rate:>9.0} events/s",
        took.as_secs_f64()
    );
    rate
}

pub async fn run() {
    let app = spawn_app_with(TestOptions {
        env: vec![
            ("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into()),
            ("DATABASE_MAX_CONNECTIONS".into(), "20".into()),
        ],
        ..TestOptions::default()
    })
    .await;
    let session = template(&app).await;
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();

    if only.is_empty() || only == "groups" {
        groups_with_and_without_the_sealer(&app).await;
    }
    if only.is_empty() || only == "lag" {
        sealer_lag(&app, &session).await;
    }
    if only.is_empty() || only == "verify" {
        verify_and_replay(app, &session).await;
    }
}

/// `POST /groups` at 8 clients, the sealer held back and running, alternately.
///
/// Held back by the session-level advisory lock its write transaction takes: its next batch
/// waits before writing anything, and the lock, taken outside any transaction, holds no
/// transaction id, so the log's safe bound and every other subscriber go on as usual. (Until
/// session 14 it was held by locking its checkpoint row, `FOR UPDATE`: that transaction had
/// an id and held the safe bound back for every subscriber, so the baseline measured the
/// service with no subscriber running at all, not without the sealer.)
async fn groups_with_and_without_the_sealer(app: &TestApp) {
    println!("POST /groups, 8 clients, {} s steps", secs().as_secs());
    let http = client();
    let url = app.address.clone();
    let token = app.token.clone();
    let mut rates = [Vec::new(), Vec::new()];
    for round in 0..4 {
        for (i, sealing) in [false, true].into_iter().enumerate() {
            let hold = if sealing {
                None
            } else {
                Some(hold_sealer(app).await)
            };
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            let rate = rate_for(8, secs(), move |n| {
                let (http, url, token) = (http.clone(), url.clone(), token.clone());
                async move {
                    http.post(format!("{url}/groups"))
                        .bearer_auth(&token)
                        .json(&json!({"name": format!("Bench group {round}-{n}-{sealing}")}))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 201)
                }
            })
            .await;
            if let Some(mut hold) = hold {
                sqlx::query("SELECT pg_advisory_unlock_all()")
                    .execute(&mut hold)
                    .await
                    .expect("release the sealer");
            }
            app.wait_for_all_subscribers().await;
            println!(
                "  round {round}: {} {rate:>7.0} req/s",
                if sealing { "sealing   " } else { "not sealing" }
            );
            rates[i].push(rate);
        }
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "  mean: not sealing {:.0} req/s, sealing {:.0} req/s: ratio {:.3}",
        mean(&rates[0]),
        mean(&rates[1]),
        mean(&rates[1]) / mean(&rates[0])
    );
}

/// A connection of its own holding the lock the sealer's write transaction takes.
async fn hold_sealer(app: &TestApp) -> sqlx::PgConnection {
    let mut conn = app.pool.acquire().await.expect("connection").detach();
    sqlx::query("SELECT pg_advisory_lock(hashtext($1)::bigint)")
        .bind(projections::audit::sealer::NAME)
        .execute(&mut conn)
        .await
        .expect("hold the sealer");
    conn
}

/// Events appended at a steady 1,000/s (10 every 10 ms, each batch in its own
/// transaction, waking the subscribers as a command does); the sealer's lag for each: from
/// its commit until it was sealed (the newest seal sampled every 0.5 ms, the batches' commits
/// checked every 10 ms: a lag is over-stated by up to 10 ms).
async fn sealer_lag(app: &TestApp, session: &str) {
    let length = secs();
    println!("sealer lag at 1,000 events/s for {} s", length.as_secs());
    let sealed = Arc::new(AtomicI64::new(0));
    let sampler = {
        let pool = app.pool.clone();
        let sealed = sealed.clone();
        tokio::spawn(async move {
            loop {
                // The newest seal (the sealer's checkpoint trails its seals by up to 50 ms).
                let at: i64 = sqlx::query_scalar(
                    "SELECT coalesce((SELECT position FROM audit_seals \
                                      ORDER BY position DESC LIMIT 1), 0)",
                )
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
                sealed.store(at, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        })
    };
    let mut pending: Vec<(i64, Instant)> = Vec::new();
    let mut lags = Vec::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut copy = 10_000_000_i64;
    while started.elapsed() < length || !pending.is_empty() {
        tick.tick().await;
        let now_sealed = sealed.load(Ordering::Relaxed);
        pending.retain(|(position, at)| {
            if *position <= now_sealed {
                lags.push(at.elapsed());
                false
            } else {
                true
            }
        });
        if started.elapsed() >= length {
            continue;
        }
        // 10 events: the first 10 of a template copy.
        copy += 1;
        let mut tx = app.pool.begin().await.expect("begin");
        let position: i64 = sqlx::query_scalar(
            "WITH added AS (INSERT INTO events (aggregate_type, aggregate_id, sequence, \
                 event_type, event_version, payload, metadata) \
             SELECT t.aggregate_type, md5(t.aggregate_id || '-' || $2)::uuid::text, t.sequence, \
                    t.event_type, t.event_version, t.payload, t.metadata \
             FROM events t WHERE t.aggregate_type = 'learning_session' AND t.aggregate_id = $1 \
             ORDER BY t.sequence LIMIT 10 RETURNING position) \
             SELECT max(position) FROM added",
        )
        .bind(session)
        .bind(copy)
        .fetch_one(&mut *tx)
        .await
        .expect("append");
        commit_and_wake(tx).await;
        pending.push((position, Instant::now()));
    }
    sampler.abort();
    lags.sort();
    println!(
        "  {} batches of 10: lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (sampled every 0.5 ms)",
        lags.len(),
        ms(nearest_rank(&lags, 50.0)),
        ms(nearest_rank(&lags, 99.0)),
        ms(*lags.last().unwrap_or(&Duration::ZERO))
    );
}

/// With the server stopped: a log of `BENCH_AUDIT_EVENTS` events (default a million, copies
/// of the template) appended by SQL and sealed as the sealer seals (batches of 5,000); a
/// raw `SELECT` of the sealed columns beside verification; and a rebuild of every read model.
async fn verify_and_replay(mut app: TestApp, session: &str) {
    let have = app.log_length().await;
    let per_copy: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'learning_session' AND aggregate_id = $1",
    )
    .bind(session)
    .fetch_one(&app.pool)
    .await
    .expect("template");
    let copies = ((events_target() - have) / per_copy).max(0);
    // The server stops first: its subscribers would follow the million events too, and every
    // step below is timed on its own.
    app.wait_for_all_subscribers().await;
    app.stop().await;
    let started = Instant::now();
    fill(&app, session, copies).await;
    let events = app.log_length().await;
    line(
        "appended by SQL (copies of a session)",
        events - have,
        started.elapsed(),
    );
    sqlx::query("VACUUM ANALYZE events")
        .execute(&app.pool)
        .await
        .expect("vacuum");
    // Sealing, as the sealer does it, in batches of 5,000.
    let sealer = projections::audit::sealer::Sealer {
        pool: app.pool.clone(),
        key: Some(std::sync::Arc::new(tests::app::test_audit_key())),
        checkpoint_every: 10_000,
    };
    let positions: Vec<i64> = sqlx::query_scalar("SELECT position FROM events ORDER BY position")
        .fetch_all(&app.pool)
        .await
        .expect("positions");
    let started = Instant::now();
    for chunk in positions.chunks(5_000) {
        sealer
            .seal(chunk[0], chunk[chunk.len() - 1])
            .await
            .expect("seal");
    }
    line("sealed in batches of 5,000", events, started.elapsed());

    let key = tests::app::test_audit_key().public_key();
    for round in 0..2 {
        println!("round {round}");
        let started = Instant::now();
        let n = raw_select(&app).await;
        let raw = line("  raw SELECT of the sealed columns", n, started.elapsed());
        let started = Instant::now();
        let report = projections::audit::verify::verify(&app.pool, None, Some(&key), |_| {})
            .await
            .expect("verify");
        assert!(report.failure.is_none(), "{report:?}");
        let verified = line(
            "  verification from the start",
            report.events_checked,
            started.elapsed(),
        );
        println!("  verification / raw SELECT = {:.2}", verified / raw);
    }
    let options: PgConnectOptions = app.db.url.parse().expect("url");
    let started = Instant::now();
    let mut applied = 0;
    for projection in projections::all_projections() {
        let one = Instant::now();
        projections::replay::rebuild(&app.pool, &options, projection.as_ref(), 1000, &|_| {})
            .await
            .expect("rebuild");
        println!(
            "  rebuilt {:<16} in {:>7.2} s",
            projection.name(),
            one.elapsed().as_secs_f64()
        );
        applied += 1;
    }
    line(
        &format!("replay of every read model ({applied}), log events"),
        events,
        started.elapsed(),
    );
}
