//! Notification use cases: creating them (for the reactions subscriber, idempotently), reading
//! them, email preferences, and the outcome of email deliveries.

use std::collections::BTreeMap;
use std::sync::Arc;

use domain::email::{EmailCommand, EmailDelivery, EmailError, ForNotification};
use domain::notification::{
    Notification, NotificationCommand, NotificationError, NotificationId, NotificationKind,
    NotificationPreferences, NotificationSubject, PreferencesCommand, PreferencesError,
};
use domain::user::UserId;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::AppendListener;
use crate::{Appended, CommandContext, CommandError, CommandRunner, StoreError};

/// The namespace of notification ids (UUID v5 of cause, kind and recipient).
const NOTIFICATION_NAMESPACE: Uuid = Uuid::from_u128(0x7261_7074_6e6f_7469_6669_6361_7469_6f6e);

/// The id of the notification that `cause_event_id` gives `recipient_id`: the same inputs
/// always give the same id, so a reaction that runs twice creates one notification.
pub fn notification_id(cause_event_id: Uuid, kind: NotificationKind, recipient_id: UserId) -> Uuid {
    let name = format!("{cause_event_id}/{}/{recipient_id}", kind.as_str());
    Uuid::new_v5(&NOTIFICATION_NAMESPACE, name.as_bytes())
}

/// A notification to create.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub recipient_id: UserId,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub subject: NotificationSubject,
    pub email: bool,
    pub cause_event_id: Uuid,
}

pub struct Notifications {
    notifications: CommandRunner<Notification>,
    preferences: CommandRunner<NotificationPreferences>,
    emails: CommandRunner<EmailDelivery>,
}

impl Notifications {
    pub fn new(pool: PgPool, listener: Arc<dyn AppendListener>) -> Self {
        Self {
            notifications: CommandRunner::new(pool.clone(), listener.clone()),
            preferences: CommandRunner::new(pool.clone(), listener.clone()),
            emails: CommandRunner::new(pool, listener),
        }
    }

    /// Creates the notification unless it exists already (then `Ok(None)`): safe to repeat.
    pub async fn create(
        &self,
        context: &CommandContext,
        new: NewNotification,
    ) -> Result<Option<(NotificationId, Appended)>, StoreError> {
        let id = notification_id(new.cause_event_id, new.kind, new.recipient_id);
        let command = NotificationCommand::Create {
            recipient_id: new.recipient_id,
            kind: new.kind,
            title: new.title,
            body: new.body,
            subject: Box::new(new.subject),
            email: new.email,
            cause_event_id: new.cause_event_id,
        };
        match self.notifications.execute_new(id, command, context).await {
            Ok(appended) => Ok(Some((id, appended))),
            // Created before (a repeated reaction), or concurrently by another run of it.
            Err(CommandError::Rejected(NotificationError::AlreadyCreated))
            | Err(CommandError::Conflict) => Ok(None),
            Err(CommandError::Rejected(other)) => Err(StoreError::Internal(other.into())),
            Err(CommandError::Store(e)) => Err(e),
        }
    }

    /// Marks the notification read for `by`, its recipient (anyone else: `NotFound`).
    pub async fn mark_read(
        &self,
        context: &CommandContext,
        id: NotificationId,
        by: UserId,
    ) -> Result<Appended, CommandError<NotificationError>> {
        self.notifications
            .execute(id, NotificationCommand::MarkRead { by }, context)
            .await
    }

    /// A user's preferences from the write side (always current).
    pub async fn preferences(
        &self,
        user_id: UserId,
    ) -> Result<NotificationPreferences, StoreError> {
        Ok(self.preferences.load(user_id).await?.0)
    }

    pub async fn set_email_preferences(
        &self,
        context: &CommandContext,
        user_id: UserId,
        changes: BTreeMap<NotificationKind, bool>,
    ) -> Result<Appended, CommandError<PreferencesError>> {
        self.preferences
            .execute(user_id, PreferencesCommand::SetEmail(changes), context)
            .await
    }

    /// The delivery state of a notification's email.
    pub async fn email_delivery(&self, id: NotificationId) -> Result<EmailDelivery, StoreError> {
        Ok(self.emails.load(id).await?.0)
    }

    pub async fn record_email(
        &self,
        context: &CommandContext,
        id: NotificationId,
        command: EmailCommand,
    ) -> Result<Appended, CommandError<EmailError>> {
        self.emails
            .execute(id, ForNotification(id, command), context)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_ids_are_deterministic_and_distinct() {
        let cause = Uuid::from_u128(1);
        let a = notification_id(cause, NotificationKind::Misbehavior, Uuid::from_u128(2));
        assert_eq!(
            a,
            notification_id(cause, NotificationKind::Misbehavior, Uuid::from_u128(2))
        );
        assert_ne!(
            a,
            notification_id(cause, NotificationKind::Misbehavior, Uuid::from_u128(3))
        );
        assert_ne!(
            a,
            notification_id(cause, NotificationKind::Struggle, Uuid::from_u128(2))
        );
    }
}
