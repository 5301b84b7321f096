//! The workflows (ADR 0010) as their users see them: the safety concerns that counselors and
//! admins handle, a class's intervention log, and any workflow instance with its steps and
//! timers.
//!
//! A concern and a workflow are read from their stream (always current, so an acknowledgement
//! shows at once); the lists come from the `safety_concerns` and `interventions` read models.
//! Who may: the class's `class.read_safety_concerns` (counselors and admins above the class,
//! system admins, auditors) to read a concern, `class.handle_safety_concerns` (counselors and
//! admins above the class, system admins) to acknowledge or resolve it, and
//! `class.read_interventions` (the class's teachers, counselors and admins above it, system
//! admins, auditors) for the intervention log and a struggle intervention. A student never
//! sees a concern, their own included.

use std::sync::Arc;

use application::workflows::timers;
use chrono::{DateTime, Utc};
use domain::safety_escalation::{
    ResolutionOutcome, SafetyEscalation, SafetyEscalationError, SafetyEscalationEvent,
};
use domain::struggle_intervention::StruggleIntervention;
use domain::Aggregate as _;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{Enum, Object, OpenApi};
use projections::log::{self, LoggedEvent};
use projections::workflows::{self as read, ConcernFilter, InterventionRow, SafetyConcernRow};
use uuid::Uuid;

use super::tags::ApiTags;
use super::text::Text;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

/// One step of a workflow: an event of its stream.
#[derive(Debug, Object)]
#[oai(rename = "WorkflowStep")]
pub struct StepDto {
    /// The event type, for example `safety_concern.acknowledged`.
    #[oai(rename = "type")]
    pub event_type: String,
    pub at: DateTime<Utc>,
    /// Who caused it: `user:<id>`, or `system:workflows` for the workflow itself.
    pub actor: String,
    /// The event's fields (its `type` included).
    pub data: serde_json::Value,
}

impl From<LoggedEvent> for StepDto {
    fn from(event: LoggedEvent) -> Self {
        Self {
            actor: event.meta("actor").unwrap_or_default().to_owned(),
            event_type: event.event_type,
            at: event.recorded_at,
            data: event.payload,
        }
    }
}

