//! What can be asked of an email delivery.

use crate::notification::{NotificationId, NotificationKind};
use crate::user::UserId;

/// What can be asked of an email delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailCommand {
    RecordDelivered {
        recipient_id: UserId,
        kind: NotificationKind,
    },
    RecordFailure {
        recipient_id: UserId,
        kind: NotificationKind,
        error: String,
        /// The last attempt of the cycle: dead-letter it.
        last: bool,
    },
    RequestRetry {
        by: UserId,
    },
}

/// The command with the stream's id, which the events repeat for the read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForNotification(pub NotificationId, pub EmailCommand);
