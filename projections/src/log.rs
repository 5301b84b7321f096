//! Reading the global log.
//!
//! Positions are `(transaction id << 16) + index` (see `docs/adr/0001-global-log-position.md`):
//! every read is bounded by `events_safe_bound()`, below which no transaction is still running,
//! so a reader that moves forward by position never skips an event.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor, Postgres, QueryBuilder, Row};
use uuid::Uuid;

/// One event as stored in the log, with its metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedEvent {
    pub position: i64,
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

impl<'r> FromRow<'r, PgRow> for LoggedEvent {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            position: row.try_get("position")?,
            event_id: row.try_get("event_id")?,
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: row.try_get("sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            metadata: row.try_get("metadata")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }
}

impl LoggedEvent {
    /// A metadata entry (`actor`, `correlation_id`, `causation_id`).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Value::as_str)
    }
}

/// Payload fields that hold secrets (password hashes, hashes of bearer tokens). They are in
/// the log so that replays rebuild logins and sessions, but never leave the server.
pub const SECRET_FIELDS: &[&str] = &["password_hash", "token_hash", "secret_hash"];

/// The payload with every secret field replaced by `"[redacted]"`.
pub fn redacted(payload: &Value) -> Value {
    match payload {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    if SECRET_FIELDS.contains(&k.as_str()) {
                        (k.clone(), Value::String("[redacted]".into()))
                    } else {
                        (k.clone(), redacted(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// Optional filters on the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    pub event_type: Option<String>,
    pub correlation_id: Option<String>,
}

const COLUMNS: &str = "position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
                       event_version, payload, metadata, recorded_at";

/// Waits, for at most `timeout`, until every event committed before the call is final:
/// below `events_safe_bound()`, which a write transaction still running anywhere in the
/// PostgreSQL cluster holds back (ADR 0001). A reader that then reads sees its own and
/// everyone's earlier writes. `false` when it gave up (a long transaction elsewhere): the
/// reader then sees what is final so far, and its cursor picks up the rest later.
pub async fn wait_until_final(
    pool: &sqlx::PgPool,
    timeout: std::time::Duration,
) -> sqlx::Result<bool> {
    let (head, mut bound): (i64, i64) = sqlx::query_as(
        "SELECT coalesce((SELECT max(position) FROM events), 0), events_safe_bound()",
    )
    .fetch_one(pool)
    .await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = std::time::Duration::from_millis(1);
    while bound <= head {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
        bound = sqlx::query_scalar("SELECT events_safe_bound()")
            .fetch_one(pool)
            .await?;
    }
    Ok(true)
}

/// Up to `limit` events after `after`, in position order, only from finished transactions.
pub async fn read_after<'e>(
    executor: impl PgExecutor<'e>,
    after: i64,
    limit: i64,
    filter: &LogFilter,
) -> sqlx::Result<Vec<LoggedEvent>> {
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
    query.push(COLUMNS);
    query.push(" FROM events WHERE position > ");
    query.push_bind(after);
    query.push(" AND position < events_safe_bound()");
    if let Some(v) = &filter.aggregate_type {
        query.push(" AND aggregate_type = ").push_bind(v);
    }
    if let Some(v) = &filter.aggregate_id {
        query.push(" AND aggregate_id = ").push_bind(v);
    }
    if let Some(v) = &filter.event_type {
        query.push(" AND event_type = ").push_bind(v);
    }
    if let Some(v) = &filter.correlation_id {
        query
            .push(" AND metadata ->> 'correlation_id' = ")
            .push_bind(v);
    }
    query.push(" ORDER BY position LIMIT ").push_bind(limit);
    query
        .build()
        .try_map(|row: PgRow| LoggedEvent::from_row(&row))
        .fetch_all(executor)
        .await
}

/// What a subscriber reads at once: the events of the types it wants, and how far the log is
/// covered by that read.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub events: Vec<LoggedEvent>,
    /// Every event at or below this position has been considered: it is in `events`, of a
    /// type not asked for, or (above the last returned event) absent. At least `after`.
    pub covered: i64,
    /// The newest committed position in the whole log when this was read (0: empty log).
    /// Above `covered` while older transactions are still running or more events wait.
    pub head: i64,
    /// The stored checkpoint of the subscriber the slice was read for, in the same snapshot
    /// (`None` when read for nobody, or when it has no checkpoint row).
    pub stored: Option<i64>,
}

/// Up to `limit` events after `after` whose aggregate type is one of `types` (all when
/// `None`), in position order, only from finished transactions; with the position up to
/// which the log is covered. A subscriber that wants few types thus moves past the others
/// without reading them.
pub async fn read_slice<'e>(
    executor: impl PgExecutor<'e>,
    after: i64,
    limit: i64,
    types: Option<&[&str]>,
) -> sqlx::Result<Slice> {
    read_slice_for(executor, None, after, limit, types).await
}

/// [`read_slice`] for subscriber `name`, also reading its stored checkpoint (a replay may
/// have reset it) in the same statement.
pub async fn read_slice_for<'e>(
    executor: impl PgExecutor<'e>,
    name: Option<&str>,
    after: i64,
    limit: i64,
    types: Option<&[&str]>,
) -> sqlx::Result<Slice> {
    // One statement: the bound and the events below it. Any event below the bound belongs
    // to a transaction that finished before this statement's snapshot.
    let rows = sqlx::query(&format!(
        "SELECT b.bound, b.head, b.stored, e.* \
         FROM (SELECT events_safe_bound() AS bound, \
                      (SELECT coalesce(max(position), 0) FROM events) AS head, \
                      (SELECT position FROM subscriber_checkpoints WHERE name = $4) \
                          AS stored) b \
         LEFT JOIN LATERAL (SELECT {COLUMNS} FROM events \
             WHERE position > $1 AND position < b.bound \
               AND ($3::text[] IS NULL OR aggregate_type = ANY($3)) \
             ORDER BY position LIMIT $2) e ON true"
    ))
    .bind(after)
    .bind(limit)
    .bind(types)
    .bind(name)
    .fetch_all(executor)
    .await?;
    let mut bound = after + 1;
    let mut head = after;
    let mut stored = None;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        bound = row.try_get("bound")?;
        head = row.try_get("head")?;
        stored = row.try_get("stored")?;
        if row.try_get::<Option<i64>, _>("position")?.is_some() {
            events.push(LoggedEvent::from_row(row)?);
        }
    }
    let covered = match events.last() {
        Some(last) if events.len() as i64 >= limit => last.position,
        _ => (bound - 1).max(after),
    };
    Ok(Slice {
        events,
        covered,
        head,
        stored,
    })
}

