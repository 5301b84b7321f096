//! The sealer: a checkpointed subscriber of the whole log that appends one seal per event
//! (and a signed checkpoint every N events) in the transaction that moves its checkpoint.
//! Appends never wait for it; it trails the log by a batch.

use std::sync::Arc;

use anyhow::{bail, Context as _};
use async_trait::async_trait;
use sqlx::PgConnection;

use super::chain::{hash_from_bytes, sealed_columns, Hash, SealedColumns, GENESIS};
use super::keys::{write_checkpoint, AuditKey};
use crate::log::LoggedEvent;
use crate::runner::Projection;

pub const NAME: &str = "audit-seals";

pub struct Sealer {
    /// Signs a checkpoint every `checkpoint_every` events; `None`: seals only.
    pub key: Option<Arc<AuditKey>>,
    pub checkpoint_every: i64,
}

/// Where the chain goes on from: the newest seal (position, ordinal, hash), if any, and the
/// ordinal of the newest checkpoint (0 when none), in one statement.
pub async fn chain_head(conn: &mut PgConnection) -> sqlx::Result<(Option<(i64, i64, Hash)>, i64)> {
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
    let newest = match (position, ordinal, hash) {
        (Some(position), Some(ordinal), Some(hash)) => Some((
            position,
            ordinal,
            hash_from_bytes(&hash).map_err(|e| sqlx::Error::Decode(e.into()))?,
        )),
        _ => None,
    };
    Ok((newest, signed))
}

#[async_trait]
impl Projection for Sealer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["audit_seals", "audit_checkpoints"]
    }

    /// The canonical columns are re-read as PostgreSQL's text (`apply_batch`); the JSON
    /// the runner would decode is not needed.
    fn reads_payloads(&self) -> bool {
        false
    }

    /// Under load, the events of up to 10 ms are sealed in one batch (a transaction and
    /// four statements), not one batch per commit; nobody waits for the sealer, and the
    /// chain trails the log by that much more.
    fn batch_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(10)
    }

    /// The chain is the record of what the log held when it was sealed: rebuilding it would
    /// seal whatever the log holds now, tampering included.
    async fn reset(&self, _conn: &mut PgConnection) -> anyhow::Result<()> {
        bail!("the audit seals are never rebuilt (they would seal the log as it is now)")
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[LoggedEvent],
    ) -> anyhow::Result<()> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(());
        };
        let (newest, signed) = chain_head(conn).await?;
        let (mut previous, mut ordinal) = match newest {
            Some((position, _, _)) if position >= first.position => bail!(
                "sealing from position {} but the chain already reaches {position}",
                first.position
            ),
            Some((_, ordinal, hash)) => (hash, ordinal),
            None => (GENESIS, 0),
        };
        // The columns as the chain covers them (jsonb as PostgreSQL's text), re-read in the
        // batch's transaction: the events are final, so these are the rows just handed over.
        let rows: Vec<SealedColumns> = sqlx::query_as(concat!(
            "SELECT ",
            sealed_columns!(),
            " FROM events WHERE position >= $1 AND position <= $2 ORDER BY position"
        ))
        .bind(first.position)
        .bind(last.position)
        .fetch_all(&mut *conn)
        .await
        .context("reading the batch's canonical columns")?;
        if rows.len() != events.len()
            || rows
                .iter()
                .zip(events)
                .any(|(row, event)| row.position != event.position)
        {
            bail!(
                "the log between positions {} and {} changed while it was sealed",
                first.position,
                last.position
            );
        }
        let mut positions = Vec::with_capacity(rows.len());
        let mut ordinals = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        let mut hashes = Vec::with_capacity(rows.len());
        for row in &rows {
            previous = row.seal(&previous);
            ordinal += 1;
            positions.push(row.position);
            ordinals.push(ordinal);
            ids.push(row.event_id);
            hashes.push(previous.to_vec());
        }
        sqlx::query(
            "INSERT INTO audit_seals (position, ordinal, event_id, hash) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::bytea[])",
        )
        .bind(&positions)
        .bind(&ordinals)
        .bind(&ids)
        .bind(&hashes)
        .execute(&mut *conn)
        .await
        .context("writing the seals")?;
        if let Some(key) = &self.key {
            if ordinal - signed >= self.checkpoint_every {
                write_checkpoint(&mut *conn, key, last.position, ordinal, &previous).await?;
            }
        }
        Ok(())
    }
}
