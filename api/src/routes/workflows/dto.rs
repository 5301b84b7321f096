//! The bodies of the workflow endpoints, apart from the domain's types.

use chrono::{DateTime, Utc};
use domain::safety_escalation::{ResolutionOutcome, SafetyEscalation};
use poem_openapi::Object;
use projections::log::LoggedEvent;
use uuid::Uuid;

use crate::routes::closed::{OneOf, UrgencyDto, WorkflowOutcome, WorkflowState, WorkflowType};
use crate::routes::text::Text;
pub use crate::routes::views::{ConcernDto, InterventionDto};

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

pub use crate::routes::closed::{ConcernStatus, OutcomeDto};

impl ConcernStatus {
    pub(super) fn of(state: &SafetyEscalation) -> Self {
        if state.resolution.is_some() {
            Self::Resolved
        } else if state.acknowledged_by.is_some() {
            Self::Acknowledged
        } else {
            Self::Open
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
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

#[derive(Debug, Object)]
#[oai(example)]
pub struct ConcernPage {
    /// The log position this page reflects: apply the live updates of the classes'
    /// `class.<id>.safety_concerns` above it.
    pub position: i64,
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
    pub urgency: OneOf<UrgencyDto>,
    pub evidence: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: OneOf<ConcernStatus>,
    #[oai(nullable)]
    pub acknowledged_by: Option<Uuid>,
    #[oai(nullable)]
    pub resolved_by: Option<Uuid>,
    #[oai(nullable)]
    pub outcome: Option<OneOf<OutcomeDto>>,
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

#[derive(Debug, Object)]
#[oai(example)]
pub struct InterventionPage {
    /// The log position this page reflects: apply the class's live updates
    /// (`class.<id>.interventions`) above it.
    pub position: i64,
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
    pub workflow_type: OneOf<WorkflowType>,
    pub class_id: Uuid,
    pub learning_session_id: Uuid,
    /// Struggle interventions: `notifying`, `waiting`, `deciding`, `intervening`, `ended`.
    /// Safety escalations: `escalating`, `awaiting_follow_up`, `awaiting_resolution`,
    /// `resolved`.
    pub state: OneOf<WorkflowState>,
    /// How it ended; null while it runs.
    #[oai(nullable)]
    pub outcome: Option<OneOf<WorkflowOutcome>>,
    pub started_at: DateTime<Utc>,
    #[oai(nullable)]
    pub ended_at: Option<DateTime<Utc>>,
    /// Every step, oldest first.
    pub steps: Vec<StepDto>,
    pub pending_timers: Vec<TimerDto>,
}
