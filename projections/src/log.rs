//! Reading the global log.
//!
//! Positions are `(transaction id << 16) + index` (see `docs/adr/0001-global-log-position.md`):
//! every read is bounded by `events_safe_bound()`, below which no transaction is still running,
//! so a reader that moves forward by position never skips an event.
//!
//! Transactions of [`READ_MODEL_WRITER`] connections do not hold that bound back (migration
//! 0020): they cannot append events, so none of theirs can appear below it later.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor, PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

/// The `application_name` of a connection that writes read models, checkpoints or seals and
/// never appends an event: the subscribers' runner connections, the audit sealer's, the
/// realtime publisher's. The database refuses an append from such a connection, and the log's
/// safe bound does not wait for its transactions, so a subscriber's write in progress does
/// not delay every newer event for every reader.
pub const READ_MODEL_WRITER: &str = "raptscallions read-model writer";

/// [`READ_MODEL_WRITER`]'s connection options.
pub fn read_model_writer(
    options: sqlx::postgres::PgConnectOptions,
) -> sqlx::postgres::PgConnectOptions {
    options.application_name(READ_MODEL_WRITER)
}

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

/// Optional filters on the log; an event is returned when it passes every one that is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    pub event_type: Option<String>,
    pub correlation_id: Option<String>,
    /// The actor of the command, exactly as recorded in the metadata (`user:<id>`, …).
    pub actor: Option<String>,
    /// Recorded at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before this time.
    pub to: Option<DateTime<Utc>>,
    /// Touches one of these classes or groups (see [`Scope`]).
    pub scope: Option<Scope>,
}

/// Classes and groups, for [`LogFilter::scope`]. An event touches a class or group when its
/// stream is that class or group, or when its stream is one whose events name it in their
/// payload (the SQL function `event_scope` reads the names: `class_id`, `subject.class_id`,
/// `group_id`, `parent_id`, `group_ids`). So every event of a learning session, an
/// assessment, a safety concern or a struggle intervention touches the class (and the group)
/// that the stream's first event names, a notification touches the class it is about, a
/// class touches every group it was created or moved in, a tool its group, a service account
/// its groups, and a group the parents it was created or moved under. Who is a member of a
/// class or group is in the class's or group's own stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub classes: Vec<Uuid>,
    pub groups: Vec<Uuid>,
}

impl Scope {
    /// The names of the classes and groups as `event_scope` writes them.
    fn names(&self) -> Vec<String> {
        self.classes
            .iter()
            .map(|id| format!("class:{id}"))
            .chain(self.groups.iter().map(|id| format!("group:{id}")))
            .collect()
    }
}

/// The payload keys that `event_scope` reads: the predicate of the partial index
/// `events_scope_idx`, repeated word for word in queries so that the index serves them.
const SCOPE_KEYS: &str = "payload ?| ARRAY['class_id', 'subject', 'group_id', 'parent_id', \
                          'group_ids']";

/// [`COLUMNS`] without reading payload and metadata.
const LEAN_COLUMNS: &str = "position, event_id, aggregate_type, aggregate_id, sequence, \
    event_type, event_version, 'null'::jsonb AS payload, 'null'::jsonb AS metadata, recorded_at";

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
///
/// Without a time range or a scope, one statement walks the log (or the index of an
/// equality filter: actor, correlation id, event type, stream) in position order. A time
/// range or a scope can match events anywhere, densely or hardly at all, and the planner
/// cannot tell which from its statistics (times follow positions; a school may hold a third
/// of the log or a class a thousandth). So such a read first walks the next
/// [`walk_length`] events of the log in position order, which finds a dense match at once;
/// if that walk fills no page, it gathers the remaining matches through the indexes
/// (`events_recorded_at_idx`, `events_scope_idx`, `events_actor_idx`, …) and sorts them,
/// which is cheap because they are sparse. Both steps read below one bound taken first, so
/// the page is exactly the first `limit` matches after `after`, as a single statement
/// would give.
pub async fn read_after(
    pool: &PgPool,
    after: i64,
    limit: i64,
    filter: &LogFilter,
) -> sqlx::Result<Vec<LoggedEvent>> {
    if filter.from.is_none() && filter.to.is_none() && filter.scope.is_none() {
        let mut query: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
        query.push(COLUMNS);
        query.push(" FROM events WHERE position > ");
        query.push_bind(after);
        query.push(" AND position < events_safe_bound()");
        push_conditions(&mut query, filter);
        query.push(" ORDER BY position LIMIT ").push_bind(limit);
        return fetch_events(query, pool).await;
    }
    // Everything below the bound is final now, and stays so: every step reads below it.
    let bound: i64 = sqlx::query_scalar("SELECT events_safe_bound()")
        .fetch_one(pool)
        .await?;
    let walk = walk_length(limit);
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
    query.push(COLUMNS);
    query.push(" FROM (SELECT ");
    query.push(COLUMNS);
    query
        .push(" FROM events WHERE position > ")
        .push_bind(after);
    query.push(" AND position < ").push_bind(bound);
    query.push(" ORDER BY position LIMIT ").push_bind(walk);
    query.push(") walked WHERE true");
    push_conditions(&mut query, filter);
    query.push(" ORDER BY position LIMIT ").push_bind(limit);
    let mut events = fetch_events(query, pool).await?;
    if events.len() as i64 >= limit {
        return Ok(events);
    }
    let (walked, walked_to): (i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*), max(position) FROM (SELECT position FROM events \
         WHERE position > $1 AND position < $2 ORDER BY position LIMIT $3) walked",
    )
    .bind(after)
    .bind(bound)
    .bind(walk)
    .fetch_one(pool)
    .await?;
    let Some(walked_to) = walked_to.filter(|_| walked >= walk) else {
        // The walk went up to the bound: it saw every candidate.
        return Ok(events);
    };
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new(
        "WITH matching AS MATERIALIZED (SELECT position FROM events WHERE position > ",
    );
    query.push_bind(walked_to);
    query.push(" AND position < ").push_bind(bound);
    push_conditions(&mut query, filter);
    query.push(") SELECT ");
    query.push(COLUMNS);
    query.push(
        " FROM events WHERE position IN (SELECT position FROM matching ORDER BY position LIMIT ",
    );
    query.push_bind(limit - events.len() as i64);
    query.push(") ORDER BY position");
    events.extend(fetch_events(query, pool).await?);
    Ok(events)
}

