//! The live dashboards benchmark (binary `realtime`; what it measures is described at the top
//! of `bench/src/bin/realtime.rs`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{json, Value};
use tests::{json_id, register, spawn_app_with, NatsServer, TestApp, TestOptions};

use crate::closed_loop::{client, rate, secs};
use crate::stats::{ms, quantile};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A class of the benchmark: its teacher's token and its student's learning session.
struct Class {
    id: String,
    teacher: String,
    session: String,
}

/// Groups, classes, a teacher per class, one student in every class with a session in each,
/// the tutoring service's secret.
async fn school(app: &TestApp, classes: usize) -> (Vec<Class>, String) {
    let group = json_id(&app.create_group("Bench school", None).await);
    let tool = json_id(&app.create_tool(&group, "Tutor").await);
    let (student, student_user) = register(app, "student@bench.example", "bench password 1").await;
    let student_id = json_id(&student_user);
    let mut all = Vec::with_capacity(classes);
    for n in 0..classes {
        let class = json_id(&app.create_class(&group, &format!("Class {n}")).await);
        let (teacher, user) = register(
            app,
            &format!("teacher{n}@bench.example"),
            "bench password 1",
        )
        .await;
        app.put_role(
            &format!("/classes/{class}/members/{}", json_id(&user)),
            "teacher",
        )
        .await;
        app.put_role(&format!("/classes/{class}/members/{student_id}"), "student")
            .await;
        let session: Value = app
            .http
            .post(app.url("/learning-sessions"))
            .bearer_auth(&student)
            .json(&json!({"class_id": class, "tool_id": tool}))
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("session json");
        all.push(Class {
            id: class,
            teacher,
            session: json_id(&session),
        });
    }
    let account = app.create_service_account("Tutor service", &group).await;
    (all, account["secret"].as_str().expect("secret").to_owned())
}

async fn credential(http: &reqwest::Client, app: &TestApp, token: &str, class: &str) -> Value {
    let response = http
        .post(app.url("/realtime/credentials"))
        .bearer_auth(token)
        .json(&json!({ "class_ids": [class] }))
        .send()
        .await
        .expect("credential");
    assert_eq!(response.status(), 201, "credential");
    response.json().await.expect("credential json")
}

/// What a dashboard received: its class and, per recent event an update adds, when and the
/// event's position.
type Received = Arc<Mutex<Vec<(usize, Instant, i64)>>>;

