//! The `AuthSession` aggregate (a sign-in session): the state its commands are decided on, the
//! decisions (idle and absolute expiry, renewal at most once per interval, an expiry that a
//! concurrent renewal wins over) and their given/when/then tests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AuthSessionCommand, AuthSessionError, AuthSessionEvent, EndReason};
use crate::user::UserId;
use crate::Aggregate;

/// The write-side state of one sign-in session: only what its commands are decided on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthSession {
    pub started: bool,
    pub user_id: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
    pub absolute_expires_at: Option<DateTime<Utc>>,
    pub ended: Option<EndReason>,
}

impl AuthSession {
    /// Whether the session is usable at `at`.
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.started
            && self.ended.is_none()
            && self.expires_at.is_some_and(|e| at < e)
            && self.absolute_expires_at.is_some_and(|e| at < e)
    }
}

impl Aggregate for AuthSession {
    const TYPE: &'static str = "auth_session";
    type Command = AuthSessionCommand;
    type Event = AuthSessionEvent;
    type Error = AuthSessionError;

    fn handle(
        &self,
        command: AuthSessionCommand,
    ) -> Result<Vec<AuthSessionEvent>, AuthSessionError> {
        match command {
            AuthSessionCommand::Start {
                user_id,
                token_hash,
                ip,
                user_agent,
                at,
                policy,
            } => {
                if self.started {
                    return Err(AuthSessionError::AlreadyStarted);
                }
                let absolute_expires_at = at + policy.absolute;
                Ok(vec![AuthSessionEvent::Started {
                    user_id,
                    token_hash,
                    ip,
                    user_agent,
                    expires_at: (at + policy.idle).min(absolute_expires_at),
                    absolute_expires_at,
                }])
            }
            AuthSessionCommand::Renew { at, policy } => {
                if !self.started {
                    return Err(AuthSessionError::NotFound);
                }
                if !self.is_valid_at(at) {
                    return Err(AuthSessionError::Ended);
                }
                let (Some(expires_at), Some(absolute)) =
                    (self.expires_at, self.absolute_expires_at)
                else {
                    return Ok(vec![]);
                };
                let half_left = expires_at - at < policy.idle / 2;
                // The last start or renewal set `expires_at` to that time plus the idle window.
                let last_change = expires_at - policy.idle;
                let interval_passed = at - last_change >= policy.renewal_interval;
                let new_expiry = (at + policy.idle).min(absolute);
                if half_left && interval_passed && new_expiry > expires_at {
                    Ok(vec![AuthSessionEvent::Renewed {
                        expires_at: new_expiry,
                    }])
                } else {
                    Ok(vec![])
                }
            }
            AuthSessionCommand::End { reason } => {
                if !self.started {
                    return Err(AuthSessionError::NotFound);
                }
                if self.ended.is_some() {
                    return Ok(vec![]);
                }
                Ok(vec![AuthSessionEvent::Ended { reason }])
            }
            AuthSessionCommand::Expire { at } => {
                if !self.started {
                    return Err(AuthSessionError::NotFound);
                }
                if self.ended.is_some() || self.is_valid_at(at) {
                    return Ok(vec![]);
                }
                Ok(vec![AuthSessionEvent::Ended {
                    reason: EndReason::Expired,
                }])
            }
        }
    }

