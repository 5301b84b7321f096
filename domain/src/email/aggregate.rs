//! The `EmailDelivery` aggregate: the state of one notification's email delivery, the
//! decisions (count the attempts, dead-letter the last, retry only a dead letter, delivered
//! is final) and their given/when/then tests.

use serde::{Deserialize, Serialize};

use super::{EmailCommand, EmailError, EmailEvent, ForNotification};
use crate::Aggregate;

/// The longest error text kept in an event.
pub const MAX_ERROR_CHARS: usize = 500;

/// Where the delivery stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Nothing tried yet, or attempts of the current cycle failed and more are due.
    #[default]
    Pending,
    Delivered,
    DeadLettered,
    /// A dead letter an admin asked to try again.
    RetryRequested,
}

/// The write-side state of one notification's email delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmailDelivery {
    pub status: DeliveryStatus,
    /// Attempts in the current cycle.
    pub attempts: u32,
}

impl EmailDelivery {
    /// Whether the worker still has to send this email.
    pub fn due(&self) -> bool {
        matches!(
            self.status,
            DeliveryStatus::Pending | DeliveryStatus::RetryRequested
        )
    }
}

impl Aggregate for EmailDelivery {
    const TYPE: &'static str = "email_delivery";
    type Command = ForNotification;
    type Event = EmailEvent;
    type Error = EmailError;

    fn handle(&self, command: ForNotification) -> Result<Vec<EmailEvent>, EmailError> {
        let ForNotification(notification_id, command) = command;
        match command {
            EmailCommand::RecordDelivered { recipient_id, kind } => {
                if self.status == DeliveryStatus::Delivered {
                    return Err(EmailError::AlreadyDelivered);
                }
                Ok(vec![EmailEvent::Delivered {
                    notification_id,
                    recipient_id,
                    kind,
                    attempt: self.attempts + 1,
                }])
            }
            EmailCommand::RecordFailure {
                recipient_id,
                kind,
                error,
                last,
            } => {
                if self.status == DeliveryStatus::Delivered {
                    return Err(EmailError::AlreadyDelivered);
                }
                let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
                let attempt = self.attempts + 1;
                let mut events = vec![EmailEvent::DeliveryFailed {
                    notification_id,
                    recipient_id,
                    kind,
                    attempt,
                    error: error.clone(),
                }];
                if last {
                    events.push(EmailEvent::DeadLettered {
                        notification_id,
                        recipient_id,
                        kind,
                        attempts: attempt,
                        last_error: error,
                    });
                }
                Ok(events)
            }
            EmailCommand::RequestRetry { by } => {
                if self.status != DeliveryStatus::DeadLettered {
                    return Err(EmailError::NotDeadLettered);
                }
                Ok(vec![EmailEvent::RetryRequested {
                    notification_id,
                    by,
                }])
            }
        }
    }

    fn apply(&mut self, event: EmailEvent) {
        match event {
            EmailEvent::Delivered { .. } => self.status = DeliveryStatus::Delivered,
            EmailEvent::DeliveryFailed { .. } => self.attempts += 1,
            EmailEvent::DeadLettered { .. } => self.status = DeliveryStatus::DeadLettered,
            EmailEvent::RetryRequested { .. } => {
                self.status = DeliveryStatus::RetryRequested;
                self.attempts = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};
    use crate::notification::{NotificationId, NotificationKind};
    use crate::user::UserId;

    const N: NotificationId = uuid::Uuid::from_u128(7);
    const U: UserId = uuid::Uuid::from_u128(8);

    fn failed(attempt: u32) -> EmailEvent {
        EmailEvent::DeliveryFailed {
            notification_id: N,
            recipient_id: U,
            kind: NotificationKind::Misbehavior,
            attempt,
            error: "refused".into(),
        }
    }

    fn failure(last: bool) -> ForNotification {
        ForNotification(
            N,
            EmailCommand::RecordFailure {
                recipient_id: U,
                kind: NotificationKind::Misbehavior,
                error: "refused".into(),
                last,
            },
        )
    }

    #[test]
    fn failures_count_up_and_the_last_dead_letters() {
        given_no_previous_events::<EmailDelivery>()
            .when(failure(false))
            .then_expect_events(vec![failed(1)]);
        given::<EmailDelivery>(vec![failed(1)])
            .when(failure(true))
            .then_expect_events(vec![
                failed(2),
                EmailEvent::DeadLettered {
                    notification_id: N,
                    recipient_id: U,
                    kind: NotificationKind::Misbehavior,
                    attempts: 2,
                    last_error: "refused".into(),
                },
            ]);
    }

    #[test]
    fn only_dead_letters_are_retried_and_delivered_is_final() {
        let retry = ForNotification(N, EmailCommand::RequestRetry { by: U });
        given::<EmailDelivery>(vec![failed(1)])
            .when(retry.clone())
            .then_expect_error(EmailError::NotDeadLettered);
        let dead = EmailEvent::DeadLettered {
            notification_id: N,
            recipient_id: U,
            kind: NotificationKind::Misbehavior,
            attempts: 1,
            last_error: "x".into(),
        };
        given::<EmailDelivery>(vec![failed(1), dead.clone()])
            .when(retry)
            .then_expect_events(vec![EmailEvent::RetryRequested {
                notification_id: N,
                by: U,
            }]);
        let state = EmailDelivery::fold(vec![
            failed(1),
            dead,
            EmailEvent::RetryRequested {
                notification_id: N,
                by: U,
            },
        ]);
        assert!(state.due());
        assert_eq!(state.attempts, 0);
        let delivered = EmailEvent::Delivered {
            notification_id: N,
            recipient_id: U,
            kind: NotificationKind::Misbehavior,
            attempt: 1,
        };
        assert!(!EmailDelivery::fold(vec![delivered.clone()]).due());
        given::<EmailDelivery>(vec![delivered])
            .when(failure(false))
            .then_expect_error(EmailError::AlreadyDelivered);
    }
}
