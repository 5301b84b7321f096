//! The struggle intervention workflow, as a saga aggregate with its own stream
//! (`struggle_intervention`).
//!
//! One instance runs per learning session and topic: the first struggle detection on a topic
//! starts it, and a further one on the same topic while it runs joins it. The instance tells
//! the class's teachers at once, waits for a durable timer (the recheck), then decides:
//!
//! - the tutoring service recorded a `recovery` on the topic meanwhile → `self_recovered`;
//! - the learning session was completed, or is paused when the recheck fires →
//!   `session_ended` (a completion ends the instance at once, without waiting);
//! - otherwise an assistant message is posted into the learning session → `ai_intervention`.
//!
//! The instance never looks anything up: the process manager (in `application`) records on
//! it every related event from its start (recoveries, pauses, resumes, completion) in log
//! order, and asks it to decide only once it has seen the recheck fire in the log. So an
//! event committed before the timer fired is always counted, however late the process
//! manager reads it. Every effect the instance asks for carries an id it was given
//! (deterministic in the process manager), and recording an effect twice changes nothing.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{Step, StruggleIntervention};
pub use command::StruggleInterventionCommand;
pub use error::StruggleInterventionError;
pub use event::StruggleInterventionEvent;

/// A struggle intervention's identity. Also its stream id in the event log.
pub type StruggleInterventionId = uuid::Uuid;

/// How an intervention ended. Every instance ends with exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterventionOutcome {
    /// The tutoring service recorded that the student recovered on the topic.
    SelfRecovered,
    /// The learning session was completed, or was paused when the recheck came.
    SessionEnded,
    /// The workflow posted an assistant message into the learning session.
    AiIntervention,
}

impl InterventionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SelfRecovered => "self_recovered",
            Self::SessionEnded => "session_ended",
            Self::AiIntervention => "ai_intervention",
        }
    }
}
