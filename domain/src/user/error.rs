//! Why an account command was rejected.

/// Why an account command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("the account already exists")]
    AlreadyRegistered,
    #[error("the account does not exist")]
    NotFound,
    #[error("the account is disabled")]
    Disabled,
    #[error("the reset token is not valid")]
    ResetTokenInvalid,
    #[error("the reset token has expired")]
    ResetTokenExpired,
    #[error("a different identity of this provider is already linked")]
    ProviderAlreadyLinked,
    #[error("no identity of this provider is linked")]
    NotLinked,
    #[error("unlinking would leave no way to sign in")]
    LastSignInMethod,
    #[error("the password changed since it was verified")]
    PasswordChangedMeanwhile,
}