pub async fn run() {
    let dashboards = setting("BENCH_DASHBOARDS", 500);
    let classes = setting("BENCH_CLASSES", 100);
    let rate_per_sec = setting("BENCH_RATE", 200) as u64;
    let nats = NatsServer::start_secured().await;
    let app = spawn_app_with(TestOptions::secured_nats(
        &nats,
        &[
            ("AUTH_RATE_LIMIT_PER_MINUTE", "100000000"),
            ("DATABASE_MAX_CONNECTIONS", "20"),
        ],
    ))
    .await;
    app.wait_for_subscribers().await;
    let http = client();
    let started = Instant::now();
    let (school, service) = school(&app, classes).await;
    println!(
        "school: {classes} classes, a teacher each, one student with a session in each ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // Credentials per second beside GET /auth/me, the same caller.
    let token = Arc::new(school[0].teacher.clone());
    let class = Arc::new(school[0].id.clone());
    let url = Arc::new(app.address.clone());
    let me_rate = {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        rate(8, move |_| {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            async move {
                http.get(format!("{url}/auth/me"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
            }
        })
        .await
    };
    let credential_rate = {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        rate(8, move |_| {
            let (http, url, token, class) =
                (http.clone(), url.clone(), token.clone(), class.clone());
            async move {
                http.post(format!("{url}/realtime/credentials"))
                    .bearer_auth(token.as_str())
                    .json(&json!({ "class_ids": [class.as_str()] }))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 201)
            }
        })
        .await
    };
    println!(
        "credentials: {credential_rate:.0}/s, GET /auth/me {me_rate:.0}/s: {:.0} % of it",
        100.0 * credential_rate / me_rate
    );

    // The dashboards.
    let received: Received = Arc::default();
    let mut clients = Vec::with_capacity(dashboards);
    for n in 0..dashboards {
        let class_index = n % classes;
        let class = &school[class_index];
        let body = credential(&http, &app, &class.teacher, &class.id).await;
        let jwt = body["jwt"].as_str().expect("jwt").to_owned();
        let subject = body["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .find(|s| s.ends_with(".dashboard"))
            .expect("dashboard subject")
            .to_owned();
        let client = async_nats::ConnectOptions::with_jwt(jwt, |_| async { Ok(Vec::new()) })
            .connect(nats.websocket_url())
            .await
            .expect("websocket connect");
        let mut subscription = client.subscribe(subject).await.expect("subscribe");
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let at = Instant::now();
                // The positions of the recent events the update adds (one per detection; an
                // update of a batch may carry several).
                let events: Vec<i64> = serde_json::from_slice::<Value>(&message.payload)
                    .ok()
                    .and_then(|b| b["events"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|e| e["position"].as_i64())
                    .collect();
                for position in events {
                    received.lock().unwrap().push((class_index, at, position));
                }
            }
        });
        clients.push(client);
    }
    for client in &clients {
        client.flush().await.expect("flush");
    }
    println!("{dashboards} websocket dashboards connected");

    // The dashboards read model's progress, as this process sees it.
    let mut watch = app
        .application()
        .services()
        .subscribers
        .watch(projections::dashboards::NAME)
        .expect("the dashboards projection runs here");
    let checkpoints: Arc<Mutex<Vec<(i64, Instant)>>> = Arc::default();
    let follower = {
        let checkpoints = checkpoints.clone();
        tokio::spawn(async move {
            while watch.changed().await.is_ok() {
                let position = watch.borrow().position;
                checkpoints.lock().unwrap().push((position, Instant::now()));
            }
        })
    };

    // Detections at a steady rate, round robin over the classes; per class, when each was sent.
    let length = secs();
    let total = (rate_per_sec * length.as_secs()) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate_per_sec as f64);
    let sent: Arc<Mutex<Vec<Vec<Instant>>>> = Arc::new(Mutex::new(vec![Vec::new(); classes]));
    let answered: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut tasks = Vec::with_capacity(total);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    // One detection in flight per class at a time keeps each class's order the send order.
    let locks: Arc<Vec<tokio::sync::Mutex<()>>> =
        Arc::new((0..classes).map(|_| tokio::sync::Mutex::new(())).collect());
    for n in 0..total {
        ticker.tick().await;
        let class_index = n % classes;
        let url = format!(
            "{}/learning-sessions/{}/detections",
            app.address, school[class_index].session
        );
        let (http, service, sent, locks, answered) = (
            http.clone(),
            service.clone(),
            sent.clone(),
            locks.clone(),
            answered.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _turn = locks[class_index].lock().await;
            let at = Instant::now();
            let response = http
                .post(url)
                .bearer_auth(service)
                .json(&json!({"type": "misbehavior", "category": "off_topic",
                               "severity": "low", "evidence": format!("bench {n}")}))
                .send()
                .await
                .expect("detection");
            assert_eq!(response.status(), 200, "detection");
            answered.lock().unwrap().push(at.elapsed());
            sent.lock().unwrap()[class_index].push(at);
        }));
    }
    for task in tasks {
        task.await.expect("detection task");
    }
    // Let the last updates arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    follower.abort();

    let sent = sent.lock().unwrap().clone();
    let received = received.lock().unwrap().clone();
    let checkpoints = checkpoints.lock().unwrap().clone();
    // Per dashboard the n-th event told to its class is the class's n-th detection: group the
    // receipts by class and event position (every dashboard of a class gets the same ones).
    let mut positions: Vec<Vec<i64>> = vec![Vec::new(); classes];
    for &(class, _, position) in &received {
        if !positions[class].contains(&position) {
            positions[class].push(position);
        }
    }
    for p in &mut positions {
        p.sort_unstable();
    }
    let mut delivery = Vec::with_capacity(received.len());
    let mut missing = 0usize;
    for &(class, at, position) in &received {
        let n = positions[class].binary_search(&position).expect("seen");
        match sent[class].get(n) {
            Some(&sent_at) => delivery.push(at.saturating_duration_since(sent_at)),
            None => missing += 1,
        }
    }
    let mut lag = Vec::new();
    for (class, class_positions) in positions.iter().enumerate() {
        for (n, position) in class_positions.iter().enumerate() {
            let Some(&sent_at) = sent[class].get(n) else {
                continue;
            };
            if let Some(&(_, at)) = checkpoints.iter().find(|(p, _)| p >= position) {
                lag.push(at.saturating_duration_since(sent_at));
            }
        }
    }
    delivery.sort();
    lag.sort();
    let expected = total * dashboards / classes;
    println!(
        "detections: {total} at {rate_per_sec}/s over {classes} classes; detections told to dashboards: {} of {expected} ({missing} unmatched)",
        received.len()
    );
    println!(
        "detection → websocket dashboard: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(quantile(&delivery, 0.5)),
        ms(quantile(&delivery, 0.99)),
        ms(delivery.last().copied().unwrap_or_default())
    );
    println!(
        "detection → dashboards read model (same run): p50 {:.1} ms, p99 {:.1} ms",
        ms(quantile(&lag, 0.5)),
        ms(quantile(&lag, 0.99))
    );
    let mut answered = answered.lock().unwrap().clone();
    answered.sort();
    println!(
        "detection POST answered (same run): p50 {:.1} ms, p99 {:.1} ms",
        ms(quantile(&answered, 0.5)),
        ms(quantile(&answered, 0.99))
    );
    println!(
        "ratio p99 websocket / read model: {:.2}",
        ms(quantile(&delivery, 0.99)) / ms(quantile(&lag, 0.99)).max(0.001)
    );
}
