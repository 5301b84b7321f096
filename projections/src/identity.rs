//! The `identity` read models and every query on them.
//!
//! This module owns the tables `users`, `auth_sessions` (live sign-in sessions: a row is
//! deleted when its session ends), `password_reset_tokens` and `service_accounts`: the
//! projection below writes them, and the named queries at the end are the only reads (the
//! use cases in `application` call them instead of sending SQL of their own; the member
//! lists of `directory` join `users`). It also owns `auth_session_activity`, operational data
//! rather than a projection: when each session was last used, written on the request path by
//! [`record_session_use`], read with the session list, and neither rebuilt nor cleared by
//! `replay`.

use anyhow::{bail, Context as _};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::auth_session::{AuthSession, AuthSessionEvent};
use domain::service_account::{ServiceAccount, ServiceAccountEvent};
use domain::user::{User, UserEvent};
use domain::Aggregate as _;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::Projection;

/// The subscriber name of this projection.
pub const NAME: &str = "identity";

/// The notification channel on which this projection announces every change of a user, a
/// session or a service account as its batch commits: payloads `user:<id>`, `session:<id>`
/// and `service_account:<id>`. Every process's session and service-account caches evict on it.
pub const CHANNEL: &str = "rapt_identity_changed";

/// The prefix of [`CHANNEL`]'s payloads about a service account (`service_account:<id>`).
pub const SERVICE_ACCOUNT_PREFIX: &str = "service_account:";

pub struct IdentityProjection;

#[async_trait]
impl Projection for IdentityProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[User::TYPE, AuthSession::TYPE, ServiceAccount::TYPE])
    }

    /// Every login appends a session; nothing waits for this projection on the way (tokens
    /// not applied yet are found in the log, ADR 0007), and the reads that do wait hurry it.
    fn batch_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(20)
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "users",
            "auth_sessions",
            "password_reset_tokens",
            "service_accounts",
        ]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        if event.aggregate_type == ServiceAccount::TYPE {
            let id: Uuid = event.aggregate_id.parse().context("stream id")?;
            let payload: ServiceAccountEvent =
                serde_json::from_value(event.payload.clone()).context("service account event")?;
            return apply_service_account(conn, id, event, payload).await;
        }
        let id: Uuid = match event.aggregate_type.as_str() {
            t if t == User::TYPE || t == AuthSession::TYPE => {
                event.aggregate_id.parse().context("stream id")?
            }
            _ => return Ok(()),
        };
        let changed = if event.aggregate_type == User::TYPE {
            let payload: UserEvent =
                serde_json::from_value(event.payload.clone()).context("user event")?;
            apply_user(conn, id, event, payload).await?;
            format!("user:{id}")
        } else {
            let payload: AuthSessionEvent =
                serde_json::from_value(event.payload.clone()).context("session event")?;
            let started = matches!(payload, AuthSessionEvent::Started { .. });
            apply_session(conn, id, event, payload).await?;
            if started {
                return Ok(());
            }
            format!("session:{id}")
        };
        // Every process's session cache evicts on this when the batch commits.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(changed)
            .execute(conn)
            .await?;
        Ok(())
    }
}

