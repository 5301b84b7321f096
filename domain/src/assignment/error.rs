//! Why an assignment command was rejected.

/// Why an assignment command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("the assignment already exists")]
    AlreadyExists,
    #[error("the assignment does not exist")]
    NotFound,
    #[error("the class does not exist")]
    ClassNotFound,
    #[error("the class is archived")]
    ClassArchived,
    #[error("the tool is not offered to this class")]
    ToolNotOffered,
    #[error("the instructions are longer than 20000 characters")]
    InstructionsTooLong,
    #[error("the maximum score must be between 1 and 10000")]
    InvalidMaxScore,
    #[error("the maximum score can only change while the assignment is a draft")]
    MaxScoreFixed,
    #[error("the assignment is {0}, not {1}")]
    WrongStatus(&'static str, &'static str),
    #[error("the assignment is closed")]
    Closed,
    #[error("the assignment is archived")]
    Archived,
}