#[derive(Debug, Object)]
#[oai(rename = "WorkflowTimer")]
pub struct TimerDto {
    pub id: Uuid,
    /// `recheck`, `ack/<level>` or `follow_up`.
    pub purpose: String,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ConcernStatus {
    /// Nobody has acknowledged it.
    Open,
    Acknowledged,
    Resolved,
}

impl ConcernStatus {
    fn of(state: &SafetyEscalation) -> Self {
        if state.resolution.is_some() {
            Self::Resolved
        } else if state.acknowledged_by.is_some() {
            Self::Acknowledged
        } else {
            Self::Open
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum OutcomeDto {
    Addressed,
    Referred,
    NoActionNeeded,
    FalsePositive,
}

impl From<OutcomeDto> for ResolutionOutcome {
    fn from(outcome: OutcomeDto) -> Self {
        match outcome {
            OutcomeDto::Addressed => Self::Addressed,
            OutcomeDto::Referred => Self::Referred,
            OutcomeDto::NoActionNeeded => Self::NoActionNeeded,
            OutcomeDto::FalsePositive => Self::FalsePositive,
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
    pub urgency: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
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
    pub outcome: Option<String>,
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
            urgency: row.urgency,
            status: row.status,
            level: row.level,
            session_paused: row.session_paused,
            acknowledged_by: row.acknowledged_by,
            acknowledged_at: row.acknowledged_at,
            resolved_by: row.resolved_by,
            resolved_at: row.resolved_at,
            outcome: row.outcome,
            opened_at: row.opened_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct ConcernPage {
    /// Newest first.
    pub items: Vec<ConcernDto>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A safety concern with what the tutoring service saw and everything that happened to it.
#[derive(Debug, Object)]
#[oai(rename = "SafetyConcernDetail", example)]
pub struct ConcernDetailDto {
    pub id: Uuid,
    pub class_id: Uuid,
    pub learning_session_id: Uuid,
    pub student_id: Uuid,
    pub concern_type: String,
    pub urgency: String,
    pub evidence: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    #[oai(nullable)]
    pub acknowledged_by: Option<Uuid>,
    #[oai(nullable)]
    pub resolved_by: Option<Uuid>,
    #[oai(nullable)]
    pub outcome: Option<String>,
    #[oai(nullable)]
    pub notes: Option<String>,
    pub opened_at: DateTime<Utc>,
    /// Every step, oldest first.
    pub timeline: Vec<StepDto>,
    /// The timer the concern waits on, if any.
    pub pending_timers: Vec<TimerDto>,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields, rename = "ResolveSafetyConcern", example)]
pub struct ResolveConcern {
    pub outcome: OutcomeDto,
    /// What was done (1 to 4000 characters).
    pub notes: Text,
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
    pub step: String,
    /// Struggle detections it answered (the first and those that joined it).
    pub detections: i32,
    #[oai(nullable)]
    pub teachers_notified: Option<i32>,
    /// `self_recovered`, `session_ended` or `ai_intervention`; null while it runs.
    #[oai(nullable)]
    pub outcome: Option<String>,
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
            step: row.step,
            detections: row.detections,
            teachers_notified: row.teachers_notified,
            outcome: row.outcome,
            started_at: row.started_at,
            ended_at: row.ended_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct InterventionPage {
    /// Newest first.
    pub items: Vec<InterventionDto>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A workflow instance.
#[derive(Debug, Object)]
#[oai(rename = "Workflow", example)]
pub struct WorkflowDto {
    pub id: Uuid,
    /// `struggle_intervention` or `safety_escalation`.
    #[oai(rename = "type")]
    pub workflow_type: String,
    pub class_id: Uuid,
    pub learning_session_id: Uuid,
    /// Struggle interventions: `notifying`, `waiting`, `deciding`, `intervening`, `ended`.
    /// Safety escalations: `escalating`, `awaiting_follow_up`, `awaiting_resolution`,
    /// `resolved`.
    pub state: String,
    /// How it ended; null while it runs.
    #[oai(nullable)]
    pub outcome: Option<String>,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Every step, oldest first.
    pub steps: Vec<StepDto>,
    pub pending_timers: Vec<TimerDto>,
}

/// Page size and cursor of a list.
fn page_params(limit: Option<i64>, cursor: Option<&str>) -> Result<(i64, Option<i64>), ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(
            ProblemKind::InvalidParameter,
            "limit: between 1 and 200".to_owned(),
        ));
    }
    let before = cursor
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::new(
                    ProblemKind::InvalidParameter,
                    "cursor: not a cursor".to_owned(),
                )
            })
        })
        .transpose()?;
    Ok((limit, before))
}

fn rejected(error: SafetyEscalationError) -> ApiError {
    match error {
        SafetyEscalationError::NotFound => ApiError::not_found("safety concern"),
        SafetyEscalationError::AlreadyAcknowledged => ApiError::new(
            ProblemKind::AlreadyAcknowledged,
            "the safety concern is already acknowledged".to_owned(),
        ),
        SafetyEscalationError::Resolved => ApiError::new(
            ProblemKind::ConcernResolved,
            "the safety concern is resolved".to_owned(),
        ),
        SafetyEscalationError::Notes => ApiError::new(
            ProblemKind::InvalidRequest,
            "notes: 1 to 4000 characters".to_owned(),
        ),
        other => ApiError::internal(&other),
    }
}

/// A stream's events folded into its state, with the events.
fn fold<A: domain::Aggregate>(events: &[LoggedEvent]) -> Result<A, ApiError> {
    let mut state = A::default();
    for event in events {
        let payload: A::Event =
            serde_json::from_value(event.payload.clone()).map_err(|e| ApiError::internal(&e))?;
        state.apply(payload);
    }
    Ok(state)
}

async fn pending_timers(services: &Services, id: Uuid) -> Result<Vec<TimerDto>, ApiError> {
    Ok(timers::pending_for(&services.pool, id)
        .await?
        .into_iter()
        .map(|t| TimerDto {
            id: t.id,
            purpose: t.purpose,
            due_at: t.due_at,
        })
        .collect())
}

pub struct WorkflowsApi {
    pub services: Arc<Services>,
}

impl WorkflowsApi {
    /// The concern's stream and state; 404 when there is none.
    async fn concern(&self, id: Uuid) -> Result<(Vec<LoggedEvent>, SafetyEscalation), ApiError> {
        let events =
            log::read_stream(&self.services.pool, SafetyEscalation::TYPE, &id.to_string()).await?;
        if events.is_empty() {
            return Err(ApiError::not_found("safety concern"));
        }
        let state = fold::<SafetyEscalation>(&events)?;
        Ok((events, state))
    }

