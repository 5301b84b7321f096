//! The `learning` read models: learning sessions and their entries (messages, detections,
//! pauses), in order.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::learning::{LearningSession, LearningSessionEvent};
use domain::Aggregate as _;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::Projection;

pub const NAME: &str = "learning";

pub struct LearningProjection;

#[async_trait]
impl Projection for LearningProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[LearningSession::TYPE])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["learning_sessions", "learning_session_entries"]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    /// A batch in four statements whatever its size: the sessions it starts, the versions of
    /// the sessions it touches, one update of each session's row (counters, status, version),
    /// and its entries. Per event it would be three statements; under a flood of detections
    /// and in a replay the batch is hundreds of events.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[LoggedEvent],
    ) -> anyhow::Result<()> {
        let mut decoded = Vec::with_capacity(events.len());
        for event in events {
            if event.aggregate_type != LearningSession::TYPE {
                continue;
            }
            let id: Uuid = event.aggregate_id.parse().context("learning session id")?;
            let payload: LearningSessionEvent = serde_json::from_value(event.payload.clone())
                .with_context(|| crate::runner::applying(event))?;
            decoded.push((id, event, payload));
        }
        if decoded.is_empty() {
            return Ok(());
        }
        // Planned for this batch: a plan cached while the table was small (a subscriber's
        // first batches, a rebuild's) reads the whole table for each batch once it is large.
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
            .execute(&mut *conn)
            .await?;
        start_sessions(conn, &decoded).await?;
        let ids: Vec<Uuid> = decoded.iter().map(|(id, _, _)| *id).collect();
        let versions: std::collections::HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
            "SELECT id, version FROM learning_sessions WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        // Each session's changes, from the events it has not applied yet (an event already
        // applied changes nothing; the row moves one version per event).
        let mut changes: Vec<SessionChange> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut entries = Entries::default();
        for (id, event, payload) in &decoded {
            if matches!(payload, LearningSessionEvent::Started { .. }) {
                continue;
            }
            let Some(&stored) = versions.get(id) else {
                anyhow::bail!(
                    "learning session {id} not started, event #{}",
                    event.sequence
                );
            };
            let slot = *index.entry(*id).or_insert_with(|| {
                changes.push(SessionChange::new(*id, stored));
                changes.len() - 1
            });
            let change = &mut changes[slot];
            if event.sequence <= change.version {
                continue;
            }
            if event.sequence != change.version + 1 {
                anyhow::bail!(
                    "learning session {id} at version {}, event #{}",
                    change.version,
                    event.sequence
                );
            }
            change.apply(event, payload)?;
            entries.push(*id, event);
        }
        changes.retain(|c| c.version > c.stored);
        update_sessions(conn, &changes).await?;
        entries.insert(conn).await
    }
}

/// Inserts the sessions that `decoded` starts (a session already there stays as it is).
async fn start_sessions(
    conn: &mut PgConnection,
    decoded: &[(Uuid, &LoggedEvent, LearningSessionEvent)],
) -> anyhow::Result<()> {
    // id, student, class, group, tool of each session started.
    let mut columns: [Vec<Uuid>; 5] = Default::default();
    let mut times: (Vec<DateTime<Utc>>, Vec<i64>) = Default::default();
    for (id, event, payload) in decoded {
        if let LearningSessionEvent::Started {
            student_id,
            class_id,
            group_id,
            tool_id,
        } = payload
        {
            for (column, value) in
                columns
                    .iter_mut()
                    .zip([*id, *student_id, *class_id, *group_id, *tool_id])
            {
                column.push(value);
            }
            times.0.push(event.recorded_at);
            times.1.push(event.sequence);
        }
    }
    if columns[0].is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO learning_sessions (id, student_id, class_id, group_id, tool_id, status, \
                                        started_at, updated_at, version) \
         SELECT id, student_id, class_id, group_id, tool_id, 'active', at, at, version \
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], \
                     $6::timestamptz[], $7::bigint[]) \
              AS s(id, student_id, class_id, group_id, tool_id, at, version) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&columns[0])
    .bind(&columns[1])
    .bind(&columns[2])
    .bind(&columns[3])
    .bind(&columns[4])
    .bind(&times.0)
    .bind(&times.1)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a batch changes in one session's row.
