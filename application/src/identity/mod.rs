//! Identity use cases: accounts, signing in, sign-in sessions, password reset and system
//! roles, one file per use case, all methods of [`Identity`]:
//!
//! - `accounts`: creating an account (with a password or through a provider), renaming it,
//!   changing its password, disabling and enabling it.
//! - `login`: signing in with a password, the throttling of failed logins (accounts and
//!   unknown emails alike) and the upgrade of an outdated password hash.
//! - `sessions`: starting a sign-in session, authenticating a token (renewing it when due),
//!   ending sessions, and the sweep that ends the ones that expired unused.
//! - `password_reset`: the reset email and its confirmation.
//! - `roles`: granting and revoking system admin and auditor.
//! - [`principal`]: the authenticated caller a session token resolves to.
//! - [`session_cache`]: the sessions resolved a moment ago, kept in memory.
//! - `error`: [`IdentityError`].
//!
//! This module holds what they share: the `user` and `auth_session` streams, whose every command
//! evicts the session cache before it answers, and the settings.

mod accounts;
mod error;
mod login;
mod password_reset;
pub mod principal;
mod roles;
pub mod session_cache;
mod sessions;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use domain::auth_session::{
    AuthSession, AuthSessionCommand, AuthSessionError, AuthSessionId, AuthSessionPolicy,
};
use domain::user::{User, UserCommand, UserError, UserId};
use sqlx::PgPool;

pub use accounts::Account;
pub use error::IdentityError;
pub use principal::Principal;
pub use session_cache::{CachedSession, SessionCache};
pub use sessions::{Device, StartedSession, SweepCursor};

use crate::ports::{AppendListener, Clock, Mailer, PasswordHasher};
use crate::{Appended, CommandContext, CommandError, CommandRunner};

/// Email retry settings of the password-reset mail.
#[derive(Debug, Clone, Copy)]
pub struct MailRetry {
    pub attempts: u32,
    pub first_delay: StdDuration,
}

/// Settings of the identity use cases.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub sessions: AuthSessionPolicy,
    pub reset_token_ttl: Duration,
    pub mail_retry: MailRetry,
    /// Base URL of the web app, for links in emails.
    pub frontend_url: String,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            sessions: AuthSessionPolicy::default(),
            reset_token_ttl: Duration::hours(1),
            mail_retry: MailRetry {
                attempts: 3,
                first_delay: StdDuration::from_secs(1),
            },
            frontend_url: "http://localhost:3000".into(),
        }
    }
}

/// The identity use cases.
pub struct Identity {
    users: CommandRunner<User>,
    sessions: CommandRunner<AuthSession>,
    pool: PgPool,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    mailer: Arc<dyn Mailer>,
    settings: IdentitySettings,
    /// When this process last recorded each session's use (see `authenticate`).
    touched: std::sync::Mutex<std::collections::HashMap<AuthSessionId, DateTime<Utc>>>,
    /// Recently authenticated sessions (see `session_cache`).
    cache: Arc<SessionCache>,
}

fn max_position(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.max(b)
}

impl Identity {
    pub fn new(
        pool: PgPool,
        listener: Arc<dyn AppendListener>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        mailer: Arc<dyn Mailer>,
        settings: IdentitySettings,
    ) -> Self {
        Self {
            users: CommandRunner::new(pool.clone(), listener.clone()),
            sessions: CommandRunner::new(pool.clone(), listener),
            pool,
            hasher,
            clock,
            mailer,
            settings,
            touched: Default::default(),
            cache: Arc::default(),
        }
    }

    /// The session cache, for the listener that applies other processes' changes.
    pub fn session_cache(&self) -> &Arc<SessionCache> {
        &self.cache
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn settings(&self) -> &IdentitySettings {
        &self.settings
    }

    /// Runs a command on a user and evicts that user's cached sessions before answering.
    async fn run_user(
        &self,
        user_id: UserId,
        command: UserCommand,
        context: &CommandContext,
    ) -> Result<Appended, CommandError<UserError>> {
        let result = self.users.execute(user_id, command, context).await;
        self.cache
            .after_command(&result, |e| e.principal.user_id != user_id);
        result
    }

    /// Runs a command on a session and evicts it from the cache before answering.
    async fn run_session(
        &self,
        session_id: AuthSessionId,
        command: AuthSessionCommand,
        context: &CommandContext,
    ) -> Result<Appended, CommandError<AuthSessionError>> {
        let result = self.sessions.execute(session_id, command, context).await;
        self.cache
            .after_command(&result, |e| e.principal.session_id != session_id);
        result
    }

    /// Runs a user command that is safe to re-run, retrying a few times on conflicts.
    async fn user_command_retrying(
        &self,
        context: &CommandContext,
        user_id: UserId,
        command: UserCommand,
    ) -> Result<Appended, IdentityError> {
        let mut attempt = 0;
        loop {
            match self.run_user(user_id, command.clone(), context).await {
                Err(CommandError::Conflict) if attempt < 5 => attempt += 1,
                other => return Ok(other?),
            }
        }
    }
}
