use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AlertTarget, ResolutionOutcome, TimerPurpose};
use crate::class::ClassId;
use crate::group::GroupId;
use crate::learning::{LearningSessionId, Urgency};
use crate::user::UserId;
use crate::DomainEvent;

/// What happened to a safety concern. The JSON form is a contract (see the golden tests
/// below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SafetyEscalationEvent {
    #[serde(rename = "safety_concern.opened")]
    Opened {
        learning_session_id: LearningSessionId,
        class_id: ClassId,
        group_id: GroupId,
        student_id: UserId,
        concern_type: String,
        urgency: Urgency,
        evidence: String,
        detection_id: Uuid,
    },
    #[serde(rename = "safety_concern.alerted")]
    Alerted {
        level: u32,
        target: AlertTarget,
        recipients: u32,
    },
    #[serde(rename = "safety_concern.session_paused")]
    SessionPaused,
    #[serde(rename = "safety_concern.timer_scheduled")]
    TimerScheduled {
        timer_id: Uuid,
        purpose: TimerPurpose,
        due_at: DateTime<Utc>,
    },
    #[serde(rename = "safety_concern.timer_fired")]
    TimerFired { timer_id: Uuid },
    #[serde(rename = "safety_concern.follow_up_sent")]
    FollowUpSent { recipients: u32 },
    #[serde(rename = "safety_concern.acknowledged")]
    Acknowledged { by: UserId },
    /// The outcome: a concern ends only by being resolved.
    #[serde(rename = "safety_concern.resolved")]
    Resolved {
        by: UserId,
        outcome: ResolutionOutcome,
        notes: String,
    },
}

impl DomainEvent for SafetyEscalationEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Opened { .. } => "safety_concern.opened",
            Self::Alerted { .. } => "safety_concern.alerted",
            Self::SessionPaused => "safety_concern.session_paused",
            Self::TimerScheduled { .. } => "safety_concern.timer_scheduled",
            Self::TimerFired { .. } => "safety_concern.timer_fired",
            Self::FollowUpSent { .. } => "safety_concern.follow_up_sent",
            Self::Acknowledged { .. } => "safety_concern.acknowledged",
            Self::Resolved { .. } => "safety_concern.resolved",
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
    const E: &str = "0195a3a0-0000-7000-8000-00000000000e";

    fn id(s: &str) -> Uuid {
        s.parse().unwrap()
    }

    #[test]
    fn opened() {
        golden(
            SafetyEscalationEvent::Opened {
                learning_session_id: id(A),
                class_id: id(B),
                group_id: id(C),
                student_id: id(D),
                concern_type: "self_harm".into(),
                urgency: Urgency::Immediate,
                evidence: "I don't want to be here anymore".into(),
                detection_id: id(E),
            },
            json!({"type": "safety_concern.opened", "learning_session_id": A, "class_id": B,
                   "group_id": C, "student_id": D, "concern_type": "self_harm",
                   "urgency": "immediate", "evidence": "I don't want to be here anymore",
                   "detection_id": E}),
        );
    }

    #[test]
    fn alerted() {
        golden(
            SafetyEscalationEvent::Alerted {
                level: 0,
                target: AlertTarget::Group { group_id: id(C) },
                recipients: 3,
            },
            json!({"type": "safety_concern.alerted", "level": 0,
                   "target": {"kind": "group", "group_id": C}, "recipients": 3}),
        );
        golden(
            SafetyEscalationEvent::Alerted {
                level: 3,
                target: AlertTarget::SystemAdmins,
                recipients: 1,
            },
            json!({"type": "safety_concern.alerted", "level": 3,
                   "target": {"kind": "system_admins"}, "recipients": 1}),
        );
    }

    #[test]
    fn session_paused() {
        golden(
            SafetyEscalationEvent::SessionPaused,
            json!({"type": "safety_concern.session_paused"}),
        );
    }

    #[test]
    fn timer_scheduled_and_fired() {
        golden(
            SafetyEscalationEvent::TimerScheduled {
                timer_id: id(A),
                purpose: TimerPurpose::AcknowledgementTimeout { level: 1 },
                due_at: "2026-12-06T10:15:00Z".parse().unwrap(),
            },
            json!({"type": "safety_concern.timer_scheduled", "timer_id": A,
                   "purpose": {"kind": "acknowledgement_timeout", "level": 1},
                   "due_at": "2026-12-06T10:15:00Z"}),
        );
        golden(
            SafetyEscalationEvent::TimerScheduled {
                timer_id: id(B),
                purpose: TimerPurpose::FollowUp,
                due_at: "2026-12-07T10:00:00Z".parse().unwrap(),
            },
            json!({"type": "safety_concern.timer_scheduled", "timer_id": B,
                   "purpose": {"kind": "follow_up"}, "due_at": "2026-12-07T10:00:00Z"}),
        );
        golden(
            SafetyEscalationEvent::TimerFired { timer_id: id(A) },
            json!({"type": "safety_concern.timer_fired", "timer_id": A}),
        );
    }

    #[test]
    fn follow_up_sent() {
        golden(
            SafetyEscalationEvent::FollowUpSent { recipients: 2 },
            json!({"type": "safety_concern.follow_up_sent", "recipients": 2}),
        );
    }

    #[test]
    fn acknowledged_and_resolved() {
        golden(
            SafetyEscalationEvent::Acknowledged { by: id(A) },
            json!({"type": "safety_concern.acknowledged", "by": A}),
        );
        golden(
            SafetyEscalationEvent::Resolved {
                by: id(A),
                outcome: ResolutionOutcome::Referred,
                notes: "Spoke with the family; referred to the district psychologist.".into(),
            },
            json!({"type": "safety_concern.resolved", "by": A, "outcome": "referred",
                   "notes": "Spoke with the family; referred to the district psychologist."}),
        );
    }
}
