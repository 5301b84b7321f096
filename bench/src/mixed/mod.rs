//! The mixed-load benchmark (binary `mixed`; what it measures is described at the top of
//! `bench/src/bin/mixed.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tests::{spawn_app_with, TestApp, TestOptions};

use crate::closed_loop::{client, secs};
use crate::procfs::machine_ticks;
use crate::school::{fixture, Fixture, SESSIONS};
use crate::stats::{ms, quantile};

/// Clients posting messages, in every phase.
const MESSAGE_CLIENTS: usize = 4;
/// Clients flooding other writes beside them.
const FLOOD_CLIENTS: usize = 8;
/// The message p95 under a flood, as a multiple of the same run's p95 alone.
const GOAL_RATIO: f64 = 3.0;

/// What floods the server beside the messages.
#[derive(Clone, Copy, PartialEq)]
enum Flood {
    None,
    Groups,
    Detections,
}

impl Flood {
    fn name(self) -> &'static str {
        match self {
            Flood::None => "messages alone",
            Flood::Groups => "+ 8 × POST /groups",
            Flood::Detections => "+ 8 × detections",
        }
    }
}

/// Answers by kind: 200/201, 202, 503, anything else (and transport errors).
#[derive(Default, Clone, Copy)]
struct Statuses {
    ok: u64,
    accepted: u64,
    lagging: u64,
    other: u64,
}

impl Statuses {
    fn count(&mut self, status: Option<u16>) {
        match status {
            Some(200 | 201) => self.ok += 1,
            Some(202) => self.accepted += 1,
            Some(503) => self.lagging += 1,
            _ => self.other += 1,
        }
    }

    fn total(&self) -> u64 {
        self.ok + self.accepted + self.lagging + self.other
    }

    fn show(&self) -> String {
        format!(
            "{} × 200/201, {} × 202, {} × 503, {} other",
            self.ok, self.accepted, self.lagging, self.other
        )
    }
}

/// One phase's figures.
struct Phase {
    flood: Flood,
    latencies: Vec<Duration>,
    messages: Statuses,
    flooded: Statuses,
    flood_rate: f64,
    /// Learning-session events committed and not yet applied by the `learning` projection,
    /// sampled: (p50, p95, max).
    learning_behind: (i64, i64, i64),
    /// Backends of the database that were active, sampled: (p50, max).
    active_backends: (i64, i64),
    /// The machine's CPU busy share over the phase (both cores), percent.
    cpu_busy: f64,
    /// Samples in which the log's safe bound was held back, percent.
    bound_held: f64,
    /// Where a message's time went, p50 / p95 each: request → its event inserted, inserted
    /// → the `learning` projection past it, projection past it → answer received.
    parts: [(f64, f64); 3],
    /// The `learning` projection's batches in the phase: count, events per batch p50 / max,
    /// learning events applied per second.
    batches: (usize, i64, i64, f64),
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).expect("clock").as_secs_f64()
}

fn pick_f(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(((sorted.len() - 1) as f64) * q).round() as usize]
}

/// Every move of the `learning` checkpoint in this process, with when it was seen.
fn checkpoint_moves(
    app: &TestApp,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(f64, i64)>> {
    let mut rx = app
        .application()
        .services()
        .subscribers
        .watch(projections::learning::NAME)
        .expect("learning runs here");
    tokio::spawn(async move {
        let mut moves: Vec<(f64, i64)> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if tokio::time::timeout(Duration::from_millis(50), rx.changed())
                .await
                .is_ok_and(|r| r.is_err())
            {
                break;
            }
            let position = rx.borrow_and_update().position;
            if moves.last().is_none_or(|&(_, p)| p != position) {
                moves.push((epoch(SystemTime::now()), position));
            }
        }
        moves
    })
}

async fn app() -> TestApp {
    let app = spawn_app_with(TestOptions {
        env: vec![("AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000000".into())],
        ..TestOptions::default()
    })
    .await;
    app.wait_for_subscribers().await;
    app
}

