//! Why an identity request failed.

use std::time::Duration as StdDuration;

use domain::auth_session::AuthSessionError;
use domain::user::UserError;

use crate::{CommandError, StoreError};

/// Why an identity request failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the account is disabled")]
    Disabled,
    #[error("too many failed logins; retry after {retry_after:?}")]
    Throttled { retry_after: StdDuration },
    #[error("the reset token is not valid")]
    InvalidResetToken,
    #[error("the reset token has expired")]
    ExpiredResetToken,
    #[error("not found")]
    NotFound,
    #[error("the account was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed")]
    Hashing,
}

impl From<CommandError<UserError>> for IdentityError {
    fn from(error: CommandError<UserError>) -> Self {
        match error {
            CommandError::Rejected(UserError::NotFound) => Self::NotFound,
            CommandError::Rejected(UserError::Disabled) => Self::Disabled,
            CommandError::Rejected(UserError::AlreadyRegistered) => Self::EmailTaken,
            CommandError::Rejected(UserError::ResetTokenInvalid) => Self::InvalidResetToken,
            CommandError::Rejected(UserError::ResetTokenExpired) => Self::ExpiredResetToken,
            CommandError::Rejected(
                UserError::ProviderAlreadyLinked
                | UserError::NotLinked
                | UserError::LastSignInMethod
                | UserError::PasswordChangedMeanwhile,
            ) => Self::Conflict,
            CommandError::Conflict => Self::Conflict,
            CommandError::Store(e) => Self::Store(e),
        }
    }
}

impl From<CommandError<AuthSessionError>> for IdentityError {
    fn from(error: CommandError<AuthSessionError>) -> Self {
        match error {
            CommandError::Rejected(_) => Self::NotFound,
            CommandError::Conflict => Self::Conflict,
            CommandError::Store(e) => Self::Store(e),
        }
    }
}
