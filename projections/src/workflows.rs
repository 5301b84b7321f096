//! The read models of the workflows (ADR 0010), with the queries over them:
//!
//! - the `interventions` projection keeps the `interventions` table: every struggle
//!   intervention, its step and outcome (a class's intervention log);
//! - the `safety_concerns` projection keeps the `safety_concerns` table: every concern, its
//!   status (`open`, `acknowledged`, `resolved`), the highest level alerted and the
//!   resolution.
//!
//! Each update is guarded by the row's `position` (the last event applied), so a redelivered
//! event changes nothing. A change that shows in a list's item is told to the class's
//! watchers (topics `class.<id>.interventions` and `class.<id>.safety_concerns`, see
//! [`crate::realtime`]) in the same transaction. The steps and timers of one instance are read from its stream and
//! the timer table (`application::workflows`), not from here.

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::safety_escalation::{SafetyEscalation, SafetyEscalationEvent};
use domain::struggle_intervention::{Step, StruggleIntervention, StruggleInterventionEvent};
use domain::Aggregate as _;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::realtime::{self, InterventionUpdate, SafetyConcernUpdate, Topic};
use crate::runner::Projection;

pub const INTERVENTIONS: &str = "interventions";
pub const SAFETY_CONCERNS: &str = "safety_concerns";

fn step_name(step: Step) -> &'static str {
    match step {
        Step::NotStarted => "not_started",
        Step::Notifying => "notifying",
        Step::Waiting => "waiting",
        Step::Deciding => "deciding",
        Step::Intervening => "intervening",
        Step::Ended => "ended",
    }
}

/// Runs an `UPDATE … SET <set>, position = $2 WHERE id = $1 AND position < $2` with the
/// extra parameters bound by `bind`; true when it changed the row (the event is new to it).
async fn guarded_update(
    conn: &mut PgConnection,
    table: &str,
    set: &str,
    id: Uuid,
    position: i64,
    bind: impl for<'q> FnOnce(
        sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    )
        -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> anyhow::Result<bool> {
    let sql = format!(
        "UPDATE {table} SET {set}{comma} position = $2 WHERE id = $1 AND position < $2",
        comma = if set.is_empty() { "" } else { "," }
    );
    let changed = bind(sqlx::query(&sql).bind(id).bind(position))
        .execute(conn)
        .await?
        .rows_affected();
    Ok(changed == 1)
}

pub struct InterventionsProjection;

#[async_trait]
impl Projection for InterventionsProjection {
    fn name(&self) -> &'static str {
        INTERVENTIONS
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[StruggleIntervention::TYPE])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["interventions"]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        if event.aggregate_type != StruggleIntervention::TYPE {
            return Ok(());
        }
        let id: Uuid = event.aggregate_id.parse().context("intervention id")?;
        let payload: StruggleInterventionEvent =
            serde_json::from_value(event.payload.clone()).context("intervention event")?;
        let at = event.recorded_at;
        let p = event.position;
        use StruggleInterventionEvent as E;
        // Whether the intervention's item (as the class's intervention log shows it) changed.
        let changed =
            match payload {
                E::Started {
                    learning_session_id,
                    class_id,
                    student_id,
                    topic,
                    ..
                } => sqlx::query(
                    "INSERT INTO interventions (id, class_id, learning_session_id, student_id, \
                         topic, step, detections, started_at, started_position, position) \
                     VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $8) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(class_id)
                .bind(learning_session_id)
                .bind(student_id)
                .bind(&topic)
                .bind(step_name(Step::Notifying))
                .bind(at)
                .bind(p)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                    == 1,
                E::StruggleJoined { .. } => {
                    guarded_update(
                        &mut *conn,
                        "interventions",
                        "detections = detections + 1",
                        id,
                        p,
                        |q| q,
                    )
                    .await?
                }
                E::TeachersNotified { recipients } => {
                    guarded_update(
                        &mut *conn,
                        "interventions",
                        "teachers_notified = $3",
                        id,
                        p,
                        |q| q.bind(recipients as i32),
                    )
                    .await?
                }
                E::RecheckScheduled { .. } | E::RecheckFired { .. } | E::MessagePlanned { .. } => {
                    let step = match payload {
                        E::RecheckScheduled { .. } => Step::Waiting,
                        E::RecheckFired { .. } => Step::Deciding,
                        _ => Step::Intervening,
                    };
                    guarded_update(&mut *conn, "interventions", "step = $3", id, p, |q| {
                        q.bind(step_name(step))
                    })
                    .await?
                }
                E::Ended { outcome, .. } => {
                    guarded_update(
                        &mut *conn,
                        "interventions",
                        "step = 'ended', outcome = $3, ended_at = $4",
                        id,
                        p,
                        |q| q.bind(outcome.as_str()).bind(at),
                    )
                    .await?
                }
                E::RecoveryObserved { .. } | E::SessionPaused | E::SessionResumed => {
                    guarded_update(&mut *conn, "interventions", "", id, p, |q| q).await?;
                    false
                }
            };
        if !changed {
            return Ok(());
        }
        let Some(row) = intervention(&mut *conn, id).await? else {
            return Ok(());
        };
        let class_id = row.class_id;
        let update = InterventionUpdate {
            position: p,
            class_id,
            intervention: row.into(),
        };
        realtime::write(conn, &Topic::ClassInterventions(class_id), p, &update).await
    }
}