/// The status of one message post; the session is one of the client's own, so no two
/// messages race on a stream.
async fn post_message(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    session: &str,
    content: &str,
) -> Option<u16> {
    http.post(format!("{url}/learning-sessions/{session}/messages"))
        .bearer_auth(token)
        .json(&json!({"role": "student", "content": content}))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// The status of one flooding write (a detection that lost a race on its session is sent
/// again, as a client would, and counted once).
async fn flood_once(
    http: &reqwest::Client,
    app_url: &str,
    admin: &str,
    f: &Fixture,
    flood: Flood,
    client: usize,
    n: u64,
) -> Option<u16> {
    match flood {
        Flood::None => None,
        Flood::Groups => http
            .post(format!("{app_url}/groups"))
            .bearer_auth(admin)
            .json(&json!({"name": format!("Flood group {client}-{n}")}))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16()),
        Flood::Detections => {
            // The second half of the sessions: the messages use the first half.
            let half = SESSIONS / 2;
            let session = &f.sessions[half + (n as usize * FLOOD_CLIENTS + client) % half];
            let body = json!({"type": "misbehavior", "category": "off_topic",
                              "severity": "medium", "evidence": format!("flood {n}")});
            let mut status = None;
            for _ in 0..5 {
                status = http
                    .post(format!("{app_url}/learning-sessions/{session}/detections"))
                    .bearer_auth(&f.service_secret)
                    .json(&body)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                if status != Some(409) {
                    break;
                }
            }
            status
        }
    }
}

/// What the sampler saw: learning events pending, active backends, whether the log's safe
/// bound was held back (a committed event above it, behind an older running transaction).
type Samples = (Vec<i64>, Vec<i64>, Vec<bool>);

/// Samples, every 20 ms until `stop`, how many learning-session events the `learning`
/// projection has yet to apply and how many backends are active.
fn sampler(app: &TestApp, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Samples> {
    let pool = app.pool.clone();
    let subscribers = app.application().services().subscribers.clone();
    tokio::spawn(async move {
        let (mut behind, mut active, mut held) = (Vec::new(), Vec::new(), Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let learning = subscribers
                .snapshot()
                .into_iter()
                .find(|s| s.name == projections::learning::NAME)
                .map(|s| s.position)
                .unwrap_or(0);
            let (pending, backends, held_now): (i64, i64, bool) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM events WHERE position > $1 \
                  AND aggregate_type = 'learning_session'), \
                 (SELECT count(*) FROM pg_stat_activity \
                  WHERE datname = current_database() AND state = 'active'), \
                 events_safe_bound() <= (SELECT coalesce(max(position), 0) FROM events)",
            )
            .bind(learning)
            .fetch_one(&pool)
            .await
            .expect("sample");
            behind.push(pending);
            held.push(held_now);
            // Less the sampling query itself.
            active.push(backends - 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (behind, active, held)
    })
}

fn pick(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(((sorted.len() - 1) as f64) * q).round() as usize]
}

