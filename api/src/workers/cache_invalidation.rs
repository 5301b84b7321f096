//! Applies other processes' changes to this process's caches: one PostgreSQL listener on the
//! identity channel (session cache) and the directory channel (authorization cache). When the
//! connection drops, notifications may have been missed, so both caches start over.

use std::sync::Arc;
use std::time::Duration;

use application::identity::session_cache::{self, SessionCache};
use application::service_accounts::ServiceAccounts;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::directory_cache;
use crate::state::Services;

/// Listens on both channels until shutdown, reconnecting (and starting the caches over) when
/// the connection drops.
pub async fn run(
    pool: PgPool,
    sessions: Arc<SessionCache>,
    services: Arc<Services>,
    mut shutdown: watch::Receiver<bool>,
) {
    let directory = &services.authz.cache;
    let follow = async {
        loop {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    let listening = listener
                        .listen_all([session_cache::CHANNEL, directory_cache::CHANNEL])
                        .await;
                    // Anything cached before we listened may have missed a change.
                    clear(&sessions, &services);
                    if listening.is_ok() {
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(notification)) => {
                                    let payload = notification.payload();
                                    if notification.channel() != session_cache::CHANNEL {
                                        directory.invalidate();
                                    } else if let Some(id) =
                                        payload.strip_prefix(ServiceAccounts::NOTIFICATION_PREFIX)
                                    {
                                        services.service_accounts.apply_notification(id);
                                    } else {
                                        sessions.apply_notification(payload);
                                    }
                                }
                                // The connection dropped (sqlx reconnects and listens again
                                // on the next call): notifications may have been missed.
                                Ok(None) => clear(&sessions, &services),
                                Err(_) => break,
                            }
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "cache listener cannot connect"),
            }
            clear(&sessions, &services);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::select! {
        _ = follow => {}
        _ = shutdown.wait_for(|stop| *stop) => {}
    }
}

fn clear(sessions: &SessionCache, services: &Services) {
    sessions.clear();
    services.service_accounts.clear_cache();
    services.authz.cache.invalidate();
}
