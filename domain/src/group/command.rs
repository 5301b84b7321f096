use super::{GroupId, GroupName};

/// What can be asked of a group.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupCommand {
    /// Create the group. `parent` is what the application found out about the requested parent
    /// (a fact from outside this aggregate).
    Create {
        name: GroupName,
        parent: ParentGroup,
    },
    Rename {
        name: GroupName,
    },
    Archive,
}

/// The requested parent of a new group, as looked up before the command is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentGroup {
    /// A top-level group.
    None,
    Active(GroupId),
    Archived(GroupId),
    Missing(GroupId),
}
