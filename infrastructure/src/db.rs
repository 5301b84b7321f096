//! The PostgreSQL pool and migrations.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool};

use crate::Config;

/// A connection idle for less than this is handed out without a ping (see [`pool`]).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Connects lazily: the pool opens connections on demand, so the server starts (and answers
/// `/health`, and 503 on `/ready`) even while the database is down.
///
/// By default sqlx pings a connection at every acquire: a round trip to the server before
/// every query, on the request's path (it pings again on release, off the path). Here a
/// connection used within [`PING_IF_IDLE_FOR`] is handed out as is: the release ping has just
/// found it alive, and a query on one that died since fails as `Unavailable` (503) and is
/// not returned to the pool. One idle for longer (across a database restart, say) is pinged
/// first and replaced if dead, as before.
pub fn pool(config: &Config) -> PgPool {
    pool_of(config, config.database_max_connections)
}

/// A pool like [`pool`]'s with `max_connections` of its own, for a worker whose queries must
/// not queue behind the request path's and the subscribers' (the workflow timers).
pub fn pool_of(config: &Config, max_connections: u32) -> PgPool {
    pool_with(config, config.database.clone(), max_connections)
}

/// The pool of [`pool_of`] on connections made with `options`.
fn pool_with(config: &Config, options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(config.database_acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options)
}

/// A pool of `max_connections` whose connections never append events
/// ([`projections::log::READ_MODEL_WRITER`]): for a worker that writes derived tables in
/// transactions that the log's readers need not wait for (the audit sealer).
pub fn read_model_writer_pool(config: &Config, max_connections: u32) -> PgPool {
    pool_with(
        config,
        projections::log::read_model_writer(config.database.clone()),
        max_connections,
    )
}

/// Applies every embedded migration that is not applied yet.
///
/// Then reserves the folded spelling of emails registered before emails were folded
/// (`application::store::lookups::reserve_folded_emails`): the events keep the spelling they
/// were recorded with, and the reservation table is what finds an account by its email. Two
/// accounts whose emails fold to one are logged (warning; the older keeps the email), and
/// so is each account whose email is refused now.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    migrations::migrator()
        .await
        .run(pool)
        .await
        .context("applying database migrations")?;
    let report = application::store::lookups::reserve_folded_emails(pool)
        .await
        .context("reserving the folded spelling of emails registered before the folding")?;
    for (user_id, email) in report.refused {
        tracing::warn!(
            %user_id,
            email,
            "an account registered before emails were folded has an email that is refused now \
             (letters of another script before the @); it is no longer found by its email"
        );
    }
    for clash in report.clashes {
        tracing::warn!(
            folded = clash.folded,
            kept = %clash.kept,
            other = %clash.other,
            other_email = clash.other_email,
            "two accounts registered before emails were folded have the same email now; \
             the older keeps it, the other is no longer found by its email"
        );
    }
    Ok(())
}

/// Whether every embedded migration is applied.
pub async fn migrations_applied(pool: &PgPool) -> anyhow::Result<bool> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .context("reading applied migrations")?;
    Ok(migrations::embedded()
        .iter()
        .all(|m| applied.contains(&m.version)))
}
