//! Groups: the organizational tree (district → school → department) that classes, tools and
//! memberships hang from.
//!
//! `aggregate.rs` holds the `Group` state with its decisions (the members with their roles,
//! the last-admin rule, the move with its cycle check, its own theme), `command.rs` what can be asked of a
//! group, `event.rs` what happened to it (with golden-JSON tests), `error.rs` why a command
//! was rejected, `name.rs` and `role.rs` the value types.

mod aggregate;
mod command;
mod error;
mod event;
mod name;
mod role;

pub use aggregate::Group;
pub use command::{GroupCommand, ParentGroup};
pub use error::GroupError;
pub use event::GroupEvent;
pub use name::{GroupName, InvalidGroupName};
pub use role::GroupRole;

/// A group's identity. Also its stream id in the event log.
pub type GroupId = uuid::Uuid;
