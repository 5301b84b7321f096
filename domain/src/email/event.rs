//! What happened to an email delivery: the events and their type strings.

use serde::{Deserialize, Serialize};

use crate::notification::{NotificationId, NotificationKind};
use crate::user::UserId;
use crate::DomainEvent;

/// What happened to an email delivery. The JSON form is a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EmailEvent {
    #[serde(rename = "email.delivered")]
    Delivered {
        notification_id: NotificationId,
        recipient_id: UserId,
        kind: NotificationKind,
        attempt: u32,
    },
    #[serde(rename = "email.delivery_failed")]
    DeliveryFailed {
        notification_id: NotificationId,
        recipient_id: UserId,
        kind: NotificationKind,
        attempt: u32,
        error: String,
    },
    #[serde(rename = "email.dead_lettered")]
    DeadLettered {
        notification_id: NotificationId,
        recipient_id: UserId,
        kind: NotificationKind,
        attempts: u32,
        last_error: String,
    },
    #[serde(rename = "email.retry_requested")]
    RetryRequested {
        notification_id: NotificationId,
        by: UserId,
    },
}

impl DomainEvent for EmailEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "email.delivered",
            Self::DeliveryFailed { .. } => "email.delivery_failed",
            Self::DeadLettered { .. } => "email.dead_lettered",
            Self::RetryRequested { .. } => "email.retry_requested",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}
