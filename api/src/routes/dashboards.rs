//! `GET /classes/{id}/dashboard`: what a teacher watching a class needs at a glance.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use projections::dashboards::{self as read, SeverityCounts};
use uuid::Uuid;

use super::tags::ApiTags;
use crate::caller::Caller;
use crate::problem::ApiError;
use crate::state::Services;

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
    /// Since midnight UTC.
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
    #[oai(nullable)]
    pub learning_session_id: Option<Uuid>,
    #[oai(nullable)]
    pub student_id: Option<Uuid>,
    pub summary: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
#[oai(rename = "ClassDashboard", example)]
pub struct DashboardDto {
    pub class_id: Uuid,
    /// Sessions started and not completed (paused ones included).
    pub active_sessions: i64,
    pub misbehavior: MisbehaviorCounts,
    /// Students with a struggle detected in a session that has not completed.
    pub struggling_students: Vec<StrugglingStudentDto>,
    /// Safety concerns not yet resolved.
    pub open_safety_concerns: i64,
    /// Unreviewed assessments with a confidence below 0.8.
    pub assessments_awaiting_review: i64,
    /// The last 50 relevant events (no chat messages), newest first.
    pub recent_events: Vec<DashboardEventDto>,
}

pub struct DashboardsApi {
    pub services: Arc<Services>,
}

#[OpenApi(tag = "ApiTags::Classes")]
impl DashboardsApi {
    /// A class's dashboard
    ///
    /// For the class's teachers and the admins and counselors of the groups above it.
    #[oai(
        path = "/classes/:id/dashboard",
        method = "get",
        operation_id = "classDashboard"
    )]
    async fn dashboard(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<DashboardDto>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.read_dashboard")
            .await?;
        let mut conn = self.services.pool.acquire().await?;
        let d = read::dashboard(&mut conn, id.0, Utc::now().date_naive()).await?;
        Ok(Json(DashboardDto {
            class_id: id.0,
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
            recent_events: d
                .recent_events
                .into_iter()
                .map(|e| DashboardEventDto {
                    position: e.position,
                    event_type: e.event_type,
                    learning_session_id: e.learning_session_id,
                    student_id: e.student_id,
                    summary: e.summary,
                    recorded_at: e.recorded_at,
                })
                .collect(),
        }))
    }
}
