//! The notification aggregates: `Notification` (created once for its recipient, read only by
//! them) and `NotificationPreferences` (a user's email choices per kind), with their
//! given/when/then tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    NotificationCommand, NotificationError, NotificationEvent, NotificationKind,
    PreferencesCommand, PreferencesError, PreferencesEvent,
};
use crate::user::UserId;
use crate::Aggregate;

/// The write-side state of one notification: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub recipient_id: Option<UserId>,
    pub read: bool,
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
    use crate::notification::NotificationSubject;

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
