//! Finding which stream a request is about, before loading it: by the email's reservation
//! (written by a trigger in the registration's append) or by the hash of a token in the
//! stream's own events (partial indexes on `payload ->> 'token_hash'`). Each is one indexed
//! row; the stream is then loaded as every stream is ([`CommandRunner::load`]).
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
