//! What happened to an account: the events and their JSON contract (golden tests).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DisplayName, Email, PasswordHash, TokenHash};
use crate::DomainEvent;

/// What happened to an account. `password_hash` and `token_hash` fields are redacted
/// wherever events leave the server (API, NATS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UserEvent {
    #[serde(rename = "user.registered")]
    Registered {
        email: Email,
        name: DisplayName,
        /// Absent (null) for accounts created through an OpenID provider.
        password_hash: Option<PasswordHash>,
        system_admin: bool,
    },
    #[serde(rename = "user.identity_linked")]
    IdentityLinked {
        provider: String,
        subject: String,
        /// The provider's user type (Clever: student, teacher, staff, district_admin).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_type: Option<String>,
    },
    #[serde(rename = "user.identity_profile_updated")]
    IdentityProfileUpdated {
        provider: String,
        user_type: Option<String>,
    },
    #[serde(rename = "user.identity_unlinked")]
    IdentityUnlinked { provider: String, subject: String },
    #[serde(rename = "user.renamed")]
    Renamed { name: DisplayName },
    #[serde(rename = "user.password_changed")]
    PasswordChanged { password_hash: PasswordHash },
    /// The same password under new hashing parameters (upgraded at a sign-in).
    #[serde(rename = "user.password_rehashed")]
    PasswordRehashed { password_hash: PasswordHash },
    #[serde(rename = "user.password_reset_requested")]
    PasswordResetRequested {
        reset_id: Uuid,
        token_hash: TokenHash,
        expires_at: DateTime<Utc>,
    },
    #[serde(rename = "user.password_reset_completed")]
    PasswordResetCompleted {
        reset_id: Uuid,
        password_hash: PasswordHash,
    },
    #[serde(rename = "user.password_reset_email_sent")]
    PasswordResetEmailSent { reset_id: Uuid },
    #[serde(rename = "user.password_reset_email_failed")]
    PasswordResetEmailFailed {
        reset_id: Uuid,
        attempt: u32,
        final_attempt: bool,
    },
    #[serde(rename = "user.disabled")]
    Disabled,
    #[serde(rename = "user.enabled")]
    Enabled,
    #[serde(rename = "user.system_admin_granted")]
    SystemAdminGranted,
    #[serde(rename = "user.system_admin_revoked")]
    SystemAdminRevoked,
    #[serde(rename = "user.auditor_granted")]
    AuditorGranted,
    #[serde(rename = "user.auditor_revoked")]
    AuditorRevoked,
    #[serde(rename = "user.login_failed")]
    LoginFailed { at: DateTime<Utc> },
    #[serde(rename = "user.login_failures_cleared")]
    LoginFailuresCleared,
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "user.registered",
            Self::IdentityLinked { .. } => "user.identity_linked",
            Self::IdentityProfileUpdated { .. } => "user.identity_profile_updated",
            Self::IdentityUnlinked { .. } => "user.identity_unlinked",
            Self::Renamed { .. } => "user.renamed",
            Self::PasswordChanged { .. } => "user.password_changed",
            Self::PasswordRehashed { .. } => "user.password_rehashed",
            Self::PasswordResetRequested { .. } => "user.password_reset_requested",
            Self::PasswordResetCompleted { .. } => "user.password_reset_completed",
            Self::PasswordResetEmailSent { .. } => "user.password_reset_email_sent",
            Self::PasswordResetEmailFailed { .. } => "user.password_reset_email_failed",
            Self::Disabled => "user.disabled",
            Self::Enabled => "user.enabled",
            Self::SystemAdminGranted => "user.system_admin_granted",
            Self::SystemAdminRevoked => "user.system_admin_revoked",
            Self::AuditorGranted => "user.auditor_granted",
            Self::AuditorRevoked => "user.auditor_revoked",
            Self::LoginFailed { .. } => "user.login_failed",
            Self::LoginFailuresCleared => "user.login_failures_cleared",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

#[cfg(test)]
mod golden {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn registered() -> UserEvent {
        UserEvent::Registered {
            email: Email::parse("ada@example.org").unwrap(),
            name: DisplayName::parse("Ada").unwrap(),
            password_hash: Some(PasswordHash("h1".into())),
            system_admin: false,
        }
    }

    fn reset_requested(token: &str, expires: i64) -> UserEvent {
        UserEvent::PasswordResetRequested {
            reset_id: Uuid::nil(),
            token_hash: TokenHash(token.into()),
            expires_at: t(expires),
        }
    }

    #[test]
    fn golden_json() {
        let json = serde_json::to_value(registered()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "user.registered", "email": "ada@example.org",
                               "name": "Ada", "password_hash": "h1", "system_admin": false})
        );
        assert_eq!(
            serde_json::from_value::<UserEvent>(json).unwrap(),
            registered()
        );
        let json = serde_json::to_value(reset_requested("abc", 0)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "user.password_reset_requested",
                               "reset_id": "00000000-0000-0000-0000-000000000000",
                               "token_hash": "abc", "expires_at": "2027-01-15T08:00:00Z"})
        );
        assert_eq!(
            serde_json::to_value(UserEvent::LoginFailuresCleared).unwrap(),
            serde_json::json!({"type": "user.login_failures_cleared"})
        );
        let rehashed = UserEvent::PasswordRehashed {
            password_hash: PasswordHash("h2".into()),
        };
        let json = serde_json::to_value(&rehashed).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "user.password_rehashed", "password_hash": "h2"})
        );
        assert_eq!(serde_json::from_value::<UserEvent>(json).unwrap(), rehashed);
    }
}
