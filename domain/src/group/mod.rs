//! Groups: the organizational tree (district → school → department) that classes, tools and
//! memberships hang from.

mod aggregate;
mod command;
mod error;
mod event;
mod name;

pub use aggregate::Group;
pub use command::{GroupCommand, ParentGroup};
pub use error::GroupError;
pub use event::GroupEvent;
pub use name::{GroupName, InvalidGroupName};

/// A group's identity. Also its stream id in the event log.
pub type GroupId = uuid::Uuid;

/// A user's role in a group. Admins and counselors hold their role over the whole subtree.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    Admin,
    Counselor,
    Member,
}

impl GroupRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Counselor => "counselor",
            Self::Member => "member",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "counselor" => Some(Self::Counselor),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}
