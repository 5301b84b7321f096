//! The PostgreSQL pool and migrations.

use anyhow::Context as _;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::Config;

/// Connects lazily: the pool opens connections on demand, so the server starts (and answers
/// `/health`, and 503 on `/ready`) even while the database is down.
pub fn pool(config: &Config) -> PgPool {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(config.database_acquire_timeout)
        .connect_lazy_with(config.database.clone())
}

/// Applies every embedded migration that is not applied yet.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    migrations::migrator()
        .await
        .run(pool)
        .await
        .context("applying database migrations")
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
