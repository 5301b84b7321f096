//! The `assignments` read model: assignments and the submissions made to them, with the
//! queries the API answers from.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::assignment::{Assignment, AssignmentEvent};
use domain::submission::{Submission, SubmissionEvent};
use domain::Aggregate as _;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::Projection;

pub const NAME: &str = "assignments";

pub struct AssignmentsProjection;

#[async_trait]
impl Projection for AssignmentsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Assignment::TYPE, Submission::TYPE])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["assignments", "submissions"]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        let id: Uuid = match event.aggregate_type.as_str() {
            Assignment::TYPE | Submission::TYPE => event.aggregate_id.parse().context("id")?,
            _ => return Ok(()),
        };
        if event.aggregate_type == Assignment::TYPE {
            let payload: AssignmentEvent =
                serde_json::from_value(event.payload.clone()).context("assignment event")?;
            apply_assignment(conn, id, event, payload).await
        } else {
            let payload: SubmissionEvent =
                serde_json::from_value(event.payload.clone()).context("submission event")?;
            apply_submission(conn, id, event, payload).await
        }
    }
}

/// Every change is guarded by the stream's sequence: an event applied already changes
/// nothing when a batch is delivered again.
async fn apply_assignment(
    conn: &mut PgConnection,
    id: Uuid,
    event: &LoggedEvent,
    payload: AssignmentEvent,
) -> anyhow::Result<()> {
    let at = event.recorded_at;
    let version = event.sequence;
    match payload {
        AssignmentEvent::Created {
            class_id,
            title,
            instructions,
            tool_id,
            due_at,
            max_score,
        } => {
            // The teacher or admin who created it (`user:<id>` in the metadata).
            let actor: Option<Uuid> = event
                .metadata
                .get("actor")
                .and_then(|a| a.as_str())
                .and_then(|a| a.strip_prefix("user:"))
                .and_then(|a| a.parse().ok());
            sqlx::query(
                "INSERT INTO assignments (id, class_id, title, instructions, tool_id, due_at, \
                     max_score, status, created_by, created_at, updated_at, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, $9, $9, $10) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(class_id)
            .bind(title.as_str())
            .bind(&instructions)
            .bind(tool_id)
            .bind(due_at)
            .bind(max_score.map(|m| m as i32))
            .bind(actor)
            .bind(at)
            .bind(version)
            .execute(conn)
            .await?;
        }
        AssignmentEvent::Updated {
            title,
            instructions,
            tool_id,
            due_at,
            max_score,
        } => {
            sqlx::query(
                "UPDATE assignments SET title = $2, instructions = $3, tool_id = $4, \
                     due_at = $5, max_score = $6, updated_at = $7, version = $8 \
                 WHERE id = $1 AND version < $8",
            )
            .bind(id)
            .bind(title.as_str())
            .bind(&instructions)
            .bind(tool_id)
            .bind(due_at)
            .bind(max_score.map(|m| m as i32))
            .bind(at)
            .bind(version)
            .execute(conn)
            .await?;
        }
        AssignmentEvent::Published | AssignmentEvent::Closed | AssignmentEvent::Archived => {
            let (status, archived) = match payload {
                AssignmentEvent::Published => (Some("published"), None),
                AssignmentEvent::Closed => (Some("closed"), None),
                _ => (None, Some(true)),
            };
            sqlx::query(
                "UPDATE assignments SET status = coalesce($2, status), \
                     archived = coalesce($3, archived), updated_at = $4, version = $5 \
                 WHERE id = $1 AND version < $5",
            )
            .bind(id)
            .bind(status)
            .bind(archived)
            .bind(at)
            .bind(version)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

async fn apply_submission(
    conn: &mut PgConnection,
    id: Uuid,
    event: &LoggedEvent,
    payload: SubmissionEvent,
) -> anyhow::Result<()> {
    let at = event.recorded_at;
    let version = event.sequence;
    match payload {
        SubmissionEvent::Created {
            assignment_id,
            class_id,
            student_id,
            content,
            evidence,
        } => {
            sqlx::query(
                "INSERT INTO submissions (id, assignment_id, class_id, student_id, content, \
                     evidence, status, created_at, updated_at, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $7, $8) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(assignment_id)
            .bind(class_id)
            .bind(student_id)
            .bind(&content)
            .bind(&evidence)
            .bind(at)
            .bind(version)
            .execute(conn)
            .await?;
        }
        SubmissionEvent::Submitted {
            content,
            evidence,
            late,
            attempt,
            ..
        } => {
            sqlx::query(
                "UPDATE submissions SET content = $2, evidence = $3, late = $4, attempts = $5, \
                     status = 'submitted', submitted_at = $6, updated_at = $6, version = $7 \
                 WHERE id = $1 AND version < $7",
            )
            .bind(id)
            .bind(&content)
            .bind(&evidence)
            .bind(late)
            .bind(attempt as i32)
            .bind(at)
            .bind(version)
            .execute(conn)
            .await?;
        }
        SubmissionEvent::Graded {
            by,
            score,
            max_score,
            feedback,
        } => {
            sqlx::query(
                "UPDATE submissions SET status = 'graded', score = $2, max_score = $3, \
                     feedback = $4, graded_by = $5, graded_at = $6, updated_at = $6, \
                     version = $7 \
                 WHERE id = $1 AND version < $7",
            )
            .bind(id)
            .bind(score.map(|s| s as i32))
            .bind(max_score.map(|m| m as i32))
            .bind(&feedback)
            .bind(by)
            .bind(at)
            .bind(version)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct AssignmentRow {
    pub id: Uuid,
    pub class_id: Uuid,
    pub title: String,
    pub instructions: String,
    pub tool_id: Option<Uuid>,
    pub due_at: Option<DateTime<Utc>>,
    pub max_score: Option<i32>,
    pub status: String,
    pub archived: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// Submitted (or graded) submissions.
    pub submitted: i64,
    /// Graded submissions.
    pub graded: i64,
}

impl<'r> FromRow<'r, PgRow> for AssignmentRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            class_id: row.try_get("class_id")?,
            title: row.try_get("title")?,
            instructions: row.try_get("instructions")?,
            tool_id: row.try_get("tool_id")?,
            due_at: row.try_get("due_at")?,
            max_score: row.try_get("max_score")?,
            status: row.try_get("status")?,
            archived: row.try_get("archived")?,
            created_by: row.try_get("created_by")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
            submitted: row.try_get("submitted")?,
            graded: row.try_get("graded")?,
        })
    }
}

const ASSIGNMENT_COLUMNS: &str = "a.id, a.class_id, a.title, a.instructions, a.tool_id, \
    a.due_at, a.max_score, a.status, a.archived, a.created_by, a.created_at, a.updated_at, \
    a.version, \
    (SELECT count(*) FROM submissions s WHERE s.assignment_id = a.id \
        AND s.status <> 'draft') AS submitted, \
    (SELECT count(*) FROM submissions s WHERE s.assignment_id = a.id \
        AND s.status = 'graded') AS graded";

pub async fn get_assignment<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<AssignmentRow>> {
    sqlx::query_as(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM assignments a WHERE a.id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A class's assignments, newest first: those whose status is in `statuses`, without the
/// archived ones unless `include_archived`.
pub async fn assignments_of_class<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
    statuses: &[&str],
    include_archived: bool,
) -> sqlx::Result<Vec<AssignmentRow>> {
    sqlx::query_as(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM assignments a \
         WHERE a.class_id = $1 AND a.status = ANY($2) AND ($3 OR NOT a.archived) \
         ORDER BY a.created_at DESC, a.id DESC"
    ))
    .bind(class_id)
    .bind(statuses)
    .bind(include_archived)
    .fetch_all(executor)
    .await
}

#[derive(Debug, Clone)]
pub struct SubmissionRow {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub class_id: Uuid,
    pub student_id: Uuid,
    pub student_name: Option<String>,
    pub content: String,
    pub evidence: Vec<Uuid>,
    pub status: String,
    pub attempts: i32,
    pub late: bool,
    pub submitted_at: Option<DateTime<Utc>>,
    pub score: Option<i32>,
    pub max_score: Option<i32>,
    pub feedback: Option<String>,
    pub graded_by: Option<Uuid>,
    pub graded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl<'r> FromRow<'r, PgRow> for SubmissionRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            assignment_id: row.try_get("assignment_id")?,
            class_id: row.try_get("class_id")?,
            student_id: row.try_get("student_id")?,
            student_name: row.try_get("student_name")?,
            content: row.try_get("content")?,
            evidence: row.try_get("evidence")?,
            status: row.try_get("status")?,
            attempts: row.try_get("attempts")?,
            late: row.try_get("late")?,
            submitted_at: row.try_get("submitted_at")?,
            score: row.try_get("score")?,
            max_score: row.try_get("max_score")?,
            feedback: row.try_get("feedback")?,
            graded_by: row.try_get("graded_by")?,
            graded_at: row.try_get("graded_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}

const SUBMISSION_COLUMNS: &str = "s.id, s.assignment_id, s.class_id, s.student_id, \
    u.name AS student_name, s.content, s.evidence, s.status, s.attempts, s.late, \
    s.submitted_at, s.score, s.max_score, s.feedback, s.graded_by, s.graded_at, s.created_at, \
    s.updated_at, s.version";

pub async fn get_submission<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<SubmissionRow>> {
    sqlx::query_as(&format!(
        "SELECT {SUBMISSION_COLUMNS} FROM submissions s LEFT JOIN users u ON u.id = s.student_id \
         WHERE s.id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// An assignment's submissions: the submitted and graded ones (drafts are the students'
/// own until submitted), by submission time.
pub async fn submissions_of_assignment<'e>(
    executor: impl PgExecutor<'e>,
    assignment_id: Uuid,
) -> sqlx::Result<Vec<SubmissionRow>> {
    sqlx::query_as(&format!(
        "SELECT {SUBMISSION_COLUMNS} FROM submissions s LEFT JOIN users u ON u.id = s.student_id \
         WHERE s.assignment_id = $1 AND s.status <> 'draft' \
         ORDER BY s.submitted_at, s.id"
    ))
    .bind(assignment_id)
    .fetch_all(executor)
    .await
}

/// A student's assignment with the state of their own submission.
#[derive(Debug, Clone)]
pub struct StudentAssignmentRow {
    pub assignment: AssignmentRow,
    pub submission_id: Option<Uuid>,
    pub submission_status: Option<String>,
    pub late: Option<bool>,
    pub score: Option<i32>,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl<'r> FromRow<'r, PgRow> for StudentAssignmentRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            assignment: AssignmentRow::from_row(row)?,
            submission_id: row.try_get("submission_id")?,
            submission_status: row.try_get("submission_status")?,
            late: row.try_get("late")?,
            score: row.try_get("score")?,
            submitted_at: row.try_get("submitted_at")?,
        })
    }
}

/// The published and closed, not archived, assignments of the classes where `student_id` is
/// a student, with their own submission if any; due first (no due time last), then newest.
pub async fn assignments_of_student<'e>(
    executor: impl PgExecutor<'e>,
    student_id: Uuid,
) -> sqlx::Result<Vec<StudentAssignmentRow>> {
    sqlx::query_as(&format!(
        "SELECT {ASSIGNMENT_COLUMNS}, s.id AS submission_id, s.status AS submission_status, \
             s.late, s.score, s.submitted_at \
         FROM class_members m JOIN assignments a ON a.class_id = m.class_id \
         LEFT JOIN submissions s ON s.assignment_id = a.id AND s.student_id = m.user_id \
         WHERE m.user_id = $1 AND m.role = 'student' \
           AND a.status IN ('published', 'closed') AND NOT a.archived \
         ORDER BY a.due_at NULLS LAST, a.created_at DESC, a.id DESC \
         LIMIT 500"
    ))
    .bind(student_id)
    .fetch_all(executor)
    .await
}
