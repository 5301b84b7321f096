//! What a REST read of a watched read model shares with the live updates of its topic
//! (`GET /realtime/updates`, and the same messages on NATS): the items (a notification, an
//! intervention, a safety concern in a list, a class dashboard's counters and events), and
//! the snapshot a read is made in, whose `position` says where the updates take over.
//!
//! Each item is built from the same read-model row as the body of its update
//! (`projections::realtime`), and a test holds the two to the same JSON.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use projections::dashboards::{DashboardCounters, RecentEvent, SeverityCounts};
use projections::notifications::NotificationRow;
use projections::workflows::{InterventionRow, SafetyConcernRow};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::closed::{
    ConcernStatus, InterventionOutcome, InterventionStep, NotificationKind, OneOf, OutcomeDto,
    UrgencyDto,
};
use crate::problem::ApiError;

/// A read-only, repeatable-read transaction: every query in it sees the same snapshot.
pub type Snapshot = Transaction<'static, Postgres>;

/// Begins a [`Snapshot`]. Read the rows and then [`position`] in it.
pub async fn snapshot(pool: &PgPool) -> Result<Snapshot, ApiError> {
    Ok(pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await?)
}

/// The position a read of projection `source` in `snapshot` reflects (its checkpoint in the
/// same snapshot): the updates of its topics above it are not in the read, those at or below
/// it are.
pub async fn position(snapshot: &mut Snapshot, source: &str) -> Result<i64, ApiError> {
    Ok(projections::realtime::snapshot_position(&mut **snapshot, source).await?)
}

#[derive(Debug, Object)]
pub struct SeverityCountsDto {
    pub low: i64,
    pub medium: i64,
    pub high: i64,
    pub critical: i64,
}

impl From<SeverityCounts> for SeverityCountsDto {
    fn from([low, medium, high, critical]: SeverityCounts) -> Self {
        Self {
            low,
            medium,
            high,
            critical,
        }
    }
}

#[derive(Debug, Object)]
pub struct MisbehaviorCounts {
    /// Since midnight UTC (in a live update: of the day the update was recorded).
    pub today: SeverityCountsDto,
    pub total: SeverityCountsDto,
}

#[derive(Debug, Object)]
pub struct StrugglingStudentDto {
    pub student_id: Uuid,
    pub learning_session_id: Uuid,
    /// The latest topic detected.
    pub topic: String,
    /// When the first struggle of the session was detected.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct DashboardEventDto {
    pub position: i64,
    #[oai(rename = "type")]
    pub event_type: String,
    /// Null for a safety concern's items, which every adult of the class reads.
    #[oai(nullable)]
    pub learning_session_id: Option<Uuid>,
    /// Null for a safety concern's items, which every adult of the class reads.
    #[oai(nullable)]
    pub student_id: Option<Uuid>,
    /// One line. A safety concern's items say what changed ("Safety concern recorded",
    /// "… escalated", "… acknowledged", "… resolved"), nothing of the concern; a pause by
    /// the safety workflow is "Session paused for a counselor's review".
    pub summary: String,
    pub recorded_at: DateTime<Utc>,
}

/// What a class dashboard counts: the body of `GET /classes/{id}/dashboard` (beside its
/// `class_id`, `position` and `recent_events`), and the `dashboard` of each live update.
#[derive(Debug, Object)]
#[oai(rename = "ClassDashboardCounters")]
pub struct DashboardCountersDto {
    /// Sessions started and not completed (paused ones included).
    pub active_sessions: i64,
    pub misbehavior: MisbehaviorCounts,
    /// Students with a struggle detected in a session that has not completed.
    pub struggling_students: Vec<StrugglingStudentDto>,
    /// Safety concerns not yet resolved.
    pub open_safety_concerns: i64,
    /// Unreviewed assessments with a confidence below 0.8.
    pub assessments_awaiting_review: i64,
    /// Submissions submitted and not graded yet.
    pub submissions_awaiting_grade: i64,
}

impl From<DashboardCounters> for DashboardCountersDto {
    fn from(d: DashboardCounters) -> Self {
        Self {
            active_sessions: d.active_sessions,
            misbehavior: MisbehaviorCounts {
                today: d.misbehavior_today.into(),
                total: d.misbehavior_total.into(),
            },
            struggling_students: d
                .struggling_students
                .into_iter()
                .map(|s| StrugglingStudentDto {
                    student_id: s.student_id,
                    learning_session_id: s.learning_session_id,
                    topic: s.topic,
                    since: s.since,
                })
                .collect(),
            open_safety_concerns: d.open_safety_concerns,
            assessments_awaiting_review: d.assessments_awaiting_review,
            submissions_awaiting_grade: d.submissions_awaiting_grade,
        }
    }
}

