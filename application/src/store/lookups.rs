//! What the write side reads besides its streams: the reservation tables that triggers on
//! `events` fill inside the append's transaction (`email_reservations`: one account per
//! email; `identity_links`: one account per provider identity), and the token hashes in the
//! streams' own events (partial indexes on `payload ->> 'token_hash'`), and the correlation
//! ids in events' metadata (`events_correlation_idx`). This module is the only reader of those
//! tables. Each lookup is one indexed read; a stream it finds is then
//! loaded as every stream is ([`CommandRunner::load`]).
//!
//! [`CommandRunner::load`]: super::CommandRunner::load

use chrono::{DateTime, Utc};
use domain::user::{Email, TokenHash, UserId};
use sqlx::PgExecutor;
use uuid::Uuid;

/// The account registered for `email` (`email_reservations`).
pub async fn user_of_email<'e>(
    executor: impl PgExecutor<'e>,
    email: &Email,
) -> sqlx::Result<Option<UserId>> {
    sqlx::query_scalar("SELECT user_id FROM email_reservations WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(executor)
        .await
}

/// The account registered for `email` and when it was created (its first event was
/// recorded): what a login needs besides the account's events.
pub async fn account_of_email<'e>(
    executor: impl PgExecutor<'e>,
    email: &Email,
) -> sqlx::Result<Option<(UserId, DateTime<Utc>)>> {
    sqlx::query_as(
        "SELECT r.user_id, e.recorded_at FROM email_reservations r \
         JOIN events e ON e.aggregate_type = 'user' AND e.aggregate_id = r.user_id::text \
                      AND e.sequence = 1 \
         WHERE r.email = $1",
    )
    .bind(email.as_str())
    .fetch_optional(executor)
    .await
}

/// The account that asked for the reset whose token hash is `token_hash`, from its
/// `user.password_reset_requested` event (partial index `events_reset_token_hash`), not from
/// the `password_reset_tokens` read model: a link clicked at once must work before the
/// projection has the request. Whether that reset is still pending, the account decides.
pub async fn user_of_reset_token<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &TokenHash,
) -> sqlx::Result<Option<UserId>> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events \
         WHERE event_type = 'user.password_reset_requested' AND payload ->> 'token_hash' = $1 \
         LIMIT 1",
    )
    .bind(&token_hash.0)
    .fetch_optional(executor)
    .await?;
    Ok(id.and_then(|id| Uuid::parse_str(&id).ok()))
}

/// A session's start as the log has it, found by its token hash (partial index
/// `events_session_token_hash`), with when its account was created: for a token the
/// `auth_sessions` read model does not know yet (a login answers before the projection has
/// its session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedSessionStart {
    /// The session's stream id as stored.
    pub session_id: String,
    pub token_hash: TokenHash,
    /// When the account was created (its first event was recorded).
    pub user_created_at: DateTime<Utc>,
}

/// The `auth.session_started` event whose token hashes to `token_hash`, if any.
pub async fn session_start_by_token_hash<'e>(
    executor: impl PgExecutor<'e>,
    token_hash: &TokenHash,
) -> sqlx::Result<Option<LoggedSessionStart>> {
    let row: Option<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT s.aggregate_id, s.payload ->> 'token_hash', u.recorded_at \
         FROM events s \
         JOIN events u ON u.aggregate_type = 'user' \
                      AND u.aggregate_id = s.payload ->> 'user_id' AND u.sequence = 1 \
         WHERE s.event_type = 'auth.session_started' AND s.payload ->> 'token_hash' = $1",
    )
    .bind(&token_hash.0)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(
        |(session_id, token_hash, user_created_at)| LoggedSessionStart {
            session_id,
            token_hash: TokenHash(token_hash),
            user_created_at,
        },
    ))
}

/// The account a provider's identity (`provider`, `subject`) is linked to (`identity_links`).
pub async fn user_of_identity<'e>(
    executor: impl PgExecutor<'e>,
    provider: &str,
    subject: &str,
) -> sqlx::Result<Option<UserId>> {
    sqlx::query_scalar("SELECT user_id FROM identity_links WHERE provider = $1 AND subject = $2")
        .bind(provider)
        .bind(subject)
        .fetch_optional(executor)
        .await
}

