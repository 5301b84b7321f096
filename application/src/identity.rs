//! Identity use cases: accounts, passwords, sessions, password reset, login throttling.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use domain::session::{EndReason, Session, SessionCommand, SessionError, SessionId, SessionPolicy};
use domain::user::{
    login_throttled_until, DisplayName, Email, Password, ResetEmailOutcome, TokenHash, User,
    UserCommand, UserError, UserId,
};
use projections::identity as read;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ports::{AppendListener, Clock, Mailer, OutgoingEmail, PasswordHasher};
use crate::session_cache::{CachedSession, SessionCache};
use crate::store::{login_failures, lookups};
use crate::tokens::{self, hashes_equal};
use crate::{Appended, CommandContext, CommandError, CommandRunner, StoreError};

/// Why an identity request failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the account is disabled")]
    Disabled,
    #[error("too many failed logins; retry after {retry_after:?}")]
    Throttled { retry_after: StdDuration },
    #[error("the reset token is not valid")]
    InvalidResetToken,
    #[error("the reset token has expired")]
    ExpiredResetToken,
    #[error("not found")]
    NotFound,
    #[error("the account was changed concurrently")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed")]
    Hashing,
}

impl From<CommandError<UserError>> for IdentityError {
    fn from(error: CommandError<UserError>) -> Self {
        match error {
            CommandError::Rejected(UserError::NotFound) => Self::NotFound,
            CommandError::Rejected(UserError::Disabled) => Self::Disabled,
            CommandError::Rejected(UserError::AlreadyRegistered) => Self::EmailTaken,
            CommandError::Rejected(UserError::ResetTokenInvalid) => Self::InvalidResetToken,
            CommandError::Rejected(UserError::ResetTokenExpired) => Self::ExpiredResetToken,
            CommandError::Rejected(
                UserError::ProviderAlreadyLinked
                | UserError::NotLinked
                | UserError::LastSignInMethod
                | UserError::PasswordChangedMeanwhile,
            ) => Self::Conflict,
            CommandError::Conflict => Self::Conflict,
            CommandError::Store(e) => Self::Store(e),
        }
    }
}

impl From<CommandError<SessionError>> for IdentityError {
    fn from(error: CommandError<SessionError>) -> Self {
        match error {
            CommandError::Rejected(_) => Self::NotFound,
            CommandError::Conflict => Self::Conflict,
            CommandError::Store(e) => Self::Store(e),
        }
    }
}

/// Where a login comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A new session. `token` is the bearer secret: returned to the client once, never stored.
#[derive(Debug, Clone)]
pub struct StartedSession {
    pub session_id: SessionId,
    pub user_id: UserId,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub position: Option<i64>,
}

/// The account a login or registration signed in, as the write side knows it right after:
/// the response needs no read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub system_admin: bool,
    pub auditor: bool,
    /// When the account was created (its first event was recorded).
    pub created_at: DateTime<Utc>,
}

impl Account {
    fn of(id: UserId, user: &User, created_at: DateTime<Utc>) -> Self {
        Self {
            id,
            email: user
                .email
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            name: user
                .name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
            system_admin: user.system_admin,
            auditor: user.auditor,
            created_at,
        }
    }
}

/// An authenticated caller, as resolved from a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub email: String,
    pub name: String,
    pub system_admin: bool,
    pub auditor: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    pub session_expires_at: DateTime<Utc>,
}

/// Email retry settings of the password-reset mail.
#[derive(Debug, Clone, Copy)]
pub struct MailRetry {
    pub attempts: u32,
    pub first_delay: StdDuration,
}

/// Settings of the identity use cases.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    pub sessions: SessionPolicy,
    pub reset_token_ttl: Duration,
    pub mail_retry: MailRetry,
    /// Base URL of the web app, for links in emails.
    pub frontend_url: String,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            sessions: SessionPolicy::default(),
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
    sessions: CommandRunner<Session>,
    pool: PgPool,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    mailer: Arc<dyn Mailer>,
    settings: IdentitySettings,
    /// When this process last recorded each session's use (see `authenticate`).
    touched: std::sync::Mutex<std::collections::HashMap<SessionId, DateTime<Utc>>>,
    /// Recently authenticated sessions (see `session_cache`).
    cache: Arc<SessionCache>,
}

