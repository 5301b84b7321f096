//! The `workflow_timers` table (owned here): one row per durable timer of a saga.
//!
//! A timer's due time is the database clock plus its delay ([`due_after`]), so every process
//! agrees on it whatever its own clock says. The saga records the timer before its row is
//! written, so a row never fires for a saga that does not know it; a row is marked fired after
//! its saga recorded the firing, so a crash in between fires it again, which the saga ignores.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::StoreError;

/// Rung when this process writes a timer row, with the timer's due time, so the timer loop
/// can look at the table at once for a timer that its regular looks would find too late.
#[derive(Debug, Default)]
pub struct TimerBell {
    rung: Notify,
    earliest: Mutex<Option<DateTime<Utc>>>,
}

impl TimerBell {
    pub fn ring(&self, due_at: DateTime<Utc>) {
        {
            let mut earliest = self.earliest.lock().unwrap_or_else(|e| e.into_inner());
            *earliest = Some(earliest.map_or(due_at, |e| e.min(due_at)));
        }
        self.rung.notify_one();
    }

    /// Waits for a ring: the earliest due time rung since the last one. Cancel-safe.
    pub async fn rung(&self) -> DateTime<Utc> {
        loop {
            self.rung.notified().await;
            let earliest = self
                .earliest
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(due_at) = earliest {
                return due_at;
            }
        }
    }
}

/// A timer that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub id: Uuid,
    pub saga_type: String,
    pub saga_id: Uuid,
    pub purpose: String,
    pub due_at: DateTime<Utc>,
}

/// Timers coming due, read with the database clock of the moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComingDue {
    pub timers: Vec<DueTimer>,
    /// The database clock when they were read (`None` if none were).
    pub now: Option<DateTime<Utc>>,
}

/// A timer that has not fired, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTimer {
    pub id: Uuid,
    pub purpose: String,
    pub due_at: DateTime<Utc>,
}

/// The database clock plus `delay`.
pub async fn due_after(pool: &PgPool, delay: Duration) -> Result<DateTime<Utc>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT clock_timestamp() + make_interval(secs => $1::float8 / 1000)")
            .bind(delay.as_millis() as f64)
            .fetch_one(pool)
            .await?,
    )
}

/// Writes a timer row unless it exists.
pub async fn insert<'e>(
    db: impl PgExecutor<'e>,
    id: Uuid,
    saga_type: &str,
    saga_id: Uuid,
    purpose: &str,
    due_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO workflow_timers (id, saga_type, saga_id, purpose, due_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(saga_type)
    .bind(saga_id)
    .bind(purpose)
    .bind(due_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Up to `limit` unfired timers due within `within` from now, the earliest first, leaving out
/// `except` (those the caller is firing already).
pub async fn coming_due(
    pool: &PgPool,
    within: Duration,
    except: &[Uuid],
    limit: i64,
) -> Result<ComingDue, StoreError> {
    type Row = (Uuid, String, Uuid, String, DateTime<Utc>, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, saga_type, saga_id, purpose, due_at, clock_timestamp() FROM workflow_timers \
         WHERE fired_at IS NULL \
           AND due_at <= clock_timestamp() + make_interval(secs => $1::float8 / 1000) \
           AND NOT (id = ANY($2)) \
         ORDER BY due_at LIMIT $3",
    )
    .bind(within.as_millis() as f64)
    .bind(except)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let now = rows.iter().map(|row| row.5).min();
    Ok(ComingDue {
        timers: rows
            .into_iter()
            .map(|(id, saga_type, saga_id, purpose, due_at, _)| DueTimer {
                id,
                saga_type,
                saga_id,
                purpose,
                due_at,
            })
            .collect(),
        now,
    })
}

/// Marks timers fired (their sagas recorded it).
pub async fn mark_fired<'e>(db: impl PgExecutor<'e>, ids: &[Uuid]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE workflow_timers SET fired_at = clock_timestamp() \
         WHERE id = ANY($1) AND fired_at IS NULL",
    )
    .bind(ids)
    .execute(db)
    .await?;
    Ok(())
}

/// The timers of a saga that have not fired.
pub async fn pending_for(pool: &PgPool, saga_id: Uuid) -> Result<Vec<PendingTimer>, StoreError> {
    let rows: Vec<(Uuid, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, purpose, due_at FROM workflow_timers \
         WHERE saga_id = $1 AND fired_at IS NULL ORDER BY due_at",
    )
    .bind(saga_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, purpose, due_at)| PendingTimer {
            id,
            purpose,
            due_at,
        })
        .collect())
}
