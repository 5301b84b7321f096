//! Rebuilding a projection from position 0.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::runner::{ensure_checkpoint, projection_batch, try_subscriber_lock, Cursor, Projection};
use crate::{log, signal};

/// Empties the projection's tables and sets its checkpoint to 0, in one transaction that
/// waits for a running batch of that projection (wherever it runs) to finish.
pub async fn reset(pool: &PgPool, projection: &dyn Projection) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    ensure_checkpoint(&mut conn, projection.name()).await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT position FROM subscriber_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(projection.name())
        .execute(&mut *tx)
        .await?;
    projection.reset(&mut tx).await?;
    sqlx::query(
        "UPDATE subscriber_checkpoints SET position = 0, updated_at = now() WHERE name = $1",
    )
    .bind(projection.name())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// How far a rebuild of one projection is: events applied, of those up to where it stops.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub projection: &'a str,
    pub done: i64,
    pub total: i64,
}

/// Told after each batch of a rebuild (the command line draws it).
pub type OnProgress<'a> = &'a (dyn Fn(Progress<'_>) + Send + Sync);

/// The events of `projection`'s types up to position `until` (recorded by `recorded_by`).
async fn events_to_apply(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    until: i64,
    recorded_by: Option<DateTime<Utc>>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE position <= $1 \
             AND ($2::text[] IS NULL OR aggregate_type = ANY($2)) \
             AND ($3::timestamptz IS NULL OR recorded_at <= $3)",
    )
    .bind(until)
    .bind(projection.aggregate_types().map(|t| t.to_vec()))
    .bind(recorded_by)
    .fetch_one(conn)
    .await
}

/// Resets the projection and brings it back up to the current end of the log.
///
/// If no server runs the projection, this process rebuilds it itself (holding the
/// subscriber's lock meanwhile); otherwise the server that runs it rebuilds it, and this
/// waits until it has caught up.
pub async fn rebuild(
    pool: &PgPool,
    connect: &PgConnectOptions,
    projection: &dyn Projection,
    batch_size: i64,
    progress: OnProgress<'_>,
) -> anyhow::Result<i64> {
    let name = projection.name();
    let target = log::head(pool).await?;
    let mut conn = PgConnection::connect_with(connect)
        .await
        .context("connecting for the rebuild")?;
    let total = events_to_apply(&mut conn, projection, target, None).await?;
    let report = |done: i64| {
        progress(Progress {
            projection: name,
            done: done.min(total),
            total,
        })
    };
    report(0);
    reset(pool, projection).await?;
    if try_subscriber_lock(&mut conn, name).await? {
        let mut cursor = Cursor::load(&mut conn, name).await?;
        let mut done = 0;
        loop {
            let batch = projection_batch(projection, &mut conn, batch_size, &mut cursor).await?;
            done += batch.count;
            report(done);
            if cursor.position >= target {
                break;
            }
            if batch.count == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        cursor.flush(&mut conn, name, true).await?;
        conn.close().await?;
    } else {
        tracing::info!(
            projection = name,
            "a server runs this projection; waiting for it"
        );
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(signal::CHANNEL)
            .execute(pool)
            .await?;
        let mut counted = tokio::time::Instant::now();
        loop {
            let position: i64 =
                sqlx::query_scalar("SELECT position FROM subscriber_checkpoints WHERE name = $1")
                    .bind(name)
                    .fetch_one(pool)
                    .await?;
            if position >= target {
                report(total);
                break;
            }
            if counted.elapsed() >= Duration::from_secs(1) {
                report(events_to_apply(&mut conn, projection, position, None).await?);
                counted = tokio::time::Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(target)
}

/// Tables that projections write beside their read model (the live updates' outbox): shadowed
/// while rebuilding elsewhere, never compared or kept.
const SHADOWED_ALSO: [&str; 1] = ["realtime_updates"];

/// Creates, on `conn`, an empty temporary table for each table of `projections` (and the
/// outbox they also write), shaped like the live one. Temporary tables come first in
/// PostgreSQL's search path, so from then on the projections' statements on this connection
/// read and write these. Returns the live tables' schema-qualified names.
async fn shadow(
    conn: &mut PgConnection,
    projections: &[Arc<dyn Projection>],
) -> anyhow::Result<BTreeMap<&'static str, String>> {
    let mut live = BTreeMap::new();
    for table in projections
        .iter()
        .flat_map(|p| p.tables().iter())
        .chain(SHADOWED_ALSO.iter())
    {
        if live.contains_key(table) {
            continue;
        }
        let name = live_table(&mut *conn, table).await?;
        sqlx::query(&format!(
            "CREATE TEMP TABLE {table} (LIKE {name} INCLUDING ALL)"
        ))
        .execute(&mut *conn)
        .await
        .with_context(|| format!("shadowing {table}"))?;
        live.insert(*table, name);
    }
    Ok(live)
}

/// Starts the transaction a rebuild runs in: REPEATABLE READ (one snapshot for the whole
/// rebuild and comparison) and READ ONLY: PostgreSQL refuses any write to a table that is
/// not temporary, so a rebuild never touches the live read models.
async fn read_only(
    conn: &mut PgConnection,
) -> anyhow::Result<sqlx::Transaction<'_, sqlx::Postgres>> {
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Applies the events of `projection` up to `until` (a final position), only those recorded
/// by `recorded_by` when given; returns how many.
async fn rebuild_until(
    conn: &mut PgConnection,
    projection: &dyn Projection,
    until: i64,
    recorded_by: Option<DateTime<Utc>>,
    batch_size: i64,
    progress: OnProgress<'_>,
) -> anyhow::Result<i64> {
    let mut after = 0;
    let mut count = 0;
    let total = events_to_apply(&mut *conn, projection, until, recorded_by).await?;
    loop {
        progress(Progress {
            projection: projection.name(),
            done: count.min(total),
            total,
        });
        let events = log::read_range(
            &mut *conn,
            after,
            until,
            recorded_by,
            batch_size,
            projection.aggregate_types(),
        )
        .await?;
        let Some(last) = events.last() else {
            return Ok(count);
        };
        after = last.position;
        count += events.len() as i64;
        projection
            .apply_batch(&mut *conn, &events)
            .await
            .with_context(|| format!("rebuilding {}", projection.name()))?;
    }
}

/// The schema-qualified name of the live table `table` (not a temporary one).
async fn live_table(conn: &mut PgConnection, table: &str) -> anyhow::Result<String> {
    let name: Option<String> = sqlx::query_scalar(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = to_regclass($1) AND n.nspname NOT LIKE 'pg_temp%'",
    )
    .bind(table)
    .fetch_optional(&mut *conn)
    .await?;
    name.with_context(|| format!("no table {table}"))
}

/// What `replay --compare` found in one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDifference {
    pub table: String,
    pub live_rows: i64,
    pub rebuilt_rows: i64,
    /// Rows of the live table that the rebuild does not have (counted with multiplicity).
    pub only_live: i64,
    /// Rows of the rebuild that the live table does not have.
    pub only_rebuilt: i64,
    /// A few of those rows as JSON, marked `-` (live only) or `+` (rebuilt only).
    pub examples: Vec<String>,
}

/// A projection rebuilt beside its live read model and compared with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    pub projection: String,
    /// The live read model's checkpoint in the comparison's snapshot: the rebuild stopped
    /// there.
    pub position: i64,
    pub events_applied: i64,
    pub tables: Vec<TableDifference>,
}

impl Comparison {
    pub fn identical(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.only_live == 0 && t.only_rebuilt == 0)
    }
}

/// How many differing rows a comparison shows per table and side.
const EXAMPLES: i64 = 3;

/// Rebuilds `projections` from the log into temporary tables, each up to its live
/// checkpoint, and compares them row by row with the live read models, all in one snapshot
/// (a read model and its checkpoint commit together, so they agree in it). Never writes to a
/// live table: the rebuild runs in a READ ONLY transaction, rolled back at the end.
pub async fn compare(
    connect: &PgConnectOptions,
    projections: &[Arc<dyn Projection>],
    batch_size: i64,
    progress: OnProgress<'_>,
) -> anyhow::Result<Vec<Comparison>> {
    let mut conn = PgConnection::connect_with(connect)
        .await
        .context("connecting for the comparison")?;
    let live = shadow(&mut conn, projections).await?;
    let mut tx = read_only(&mut conn).await?;
    // The first statement of the transaction takes its snapshot.
    let checkpoints: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT name, position FROM subscriber_checkpoints")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let mut comparisons = Vec::with_capacity(projections.len());
    for projection in projections {
        let position = checkpoints.get(projection.name()).copied().unwrap_or(0);
        let events_applied = rebuild_until(
            &mut tx,
            projection.as_ref(),
            position,
            None,
            batch_size,
            progress,
        )
        .await?;
        let mut tables = Vec::new();
        for table in projection.tables() {
            tables.push(difference(&mut tx, table, &live[table]).await?);
        }
        comparisons.push(Comparison {
            projection: projection.name().to_owned(),
            position,
            events_applied,
            tables,
        });
    }
    tx.rollback().await?;
    conn.close().await?;
    Ok(comparisons)
}

/// The rows of live table `live` and of its temporary twin `table` that the other lacks.
async fn difference(
    conn: &mut PgConnection,
    table: &str,
    live: &str,
) -> anyhow::Result<TableDifference> {
    let rebuilt = format!("pg_temp.{table}");
    // Rows compared as jsonb: every column type has an equality there.
    let only = |a: &str, b: &str| {
        format!("SELECT to_jsonb(t) AS r FROM {a} t EXCEPT ALL SELECT to_jsonb(t) FROM {b} t")
    };
    let mut counts = Vec::with_capacity(4);
    for sql in [
        format!("SELECT count(*) FROM {live}"),
        format!("SELECT count(*) FROM {rebuilt}"),
        format!("SELECT count(*) FROM ({}) d", only(live, &rebuilt)),
        format!("SELECT count(*) FROM ({}) d", only(&rebuilt, live)),
    ] {
        counts.push(
            sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(&mut *conn)
                .await
                .with_context(|| format!("comparing {table}"))?,
        );
    }
    let mut examples = Vec::new();
    for (sign, a, b, n) in [
        ("-", live, rebuilt.as_str(), counts[2]),
        ("+", rebuilt.as_str(), live, counts[3]),
    ] {
        if n > 0 {
            let rows: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT d.r::text FROM ({}) d LIMIT {EXAMPLES}",
                only(a, b)
            ))
            .fetch_all(&mut *conn)
            .await?;
            examples.extend(rows.into_iter().map(|r| format!("{sign} {r}")));
        }
    }
    Ok(TableDifference {
        table: table.to_owned(),
        live_rows: counts[0],
        rebuilt_rows: counts[1],
        only_live: counts[2],
        only_rebuilt: counts[3],
        examples,
    })
}