async fn phase(
    app: &TestApp,
    f: &Arc<Fixture>,
    flood: Flood,
    length: Duration,
    tag: &str,
) -> Phase {
    let url = app.address.clone();
    let admin = app.token.clone();
    let http = client();
    let (total0, idle0) = machine_ticks();
    let stop = Arc::new(AtomicBool::new(false));
    let sampling = sampler(app, stop.clone());
    let moving = checkpoint_moves(app, stop.clone());
    let started = Instant::now();
    let deadline = started + length;

    let messages: Vec<_> = (0..MESSAGE_CLIENTS)
        .map(|c| {
            let (http, url, f, tag) = (http.clone(), url.clone(), f.clone(), tag.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut sent_at = std::collections::HashMap::new();
                let mut statuses = Statuses::default();
                let own = SESSIONS / 2 / MESSAGE_CLIENTS;
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let session = &f.sessions[c + MESSAGE_CLIENTS * (n as usize % own)];
                    let content = format!("{tag}-{c}-{n}-x");
                    let (sent, wall) = (Instant::now(), SystemTime::now());
                    let status =
                        post_message(&http, &url, &f.student_token, session, &content).await;
                    latencies.push(sent.elapsed());
                    sent_at.insert(content, (epoch(wall), epoch(SystemTime::now())));
                    if !matches!(status, Some(200 | 201)) {
                        eprintln!("message: {status:?}");
                    }
                    statuses.count(status);
                    n += 1;
                }
                (latencies, statuses, sent_at)
            })
        })
        .collect();
    let flooders: Vec<_> = if flood == Flood::None {
        Vec::new()
    } else {
        (0..FLOOD_CLIENTS)
            .map(|c| {
                let (http, url, admin, f) = (http.clone(), url.clone(), admin.clone(), f.clone());
                tokio::spawn(async move {
                    let mut statuses = Statuses::default();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let status = flood_once(&http, &url, &admin, &f, flood, c, n).await;
                        if !matches!(status, Some(200 | 201)) && statuses.total() < 20 {
                            eprintln!("flood: {status:?}");
                        }
                        statuses.count(status);
                        n += 1;
                    }
                    statuses
                })
            })
            .collect()
    };

    let mut latencies = Vec::new();
    let mut message_statuses = Statuses::default();
    let mut sent_at = std::collections::HashMap::new();
    for task in messages {
        let (l, s, times) = task.await.expect("message client");
        latencies.extend(l);
        sent_at.extend(times);
        message_statuses.ok += s.ok;
        message_statuses.accepted += s.accepted;
        message_statuses.lagging += s.lagging;
        message_statuses.other += s.other;
    }
    let mut flooded = Statuses::default();
    for task in flooders {
        let s = task.await.expect("flood client");
        flooded.ok += s.ok;
        flooded.accepted += s.accepted;
        flooded.lagging += s.lagging;
        flooded.other += s.other;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut behind, mut active, held) = sampling.await.expect("sampler");
    let bound_held = 100.0 * held.iter().filter(|&&h| h).count() as f64 / held.len().max(1) as f64;
    let moves = moving.await.expect("checkpoint moves");
    let (parts, batches) = decompose(app, tag, &sent_at, &moves).await;
    let (total1, idle1) = machine_ticks();
    latencies.sort();
    behind.sort();
    active.sort();
    let total = total1.saturating_sub(total0).max(1) as f64;
    let idle = idle1.saturating_sub(idle0) as f64;
    Phase {
        flood,
        latencies,
        messages: message_statuses,
        flood_rate: flooded.total() as f64 / elapsed,
        flooded,
        learning_behind: (
            pick(&behind, 0.5),
            pick(&behind, 0.95),
            *behind.last().unwrap_or(&0),
        ),
        active_backends: (pick(&active, 0.5), *active.last().unwrap_or(&0)),
        cpu_busy: 100.0 * (1.0 - idle / total),
        bound_held,
        parts,
        batches,
    }
}

/// Where the messages' time went (from their events' insert times and the checkpoint's
/// moves), and the projection's batches over the phase.
async fn decompose(
    app: &TestApp,
    tag: &str,
    sent_at: &std::collections::HashMap<String, (f64, f64)>,
    moves: &[(f64, i64)],
) -> ([(f64, f64); 3], (usize, i64, i64, f64)) {
    let rows: Vec<(i64, f64, String)> = sqlx::query_as(
        "SELECT position, extract(epoch FROM recorded_at)::float8, payload::text FROM events \
         WHERE aggregate_type = 'learning_session' AND payload::text LIKE $1",
    )
    .bind(format!("%{tag}-%"))
    .fetch_all(&app.pool)
    .await
    .expect("message events");
    let mut parts: [Vec<f64>; 3] = Default::default();
    for (position, recorded, payload) in rows {
        let Some(start) = payload.find(&format!("{tag}-")) else {
            continue;
        };
        let Some(end) = payload[start..].find("-x") else {
            continue;
        };
        let Some(&(sent, received)) = sent_at.get(&payload[start..start + end + 2]) else {
            continue;
        };
        let Some(&(applied, _)) = moves.iter().find(|&&(_, p)| p >= position) else {
            continue;
        };
        parts[0].push((recorded - sent) * 1000.0);
        parts[1].push((applied - recorded) * 1000.0);
        parts[2].push((received - applied) * 1000.0);
    }
    let mut figures = [(0.0, 0.0); 3];
    for (i, part) in parts.iter_mut().enumerate() {
        part.sort_by(f64::total_cmp);
        figures[i] = (pick_f(part, 0.5), pick_f(part, 0.95));
    }
    let (Some(first), Some(last)) = (moves.first(), moves.last()) else {
        return (figures, (0, 0, 0, 0.0));
    };
    let positions: Vec<i64> = sqlx::query_scalar(
        "SELECT position FROM events WHERE aggregate_type = 'learning_session' \
         AND position > $1 AND position <= $2 ORDER BY position",
    )
    .bind(first.1)
    .bind(last.1)
    .fetch_all(&app.pool)
    .await
    .expect("learning events");
    let mut sizes: Vec<i64> = moves
        .windows(2)
        .map(|w| {
            positions
                .iter()
                .filter(|&&p| p > w[0].1 && p <= w[1].1)
                .count() as i64
        })
        .filter(|&n| n > 0)
        .collect();
    sizes.sort();
    let span = (last.0 - first.0).max(f64::MIN_POSITIVE);
    (
        figures,
        (
            sizes.len(),
            pick(&sizes, 0.5),
            *sizes.last().unwrap_or(&0),
            positions.len() as f64 / span,
        ),
    )
}

