//! The audit chain's loop beside the sealer: signs a checkpoint when the last one is older
//! than the interval (the sealer signs every N events itself), and copies every checkpoint to
//! a JetStream stream, so that anchors live outside the database too.
//!
//! It runs in every process without a lease: two signers of one seal write one row
//! (`ON CONFLICT DO NOTHING`, and Ed25519 signatures are deterministic), and JetStream drops
//! a second copy of a checkpoint by its message id.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use projections::audit::{keys, AuditKey, Checkpoint};
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::watch;

pub struct AuditLoop {
    pub pool: PgPool,
    pub nats: async_nats::Client,
    pub key: Option<Arc<AuditKey>>,
    pub interval: Duration,
    /// `<prefix>.audit.checkpoints`.
    pub subject: String,
    pub stream: String,
}

/// A checkpoint as published (and as `GET /audit/checkpoints` shows it).
#[derive(Debug, Serialize)]
pub struct PublishedCheckpoint {
    pub position: i64,
    pub ordinal: i64,
    pub hash: String,
    pub public_key: String,
    pub signature: String,
    pub signed_at: chrono::DateTime<chrono::Utc>,
}

impl From<&Checkpoint> for PublishedCheckpoint {
    fn from(c: &Checkpoint) -> Self {
        use base64::Engine as _;
        Self {
            position: c.position,
            ordinal: c.ordinal,
            hash: hex::encode(c.hash),
            public_key: hex::encode(&c.public_key),
            signature: base64::engine::general_purpose::STANDARD.encode(&c.signature),
            signed_at: c.signed_at,
        }
    }
}

/// How often the loop looks: often enough that a checkpoint reaches NATS within a second or
/// so of being signed.
const TICK: Duration = Duration::from_secs(1);

impl AuditLoop {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(5))
            .build(self.nats.clone());
        let mut stream_ready = false;
        loop {
            if let Err(error) = self.tick(&jetstream, &mut stream_ready).await {
                tracing::warn!(error = format!("{error:#}"), "audit checkpoints");
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK.min(self.interval.max(Duration::from_millis(10)))) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn tick(
        &self,
        jetstream: &jetstream::Context,
        stream_ready: &mut bool,
    ) -> anyhow::Result<()> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        if let Some(position) = keys::checkpoint_if_due(&self.pool, key, self.interval).await? {
            tracing::debug!(position, "audit checkpoint signed");
        }
        let waiting = keys::unpublished(&self.pool, 100).await?;
        if waiting.is_empty() {
            return Ok(());
        }
        if !*stream_ready {
            jetstream
                .get_or_create_stream(stream::Config {
                    name: self.stream.clone(),
                    subjects: vec![self.subject.clone()],
                    storage: stream::StorageType::File,
                    // Anchors are kept: no age or size limit.
                    ..Default::default()
                })
                .await
                .with_context(|| format!("creating stream {}", self.stream))?;
            *stream_ready = true;
        }
        let mut acks = Vec::with_capacity(waiting.len());
        for checkpoint in &waiting {
            let body = serde_json::to_vec(&PublishedCheckpoint::from(checkpoint))?;
            let message = PublishMessage::build()
                .payload(body.into())
                .message_id(format!("checkpoint-{}", checkpoint.position));
            acks.push(
                jetstream
                    .send_publish(self.subject.clone(), message)
                    .await
                    .context("publishing a checkpoint")?,
            );
        }
        for ack in acks {
            ack.await.context("waiting for the JetStream ack")?;
        }
        let positions: Vec<i64> = waiting.iter().map(|c| c.position).collect();
        keys::mark_published(&self.pool, &positions).await?;
        Ok(())
    }
}
