//! The `assessments` read model: assessments with their traces and review state.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::assessment::{Assessment, AssessmentEvent, REVIEW_THRESHOLD};
use domain::Aggregate as _;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::Projection;

pub const NAME: &str = "assessments";

pub struct AssessmentsProjection;

#[async_trait]
impl Projection for AssessmentsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Assessment::TYPE])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["assessments"]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        if event.aggregate_type != Assessment::TYPE {
            return Ok(());
        }
        let id: Uuid = event.aggregate_id.parse().context("assessment id")?;
        let payload: AssessmentEvent =
            serde_json::from_value(event.payload.clone()).context("assessment event")?;
        match payload {
            AssessmentEvent::Recorded {
                learning_session_id,
                class_id,
                group_id,
                student_id,
                assignment_id,
                scores,
                confidence,
                trace,
            } => {
                sqlx::query(
                    "INSERT INTO assessments (id, learning_session_id, class_id, group_id, \
                         student_id, assignment_id, scores, confidence, model, prompt_hash, \
                         input_snapshot, raw_response, parsed_result, content_hash, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(learning_session_id)
                .bind(class_id)
                .bind(group_id)
                .bind(student_id)
                .bind(assignment_id)
                .bind(serde_json::to_value(&scores)?)
                .bind(confidence)
                .bind(&trace.model)
                .bind(&trace.prompt_hash)
                .bind(&trace.input_snapshot)
                .bind(&trace.raw_response)
                .bind(&trace.parsed_result)
                .bind(&trace.content_hash)
                .bind(event.recorded_at)
                .execute(conn)
                .await?;
            }
            AssessmentEvent::Reviewed { reviewer_id, notes } => {
                sqlx::query(
                    "UPDATE assessments SET reviewed_by = $2, reviewed_at = $3, review_notes = $4 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(reviewer_id)
                .bind(event.recorded_at)
                .bind(notes)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }
}

/// An assessment as stored in the read model (its hash is checked by the reader).
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentRow {
    pub id: Uuid,
    pub learning_session_id: Uuid,
    pub class_id: Uuid,
    pub group_id: Uuid,
    pub student_id: Uuid,
    pub assignment_id: Option<Uuid>,
    pub scores: Value,
    pub confidence: f64,
    pub model: String,
    pub prompt_hash: String,
    pub input_snapshot: Value,
    pub raw_response: String,
    pub parsed_result: Value,
    pub content_hash: String,
    pub recorded_at: DateTime<Utc>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_notes: Option<String>,
}

impl<'r> FromRow<'r, PgRow> for AssessmentRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            learning_session_id: row.try_get("learning_session_id")?,
            class_id: row.try_get("class_id")?,
            group_id: row.try_get("group_id")?,
            student_id: row.try_get("student_id")?,
            assignment_id: row.try_get("assignment_id")?,
            scores: row.try_get("scores")?,
            confidence: row.try_get("confidence")?,
            model: row.try_get("model")?,
            prompt_hash: row.try_get("prompt_hash")?,
            input_snapshot: row.try_get("input_snapshot")?,
            raw_response: row.try_get("raw_response")?,
            parsed_result: row.try_get("parsed_result")?,
            content_hash: row.try_get("content_hash")?,
            recorded_at: row.try_get("recorded_at")?,
            reviewed_by: row.try_get("reviewed_by")?,
            reviewed_at: row.try_get("reviewed_at")?,
            review_notes: row.try_get("review_notes")?,
        })
    }
}

pub async fn get<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<AssessmentRow>> {
    sqlx::query_as("SELECT * FROM assessments WHERE id = $1")
        .bind(id)
        .fetch_optional(executor)
        .await
}

/// The assessments recorded for `assignment_id` in the learning sessions of `student_id`,
/// oldest first.
pub async fn of_assignment_and_student<'e>(
    executor: impl PgExecutor<'e>,
    assignment_id: Uuid,
    student_id: Uuid,
) -> sqlx::Result<Vec<AssessmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assessments WHERE assignment_id = $1 AND student_id = $2 \
         ORDER BY recorded_at, id LIMIT 100",
    )
    .bind(assignment_id)
    .bind(student_id)
    .fetch_all(executor)
    .await
}

/// Unreviewed assessments of a class below the review threshold, oldest first; only those
/// of `assignment_id` when given.
pub async fn review_queue<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
    assignment_id: Option<Uuid>,
) -> sqlx::Result<Vec<AssessmentRow>> {
    sqlx::query_as(
        "SELECT * FROM assessments WHERE class_id = $1 AND reviewed_at IS NULL \
         AND confidence < $2 AND ($3::uuid IS NULL OR assignment_id = $3) \
         ORDER BY recorded_at, id LIMIT 500",
    )
    .bind(class_id)
    .bind(REVIEW_THRESHOLD)
    .bind(assignment_id)
    .fetch_all(executor)
    .await
}