pub struct SafetyConcernsProjection;

#[async_trait]
impl Projection for SafetyConcernsProjection {
    fn name(&self) -> &'static str {
        SAFETY_CONCERNS
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[SafetyEscalation::TYPE])
    }

    fn tables(&self) -> &'static [&'static str] {
        &["safety_concerns"]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        if event.aggregate_type != SafetyEscalation::TYPE {
            return Ok(());
        }
        let id: Uuid = event.aggregate_id.parse().context("safety concern id")?;
        let payload: SafetyEscalationEvent =
            serde_json::from_value(event.payload.clone()).context("safety concern event")?;
        let at = event.recorded_at;
        let p = event.position;
        use SafetyEscalationEvent as E;
        // Whether the concern's item (as the list of concerns shows it) changed.
        let changed = match payload {
            E::Opened {
                learning_session_id,
                class_id,
                group_id,
                student_id,
                concern_type,
                urgency,
                ..
            } => {
                let urgency = serde_json::to_value(urgency)?
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                sqlx::query(
                    "INSERT INTO safety_concerns (id, class_id, group_id, learning_session_id, \
                         student_id, concern_type, urgency, status, opened_at, opened_position, \
                         position) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $9) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(class_id)
                .bind(group_id)
                .bind(learning_session_id)
                .bind(student_id)
                .bind(&concern_type)
                .bind(&urgency)
                .bind(at)
                .bind(p)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                    == 1
            }
            E::Alerted { level, .. } => {
                guarded_update(&mut *conn, "safety_concerns", "level = $3", id, p, |q| {
                    q.bind(level as i32)
                })
                .await?
            }
            E::SessionPaused => {
                guarded_update(
                    &mut *conn,
                    "safety_concerns",
                    "session_paused = true",
                    id,
                    p,
                    |q| q,
                )
                .await?
            }
            E::Acknowledged { by } => {
                guarded_update(
                    &mut *conn,
                    "safety_concerns",
                    "status = 'acknowledged', acknowledged_by = $3, acknowledged_at = $4",
                    id,
                    p,
                    |q| q.bind(by).bind(at),
                )
                .await?
            }
            E::Resolved { by, outcome, .. } => {
                guarded_update(
                    &mut *conn,
                    "safety_concerns",
                    "status = 'resolved', resolved_by = $3, resolved_at = $4, outcome = $5",
                    id,
                    p,
                    |q| q.bind(by).bind(at).bind(outcome.as_str()),
                )
                .await?
            }
            E::TimerScheduled { .. } | E::TimerFired { .. } | E::FollowUpSent { .. } => {
                guarded_update(conn, "safety_concerns", "", id, p, |q| q).await?;
                false
            }
        };
        if !changed {
            return Ok(());
        }
        let Some(row) = safety_concern(&mut *conn, id).await? else {
            return Ok(());
        };
        let class_id = row.class_id;
        let update = SafetyConcernUpdate {
            position: p,
            class_id,
            concern: row.into(),
        };
        realtime::write(conn, &Topic::ClassSafetyConcerns(class_id), p, &update).await
    }
}

/// One intervention of a class's intervention log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterventionRow {
    pub id: Uuid,
    pub class_id: Uuid,
    pub learning_session_id: Uuid,
    pub student_id: Uuid,
    pub topic: String,
    pub step: String,
    pub detections: i32,
    pub teachers_notified: Option<i32>,
    pub outcome: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub started_position: i64,
}

impl<'r> FromRow<'r, PgRow> for InterventionRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            class_id: row.try_get("class_id")?,
            learning_session_id: row.try_get("learning_session_id")?,
            student_id: row.try_get("student_id")?,
            topic: row.try_get("topic")?,
            step: row.try_get("step")?,
            detections: row.try_get("detections")?,
            teachers_notified: row.try_get("teachers_notified")?,
            outcome: row.try_get("outcome")?,
            started_at: row.try_get("started_at")?,
            ended_at: row.try_get("ended_at")?,
            started_position: row.try_get("started_position")?,
        })
    }
}

