//! Why an email delivery command was rejected.

/// Why an email delivery command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the email was already delivered")]
    AlreadyDelivered,
    #[error("the email is not dead-lettered")]
    NotDeadLettered,
}
