//! Why a sign-in session command was rejected.

/// Why a sign-in session command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthSessionError {
    #[error("the session already exists")]
    AlreadyStarted,
    #[error("the session does not exist")]
    NotFound,
    #[error("the session has ended")]
    Ended,
}
