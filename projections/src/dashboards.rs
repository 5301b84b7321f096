//! The `dashboards` read model: per class, what a teacher watching the class needs at a
//! glance — active sessions, misbehavior counters by severity (today, in UTC, and in total),
//! students currently struggling (a struggle detected in a session that has not completed),
//! open safety concerns (every concern stays open until the escalation workflow resolves it),
//! assessments awaiting review (confidence below 0.8, not reviewed) and the last 50 relevant
//! events (everything but chat messages).
//!
//! Every adult of the class reads the dashboard, its teachers included, whom the policy does
//! not let read the class's safety concerns: they get the count of the open ones, and the
//! recent events tell a safety concern as a neutral item ([`safety_concern_summary`]) that
//! names no student or session and says nothing of the concern (no type, urgency, evidence,
//! escalation level or outcome). A pause by the safety workflow is told as
//! [`WORKFLOW_PAUSE_SUMMARY`], without its reason.
//!
//! Each change is also told to the class's watchers (topic `class.<id>.dashboard`, see
//! [`crate::realtime`]), in the transaction that applies it: the counters as of the event's
//! position and the recent event it adds.

use std::collections::HashMap;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::assessment::{Assessment, AssessmentEvent, REVIEW_THRESHOLD};
use domain::learning::{LearningSession, LearningSessionEvent, Severity};
use domain::safety_escalation::{SafetyEscalation, SafetyEscalationEvent};
use domain::submission::{Submission, SubmissionEvent};
use domain::Aggregate as _;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::realtime::{self, DashboardUpdate, Topic};
use crate::runner::{applying, Projection};

pub const NAME: &str = "dashboards";

/// How many recent events a dashboard keeps.
pub const RECENT_EVENTS: i64 = 50;

/// The actor of the workflows' commands (`application::workflows::ACTOR`).
pub const WORKFLOWS_ACTOR: &str = "system:workflows";

/// The recent event of a pause the safety workflow made: that a counselor is on it, not why
/// (as `application::learning::without_concerns` tells the session's teachers).
pub const WORKFLOW_PAUSE_SUMMARY: &str = "Session paused for a counselor's review";

/// What a change of a safety concern is in the recent events: a neutral item, the same for
/// every concern (what changed, not what the concern is).
pub fn safety_concern_summary(change: &str) -> String {
    format!("Safety concern {change}")
}

pub struct DashboardsProjection;

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

#[async_trait]
impl Projection for DashboardsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[
            LearningSession::TYPE,
            Assessment::TYPE,
            SafetyEscalation::TYPE,
            Submission::TYPE,
        ])
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "dashboard_classes",
            "dashboard_sessions",
            "dashboard_misbehavior",
            "dashboard_struggles",
            "dashboard_safety_concerns",
            "dashboard_assessments",
            "dashboard_submissions",
            "dashboard_recent_events",
        ]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    /// Each event changes its class's rows and adds a recent event; then, once per batch,
    /// the recent events are written and trimmed, and each class's watchers are told the
    /// dashboard as of the class's last event in the batch, with the recent events it adds
    /// (one update per class per batch: the per-class work does not grow with the events).
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[LoggedEvent],
    ) -> anyhow::Result<()> {
        let mut classes = ClassChanges::default();
        let mut sessions = HashMap::new();
        for event in events {
            if let Some((class_id, recent)) = apply_rows(conn, event, &mut sessions)
                .await
                .with_context(|| applying(event))?
            {
                classes.add(class_id, recent);
            }
        }
        classes.finish(conn).await
    }
}

/// The recent events a batch adds, by class, in log order.
#[derive(Default)]
struct ClassChanges(Vec<(Uuid, Vec<RecentEvent>)>);

impl ClassChanges {
    fn add(&mut self, class_id: Uuid, recent: RecentEvent) {
        match self.0.iter_mut().find(|(id, _)| *id == class_id) {
            Some((_, events)) => events.push(recent),
            None => self.0.push((class_id, vec![recent])),
        }
    }

