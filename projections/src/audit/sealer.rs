//! The sealer: a checkpointed subscriber of the whole log that appends one seal per event,
//! and a signed checkpoint every N events. Appends never wait for it; it trails the log by a
//! batch.
//!
//! It is a [`Sink`], not a projection: it reads and hashes a batch first, and then writes
//! its seals in a transaction of two statements. A projection's batch holds a transaction
//! id from its start, and every reader of the log waits for the oldest one still open (ADR
//! 0001): the sealer, which follows every event, kept `POST /groups` waiting for its reads.
//! Delivered again (a crash before its checkpoint moved), a batch skips what is sealed.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use async_trait::async_trait;
use sqlx::{PgConnection, PgPool};

use super::chain::{hash_from_bytes, sealed_columns, Hash, SealedColumns, GENESIS};
use super::keys::{write_checkpoint, AuditKey};
use crate::log::LoggedEvent;
use crate::runner::Sink;

pub const NAME: &str = "audit-seals";

pub struct Sealer {
    pub pool: PgPool,
    /// Signs a checkpoint every `checkpoint_every` events; `None`: seals only.
    pub key: Option<Arc<AuditKey>>,
    pub checkpoint_every: i64,
}

/// The newest seal and checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    /// Position, ordinal and hash of the newest seal (none: the chain is empty).
    seal: Option<(i64, i64, Hash)>,
    /// The ordinal of the newest checkpoint (0: none).
    signed: i64,
}

impl Head {
    fn position(&self) -> i64 {
        self.seal.map_or(0, |(position, _, _)| position)
    }
}

async fn chain_head(conn: &mut PgConnection) -> sqlx::Result<Head> {
    let (position, ordinal, hash, signed): (Option<i64>, Option<i64>, Option<Vec<u8>>, i64) =
        sqlx::query_as(
            "SELECT s.position, s.ordinal, s.hash, \
                    coalesce((SELECT ordinal FROM audit_checkpoints \
                              ORDER BY position DESC LIMIT 1), 0) \
             FROM (SELECT 1) one LEFT JOIN LATERAL \
                  (SELECT position, ordinal, hash FROM audit_seals \
                   ORDER BY position DESC LIMIT 1) s ON true",
        )
        .fetch_one(&mut *conn)
        .await?;
    let seal = match (position, ordinal, hash) {
        (Some(position), Some(ordinal), Some(hash)) => {
            Some((position, ordinal, hash_from_bytes(&hash)?))
        }
        _ => None,
    };
    Ok(Head { seal, signed })
}

/// The seals of a batch, computed after `head`.
struct Sealed {
    positions: Vec<i64>,
    ordinals: Vec<i64>,
    ids: Vec<uuid::Uuid>,
    hashes: Vec<Vec<u8>>,
    last: (i64, i64, Hash),
}

fn seal_rows(head: &Head, rows: &[SealedColumns]) -> Option<Sealed> {
    let (mut previous, mut ordinal) = head
        .seal
        .map_or((GENESIS, 0), |(_, ordinal, hash)| (hash, ordinal));
    let mut sealed = Sealed {
        positions: Vec::with_capacity(rows.len()),
        ordinals: Vec::with_capacity(rows.len()),
        ids: Vec::with_capacity(rows.len()),
        hashes: Vec::with_capacity(rows.len()),
        last: (0, 0, GENESIS),
    };
    for row in rows.iter().filter(|r| r.position > head.position()) {
        previous = row.seal(&previous);
        ordinal += 1;
        sealed.positions.push(row.position);
        sealed.ordinals.push(ordinal);
        sealed.ids.push(row.event_id);
        sealed.hashes.push(previous.to_vec());
        sealed.last = (row.position, ordinal, previous);
    }
    (!sealed.positions.is_empty()).then_some(sealed)
}

impl Sealer {
    /// Reads the batch's canonical columns (jsonb as PostgreSQL's text) and seals them after
    /// the newest seal, in a short transaction that first makes sure the chain has not moved
    /// meanwhile (a second sealer, for a moment, after a failover) and that no event between
    /// the newest seal and the batch is left out.
    pub async fn seal(&self, first: i64, last: i64) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<SealedColumns> = sqlx::query_as(concat!(
            "SELECT ",
            sealed_columns!(),
            " FROM events WHERE position >= $1 AND position <= $2 ORDER BY position"
        ))
        .bind(first)
        .bind(last)
        .fetch_all(&mut *conn)
        .await
        .context("reading the batch's canonical columns")?;
        let mut head = chain_head(&mut conn).await?;
        loop {
            let Some(sealed) = seal_rows(&head, &rows) else {
                return Ok(());
            };
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1)::bigint)")
                .bind(NAME)
                .execute(&mut *tx)
                .await?;
            let now = chain_head(&mut tx).await?;
            if now != head {
                tx.rollback().await?;
                head = now;
                continue;
            }
            let skipped: Option<i64> = sqlx::query_scalar(
                "SELECT position FROM events WHERE position > $1 AND position < $2 LIMIT 1",
            )
            .bind(head.position())
            .bind(sealed.positions[0])
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(skipped) = skipped {
                bail!("the event at position {skipped} would be left out of the chain");
            }
            sqlx::query(
                "INSERT INTO audit_seals (position, ordinal, event_id, hash) \
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::bytea[])",
            )
            .bind(&sealed.positions)
            .bind(&sealed.ordinals)
            .bind(&sealed.ids)
            .bind(&sealed.hashes)
            .execute(&mut *tx)
            .await
            .context("writing the seals")?;
            let (position, ordinal, hash) = sealed.last;
            if let Some(key) = &self.key {
                if ordinal - head.signed >= self.checkpoint_every {
                    write_checkpoint(&mut *tx, key, position, ordinal, &hash).await?;
                }
            }
            tx.commit().await?;
            return Ok(());
        }
    }
}

#[async_trait]
impl Sink for Sealer {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The canonical columns are read as PostgreSQL's text; the JSON the runner would decode
    /// is not needed.
    fn reads_payloads(&self) -> bool {
        false
    }

    /// A batch delivered again skips what is sealed, so the checkpoint may trail.
    fn deduplicated(&self) -> bool {
        true
    }

    /// Under load, the events of up to 10 ms are sealed in one batch; nobody waits for the
    /// sealer, and the chain trails the log by that much more.
    fn batch_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(10)
    }

    async fn deliver(&self, events: &[LoggedEvent]) -> anyhow::Result<()> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(());
        };
        self.seal(first.position, last.position).await
    }
}