async fn apply_user(
    conn: &mut PgConnection,
    id: Uuid,
    event: &LoggedEvent,
    payload: UserEvent,
) -> anyhow::Result<()> {
    let at = event.recorded_at;
    let seq = event.sequence;
    if let UserEvent::Registered {
        email,
        name,
        system_admin,
        ..
    } = &payload
    {
        sqlx::query(
            "INSERT INTO users (id, email, name, disabled, system_admin, created_at, updated_at, \
                                version) \
             VALUES ($1, $2, $3, false, $4, $5, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(email.as_str())
        .bind(name.as_str())
        .bind(system_admin)
        .bind(at)
        .bind(seq)
        .execute(conn)
        .await?;
        return Ok(());
    }
    // Every other user event moves the version, guarded so nothing applies twice.
    let (set, text): (&str, Option<String>) = match &payload {
        UserEvent::Renamed { name } => ("name = $4", Some(name.as_str().to_owned())),
        UserEvent::Disabled => ("disabled = true", None),
        UserEvent::Enabled => ("disabled = false", None),
        UserEvent::SystemAdminGranted => ("system_admin = true", None),
        UserEvent::SystemAdminRevoked => ("system_admin = false", None),
        UserEvent::AuditorGranted => ("auditor = true", None),
        UserEvent::AuditorRevoked => ("auditor = false", None),
        _ => ("email = email", None),
    };
    let sql = format!(
        "UPDATE users SET {set}, updated_at = $2, version = $3 WHERE id = $1 AND version = $3 - 1"
    );
    let mut query = sqlx::query(&sql).bind(id).bind(at).bind(seq);
    if let Some(text) = text {
        query = query.bind(text);
    }
    let updated = query.execute(&mut *conn).await?.rows_affected();
    if updated == 0 {
        let version: Option<i64> = sqlx::query_scalar("SELECT version FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        match version {
            Some(v) if v >= seq => return Ok(()),
            other => bail!("user {id} is at version {other:?}, cannot apply event #{seq}"),
        }
    }
    match payload {
        UserEvent::PasswordResetRequested {
            reset_id,
            token_hash,
            expires_at,
        } => {
            // A newer request supersedes the older token.
            sqlx::query(
                "INSERT INTO password_reset_tokens (token_hash, user_id, reset_id, expires_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, \
                     reset_id = EXCLUDED.reset_id, expires_at = EXCLUDED.expires_at",
            )
            .bind(&token_hash.0)
            .bind(id)
            .bind(reset_id)
            .bind(expires_at)
            .execute(conn)
            .await?;
        }
        UserEvent::PasswordResetCompleted { .. } | UserEvent::PasswordChanged { .. } => {
            sqlx::query("DELETE FROM password_reset_tokens WHERE user_id = $1")
                .bind(id)
                .execute(conn)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

async fn apply_service_account(
    conn: &mut PgConnection,
    id: Uuid,
    event: &LoggedEvent,
    payload: ServiceAccountEvent,
) -> anyhow::Result<()> {
    let (sql, hash): (&str, Option<String>) = match payload {
        ServiceAccountEvent::Created {
            name,
            group_ids,
            secret_hash,
        } => {
            sqlx::query(
                "INSERT INTO service_accounts (id, name, group_ids, secret_hash, revoked, \
                                               created_at, updated_at, version) \
                 VALUES ($1, $2, $3, $4, false, $5, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(name)
            .bind(group_ids)
            .bind(secret_hash.0)
            .bind(event.recorded_at)
            .bind(event.sequence)
            .execute(conn)
            .await?;
            return Ok(());
        }
        ServiceAccountEvent::SecretRotated { secret_hash } => (
            "UPDATE service_accounts SET secret_hash = $4, updated_at = $2, version = $3 \
             WHERE id = $1 AND version = $3 - 1",
            Some(secret_hash.0),
        ),
        ServiceAccountEvent::Revoked => (
            "UPDATE service_accounts SET revoked = true, updated_at = $2, version = $3 \
             WHERE id = $1 AND version = $3 - 1",
            None,
        ),
    };
    let mut query = sqlx::query(sql)
        .bind(id)
        .bind(event.recorded_at)
        .bind(event.sequence);
    if let Some(hash) = hash {
        query = query.bind(hash);
    }
    if query.execute(&mut *conn).await?.rows_affected() == 0 {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM service_accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        match version {
            Some(v) if v >= event.sequence => {}
            other => bail!(
                "service account {id} at version {other:?}, event #{}",
                event.sequence
            ),
        }
    }
    // A rotated or revoked secret: every process's service-account cache evicts the account
    // when this batch commits.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(format!("{SERVICE_ACCOUNT_PREFIX}{id}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn apply_session(
    conn: &mut PgConnection,
    id: Uuid,
    event: &LoggedEvent,
    payload: AuthSessionEvent,
) -> anyhow::Result<()> {
    match payload {
        AuthSessionEvent::Started {
            user_id,
            token_hash,
            ip,
            user_agent,
            expires_at,
            absolute_expires_at,
        } => {
            sqlx::query(
                "INSERT INTO auth_sessions (id, user_id, token_hash, created_at, expires_at, \
                                            absolute_expires_at, ip, user_agent) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(user_id)
            .bind(&token_hash.0)
            .bind(event.recorded_at)
            .bind(expires_at)
            .bind(absolute_expires_at)
            .bind(ip)
            .bind(user_agent)
            .execute(conn)
            .await?;
        }
        AuthSessionEvent::Renewed { expires_at } => {
            sqlx::query("UPDATE auth_sessions SET expires_at = $2 WHERE id = $1")
                .bind(id)
                .bind(expires_at)
                .execute(conn)
                .await?;
        }
        AuthSessionEvent::Ended { .. } => {
            sqlx::query("DELETE FROM auth_sessions WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// A user row of the read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub disabled: bool,
    pub system_admin: bool,
    pub auditor: bool,
    pub created_at: DateTime<Utc>,
}

impl<'r> FromRow<'r, PgRow> for UserRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            disabled: row.try_get("disabled")?,
            system_admin: row.try_get("system_admin")?,
            auditor: row.try_get("auditor")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

pub async fn get_user<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(
        "SELECT id, email, name, disabled, system_admin, auditor, created_at FROM users \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A live sign-in session of the read model, with its last use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSessionRow {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl<'r> FromRow<'r, PgRow> for AuthSessionRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            created_at: row.try_get("created_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
            expires_at: row.try_get("expires_at")?,
            absolute_expires_at: row.try_get("absolute_expires_at")?,
            ip: row.try_get("ip")?,
            user_agent: row.try_get("user_agent")?,
        })
    }
}

/// The user's sessions that have not ended nor expired at `now`, newest first.
pub async fn sessions_of<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<AuthSessionRow>> {
    sqlx::query_as(
        "SELECT s.id, s.created_at, coalesce(a.last_seen_at, s.created_at) AS last_seen_at, \
                s.expires_at, s.absolute_expires_at, s.ip, s.user_agent \
         FROM auth_sessions s LEFT JOIN auth_session_activity a ON a.session_id = s.id \
         WHERE s.user_id = $1 AND s.expires_at > $2 AND s.absolute_expires_at > $2 \
         ORDER BY s.created_at DESC, s.id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(executor)
    .await
}

/// The session a token hash names, with its account, as the read model has them, and how far
/// the projection had got when they were read (`None` before its first batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub email: String,
    pub name: String,
    pub disabled: bool,
    pub system_admin: bool,
    pub auditor: bool,
    /// When the account was created.
    pub user_created_at: DateTime<Utc>,
    pub read_checkpoint: Option<i64>,
}

impl<'r> FromRow<'r, PgRow> for LiveSessionRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            token_hash: row.try_get("token_hash")?,
            expires_at: row.try_get("expires_at")?,
            absolute_expires_at: row.try_get("absolute_expires_at")?,
            email: row.try_get("email")?,
            name: row.try_get("name")?,
            disabled: row.try_get("disabled")?,
            system_admin: row.try_get("system_admin")?,
            auditor: row.try_get("auditor")?,
            user_created_at: row.try_get("user_created_at")?,
            read_checkpoint: row.try_get("read_checkpoint")?,
        })
    }
}

/// The live session whose token hashes to `token_hash`, joined with its account, in one
/// round trip with this projection's checkpoint (which the session cache needs). Not yet
/// there for a session started a moment ago: that one is in the log.
pub async fn live_session_by_token_hash<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &str,
) -> sqlx::Result<Option<LiveSessionRow>> {
    sqlx::query_as(
        "SELECT s.id, s.user_id, s.token_hash, s.expires_at, s.absolute_expires_at, \
                u.email, u.name, u.disabled, u.system_admin, u.auditor, \
                u.created_at AS user_created_at, \
                (SELECT position FROM subscriber_checkpoints WHERE name = 'identity') \
                    AS read_checkpoint \
         FROM auth_sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(executor)
    .await
}

/// A signed-in user as authorization sees them, read from the read model itself (no cache):
/// for a decision that must reflect everything up to the checkpoint read before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedInNow {
    /// The session is live in the read model, or was started after the point the projection
    /// has reached (a login answers before the projection has its session). An ended session
    /// is neither.
    pub session_live: bool,
    /// The account's flags; all false when the read model does not have the account yet.
    pub disabled: bool,
    pub system_admin: bool,
    pub auditor: bool,
}

/// [`SignedInNow`] of `user_id` signed in through `session_id`, in one snapshot.
pub async fn signed_in_now<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
    session_id: Uuid,
) -> sqlx::Result<SignedInNow> {
    let (session_live, disabled, system_admin, auditor) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM auth_sessions WHERE id = $2 AND user_id = $1) \
                OR EXISTS (SELECT 1 FROM events WHERE aggregate_type = $3 \
                           AND aggregate_id = $2::text \
                           AND position > (SELECT coalesce(max(position), 0) \
                                           FROM subscriber_checkpoints WHERE name = $4)), \
                coalesce(u.disabled, false), coalesce(u.system_admin, false), \
                coalesce(u.auditor, false) \
         FROM (SELECT $1::uuid AS id) me LEFT JOIN users u ON u.id = me.id",
    )
    .bind(user_id)
    .bind(session_id)
    .bind(AuthSession::TYPE)
    .bind(NAME)
    .fetch_one(executor)
    .await?;
    Ok(SignedInNow {
        session_live,
        disabled,
        system_admin,
        auditor,
    })
}

