//! What happened to a submission: the events and their JSON contract (golden tests).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainEvent;

/// What happened to a submission. The JSON form is a contract (see the golden tests below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SubmissionEvent {
    #[serde(rename = "submission.created")]
    Created {
        assignment_id: Uuid,
        class_id: Uuid,
        student_id: Uuid,
        content: String,
        evidence: Vec<Uuid>,
    },
    /// What was submitted, as submitted; `attempt` counts from 1.
    #[serde(rename = "submission.submitted")]
    Submitted {
        assignment_id: Uuid,
        class_id: Uuid,
        student_id: Uuid,
        content: String,
        evidence: Vec<Uuid>,
        late: bool,
        attempt: u32,
    },
    #[serde(rename = "submission.graded")]
    Graded {
        by: Uuid,
        score: Option<u32>,
        max_score: Option<u32>,
        feedback: String,
    },
}

impl DomainEvent for SubmissionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created { .. } => "submission.created",
            Self::Submitted { .. } => "submission.submitted",
            Self::Graded { .. } => "submission.graded",
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

    #[test]
    fn created() {
        assert_golden(
            SubmissionEvent::Created {
                assignment_id: Uuid::from_u128(1),
                class_id: Uuid::from_u128(2),
                student_id: Uuid::from_u128(3),
                content: "5/6".into(),
                evidence: vec![Uuid::from_u128(4)],
            },
            json!({"type": "submission.created",
                   "assignment_id": "00000000-0000-0000-0000-000000000001",
                   "class_id": "00000000-0000-0000-0000-000000000002",
                   "student_id": "00000000-0000-0000-0000-000000000003",
                   "content": "5/6", "evidence": ["00000000-0000-0000-0000-000000000004"]}),
        );
    }

    #[test]
    fn submitted() {
        assert_golden(
            SubmissionEvent::Submitted {
                assignment_id: Uuid::from_u128(1),
                class_id: Uuid::from_u128(2),
                student_id: Uuid::from_u128(3),
                content: "5/6".into(),
                evidence: vec![],
                late: true,
                attempt: 2,
            },
            json!({"type": "submission.submitted",
                   "assignment_id": "00000000-0000-0000-0000-000000000001",
                   "class_id": "00000000-0000-0000-0000-000000000002",
                   "student_id": "00000000-0000-0000-0000-000000000003",
                   "content": "5/6", "evidence": [], "late": true, "attempt": 2}),
        );
    }

    #[test]
    fn graded() {
        assert_golden(
            SubmissionEvent::Graded {
                by: Uuid::from_u128(5),
                score: Some(9),
                max_score: Some(10),
                feedback: "Well reasoned".into(),
            },
            json!({"type": "submission.graded",
                   "by": "00000000-0000-0000-0000-000000000005",
                   "score": 9, "max_score": 10, "feedback": "Well reasoned"}),
        );
    }
}
