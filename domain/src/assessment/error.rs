//! Why an assessment command was rejected.

use super::MAX_CRITERIA;

/// Why an assessment command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssessmentError {
    #[error("the assessment already exists")]
    AlreadyRecorded,
    #[error("the assessment does not exist")]
    NotFound,
    #[error("the assessment has already been reviewed")]
    AlreadyReviewed,
    #[error(
        "scores: between 1 and {MAX_CRITERIA} criteria, each with 0 <= score <= max and max > 0"
    )]
    InvalidScores,
    #[error("confidence must be between 0 and 1")]
    InvalidConfidence,
    #[error("{0} is empty or too long")]
    TextSize(&'static str),
}
