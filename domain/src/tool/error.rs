//! Why a tool command was rejected.

/// Why a tool command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("the tool already exists")]
    AlreadyExists,
    #[error("the tool does not exist")]
    NotFound,
    #[error("the tool is archived")]
    Archived,
    #[error("the group does not exist")]
    GroupNotFound,
    #[error("the group is archived")]
    GroupArchived,
    #[error("the description is longer than 2000 characters")]
    DescriptionTooLong,
}
