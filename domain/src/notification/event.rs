//! What happened to a notification and to a user's notification preferences: the events and
//! their type strings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{NotificationKind, NotificationSubject};
use crate::user::UserId;
use crate::DomainEvent;

/// What happened to a notification. The JSON form is a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum NotificationEvent {
    #[serde(rename = "notification.created")]
    Created {
        recipient_id: UserId,
        kind: NotificationKind,
        title: String,
        body: String,
        subject: Box<NotificationSubject>,
        email: bool,
        cause_event_id: uuid::Uuid,
    },
    #[serde(rename = "notification.read")]
    Read,
}

impl DomainEvent for NotificationEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created { .. } => "notification.created",
            Self::Read => "notification.read",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

/// What happened to a user's notification preferences. The JSON form is a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PreferencesEvent {
    /// The complete email choices after the change.
    #[serde(rename = "notification.preferences_changed")]
    Changed {
        email: BTreeMap<NotificationKind, bool>,
    },
}

impl DomainEvent for PreferencesEvent {
    fn event_type(&self) -> &'static str {
        "notification.preferences_changed"
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}