    /// The concern, after the policy allowed `action` on its class.
    async fn concern_for(
        &self,
        caller: &Caller,
        id: Uuid,
        action: &str,
    ) -> Result<(Vec<LoggedEvent>, SafetyEscalation), ApiError> {
        let principal = caller.user()?;
        let (events, state) = self.concern(id).await?;
        let class_id = state
            .class_id
            .ok_or_else(|| ApiError::not_found("safety concern"))?;
        self.services
            .authz
            .class(principal, class_id, action)
            .await?;
        Ok((events, state))
    }

    async fn detail(&self, id: Uuid) -> Result<ConcernDetailDto, ApiError> {
        let (events, state) = self.concern(id).await?;
        let notes = events.iter().rev().find_map(|e| {
            match serde_json::from_value::<SafetyEscalationEvent>(e.payload.clone()) {
                Ok(SafetyEscalationEvent::Resolved { notes, .. }) => Some(notes),
                _ => None,
            }
        });
        let opened_at = events.first().map(|e| e.recorded_at).unwrap_or_default();
        Ok(ConcernDetailDto {
            id,
            class_id: state.class_id.unwrap_or_default(),
            learning_session_id: state.learning_session_id.unwrap_or_default(),
            student_id: state.student_id.unwrap_or_default(),
            urgency: state
                .urgency
                .map(|u| {
                    serde_json::to_value(u)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
            status: ConcernStatus::of(&state).as_str().to_owned(),
            acknowledged_by: state.acknowledged_by,
            resolved_by: state.resolution.map(|(by, _)| by),
            outcome: state.resolution.map(|(_, o)| o.as_str().to_owned()),
            concern_type: state.concern_type,
            evidence: state.evidence,
            notes,
            opened_at,
            timeline: events.into_iter().map(StepDto::from).collect(),
            pending_timers: pending_timers(&self.services, id).await?,
        })
    }
}

#[OpenApi(tag = "ApiTags::Workflows")]
impl WorkflowsApi {
    /// Safety concerns I may handle
    ///
    /// Newest first, paged with `cursor`. Without `status`, the unresolved ones (`open` and
    /// `acknowledged`). Counselors and admins see the concerns of the classes in their groups
    /// and below; system admins see all.
    #[oai(
        path = "/safety-concerns",
        method = "get",
        operation_id = "listSafetyConcerns"
    )]
    async fn list_concerns(
        &self,
        caller: Data<&Caller>,
        /// Only this class's.
        class_id: Query<Option<Uuid>>,
        status: Query<Option<ConcernStatus>>,
        /// 1 to 200 (default 50).
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ConcernPage>, ApiError> {
        let principal = caller.user()?;
        let (limit, before) = page_params(limit.0, cursor.0.as_deref())?;
        if let Some(class_id) = class_id.0 {
            self.services
                .authz
                .class(principal, class_id, "class.read_safety_concerns")
                .await?;
        }
        let statuses = match status.0 {
            Some(status) => vec![status.as_str().to_owned()],
            None => vec!["open".to_owned(), "acknowledged".to_owned()],
        };
        let filter = ConcernFilter {
            class_id: class_id.0,
            statuses,
            before,
            limit: limit + 1,
        };
        let mut rows = read::safety_concerns_for(
            &self.services.pool,
            principal.user_id,
            principal.system_admin,
            &filter,
        )
        .await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.opened_position.to_string())
        } else {
            None
        };
        Ok(Json(ConcernPage {
            items: rows.into_iter().map(ConcernDto::from).collect(),
            next_cursor,
        }))
    }

