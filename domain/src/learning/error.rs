//! Why a learning session command was rejected.

use super::MAX_MESSAGE_CHARS;

/// Why a learning session command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearningSessionError {
    #[error("the learning session already exists")]
    AlreadyStarted,
    #[error("the learning session does not exist")]
    NotFound,
    #[error("the learning session is completed")]
    Completed,
    #[error("the learning session is paused")]
    Paused,
    #[error("the learning session is not paused")]
    NotPaused,
    #[error("the message is empty or longer than {MAX_MESSAGE_CHARS} characters")]
    MessageSize,
    #[error("a text field is empty or too long")]
    TextSize,
}
