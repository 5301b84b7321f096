//! What happened to a sign-in session and why it ended: the events and their JSON contract
//! (golden tests).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::user::{TokenHash, UserId};
use crate::DomainEvent;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Logout,
    LogoutAll,
    Revoked,
    PasswordChange,
    PasswordReset,
    Disabled,
    Expired,
}

/// What happened to a sign-in session. The JSON form is a contract (see the golden tests
/// below); `token_hash` is redacted wherever events leave the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AuthSessionEvent {
    #[serde(rename = "auth.session_started")]
    Started {
        user_id: UserId,
        token_hash: TokenHash,
        ip: Option<String>,
        user_agent: Option<String>,
        expires_at: DateTime<Utc>,
        absolute_expires_at: DateTime<Utc>,
    },
    #[serde(rename = "auth.session_renewed")]
    Renewed { expires_at: DateTime<Utc> },
    #[serde(rename = "auth.session_ended")]
    Ended { reason: EndReason },
}

impl DomainEvent for AuthSessionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Started { .. } => "auth.session_started",
            Self::Renewed { .. } => "auth.session_renewed",
            Self::Ended { .. } => "auth.session_ended",
        }
    }

    fn event_version(&self) -> &'static str {
        "1"
    }
}

#[cfg(test)]
mod golden {
    use super::*;
    use chrono::Duration;

    fn t(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::hours(hours)
    }

    fn started() -> AuthSessionEvent {
        AuthSessionEvent::Started {
            user_id: UserId::nil(),
            token_hash: TokenHash("h".into()),
            ip: Some("127.0.0.1".into()),
            user_agent: None,
            expires_at: t(7 * 24),
            absolute_expires_at: t(30 * 24),
        }
    }

    #[test]
    fn golden_json() {
        assert_eq!(
            serde_json::to_value(AuthSessionEvent::Ended {
                reason: EndReason::PasswordChange
            })
            .unwrap(),
            serde_json::json!({"type": "auth.session_ended", "reason": "password_change"})
        );
        let json = serde_json::to_value(started()).unwrap();
        assert_eq!(json["type"], "auth.session_started");
        assert_eq!(json["token_hash"], "h");
        assert_eq!(
            serde_json::from_value::<AuthSessionEvent>(json).unwrap(),
            started()
        );
    }
}
