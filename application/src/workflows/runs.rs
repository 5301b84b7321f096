//! The `struggle_intervention_runs` table (owned here): which run of an intervention a
//! struggle detection belongs to, by log position (ADR 0010).
//!
//! A run is running at position p when it started before p and had not ended before p. The
//! answer depends only on the log, so a replay routes every detection as the first pass did.
//! The end is written when the process manager reads `intervention.ended`; until then a run
//! that has ended looks running, and the saga itself refuses to be joined (`Ended`).

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::StoreError;

/// The newest run on the session's topic that is running at `position`.
pub async fn running_on_topic(
    pool: &PgPool,
    learning_session_id: Uuid,
    topic_key: &str,
    position: i64,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM struggle_intervention_runs \
         WHERE learning_session_id = $1 AND topic_key = $2 AND started_position < $3 \
           AND (ended_position IS NULL OR ended_position > $3) \
         ORDER BY started_position DESC LIMIT 1",
    )
    .bind(learning_session_id)
    .bind(topic_key)
    .bind(position)
    .fetch_optional(pool)
    .await?)
}

/// Every run of the session running at `position`.
pub async fn running_in_session(
    pool: &PgPool,
    learning_session_id: Uuid,
    position: i64,
) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM struggle_intervention_runs \
         WHERE learning_session_id = $1 AND started_position < $2 \
           AND (ended_position IS NULL OR ended_position > $2) \
         ORDER BY started_position",
    )
    .bind(learning_session_id)
    .bind(position)
    .fetch_all(pool)
    .await?)
}

/// The learning session of a run, if the run is known.
pub async fn session_of(pool: &PgPool, id: Uuid) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT learning_session_id FROM struggle_intervention_runs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Records a run started by the detection at `position` (again: harmless).
pub async fn started<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
    learning_session_id: Uuid,
    topic_key: &str,
    position: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO struggle_intervention_runs \
             (id, learning_session_id, topic_key, started_position) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(learning_session_id)
    .bind(topic_key)
    .bind(position)
    .execute(db)
    .await?;
    Ok(())
}

/// Records where a run ended (its `intervention.ended`).
pub async fn ended(pool: &PgPool, id: Uuid, position: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE struggle_intervention_runs SET ended_position = $2 \
         WHERE id = $1 AND ended_position IS NULL",
    )
    .bind(id)
    .bind(position)
    .execute(pool)
    .await?;
    Ok(())
}
