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
}
