//! The `User` aggregate: the state an account's commands are decided on, the decisions
//! (credentials, the pending password reset, login throttling, system roles, linked provider
//! identities) and their given/when/then tests.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    DisplayName, Email, PasswordHash, ResetEmailOutcome, TokenHash, UserCommand, UserError,
    UserEvent,
};
use crate::Aggregate;

/// Consecutive failed logins after which logins of the account are throttled.
pub const LOGIN_THROTTLE_AFTER: u32 = 5;
/// The longest throttling delay.
pub const LOGIN_THROTTLE_CAP: Duration = Duration::minutes(15);

/// The password reset a user may still complete (the newest one requested).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReset {
    pub reset_id: Uuid,
    pub token_hash: TokenHash,
    pub expires_at: DateTime<Utc>,
}

/// The write-side state of one account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub registered: bool,
    pub email: Option<Email>,
    pub name: Option<DisplayName>,
    pub password_hash: Option<PasswordHash>,
    pub disabled: bool,
    pub system_admin: bool,
    #[serde(default)]
    pub auditor: bool,
    /// Linked provider identities: provider → (subject, user type).
    #[serde(default)]
    pub links: std::collections::BTreeMap<String, (String, Option<String>)>,
    pub failed_logins: u32,
    pub last_failed_login_at: Option<DateTime<Utc>>,
    pub pending_reset: Option<PendingReset>,
}

impl User {
    fn ensure_registered(&self) -> Result<(), UserError> {
        if self.registered {
            Ok(())
        } else {
            Err(UserError::NotFound)
        }
    }

    /// The pending reset that `token_hash` completes at `at`: the newest one requested, not
    /// yet used, not expired.
    pub fn pending_reset_for(
        &self,
        token_hash: &TokenHash,
        at: DateTime<Utc>,
    ) -> Result<&PendingReset, UserError> {
        let pending = self
            .pending_reset
            .as_ref()
            .filter(|p| p.token_hash == *token_hash)
            .ok_or(UserError::ResetTokenInvalid)?;
        if at >= pending.expires_at {
            return Err(UserError::ResetTokenExpired);
        }
        Ok(pending)
    }

    /// Until when logins are refused after repeated failures (see [`login_throttled_until`]).
    pub fn login_throttled_until(&self) -> Option<DateTime<Utc>> {
        login_throttled_until(self.failed_logins, self.last_failed_login_at)
    }
}

