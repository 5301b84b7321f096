//! What can be asked of a tool, and the facts about its group the application looks up
//! first.

use super::ToolName;
use crate::group::GroupId;

/// What can be asked of a tool.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCommand {
    Create {
        group: ToolGroup,
        name: ToolName,
        description: String,
    },
    Update {
        name: Option<ToolName>,
        description: Option<String>,
    },
    Archive,
}

/// The group a tool is created in, as looked up before the command is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolGroup {
    Active(GroupId),
    Archived(GroupId),
    Missing(GroupId),
}
