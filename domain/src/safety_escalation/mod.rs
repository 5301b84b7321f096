//! The safety escalation workflow, as a saga aggregate with its own stream
//! (`safety_escalation`). Its id is also the safety concern's id: one instance per
//! `safety.concern_detected`.
//!
//! By urgency:
//! - `immediate`: the admins and counselors of the class's group are alerted at once and the
//!   learning session is paused; without an acknowledgement before the timeout the alert goes
//!   one level up the group tree, then the next, and finally to the system admins;
//! - `same_day`: the counselors are alerted; escalation as above, with a longer timeout;
//! - `monitor`: after a delay, a follow-up asks the counselors to review the concern.
//!
//! Who is at which level is the process manager's business (it reads the directory): the
//! instance records what was done at each level. A concern stays open until someone allowed
//! to handle it resolves it, with an outcome and notes: `safety_concern.resolved` is the
//! instance's outcome event. An acknowledgement stops the escalation but not the concern.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{EscalationStep, PendingTimer, SafetyEscalation};
pub use command::SafetyEscalationCommand;
pub use error::SafetyEscalationError;
pub use event::SafetyEscalationEvent;

/// A safety escalation's identity: the safety concern's id, and its stream id.
pub type SafetyEscalationId = uuid::Uuid;

/// Whom an alert went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertTarget {
    /// The admins and counselors (or, for `same_day` at the first level, the counselors) of
    /// one group.
    Group { group_id: crate::group::GroupId },
    /// The system admins: the last level.
    SystemAdmins,
}

/// What a timer of an escalation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimerPurpose {
    /// Nobody acknowledged the alert of `level` in time: escalate.
    AcknowledgementTimeout { level: u32 },
    /// A `monitor` concern is due for its follow-up.
    FollowUp,
}

/// How a resolved concern was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionOutcome {
    /// Handled within the school (talked to the student, parents, …).
    Addressed,
    /// Referred to outside services.
    Referred,
    /// Looked at; nothing needed doing.
    NoActionNeeded,
    /// The detection was wrong.
    FalsePositive,
}

impl ResolutionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Addressed => "addressed",
            Self::Referred => "referred",
            Self::NoActionNeeded => "no_action_needed",
            Self::FalsePositive => "false_positive",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Addressed,
            Self::Referred,
            Self::NoActionNeeded,
            Self::FalsePositive,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }
}