impl From<RecentEvent> for DashboardEventDto {
    fn from(e: RecentEvent) -> Self {
        Self {
            position: e.position,
            event_type: e.event_type,
            learning_session_id: e.learning_session_id,
            student_id: e.student_id,
            summary: e.summary,
            recorded_at: e.recorded_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "Notification", example)]
pub struct NotificationDto {
    pub id: Uuid,
    /// `misbehavior`, `struggle`, `safety_concern` or `assessment_review`.
    pub kind: OneOf<NotificationKind>,
    pub title: String,
    pub body: String,
    pub class_id: Uuid,
    #[oai(nullable)]
    pub learning_session_id: Option<Uuid>,
    #[oai(nullable)]
    pub assessment_id: Option<Uuid>,
    #[oai(nullable)]
    pub student_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub read_at: Option<DateTime<Utc>>,
}

impl From<NotificationRow> for NotificationDto {
    fn from(row: NotificationRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind.into(),
            title: row.title,
            body: row.body,
            class_id: row.class_id,
            learning_session_id: row.learning_session_id,
            assessment_id: row.assessment_id,
            student_id: row.student_id,
            created_at: row.created_at,
            read_at: row.read_at,
        }
    }
}

/// A safety concern in a list.
#[derive(Debug, Object)]
#[oai(rename = "SafetyConcernSummary", example)]
pub struct ConcernDto {
    pub id: Uuid,
    pub class_id: Uuid,
    pub learning_session_id: Uuid,
    pub student_id: Uuid,
    pub concern_type: String,
    /// `immediate`, `same_day` or `monitor`.
    pub urgency: OneOf<UrgencyDto>,
    /// `open`, `acknowledged` or `resolved`.
    pub status: OneOf<ConcernStatus>,
    /// The highest level alerted (0: the class's group); null before the first alert
    /// (`monitor` concerns are not alerted until their follow-up).
    #[oai(nullable)]
    pub level: Option<i32>,
    /// Whether the workflow paused the learning session.
    pub session_paused: bool,
    #[oai(nullable)]
    pub acknowledged_by: Option<Uuid>,
    #[oai(nullable)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub resolved_by: Option<Uuid>,
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// `addressed`, `referred`, `no_action_needed` or `false_positive`.
    #[oai(nullable)]
    pub outcome: Option<OneOf<OutcomeDto>>,
    pub opened_at: DateTime<Utc>,
}

impl From<SafetyConcernRow> for ConcernDto {
    fn from(row: SafetyConcernRow) -> Self {
        Self {
            id: row.id,
            class_id: row.class_id,
            learning_session_id: row.learning_session_id,
            student_id: row.student_id,
            concern_type: row.concern_type,
            urgency: row.urgency.into(),
            status: row.status.into(),
            level: row.level,
            session_paused: row.session_paused,
            acknowledged_by: row.acknowledged_by,
            acknowledged_at: row.acknowledged_at,
            resolved_by: row.resolved_by,
            resolved_at: row.resolved_at,
            outcome: row.outcome.map(Into::into),
            opened_at: row.opened_at,
        }
    }
}

/// One struggle intervention of a class's intervention log.
#[derive(Debug, Object)]
#[oai(rename = "Intervention", example)]
pub struct InterventionDto {
    pub id: Uuid,
    pub learning_session_id: Uuid,
    pub student_id: Uuid,
    pub topic: String,
    /// `notifying`, `waiting`, `deciding`, `intervening` or `ended`.
    pub step: OneOf<InterventionStep>,
    /// Struggle detections it answered (the first and those that joined it).
    pub detections: i32,
    #[oai(nullable)]
    pub teachers_notified: Option<i32>,
    /// `self_recovered`, `session_ended` or `ai_intervention`; null while it runs.
    #[oai(nullable)]
    pub outcome: Option<OneOf<InterventionOutcome>>,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<InterventionRow> for InterventionDto {
    fn from(row: InterventionRow) -> Self {
        Self {
            id: row.id,
            learning_session_id: row.learning_session_id,
            student_id: row.student_id,
            topic: row.topic,
            step: row.step.into(),
            detections: row.detections,
            teachers_notified: row.teachers_notified,
            outcome: row.outcome.map(Into::into),
            started_at: row.started_at,
            ended_at: row.ended_at,
        }
    }
}
