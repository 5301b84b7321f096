//! Tools: the AI tools students work with, offered by a group to its classes.
//!
//! `aggregate.rs` holds the `Tool` state with its decisions (created in an active group, a
//! bounded description), `command.rs` what can be asked of a tool, `event.rs` what happened
//! to it (with golden-JSON tests) and `error.rs` why a command was rejected.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{Tool, MAX_DESCRIPTION_CHARS};
pub use command::{ToolCommand, ToolGroup};
pub use error::ToolError;
pub use event::ToolEvent;

/// A tool's identity. Also its stream id.
pub type ToolId = uuid::Uuid;

/// Tool names follow the group-name rules.
pub type ToolName = crate::group::GroupName;
