//! What can be asked of an assignment, and the facts about its class and tool the
//! application looks up first.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::AssignmentTitle;

/// What can be asked of an assignment.
#[derive(Debug, Clone, PartialEq)]
pub enum AssignmentCommand {
    Create {
        class: AssignmentClass,
        title: AssignmentTitle,
        instructions: String,
        tool: Option<AssignmentTool>,
        due_at: Option<DateTime<Utc>>,
        /// The highest score a grade may give; `None`: graded with feedback only.
        max_score: Option<u32>,
    },
    Update(AssignmentUpdate),
    Publish,
    Close,
    Archive,
}

/// A change to an assignment: `None` keeps a value; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssignmentUpdate {
    pub title: Option<AssignmentTitle>,
    pub instructions: Option<String>,
    pub tool: Option<Option<AssignmentTool>>,
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub max_score: Option<Option<u32>>,
}

/// The class an assignment is created in, as looked up before the command is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentClass {
    Active(Uuid),
    Archived(Uuid),
    Missing(Uuid),
}

/// The tool an assignment names, as looked up: offered to the class (active, of the class's
/// group or a group above it) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentTool {
    Offered(Uuid),
    NotOffered(Uuid),
}