/// One page of the live sessions that stopped being valid at or before `now` (idle or
/// absolute expiry, whichever comes first), `limit` of them after `after` in the order of
/// (that moment, id): index `auth_sessions_expiry`. Each item is where the next page starts.
pub async fn expired_session_page<'e>(
    executor: impl PgExecutor<'e>,
    now: DateTime<Utc>,
    after: (DateTime<Utc>, Uuid),
    limit: i64,
) -> sqlx::Result<Vec<(DateTime<Utc>, Uuid)>> {
    sqlx::query_as(
        "SELECT least(expires_at, absolute_expires_at), id FROM auth_sessions \
         WHERE least(expires_at, absolute_expires_at) <= $1 \
           AND (least(expires_at, absolute_expires_at), id) > ($2, $3) \
         ORDER BY least(expires_at, absolute_expires_at), id LIMIT $4",
    )
    .bind(now)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(executor)
    .await
}

/// Every session of the user that may still be live: those of the read model, and those
/// started after the point this projection has reached (a login answers before the
/// projection has its session), read in one snapshot so that nothing falls between the two.
pub async fn live_session_ids_of<'e>(
    executor: impl PgExecutor<'e>,
    user_id: Uuid,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM auth_sessions WHERE user_id = $1 \
         UNION \
         SELECT aggregate_id::uuid FROM events \
         WHERE position > (SELECT coalesce(max(position), 0) FROM subscriber_checkpoints \
                           WHERE name = 'identity') \
           AND event_type = 'auth.session_started' AND payload ->> 'user_id' = $1::text",
    )
    .bind(user_id)
    .fetch_all(executor)
    .await
}

