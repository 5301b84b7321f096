//! The sweep of expired sign-in sessions: every `SESSION_SWEEP_INTERVAL_MS`, the sessions that
//! expired without being used again are ended (reason `expired`), so the log records every
//! session's end and `auth_sessions` keeps only live ones. One process at a time sweeps.

use std::sync::Arc;

use tokio::sync::watch;

use crate::state::Services;

/// Every `every`, ends the sessions that expired without being used again (see
/// `Identity::end_expired_sessions`), until shutdown.
pub async fn run(
    services: Arc<Services>,
    every: std::time::Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // 0 would be a busy loop against the database.
    let every = every.max(std::time::Duration::from_millis(10));
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            changed = shutdown.changed() => {
                // Shutting down, or nobody left to say so.
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
                continue;
            }
        }
        match sweep_expired_sessions(&services, &shutdown).await {
            Ok(0) => {}
            Ok(ended) => tracing::info!(ended, "expired sessions ended"),
            Err(error) => tracing::warn!(%error, "expired sessions not ended; next time"),
        }
    }
}

/// The advisory lock (one bigint key: apart from the subscribers' two-key locks) that lets
/// one process at a time sweep; the others skip their turn instead of repeating its work.
const SESSION_SWEEP_LOCK: &str = "raptscallions:session-expiry";

/// One pass over the expired sessions, a page at a time, stopping early on shutdown.
async fn sweep_expired_sessions(
    services: &Services,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<usize> {
    let mut lock = services.pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1)::bigint)")
        .bind(SESSION_SWEEP_LOCK)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Ok(0);
    }
    let (mut ended, mut after) = (0, None);
    let outcome = loop {
        if *shutdown.borrow() {
            break Ok(());
        }
        match services.identity.end_expired_sessions(after, 500).await {
            Ok((n, next)) => {
                ended += n;
                match next {
                    Some(cursor) => after = Some(cursor),
                    None => break Ok(()),
                }
            }
            Err(error) => break Err(error),
        }
    };
    sqlx::query("SELECT pg_advisory_unlock(hashtext($1)::bigint)")
        .bind(SESSION_SWEEP_LOCK)
        .execute(&mut *lock)
        .await?;
    outcome?;
    Ok(ended)
}
