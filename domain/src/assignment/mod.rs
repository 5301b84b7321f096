//! Assignments: work a teacher sets in a class, which its students submit.
//!
//! `aggregate.rs` holds the `Assignment` state with its decisions (a class that exists and is
//! active, a tool offered to the class, the `draft` → `published` → `closed` life, archived
//! for good), `command.rs` what can be asked of an assignment (with the facts the application
//! looks up first), `event.rs` what happened to it (golden-JSON tests), `error.rs` why a
//! command was rejected.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{Assignment, AssignmentStatus, MAX_INSTRUCTIONS_CHARS, MAX_SCORE_LIMIT};
pub use command::{AssignmentClass, AssignmentCommand, AssignmentTool, AssignmentUpdate};
pub use error::AssignmentError;
pub use event::AssignmentEvent;

/// An assignment's identity. Also its stream id.
pub type AssignmentId = uuid::Uuid;

/// Assignment titles follow the group-name rules (1 to 200 readable characters).
pub type AssignmentTitle = crate::group::GroupName;
