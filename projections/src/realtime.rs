//! Live updates: what each audience topic is told when a read model it watches changes.
//!
//! A [`Topic`] names an audience: one user's notifications, or one class's dashboard,
//! interventions or safety concerns. The projection that owns the read model writes the
//! update ([`write()`]) in the transaction that applies the event, so the update and the read
//! model commit together and carry the same log position; the REST reads of that read model
//! report the projection's checkpoint as their `position` ([`snapshot_position`]). A client
//! that loads a snapshot at position S and then applies every update above S has missed
//! nothing and seen nothing twice.
//!
//! The rows of `realtime_updates` are both the catch-up store (`GET /realtime/updates`) and
//! the outbox of the realtime publisher, which sends each to core NATS on
//! `<NATS_SUBJECT_PREFIX>.<topic>` ([`Topic::subject`]).
//!
//! The message bodies ([`DashboardUpdate`], [`NotificationUpdate`], [`InterventionUpdate`],
//! [`SafetyConcernUpdate`]) hold the same items, field for field and with the same time
//! format, as the REST reads they mirror.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::dashboards::{self, DashboardCounters, RecentEvent, SeverityCounts, StrugglingStudent};
use crate::notifications::{self, NotificationRow};
use crate::workflows::{self, InterventionRow, SafetyConcernRow};

/// The PostgreSQL channel a projection notifies when it wrote updates (the publisher listens).
pub const CHANNEL: &str = "rapt_realtime";

/// The projections that write updates: the sources the publisher follows, one cursor each.
pub const SOURCES: [&str; 4] = [
    dashboards::NAME,
    notifications::NAME,
    workflows::INTERVENTIONS,
    workflows::SAFETY_CONCERNS,
];

/// An audience of live updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `user.<id>.notifications`: a user's notifications (created, read) with the unread count.
    UserNotifications(Uuid),
    /// `class.<id>.dashboard`: every change to a class's dashboard.
    ClassDashboard(Uuid),
    /// `class.<id>.interventions`: every change to a struggle intervention of the class.
    ClassInterventions(Uuid),
    /// `class.<id>.safety_concerns`: every change to a safety concern of the class.
    ClassSafetyConcerns(Uuid),
}

/// A topic string that names no topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected user.<id>.notifications, class.<id>.dashboard, class.<id>.interventions or \
     class.<id>.safety_concerns (ids as lower-case hyphenated UUIDs)"
)]
pub struct TopicError;

