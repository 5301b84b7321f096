//! Why a group command was rejected.

/// Why a group command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("the group already exists")]
    AlreadyExists,
    #[error("the group does not exist")]
    NotFound,
    #[error("the group is archived")]
    Archived,
    #[error("the parent group does not exist")]
    ParentNotFound,
    #[error("the parent group is archived")]
    ParentArchived,
    #[error("a group cannot move into its own subtree")]
    Cycle,
    #[error("the user is not a member of the group")]
    MemberNotFound,
    #[error("the last admin of a top-level group can only be removed by a system admin")]
    LastAdmin,
}