/// Where a sweep of expired sessions has got to: the expiry and id of the last candidate.
pub type SweepCursor = (DateTime<Utc>, SessionId);

/// `Throttled` while `now` is before `until`.
fn refuse_until(until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), IdentityError> {
    match until {
        Some(until) if now < until => Err(IdentityError::Throttled {
            retry_after: (until - now).to_std().unwrap_or_default(),
        }),
        _ => Ok(()),
    }
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

    /// Runs a command on a user and evicts that user's cached sessions before answering.
    async fn run_user(
        &self,
        user_id: UserId,
        command: UserCommand,
        context: &CommandContext,
    ) -> Result<Appended, CommandError<UserError>> {
        let result = self.users.execute(user_id, command, context).await;
        if let Ok(appended) = &result {
            self.cache.note_change(appended.position);
        }
        self.cache.evict_user(user_id);
        result
    }

    /// Runs a command on a session and evicts it from the cache before answering.
    async fn run_session(
        &self,
        session_id: SessionId,
        command: SessionCommand,
        context: &CommandContext,
    ) -> Result<Appended, CommandError<SessionError>> {
        let result = self.sessions.execute(session_id, command, context).await;
        if let Ok(appended) = &result {
            self.cache.note_change(appended.position);
        }
        self.cache.evict_session(session_id);
        result
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn settings(&self) -> &IdentitySettings {
        &self.settings
    }

    /// The account id registered for `email`, from the reservation written with the events.
    pub async fn user_id_for(&self, email: &Email) -> Result<Option<UserId>, StoreError> {
        Ok(lookups::user_of_email(&self.pool, email).await?)
    }

    /// Creates an account and signs it in.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        context: &CommandContext,
        email: Email,
        name: DisplayName,
        password: Password,
        device: Device,
    ) -> Result<(StartedSession, Account), IdentityError> {
        if self.user_id_for(&email).await?.is_some() {
            return Err(IdentityError::EmailTaken);
        }
        let account = self
            .create_account(context, email, name, &password, false)
            .await?;
        let session = self.start_session(context, account.id, device).await?;
        Ok((session, account))
    }

    /// Creates an account without a session (also used by `create-admin`).
    pub async fn create_account(
        &self,
        context: &CommandContext,
        email: Email,
        name: DisplayName,
        password: &Password,
        system_admin: bool,
    ) -> Result<Account, IdentityError> {
        let password_hash = self
            .hasher
            .hash(password)
            .await
            .map_err(|_| IdentityError::Hashing)?;
        let user_id = Uuid::now_v7();
        let command = UserCommand::Register {
            email,
            name,
            password_hash: Some(password_hash),
            system_admin,
        };
        // A fresh id: nothing to load, and no cached session can name the account yet.
        match self
            .users
            .execute_new_for_state(user_id, command, context)
            .await
        {
            Ok((appended, user)) => {
                self.cache.note_change(appended.position);
                let created_at = appended.recorded_at.unwrap_or_else(|| self.clock.now());
                Ok(Account::of(user_id, &user, created_at))
            }
            // A brand-new stream can only conflict on the email reservation.
            Err(CommandError::Conflict) => Err(IdentityError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Grants system admin to an existing account. Returns the append position.
    pub async fn set_system_admin(
        &self,
        context: &CommandContext,
        user_id: UserId,
        admin: bool,
    ) -> Result<Appended, IdentityError> {
        let command = if admin {
            UserCommand::GrantSystemAdmin
        } else {
            UserCommand::RevokeSystemAdmin
        };
        Ok(self.run_user(user_id, command, context).await?)
    }

    /// Changes the account's display name. The position to wait for, or `None` when the
    /// name was already that.
    pub async fn change_name(
        &self,
        context: &CommandContext,
        user_id: UserId,
        name: DisplayName,
    ) -> Result<Option<i64>, IdentityError> {
        Ok(self
            .run_user(user_id, UserCommand::ChangeName { name }, context)
            .await?
            .position)
    }

    /// Grants or revokes the auditor role.
    pub async fn set_auditor(
        &self,
        context: &CommandContext,
        user_id: UserId,
        auditor: bool,
    ) -> Result<Appended, IdentityError> {
        let command = if auditor {
            UserCommand::GrantAuditor
        } else {
            UserCommand::RevokeAuditor
        };
        Ok(self.run_user(user_id, command, context).await?)
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

    /// Checks the password and signs in. Unknown emails cost the same hashing work and fail
    /// with the same error as a wrong password.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        context: &CommandContext,
        email: &Email,
        password: &Password,
        device: Device,
    ) -> Result<(StartedSession, Account), IdentityError> {
        let Some((user_id, created_at)) = lookups::account_of_email(&self.pool, email)
            .await
            .map_err(StoreError::from)?
        else {
            self.count_unknown_email_failure(email, password).await?;
            return Err(IdentityError::InvalidCredentials);
        };
        let (user, _) = self.users.load(user_id).await?;
        let now = self.clock.now();
        refuse_until(user.login_throttled_until(), now)?;
        let matches = match &user.password_hash {
            Some(hash) => self.hasher.verify(password, hash).await,
            None => {
                self.hasher.verify_dummy(password).await;
                false
            }
        };
        if !matches {
            match self
                .user_command_retrying(context, user_id, UserCommand::RecordFailedLogin { at: now })
                .await
            {
                // Many failures at once for one account: the others were counted. A 409
                // here would tell an account from an unknown email, which never conflicts.
                Ok(_) | Err(IdentityError::Conflict) => {}
                Err(error) => return Err(error),
            }
            return Err(IdentityError::InvalidCredentials);
        }
        if user.disabled {
            return Err(IdentityError::Disabled);
        }
        if user.failed_logins > 0 {
            self.user_command_retrying(context, user_id, UserCommand::RecordSuccessfulLogin)
                .await?;
        }
        if let Some(hash) = user.password_hash.as_ref() {
            if self.hasher.needs_rehash(hash) {
                self.upgrade_password_hash(context, user_id, password, hash)
                    .await;
            }
        }
        let session = self.start_session(context, user_id, device).await?;
        Ok((session, Account::of(user_id, &user, created_at)))
    }

    /// A login for an email without an account, refused as an account's wrong password
    /// would be: throttled on the same schedule (the failures are counted in
    /// `unknown_email_login_failures`, shared by every instance), otherwise the same hashing
    /// work and one write. `Ok` once the failure is counted.
    async fn count_unknown_email_failure(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<(), IdentityError> {
        let key = Sha256::digest(email.as_str().as_bytes()).to_vec();
        let now = self.clock.now();
        let failures = login_failures::failures_of(&self.pool, &key)
            .await
            .map_err(StoreError::from)?;
        if let Some((failures, at)) = failures {
            let failures = u32::try_from(failures).unwrap_or(0);
            refuse_until(login_throttled_until(failures, Some(at)), now)?;
        }
        self.hasher.verify_dummy(password).await;
        login_failures::record_failure(&self.pool, &key, now)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Stores the password just verified against `previous` under the current hashing
    /// parameters, so that raising them reaches every account at its next sign-in. Once per
    /// account and change of parameters, it costs that login one more hash. Best effort: if
    /// it fails, or the password changed meanwhile (the change wins), the login goes on and
    /// a later one tries again.
    async fn upgrade_password_hash(
        &self,
        context: &CommandContext,
        user_id: UserId,
        password: &Password,
        previous: &domain::user::PasswordHash,
    ) {
        let password_hash = match self.hasher.hash(password).await {
            Ok(hash) => hash,
            Err(error) => {
                tracing::warn!(%user_id, %error, "password hash not upgraded");
                return;
            }
        };
        let command = UserCommand::RehashPassword {
            previous: previous.clone(),
            password_hash,
        };
        match self.run_user(user_id, command, context).await {
            Ok(_) => {}
            // A concurrent sign-in upgraded it first, or the password changed: nothing to do.
            Err(CommandError::Conflict)
            | Err(CommandError::Rejected(UserError::PasswordChangedMeanwhile)) => {
                tracing::debug!(%user_id, "password hash upgraded or changed meanwhile");
            }
            Err(error) => tracing::warn!(%user_id, %error, "password hash not upgraded"),
        }
    }

    /// Starts a session for an account that signed in some other way (an OpenID provider).
    pub async fn start_session_for(
        &self,
        context: &CommandContext,
        user_id: UserId,
        device: Device,
    ) -> Result<StartedSession, IdentityError> {
        self.start_session(context, user_id, device).await
    }

    /// Creates an account without a password (signed in through a provider).
    pub async fn create_passwordless_account(
        &self,
        context: &CommandContext,
        email: Email,
        name: DisplayName,
    ) -> Result<UserId, IdentityError> {
        let user_id = Uuid::now_v7();
        let command = UserCommand::Register {
            email,
            name,
            password_hash: None,
            system_admin: false,
        };
        match self.run_user(user_id, command, context).await {
            Ok(_) => Ok(user_id),
            Err(CommandError::Conflict) => Err(IdentityError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn start_session(
        &self,
        context: &CommandContext,
        user_id: UserId,
        device: Device,
    ) -> Result<StartedSession, IdentityError> {
        let (token, token_hash) = tokens::new_token();
        let session_id = Uuid::now_v7();
        let at = self.clock.now();
        let policy = self.settings.sessions;
        let command = SessionCommand::Start {
            user_id,
            token_hash,
            ip: device.ip,
            user_agent: device.user_agent.map(|ua| ua.chars().take(512).collect()),
            at,
            policy,
        };
        // A fresh id: nothing to load, and nothing cached to evict (no entry can name a
        // session that did not exist).
        let appended = self
            .sessions
            .execute_new(session_id, command, context)
            .await?;
        let absolute = at + policy.absolute;
        Ok(StartedSession {
            session_id,
            user_id,
            token,
            expires_at: (at + policy.idle).min(absolute),
            position: appended.position,
        })
    }

    /// Resolves a bearer token to its principal, or `None` if it is unknown, ended, expired
    /// or belongs to a disabled account. Slides the session's expiry when due.
    pub async fn authenticate(
        &self,
        token: &str,
        context: &CommandContext,
    ) -> Result<Option<Principal>, StoreError> {
        if !tokens::looks_like_token(token) {
            return Ok(None);
        }
        let hash = tokens::hash_token(token);
        let now = self.clock.now();
        let policy = self.settings.sessions;
        // The cache answers while the session is valid and no renewal is due; the hash is of
        // a 256-bit random token, so looking it up by value reveals nothing to time.
        if let Some(hit) = self.cache.get(&hash.0) {
            let expires_at = hit.principal.session_expires_at;
            if now < expires_at
                && now < hit.absolute_expires_at
                && expires_at - now >= policy.idle / 2
            {
                self.touch(hit.principal.session_id, now).await?;
                return Ok(Some(hit.principal));
            }
        }
        let generation = self.cache.generation();
        let Some(row) = read::live_session_by_token_hash(&self.pool, &hash.0).await? else {
            return self.authenticate_from_log(&hash, now, context).await;
        };
        if !hashes_equal(&TokenHash(row.token_hash), &hash) {
            return Ok(None);
        }
        let session_id: SessionId = row.id;
        let absolute = row.absolute_expires_at;
        if row.disabled {
            return Ok(None);
        }
        let mut expires_at = row.expires_at;
        if now >= expires_at || now >= absolute {
            // The read model may lag a renewal made a moment ago: the write side decides.
            let (session, _) = self.sessions.load(session_id).await?;
            if self.ended_at(session_id, &session, now, context).await {
                return Ok(None);
            }
            expires_at = session.expires_at.unwrap_or(expires_at);
        }
        let Some(session_expires_at) = self
            .renew_if_due(session_id, expires_at, absolute, now, context)
            .await?
        else {
            return Ok(None);
        };
        let principal = Principal {
            user_id: row.user_id,
            session_id,
            email: row.email,
            name: row.name,
            system_admin: row.system_admin,
            auditor: row.auditor,
            created_at: row.user_created_at,
            session_expires_at,
        };
        self.cache.insert(
            generation,
            row.read_checkpoint.unwrap_or(0),
            hash.0,
            CachedSession {
                principal: principal.clone(),
                absolute_expires_at: absolute,
            },
        );
        Ok(Some(principal))
    }

    /// One page of the sweep that ends, reason `expired`, the sessions that expired without
    /// being presented again (a presented one is ended then, see [`Self::ended_at`]): so
    /// that the log records every session's end and `auth_sessions` keeps only live ones.
    /// Candidates come from `auth_sessions`, `batch` of them after `after` in the order of
    /// their expiry; each is decided by the `Session` aggregate (`Expire`), so a renewal the
    /// read model lacks, or one committed meanwhile, keeps it alive. A session that cannot
    /// be ended is logged and skipped. Returns how many it ended and where the next page
    /// starts, `None` when this was the last.
    pub async fn end_expired_sessions(
        &self,
        after: Option<SweepCursor>,
        batch: i64,
    ) -> Result<(usize, Option<SweepCursor>), IdentityError> {
        let now = self.clock.now();
        let context = CommandContext {
            actor: "system:session-expiry".into(),
            correlation_id: Uuid::now_v7().to_string(),
            causation_id: None,
        };
        // Keyset pages over (expiry, id): rows this pass ended stay in the read model until
        // the projection applies their end, and must not be read again. Every session
        // expires after 1970, so the epoch starts the first page.
        let (after_expiry, after_id) = after.unwrap_or((DateTime::UNIX_EPOCH, Uuid::nil()));
        let page: Vec<SweepCursor> =
            read::expired_session_page(&self.pool, now, (after_expiry, after_id), batch)
                .await
                .map_err(StoreError::from)?;
        let mut ended = 0;
        for (_, session_id) in &page {
            let expire = SessionCommand::Expire { at: now };
            match self.run_session(*session_id, expire, &context).await {
                Ok(appended) if appended.position.is_some() => ended += 1,
                Ok(_) => {}
                // Renewed or ended by a request (or another process) meanwhile.
                Err(CommandError::Conflict) => {}
                Err(error) => {
                    tracing::warn!(%session_id, %error, "expired session not ended; next sweep")
                }
            }
        }
        let next = match page.last() {
            Some(last) if page.len() as i64 == batch => Some(*last),
            _ => None,
        };
        Ok((ended, next))
    }

    /// Whether the session (as the write side has it) is no longer valid at `now`; one that
    /// has just expired is ended, reason `expired`, as it is presented.
    async fn ended_at(
        &self,
        session_id: SessionId,
        session: &Session,
        now: DateTime<Utc>,
        context: &CommandContext,
    ) -> bool {
        if session.is_valid_at(now) {
            return false;
        }
        if session.ended.is_none() {
            let _ = self
                .run_session(session_id, SessionCommand::Expire { at: now }, context)
                .await;
        }
        true
    }

    /// Slides the session's expiry when less than half of the idle window is left, and
    /// records its use. Returns the expiry the caller should see, or `None` if the session
    /// turned out to have ended a moment ago (the read model has not caught up).
    async fn renew_if_due(
        &self,
        session_id: SessionId,
        expires_at: DateTime<Utc>,
        absolute: DateTime<Utc>,
        now: DateTime<Utc>,
        context: &CommandContext,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let policy = self.settings.sessions;
        let mut session_expires_at = expires_at;
        if expires_at - now < policy.idle / 2 {
            match self
                .run_session(
                    session_id,
                    SessionCommand::Renew { at: now, policy },
                    context,
                )
                .await
            {
                // Renewed (or another request renewed it just now): the slid expiry.
                Ok(_) => {
                    session_expires_at = expires_at.max((now + policy.idle).min(absolute));
                }
                Err(CommandError::Rejected(_)) => return Ok(None),
                _ => {}
            }
        }
        self.touch(session_id, now).await?;
        Ok(Some(session_expires_at))
    }

    /// A token that the `identity` read model does not know: unknown, or of a session
    /// started a moment ago (a login answers without waiting for the projection) here or in
    /// another process. Decided from the write side: the session's and the account's
    /// streams. Not cached; once the projection has the session, the usual path takes over.
    async fn authenticate_from_log(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
        context: &CommandContext,
    ) -> Result<Option<Principal>, StoreError> {
        let Some(start) = lookups::session_start_by_token_hash(&self.pool, hash).await? else {
            return Ok(None);
        };
        if !hashes_equal(&start.token_hash, hash) {
            return Ok(None);
        }
        let Ok(session_id) = start.session_id.parse::<SessionId>() else {
            return Ok(None);
        };
        let (session, _) = self.sessions.load(session_id).await?;
        let (Some(user_id), Some(expires_at), Some(absolute)) = (
            session.user_id,
            session.expires_at,
            session.absolute_expires_at,
        ) else {
            return Ok(None);
        };
        if self.ended_at(session_id, &session, now, context).await {
            return Ok(None);
        }
        let (user, _) = self.users.load(user_id).await?;
        let (Some(email), Some(name)) = (&user.email, &user.name) else {
            return Ok(None);
        };
        if !user.registered || user.disabled {
            return Ok(None);
        }
        // Sessions the projection has not applied yet slide and count as used like the
        // others (it may lag for long: stopped, or rebuilding).
        let Some(expires_at) = self
            .renew_if_due(session_id, expires_at, absolute, now, context)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Principal {
            user_id,
            session_id,
            email: email.as_str().to_owned(),
            name: name.as_str().to_owned(),
            system_admin: user.system_admin,
            auditor: user.auditor,
            created_at: start.user_created_at,
            session_expires_at: expires_at,
        }))
    }

    /// Records a session's last use, at most once a minute per session (operational data,
    /// not an event). This process remembers when it last wrote it, so most requests skip
    /// the write.
    async fn touch(&self, session_id: SessionId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let due = {
            let mut touched = self.touched.lock().expect("touched sessions");
            if touched.len() > 100_000 {
                touched.clear();
            }
            match touched.get(&session_id) {
                Some(last) if now - *last < Duration::minutes(1) => false,
                _ => {
                    touched.insert(session_id, now);
                    true
                }
            }
        };
        if due {
            read::record_session_use(&self.pool, session_id, now).await?;
        }
        Ok(())
    }

    /// Ends one session.
    pub async fn end_session(
        &self,
        context: &CommandContext,
        session_id: SessionId,
        reason: EndReason,
    ) -> Result<Appended, IdentityError> {
        Ok(self
            .run_session(session_id, SessionCommand::End { reason }, context)
            .await?)
    }

    /// Ends one of the user's own sessions; another user's session is "not found".
    pub async fn revoke_own_session(
        &self,
        context: &CommandContext,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<Appended, IdentityError> {
        // The write side: a session started a moment ago may not be in the read model yet.
        let (session, _) = self.sessions.load(session_id).await?;
        if session.user_id != Some(user_id) {
            return Err(IdentityError::NotFound);
        }
        self.end_session(context, session_id, EndReason::Revoked)
            .await
    }

    /// Ends every session of a user, except `keep`. Returns the newest append position.
    pub async fn end_all_sessions(
        &self,
        context: &CommandContext,
        user_id: UserId,
        keep: Option<SessionId>,
        reason: EndReason,
    ) -> Result<Option<i64>, IdentityError> {
        // Those of the read model and those it has not applied yet (a login answers before
        // the projection has its session).
        let ids: Vec<SessionId> = read::live_session_ids_of(&self.pool, user_id)
            .await
            .map_err(StoreError::from)?;
        let mut position = None;
        for id in ids.into_iter().filter(|id| Some(*id) != keep) {
            match self.end_session(context, id, reason).await {
                Ok(appended) => position = max_position(position, appended.position),
                Err(IdentityError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(position)
    }

    /// Changes the password after checking the current one; ends every other session.
    pub async fn change_password(
        &self,
        context: &CommandContext,
        principal: &Principal,
        current: &Password,
        new: &Password,
    ) -> Result<Option<i64>, IdentityError> {
        let (user, _) = self.users.load(principal.user_id).await?;
        let ok = match &user.password_hash {
            Some(hash) => self.hasher.verify(current, hash).await,
            None => false,
        };
        if !ok {
            return Err(IdentityError::InvalidCredentials);
        }
        let password_hash = self
            .hasher
            .hash(new)
            .await
            .map_err(|_| IdentityError::Hashing)?;
        let appended = self
            .run_user(
                principal.user_id,
                UserCommand::ChangePassword { password_hash },
                context,
            )
            .await?;
        let ended = self
            .end_all_sessions(
                context,
                principal.user_id,
                Some(principal.session_id),
                EndReason::PasswordChange,
            )
            .await?;
        Ok(max_position(appended.position, ended))
    }

    /// Starts a password reset for `email` in the background: the caller's response must not
    /// depend on whether the account exists (not even in its timing).
    pub fn request_password_reset(self: &Arc<Self>, context: CommandContext, email: Email) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(error) = this.run_password_reset(&context, &email).await {
                tracing::warn!(%error, "password reset request failed");
            }
        });
    }

    async fn run_password_reset(
        &self,
        context: &CommandContext,
        email: &Email,
    ) -> Result<(), IdentityError> {
        let Some(user_id) = self.user_id_for(email).await? else {
            tracing::info!("password reset for an unknown email; nothing sent");
            return Ok(());
        };
        let (token, token_hash) = tokens::new_token();
        let reset_id = Uuid::now_v7();
        let expires_at = self.clock.now() + self.settings.reset_token_ttl;
        // Retried on conflicts: the previous reset's delivery record may be appended at the
        // same moment.
        match self
            .user_command_retrying(
                context,
                user_id,
                UserCommand::RequestPasswordReset {
                    reset_id,
                    token_hash,
                    expires_at,
                },
            )
            .await
        {
            Ok(_) => {}
            Err(IdentityError::Disabled) => return Ok(()),
            Err(e) => return Err(e),
        }
        let link = format!(
            "{}/reset-password?token={token}",
            self.settings.frontend_url.trim_end_matches('/')
        );
        let minutes = self.settings.reset_token_ttl.num_minutes();
        let message = OutgoingEmail {
            to: email.as_str().to_owned(),
            subject: "Reset your Raptscallions password".into(),
            text: format!(
                "Someone asked to reset the password of your Raptscallions account.\n\n\
                 To choose a new password, open this link within {minutes} minutes:\n{link}\n\n\
                 Reset token: {token}\n\n\
                 If you did not ask for this, ignore this email: your password stays as it is.\n"
            ),
            html: None,
            message_id: None,
        };
        let retry = self.settings.mail_retry;
        let mut delay = retry.first_delay;
        for attempt in 1..=retry.attempts.max(1) {
            match self.mailer.send(&message).await {
                Ok(()) => {
                    self.user_command_retrying(
                        context,
                        user_id,
                        UserCommand::RecordResetEmail {
                            reset_id,
                            outcome: ResetEmailOutcome::Sent,
                        },
                    )
                    .await?;
                    return Ok(());
                }
                Err(error) => {
                    let final_attempt = attempt >= retry.attempts;
                    tracing::warn!(%error, attempt, final_attempt, "reset email not sent");
                    self.user_command_retrying(
                        context,
                        user_id,
                        UserCommand::RecordResetEmail {
                            reset_id,
                            outcome: ResetEmailOutcome::Failed {
                                attempt,
                                final_attempt,
                            },
                        },
                    )
                    .await?;
                    if final_attempt {
                        return Ok(());
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        Ok(())
    }

    /// Completes a reset with the emailed token; ends every session of the account.
    pub async fn confirm_password_reset(
        &self,
        context: &CommandContext,
        token: &str,
        new: &Password,
    ) -> Result<Option<i64>, IdentityError> {
        if !tokens::looks_like_token(token) {
            return Err(IdentityError::InvalidResetToken);
        }
        let token_hash = tokens::hash_token(token);
        // From the log, not the read model (see `user_of_reset_token`). A used, superseded
        // or expired token is refused before it costs a hash (the log still finds it); the
        // command checks again as it appends.
        let Some(user_id) = lookups::user_of_reset_token(&self.pool, &token_hash)
            .await
            .map_err(StoreError::from)?
        else {
            return Err(IdentityError::InvalidResetToken);
        };
        let (user, _) = self.users.load(user_id).await?;
        user.pending_reset_for(&token_hash, self.clock.now())
            .map_err(|e| IdentityError::from(CommandError::Rejected(e)))?;
        let password_hash = self
            .hasher
            .hash(new)
            .await
            .map_err(|_| IdentityError::Hashing)?;
        let appended = self
            .run_user(
                user_id,
                UserCommand::CompletePasswordReset {
                    token_hash,
                    password_hash,
                    at: self.clock.now(),
                },
                context,
            )
            .await?;
        let ended = self
            .end_all_sessions(context, user_id, None, EndReason::PasswordReset)
            .await?;
        Ok(max_position(appended.position, ended))
    }

    /// Disables or enables an account; disabling ends all its sessions.
    pub async fn set_disabled(
        &self,
        context: &CommandContext,
        user_id: UserId,
        disabled: bool,
    ) -> Result<Option<i64>, IdentityError> {
        let command = if disabled {
            UserCommand::Disable
        } else {
            UserCommand::Enable
        };
        let appended = self.run_user(user_id, command, context).await?;
        let ended = if disabled {
            self.end_all_sessions(context, user_id, None, EndReason::Disabled)
                .await?
        } else {
            None
        };
        Ok(max_position(appended.position, ended))
    }
}
