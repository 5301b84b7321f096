//! What happened to a tool: the events and their JSON contract (golden tests).

use serde::{Deserialize, Serialize};

use super::ToolName;
use crate::group::GroupId;
use crate::DomainEvent;

/// What happened to a tool. The JSON form is a contract (see the golden tests below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ToolEvent {
    #[serde(rename = "tool.created")]
    Created {
        group_id: GroupId,
        name: ToolName,
        description: String,
    },
    #[serde(rename = "tool.updated")]
    Updated { name: ToolName, description: String },
    #[serde(rename = "tool.archived")]
    Archived,
}

impl DomainEvent for ToolEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created { .. } => "tool.created",
            Self::Updated { .. } => "tool.updated",
            Self::Archived => "tool.archived",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    #[test]
    fn golden_json() {
        let created = ToolEvent::Created {
            group_id: GroupId::from_u128(1),
            name: ToolName::parse("Socratic tutor").unwrap(),
            description: "Asks questions".into(),
        };
        assert_eq!(
            serde_json::to_value(created).unwrap(),
            serde_json::json!({"type": "tool.created",
                               "group_id": "00000000-0000-0000-0000-000000000001",
                               "name": "Socratic tutor", "description": "Asks questions"})
        );
    }
}
