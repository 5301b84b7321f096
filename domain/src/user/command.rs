//! What can be asked of an account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DisplayName, Email, PasswordHash, TokenHash};

/// What can be asked of an account. Times are the caller's clock reading, so that the
/// aggregate stays a pure function.
#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// `password_hash` is `None` for accounts created by signing in with a provider.
    Register {
        email: Email,
        name: DisplayName,
        password_hash: Option<PasswordHash>,
        system_admin: bool,
    },
    ChangeName {
        name: DisplayName,
    },
    /// The application has verified the current password.
    ChangePassword {
        password_hash: PasswordHash,
    },
    /// The same password, hashed again with the current hashing parameters (the application
    /// verified it against `previous` a moment ago). Not a password change: no sign-in
    /// session ends.
    RehashPassword {
        previous: PasswordHash,
        password_hash: PasswordHash,
    },
    RequestPasswordReset {
        reset_id: Uuid,
        token_hash: TokenHash,
        expires_at: DateTime<Utc>,
    },
    CompletePasswordReset {
        token_hash: TokenHash,
        password_hash: PasswordHash,
        at: DateTime<Utc>,
    },
    RecordResetEmail {
        reset_id: Uuid,
        outcome: ResetEmailOutcome,
    },
    Disable,
    Enable,
    GrantSystemAdmin,
    RevokeSystemAdmin,
    GrantAuditor,
    RevokeAuditor,
    /// Link a provider identity (the application checked the linking rules).
    LinkIdentity {
        provider: String,
        subject: String,
        user_type: Option<String>,
    },
    /// Record the provider's current profile at sign-in (no event when unchanged).
    UpdateIdentityProfile {
        provider: String,
        user_type: Option<String>,
    },
    UnlinkIdentity {
        provider: String,
    },
    RecordFailedLogin {
        at: DateTime<Utc>,
    },
    RecordSuccessfulLogin,
}

/// How sending a reset email went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResetEmailOutcome {
    Sent,
    Failed { attempt: u32, final_attempt: bool },
}
