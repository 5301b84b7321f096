//! What can be asked of a learning session, and the detections the tutoring service reports.

use super::{MessageRole, Severity, Urgency};
use crate::class::ClassId;
use crate::group::GroupId;
use crate::tool::ToolId;
use crate::user::UserId;

/// What can be asked of a learning session.
#[derive(Debug, Clone, PartialEq)]
pub enum LearningSessionCommand {
    /// The application checked that the student is in the class and the tool is offered to
    /// the class's group.
    Start {
        student_id: UserId,
        class_id: ClassId,
        group_id: GroupId,
        tool_id: ToolId,
    },
    PostMessage {
        role: MessageRole,
        content: String,
    },
    RecordDetection(Detection),
    /// An assistant message from a workflow, with the id the workflow derived for it: posting
    /// the same id again changes nothing.
    PostWorkflowMessage {
        message_id: uuid::Uuid,
        content: String,
    },
    Pause {
        reason: String,
    },
    Resume {
        reason: String,
    },
    Complete {
        summary: String,
        topics_covered: Vec<String>,
    },
}

/// What the tutoring service noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    Misbehavior {
        category: String,
        severity: Severity,
        evidence: String,
    },
    Struggle {
        topic: String,
        indicators: Vec<String>,
        duration_seconds: u32,
    },
    SafetyConcern {
        concern_type: String,
        urgency: Urgency,
        evidence: String,
    },
    /// The student got past a topic they struggled with (a struggle intervention on it ends
    /// as `self_recovered`).
    Recovery { topic: String },
}
