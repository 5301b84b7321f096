//! What happened in a learning session: the events and their JSON contract (golden tests).
//! The type strings are data in the log and keep their historical prefixes (`session.`,
//! `behavior.`, `learning.`, `safety.`).

use serde::{Deserialize, Serialize};

use super::{MessageRole, Severity, Urgency};
use crate::class::ClassId;
use crate::group::GroupId;
use crate::tool::ToolId;
use crate::user::UserId;
use crate::DomainEvent;

/// What happened in a learning session. The JSON form is a contract (see the golden tests
/// below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum LearningSessionEvent {
    #[serde(rename = "session.started")]
    Started {
        student_id: UserId,
        class_id: ClassId,
        group_id: GroupId,
        tool_id: ToolId,
    },
    #[serde(rename = "session.message_posted")]
    MessagePosted {
        role: MessageRole,
        content: String,
        /// Set on a workflow's message (absent on the others).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<uuid::Uuid>,
    },
    #[serde(rename = "behavior.misbehavior_detected")]
    MisbehaviorDetected {
        category: String,
        severity: Severity,
        evidence: String,
    },
    #[serde(rename = "learning.struggle_detected")]
    StruggleDetected {
        topic: String,
        indicators: Vec<String>,
        duration_seconds: u32,
    },
    #[serde(rename = "safety.concern_detected")]
    SafetyConcernDetected {
        concern_type: String,
        urgency: Urgency,
        evidence: String,
    },
    #[serde(rename = "learning.recovery_detected")]
    RecoveryDetected { topic: String },
    #[serde(rename = "session.paused")]
    Paused { reason: String },
    #[serde(rename = "session.resumed")]
    Resumed { reason: String },
    #[serde(rename = "session.completed")]
    Completed {
        summary: String,
        topics_covered: Vec<String>,
    },
}

impl DomainEvent for LearningSessionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Started { .. } => "session.started",
            Self::MessagePosted { .. } => "session.message_posted",
            Self::MisbehaviorDetected { .. } => "behavior.misbehavior_detected",
            Self::StruggleDetected { .. } => "learning.struggle_detected",
            Self::SafetyConcernDetected { .. } => "safety.concern_detected",
            Self::RecoveryDetected { .. } => "learning.recovery_detected",
            Self::Paused { .. } => "session.paused",
            Self::Resumed { .. } => "session.resumed",
            Self::Completed { .. } => "session.completed",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

#[cfg(test)]
mod golden {
    use super::*;
    use LearningSessionEvent as E;

    #[test]
    fn golden_json() {
        let event = E::SafetyConcernDetected {
            concern_type: "self_harm".into(),
            urgency: Urgency::SameDay,
            evidence: "…".into(),
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({"type": "safety.concern_detected", "concern_type": "self_harm",
                               "urgency": "same_day", "evidence": "…"})
        );
        assert_eq!(
            serde_json::to_value(E::Completed {
                summary: "s".into(),
                topics_covered: vec![]
            })
            .unwrap(),
            serde_json::json!({"type": "session.completed", "summary": "s", "topics_covered": []})
        );
    }

    #[test]
    fn recovery_detected() {
        assert_eq!(
            serde_json::to_value(E::RecoveryDetected {
                topic: "fractions".into()
            })
            .unwrap(),
            serde_json::json!({"type": "learning.recovery_detected", "topic": "fractions"})
        );
    }

    #[test]
    fn a_message_keeps_its_json_and_a_workflow_message_carries_its_id() {
        let plain = serde_json::json!({"type": "session.message_posted", "role": "student",
                                       "content": "hi"});
        let event: E = serde_json::from_value(plain.clone()).unwrap();
        assert_eq!(serde_json::to_value(&event).unwrap(), plain);
        let id = "0195a3a0-0000-7000-8000-000000000009";
        assert_eq!(
            serde_json::to_value(E::MessagePosted {
                role: MessageRole::Assistant,
                content: "c".into(),
                message_id: Some(id.parse().unwrap()),
            })
            .unwrap(),
            serde_json::json!({"type": "session.message_posted", "role": "assistant",
                               "content": "c", "message_id": id})
        );
    }
}
