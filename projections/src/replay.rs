//! Rebuilding a projection from position 0.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::runner::{ensure_checkpoint, projection_batch, try_subscriber_lock, Cursor, Projection};
use crate::{log, signal};

/// Empties the projection's tables and sets its checkpoint to 0, in one transaction that
/// waits for a running batch of that projection (wherever it runs) to finish.
pub async fn reset(pool: &PgPool, projection: &dyn Projection) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    ensure_checkpoint(&mut conn, projection.name()).await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT position FROM subscriber_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(projection.name())
        .execute(&mut *tx)
        .await?;
    projection.reset(&mut tx).await?;
    sqlx::query(
        "UPDATE subscriber_checkpoints SET position = 0, updated_at = now() WHERE name = $1",
    )
    .bind(projection.name())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Resets the projection and brings it back up to the current end of the log.
///
/// If no server runs the projection, this process rebuilds it itself (holding the
/// subscriber's lock meanwhile); otherwise the server that runs it rebuilds it, and this
/// waits until it has caught up.
pub async fn rebuild(
    pool: &PgPool,
    connect: &PgConnectOptions,
    projection: &dyn Projection,
    batch_size: i64,
) -> anyhow::Result<i64> {
    let name = projection.name();
    let target = log::head(pool).await?;
    let mut conn = PgConnection::connect_with(connect)
        .await
        .context("connecting for the rebuild")?;
    reset(pool, projection).await?;
    if try_subscriber_lock(&mut conn, name).await? {
        let mut cursor = Cursor::load(&mut conn, name).await?;
        loop {
            let batch = projection_batch(projection, &mut conn, batch_size, &mut cursor).await?;
            if cursor.position >= target {
                break;
            }
            if batch.count == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        cursor.flush(&mut conn, name, true).await?;
        conn.close().await?;
    } else {
        tracing::info!(
            projection = name,
            "a server runs this projection; waiting for it"
        );
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(signal::CHANNEL)
            .execute(pool)
            .await?;
        loop {
            let position: i64 =
                sqlx::query_scalar("SELECT position FROM subscriber_checkpoints WHERE name = $1")
                    .bind(name)
                    .fetch_one(pool)
                    .await?;
            if position >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(target)
}
