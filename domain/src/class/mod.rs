//! Classes: where teachers and students meet, inside a group.
//!
//! `aggregate.rs` holds the `Class` state with its decisions (its group must be active, its
//! members are teachers and students, one role each, its own theme), `command.rs` what can be asked of a
//! class, `event.rs` what happened to it (with golden-JSON tests), `error.rs` why a command
//! was rejected and `role.rs` a member's role.

mod aggregate;
mod command;
mod error;
mod event;
mod role;

pub use aggregate::Class;
pub use command::{ClassCommand, ClassGroup};
pub use error::ClassError;
pub use event::ClassEvent;
pub use role::ClassRole;

/// A class's identity. Also its stream id.
pub type ClassId = uuid::Uuid;

/// Class names follow the same rules as group names.
pub type ClassName = crate::group::GroupName;