impl Topic {
    /// The projection that writes this topic's updates.
    pub fn source(&self) -> &'static str {
        match self {
            Self::UserNotifications(_) => notifications::NAME,
            Self::ClassDashboard(_) => dashboards::NAME,
            Self::ClassInterventions(_) => workflows::INTERVENTIONS,
            Self::ClassSafetyConcerns(_) => workflows::SAFETY_CONCERNS,
        }
    }

    /// The NATS subject of the topic: `<prefix>.<topic>`.
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}.{self}")
    }

    /// Parses a topic string (the form [`Topic`]'s `Display` writes, nothing else).
    pub fn parse(raw: &str) -> Result<Self, TopicError> {
        let mut tokens = raw.split('.');
        let (Some(kind), Some(id), Some(what), None) =
            (tokens.next(), tokens.next(), tokens.next(), tokens.next())
        else {
            return Err(TopicError);
        };
        let text = id;
        let id = Uuid::try_parse(text).map_err(|_| TopicError)?;
        // One spelling per topic: the subject a credential grants is the one published.
        if id.hyphenated().to_string() != text {
            return Err(TopicError);
        }
        match (kind, what) {
            ("user", "notifications") => Ok(Self::UserNotifications(id)),
            ("class", "dashboard") => Ok(Self::ClassDashboard(id)),
            ("class", "interventions") => Ok(Self::ClassInterventions(id)),
            ("class", "safety_concerns") => Ok(Self::ClassSafetyConcerns(id)),
            _ => Err(TopicError),
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UserNotifications(id) => write!(f, "user.{id}.notifications"),
            Self::ClassDashboard(id) => write!(f, "class.{id}.dashboard"),
            Self::ClassInterventions(id) => write!(f, "class.{id}.interventions"),
            Self::ClassSafetyConcerns(id) => write!(f, "class.{id}.safety_concerns"),
        }
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

/// Records an update of `topic` at `position`, inside the transaction of the projection that
/// applies the event at that position, and wakes the publisher (`NOTIFY rapt_realtime`; the
/// notifications of one transaction collapse into one). Writes nothing when the topic already
/// has an update at that position (a redelivered event), or when the publisher has passed the
/// position (a rebuild of the projection: those updates were published already, or their
/// rows pruned).
pub async fn write(
    conn: &mut PgConnection,
    topic: &Topic,
    position: i64,
    body: &impl Serialize,
) -> anyhow::Result<()> {
    sqlx::query(
        "WITH written AS ( \
             INSERT INTO realtime_updates (topic, position, source, body) \
             SELECT $1, $2, $3, $4 \
             WHERE $2 > coalesce( \
                 (SELECT position FROM realtime_cursors WHERE source = $3), 0) \
             ON CONFLICT DO NOTHING RETURNING 1) \
         SELECT pg_notify($5, '') FROM written",
    )
    .bind(topic.to_string())
    .bind(position)
    .bind(topic.source())
    .bind(sqlx::types::Json(body))
    .bind(CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

/// [`write`] for several updates in one statement (one notification), each with its topic,
/// position and body.
pub async fn write_all(
    conn: &mut PgConnection,
    updates: &[(Topic, i64, serde_json::Value)],
) -> anyhow::Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH written AS ( \
             INSERT INTO realtime_updates (topic, position, source, body) \
             SELECT u.topic, u.position, u.source, u.body \
             FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::jsonb[]) \
                 AS u(topic, position, source, body) \
             WHERE u.position > coalesce( \
                 (SELECT position FROM realtime_cursors c WHERE c.source = u.source), 0) \
             ON CONFLICT DO NOTHING RETURNING 1) \
         SELECT pg_notify($5, '') FROM (SELECT 1 FROM written LIMIT 1) w",
    )
    .bind(
        updates
            .iter()
            .map(|(t, _, _)| t.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(updates.iter().map(|(_, p, _)| *p).collect::<Vec<_>>())
    .bind(
        updates
            .iter()
            .map(|(t, _, _)| t.source())
            .collect::<Vec<_>>(),
    )
    .bind(updates.iter().map(|(_, _, b)| b).collect::<Vec<_>>())
    .bind(CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

/// The position a read of projection `source`'s tables reflects: its checkpoint, read in the
/// same (repeatable-read) snapshot as the rows. Every update above it is not in that read;
/// every update at or below it is.
pub async fn snapshot_position<'e>(
    executor: impl PgExecutor<'e>,
    source: &str,
) -> sqlx::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT position FROM subscriber_checkpoints WHERE name = $1")
            .bind(source)
            .fetch_optional(executor)
            .await?
            .unwrap_or(0),
    )
}

/// One stored update.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUpdate {
    pub position: i64,
    pub body: serde_json::Value,
}

/// Up to `limit` updates of `topic` above `after`, oldest first.
pub async fn updates_after<'e>(
    executor: impl PgExecutor<'e>,
    topic: &Topic,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<StoredUpdate>> {
    let rows: Vec<(i64, serde_json::Value)> = sqlx::query_as(
        "SELECT position, body FROM realtime_updates WHERE topic = $1 AND position > $2 \
         ORDER BY position LIMIT $3",
    )
    .bind(topic.to_string())
    .bind(after)
    .bind(limit)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(position, body)| StoredUpdate { position, body })
        .collect())
}

/// The position at or below which updates of `source` may have been pruned: a catch-up from
/// below it may miss some.
pub async fn pruned_below<'e>(executor: impl PgExecutor<'e>, source: &str) -> sqlx::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT pruned_below FROM realtime_cursors WHERE source = $1")
            .bind(source)
            .fetch_optional(executor)
            .await?
            .unwrap_or(0),
    )
}

/// Times as the REST bodies write them (RFC 3339 with `+00:00`), so that an item in an update
/// is the same text as in a REST read.
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }

    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&at.to_rfc3339()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<DateTime<Utc>>::deserialize(d)
        }
    }
}

/// Misbehavior counts by severity, as in `GET /classes/{id}/dashboard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCountsBody {
    pub low: i64,
    pub medium: i64,
    pub high: i64,
    pub critical: i64,
}

