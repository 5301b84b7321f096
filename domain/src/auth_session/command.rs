//! What can be asked of a sign-in session.

use chrono::{DateTime, Utc};

use super::{AuthSessionPolicy, EndReason};
use crate::user::{TokenHash, UserId};

/// What can be asked of a sign-in session. Times are the caller's clock reading, so that the
/// aggregate stays a pure function.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthSessionCommand {
    Start {
        user_id: UserId,
        token_hash: TokenHash,
        ip: Option<String>,
        user_agent: Option<String>,
        at: DateTime<Utc>,
        policy: AuthSessionPolicy,
    },
    /// Slides the idle expiry when less than half of it is left (at most once per
    /// renewal interval); otherwise records nothing.
    Renew {
        at: DateTime<Utc>,
        policy: AuthSessionPolicy,
    },
    End {
        reason: EndReason,
    },
    /// Ends the session, reason `expired`, if it is no longer valid at `at`; otherwise (a
    /// renewal got there first) records nothing. Decided on the state it appends against,
    /// so a concurrent renewal makes it conflict instead of ending a live session.
    Expire {
        at: DateTime<Utc>,
    },
}