/// The providers linked to an account and since when, by provider name.
pub async fn links_of<'e>(
    executor: impl PgExecutor<'e>,
    user_id: UserId,
) -> sqlx::Result<Vec<(String, DateTime<Utc>)>> {
    sqlx::query_as(
        "SELECT provider, linked_at FROM identity_links WHERE user_id = $1 ORDER BY provider",
    )
    .bind(user_id)
    .fetch_all(executor)
    .await
}

/// The stream (aggregate type and id) of the first event that `actor` appended under
/// `correlation_id` (index `events_correlation_idx`): how a command-line job that names each
/// of its commands with a correlation id of its own (`raptscallions demo`) finds, when run
/// again, what an earlier run already did, instead of doing it twice.
pub async fn stream_of_correlation<'e>(
    executor: impl PgExecutor<'e>,
    actor: &str,
    correlation_id: &str,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as(
        "SELECT aggregate_type, aggregate_id FROM events \
         WHERE metadata ->> 'correlation_id' = $1 AND metadata ->> 'actor' = $2 \
         ORDER BY position LIMIT 1",
    )
    .bind(correlation_id)
    .bind(actor)
    .fetch_optional(executor)
    .await
}

/// What [`reserve_folded_emails`] found among the emails registered before the folding that
/// a person should look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldedEmailReport {
    /// Pairs of accounts whose emails fold to one.
    pub clashes: Vec<FoldedEmailClash>,
    /// Accounts whose email today's rules refuse (a local part beyond ASCII that does not
    /// fold to ASCII, such as a Cyrillic letter): they are no longer found by email, and
    /// they may look like another account.
    pub refused: Vec<(UserId, String)>,
}

/// Two accounts whose emails, registered before emails were folded to one spelling
/// ([`Email::parse`]), fold to the same one: the folded spelling stays with `kept`, and
/// `other` is no longer found by its email (its own spelling is refused or folds to
/// `kept`'s). Someone must decide which person is which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedEmailClash {
    pub folded: String,
    pub kept: UserId,
    pub other: UserId,
    pub other_email: String,
}

/// Reserves, beside each email registered before the folding (the only ones that may not be
/// in their folded spelling are those with a character beyond ASCII), its folded spelling for
/// the same account, so that the account is found by what people type now (login, password
/// reset, sign-in with a provider) and no new account can take that spelling. The events
/// stay as they are: this writes only the reservation table, which the events' trigger fills.
/// A folded spelling that another account already holds stays with it (the older
/// reservation first); such pairs are reported. Safe to run again: it adds only what is
/// missing. An email the rules now refuse (a local part beyond ASCII that does not fold to
/// ASCII) gets no second reservation: it still blocks its own spelling, the account is no
/// longer found by email, and it is reported.
pub async fn reserve_folded_emails(pool: &sqlx::PgPool) -> sqlx::Result<FoldedEmailReport> {
    let rows: Vec<(String, UserId)> = sqlx::query_as(
        "SELECT email, user_id FROM email_reservations \
         WHERE octet_length(email) <> char_length(email) ORDER BY reserved_at, email",
    )
    .fetch_all(pool)
    .await?;
    let mut report = FoldedEmailReport::default();
    for (email, user_id) in rows {
        let Some(folded) = Email::try_from(email.clone()).ok().and_then(|e| e.folded()) else {
            report.refused.push((user_id, email));
            continue;
        };
        if folded.as_str() == email {
            continue;
        }
        let holder: UserId = sqlx::query_scalar(
            "INSERT INTO email_reservations (email, user_id) VALUES ($1, $2) \
             ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email \
             RETURNING user_id",
        )
        .bind(folded.as_str())
        .bind(user_id)
        .fetch_one(pool)
        .await?;
        if holder != user_id {
            report.clashes.push(FoldedEmailClash {
                folded: folded.as_str().to_owned(),
                kept: holder,
                other: user_id,
                other_email: email,
            });
        }
    }
    Ok(report)
}