/// Records that a session was used at `now` (`auth_session_activity`), unless a use less
/// than a minute before is recorded already.
pub async fn record_session_use<'e>(
    executor: impl PgExecutor<'e>,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO auth_session_activity (session_id, last_seen_at) VALUES ($1, $2) \
         ON CONFLICT (session_id) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at \
         WHERE auth_session_activity.last_seen_at < EXCLUDED.last_seen_at - interval '1 minute'",
    )
    .bind(session_id)
    .bind(now)
    .execute(executor)
    .await
    .map(drop)
}

/// A service account that is not revoked, found by the hash of its secret, and how far this
/// projection had got when it was read (`None` before its first batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRow {
    pub id: Uuid,
    pub name: String,
    pub group_ids: Vec<Uuid>,
    pub secret_hash: String,
    pub read_checkpoint: Option<i64>,
}

impl<'r> FromRow<'r, PgRow> for ServiceAccountRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            group_ids: row.try_get("group_ids")?,
            secret_hash: row.try_get("secret_hash")?,
            read_checkpoint: row.try_get("read_checkpoint")?,
        })
    }
}

/// The service account (not revoked) whose secret hashes to `secret_hash`.
pub async fn service_account_by_secret_hash<'e>(
    executor: impl PgExecutor<'e>,
    secret_hash: &str,
) -> sqlx::Result<Option<ServiceAccountRow>> {
    sqlx::query_as(
        "SELECT id, name, group_ids, secret_hash, \
                (SELECT position FROM subscriber_checkpoints WHERE name = 'identity') \
                    AS read_checkpoint \
         FROM service_accounts WHERE secret_hash = $1 AND NOT revoked",
    )
    .bind(secret_hash)
    .fetch_optional(executor)
    .await
}
