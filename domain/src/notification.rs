//! Notifications: what a user is told about (in the app and, depending on their preferences,
//! by email), and their per-kind email preferences.
//!
//! Notifications are created by the reactions subscriber, one stream per notification with a
//! deterministic id (derived from the causing event and the recipient), so that re-running a
//! reaction after a crash or a replay is refused as `AlreadyCreated` instead of notifying twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::user::UserId;
use crate::{Aggregate, DomainEvent};

pub type NotificationId = uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Misbehavior,
    Struggle,
    SafetyConcern,
    AssessmentReview,
}

impl NotificationKind {
    pub const ALL: [Self; 4] = [
        Self::Misbehavior,
        Self::Struggle,
        Self::SafetyConcern,
        Self::AssessmentReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Misbehavior => "misbehavior",
            Self::Struggle => "struggle",
            Self::SafetyConcern => "safety_concern",
            Self::AssessmentReview => "assessment_review",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// Whether email is on for this kind when the user has not chosen: the urgent kinds
    /// (misbehavior of medium severity or above, safety concerns) are emailed, the rest are
    /// in-app only.
    pub fn email_by_default(self) -> bool {
        matches!(self, Self::Misbehavior | Self::SafetyConcern)
    }
}

/// What a notification is about; rendered into emails, shown in the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSubject {
    pub class_id: uuid::Uuid,
    pub class_name: String,
    pub learning_session_id: Option<uuid::Uuid>,
    pub assessment_id: Option<uuid::Uuid>,
    pub student_id: Option<UserId>,
    pub student_name: Option<String>,
    /// Kind-specific facts (severity, category, topic, urgency, confidence, …).
    pub details: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub recipient_id: Option<UserId>,
    pub read: bool,
}

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("the notification already exists")]
    AlreadyCreated,
    #[error("the notification does not exist")]
    NotFound,
}

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

impl Aggregate for Notification {
    const TYPE: &'static str = "notification";
    type Command = NotificationCommand;
    type Event = NotificationEvent;
    type Error = NotificationError;

    fn handle(
        &self,
        command: NotificationCommand,
    ) -> Result<Vec<NotificationEvent>, NotificationError> {
        match command {
            NotificationCommand::Create {
                recipient_id,
                kind,
                title,
                body,
                subject,
                email,
                cause_event_id,
            } => {
                if self.recipient_id.is_some() {
                    return Err(NotificationError::AlreadyCreated);
                }
                Ok(vec![NotificationEvent::Created {
                    recipient_id,
                    kind,
                    title,
                    body,
                    subject,
                    email,
                    cause_event_id,
                }])
            }
            // Only the recipient can read it; to anyone else it does not exist.
            NotificationCommand::MarkRead { by } => match self.recipient_id {
                Some(recipient) if recipient == by => Ok(if self.read {
                    vec![]
                } else {
                    vec![NotificationEvent::Read]
                }),
                _ => Err(NotificationError::NotFound),
            },
        }
    }

    fn apply(&mut self, event: NotificationEvent) {
        match event {
            NotificationEvent::Created { recipient_id, .. } => {
                self.recipient_id = Some(recipient_id)
            }
            NotificationEvent::Read => self.read = true,
        }
    }
}

/// A user's choices: email on or off per kind (kinds not mentioned use their default). One
/// stream per user, with the user's id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationPreferences {
    pub email: BTreeMap<NotificationKind, bool>,
}

impl NotificationPreferences {
    pub fn email_for(&self, kind: NotificationKind) -> bool {
        self.email
            .get(&kind)
            .copied()
            .unwrap_or_else(|| kind.email_by_default())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreferencesCommand {
    /// Sets the given kinds; the others keep their current value.
    SetEmail(BTreeMap<NotificationKind, bool>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreferencesError {}

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

impl Aggregate for NotificationPreferences {
    const TYPE: &'static str = "notification_preferences";
    type Command = PreferencesCommand;
    type Event = PreferencesEvent;
    type Error = PreferencesError;

    fn handle(
        &self,
        command: PreferencesCommand,
    ) -> Result<Vec<PreferencesEvent>, PreferencesError> {
        let PreferencesCommand::SetEmail(changes) = command;
        let current: BTreeMap<NotificationKind, bool> = NotificationKind::ALL
            .into_iter()
            .map(|k| (k, self.email_for(k)))
            .collect();
        let mut email = current.clone();
        email.extend(changes);
        if email == current && !self.email.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![PreferencesEvent::Changed { email }])
    }

    fn apply(&mut self, event: PreferencesEvent) {
        let PreferencesEvent::Changed { email } = event;
        self.email = email;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};

    fn created(recipient: u128) -> NotificationEvent {
        NotificationEvent::Created {
            recipient_id: UserId::from_u128(recipient),
            kind: NotificationKind::Struggle,
            title: "t".into(),
            body: "b".into(),
            subject: Box::new(NotificationSubject {
                class_id: uuid::Uuid::from_u128(5),
                class_name: "Algebra".into(),
                learning_session_id: None,
                assessment_id: None,
                student_id: None,
                student_name: None,
                details: BTreeMap::new(),
            }),
            email: false,
            cause_event_id: uuid::Uuid::from_u128(6),
        }
    }

    #[test]
    fn created_once() {
        let NotificationEvent::Created {
            recipient_id,
            kind,
            title,
            body,
            subject,
            email,
            cause_event_id,
        } = created(1)
        else {
            unreachable!()
        };
        let command = NotificationCommand::Create {
            recipient_id,
            kind,
            title,
            body,
            subject,
            email,
            cause_event_id,
        };
        given_no_previous_events::<Notification>()
            .when(command.clone())
            .then_expect_events(vec![created(1)]);
        given::<Notification>(vec![created(1)])
            .when(command)
            .then_expect_error(NotificationError::AlreadyCreated);
    }

    #[test]
    fn only_the_recipient_reads_it_once() {
        given::<Notification>(vec![created(1)])
            .when(NotificationCommand::MarkRead {
                by: UserId::from_u128(1),
            })
            .then_expect_events(vec![NotificationEvent::Read]);
        given::<Notification>(vec![created(1), NotificationEvent::Read])
            .when(NotificationCommand::MarkRead {
                by: UserId::from_u128(1),
            })
            .then_expect_events(vec![]);
        given::<Notification>(vec![created(1)])
            .when(NotificationCommand::MarkRead {
                by: UserId::from_u128(2),
            })
            .then_expect_error(NotificationError::NotFound);
    }

    #[test]
    fn preferences_merge_and_default() {
        let prefs = NotificationPreferences::default();
        assert!(prefs.email_for(NotificationKind::Misbehavior));
        assert!(!prefs.email_for(NotificationKind::Struggle));
        let all = |m: bool, s: bool| {
            BTreeMap::from([
                (NotificationKind::Misbehavior, m),
                (NotificationKind::Struggle, s),
                (NotificationKind::SafetyConcern, true),
                (NotificationKind::AssessmentReview, false),
            ])
        };
        given_no_previous_events::<NotificationPreferences>()
            .when(PreferencesCommand::SetEmail(BTreeMap::from([(
                NotificationKind::Struggle,
                true,
            )])))
            .then_expect_events(vec![PreferencesEvent::Changed {
                email: all(true, true),
            }]);
        given::<NotificationPreferences>(vec![PreferencesEvent::Changed {
            email: all(false, true),
        }])
        .when(PreferencesCommand::SetEmail(BTreeMap::from([(
            NotificationKind::Misbehavior,
            false,
        )])))
        .then_expect_events(vec![]);
    }
}
