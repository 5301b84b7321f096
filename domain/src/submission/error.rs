//! Why a submission command was rejected.

/// Why a submission command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    #[error("the student already has a submission for this assignment")]
    AlreadyExists,
    #[error("the submission does not exist")]
    NotFound,
    #[error("the assignment is {0}: it takes no submissions")]
    AssignmentNotOpen(&'static str),
    #[error("the content is longer than 50000 characters")]
    ContentTooLong,
    #[error("a submission needs content or evidence")]
    Empty,
    #[error("at most 20 learning sessions as evidence")]
    TooMuchEvidence,
    #[error("learning session {0} is not one of the student's in this class")]
    NotOwnEvidence(uuid::Uuid),
    #[error("the due time has passed: the submission can no longer change")]
    PastDue,
    #[error("the submission is graded: it can no longer change")]
    Graded,
    #[error("the submission has not been submitted")]
    NotSubmitted,
    #[error("the score is above the assignment's maximum of {0}")]
    ScoreAboveMaximum(u32),
    #[error("the assignment is graded with feedback only: no score")]
    NotScored,
    #[error("the assignment is scored: a grade needs a score")]
    ScoreRequired,
}
