//! Step 1, the raw PostgreSQL ceiling: `BEGIN; INSERT <one event-shaped row>; COMMIT` with
//! sqlx into a scratch table, N clients; and, as diagnostics, the same into the real
//! `events` table and the SQL of one command replayed by hand.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};
use tests::TestDb;
use uuid::Uuid;

use super::cpu::register_database;
use super::settings::Settings;
use super::step::{progress, run_step, Op, Step};

fn scratch_payload(n: u64) -> serde_json::Value {
    // ~60 bytes, like a `group.created` payload.
    json!({"type": "group.created", "name": format!("bench {n:010}"), "parent_id": null})
}

fn scratch_metadata() -> serde_json::Value {
    // ~150 bytes.
    json!({
        "actor": "system:bench",
        "correlation_id": Uuid::new_v4().to_string(),
        "causation_id": Uuid::new_v4().to_string(),
        "source": "bench",
    })
}

/// What a raw step sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawKind {
    /// The baseline: `BEGIN; INSERT INTO scratch_events; COMMIT` (primary key only).
    Scratch,
    /// Diagnostics: the same into the service's real `events` table (position trigger, four
    /// more indexes).
    EventsTable,
    /// Diagnostics: the SQL of one `Groups::create` (postgres-es load, `BEGIN; INSERT;
    /// COMMIT`, then `application::command`'s `SELECT max(position)`), without any subscriber.
    CommandSql,
}

async fn raw_step(
    url: &str,
    kind: RawKind,
    clients: usize,
    settings: &Settings,
) -> anyhow::Result<Step> {
    let pool = PgPoolOptions::new()
        .max_connections(clients as u32)
        .min_connections(clients as u32)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .context("connecting the raw pool")?;
    let table = match kind {
        RawKind::Scratch => "scratch_events",
        RawKind::EventsTable | RawKind::CommandSql => "events",
    };
    let insert = format!(
        "INSERT INTO {table} (aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    );
    let op: Op = {
        let pool = pool.clone();
        Arc::new(move |_worker, n| {
            let pool = pool.clone();
            let insert = insert.clone();
            Box::pin(async move {
                let id = Uuid::now_v7().to_string();
                let outcome: sqlx::Result<()> = async {
                    if kind == RawKind::CommandSql {
                        sqlx::query(
                            "SELECT aggregate_type, aggregate_id, sequence, event_type, \
                             event_version, payload, metadata FROM events \
                             WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
                        )
                        .bind("group")
                        .bind(&id)
                        .fetch_all(&pool)
                        .await?;
                    }
                    let mut tx = pool.begin().await?;
                    sqlx::query(&insert)
                        .bind("group")
                        .bind(&id)
                        .bind(1_i64)
                        .bind("group.created")
                        .bind("1")
                        .bind(scratch_payload(n))
                        .bind(scratch_metadata())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    if kind == RawKind::CommandSql {
                        sqlx::query_scalar::<_, Option<i64>>(
                            "SELECT max(position) FROM events \
                             WHERE aggregate_type = $1 AND aggregate_id = $2",
                        )
                        .bind("group")
                        .bind(&id)
                        .fetch_one(&pool)
                        .await?;
                    }
                    Ok(())
                }
                .await;
                outcome.is_ok()
            })
        })
    };
    let step = run_step(clients, settings, op).await;
    pool.close().await;
    step
}

/// The raw steps: the baseline, and (diagnostics) the real table and the command's SQL.
pub(super) struct RawSteps {
    pub(super) scratch: Vec<Step>,
    pub(super) events_table: Vec<Step>,
    pub(super) command_sql: Vec<Step>,
}

/// Measures the raw steps at every concurrency in a database of their own (dropped after).
pub(super) async fn raw_ceiling(settings: &Settings) -> anyhow::Result<RawSteps> {
    let db = TestDb::create().await;
    register_database(&db.name);
    let mut conn = PgConnection::connect(&db.url).await?;
    sqlx::query(
        "CREATE TABLE scratch_events (
            aggregate_type text   NOT NULL,
            aggregate_id   text   NOT NULL,
            sequence       bigint NOT NULL,
            event_type     text   NOT NULL,
            event_version  text   NOT NULL,
            payload        jsonb  NOT NULL,
            metadata       jsonb  NOT NULL,
            PRIMARY KEY (aggregate_type, aggregate_id, sequence)
        )",
    )
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    let mut raw = RawSteps {
        scratch: Vec::new(),
        events_table: Vec::new(),
        command_sql: Vec::new(),
    };
    for &clients in &settings.clients {
        let step = raw_step(&db.url, RawKind::Scratch, clients, settings).await?;
        progress("raw INSERT tx", &step, None);
        raw.scratch.push(step);
    }
    if settings.diagnostics {
        // The service's schema, in this database (no service runs against it).
        let pool = db.pool().await;
        infrastructure::db::migrate(&pool).await?;
        pool.close().await;
        for &clients in &settings.clients {
            let step = raw_step(&db.url, RawKind::EventsTable, clients, settings).await?;
            progress("raw INSERT events", &step, None);
            raw.events_table.push(step);
        }
        for &clients in &settings.clients {
            let step = raw_step(&db.url, RawKind::CommandSql, clients, settings).await?;
            progress("raw command SQL", &step, None);
            raw.command_sql.push(step);
        }
    }
    drop(db);
    Ok(raw)
}