/// Waits until the `learning` projection has caught up with the log, so that one phase's
/// backlog does not count in the next.
async fn settle(app: &TestApp) {
    let started = Instant::now();
    loop {
        let head = app.log_head().await;
        let learning = app
            .application()
            .services()
            .subscribers
            .snapshot()
            .into_iter()
            .find(|s| s.name == projections::learning::NAME)
            .map(|s| s.position)
            .unwrap_or(0);
        if learning >= head {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "not settled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn run() {
    let app = app().await;
    let f = Arc::new(fixture(&app).await);
    println!(
        "mixed load: {MESSAGE_CLIENTS} clients posting messages for {} s alone, then beside \
         {FLOOD_CLIENTS} clients flooding POST /groups, then beside {FLOOD_CLIENTS} flooding \
         detections",
        secs().as_secs()
    );
    // A short warm-up, not counted: connections opened, caches filled.
    let _ = phase(&app, &f, Flood::None, Duration::from_secs(1), "warm").await;
    settle(&app).await;

    let mut phases = Vec::new();
    for (i, flood) in [Flood::None, Flood::Groups, Flood::Detections]
        .into_iter()
        .enumerate()
    {
        let p = phase(&app, &f, flood, secs(), &format!("phase{i}")).await;
        settle(&app).await;
        phases.push(p);
    }
    let alone_p95 = quantile(&phases[0].latencies, 0.95);
    println!();
    println!(
        "| phase | messages | message p50 / p95 / p99 | p95 ÷ alone | messages answered | flood/s | flood answered | learning events pending p50 / p95 / max | active backends p50 / max | CPU busy | safe bound held back |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut met = true;
    for p in &phases {
        let p95 = quantile(&p.latencies, 0.95);
        let ratio = ms(p95) / ms(alone_p95).max(f64::MIN_POSITIVE);
        if ratio > GOAL_RATIO || p.messages.lagging > 0 || p.flooded.lagging > 0 {
            met = false;
        }
        println!(
            "| {} | {} | {:.1} / {:.1} / {:.1} ms | {:.2} | {} | {} | {} | {} / {} / {} | {} / {} | {:.0} % | {:.0} % of samples |",
            p.flood.name(),
            p.latencies.len(),
            ms(quantile(&p.latencies, 0.5)),
            ms(p95),
            ms(quantile(&p.latencies, 0.99)),
            ratio,
            p.messages.show(),
            if p.flood == Flood::None {
                "–".to_owned()
            } else {
                format!("{:.0}", p.flood_rate)
            },
            if p.flood == Flood::None {
                "–".to_owned()
            } else {
                p.flooded.show()
            },
            p.learning_behind.0,
            p.learning_behind.1,
            p.learning_behind.2,
            p.active_backends.0,
            p.active_backends.1,
            p.cpu_busy,
            p.bound_held,
        );
    }
    println!();
    println!(
        "| phase | request → event inserted p50 / p95 | inserted → `learning` past it p50 / p95 | past it → answer p50 / p95 | `learning` batches | learning events per batch p50 / max | learning events applied/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for p in &phases {
        println!(
            "| {} | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {:.1} / {:.1} ms | {} | {} / {} | {:.0} |",
            p.flood.name(),
            p.parts[0].0,
            p.parts[0].1,
            p.parts[1].0,
            p.parts[1].1,
            p.parts[2].0,
            p.parts[2].1,
            p.batches.0,
            p.batches.1,
            p.batches.2,
            p.batches.3,
        );
    }
    println!();
    println!(
        "goal (message p95 ≤ {GOAL_RATIO}× alone under each flood, no 503): {}",
        if met { "met" } else { "NOT met" }
    );
}
