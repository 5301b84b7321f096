//! The NATS relay: exactly one JetStream message per event, across a NATS outage.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;
use tests::{spawn_app_with, NatsServer, TestOptions};

#[tokio::test]
async fn jetstream_holds_exactly_one_message_per_event_across_a_nats_restart() {
    let mut nats = NatsServer::start().await;
    let app = spawn_app_with(TestOptions {
        nats_url: Some(nats.url()),
        ..TestOptions::default()
    })
    .await;

    for i in 0..20 {
        app.create_group(&format!("Before {i}"), None).await;
    }
    app.wait_for_subscribers().await;

    nats.stop().await;
    // Commands keep working while NATS is down; fan-out waits.
    for i in 0..20 {
        app.create_group(&format!("During {i}"), None).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.restart().await;
    for i in 0..20 {
        app.create_group(&format!("After {i}"), None).await;
    }
    app.wait_for_subscribers().await;

    let client = async_nats::connect(nats.url()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream
        .get_stream(&app.config.nats_events_stream)
        .await
        .unwrap();
    let info = stream.info().await.unwrap();
    let total = app.log_length().await;
    assert_eq!(app.count_events("group").await, 60);
    assert_eq!(info.state.messages as i64, total, "one message per event");

    let event_ids: BTreeSet<String> =
        sqlx::query_scalar::<_, uuid::Uuid>("SELECT event_id FROM events")
            .fetch_all(&app.pool)
            .await
            .unwrap()
            .into_iter()
            .map(|id| id.to_string())
            .collect();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut ids = BTreeSet::new();
    let mut positions = Vec::new();
    for _ in 0..total {
        let message = messages.next().await.unwrap().unwrap();
        let headers = message.headers.clone().unwrap();
        let id = headers.get("Nats-Msg-Id").unwrap().to_string();
        let body: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["event_id"], id.as_str());
        assert!(body["metadata"]["correlation_id"].is_string());
        let prefix = &app.config.nats_subject_prefix;
        let aggregate_type = body["aggregate_type"].as_str().unwrap();
        assert_eq!(
            message.subject.as_str(),
            format!(
                "{prefix}.events.{aggregate_type}.{}",
                body["aggregate_id"].as_str().unwrap()
            )
        );
        // Secrets never reach NATS.
        let raw = String::from_utf8_lossy(&message.payload);
        assert!(!raw.contains("argon2"), "no password hash on NATS");
        if body["event_type"] == "auth.session_started" {
            assert_eq!(body["payload"]["token_hash"], "[redacted]");
        }
        positions.push(body["position"].as_i64().unwrap());
        assert!(ids.insert(id), "no event published twice");
    }
    assert_eq!(ids, event_ids);
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "published in log order"
    );
}