struct SessionChange {
    id: Uuid,
    /// The version stored before the batch, and after the events applied so far.
    stored: i64,
    version: i64,
    updated_at: Option<DateTime<Utc>>,
    status: Option<&'static str>,
    messages: i32,
    detections: i32,
    /// Set by a completion: summary, topics, when.
    completed: Option<(String, Value, DateTime<Utc>)>,
}

impl SessionChange {
    fn new(id: Uuid, stored: i64) -> Self {
        Self {
            id,
            stored,
            version: stored,
            updated_at: None,
            status: None,
            messages: 0,
            detections: 0,
            completed: None,
        }
    }

    fn apply(&mut self, event: &LoggedEvent, payload: &LearningSessionEvent) -> anyhow::Result<()> {
        self.version = event.sequence;
        self.updated_at = Some(event.recorded_at);
        match payload {
            LearningSessionEvent::Started { .. } => {}
            LearningSessionEvent::Paused { .. } => self.status = Some("paused"),
            LearningSessionEvent::Resumed { .. } => self.status = Some("active"),
            LearningSessionEvent::Completed {
                summary,
                topics_covered,
            } => {
                self.status = Some("completed");
                self.completed = Some((
                    summary.clone(),
                    serde_json::to_value(topics_covered)?,
                    event.recorded_at,
                ));
            }
            LearningSessionEvent::MessagePosted { .. } => self.messages += 1,
            _ => self.detections += 1,
        }
        Ok(())
    }
}

/// One statement for every session's row.
async fn update_sessions(conn: &mut PgConnection, changes: &[SessionChange]) -> anyhow::Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let updated = sqlx::query(
        "UPDATE learning_sessions s SET \
             updated_at = d.updated_at, version = d.version, \
             status = coalesce(d.status, s.status), \
             message_count = s.message_count + d.messages, \
             detection_count = s.detection_count + d.detections, \
             summary = CASE WHEN d.completed_at IS NULL THEN s.summary ELSE d.summary END, \
             topics_covered = CASE WHEN d.completed_at IS NULL THEN s.topics_covered \
                                   ELSE d.topics END, \
             completed_at = coalesce(d.completed_at, s.completed_at) \
         FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[], \
                     $6::int[], $7::int[], $8::text[], $9::jsonb[], $10::timestamptz[]) \
              AS d(id, stored, version, updated_at, status, messages, detections, summary, \
                   topics, completed_at) \
         WHERE s.id = d.id AND s.version = d.stored",
    )
    .bind(changes.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.stored).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.version).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.updated_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.status).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.messages).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.detections).collect::<Vec<_>>())
    .bind(
        changes
            .iter()
            .map(|c| c.completed.as_ref().map(|(s, _, _)| s.as_str()))
            .collect::<Vec<_>>(),
    )
    .bind(
        changes
            .iter()
            .map(|c| c.completed.as_ref().map(|(_, t, _)| t))
            .collect::<Vec<_>>(),
    )
    .bind(
        changes
            .iter()
            .map(|c| c.completed.as_ref().map(|(_, _, at)| *at))
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != changes.len() as u64 {
        anyhow::bail!("learning sessions changed while the batch applied");
    }
    Ok(())
}

/// The entries a batch adds.
#[derive(Default)]
struct Entries {
    sessions: Vec<Uuid>,
    sequences: Vec<i64>,
    kinds: Vec<String>,
    data: Vec<Value>,
    recorded_at: Vec<DateTime<Utc>>,
}

impl Entries {
    fn push(&mut self, session: Uuid, event: &LoggedEvent) {
        self.sessions.push(session);
        self.sequences.push(event.sequence);
        self.kinds.push(event.event_type.clone());
        self.data.push(event.payload.clone());
        self.recorded_at.push(event.recorded_at);
    }

