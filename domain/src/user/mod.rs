//! Users: accounts, their credentials and their standing (disabled, system admin).
//!
//! `aggregate.rs` holds the `User` state with its decisions (the pending password reset,
//! login throttling, system roles, linked provider identities), `command.rs` what can be
//! asked of an account, `event.rs` what happened to it (with golden-JSON tests), `error.rs`
//! why a command was rejected and `values.rs` the identity value types (`Email`, `Password`,
//! `PasswordHash`, `TokenHash`, `DisplayName`).

mod aggregate;
mod command;
mod error;
mod event;
mod values;

pub use aggregate::{
    login_throttled_until, PendingReset, User, LOGIN_THROTTLE_AFTER, LOGIN_THROTTLE_CAP,
};
pub use command::{ResetEmailOutcome, UserCommand};
pub use error::UserError;
pub use event::UserEvent;
pub use values::{
    DisplayName, Email, InvalidDisplayName, InvalidEmail, InvalidPassword, Password, PasswordHash,
    TokenHash,
};

/// A user's identity. Also its stream id.
pub type UserId = uuid::Uuid;