    fn apply(&mut self, event: AuthSessionEvent) {
        match event {
            AuthSessionEvent::Started {
                user_id,
                expires_at,
                absolute_expires_at,
                ..
            } => {
                self.started = true;
                self.user_id = Some(user_id);
                self.expires_at = Some(expires_at);
                self.absolute_expires_at = Some(absolute_expires_at);
            }
            AuthSessionEvent::Renewed { expires_at } => {
                self.expires_at = Some(expires_at);
            }
            AuthSessionEvent::Ended { reason } => self.ended = Some(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};
    use crate::auth_session::AuthSessionPolicy;
    use crate::user::TokenHash;
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
    fn start_sets_idle_and_absolute_expiry() {
        given_no_previous_events::<AuthSession>()
            .when(AuthSessionCommand::Start {
                user_id: UserId::nil(),
                token_hash: TokenHash("h".into()),
                ip: Some("127.0.0.1".into()),
                user_agent: None,
                at: t(0),
                policy: AuthSessionPolicy::default(),
            })
            .then_expect_events(vec![started()]);
        given::<AuthSession>(vec![started()])
            .when(AuthSessionCommand::Start {
                user_id: UserId::nil(),
                token_hash: TokenHash("h".into()),
                ip: None,
                user_agent: None,
                at: t(0),
                policy: AuthSessionPolicy::default(),
            })
            .then_expect_error(AuthSessionError::AlreadyStarted);
    }

    #[test]
    fn renewal_only_when_less_than_half_is_left() {
        let policy = AuthSessionPolicy::default();
        given::<AuthSession>(vec![started()])
            .when(AuthSessionCommand::Renew { at: t(24), policy })
            .then_expect_events(vec![]);
        given::<AuthSession>(vec![started()])
            .when(AuthSessionCommand::Renew {
                at: t(4 * 24),
                policy,
            })
            .then_expect_events(vec![AuthSessionEvent::Renewed {
                expires_at: t(11 * 24),
            }]);
        // Never past the absolute expiry.
        let late = AuthSessionEvent::Renewed {
            expires_at: t(26 * 24),
        };
        given::<AuthSession>(vec![started(), late])
            .when(AuthSessionCommand::Renew {
                at: t(25 * 24),
                policy,
            })
            .then_expect_events(vec![AuthSessionEvent::Renewed {
                expires_at: t(30 * 24),
            }]);
    }

    /// The hourly limit decides only when half the idle window is shorter than an hour:
    /// with a 90-minute window, a use 50 minutes in is past half but within the hour.
    #[test]
    fn renewals_are_at_most_hourly_even_when_the_idle_window_is_short() {
        let policy = AuthSessionPolicy {
            idle: Duration::minutes(90),
            ..AuthSessionPolicy::default()
        };
        let start = t(0);
        let started = AuthSessionEvent::Started {
            user_id: UserId::nil(),
            token_hash: TokenHash("h".into()),
            ip: None,
            user_agent: None,
            expires_at: start + Duration::minutes(90),
            absolute_expires_at: t(30 * 24),
        };
        given::<AuthSession>(vec![started.clone()])
            .when(AuthSessionCommand::Renew {
                at: start + Duration::minutes(50),
                policy,
            })
            .then_expect_events(vec![]);
        given::<AuthSession>(vec![started.clone()])
            .when(AuthSessionCommand::Renew {
                at: start + Duration::minutes(61),
                policy,
            })
            .then_expect_events(vec![AuthSessionEvent::Renewed {
                expires_at: start + Duration::minutes(151),
            }]);
        // And an hour after that renewal, not before.
        let renewed = AuthSessionEvent::Renewed {
            expires_at: start + Duration::minutes(151),
        };
        given::<AuthSession>(vec![started.clone(), renewed.clone()])
            .when(AuthSessionCommand::Renew {
                at: start + Duration::minutes(110),
                policy,
            })
            .then_expect_events(vec![]);
        given::<AuthSession>(vec![started, renewed])
            .when(AuthSessionCommand::Renew {
                at: start + Duration::minutes(122),
                policy,
            })
            .then_expect_events(vec![AuthSessionEvent::Renewed {
                expires_at: start + Duration::minutes(212),
            }]);
    }

    #[test]
    fn expired_or_ended_sessions_cannot_be_renewed() {
        let policy = AuthSessionPolicy::default();
        given::<AuthSession>(vec![started()])
            .when(AuthSessionCommand::Renew {
                at: t(8 * 24),
                policy,
            })
            .then_expect_error(AuthSessionError::Ended);
        given::<AuthSession>(vec![
            started(),
            AuthSessionEvent::Ended {
                reason: EndReason::Logout,
            },
        ])
        .when(AuthSessionCommand::Renew { at: t(1), policy })
        .then_expect_error(AuthSessionError::Ended);
    }

    #[test]
    fn expire_ends_only_a_session_that_is_no_longer_valid() {
        let expired = AuthSessionEvent::Ended {
            reason: EndReason::Expired,
        };
        // Started at t(0): valid for 7 days idle.
        given::<AuthSession>(vec![started()])
            .when(AuthSessionCommand::Expire { at: t(6 * 24) })
            .then_expect_events(vec![]);
        given::<AuthSession>(vec![started()])
            .when(AuthSessionCommand::Expire { at: t(7 * 24) })
            .then_expect_events(vec![expired.clone()]);
        // A renewal the sweep did not see wins.
        let renewed = AuthSessionEvent::Renewed {
            expires_at: t(11 * 24),
        };
        given::<AuthSession>(vec![started(), renewed])
            .when(AuthSessionCommand::Expire { at: t(8 * 24) })
            .then_expect_events(vec![]);
        given::<AuthSession>(vec![started(), expired])
            .when(AuthSessionCommand::Expire { at: t(8 * 24) })
            .then_expect_events(vec![]);
        given_no_previous_events::<AuthSession>()
            .when(AuthSessionCommand::Expire { at: t(0) })
            .then_expect_error(AuthSessionError::NotFound);
    }

    #[test]
    fn end_is_recorded_once() {
        given::<AuthSession>(vec![started()])
            .when(AuthSessionCommand::End {
                reason: EndReason::Logout,
            })
            .then_expect_events(vec![AuthSessionEvent::Ended {
                reason: EndReason::Logout,
            }]);
        given::<AuthSession>(vec![
            started(),
            AuthSessionEvent::Ended {
                reason: EndReason::Logout,
            },
        ])
        .when(AuthSessionCommand::End {
            reason: EndReason::LogoutAll,
        })
        .then_expect_events(vec![]);
        given_no_previous_events::<AuthSession>()
            .when(AuthSessionCommand::End {
                reason: EndReason::Logout,
            })
            .then_expect_error(AuthSessionError::NotFound);
    }
}