impl From<SeverityCounts> for SeverityCountsBody {
    fn from([low, medium, high, critical]: SeverityCounts) -> Self {
        Self {
            low,
            medium,
            high,
            critical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MisbehaviorBody {
    /// Since midnight UTC of the day the update was recorded.
    pub today: SeverityCountsBody,
    pub total: SeverityCountsBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrugglingStudentBody {
    pub student_id: Uuid,
    pub learning_session_id: Uuid,
    pub topic: String,
    #[serde(with = "rfc3339")]
    pub since: DateTime<Utc>,
}

impl From<StrugglingStudent> for StrugglingStudentBody {
    fn from(s: StrugglingStudent) -> Self {
        Self {
            student_id: s.student_id,
            learning_session_id: s.learning_session_id,
            topic: s.topic,
            since: s.since,
        }
    }
}

/// A class dashboard's counters: `GET /classes/{id}/dashboard` without `class_id`,
/// `position` and `recent_events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardCountersBody {
    pub active_sessions: i64,
    pub misbehavior: MisbehaviorBody,
    pub struggling_students: Vec<StrugglingStudentBody>,
    pub open_safety_concerns: i64,
    pub assessments_awaiting_review: i64,
    /// Absent from updates stored before submissions existed.
    #[serde(default)]
    pub submissions_awaiting_grade: i64,
}

impl From<DashboardCounters> for DashboardCountersBody {
    fn from(d: DashboardCounters) -> Self {
        Self {
            active_sessions: d.active_sessions,
            misbehavior: MisbehaviorBody {
                today: d.misbehavior_today.into(),
                total: d.misbehavior_total.into(),
            },
            struggling_students: d
                .struggling_students
                .into_iter()
                .map(StrugglingStudentBody::from)
                .collect(),
            open_safety_concerns: d.open_safety_concerns,
            assessments_awaiting_review: d.assessments_awaiting_review,
            submissions_awaiting_grade: d.submissions_awaiting_grade,
        }
    }
}

/// An item of a dashboard's `recent_events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardEventBody {
    pub position: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub learning_session_id: Option<Uuid>,
    pub student_id: Option<Uuid>,
    pub summary: String,
    #[serde(with = "rfc3339")]
    pub recorded_at: DateTime<Utc>,
}

impl From<RecentEvent> for DashboardEventBody {
    fn from(e: RecentEvent) -> Self {
        Self {
            position: e.position,
            event_type: e.event_type,
            learning_session_id: e.learning_session_id,
            student_id: e.student_id,
            summary: e.summary,
            recorded_at: e.recorded_at,
        }
    }
}

/// `class.<id>.dashboard`: the class's dashboard as of `position`, and the recent events added
/// since the class's previous update (one update per class per batch of the projection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardUpdate {
    pub position: i64,
    pub class_id: Uuid,
    pub dashboard: DashboardCountersBody,
    /// The recent events this update adds, oldest first (the last one is at `position`).
    pub events: Vec<DashboardEventBody>,
}

/// An item of `GET /notifications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationBody {
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub class_id: Uuid,
    pub learning_session_id: Option<Uuid>,
    pub assessment_id: Option<Uuid>,
    pub student_id: Option<Uuid>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339::option")]
    pub read_at: Option<DateTime<Utc>>,
}

impl From<NotificationRow> for NotificationBody {
    fn from(row: NotificationRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            title: row.title,
            body: row.body,
            class_id: row.class_id,
            learning_session_id: row.learning_session_id,
            assessment_id: row.assessment_id,
            student_id: row.student_id,
            created_at: row.created_at,
            read_at: row.read_at,
        }
    }
}

/// What happened to a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationChange {
    Created,
    Read,
}

/// `user.<id>.notifications`: a notification created or read, as it is after the change, with
/// the user's unread count as of `position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationUpdate {
    pub position: i64,
    pub change: NotificationChange,
    pub notification: NotificationBody,
    pub unread_count: i64,
}

/// An item of `GET /classes/{id}/interventions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterventionBody {
    pub id: Uuid,
    pub learning_session_id: Uuid,
    pub student_id: Uuid,
    pub topic: String,
    pub step: String,
    pub detections: i32,
    pub teachers_notified: Option<i32>,
    pub outcome: Option<String>,
    #[serde(with = "rfc3339")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "rfc3339::option")]
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<InterventionRow> for InterventionBody {
    fn from(row: InterventionRow) -> Self {
        Self {
            id: row.id,
            learning_session_id: row.learning_session_id,
            student_id: row.student_id,
            topic: row.topic,
            step: row.step,
            detections: row.detections,
            teachers_notified: row.teachers_notified,
            outcome: row.outcome,
            started_at: row.started_at,
            ended_at: row.ended_at,
        }
    }
}

/// `class.<id>.interventions`: an intervention of the class as it is at `position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterventionUpdate {
    pub position: i64,
    pub class_id: Uuid,
    pub intervention: InterventionBody,
}

