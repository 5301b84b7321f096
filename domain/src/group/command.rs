//! What can be asked of a group, and the facts about its parent the application looks up
//! first.

use super::{GroupId, GroupName, GroupRole};
use crate::theme::Theme;
use crate::user::UserId;

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
    /// Move under another parent (`ParentGroup::None`: to the top level).
    /// `new_parent_path` is the new parent's chain of ids from the root down to itself.
    Move {
        group_id: GroupId,
        parent: ParentGroup,
        new_parent_path: Vec<GroupId>,
    },
    /// Add a member, or change the role of an existing one.
    SetMember {
        user_id: UserId,
        role: GroupRole,
        by_system_admin: bool,
    },
    RemoveMember {
        user_id: UserId,
        by_system_admin: bool,
    },
    /// Replace the group's own theme (a value left out is inherited from above).
    SetTheme {
        theme: Theme,
    },
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

impl ParentGroup {
    /// Whether the group exists and is not archived.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Active(_))
    }
}
