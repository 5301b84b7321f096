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

mod dto;
mod examples;

use application::workflows::timers;
use domain::safety_escalation::{SafetyEscalation, SafetyEscalationError, SafetyEscalationEvent};
use domain::struggle_intervention::StruggleIntervention;
use domain::Aggregate as _;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use projections::log::{self, LoggedEvent};
use projections::workflows::{self as read, ConcernFilter, ConcernReach};
use uuid::Uuid;

use super::paging::Page;
use super::tags::ApiTags;
use super::views;
use crate::caller::{command_context, Caller, RequestId};
use crate::problem::{command_error, ApiError, ProblemKind};
use crate::state::Services;

pub use dto::{
    ConcernDetailDto, ConcernDto, ConcernPage, ConcernStatus, InterventionDto, InterventionPage,
    OutcomeDto, ResolveConcern, StepDto, TimerDto, WorkflowDto,
};

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

    /// The concern, after the policy allowed `action` on its class. The student it is about
    /// never sees it, whatever else they are: when the policy allows them, 404 as for none.
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
        if state.student_id == Some(principal.user_id) {
            return Err(ApiError::not_found("safety concern"));
        }
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
                .unwrap_or_default()
                .into(),
            status: ConcernStatus::of(&state).as_str().into(),
            acknowledged_by: state.acknowledged_by,
            resolved_by: state.resolution.map(|(by, _)| by),
            outcome: state.resolution.map(|(_, o)| o.as_str().into()),
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
    /// and below; system admins and auditors see all. With `class_id`, the class's, for whoever
    /// may read them (`class.read_safety_concerns`; 404 or 403 otherwise).
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
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        // What the policy grants: a class it allows is read whole; without a class, system
        // admins and auditors read every class's concerns, the others those of the groups
        // where they handle them (the same as the policy's, listed in SQL).
        let reach = if let Some(class_id) = class_id.0 {
            self.services
                .authz
                .class(principal, class_id, "class.read_safety_concerns")
                .await?;
            ConcernReach::All
        } else if principal.system_admin || principal.auditor {
            ConcernReach::All
        } else {
            ConcernReach::HandledGroups
        };
        let statuses = match status.0 {
            Some(status) => vec![status.as_str().to_owned()],
            None => vec!["open".to_owned(), "acknowledged".to_owned()],
        };
        let filter = ConcernFilter {
            class_id: class_id.0,
            statuses,
            before: page.before,
            limit: page.fetch(),
        };
        let mut snapshot = views::snapshot(&self.services.pool).await?;
        let mut rows =
            read::safety_concerns_for(&mut *snapshot, principal.user_id, reach, &filter).await?;
        let position = views::position(&mut snapshot, read::SAFETY_CONCERNS).await?;
        snapshot.commit().await?;
        let next_cursor = page.finish(&mut rows, |r| r.opened_position);
        Ok(Json(ConcernPage {
            position,
            items: rows.into_iter().map(ConcernDto::from).collect(),
            next_cursor,
        }))
    }

    /// A safety concern with its timeline
    ///
    /// The concern with the tutoring service's evidence, every step of its escalation with its
    /// time, and the timer it waits on, if any.
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
        let (appended, _) = self
            .services
            .safety_concerns
            .acknowledge(&command_context(&caller, &request_id), id.0, by)
            .await
            .map_err(|e| command_error(e, rejected))?;
        // Read-your-writes: the list of concerns shows the change once this answers.
        self.services
            .caught_up(read::SAFETY_CONCERNS, appended.position)
            .await?;
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
        let (appended, _) = self
            .services
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
        self.services
            .caught_up(read::SAFETY_CONCERNS, appended.position)
            .await?;
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
        let page = Page::parse(limit.0, cursor.0.as_deref())?;
        let mut snapshot = views::snapshot(&self.services.pool).await?;
        let mut rows =
            read::interventions_of_class(&mut *snapshot, id.0, page.before, page.fetch()).await?;
        let position = views::position(&mut snapshot, read::INTERVENTIONS).await?;
        snapshot.commit().await?;
        let next_cursor = page.finish(&mut rows, |r| r.started_position);
        Ok(Json(InterventionPage {
            position,
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
        let (workflow_type, events, class_id, session_id, state, outcome, action, about) =
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
                    None,
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
                    state.student_id,
                )
            };
        let class_id = class_id.ok_or_else(|| ApiError::not_found("workflow"))?;
        self.services
            .authz
            .class(principal, class_id, action)
            .await?;
        if about == Some(principal.user_id) {
            // An escalation's student never sees it, whatever else they are.
            return Err(ApiError::not_found("workflow"));
        }
        let ended_at = outcome
            .is_some()
            .then(|| events.last().map(|e| e.recorded_at))
            .flatten();
        Ok(Json(WorkflowDto {
            id: id.0,
            workflow_type: workflow_type.into(),
            class_id,
            learning_session_id: session_id.unwrap_or_default(),
            state: state.into(),
            outcome: outcome.map(Into::into),
            started_at: events.first().map(|e| e.recorded_at).unwrap_or_default(),
            ended_at,
            steps: events.into_iter().map(StepDto::from).collect(),
            pending_timers: pending_timers(&self.services, id.0).await?,
        }))
    }
}
