//! What can be asked of a class, and the facts about its group the application looks up
//! first.

use super::{ClassName, ClassRole};
use crate::group::GroupId;
use crate::theme::Theme;
use crate::user::UserId;

/// What can be asked of a class.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassCommand {
    Create {
        name: ClassName,
        group: ClassGroup,
    },
    Rename {
        name: ClassName,
    },
    Archive,
    Move {
        group: ClassGroup,
    },
    SetMember {
        user_id: UserId,
        role: ClassRole,
    },
    RemoveMember {
        user_id: UserId,
    },
    /// Replace the class's own theme (a value left out is inherited from its group).
    SetTheme {
        theme: Theme,
    },
}

/// The group a class is (to be) in, as looked up before the command is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassGroup {
    Active(GroupId),
    Archived(GroupId),
    Missing(GroupId),
}
