//! What happened to an assignment: the events and their JSON contract (golden tests).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AssignmentTitle;
use crate::DomainEvent;

/// What happened to an assignment. The JSON form is a contract (see the golden tests below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AssignmentEvent {
    #[serde(rename = "assignment.created")]
    Created {
        class_id: Uuid,
        title: AssignmentTitle,
        instructions: String,
        tool_id: Option<Uuid>,
        due_at: Option<DateTime<Utc>>,
        max_score: Option<u32>,
    },
    /// Every value after the change (not only the changed ones).
    #[serde(rename = "assignment.updated")]
    Updated {
        title: AssignmentTitle,
        instructions: String,
        tool_id: Option<Uuid>,
        due_at: Option<DateTime<Utc>>,
        max_score: Option<u32>,
    },
    #[serde(rename = "assignment.published")]
    Published,
    #[serde(rename = "assignment.closed")]
    Closed,
    #[serde(rename = "assignment.archived")]
    Archived,
}

impl DomainEvent for AssignmentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created { .. } => "assignment.created",
            Self::Updated { .. } => "assignment.updated",
            Self::Published => "assignment.published",
            Self::Closed => "assignment.closed",
            Self::Archived => "assignment.archived",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

#[cfg(test)]
mod golden {
    use super::*;
    use crate::aggregate::testing::assert_golden;
    use serde_json::json;

    fn title() -> AssignmentTitle {
        AssignmentTitle::parse("Fractions, week 3").unwrap()
    }

    #[test]
    fn created() {
        assert_golden(
            AssignmentEvent::Created {
                class_id: Uuid::from_u128(1),
                title: title(),
                instructions: "Add 1/2 and 1/3.".into(),
                tool_id: Some(Uuid::from_u128(2)),
                due_at: Some("2026-12-11T16:00:00Z".parse().unwrap()),
                max_score: Some(10),
            },
            json!({"type": "assignment.created",
                   "class_id": "00000000-0000-0000-0000-000000000001",
                   "title": "Fractions, week 3", "instructions": "Add 1/2 and 1/3.",
                   "tool_id": "00000000-0000-0000-0000-000000000002",
                   "due_at": "2026-12-11T16:00:00Z", "max_score": 10}),
        );
    }

    #[test]
    fn updated() {
        assert_golden(
            AssignmentEvent::Updated {
                title: title(),
                instructions: String::new(),
                tool_id: None,
                due_at: None,
                max_score: None,
            },
            json!({"type": "assignment.updated", "title": "Fractions, week 3",
                   "instructions": "", "tool_id": null, "due_at": null, "max_score": null}),
        );
    }

    #[test]
    fn life() {
        assert_golden(
            AssignmentEvent::Published,
            json!({"type": "assignment.published"}),
        );
        assert_golden(
            AssignmentEvent::Closed,
            json!({"type": "assignment.closed"}),
        );
        assert_golden(
            AssignmentEvent::Archived,
            json!({"type": "assignment.archived"}),
        );
    }
}
