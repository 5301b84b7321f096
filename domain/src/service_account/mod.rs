//! Service accounts: non-human callers (the AI tutoring service) limited to some groups.
//!
//! `aggregate.rs` holds the `ServiceAccount` state with its decisions (a name and at least
//! one group, no secret rotation once revoked), `command.rs` what can be asked of a service
//! account, `event.rs` what happened to it (with golden-JSON tests) and `error.rs` why a
//! command was rejected.

mod aggregate;
mod command;
mod error;
mod event;

pub use aggregate::ServiceAccount;
pub use command::ServiceAccountCommand;
pub use error::ServiceAccountError;
pub use event::ServiceAccountEvent;

/// A service account's identity. Also its stream id.
pub type ServiceAccountId = uuid::Uuid;
