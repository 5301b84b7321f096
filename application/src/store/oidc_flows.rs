//! `oidc_flows`: sign-ins at OpenID providers in progress (at most ten minutes). Not
//! event-sourced: ephemeral protocol state, kept server-side so that the PKCE verifier and the
//! nonce never leave the server. This module is the table's only reader and writer.

use sqlx::PgExecutor;
use uuid::Uuid;

/// A flow to remember until its callback.
pub struct NewFlow<'a> {
    /// The hex SHA-256 of the `state` sent to the provider (the flow's key).
    pub state_hash: &'a str,
    /// The hex SHA-256 of the value in the browser's `oidc_flow` cookie.
    pub browser_hash: &'a str,
    pub provider: &'a str,
    /// `login` or `link`.
    pub purpose: &'a str,
    /// The account to link to (`link` only).
    pub user_id: Option<Uuid>,
    pub pkce_verifier: &'a str,
    pub nonce: &'a str,
}

/// A flow taken by its callback.
pub struct TakenFlow {
    pub browser_hash: String,
    pub purpose: String,
    pub user_id: Option<Uuid>,
    pub pkce_verifier: String,
    pub nonce: String,
    /// Whether it was started less than ten minutes ago.
    pub fresh: bool,
}

/// Forgets the flows started more than ten minutes ago.
pub async fn delete_stale<'e>(executor: impl PgExecutor<'e>) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oidc_flows WHERE created_at < now() - interval '10 minutes'")
        .execute(executor)
        .await
        .map(drop)
}

/// Remembers a started flow.
pub async fn insert<'e>(executor: impl PgExecutor<'e>, flow: &NewFlow<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO oidc_flows (state_hash, browser_hash, provider, purpose, user_id, \
                                 pkce_verifier, nonce) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(flow.state_hash)
    .bind(flow.browser_hash)
    .bind(flow.provider)
    .bind(flow.purpose)
    .bind(flow.user_id)
    .bind(flow.pkce_verifier)
    .bind(flow.nonce)
    .execute(executor)
    .await
    .map(drop)
}

/// Deletes the flow of `state_hash` at `provider` and returns it: a flow is taken once, so a
/// replayed callback finds nothing.
pub async fn take<'e>(
    executor: impl PgExecutor<'e>,
    state_hash: &str,
    provider: &str,
) -> sqlx::Result<Option<TakenFlow>> {
    let row: Option<(String, String, Option<Uuid>, String, String, bool)> = sqlx::query_as(
        "DELETE FROM oidc_flows WHERE state_hash = $1 AND provider = $2 \
         RETURNING browser_hash, purpose, user_id, pkce_verifier, nonce, \
                   created_at > now() - interval '10 minutes' AS fresh",
    )
    .bind(state_hash)
    .bind(provider)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(
        |(browser_hash, purpose, user_id, pkce_verifier, nonce, fresh)| TakenFlow {
            browser_hash,
            purpose,
            user_id,
            pkce_verifier,
            nonce,
            fresh,
        },
    ))
}