    /// Writes the recent events, trims each class's to [`RECENT_EVENTS`], and writes one
    /// update per class: four statements whatever the batch.
    async fn finish(self, conn: &mut PgConnection) -> anyhow::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let rows: Vec<(Uuid, &RecentEvent)> = self
            .0
            .iter()
            .flat_map(|(class_id, events)| events.iter().map(|e| (*class_id, e)))
            .collect();
        sqlx::query(
            "INSERT INTO dashboard_recent_events (class_id, position, event_type, session_id, \
                 student_id, summary, recorded_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::uuid[], $5::uuid[], \
                 $6::text[], $7::timestamptz[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(rows.iter().map(|(c, _)| *c).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, e)| e.position).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|(_, e)| e.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|(_, e)| e.learning_session_id)
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|(_, e)| e.student_id).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|(_, e)| e.summary.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|(_, e)| e.recorded_at).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
        let class_ids: Vec<Uuid> = self.0.iter().map(|(id, _)| *id).collect();
        sqlx::query(
            "DELETE FROM dashboard_recent_events d USING ( \
                 SELECT c.class_id, (SELECT r.position FROM dashboard_recent_events r \
                     WHERE r.class_id = c.class_id ORDER BY r.position DESC OFFSET $2 LIMIT 1) \
                     AS oldest_kept \
                 FROM unnest($1::uuid[]) AS c(class_id)) k \
             WHERE d.class_id = k.class_id AND d.position < k.oldest_kept",
        )
        .bind(&class_ids)
        .bind(RECENT_EVENTS - 1)
        .execute(&mut *conn)
        .await?;
        // "Today" is the day the class's last event was recorded.
        let days: Vec<(Uuid, chrono::NaiveDate)> = self
            .0
            .iter()
            .map(|(id, events)| (*id, last(events).recorded_at.date_naive()))
            .collect();
        let mut counters = counters_of(&mut *conn, &days).await?;
        let mut updates = Vec::with_capacity(self.0.len());
        for (class_id, events) in self.0 {
            let dashboard = counters
                .remove(&class_id)
                .context("the counters of a class")?;
            let position = last(&events).position;
            updates.push((
                Topic::ClassDashboard(class_id),
                position,
                serde_json::to_value(DashboardUpdate {
                    position,
                    class_id,
                    dashboard: dashboard.into(),
                    events: events.into_iter().map(Into::into).collect(),
                })?,
            ));
        }
        realtime::write_all(conn, &updates).await
    }
}

fn last(events: &[RecentEvent]) -> &RecentEvent {
    events.last().expect("a class in a batch has an event")
}