/// A moment of the log: a position, or a time (the events recorded by then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Position(i64),
    Time(DateTime<Utc>),
}

impl std::str::FromStr for AsOf {
    type Err = String;

    /// A position (digits) or an RFC 3339 time.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(Self::Position)
                .map_err(|_| "a position too large".to_owned());
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Self::Time(t.with_timezone(&Utc)))
            .map_err(|_| "a log position or an RFC 3339 time (2026-12-07T09:00:00Z)".to_owned())
    }
}

/// What `replay --as-of` built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AsOfBuild {
    pub schema: String,
    /// The newest event applied (0: none).
    pub position: i64,
    /// Events applied per projection, and rows per table.
    pub projections: Vec<(String, i64)>,
    pub tables: Vec<(String, i64)>,
}

/// Builds every read model of `projections` as it stood at `at` into the new schema
/// `schema` (refused if it exists): rebuilt into temporary tables in a READ ONLY
/// transaction (so no live table is written), then copied into `schema`'s tables, shaped
/// like the live ones.
pub async fn build_as_of(
    connect: &PgConnectOptions,
    projections: &[Arc<dyn Projection>],
    at: AsOf,
    schema: &str,
    batch_size: i64,
    progress: OnProgress<'_>,
) -> anyhow::Result<AsOfBuild> {
    if !(schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with("pg_")
        && schema != "public")
    {
        anyhow::bail!(
            "--into: a new schema name (lower-case letters, digits, _; not public or pg_…)"
        );
    }
    let mut conn = PgConnection::connect_with(connect)
        .await
        .context("connecting for the build")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(&mut conn)
            .await?;
    if exists {
        anyhow::bail!("schema {schema} exists already; choose another --into");
    }
    let live = shadow(&mut conn, projections).await?;
    let mut tx = read_only(&mut conn).await?;
    let bound: i64 = sqlx::query_scalar("SELECT events_safe_bound() - 1")
        .fetch_one(&mut *tx)
        .await?;
    let (until, recorded_by) = match at {
        AsOf::Position(p) => (p.min(bound), None),
        AsOf::Time(t) => (bound, Some(t)),
    };
    let mut applied = Vec::with_capacity(projections.len());
    for projection in projections {
        let n = rebuild_until(
            &mut tx,
            projection.as_ref(),
            until,
            recorded_by,
            batch_size,
            progress,
        )
        .await?;
        applied.push((projection.name().to_owned(), n));
    }
    let position: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(position), 0) FROM events WHERE position <= $1          AND ($2::timestamptz IS NULL OR recorded_at <= $2)",
    )
    .bind(until)
    .bind(recorded_by)
    .fetch_one(&mut *tx)
    .await?;
    // Temporary tables keep what a read-only transaction wrote into them.
    tx.commit().await?;
    let mut tx = conn.begin().await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut *tx)
        .await?;
    let mut tables = Vec::new();
    for table in projections.iter().flat_map(|p| p.tables().iter()) {
        sqlx::query(&format!(
            "CREATE TABLE {schema}.{table} (LIKE {} INCLUDING ALL)",
            live[table]
        ))
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(&format!(
            "INSERT INTO {schema}.{table} SELECT * FROM pg_temp.{table}"
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tables.push(((*table).to_owned(), rows as i64));
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(AsOfBuild {
        schema: schema.to_owned(),
        position,
        projections: applied,
        tables,
    })
}