/// An item of `GET /safety-concerns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyConcernBody {
    pub id: Uuid,
    pub class_id: Uuid,
    pub learning_session_id: Uuid,
    pub student_id: Uuid,
    pub concern_type: String,
    pub urgency: String,
    pub status: String,
    pub level: Option<i32>,
    pub session_paused: bool,
    pub acknowledged_by: Option<Uuid>,
    #[serde(with = "rfc3339::option")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    #[serde(with = "rfc3339::option")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    #[serde(with = "rfc3339")]
    pub opened_at: DateTime<Utc>,
}

impl From<SafetyConcernRow> for SafetyConcernBody {
    fn from(row: SafetyConcernRow) -> Self {
        Self {
            id: row.id,
            class_id: row.class_id,
            learning_session_id: row.learning_session_id,
            student_id: row.student_id,
            concern_type: row.concern_type,
            urgency: row.urgency,
            status: row.status,
            level: row.level,
            session_paused: row.session_paused,
            acknowledged_by: row.acknowledged_by,
            acknowledged_at: row.acknowledged_at,
            resolved_by: row.resolved_by,
            resolved_at: row.resolved_at,
            outcome: row.outcome,
            opened_at: row.opened_at,
        }
    }
}

/// `class.<id>.safety_concerns`: a safety concern of the class as it is at `position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyConcernUpdate {
    pub position: i64,
    pub class_id: Uuid,
    pub concern: SafetyConcernBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = Uuid::from_u128(0x0193_1c3d_4e5f_7061_8c7d_8e9f_a0b1_2c3d);

    #[test]
    fn topics_format_and_parse_back() {
        let topics = [
            (
                Topic::UserNotifications(ID),
                "user.01931c3d-4e5f-7061-8c7d-8e9fa0b12c3d.notifications",
                "notifications",
            ),
            (
                Topic::ClassDashboard(ID),
                "class.01931c3d-4e5f-7061-8c7d-8e9fa0b12c3d.dashboard",
                "dashboards",
            ),
            (
                Topic::ClassInterventions(ID),
                "class.01931c3d-4e5f-7061-8c7d-8e9fa0b12c3d.interventions",
                "interventions",
            ),
            (
                Topic::ClassSafetyConcerns(ID),
                "class.01931c3d-4e5f-7061-8c7d-8e9fa0b12c3d.safety_concerns",
                "safety_concerns",
            ),
        ];
        for (topic, text, source) in topics {
            assert_eq!(topic.to_string(), text);
            assert_eq!(Topic::parse(text), Ok(topic));
            assert_eq!(text.parse::<Topic>(), Ok(topic));
            assert_eq!(topic.source(), source);
            assert_eq!(topic.subject("rapt"), format!("rapt.{text}"));
            assert!(SOURCES.contains(&source));
        }
    }

    #[test]
    fn malformed_topics_are_refused() {
        let id = "01931c3d-4e5f-7061-8c7d-8e9fa0b12c3d";
        for raw in [
            String::new(),
            "class".to_owned(),
            format!("class.{id}"),
            format!("class.{id}.dashboard.extra"),
            format!("class.{id}.notifications"),
            format!("user.{id}.dashboard"),
            format!("group.{id}.dashboard"),
            format!("Class.{id}.dashboard"),
            "class.not-a-uuid.dashboard".to_owned(),
            // One spelling per id: no upper case, braces, URNs or unhyphenated forms.
            format!("class.{}.dashboard", id.to_uppercase()),
            format!("class.{}.dashboard", id.replace('-', "")),
            format!("class.{{{id}}}.dashboard"),
            format!("class.urn:uuid:{id}.dashboard"),
            format!("class.{id}.*"),
            format!("class.{id}.>"),
            format!("rapt.class.{id}.dashboard"),
            format!(" class.{id}.dashboard"),
        ] {
            assert_eq!(Topic::parse(&raw), Err(TopicError), "{raw:?}");
        }
    }

    #[test]
    fn times_are_written_as_the_rest_bodies_write_them() {
        let at: DateTime<Utc> = "2026-12-07T09:15:02.123456Z".parse().unwrap();
        let event = DashboardEventBody {
            position: 7,
            event_type: "learning.misbehavior_detected".into(),
            learning_session_id: None,
            student_id: Some(ID),
            summary: "Misbehavior (low): off_topic".into(),
            recorded_at: at,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["recorded_at"], "2026-12-07T09:15:02.123456+00:00");
        assert_eq!(json["type"], "learning.misbehavior_detected");
        assert!(json["learning_session_id"].is_null());
        let back: DashboardEventBody = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
