//! NATS down: the instance stays ready (requests work, fan-out catches up) and `/health`
//! says it is degraded.

use std::time::Duration;

use serde_json::Value;
use tests::{spawn_app_with, NatsServer, TestOptions};

/// Polls `path` until `done` holds for its body (at most 10 s), and returns that body.
async fn poll_until(app: &tests::TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut body = Value::Null;
    for _ in 0..200 {
        body = app.get(path).await.json().await.unwrap();
        if done(&body) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    body
}

#[tokio::test]
async fn nats_down_keeps_the_instance_ready_and_degrades_health() {
    let mut nats = NatsServer::start().await;
    let app = spawn_app_with(TestOptions {
        nats_url: Some(nats.url()),
        ..TestOptions::default()
    })
    .await;
    let health = poll_until(&app, "/health", |h| h["nats"] == "ok").await;
    assert_eq!(health["status"], "ok", "{health}");

    nats.stop().await;
    let health = poll_until(&app, "/health", |h| h["nats"] != "ok").await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_ne!(health["nats"], "ok", "{health}");
    let ready = app.get("/ready").await;
    assert_eq!(
        ready.status(),
        200,
        "NATS down is not a reason to take the instance out"
    );
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["ready"], true);
    assert_ne!(ready["nats"], "ok");
    // Requests still work.
    app.create_group("While NATS is down", None).await;

    nats.restart().await;
    let health = poll_until(&app, "/health", |h| h["status"] == "ok").await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["nats"], "ok");
}
