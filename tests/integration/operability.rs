//! What operators watch: `GET /metrics` in the Prometheus text format (parsed with a parser
//! of that format), each family with sensible values after a scripted workload, and its
//! token; `raptscallions status` with the service up and down; a replay's progress; a
//! request's correlation id through its spans, the JSON log and NATS.

use std::time::Duration;

use prometheus_parse::{Scrape, Value as Sample};
use reqwest::Method;
use serde_json::json;
use tests::{
    detect, eventually, run_cli, send, spawn_app_with, test_env, SchoolFixture, ServerProcess,
    SmtpSink, TestApp, TestOptions,
};

/// Scrapes `/metrics` with `token` (if any), asserting 200 and the content type.
async fn scrape(app: &TestApp, token: Option<&str>) -> Scrape {
    let mut request = app.http.get(format!("{}/metrics", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample of `metric` whose labels include `labels` (a counter's, a gauge's,
/// or a histogram's count).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => *v,
            Sample::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Sample::Summary(_) => f64::NAN,
        })
}

fn at_least(scrape: &Scrape, metric: &str, labels: &[(&str, &str)], min: f64) -> f64 {
    let found = value(scrape, metric, labels)
        .unwrap_or_else(|| panic!("no {metric}{labels:?} in the scrape"));
    assert!(
        found >= min,
        "{metric}{labels:?} = {found}, expected >= {min}"
    );
    found
}

fn done() -> serde_json::Value {
    json!({"summary": "Added fractions", "topics_covered": ["fractions"]})
}

/// A workload that touches each family: groups created, a rejected and a conflicting command
/// (a session completed twice; the process manager's), detections that notify, email and
/// start a saga, and a monitor concern whose follow-up timer fires.
#[tokio::test]
async fn metrics_have_every_family_with_sensible_values_after_a_workload() {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(TestOptions::mailing_to(
        &sink,
        &[("SAFETY_FOLLOW_UP_AFTER_MS", "300")],
    ))
    .await;
    let f = SchoolFixture::build(&app).await;
    detect(
        &app,
        &f.service,
        &f.session,
        json!({"type": "misbehavior", "category": "cheating", "severity": "high",
               "evidence": "asked the tutor for the answer key"}),
    )
    .await;
    detect(
        &app,
        &f.service,
        &f.session,
        json!({"type": "struggle", "topic": "fractions", "indicators": ["repeated errors"],
               "duration_seconds": 300}),
    )
    .await;
    detect(
        &app,
        &f.service,
        &f.session,
        json!({"type": "safety_concern", "concern_type": "distress", "urgency": "monitor",
               "evidence": "seemed low"}),
    )
    .await;
    let complete = format!("/learning-sessions/{}/complete", f.session);
    let (status, _) = send(
        &app,
        &f.student.token,
        Method::POST,
        &complete,
        Some(done()),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &app,
        &f.student.token,
        Method::POST,
        &complete,
        Some(done()),
    )
    .await;
    assert_eq!(status, 409, "completing twice is refused by the domain");
    sink.wait_for(&f.teachers[0].email, 1).await;
    // The follow-up timer fires.
    eventually(
        "the follow-up timer fired",
        Duration::from_secs(20),
        || async {
            let scrape = scrape(&app, None).await;
            (value(&scrape, "rapt_timer_lateness_seconds_count", &[]).unwrap_or(0.0) >= 1.0)
                .then_some(())
        },
    )
    .await;
    app.wait_for_all_subscribers().await;

    let m = scrape(&app, None).await;
    // HTTP: by route template, not by path.
    at_least(
        &m,
        "rapt_http_requests_total",
        &[("route", "/groups"), ("method", "POST"), ("status", "201")],
        3.0,
    );
    at_least(
        &m,
        "rapt_http_requests_total",
        &[
            ("route", "/learning-sessions/:id/complete"),
            ("status", "409"),
        ],
        1.0,
    );
    assert!(
        !m.samples.iter().any(|s| s
            .labels
            .get("route")
            .is_some_and(|r| r.contains(&f.session))),
        "no series per id"
    );
    at_least(
        &m,
        "rapt_http_request_duration_seconds_count",
        &[("route", "/groups"), ("method", "POST")],
        3.0,
    );
    // Commands and appends.
    at_least(
        &m,
        "rapt_commands_total",
        &[("aggregate_type", "group"), ("outcome", "ok")],
        3.0,
    );
    at_least(
        &m,
        "rapt_commands_total",
        &[
            ("aggregate_type", "learning_session"),
            ("outcome", "rejected"),
        ],
        1.0,
    );
    at_least(
        &m,
        "rapt_events_appended_total",
        &[("aggregate_type", "group")],
        3.0,
    );
    at_least(
        &m,
        "rapt_append_duration_seconds_count",
        &[("aggregate_type", "learning_session")],
        4.0,
    );
    // Subscribers: caught up, led here, batches timed, nothing failing.
    at_least(&m, "rapt_log_head_position", &[], 1.0);
    for subscriber in ["groups", "notifications", "workflows", "email_delivery"] {
        let labels = [("subscriber", subscriber)];
        assert_eq!(value(&m, "rapt_subscriber_lag_events", &labels), Some(0.0));
        assert_eq!(value(&m, "rapt_subscriber_lag_seconds", &labels), Some(0.0));
        assert_eq!(value(&m, "rapt_subscriber_leader", &labels), Some(1.0));
        assert_eq!(value(&m, "rapt_subscriber_failures", &labels), Some(0.0));
        // A checkpoint may stand past the newest event (up to the log's safe bound).
        at_least(&m, "rapt_subscriber_position", &labels, 1.0);
        at_least(
            &m,
            "rapt_subscriber_batch_duration_seconds_count",
            &labels,
            1.0,
        );
    }
    // Emails, sagas and timers.
    at_least(&m, "rapt_emails_total", &[("outcome", "sent")], 2.0);
    assert_eq!(
        value(&m, "rapt_emails_total", &[("outcome", "dead_lettered")]),
        Some(0.0)
    );
    // The struggle's intervention ended with the session; the concern stays open.
    assert_eq!(
        value(
            &m,
            "rapt_sagas_running",
            &[("saga", "struggle_intervention")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "rapt_sagas_running", &[("saga", "safety_escalation")]),
        Some(1.0)
    );
    assert_eq!(value(&m, "rapt_timers_due", &[]), Some(0.0));
    at_least(&m, "rapt_timers_waiting", &[], 0.0);
    at_least(&m, "rapt_timer_lateness_seconds_count", &[], 1.0);
    // Realtime (no NATS keys in this app: nothing issued) and the pool.
    assert_eq!(
        value(&m, "rapt_realtime_credentials_issued_total", &[]),
        Some(0.0)
    );
    at_least(&m, "rapt_realtime_updates_published_total", &[], 1.0);
    let max = at_least(&m, "rapt_db_pool_max_connections", &[], 1.0);
    let in_use = at_least(&m, "rapt_db_pool_connections", &[("state", "in_use")], 0.0);
    let idle = at_least(&m, "rapt_db_pool_connections", &[("state", "idle")], 0.0);
    assert!(in_use + idle <= max);
}

#[tokio::test]
async fn with_a_token_metrics_ask_for_it() {
    let app = spawn_app_with(TestOptions {
        env: vec![("METRICS_TOKEN".into(), "scrape-me-0123456789".into())],
        ..TestOptions::default()
    })
    .await;
    for token in [None, Some("wrong"), Some("scrape-me-012345678")] {
        let mut request = app.http.get(format!("{}/metrics", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["type"].as_str().unwrap().ends_with("/unauthenticated"),
            "{body}"
        );
        assert!(!body.to_string().contains("scrape-me"));
    }
    let scrape = scrape(&app, Some("scrape-me-0123456789")).await;
    assert!(value(&scrape, "rapt_log_head_position", &[]).is_some());
}

/// `raptscallions status` reads each subscriber's place from the database: with the service
/// up (caught up, run by a process) and down (nobody runs it, the checkpoints stay).
#[tokio::test]
async fn status_reads_the_subscribers_from_the_database_with_the_service_up_or_down() {
    let mut app = spawn_app_with(TestOptions::default()).await;
    app.create_group("Status School", None).await;
    app.wait_for_all_subscribers().await;
    let env = test_env(&app.db, &TestOptions::default());
    let (ok, output) = run_cli(&env, &["status"]).await;
    assert!(ok, "{output}");
    assert!(output.contains("log head: position "), "{output}");
    let groups = output
        .lines()
        .find(|l| l.starts_with("groups "))
        .unwrap_or_else(|| panic!("no groups line: {output}"));
    assert!(groups.contains("read-model writer"), "{groups}");

    let (ok, output) = run_cli(&env, &["status", "--json"]).await;
    assert!(ok, "{output}");
    let up: Vec<serde_json::Value> = serde_json::from_str(&output).unwrap();
    let groups = up.iter().find(|s| s["name"] == "groups").unwrap();
    assert_eq!(groups["lag_events"], 0, "{groups}");
    assert!(groups["position"].as_i64().unwrap() > 0);
    assert!(groups["leader"].is_string(), "{groups}");

    app.stop().await;
    let (ok, output) = run_cli(&env, &["status", "--json"]).await;
    assert!(ok, "{output}");
    let down: Vec<serde_json::Value> = serde_json::from_str(&output).unwrap();
    assert_eq!(down.len(), up.len());
    let stopped = down.iter().find(|s| s["name"] == "groups").unwrap();
    assert!(stopped["leader"].is_null(), "{stopped}");
    assert_eq!(stopped["position"], groups["position"]);
}

/// Without a terminal, a replay says how far it is in plain lines (with a terminal it draws a
/// bar).
#[tokio::test]
async fn a_replay_reports_its_progress_in_lines_without_a_terminal() {
    let app = spawn_app_with(TestOptions::default()).await;
    for name in ["One", "Two", "Three"] {
        app.create_group(name, None).await;
    }
    app.wait_for_all_subscribers().await;
    let env = test_env(&app.db, &TestOptions::default());
    let (ok, output) = run_cli(&env, &["replay", "groups"]).await;
    assert!(ok, "{output}");
    let line = output
        .lines()
        .find(|l| l.starts_with("replay groups: "))
        .unwrap_or_else(|| panic!("no progress line: {output}"));
    assert!(line.contains(" events ("), "{line}");
    assert!(
        output.contains("groups: rebuilt up to position"),
        "{output}"
    );
}

/// An OpenTelemetry collector for the test: keeps the spans it is sent (OTLP over HTTP,
/// protobuf), as (span name, its string attributes).
/// Spans received: each one's name and string attributes.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<(String, String)>)>>>;

struct Collector {
    port: u16,
    spans: Received,
}

impl Collector {
    async fn start() -> Self {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
        use prost::Message as _;
        let spans: Received = std::sync::Arc::default();
        let kept = spans.clone();
        let endpoint = poem::endpoint::make(move |mut req: poem::Request| {
            let kept = kept.clone();
            async move {
                let body = req.take_body().into_bytes().await?;
                let export =
                    ExportTraceServiceRequest::decode(body).map_err(poem::error::BadRequest)?;
                for span in export
                    .resource_spans
                    .into_iter()
                    .flat_map(|r| r.scope_spans)
                    .flat_map(|s| s.spans)
                {
                    let attributes = span
                        .attributes
                        .into_iter()
                        .filter_map(|kv| match kv.value?.value? {
                            Any::StringValue(v) => Some((kv.key, v)),
                            _ => None,
                        })
                        .collect();
                    kept.lock().unwrap().push((span.name, attributes));
                }
                Ok::<_, poem::Error>(
                    poem::Response::builder()
                        .content_type("application/x-protobuf")
                        .body(Vec::<u8>::new()),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let app = poem::Route::new().at("/v1/traces", poem::post(endpoint));
        tokio::spawn(
            poem::Server::new(poem::listener::TcpListener::bind(format!(
                "127.0.0.1:{port}"
            )))
            .run(app),
        );
        tests::eventually("the collector listens", Duration::from_secs(5), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Self { port, spans }
    }

    /// The names of the spans with an attribute whose value names `id`.
    fn spans_naming(&self, id: &str) -> std::collections::BTreeSet<String> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, attributes)| attributes.iter().any(|(_, v)| v.contains(id)))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// A request's correlation id follows it: its request span, the command it runs, the
/// subscribers' batches that handle its event (in the JSON log and in the spans exported to
/// an OpenTelemetry collector), and the relay's NATS message.
#[tokio::test]
async fn a_request_s_correlation_id_follows_it_through_the_log() {
    let collector = Collector::start().await;
    // The database and an admin; then the server runs as a process of its own, with its
    // global log and trace exporter.
    let mut app = spawn_app_with(TestOptions::default()).await;
    app.stop().await;
    let mut env = test_env(&app.db, &TestOptions::default());
    for (name, value) in [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{}", collector.port),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
        (
            "RUST_LOG",
            "info,application=debug,projections=debug".to_owned(),
        ),
    ] {
        env.insert(name.to_owned(), value);
    }
    let log = std::env::temp_dir().join(format!("rapt-trace-{}.log", uuid::Uuid::new_v4()));
    let server = ServerProcess::start_logging(&env, Some(&log)).await;
    let nats = async_nats::connect(&env["NATS_URL"]).await.unwrap();
    let mut relayed = nats
        .subscribe(format!("{}.events.group.>", env["NATS_SUBJECT_PREFIX"]))
        .await
        .unwrap();
    nats.flush().await.unwrap();

    let id = format!("trace-{}", uuid::Uuid::new_v4().simple());
    let created = app
        .http
        .post(server.url("/groups"))
        .bearer_auth(&app.token)
        .header("x-request-id", &id)
        .json(&json!({"name": "Traced School"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["x-request-id"], id.as_str());

    // The relay's message carries it.
    let message = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = futures::StreamExt::next(&mut relayed).await.unwrap();
            let correlation = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Rapt-Correlation-Id"))
                .map(|v| v.to_string());
            if correlation.as_deref() == Some(id.as_str()) {
                return message;
            }
        }
    })
    .await
    .expect("the relay's message with the correlation id");
    assert!(message.subject.as_str().contains(".events.group."));

    // The collector gets the request, its command and the subscribers' batches.
    eventually(
        "the spans at the collector",
        Duration::from_secs(20),
        || async {
            let names = collector.spans_naming(&id);
            ["request", "command", "subscriber_batch"]
                .iter()
                .all(|n| names.contains(*n))
                .then_some(())
        },
    )
    .await;

    // And the JSON log, filtered by the id, shows the same path.
    eventually("the log lines", Duration::from_secs(10), || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&id)).collect();
        let has = |span: &str| {
            lines
                .iter()
                .any(|l| l.contains(&format!("\"name\":\"{span}\"")))
        };
        (has("request") && has("command") && has("subscriber_batch")).then_some(())
    })
    .await;
    server.kill().await;
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(TestOptions {
        env: vec![("METRICS_ENABLED".into(), "false".into())],
        ..TestOptions::default()
    })
    .await;
    app.create_group("Unmeasured", None).await;
    let response = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