const INTERVENTION_COLUMNS: &str = "id, class_id, learning_session_id, student_id, topic, \
    step, detections, teachers_notified, outcome, started_at, ended_at, started_position";

/// One intervention by id.
pub async fn intervention<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<InterventionRow>> {
    sqlx::query_as(&format!(
        "SELECT {INTERVENTION_COLUMNS} FROM interventions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}

/// A class's interventions, newest first, those started before `before` (a
/// `started_position`).
pub async fn interventions_of_class<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<InterventionRow>> {
    sqlx::query_as(&format!(
        "SELECT {INTERVENTION_COLUMNS} FROM interventions \
         WHERE class_id = $1 AND started_position < $2 \
         ORDER BY started_position DESC LIMIT $3"
    ))
    .bind(class_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(executor)
    .await
}

/// One safety concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyConcernRow {
    pub id: Uuid,
    pub class_id: Uuid,
    pub group_id: Uuid,
    pub learning_session_id: Uuid,
    pub student_id: Uuid,
    pub concern_type: String,
    pub urgency: String,
    pub status: String,
    pub level: Option<i32>,
    pub session_paused: bool,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub opened_position: i64,
}

impl<'r> FromRow<'r, PgRow> for SafetyConcernRow {
    fn from_row(row: &'r PgRow) -> sqlx::Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            class_id: row.try_get("class_id")?,
            group_id: row.try_get("group_id")?,
            learning_session_id: row.try_get("learning_session_id")?,
            student_id: row.try_get("student_id")?,
            concern_type: row.try_get("concern_type")?,
            urgency: row.try_get("urgency")?,
            status: row.try_get("status")?,
            level: row.try_get("level")?,
            session_paused: row.try_get("session_paused")?,
            acknowledged_by: row.try_get("acknowledged_by")?,
            acknowledged_at: row.try_get("acknowledged_at")?,
            resolved_by: row.try_get("resolved_by")?,
            resolved_at: row.try_get("resolved_at")?,
            outcome: row.try_get("outcome")?,
            opened_at: row.try_get("opened_at")?,
            opened_position: row.try_get("opened_position")?,
        })
    }
}

const CONCERN_COLUMNS: &str = "id, class_id, group_id, learning_session_id, student_id, \
    concern_type, urgency, status, level, session_paused, acknowledged_by, acknowledged_at, \
    resolved_by, resolved_at, outcome, opened_at, opened_position";

/// Which concerns to list.
#[derive(Debug, Clone, Default)]
pub struct ConcernFilter {
    /// Only this class's.
    pub class_id: Option<Uuid>,
    /// Only these statuses (`open`, `acknowledged`, `resolved`).
    pub statuses: Vec<String>,
    /// Only those opened before this `opened_position` (paging).
    pub before: Option<i64>,
    pub limit: i64,
}

/// Whose concerns a reader is shown (the policy's answer, asked before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcernReach {
    /// Every concern the filter matches: a system admin's or an auditor's, or any reader's
    /// whom the policy let read the filter's class.
    All,
    /// Those of the classes in the groups (and below) where the reader is an admin or a
    /// counselor.
    HandledGroups,
}

/// The concerns `reader` is shown, as far as `reach` goes; newest first. Never those about
/// `reader` themselves (a student never sees a concern about themselves).
pub async fn safety_concerns_for<'e>(
    executor: impl PgExecutor<'e>,
    reader: Uuid,
    reach: ConcernReach,
    filter: &ConcernFilter,
) -> sqlx::Result<Vec<SafetyConcernRow>> {
    let sql = format!(
        "SELECT {CONCERN_COLUMNS} FROM safety_concerns s \
         WHERE ($2 OR s.group_id IN ( \
                 SELECT g.id FROM group_members m \
                   JOIN groups a ON a.id = m.group_id \
                   JOIN groups g ON g.path <@ a.path \
                 WHERE m.user_id = $1 AND m.role IN ('admin', 'counselor'))) \
           AND s.student_id <> $1 \
           AND ($3::uuid IS NULL OR s.class_id = $3) \
           AND s.status = ANY($4) AND s.opened_position < $5 \
         ORDER BY s.opened_position DESC LIMIT $6"
    );
    sqlx::query_as(&sql)
        .bind(reader)
        .bind(reach == ConcernReach::All)
        .bind(filter.class_id)
        .bind(&filter.statuses)
        .bind(filter.before.unwrap_or(i64::MAX))
        .bind(filter.limit)
        .fetch_all(executor)
        .await
}

/// One concern by id.
pub async fn safety_concern<'e>(
    executor: impl PgExecutor<'e>,
    id: Uuid,
) -> sqlx::Result<Option<SafetyConcernRow>> {
    sqlx::query_as(&format!(
        "SELECT {CONCERN_COLUMNS} FROM safety_concerns WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await
}