/// The payload of a stream's first event (what created it), if the stream exists.
pub async fn first_payload<'e>(
    executor: impl PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
) -> sqlx::Result<Option<Value>> {
    sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         AND sequence = 1",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_optional(executor)
    .await
}

/// One stream, in sequence order.
pub async fn read_stream<'e>(
    executor: impl PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
) -> sqlx::Result<Vec<LoggedEvent>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         ORDER BY sequence"
    ))
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_all(executor)
    .await
}

/// The events of type `event_type` in the streams `aggregate_ids` of `aggregate_type`, in
/// position order: one indexed look-up per stream, whatever the length of the log.
pub async fn events_of_streams<'e>(
    executor: impl PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_ids: &[String],
    event_type: &str,
) -> sqlx::Result<Vec<LoggedEvent>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = ANY($2) \
         AND event_type = $3 ORDER BY position"
    ))
    .bind(aggregate_type)
    .bind(aggregate_ids)
    .bind(event_type)
    .fetch_all(executor)
    .await
}

/// The position of the newest event of one stream (`None`: no such stream). A read model
/// that has passed it reflects every acknowledged change of that stream.
pub async fn stream_head<'e>(
    executor: impl PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT max(position) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_one(executor)
    .await
}

/// The newest position visible now (committed), safe or not; 0 for an empty log.
pub async fn head<'e>(executor: impl PgExecutor<'e>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(executor)
        .await
}