/// Applies one event to the class's rows; the class and the recent event it adds, or `None`
/// for an event the dashboards do not show (or showed already). `sessions` remembers the
/// class and student of the learning sessions seen in the batch.
async fn apply_rows(
    conn: &mut PgConnection,
    event: &LoggedEvent,
    sessions: &mut HashMap<Uuid, (Uuid, Uuid)>,
) -> anyhow::Result<Option<(Uuid, RecentEvent)>> {
    let id: Uuid = match event.aggregate_type.as_str() {
        LearningSession::TYPE | Assessment::TYPE | SafetyEscalation::TYPE | Submission::TYPE => {
            event.aggregate_id.parse().context("stream id")?
        }
        _ => return Ok(None),
    };
    let change = if event.aggregate_type == Assessment::TYPE {
        Change::Assessment(
            serde_json::from_value(event.payload.clone()).context("assessment event")?,
        )
    } else if event.aggregate_type == SafetyEscalation::TYPE {
        let payload: SafetyEscalationEvent =
            serde_json::from_value(event.payload.clone()).context("safety concern event")?;
        match payload {
            SafetyEscalationEvent::Opened { detection_id, .. } => {
                // Ties the concern to the detection the dashboard counted.
                sqlx::query(
                    "UPDATE dashboard_safety_concerns SET concern_id = $1 WHERE event_id = $2",
                )
                .bind(id)
                .bind(detection_id)
                .execute(&mut *conn)
                .await?;
                return Ok(None);
            }
            SafetyEscalationEvent::Alerted { level, .. } if level > 0 => Change::Concern(payload),
            SafetyEscalationEvent::Acknowledged { .. } | SafetyEscalationEvent::Resolved { .. } => {
                Change::Concern(payload)
            }
            _ => return Ok(None),
        }
    } else if event.aggregate_type == Submission::TYPE {
        match serde_json::from_value(event.payload.clone()).context("submission event")? {
            // A draft is the student's own until it is submitted.
            SubmissionEvent::Created { .. } => return Ok(None),
            other => Change::Submission(other),
        }
    } else {
        match serde_json::from_value(event.payload.clone()).context("learning event")? {
            LearningSessionEvent::MessagePosted { .. } => return Ok(None),
            other => Change::Learning(other),
        }
    };
    let (class_id, session_student) = match &change {
        Change::Learning(LearningSessionEvent::Started {
            class_id,
            student_id,
            ..
        }) => (*class_id, Some(*student_id)),
        Change::Learning(_) => {
            let known = match sessions.get(&id) {
                Some(known) => Some(*known),
                None => {
                    sqlx::query_as(
                        "SELECT class_id, student_id FROM dashboard_sessions \
                         WHERE session_id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                }
            };
            match known {
                Some((class_id, student_id)) => (class_id, Some(student_id)),
                None => return Ok(None),
            }
        }
        other => match other.class_of(conn, id).await? {
            Some(class_id) => (class_id, None),
            None => return Ok(None),
        },
    };
    if let Some(student_id) = session_student {
        sessions.insert(id, (class_id, student_id));
    }
    // Each class's rows move forward with the log: an event at or below the class's
    // position was applied already (a checkpoint reset without a rebuild re-delivers it).
    let fresh: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO dashboard_classes (class_id, position) VALUES ($1, $2) \
         ON CONFLICT (class_id) DO UPDATE SET position = EXCLUDED.position \
         WHERE dashboard_classes.position < EXCLUDED.position RETURNING class_id",
    )
    .bind(class_id)
    .bind(event.position)
    .fetch_optional(&mut *conn)
    .await?;
    if fresh.is_none() {
        return Ok(None);
    }
    let (session_id, student_id, summary) = match change {
        Change::Assessment(payload) => apply_assessment(conn, id, class_id, payload).await?,
        Change::Learning(payload) => {
            let student_id = session_student.context("the session's student")?;
            // A safety concern's item names no session or student.
            let whose = !matches!(payload, LearningSessionEvent::SafetyConcernDetected { .. });
            let summary = apply_learning(conn, id, class_id, student_id, event, payload).await?;
            if whose {
                (Some(id), Some(student_id), summary)
            } else {
                (None, None, summary)
            }
        }
        Change::Concern(payload) => (None, None, apply_concern(conn, id, event, payload).await?),
        Change::Submission(payload) => apply_submission(conn, id, class_id, payload).await?,
    };
    Ok(Some((
        class_id,
        RecentEvent {
            position: event.position,
            event_type: event.event_type.clone(),
            learning_session_id: session_id,
            student_id,
            summary,
            recorded_at: event.recorded_at,
        },
    )))
}

/// An event the dashboards show.
enum Change {
    Assessment(AssessmentEvent),
    Learning(LearningSessionEvent),
    /// An escalation, acknowledgement or resolution of a safety concern.
    Concern(SafetyEscalationEvent),
    /// A submission submitted or graded.
    Submission(SubmissionEvent),
}

impl Change {
    /// The class the event belongs to (`None`: a stream the dashboards never saw start).
    async fn class_of(&self, conn: &mut PgConnection, id: Uuid) -> anyhow::Result<Option<Uuid>> {
        let sql = match self {
            Self::Assessment(AssessmentEvent::Recorded { class_id, .. }) => {
                return Ok(Some(*class_id))
            }
            Self::Assessment(_) => {
                "SELECT class_id FROM dashboard_assessments WHERE assessment_id = $1"
            }
            // Read with its student in `apply_rows`.
            Self::Learning(_) => return Ok(None),
            Self::Concern(_) => {
                "SELECT class_id FROM dashboard_safety_concerns WHERE concern_id = $1"
            }
            Self::Submission(SubmissionEvent::Submitted { class_id, .. }) => {
                return Ok(Some(*class_id))
            }
            Self::Submission(_) => {
                "SELECT class_id FROM dashboard_submissions WHERE submission_id = $1"
            }
        };
        Ok(sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?)
    }
}

/// Applies an assessment event; returns its session, student and summary line.
async fn apply_assessment(
    conn: &mut PgConnection,
    id: Uuid,
    class_id: Uuid,
    payload: AssessmentEvent,
) -> anyhow::Result<(Option<Uuid>, Option<Uuid>, String)> {
    Ok(match payload {
        AssessmentEvent::Recorded {
            learning_session_id,
            student_id,
            confidence,
            ..
        } => {
            sqlx::query(
                "INSERT INTO dashboard_assessments (assessment_id, class_id, needs_review) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(class_id)
            .bind(confidence < REVIEW_THRESHOLD)
            .execute(&mut *conn)
            .await?;
            (
                Some(learning_session_id),
                Some(student_id),
                format!("Assessment recorded (confidence {confidence:.2})"),
            )
        }
        AssessmentEvent::Reviewed { .. } => {
            sqlx::query(
                "UPDATE dashboard_assessments SET needs_review = false WHERE assessment_id = $1",
            )
            .bind(id)
            .execute(&mut *conn)
            .await?;
            (None, None, "Assessment reviewed".to_owned())
        }
    })
}

/// Applies a submission submitted (awaiting a grade) or graded; returns its student and
/// summary line.
async fn apply_submission(
    conn: &mut PgConnection,
    id: Uuid,
    class_id: Uuid,
    payload: SubmissionEvent,
) -> anyhow::Result<(Option<Uuid>, Option<Uuid>, String)> {
    Ok(match payload {
        SubmissionEvent::Submitted {
            student_id,
            late,
            attempt,
            ..
        } => {
            sqlx::query(
                "INSERT INTO dashboard_submissions (submission_id, class_id, student_id, \
                     awaiting_grade) VALUES ($1, $2, $3, true) \
                 ON CONFLICT (submission_id) DO UPDATE SET awaiting_grade = true",
            )
            .bind(id)
            .bind(class_id)
            .bind(student_id)
            .execute(&mut *conn)
            .await?;
            let summary = match (attempt, late) {
                (1, false) => "Submission received".to_owned(),
                (1, true) => "Submission received (late)".to_owned(),
                (n, _) => format!("Submission received (attempt {n})"),
            };
            (None, Some(student_id), summary)
        }
        SubmissionEvent::Graded { .. } => {
            let student_id: Option<Uuid> = sqlx::query_scalar(
                "UPDATE dashboard_submissions SET awaiting_grade = false \
                 WHERE submission_id = $1 RETURNING student_id",
            )
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            (None, student_id, "Submission graded".to_owned())
        }
        SubmissionEvent::Created { .. } => (None, None, String::new()),
    })
}

/// Applies a change of a safety concern; returns its summary line (neutral: see the module's
/// documentation).
async fn apply_concern(
    conn: &mut PgConnection,
    id: Uuid,
    event: &LoggedEvent,
    payload: SafetyEscalationEvent,
) -> anyhow::Result<String> {
    Ok(match payload {
        SafetyEscalationEvent::Alerted { .. } => safety_concern_summary("escalated"),
        SafetyEscalationEvent::Acknowledged { .. } => safety_concern_summary("acknowledged"),
        SafetyEscalationEvent::Resolved { .. } => {
            sqlx::query(
                "UPDATE dashboard_safety_concerns SET resolved_at = $2 \
                 WHERE concern_id = $1 AND resolved_at IS NULL",
            )
            .bind(id)
            .bind(event.recorded_at)
            .execute(&mut *conn)
            .await?;
            safety_concern_summary("resolved")
        }
        _ => String::new(),
    })
}

/// Applies a learning-session event (not a message); returns the student and a one-line
/// summary for the recent events.
async fn apply_learning(
    conn: &mut PgConnection,
    id: Uuid,
    class_id: Uuid,
    student_id: Uuid,
    event: &LoggedEvent,
    payload: LearningSessionEvent,
) -> anyhow::Result<String> {
    use LearningSessionEvent as E;
    let at = event.recorded_at;
    if let E::Started { .. } = payload {
        sqlx::query(
            "INSERT INTO dashboard_sessions (session_id, class_id, student_id, active) \
             VALUES ($1, $2, $3, true) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(class_id)
        .bind(student_id)
        .execute(&mut *conn)
        .await?;
        return Ok("Session started".to_owned());
    }
    Ok(match payload {
        E::Started { .. } | E::MessagePosted { .. } => String::new(),
        E::MisbehaviorDetected {
            category, severity, ..
        } => {
            sqlx::query(
                "INSERT INTO dashboard_misbehavior (class_id, day, severity, count) \
                 VALUES ($1, ($2 AT TIME ZONE 'UTC')::date, $3, 1) \
                 ON CONFLICT (class_id, day, severity) \
                 DO UPDATE SET count = dashboard_misbehavior.count + 1",
            )
            .bind(class_id)
            .bind(at)
            .bind(severity_name(severity))
            .execute(&mut *conn)
            .await?;
            format!("Misbehavior ({}): {category}", severity_name(severity))
        }
        E::StruggleDetected { topic, .. } => {
            sqlx::query(
                "INSERT INTO dashboard_struggles (session_id, class_id, student_id, topic, since) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (session_id) DO UPDATE SET topic = EXCLUDED.topic",
            )
            .bind(id)
            .bind(class_id)
            .bind(student_id)
            .bind(&topic)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            format!("Struggling with {topic}")
        }
        E::SafetyConcernDetected {
            concern_type,
            urgency,
            ..
        } => {
            let urgency = serde_json::to_value(urgency)?
                .as_str()
                .unwrap_or_default()
                .to_owned();
            sqlx::query(
                "INSERT INTO dashboard_safety_concerns (event_id, class_id, session_id, \
                     student_id, concern_type, urgency, detected_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(event.event_id)
            .bind(class_id)
            .bind(id)
            .bind(student_id)
            .bind(&concern_type)
            .bind(&urgency)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            safety_concern_summary("recorded")
        }
        E::RecoveryDetected { topic } => {
            // The student is no longer struggling with the topic they got past.
            sqlx::query(
                "DELETE FROM dashboard_struggles WHERE session_id = $1 \
                 AND lower(btrim(topic)) = lower(btrim($2))",
            )
            .bind(id)
            .bind(&topic)
            .execute(&mut *conn)
            .await?;
            format!("Recovered on {topic}")
        }
        E::Paused { .. } if event.metadata["actor"] == WORKFLOWS_ACTOR => {
            WORKFLOW_PAUSE_SUMMARY.to_owned()
        }
        E::Paused { reason } => format!("Session paused: {reason}"),
        E::Resumed { reason } => format!("Session resumed: {reason}"),
        E::Completed { .. } => {
            sqlx::query("UPDATE dashboard_sessions SET active = false WHERE session_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM dashboard_struggles WHERE session_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            "Session completed".to_owned()
        }
    })
}

/// Misbehavior counts by severity: `[low, medium, high, critical]`.
pub type SeverityCounts = [i64; 4];

#[derive(Debug, Clone, PartialEq)]
pub struct StrugglingStudent {
    pub student_id: Uuid,
    pub learning_session_id: Uuid,
    pub topic: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecentEvent {
    pub position: i64,
    pub event_type: String,
    pub learning_session_id: Option<Uuid>,
    pub student_id: Option<Uuid>,
    pub summary: String,
    pub recorded_at: DateTime<Utc>,
}

/// What a dashboard counts.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardCounters {
    pub active_sessions: i64,
    pub misbehavior_today: SeverityCounts,
    pub misbehavior_total: SeverityCounts,
    pub struggling_students: Vec<StrugglingStudent>,
    pub open_safety_concerns: i64,
    pub assessments_awaiting_review: i64,
    pub submissions_awaiting_grade: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    pub counters: DashboardCounters,
    pub recent_events: Vec<RecentEvent>,
}

/// A class's dashboard; `today` is the UTC date.
pub async fn dashboard(
    conn: &mut PgConnection,
    class_id: Uuid,
    today: chrono::NaiveDate,
) -> sqlx::Result<Dashboard> {
    Ok(Dashboard {
        counters: counters(&mut *conn, class_id, today).await?,
        recent_events: recent(&mut *conn, class_id).await?,
    })
}

/// A class's counters; `today` is the UTC date whose misbehavior counts as today's.
pub async fn counters(
    conn: &mut PgConnection,
    class_id: Uuid,
    today: chrono::NaiveDate,
) -> sqlx::Result<DashboardCounters> {
    counters_of(conn, &[(class_id, today)])
        .await?
        .remove(&class_id)
        .ok_or(sqlx::Error::RowNotFound)
}

/// The counters of several classes in two statements, each with its own "today".
pub async fn counters_of(
    conn: &mut PgConnection,
    classes: &[(Uuid, chrono::NaiveDate)],
) -> sqlx::Result<HashMap<Uuid, DashboardCounters>> {
    const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];
    let ids: Vec<Uuid> = classes.iter().map(|(id, _)| *id).collect();
    let days: Vec<chrono::NaiveDate> = classes.iter().map(|(_, day)| *day).collect();
    let rows = sqlx::query(
        "SELECT c.class_id, \
           (SELECT count(*) FROM dashboard_sessions WHERE class_id = c.class_id AND active) \
             AS active_sessions, \
           (SELECT count(*) FROM dashboard_safety_concerns WHERE class_id = c.class_id \
             AND resolved_at IS NULL) AS open_safety_concerns, \
           (SELECT count(*) FROM dashboard_assessments \
             WHERE class_id = c.class_id AND needs_review) AS assessments_awaiting_review, \
           (SELECT count(*) FROM dashboard_submissions \
             WHERE class_id = c.class_id AND awaiting_grade) AS submissions_awaiting_grade, \
           ARRAY(SELECT coalesce(sum(m.count) FILTER (WHERE m.day = c.day), 0)::bigint \
                 FROM unnest($3::text[]) WITH ORDINALITY AS s(severity, i) \
                 LEFT JOIN dashboard_misbehavior m \
                   ON m.class_id = c.class_id AND m.severity = s.severity \
                 GROUP BY s.i ORDER BY s.i) AS today, \
           ARRAY(SELECT coalesce(sum(m.count), 0)::bigint \
                 FROM unnest($3::text[]) WITH ORDINALITY AS s(severity, i) \
                 LEFT JOIN dashboard_misbehavior m \
                   ON m.class_id = c.class_id AND m.severity = s.severity \
                 GROUP BY s.i ORDER BY s.i) AS total \
         FROM unnest($1::uuid[], $2::date[]) AS c(class_id, day)",
    )
    .bind(&ids)
    .bind(&days)
    .bind(SEVERITIES)
    .fetch_all(&mut *conn)
    .await?;
    let mut struggling: HashMap<Uuid, Vec<StrugglingStudent>> = HashMap::new();
    for r in sqlx::query(
        "SELECT c.class_id, s.student_id, s.session_id, s.topic, s.since \
         FROM unnest($1::uuid[]) AS c(class_id) CROSS JOIN LATERAL ( \
             SELECT student_id, session_id, topic, since FROM dashboard_struggles \
             WHERE class_id = c.class_id ORDER BY since LIMIT 500) s \
         ORDER BY c.class_id, s.since",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    {
        struggling
            .entry(r.try_get("class_id")?)
            .or_default()
            .push(StrugglingStudent {
                student_id: r.try_get("student_id")?,
                learning_session_id: r.try_get("session_id")?,
                topic: r.try_get("topic")?,
                since: r.try_get("since")?,
            });
    }
    rows.iter()
        .map(|row| {
            let counts = |column: &str| -> sqlx::Result<SeverityCounts> {
                let values: Vec<i64> = row.try_get(column)?;
                values
                    .try_into()
                    .map_err(|_| sqlx::Error::Decode(format!("{column}: four severities").into()))
            };
            let class_id: Uuid = row.try_get("class_id")?;
            Ok((
                class_id,
                DashboardCounters {
                    active_sessions: row.try_get("active_sessions")?,
                    misbehavior_today: counts("today")?,
                    misbehavior_total: counts("total")?,
                    struggling_students: struggling.remove(&class_id).unwrap_or_default(),
                    open_safety_concerns: row.try_get("open_safety_concerns")?,
                    assessments_awaiting_review: row.try_get("assessments_awaiting_review")?,
                    submissions_awaiting_grade: row.try_get("submissions_awaiting_grade")?,
                },
            ))
        })
        .collect()
}

async fn recent<'e>(
    executor: impl PgExecutor<'e>,
    class_id: Uuid,
) -> sqlx::Result<Vec<RecentEvent>> {
    sqlx::query(
        "SELECT position, event_type, session_id, student_id, summary, recorded_at \
         FROM dashboard_recent_events WHERE class_id = $1 ORDER BY position DESC LIMIT $2",
    )
    .bind(class_id)
    .bind(RECENT_EVENTS)
    .fetch_all(executor)
    .await?
    .iter()
    .map(|r| {
        Ok(RecentEvent {
            position: r.try_get("position")?,
            event_type: r.try_get("event_type")?,
            learning_session_id: r.try_get("session_id")?,
            student_id: r.try_get("student_id")?,
            summary: r.try_get("summary")?,
            recorded_at: r.try_get("recorded_at")?,
        })
    })
    .collect()
}