    /// A safety concern with its timeline
    #[oai(
        path = "/safety-concerns/:id",
        method = "get",
        operation_id = "getSafetyConcern"
    )]
    async fn get_concern(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<ConcernDetailDto>, ApiError> {
        self.concern_for(&caller, id.0, "class.read_safety_concerns")
            .await?;
        Ok(Json(self.detail(id.0).await?))
    }

    /// Acknowledge a safety concern
    ///
    /// Stops its escalation (the concern stays open until resolved). 409
    /// `already-acknowledged` the second time, `concern-resolved` once resolved.
    #[oai(
        path = "/safety-concerns/:id/acknowledge",
        method = "post",
        operation_id = "acknowledgeSafetyConcern"
    )]
    async fn acknowledge(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
    ) -> Result<Json<ConcernDetailDto>, ApiError> {
        self.concern_for(&caller, id.0, "class.handle_safety_concerns")
            .await?;
        let by = caller.user()?.user_id;
        self.services
            .safety_concerns
            .acknowledge(&command_context(&caller, &request_id), id.0, by)
            .await
            .map_err(|e| command_error(e, rejected))?;
        Ok(Json(self.detail(id.0).await?))
    }

    /// Resolve a safety concern
    ///
    /// Ends its workflow with an outcome and notes. 409 `concern-resolved` the second time.
    #[oai(
        path = "/safety-concerns/:id/resolve",
        method = "post",
        operation_id = "resolveSafetyConcern"
    )]
    async fn resolve(
        &self,
        caller: Data<&Caller>,
        request_id: Data<&RequestId>,
        id: Path<Uuid>,
        body: Json<ResolveConcern>,
    ) -> Result<Json<ConcernDetailDto>, ApiError> {
        self.concern_for(&caller, id.0, "class.handle_safety_concerns")
            .await?;
        let by = caller.user()?.user_id;
        self.services
            .safety_concerns
            .resolve(
                &command_context(&caller, &request_id),
                id.0,
                by,
                body.outcome.into(),
                body.notes.0.clone(),
            )
            .await
            .map_err(|e| command_error(e, rejected))?;
        Ok(Json(self.detail(id.0).await?))
    }

    /// A class's intervention log
    ///
    /// The struggle interventions of the class's learning sessions, newest first: what
    /// triggered each, when, and how it ended.
    #[oai(
        path = "/classes/:id/interventions",
        method = "get",
        operation_id = "listClassInterventions"
    )]
    async fn interventions(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
        /// 1 to 200 (default 50).
        limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<InterventionPage>, ApiError> {
        self.services
            .authz
            .class(caller.user()?, id.0, "class.read_interventions")
            .await?;
        let (limit, before) = page_params(limit.0, cursor.0.as_deref())?;
        let mut rows =
            read::interventions_of_class(&self.services.pool, id.0, before, limit + 1).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.started_position.to_string())
        } else {
            None
        };
        Ok(Json(InterventionPage {
            items: rows.into_iter().map(InterventionDto::from).collect(),
            next_cursor,
        }))
    }

    /// A workflow instance
    ///
    /// A struggle intervention or a safety escalation: its state, every step with its time,
    /// the timers it waits on, and how it ended.
    #[oai(path = "/workflows/:id", method = "get", operation_id = "getWorkflow")]
    async fn workflow(
        &self,
        caller: Data<&Caller>,
        id: Path<Uuid>,
    ) -> Result<Json<WorkflowDto>, ApiError> {
        let principal = caller.user()?;
        let pool = &self.services.pool;
        let stream_id = id.0.to_string();
        let intervention = log::read_stream(pool, StruggleIntervention::TYPE, &stream_id).await?;
        let (workflow_type, events, class_id, session_id, state, outcome, action) =
            if !intervention.is_empty() {
                let state = fold::<StruggleIntervention>(&intervention)?;
                let step = serde_json::to_value(state.step())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (
                    StruggleIntervention::TYPE,
                    intervention,
                    state.class_id,
                    state.learning_session_id,
                    step,
                    state.outcome.map(|o| o.as_str().to_owned()),
                    "class.read_interventions",
                )
            } else {
                let events = log::read_stream(pool, SafetyEscalation::TYPE, &stream_id).await?;
                if events.is_empty() {
                    return Err(ApiError::not_found("workflow"));
                }
                let state = fold::<SafetyEscalation>(&events)?;
                let step = serde_json::to_value(state.step())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (
                    SafetyEscalation::TYPE,
                    events,
                    state.class_id,
                    state.learning_session_id,
                    step,
                    state.resolution.map(|(_, o)| o.as_str().to_owned()),
                    "class.read_safety_concerns",
                )
            };
        let class_id = class_id.ok_or_else(|| ApiError::not_found("workflow"))?;
        self.services
            .authz
            .class(principal, class_id, action)
            .await?;
        let ended_at = outcome
            .is_some()
            .then(|| events.last().map(|e| e.recorded_at))
            .flatten();
        Ok(Json(WorkflowDto {
            id: id.0,
            workflow_type: workflow_type.to_owned(),
            class_id,
            learning_session_id: session_id.unwrap_or_default(),
            state,
            outcome,
            started_at: events.first().map(|e| e.recorded_at).unwrap_or_default(),
            ended_at,
            steps: events.into_iter().map(StepDto::from).collect(),
            pending_timers: pending_timers(&self.services, id.0).await?,
        }))
    }
}

/// The examples of this module's bodies: the story of `examples.rs` (Lincoln High School,
/// Algebra I, Ada the student), with a safety concern and a struggle on fractions.
mod examples {
    use super::*;

