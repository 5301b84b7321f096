//! Why a notification or preferences command was rejected.

/// Why a notification command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("the notification already exists")]
    AlreadyCreated,
    #[error("the notification does not exist")]
    NotFound,
}

/// Why a preferences command was rejected: it never is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreferencesError {}
