//! Email delivery of a notification: each attempt's outcome is a fact in the log. One stream
//! per emailed notification, with the notification's id.
//!
//! A cycle of attempts ends delivered or dead-lettered; a system admin can ask for another
//! cycle of a dead letter. The delivery worker decides from this state whether there is
//! anything left to send, so a replayed `notification.created` never sends twice.
//!
//! `aggregate.rs` holds the `EmailDelivery` state with its decisions, `command.rs` what can be
//! asked of a delivery, `event.rs` what happened to it and `error.rs` why a command was
//! rejected.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::{DeliveryStatus, EmailDelivery, MAX_ERROR_CHARS};
pub use command::{EmailCommand, ForNotification};
pub use error::EmailError;
pub use event::EmailEvent;