    async fn insert(self, conn: &mut PgConnection) -> anyhow::Result<()> {
        if self.sessions.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO learning_session_entries (session_id, sequence, kind, data, recorded_at) \
             SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::jsonb[], \
                                  $5::timestamptz[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.sessions)
        .bind(&self.sequences)
        .bind(&self.kinds)
        .bind(&self.data)
        .bind(&self.recorded_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// A learning session row.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningSessionRow {
    pub id: Uuid,
    pub student_id: Uuid,
    pub class_id: Uuid,
    pub group_id: Uuid,
    pub tool_id: Uuid,
    pub status: String,
    pub message_count: i32,
    pub detection_count: i32,
    pub summary: Option<String>,
    pub topics_covered: Option<Value>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl<'r> FromRow<'r, PgRow> for LearningSessionRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            student_id: row.try_get("student_id")?,
            class_id: row.try_get("class_id")?,
            group_id: row.try_get("group_id")?,
            tool_id: row.try_get("tool_id")?,
            status: row.try_get("status")?,
            message_count: row.try_get("message_count")?,
            detection_count: row.try_get("detection_count")?,
            summary: row.try_get("summary")?,
            topics_covered: row.try_get("topics_covered")?,
            started_at: row.try_get("started_at")?,
            updated_at: row.try_get("updated_at")?,
            completed_at: row.try_get("completed_at")?,
        })
    }
}

const COLUMNS: &str = "id, student_id, class_id, group_id, tool_id, status, message_count, \
                       detection_count, summary, topics_covered, started_at, updated_at, \
                       completed_at";

pub async fn get<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<LearningSessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM learning_sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

pub async fn of_class<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
) -> sqlx::Result<Vec<LearningSessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM learning_sessions WHERE class_id = $1 ORDER BY started_at DESC LIMIT 500"
    ))
    .bind(class_id)
    .fetch_all(executor)
    .await
}

pub async fn of_student<'e>(
    executor: impl PgExecutor<'e>,
    student_id: Uuid,
) -> sqlx::Result<Vec<LearningSessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM learning_sessions WHERE student_id = $1 ORDER BY started_at DESC LIMIT 500"
    ))
    .bind(student_id)
    .fetch_all(executor)
    .await
}

/// One entry of a learning session's history.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRow {
    pub sequence: i64,
    pub kind: String,
    pub data: Value,
    pub recorded_at: DateTime<Utc>,
    /// Who paused or resumed the session (the event's `metadata.actor`, e.g. `user:<id>` or
    /// `system:workflows`); `None` for the other entries.
    pub actor: Option<String>,
}

/// The entry kind of a safety concern.
pub const SAFETY_CONCERN_KIND: &str = "safety.concern_detected";

/// A session's entries in order. The actor is read from the log for pauses and resumptions
/// only (one lookup by the log's key each).
pub async fn entries<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> sqlx::Result<Vec<EntryRow>> {
    let rows = sqlx::query(
        "SELECT le.sequence, le.kind, le.data, le.recorded_at, e.metadata ->> 'actor' AS actor \
         FROM learning_session_entries le \
         LEFT JOIN events e \
           ON le.kind IN ('session.paused', 'session.resumed') \
          AND e.aggregate_type = $2 AND e.aggregate_id = $1::text \
          AND e.sequence = le.sequence \
         WHERE le.session_id = $1 ORDER BY le.sequence",
    )
    .bind(id)
    .bind(LearningSession::TYPE)
    .fetch_all(executor)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EntryRow {
                sequence: r.try_get("sequence")?,
                kind: r.try_get("kind")?,
                data: r.try_get("data")?,
                recorded_at: r.try_get("recorded_at")?,
                actor: r.try_get("actor")?,
            })
        })
        .collect()
}

/// How many safety concerns each of `sessions` recorded (sessions without any are left out).
pub async fn safety_concern_counts<'e>(
    executor: impl PgExecutor<'e>,
    sessions: &[Uuid],
) -> sqlx::Result<std::collections::HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT session_id, count(*) FROM learning_session_entries \
         WHERE session_id = ANY($1) AND kind = $2 GROUP BY session_id",
    )
    .bind(sessions)
    .bind(SAFETY_CONCERN_KIND)
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().collect())
}
