//! The authenticated caller: what a sign-in session token resolves to (`Identity::authenticate`),
//! what the session cache keeps, and what every authorized request is decided for.

use chrono::{DateTime, Utc};
use domain::auth_session::AuthSessionId;
use domain::user::UserId;

/// An authenticated caller, as resolved from a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: AuthSessionId,
    pub email: String,
    pub name: String,
    pub system_admin: bool,
    pub auditor: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    pub session_expires_at: DateTime<Utc>,
}
