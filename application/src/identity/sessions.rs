//! Sign-in sessions: starting one, authenticating its token (from the session cache, the
//! `identity` read model, or the log for a session started a moment ago), sliding its expiry
//! when due and recording its use, ending one or all of an account's, and the sweep that
//! ends, reason `expired`, the sessions that expired without being presented again.

use chrono::{DateTime, Duration, Utc};
use domain::auth_session::{AuthSession, AuthSessionCommand, AuthSessionId, EndReason};
use domain::user::{TokenHash, UserId};
use projections::identity as read;
use uuid::Uuid;

use super::error::IdentityError;
use super::principal::Principal;
use super::session_cache::CachedSession;
use super::{max_position, Identity};
use crate::store::lookups;
use crate::tokens::{self, hashes_equal};
use crate::{Appended, CommandContext, CommandError, StoreError};

/// Where a login comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A new session. `token` is the bearer secret: returned to the client once, never stored.
#[derive(Debug, Clone)]
pub struct StartedSession {
    pub session_id: AuthSessionId,
    pub user_id: UserId,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub position: Option<i64>,
}

/// Where a sweep of expired sessions has got to: the expiry and id of the last candidate.
pub type SweepCursor = (DateTime<Utc>, AuthSessionId);

impl Identity {
    /// Starts a session for an account that signed in some other way (an OpenID provider).
    pub async fn start_session_for(
        &self,
        context: &CommandContext,
        user_id: UserId,
        device: Device,
    ) -> Result<StartedSession, IdentityError> {
        self.start_session(context, user_id, device).await
    }

    pub(super) async fn start_session(
        &self,
        context: &CommandContext,
        user_id: UserId,
        device: Device,
    ) -> Result<StartedSession, IdentityError> {
        let (token, token_hash) = tokens::new_token();
        let session_id = Uuid::now_v7();
        let at = self.clock.now();
        let policy = self.settings.sessions;
        let command = AuthSessionCommand::Start {
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
        let session_id: AuthSessionId = row.id;
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
        let Ok(session_id) = start.session_id.parse::<AuthSessionId>() else {
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

    /// Slides the session's expiry when less than half of the idle window is left, and
    /// records its use. Returns the expiry the caller should see, or `None` if the session
    /// turned out to have ended a moment ago (the read model has not caught up).
    async fn renew_if_due(
        &self,
        session_id: AuthSessionId,
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
                    AuthSessionCommand::Renew { at: now, policy },
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

    /// Whether the session (as the write side has it) is no longer valid at `now`; one that
    /// has just expired is ended, reason `expired`, as it is presented.
    async fn ended_at(
        &self,
        session_id: AuthSessionId,
        session: &AuthSession,
        now: DateTime<Utc>,
        context: &CommandContext,
    ) -> bool {
        if session.is_valid_at(now) {
            return false;
        }
        if session.ended.is_none() {
            let _ = self
                .run_session(session_id, AuthSessionCommand::Expire { at: now }, context)
                .await;
        }
        true
    }

    /// Records a session's last use, at most once a minute per session (operational data,
    /// not an event). This process remembers when it last wrote it, so most requests skip
    /// the write.
    async fn touch(&self, session_id: AuthSessionId, now: DateTime<Utc>) -> Result<(), StoreError> {
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
        session_id: AuthSessionId,
        reason: EndReason,
    ) -> Result<Appended, IdentityError> {
        Ok(self
            .run_session(session_id, AuthSessionCommand::End { reason }, context)
            .await?)
    }

    /// Ends one of the user's own sessions; another user's session is "not found".
    pub async fn revoke_own_session(
        &self,
        context: &CommandContext,
        user_id: UserId,
        session_id: AuthSessionId,
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
        keep: Option<AuthSessionId>,
        reason: EndReason,
    ) -> Result<Option<i64>, IdentityError> {
        // Those of the read model and those it has not applied yet (a login answers before
        // the projection has its session).
        let ids: Vec<AuthSessionId> = read::live_session_ids_of(&self.pool, user_id)
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

    /// One page of the sweep that ends, reason `expired`, the sessions that expired without
    /// being presented again (a presented one is ended then, see `ended_at`): so
    /// that the log records every session's end and `auth_sessions` keeps only live ones.
    /// Candidates come from `auth_sessions`, `batch` of them after `after` in the order of
    /// their expiry; each is decided by the `AuthSession` aggregate (`Expire`), so a renewal the
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
            let expire = AuthSessionCommand::Expire { at: now };
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
}
