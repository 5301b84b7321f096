//! What can be asked of an assessment.

use super::{CriterionScore, Trace};
use crate::class::ClassId;
use crate::group::GroupId;
use crate::learning::LearningSessionId;
use crate::user::UserId;

/// What can be asked of an assessment.
#[derive(Debug, Clone, PartialEq)]
pub enum AssessmentCommand {
    /// The application looked up the learning session (its class, group and student) and
    /// computed the content hash.
    Record {
        learning_session_id: LearningSessionId,
        class_id: ClassId,
        group_id: GroupId,
        student_id: UserId,
        assignment_id: Option<uuid::Uuid>,
        scores: Vec<CriterionScore>,
        confidence: f64,
        trace: Box<Trace>,
    },
    Review {
        reviewer_id: UserId,
        notes: Option<String>,
    },
}
