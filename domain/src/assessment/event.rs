//! What happened to an assessment: the events and their type strings.

use serde::{Deserialize, Serialize};

use super::{CriterionScore, Trace};
use crate::class::ClassId;
use crate::group::GroupId;
use crate::learning::LearningSessionId;
use crate::user::UserId;
use crate::DomainEvent;

/// What happened to an assessment. The JSON form is a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AssessmentEvent {
    #[serde(rename = "assessment.recorded")]
    Recorded {
        learning_session_id: LearningSessionId,
        class_id: ClassId,
        group_id: GroupId,
        student_id: UserId,
        assignment_id: Option<uuid::Uuid>,
        scores: Vec<CriterionScore>,
        confidence: f64,
        trace: Box<Trace>,
    },
    #[serde(rename = "assessment.reviewed")]
    Reviewed {
        reviewer_id: UserId,
        notes: Option<String>,
    },
}

impl DomainEvent for AssessmentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Recorded { .. } => "assessment.recorded",
            Self::Reviewed { .. } => "assessment.reviewed",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}
