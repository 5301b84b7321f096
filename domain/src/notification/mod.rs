//! Notifications: what a user is told about (in the app and, depending on their preferences,
//! by email), and their per-kind email preferences.
//!
//! Notifications are created by the reactions subscriber, one stream per notification with a
//! deterministic id (derived from the causing event and the recipient), so that re-running a
//! reaction after a crash or a replay is refused as `AlreadyCreated` instead of notifying twice.
//!
//! Two aggregates live here: `Notification` (one stream per notification) and
//! `NotificationPreferences` (one stream per user). `aggregate.rs` holds both states with
//! their decisions, `command.rs` what can be asked of them, `event.rs` what happened to them,
//! `error.rs` why a command was rejected and `values.rs` the kinds of notification and what a
//! notification is about.

mod aggregate;
mod command;
mod error;
mod event;
mod values;

pub use aggregate::{Notification, NotificationPreferences};
pub use command::{NotificationCommand, PreferencesCommand};
pub use error::{NotificationError, PreferencesError};
pub use event::{NotificationEvent, PreferencesEvent};
pub use values::{NotificationKind, NotificationSubject};

/// A notification's identity. Also its stream id.
pub type NotificationId = uuid::Uuid;
