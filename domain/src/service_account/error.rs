//! Why a service account command was rejected.

/// Why a service account command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceAccountError {
    #[error("the service account already exists")]
    AlreadyExists,
    #[error("the service account does not exist")]
    NotFound,
    #[error("the service account is revoked")]
    Revoked,
    #[error("a service account needs a name of 1 to 200 characters and at least one group")]
    Invalid,
    #[error("{0}")]
    UnreadableName(crate::name::UnreadableName),
}