    const CONCERN: Uuid = Uuid::from_u128(0x5a1e_0c0c_e000_5000_8000_0000_0000_0001);
    const INTERVENTION: Uuid = Uuid::from_u128(0x5a1e_0c0c_e000_5000_8000_0000_0000_0002);
    const CLASS: Uuid = Uuid::from_u128(0x0193_1c3d_4e5f_7061_8c7d_8e9f_a0b1_2c3d);
    const SESSION: Uuid = Uuid::from_u128(0x0193_2d4e_5f60_7172_9d8e_9fa0_b1c2_3d4e);
    const ADA: Uuid = Uuid::from_u128(0x0193_3e4f_6071_7283_ae9f_a0b1_c2d3_4e5f);
    const COUNSELOR: Uuid = Uuid::from_u128(0x0193_4f60_7182_7394_bfa0_b1c2_d3e4_5f60);

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("example time")
    }

    impl Example for ConcernDto {
        fn example() -> Self {
            Self {
                id: CONCERN,
                class_id: CLASS,
                learning_session_id: SESSION,
                student_id: ADA,
                concern_type: "distress".into(),
                urgency: "immediate".into(),
                status: "acknowledged".into(),
                level: Some(0),
                session_paused: true,
                acknowledged_by: Some(COUNSELOR),
                acknowledged_at: Some(at("2026-12-06T10:04:00Z")),
                resolved_by: None,
                resolved_at: None,
                outcome: None,
                opened_at: at("2026-12-06T10:00:00Z"),
            }
        }
    }

    impl Example for ConcernPage {
        fn example() -> Self {
            Self {
                items: vec![ConcernDto::example()],
                next_cursor: None,
            }
        }
    }

    impl Example for ConcernDetailDto {
        fn example() -> Self {
            Self {
                id: CONCERN,
                class_id: CLASS,
                learning_session_id: SESSION,
                student_id: ADA,
                concern_type: "distress".into(),
                urgency: "immediate".into(),
                evidence: "said they feel unsafe at home".into(),
                status: "acknowledged".into(),
                acknowledged_by: Some(COUNSELOR),
                resolved_by: None,
                outcome: None,
                notes: None,
                opened_at: at("2026-12-06T10:00:00Z"),
                timeline: vec![StepDto {
                    event_type: "safety_concern.acknowledged".into(),
                    at: at("2026-12-06T10:04:00Z"),
                    actor: format!("user:{COUNSELOR}"),
                    data: serde_json::json!({
                        "type": "safety_concern.acknowledged",
                        "by": COUNSELOR,
                    }),
                }],
                pending_timers: vec![],
            }
        }
    }

    impl Example for ResolveConcern {
        fn example() -> Self {
            Self {
                outcome: OutcomeDto::Referred,
                notes: Text(
                    "Spoke with Ada and her family; referred to the school psychologist.".into(),
                ),
            }
        }
    }

    impl Example for InterventionDto {
        fn example() -> Self {
            Self {
                id: INTERVENTION,
                learning_session_id: SESSION,
                student_id: ADA,
                topic: "fractions".into(),
                step: "ended".into(),
                detections: 2,
                teachers_notified: Some(1),
                outcome: Some("ai_intervention".into()),
                started_at: at("2026-12-06T10:00:00Z"),
                ended_at: Some(at("2026-12-06T10:05:00Z")),
            }
        }
    }

    impl Example for InterventionPage {
        fn example() -> Self {
            Self {
                items: vec![InterventionDto::example()],
                next_cursor: None,
            }
        }
    }

    impl Example for WorkflowDto {
        fn example() -> Self {
            Self {
                id: INTERVENTION,
                workflow_type: "struggle_intervention".into(),
                class_id: CLASS,
                learning_session_id: SESSION,
                state: "waiting".into(),
                outcome: None,
                started_at: at("2026-12-06T10:00:00Z"),
                ended_at: None,
                steps: vec![StepDto {
                    event_type: "intervention.recheck_scheduled".into(),
                    at: at("2026-12-06T10:00:00Z"),
                    actor: "system:workflows".into(),
                    data: serde_json::json!({
                        "type": "intervention.recheck_scheduled",
                        "timer_id": "5a1e0c0c-e000-5000-8000-000000000003",
                        "due_at": "2026-12-06T10:05:00Z",
                    }),
                }],
                pending_timers: vec![TimerDto {
                    id: Uuid::from_u128(0x5a1e_0c0c_e000_5000_8000_0000_0000_0003),
                    purpose: "recheck".into(),
                    due_at: at("2026-12-06T10:05:00Z"),
                }],
            }
        }
    }
}
