//! The `learning` read models: learning sessions and their entries (messages, detections,
//! pauses), in order.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::learning::{LearningSession, LearningSessionEvent};
use domain::Aggregate as _;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::Projection;

pub const NAME: &str = "learning";

pub struct LearningProjection;

#[async_trait]
impl Projection for LearningProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[LearningSession::TYPE])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["learning_sessions", "learning_session_entries"]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        if event.aggregate_type != LearningSession::TYPE {
            return Ok(());
        }
        let id: Uuid = event.aggregate_id.parse().context("learning session id")?;
        let payload: LearningSessionEvent =
            serde_json::from_value(event.payload.clone()).context("learning session event")?;
        let at = event.recorded_at;
        let seq = event.sequence;
        if let LearningSessionEvent::Started {
            student_id,
            class_id,
            group_id,
            tool_id,
        } = payload
        {
            sqlx::query(
                "INSERT INTO learning_sessions (id, student_id, class_id, group_id, tool_id, \
                                                status, started_at, updated_at, version) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(student_id)
            .bind(class_id)
            .bind(group_id)
            .bind(tool_id)
            .bind(at)
            .bind(seq)
            .execute(conn)
            .await?;
            return Ok(());
        }
        // The row moves one version per event; an event already applied changes nothing.
        let (status, counter) = match &payload {
            LearningSessionEvent::Paused { .. } => (Some("paused"), None),
            LearningSessionEvent::Resumed { .. } => (Some("active"), None),
            LearningSessionEvent::Completed { .. } => (Some("completed"), None),
            LearningSessionEvent::MessagePosted { .. } => (None, Some("message_count")),
            _ => (None, Some("detection_count")),
        };
        let mut sets = vec!["updated_at = $2".to_owned(), "version = $3".to_owned()];
        if let Some(status) = status {
            sets.push(format!("status = '{status}'"));
        }
        if let Some(counter) = counter {
            sets.push(format!("{counter} = {counter} + 1"));
        }
        let updated = sqlx::query(&format!(
            "UPDATE learning_sessions SET {} WHERE id = $1 AND version = $3 - 1",
            sets.join(", ")
        ))
        .bind(id)
        .bind(at)
        .bind(seq)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if updated == 0 {
            let version: Option<i64> =
                sqlx::query_scalar("SELECT version FROM learning_sessions WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            match version {
                Some(v) if v >= seq => return Ok(()),
                other => anyhow::bail!("learning session {id} at version {other:?}, event #{seq}"),
            }
        }
        if let LearningSessionEvent::Completed {
            summary,
            topics_covered,
        } = &payload
        {
            sqlx::query(
                "UPDATE learning_sessions SET summary = $2, topics_covered = $3, \
                 completed_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(summary)
            .bind(serde_json::to_value(topics_covered)?)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        }
        sqlx::query(
            "INSERT INTO learning_session_entries (session_id, sequence, kind, data, recorded_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(seq)
        .bind(&event.event_type)
        .bind(&event.payload)
        .bind(at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// A learning session row.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningSessionRow {
    pub id: Uuid,
    pub student_id: Uuid,
    pub class_id: Uuid,
    pub group_id: Uuid,
    pub tool_id: Uuid,
    pub status: String,
    pub message_count: i32,
    pub detection_count: i32,
    pub summary: Option<String>,
    pub topics_covered: Option<Value>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl<'r> FromRow<'r, PgRow> for LearningSessionRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            student_id: row.try_get("student_id")?,
            class_id: row.try_get("class_id")?,
            group_id: row.try_get("group_id")?,
            tool_id: row.try_get("tool_id")?,
            status: row.try_get("status")?,
            message_count: row.try_get("message_count")?,
            detection_count: row.try_get("detection_count")?,
            summary: row.try_get("summary")?,
            topics_covered: row.try_get("topics_covered")?,
            started_at: row.try_get("started_at")?,
            updated_at: row.try_get("updated_at")?,
            completed_at: row.try_get("completed_at")?,
        })
    }
}

const COLUMNS: &str = "id, student_id, class_id, group_id, tool_id, status, message_count, \
                       detection_count, summary, topics_covered, started_at, updated_at, \
                       completed_at";

pub async fn get<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<LearningSessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM learning_sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

pub async fn of_class<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
) -> sqlx::Result<Vec<LearningSessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM learning_sessions WHERE class_id = $1 ORDER BY started_at DESC LIMIT 500"
    ))
    .bind(class_id)
    .fetch_all(executor)
    .await
}

pub async fn of_student<'e>(
    executor: impl PgExecutor<'e>,
    student_id: Uuid,
) -> sqlx::Result<Vec<LearningSessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM learning_sessions WHERE student_id = $1 ORDER BY started_at DESC LIMIT 500"
    ))
    .bind(student_id)
    .fetch_all(executor)
    .await
}

/// One entry of a learning session's history.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRow {
    pub sequence: i64,
    pub kind: String,
    pub data: Value,
    pub recorded_at: DateTime<Utc>,
}

pub async fn entries<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> sqlx::Result<Vec<EntryRow>> {
    let rows = sqlx::query(
        "SELECT sequence, kind, data, recorded_at FROM learning_session_entries \
         WHERE session_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EntryRow {
                sequence: r.try_get("sequence")?,
                kind: r.try_get("kind")?,
                data: r.try_get("data")?,
                recorded_at: r.try_get("recorded_at")?,
            })
        })
        .collect()
}
