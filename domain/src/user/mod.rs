//! Users: accounts, their credentials and their standing (disabled, system admin).

mod aggregate;
mod values;

pub use aggregate::{
    login_throttled_until, PendingReset, ResetEmailOutcome, User, UserCommand, UserError,
    UserEvent, LOGIN_THROTTLE_AFTER, LOGIN_THROTTLE_CAP,
};
pub use values::{
    DisplayName, Email, InvalidDisplayName, InvalidEmail, InvalidPassword, Password, PasswordHash,
    TokenHash,
};

/// A user's identity. Also its stream id.
pub type UserId = uuid::Uuid;
