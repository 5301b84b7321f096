//! `unknown_email_login_failures`: failed logins for emails that have no account, counted so
//! that such an email is throttled on the same schedule as an account. Not a read model (no
//! event behind it: an email without an account has no stream) and not rebuilt by `replay`;
//! shared by every instance. Keyed by the SHA-256 of the normalized email. This module is
//! the table's only reader and writer.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// How many logins for the email with this SHA-256 failed, and when the last one did.
pub async fn failures_of<'e>(
    executor: impl PgExecutor<'e>,
    email_sha256: &[u8],
) -> sqlx::Result<Option<(i32, DateTime<Utc>)>> {
    sqlx::query_as(
        "SELECT failures, last_failed_at FROM unknown_email_login_failures \
         WHERE email_sha256 = $1",
    )
    .bind(email_sha256)
    .fetch_optional(executor)
    .await
}

/// Counts one more failure at `at` (the count stops growing at `i32::MAX`).
pub async fn record_failure<'e>(
    executor: impl PgExecutor<'e>,
    email_sha256: &[u8],
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO unknown_email_login_failures (email_sha256, failures, last_failed_at) \
         VALUES ($1, 1, $2) ON CONFLICT (email_sha256) DO UPDATE SET \
         failures = LEAST(unknown_email_login_failures.failures, 2147483646) + 1, \
         last_failed_at = EXCLUDED.last_failed_at",
    )
    .bind(email_sha256)
    .bind(at)
    .execute(executor)
    .await
    .map(drop)
}
