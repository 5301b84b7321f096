use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::InterventionOutcome;
use crate::class::ClassId;
use crate::learning::LearningSessionId;
use crate::user::UserId;
use crate::DomainEvent;

/// What happened to a struggle intervention. The JSON form is a contract (see the golden tests
/// below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum StruggleInterventionEvent {
    #[serde(rename = "intervention.started")]
    Started {
        learning_session_id: LearningSessionId,
        class_id: ClassId,
        student_id: UserId,
        topic: String,
        detection_id: Uuid,
    },
    #[serde(rename = "intervention.struggle_joined")]
    StruggleJoined { detection_id: Uuid },
    #[serde(rename = "intervention.teachers_notified")]
    TeachersNotified { recipients: u32 },
    #[serde(rename = "intervention.recheck_scheduled")]
    RecheckScheduled {
        timer_id: Uuid,
        due_at: DateTime<Utc>,
    },
    #[serde(rename = "intervention.recheck_fired")]
    RecheckFired { timer_id: Uuid },
    #[serde(rename = "intervention.recovery_observed")]
    RecoveryObserved { detection_id: Uuid },
    #[serde(rename = "intervention.session_paused")]
    SessionPaused,
    #[serde(rename = "intervention.session_resumed")]
    SessionResumed,
    #[serde(rename = "intervention.message_planned")]
    MessagePlanned { message_id: Uuid },
    /// The outcome: every instance ends with exactly one of these.
    #[serde(rename = "intervention.ended")]
    Ended {
        outcome: InterventionOutcome,
        /// The message posted, for `ai_intervention`.
        message_id: Option<Uuid>,
    },
}

impl DomainEvent for StruggleInterventionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Started { .. } => "intervention.started",
            Self::StruggleJoined { .. } => "intervention.struggle_joined",
            Self::TeachersNotified { .. } => "intervention.teachers_notified",
            Self::RecheckScheduled { .. } => "intervention.recheck_scheduled",
            Self::RecheckFired { .. } => "intervention.recheck_fired",
            Self::RecoveryObserved { .. } => "intervention.recovery_observed",
            Self::SessionPaused => "intervention.session_paused",
            Self::SessionResumed => "intervention.session_resumed",
            Self::MessagePlanned { .. } => "intervention.message_planned",
            Self::Ended { .. } => "intervention.ended",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

#[cfg(test)]
mod golden {
    use super::*;
    use crate::aggregate::testing::assert_golden as golden;
    use serde_json::json;

    const A: &str = "0195a3a0-0000-7000-8000-00000000000a";
    const B: &str = "0195a3a0-0000-7000-8000-00000000000b";
    const C: &str = "0195a3a0-0000-7000-8000-00000000000c";
    const D: &str = "0195a3a0-0000-7000-8000-00000000000d";

    fn id(s: &str) -> Uuid {
        s.parse().unwrap()
    }

    #[test]
    fn started() {
        golden(
            StruggleInterventionEvent::Started {
                learning_session_id: id(A),
                class_id: id(B),
                student_id: id(C),
                topic: "fractions".into(),
                detection_id: id(D),
            },
            json!({"type": "intervention.started", "learning_session_id": A, "class_id": B,
                   "student_id": C, "topic": "fractions", "detection_id": D}),
        );
    }

    #[test]
    fn struggle_joined() {
        golden(
            StruggleInterventionEvent::StruggleJoined {
                detection_id: id(D),
            },
            json!({"type": "intervention.struggle_joined", "detection_id": D}),
        );
    }

    #[test]
    fn teachers_notified() {
        golden(
            StruggleInterventionEvent::TeachersNotified { recipients: 2 },
            json!({"type": "intervention.teachers_notified", "recipients": 2}),
        );
    }

    #[test]
    fn recheck_scheduled() {
        golden(
            StruggleInterventionEvent::RecheckScheduled {
                timer_id: id(A),
                due_at: "2026-12-06T10:05:00Z".parse().unwrap(),
            },
            json!({"type": "intervention.recheck_scheduled", "timer_id": A,
                   "due_at": "2026-12-06T10:05:00Z"}),
        );
    }

    #[test]
    fn recheck_fired() {
        golden(
            StruggleInterventionEvent::RecheckFired { timer_id: id(A) },
            json!({"type": "intervention.recheck_fired", "timer_id": A}),
        );
    }

    #[test]
    fn recovery_observed() {
        golden(
            StruggleInterventionEvent::RecoveryObserved {
                detection_id: id(D),
            },
            json!({"type": "intervention.recovery_observed", "detection_id": D}),
        );
    }

    #[test]
    fn session_paused_and_resumed() {
        golden(
            StruggleInterventionEvent::SessionPaused,
            json!({"type": "intervention.session_paused"}),
        );
        golden(
            StruggleInterventionEvent::SessionResumed,
            json!({"type": "intervention.session_resumed"}),
        );
    }

    #[test]
    fn message_planned() {
        golden(
            StruggleInterventionEvent::MessagePlanned { message_id: id(B) },
            json!({"type": "intervention.message_planned", "message_id": B}),
        );
    }

    #[test]
    fn ended() {
        golden(
            StruggleInterventionEvent::Ended {
                outcome: InterventionOutcome::AiIntervention,
                message_id: Some(id(B)),
            },
            json!({"type": "intervention.ended", "outcome": "ai_intervention", "message_id": B}),
        );
        golden(
            StruggleInterventionEvent::Ended {
                outcome: InterventionOutcome::SelfRecovered,
                message_id: None,
            },
            json!({"type": "intervention.ended", "outcome": "self_recovered", "message_id": null}),
        );
    }
}