/// How many events a read with a time range or a scope walks in log order before it gathers
/// its matches through the indexes instead: enough to fill a page of matches that make up
/// 2 % or more of the log.
pub fn walk_length(limit: i64) -> i64 {
    (limit * 50).max(2_000)
}

async fn fetch_events(
    mut query: QueryBuilder<'_, Postgres>,
    pool: &PgPool,
) -> sqlx::Result<Vec<LoggedEvent>> {
    query
        .build()
        .try_map(|row: PgRow| LoggedEvent::from_row(&row))
        .fetch_all(pool)
        .await
}

/// The filter's conditions, each as ` AND …` on the columns of `events`.
fn push_conditions<'a>(query: &mut QueryBuilder<'a, Postgres>, filter: &'a LogFilter) {
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
    if let Some(v) = &filter.actor {
        query.push(" AND metadata ->> 'actor' = ").push_bind(v);
    }
    if let Some(v) = filter.from {
        query.push(" AND recorded_at >= ").push_bind(v);
    }
    if let Some(v) = filter.to {
        query.push(" AND recorded_at < ").push_bind(v);
    }
    if let Some(scope) = &filter.scope {
        // The streams that touch the scope: its classes' and groups' own, and those whose
        // events name one of them (found through `events_scope_idx`).
        let ids = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect::<Vec<_>>();
        query
            .push(" AND (aggregate_type, aggregate_id) IN (SELECT 'class', id FROM unnest(")
            .push_bind(ids(&scope.classes))
            .push("::text[]) AS id UNION ALL SELECT 'group', id FROM unnest(")
            .push_bind(ids(&scope.groups))
            .push(
                "::text[]) AS id UNION ALL SELECT aggregate_type, aggregate_id FROM events WHERE ",
            )
            .push(SCOPE_KEYS)
            .push(" AND event_scope(payload) && ")
            .push_bind(scope.names())
            .push("::text[])");
    }
}

/// Up to `limit` events after `after` and at or before `until` (a position below the safe
/// bound: the caller knows it is final), of the aggregate types `types` (all when `None`) and
/// recorded at or before `recorded_by` when given, in position order. For rebuilding read
/// models up to a point (`replay --compare`, `replay --as-of`).
pub async fn read_range<'e>(
    executor: impl PgExecutor<'e>,
    after: i64,
    until: i64,
    recorded_by: Option<DateTime<Utc>>,
    limit: i64,
    types: Option<&[&str]>,
) -> sqlx::Result<Vec<LoggedEvent>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM events WHERE position > $1 AND position <= $2 \
           AND ($3::timestamptz IS NULL OR recorded_at <= $3) \
           AND ($5::text[] IS NULL OR aggregate_type = ANY($5)) \
         ORDER BY position LIMIT $4"
    ))
    .bind(after)
    .bind(until)
    .bind(recorded_by)
    .bind(limit)
    .bind(types)
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
    read_slice_for(executor, None, after, limit, types, true).await
}

/// [`read_slice`] for subscriber `name`, also reading its stored checkpoint (a replay may
/// have reset it) in the same statement.
///
/// Without `payloads`, the events come without payload and metadata (both `null`): for a
/// subscriber that reads what it needs of them itself (the audit sealer).
pub async fn read_slice_for<'e>(
    executor: impl PgExecutor<'e>,
    name: Option<&str>,
    after: i64,
    limit: i64,
    types: Option<&[&str]>,
    payloads: bool,
) -> sqlx::Result<Slice> {
    let columns = if payloads { COLUMNS } else { LEAN_COLUMNS };
    // One statement: the bound and the events below it. Any event below the bound belongs
    // to a transaction that finished before this statement's snapshot.
    let rows = sqlx::query(&format!(
        "SELECT b.bound, b.head, b.stored, e.* \
         FROM (SELECT events_safe_bound() AS bound, \
                      (SELECT coalesce(max(position), 0) FROM events) AS head, \
                      (SELECT position FROM subscriber_checkpoints WHERE name = $4) \
                          AS stored) b \
         LEFT JOIN LATERAL (SELECT {columns} FROM events \
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