/// Until when logins for an email are refused after `failures` consecutive failures, the
/// last at `last_failure`: 1 s after the 5th, doubling with each further one, at most 15
/// minutes. One schedule for accounts (their failures are events) and for emails without an
/// account (kept apart, so that a throttled answer does not tell which emails exist).
pub fn login_throttled_until(
    failures: u32,
    last_failure: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    if failures < LOGIN_THROTTLE_AFTER {
        return None;
    }
    let exponent = (failures - LOGIN_THROTTLE_AFTER).min(20);
    let delay = Duration::seconds(1_i64 << exponent).min(LOGIN_THROTTLE_CAP);
    last_failure.map(|at| at + delay)
}

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;

    fn handle(&self, command: UserCommand) -> Result<Vec<UserEvent>, UserError> {
        use UserCommand as C;
        use UserEvent as E;
        if !matches!(command, C::Register { .. }) {
            self.ensure_registered()?;
        }
        Ok(match command {
            C::Register {
                email,
                name,
                password_hash,
                system_admin,
            } => {
                if self.registered {
                    return Err(UserError::AlreadyRegistered);
                }
                vec![E::Registered {
                    email,
                    name,
                    password_hash,
                    system_admin,
                }]
            }
            C::ChangeName { name } if self.name.as_ref() == Some(&name) => vec![],
            C::ChangeName { name } => vec![E::Renamed { name }],
            C::ChangePassword { password_hash } => {
                if self.disabled {
                    return Err(UserError::Disabled);
                }
                vec![E::PasswordChanged { password_hash }]
            }
            C::RehashPassword {
                previous,
                password_hash,
            } => {
                // A change or reset that came in between wins over the upgrade of the old
                // password.
                if self.password_hash.as_ref() != Some(&previous) {
                    return Err(UserError::PasswordChangedMeanwhile);
                }
                if self.disabled {
                    return Err(UserError::Disabled);
                }
                vec![E::PasswordRehashed { password_hash }]
            }
            C::RequestPasswordReset {
                reset_id,
                token_hash,
                expires_at,
            } => {
                if self.disabled {
                    return Err(UserError::Disabled);
                }
                vec![E::PasswordResetRequested {
                    reset_id,
                    token_hash,
                    expires_at,
                }]
            }
            C::CompletePasswordReset {
                token_hash,
                password_hash,
                at,
            } => {
                let pending = self.pending_reset_for(&token_hash, at)?;
                if self.disabled {
                    return Err(UserError::Disabled);
                }
                vec![E::PasswordResetCompleted {
                    reset_id: pending.reset_id,
                    password_hash,
                }]
            }
            C::RecordResetEmail { reset_id, outcome } => match outcome {
                ResetEmailOutcome::Sent => vec![E::PasswordResetEmailSent { reset_id }],
                ResetEmailOutcome::Failed {
                    attempt,
                    final_attempt,
                } => vec![E::PasswordResetEmailFailed {
                    reset_id,
                    attempt,
                    final_attempt,
                }],
            },
            C::Disable if self.disabled => vec![],
            C::Disable => vec![E::Disabled],
            C::Enable if !self.disabled => vec![],
            C::Enable => vec![E::Enabled],
            C::GrantSystemAdmin if self.system_admin => vec![],
            C::GrantSystemAdmin => vec![E::SystemAdminGranted],
            C::RevokeSystemAdmin if !self.system_admin => vec![],
            C::RevokeSystemAdmin => vec![E::SystemAdminRevoked],
            C::GrantAuditor if self.auditor => vec![],
            C::GrantAuditor => vec![E::AuditorGranted],
            C::RevokeAuditor if !self.auditor => vec![],
            C::RevokeAuditor => vec![E::AuditorRevoked],
            C::LinkIdentity {
                provider,
                subject,
                user_type,
            } => match self.links.get(&provider) {
                Some((linked, _)) if *linked == subject => vec![],
                Some(_) => return Err(UserError::ProviderAlreadyLinked),
                None => vec![E::IdentityLinked {
                    provider,
                    subject,
                    user_type,
                }],
            },
            C::UpdateIdentityProfile {
                provider,
                user_type,
            } => match self.links.get(&provider) {
                Some((_, current)) if *current != user_type => {
                    vec![E::IdentityProfileUpdated {
                        provider,
                        user_type,
                    }]
                }
                _ => vec![],
            },
            C::UnlinkIdentity { provider } => {
                let Some((subject, _)) = self.links.get(&provider) else {
                    return Err(UserError::NotLinked);
                };
                if self.password_hash.is_none() && self.links.len() == 1 {
                    return Err(UserError::LastSignInMethod);
                }
                vec![E::IdentityUnlinked {
                    provider,
                    subject: subject.clone(),
                }]
            }
            C::RecordFailedLogin { at } => vec![E::LoginFailed { at }],
            C::RecordSuccessfulLogin if self.failed_logins == 0 => vec![],
            C::RecordSuccessfulLogin => vec![E::LoginFailuresCleared],
        })
    }

    fn apply(&mut self, event: UserEvent) {
        use UserEvent as E;
        match event {
            E::Registered {
                email,
                name,
                password_hash,
                system_admin,
            } => {
                self.registered = true;
                self.email = Some(email);
                self.name = Some(name);
                self.password_hash = password_hash;
                self.system_admin = system_admin;
            }
            E::IdentityLinked {
                provider,
                subject,
                user_type,
            } => {
                self.links.insert(provider, (subject, user_type));
            }
            E::IdentityProfileUpdated {
                provider,
                user_type,
            } => {
                if let Some(link) = self.links.get_mut(&provider) {
                    link.1 = user_type;
                }
            }
            E::IdentityUnlinked { provider, .. } => {
                self.links.remove(&provider);
            }
            E::Renamed { name } => self.name = Some(name),
            E::PasswordChanged { password_hash } => {
                self.password_hash = Some(password_hash);
                self.pending_reset = None;
            }
            // The same password: a pending reset stays valid.
            E::PasswordRehashed { password_hash } => self.password_hash = Some(password_hash),
            E::PasswordResetRequested {
                reset_id,
                token_hash,
                expires_at,
            } => {
                self.pending_reset = Some(PendingReset {
                    reset_id,
                    token_hash,
                    expires_at,
                })
            }
            E::PasswordResetCompleted { password_hash, .. } => {
                self.password_hash = Some(password_hash);
                self.pending_reset = None;
                self.failed_logins = 0;
            }
            E::PasswordResetEmailSent { .. } | E::PasswordResetEmailFailed { .. } => {}
            E::Disabled => self.disabled = true,
            E::Enabled => self.disabled = false,
            E::SystemAdminGranted => self.system_admin = true,
            E::SystemAdminRevoked => self.system_admin = false,
            E::AuditorGranted => self.auditor = true,
            E::AuditorRevoked => self.auditor = false,
            E::LoginFailed { at } => {
                self.failed_logins += 1;
                self.last_failed_login_at = Some(at);
            }
            E::LoginFailuresCleared => self.failed_logins = 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{given, given_no_previous_events};
    use crate::user::Password;

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
    fn register_records_the_account() {
        given_no_previous_events::<User>()
            .when(UserCommand::Register {
                email: Email::parse("ada@example.org").unwrap(),
                name: DisplayName::parse("Ada").unwrap(),
                password_hash: Some(PasswordHash("h1".into())),
                system_admin: false,
            })
            .then_expect_events(vec![registered()]);
        assert!(Password::parse("x").is_err());
    }

    #[test]
    fn register_twice_is_rejected() {
        given::<User>(vec![registered()])
            .when(UserCommand::Register {
                email: Email::parse("ada@example.org").unwrap(),
                name: DisplayName::parse("Ada").unwrap(),
                password_hash: Some(PasswordHash("h".into())),
                system_admin: false,
            })
            .then_expect_error(UserError::AlreadyRegistered);
    }

    #[test]
    fn commands_on_unknown_accounts_are_rejected() {
        given_no_previous_events::<User>()
            .when(UserCommand::Disable)
            .then_expect_error(UserError::NotFound);
    }

    #[test]
    fn reset_completes_once_with_the_newest_token_before_expiry() {
        given::<User>(vec![
            registered(),
            reset_requested("old", 100),
            reset_requested("new", 100),
        ])
        .when(UserCommand::CompletePasswordReset {
            token_hash: TokenHash("old".into()),
            password_hash: PasswordHash("h2".into()),
            at: t(10),
        })
        .then_expect_error(UserError::ResetTokenInvalid);
        given::<User>(vec![registered(), reset_requested("new", 100)])
            .when(UserCommand::CompletePasswordReset {
                token_hash: TokenHash("new".into()),
                password_hash: PasswordHash("h2".into()),
                at: t(100),
            })
            .then_expect_error(UserError::ResetTokenExpired);
        let completed = UserEvent::PasswordResetCompleted {
            reset_id: Uuid::nil(),
            password_hash: PasswordHash("h2".into()),
        };
        given::<User>(vec![registered(), reset_requested("new", 100)])
            .when(UserCommand::CompletePasswordReset {
                token_hash: TokenHash("new".into()),
                password_hash: PasswordHash("h2".into()),
                at: t(10),
            })
            .then_expect_events(vec![completed.clone()]);
        given::<User>(vec![registered(), reset_requested("new", 100), completed])
            .when(UserCommand::CompletePasswordReset {
                token_hash: TokenHash("new".into()),
                password_hash: PasswordHash("h3".into()),
                at: t(11),
            })
            .then_expect_error(UserError::ResetTokenInvalid);
    }

    #[test]
    fn disable_and_enable_are_idempotent() {
        given::<User>(vec![registered()])
            .when(UserCommand::Disable)
            .then_expect_events(vec![UserEvent::Disabled]);
        given::<User>(vec![registered(), UserEvent::Disabled])
            .when(UserCommand::Disable)
            .then_expect_events(vec![]);
        given::<User>(vec![registered(), UserEvent::Disabled])
            .when(UserCommand::Enable)
            .then_expect_events(vec![UserEvent::Enabled]);
        given::<User>(vec![registered(), UserEvent::Disabled])
            .when(UserCommand::ChangePassword {
                password_hash: PasswordHash("x".into()),
            })
            .then_expect_error(UserError::Disabled);
    }

    #[test]
    fn a_rehash_replaces_the_verified_hash_and_nothing_else() {
        let rehash = |previous: &str| UserCommand::RehashPassword {
            previous: PasswordHash(previous.into()),
            password_hash: PasswordHash("h1 with new parameters".into()),
        };
        let rehashed = UserEvent::PasswordRehashed {
            password_hash: PasswordHash("h1 with new parameters".into()),
        };
        given::<User>(vec![registered()])
            .when(rehash("h1"))
            .then_expect_events(vec![rehashed.clone()]);
        // A change that came in after the verification wins.
        let changed = UserEvent::PasswordChanged {
            password_hash: PasswordHash("h2".into()),
        };
        given::<User>(vec![registered(), changed])
            .when(rehash("h1"))
            .then_expect_error(UserError::PasswordChangedMeanwhile);
        given::<User>(vec![registered(), UserEvent::Disabled])
            .when(rehash("h1"))
            .then_expect_error(UserError::Disabled);
        // A pending reset stays valid: the password is the same.
        let state = User::fold(vec![registered(), reset_requested("abc", 0), rehashed]);
        assert_eq!(
            state.password_hash,
            Some(PasswordHash("h1 with new parameters".into()))
        );
        assert!(state.pending_reset.is_some());
    }

    #[test]
    fn admin_grant_and_revoke() {
        given::<User>(vec![registered()])
            .when(UserCommand::GrantSystemAdmin)
            .then_expect_events(vec![UserEvent::SystemAdminGranted]);
        given::<User>(vec![registered()])
            .when(UserCommand::RevokeSystemAdmin)
            .then_expect_events(vec![]);
    }

    #[test]
    fn throttling_starts_after_five_failures_and_is_capped() {
        let mut events = vec![registered()];
        for i in 0..4 {
            events.push(UserEvent::LoginFailed { at: t(i) });
        }
        assert_eq!(User::fold(events.clone()).login_throttled_until(), None);
        events.push(UserEvent::LoginFailed { at: t(4) });
        assert_eq!(
            User::fold(events.clone()).login_throttled_until(),
            Some(t(5))
        );
        events.push(UserEvent::LoginFailed { at: t(5) });
        assert_eq!(
            User::fold(events.clone()).login_throttled_until(),
            Some(t(7))
        );
        for i in 0..30 {
            events.push(UserEvent::LoginFailed { at: t(100 + i) });
        }
        assert_eq!(
            User::fold(events.clone()).login_throttled_until(),
            Some(t(129) + LOGIN_THROTTLE_CAP)
        );
        given::<User>(events)
            .when(UserCommand::RecordSuccessfulLogin)
            .then_expect_events(vec![UserEvent::LoginFailuresCleared]);
        given::<User>(vec![registered()])
            .when(UserCommand::RecordSuccessfulLogin)
            .then_expect_events(vec![]);
    }

    #[test]
    fn identities_link_once_and_unlink_only_if_another_way_remains() {
        let linked = UserEvent::IdentityLinked {
            provider: "google".into(),
            subject: "s1".into(),
            user_type: None,
        };
        given::<User>(vec![registered()])
            .when(UserCommand::LinkIdentity {
                provider: "google".into(),
                subject: "s1".into(),
                user_type: None,
            })
            .then_expect_events(vec![linked.clone()]);
        given::<User>(vec![registered(), linked.clone()])
            .when(UserCommand::LinkIdentity {
                provider: "google".into(),
                subject: "s2".into(),
                user_type: None,
            })
            .then_expect_error(UserError::ProviderAlreadyLinked);
        // With a password, the only link may go.
        given::<User>(vec![registered(), linked.clone()])
            .when(UserCommand::UnlinkIdentity {
                provider: "google".into(),
            })
            .then_expect_events(vec![UserEvent::IdentityUnlinked {
                provider: "google".into(),
                subject: "s1".into(),
            }]);
        // Without a password, it may not.
        let passwordless = UserEvent::Registered {
            email: Email::parse("sso@example.org").unwrap(),
            name: DisplayName::parse("Sso").unwrap(),
            password_hash: None,
            system_admin: false,
        };
        given::<User>(vec![passwordless, linked])
            .when(UserCommand::UnlinkIdentity {
                provider: "google".into(),
            })
            .then_expect_error(UserError::LastSignInMethod);
        given::<User>(vec![registered()])
            .when(UserCommand::UnlinkIdentity {
                provider: "clever".into(),
            })
            .then_expect_error(UserError::NotLinked);
    }
}
