//! NATS: the connection and the relay that fans every event out to JetStream.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_trait::async_trait;
use projections::{LoggedEvent, Sink};
use serde::Serialize;
use tokio::sync::OnceCell;

/// Connects without waiting for the server: the client keeps retrying in the background, so
/// NATS being down never stops the service from starting (fan-out just waits). With `keys`
/// (a server in operator mode, ADR 0011) it connects as a user of the application account.
pub async fn connect(
    url: &str,
    keys: Option<&crate::realtime::auth::NatsKeys>,
) -> anyhow::Result<async_nats::Client> {
    let options = match keys {
        Some(keys) => keys.service_connect_options()?,
        None => async_nats::ConnectOptions::new(),
    };
    with_retries(options.name("raptscallions"), url).await
}

/// The connection that sends account updates (revocations): a user of the system account.
pub async fn connect_system(
    url: &str,
    keys: &crate::realtime::auth::NatsKeys,
) -> anyhow::Result<async_nats::Client> {
    with_retries(
        keys.system_connect_options()?.name("raptscallions-system"),
        url,
    )
    .await
}

async fn with_retries(
    options: async_nats::ConnectOptions,
    url: &str,
) -> anyhow::Result<async_nats::Client> {
    options
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempt| {
            Duration::from_millis((100 * 2u64.saturating_pow(attempt.min(5) as u32)).min(2000))
        })
        .connect(url)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))
}

/// The subject an event is published on: `<prefix>.events.<aggregate_type>.<aggregate_id>`
/// (`prefix` is `NATS_SUBJECT_PREFIX`, `rapt` by default).
pub fn subject_for(prefix: &str, event: &LoggedEvent) -> String {
    format!(
        "{prefix}.events.{}.{}",
        subject_token(&event.aggregate_type),
        subject_token(&event.aggregate_id)
    )
}

/// NATS subject tokens may not contain `.`, `*`, `>` or white space.
fn subject_token(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() => '_',
            c => c,
        })
        .collect()
}

/// The JSON body of a relayed event.
#[derive(Serialize)]
struct RelayedEvent<'a> {
    position: i64,
    event_id: uuid::Uuid,
    aggregate_type: &'a str,
    aggregate_id: &'a str,
    sequence: i64,
    event_type: &'a str,
    event_version: &'a str,
    payload: serde_json::Value,
    metadata: &'a serde_json::Value,
    recorded_at: chrono::DateTime<chrono::Utc>,
}

/// Publishes every event to a JetStream stream (created if missing) with `Nats-Msg-Id` set to
/// the event id, so a batch re-sent after a failure is de-duplicated by the server.
pub struct NatsRelay {
    jetstream: jetstream::Context,
    subject_prefix: String,
    stream_config: stream::Config,
    stream_ready: OnceCell<()>,
}

impl NatsRelay {
    pub const NAME: &'static str = "nats-relay";

    pub fn new(
        client: async_nats::Client,
        subject_prefix: &str,
        stream_name: &str,
        duplicate_window: Duration,
    ) -> Self {
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(client);
        Self {
            jetstream,
            subject_prefix: subject_prefix.to_owned(),
            stream_config: stream::Config {
                name: stream_name.to_owned(),
                subjects: vec![format!("{subject_prefix}.events.>")],
                storage: stream::StorageType::File,
                duplicate_window,
                ..Default::default()
            },
            stream_ready: OnceCell::new(),
        }
    }

    async fn ensure_stream(&self) -> anyhow::Result<()> {
        self.stream_ready
            .get_or_try_init(|| async {
                self.jetstream
                    .get_or_create_stream(self.stream_config.clone())
                    .await
                    .map(drop)
                    .with_context(|| format!("creating stream {}", self.stream_config.name))
            })
            .await
            .map(drop)
    }
}

#[async_trait]
impl Sink for NatsRelay {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// JetStream drops a message whose `Nats-Msg-Id` (the event id) it has seen within the
    /// duplicate window (an hour by default, far longer than the checkpoint trails).
    fn deduplicated(&self) -> bool {
        true
    }

    /// Under load, events reach NATS in batches at most 20 ms apart: a publish and its
    /// acknowledgement per batch rather than per event. A dashboard sees an event at most
    /// that much later.
    fn batch_interval(&self) -> Duration {
        Duration::from_millis(20)
    }

    async fn deliver(&self, events: &[LoggedEvent]) -> anyhow::Result<()> {
        self.ensure_stream().await?;
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            let body = serde_json::to_vec(&RelayedEvent {
                position: event.position,
                event_id: event.event_id,
                aggregate_type: &event.aggregate_type,
                aggregate_id: &event.aggregate_id,
                sequence: event.sequence,
                event_type: &event.event_type,
                event_version: &event.event_version,
                // Secrets never leave the server, not even to internal subscribers.
                payload: projections::log::redacted(&event.payload),
                metadata: &event.metadata,
                recorded_at: event.recorded_at,
            })?;
            let mut message = PublishMessage::build()
                .payload(body.into())
                .message_id(event.event_id.to_string())
                .header("Rapt-Event-Type", event.event_type.as_str())
                .header("Rapt-Position", event.position.to_string().as_str());
            if let Some(correlation) = event.meta("correlation_id") {
                message = message.header("Rapt-Correlation-Id", correlation);
            }
            let ack = self
                .jetstream
                .send_publish(subject_for(&self.subject_prefix, event), message)
                .await
                .with_context(|| format!("publishing event at position {}", event.position))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.context("waiting for the JetStream ack")?;
        }
        Ok(())
    }
}
