//! What can be asked of a notification and of a user's notification preferences.

use std::collections::BTreeMap;

use super::{NotificationKind, NotificationSubject};
use crate::user::UserId;

/// What can be asked of a notification.
#[derive(Debug, Clone, PartialEq)]
pub enum NotificationCommand {
    Create {
        recipient_id: UserId,
        kind: NotificationKind,
        title: String,
        body: String,
        subject: Box<NotificationSubject>,
        /// Whether to email it (the recipient's preference when it was created).
        email: bool,
        /// The event this notification reacts to.
        cause_event_id: uuid::Uuid,
    },
    MarkRead {
        by: UserId,
    },
}

/// What can be asked of a user's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreferencesCommand {
    /// Sets the given kinds; the others keep their current value.
    SetEmail(BTreeMap<NotificationKind, bool>),
}
