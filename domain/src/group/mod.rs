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
