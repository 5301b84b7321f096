//! Why a class command was rejected.

/// Why a class command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassError {
    #[error("the class already exists")]
    AlreadyExists,
    #[error("the class does not exist")]
    NotFound,
    #[error("the class is archived")]
    Archived,
    #[error("the group does not exist")]
    GroupNotFound,
    #[error("the group is archived")]
    GroupArchived,
    #[error("the user is not a member of the class")]
    MemberNotFound,
}
