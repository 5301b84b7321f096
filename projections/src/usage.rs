//! The `usage` read model: per class, day (UTC) and tool, the learning sessions started and
//! completed, the messages, the detections by type and the assignments submitted; and per
//! class, tool, student and year, the days the student was active. `GET /groups/{id}/usage`
//! rolls it up over a group's subtree ([`report`]).
//!
//! **Where usage is counted.** Rows are kept per class, and a group's usage is its *current*
//! subtree's (see the rollup below): when a class moves to another
//! school, its whole history (also what happened before the move) leaves the old school's
//! usage and shows in the new one's; the same for a group that moves with its classes. An
//! admin asking for "my school's usage" means the classes their school has now. A district
//! sees the same totals before and after a move between two of its schools. Archived classes
//! and groups keep counting (their history happened).
//!
//! **Days** are UTC dates of the events' `recorded_at`.
//!
//! **Active students.** A student is active on a day, with a tool, when they started a
//! learning session with it, posted a message in one or completed one; and, with no tool,
//! when they submitted an assignment. Detections, assistant messages, pauses and resumptions
//! are not the student's doing. Each (class, tool, student, year) keeps its active days as a
//! bit string (the source of truth, read again only when a class or group moves), and each
//! rollup row keeps the *set* of its subtree's students active that day with that tool, as a
//! Roaring bitmap of the students' numbers (`usage_students`: numbered in the order the log
//! first shows them active, so a replay writes the same bytes). A report counts a day's
//! students from its row, and the range's distinct students from the union of its rows: exact
//! however the range is cut (a student active in two classes, on many days, or with two tools
//! counts once), from the one group's rows.
//!
//! **Submissions** come from streams of type `submission`: each `submission.submitted` is
//! read by its type string and its payload's `assignment_id`, `class_id` and `student_id`,
//! and counted once per day, assignment and student (submitting again the same day counts
//! once), with no tool.
//!
//! **The rollup.** Summing every class's rows when a district is read cost 184 ms for 50
//! schools × 4 classes over a year (~200,000 rows). So counters are also kept per group, day
//! and tool in `usage_rollup`, summed over the group's current subtree, and a report reads
//! the rows of the one group (about 1,000 a year per tool). `usage_daily` per class stays the
//! source of truth. The tree used is the projection's own (`usage_groups` with each group's
//! path, `usage_classes` with each class's group), followed from the `group` and `class`
//! streams (`*.created`, `*.moved`): it is the tree as of the event being applied, which the
//! directory's tables (another projection, at another position) are not. When a class moves
//! (or is created, with history already counted), its whole `usage_daily` history is
//! subtracted from its old ancestors' rollup rows and added to the new ones'; when a group
//! moves, its own rollup rows are, and its subtree's paths are rewritten. The rollup is a
//! function of the current tree and of `usage_daily`, so within a batch the tree's events are
//! applied first and the batch's counters are then added to their class's (new) ancestors:
//! the result is the same as in event order. Rollup rows count the `usage_daily` rows they
//! sum (`class_rows`) and are deleted when a move leaves none, so a replay builds identical
//! rows whatever its batches. The sets of active students are added to each ancestor's rows
//! as the batch makes students active; a move cannot subtract a set (a student leaving with a
//! class may still be active in another class of the old school), so it recounts the sets of
//! every group whose subtree changed from the per-class active days.
//!
//! Applying is batched: whatever the batch's size, a handful of statements (the sessions it
//! touches, their new versions, the counters with the rollup, the active days, the
//! submissions), plus three or four per tree event (rare). A session's, group's or class's
//! event at or below the version stored for it changes nothing (a checkpoint reset without a
//! rebuild re-delivers events); active days and submissions are sets.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{Datelike as _, NaiveDate};
use domain::learning::{LearningSession, LearningSessionEvent, MessageRole};
use domain::Aggregate as _;
use roaring::RoaringBitmap;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::log::LoggedEvent;
use crate::runner::{applying, Projection};

pub const NAME: &str = "usage";

/// The stream type of submissions, and the event type counted.
pub const SUBMISSION_TYPE: &str = "submission";
pub const SUBMITTED: &str = "submission.submitted";

/// The stream types of the tree, followed into the projection's own tables.
const GROUP_TYPE: &str = "group";
const CLASS_TYPE: &str = "class";

/// The longest range a report covers, in days (both ends included): a year, leap or not.
pub const MAX_RANGE_DAYS: i64 = 366;

/// How many bits a year's active days take (`bit(366)`).
const YEAR_BITS: usize = 366;

pub struct UsageProjection;

/// The counters of one class, day and tool (or, in a report, of the rolled-up rows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub sessions_started: i64,
    pub sessions_completed: i64,
    pub messages: i64,
    pub struggles: i64,
    pub misbehaviors: i64,
    pub safety_concerns: i64,
    pub recoveries: i64,
    pub assignments_submitted: i64,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.sessions_started += other.sessions_started;
        self.sessions_completed += other.sessions_completed;
        self.messages += other.messages;
        self.struggles += other.struggles;
        self.misbehaviors += other.misbehaviors;
        self.safety_concerns += other.safety_concerns;
        self.recoveries += other.recoveries;
        self.assignments_submitted += other.assignments_submitted;
    }
}

/// What one learning session is, as its start event said, and how far it was applied.
#[derive(Debug, Clone, Copy)]
struct Session {
    class_id: Uuid,
    tool_id: Uuid,
    student_id: Uuid,
    version: i64,
    /// Changed by this batch (to be written).
    changed: bool,
}

/// A class, day and tool: the key of a row of counters.
type DayKey = (Uuid, NaiveDate, Uuid);

/// A class, year, tool and student: the key of a row of active days.
type ActiveKey = (Uuid, i32, Uuid, Uuid);

/// A group, day and tool: the key of a rollup row.
type RollupKey = (Uuid, NaiveDate, Uuid);

/// What a batch adds.
#[derive(Default)]
struct BatchChanges {
    counters: HashMap<DayKey, Counters>,
    /// (class, year, tool, student) → bits of the active days.
    active: HashMap<ActiveKey, Vec<bool>>,
    /// Each active student's first act in the batch (its log position): students new to the
    /// read model are numbered in this order.
    first_acts: HashMap<Uuid, i64>,
    submissions: HashSet<(Uuid, NaiveDate, Uuid, Uuid)>,
}

impl BatchChanges {
    fn counters(&mut self, class_id: Uuid, day: NaiveDate, tool_id: Uuid) -> &mut Counters {
        self.counters.entry((class_id, day, tool_id)).or_default()
    }

    fn active(
        &mut self,
        class_id: Uuid,
        day: NaiveDate,
        tool_id: Uuid,
        student_id: Uuid,
        position: i64,
    ) {
        self.first_acts
            .entry(student_id)
            .and_modify(|p| *p = (*p).min(position))
            .or_insert(position);
        let bits = self
            .active
            .entry((class_id, day.year(), tool_id, student_id))
            .or_insert_with(|| vec![false; YEAR_BITS]);
        bits[day.ordinal0() as usize] = true;
    }
}

/// The UTC day an event counts on.
pub fn day_of(event: &LoggedEvent) -> NaiveDate {
    event.recorded_at.date_naive()
}

#[async_trait]
impl Projection for UsageProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[
            LearningSession::TYPE,
            SUBMISSION_TYPE,
            GROUP_TYPE,
            CLASS_TYPE,
        ])
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "usage_sessions",
            "usage_daily",
            "usage_active_days",
            "usage_submissions",
            "usage_groups",
            "usage_classes",
            "usage_rollup",
            "usage_students",
        ]
    }

    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()> {
        self.apply_batch(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[LoggedEvent],
    ) -> anyhow::Result<()> {
        let mut learning = Vec::new();
        let mut submitted = Vec::new();
        let mut tree = Vec::new();
        for event in events {
            if let Some(placed) = tree_event(event).with_context(|| applying(event))? {
                tree.push((event, placed));
            } else if event.aggregate_type == LearningSession::TYPE {
                let id: Uuid = event
                    .aggregate_id
                    .parse()
                    .with_context(|| applying(event))?;
                let payload: LearningSessionEvent = serde_json::from_value(event.payload.clone())
                    .with_context(|| applying(event))?;
                learning.push((id, event, payload));
            } else if event.aggregate_type == SUBMISSION_TYPE && event.event_type == SUBMITTED {
                submitted.push((
                    event.position,
                    submission(event).with_context(|| applying(event))?,
                ));
            }
        }
        if learning.is_empty() && submitted.is_empty() && tree.is_empty() {
            return Ok(());
        }
        // Planned for this batch: the subscriber's connection caches generic plans, and one
        // cached while the tables were small would read them whole once they are large.
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
            .execute(&mut *conn)
            .await?;
        // The tree first: the rollup then gets the batch's counters at their class's place.
        for (event, placed) in &tree {
            let id: Uuid = event
                .aggregate_id
                .parse()
                .with_context(|| applying(event))?;
            match placed {
                Placed::Group(parent) => place_group(conn, id, *parent, event.sequence).await,
                Placed::Class(group) => place_class(conn, id, *group, event.sequence).await,
            }
            .with_context(|| applying(event))?;
        }
        let mut changes = BatchChanges::default();
        let mut sessions = known_sessions(conn, &learning).await?;
        for (id, event, payload) in &learning {
            apply_learning(&mut sessions, &mut changes, *id, event, payload)?;
        }
        for (position, (class_id, day, assignment_id, student_id)) in submitted {
            changes
                .submissions
                .insert((class_id, day, assignment_id, student_id));
            changes.active(class_id, day, Uuid::nil(), student_id, position);
        }
        write_sessions(conn, &sessions).await?;
        write_submissions(conn, &mut changes).await?;
        write_counters(conn, &changes.counters).await?;
        write_active_days(conn, &changes.active).await?;
        let numbers = number_students(conn, &changes.first_acts).await?;
        write_students(conn, &changes.active, &numbers).await
    }
}

/// A `submission.submitted` event: its class, day, assignment and student.
fn submission(event: &LoggedEvent) -> anyhow::Result<(Uuid, NaiveDate, Uuid, Uuid)> {
    let field = |name: &str| -> anyhow::Result<Uuid> {
        event
            .payload
            .get(name)
            .and_then(serde_json::Value::as_str)
            .with_context(|| format!("{name}: missing"))?
            .parse()
            .with_context(|| format!("{name}: not a UUID"))
    };
    Ok((
        field("class_id")?,
        day_of(event),
        field("assignment_id")?,
        field("student_id")?,
    ))
}

/// Where a tree event puts its group (under a parent, or at the root) or its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placed {
    Group(Option<Uuid>),
    Class(Uuid),
}

/// A `group.created`, `group.moved`, `class.created` or `class.moved` event's new place; none
/// for any other event.
fn tree_event(event: &LoggedEvent) -> anyhow::Result<Option<Placed>> {
    let field = |name: &str| -> anyhow::Result<Option<Uuid>> {
        match event.payload.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => Ok(Some(
                value
                    .as_str()
                    .with_context(|| format!("{name}: not a string"))?
                    .parse()
                    .with_context(|| format!("{name}: not a UUID"))?,
            )),
        }
    };
    Ok(
        match (event.aggregate_type.as_str(), event.event_type.as_str()) {
            (GROUP_TYPE, "group.created" | "group.moved") => {
                Some(Placed::Group(field("parent_id")?))
            }
            (CLASS_TYPE, "class.created" | "class.moved") => Some(Placed::Class(
                field("group_id")?.context("group_id: missing")?,
            )),
            _ => None,
        },
    )
}

/// Adds `sign` × the rows of `source` (a query of `day, tool_id, class_rows` and the counters)
/// to the rollup rows of each group of `$old` (subtracted) and `$new` (added), the groups in
/// both unchanged; then deletes the rows no `usage_daily` row is summed in any more.
fn move_sql(source: &str) -> String {
    format!(
        "WITH anc AS ( \
             SELECT a, sum(s)::bigint AS s FROM ( \
                 SELECT unnest($1::uuid[]) AS a, -1 AS s \
                 UNION ALL SELECT unnest($2::uuid[]), 1) x \
             GROUP BY a HAVING sum(s) <> 0), \
         src AS ({source}) \
         INSERT INTO usage_rollup AS r (group_id, day, tool_id, class_rows, sessions_started, \
             sessions_completed, messages, struggles, misbehaviors, safety_concerns, recoveries, \
             assignments_submitted) \
         SELECT anc.a, src.day, src.tool_id, anc.s * src.class_rows, \
             anc.s * src.sessions_started, anc.s * src.sessions_completed, \
             anc.s * src.messages, anc.s * src.struggles, anc.s * src.misbehaviors, \
             anc.s * src.safety_concerns, anc.s * src.recoveries, \
             anc.s * src.assignments_submitted \
         FROM anc CROSS JOIN src \
         ON CONFLICT (group_id, day, tool_id) DO UPDATE SET {ADD_ROLLUP}"
    )
}

/// Adds `EXCLUDED` to a rollup row `r`.
const ADD_ROLLUP: &str = "class_rows = r.class_rows + EXCLUDED.class_rows, \
     sessions_started = r.sessions_started + EXCLUDED.sessions_started, \
     sessions_completed = r.sessions_completed + EXCLUDED.sessions_completed, \
     messages = r.messages + EXCLUDED.messages, \
     struggles = r.struggles + EXCLUDED.struggles, \
     misbehaviors = r.misbehaviors + EXCLUDED.misbehaviors, \
     safety_concerns = r.safety_concerns + EXCLUDED.safety_concerns, \
     recoveries = r.recoveries + EXCLUDED.recoveries, \
     assignments_submitted = r.assignments_submitted + EXCLUDED.assignments_submitted";

/// Deletes the rollup rows of groups `$1` that sum no `usage_daily` row any more.
const DELETE_EMPTY_ROLLUP: &str =
    "DELETE FROM usage_rollup WHERE group_id = ANY($1) AND class_rows = 0";

/// A group's path (its ancestors from the root, itself last), if the projection knows it.
async fn group_path(conn: &mut PgConnection, group_id: Uuid) -> anyhow::Result<Vec<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT path FROM usage_groups WHERE group_id = $1")
            .bind(group_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or_default(),
    )
}

/// Puts group `id` under `parent` (at the root when none), as its stream's event `sequence`
/// says: its own rollup rows leave its old ancestors and join the new ones, and its
/// subtree's paths follow.
async fn place_group(
    conn: &mut PgConnection,
    id: Uuid,
    parent: Option<Uuid>,
    sequence: i64,
) -> anyhow::Result<()> {
    let known: Option<(Vec<Uuid>, i64)> =
        sqlx::query_as("SELECT path, version FROM usage_groups WHERE group_id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if known.as_ref().is_some_and(|(_, v)| *v >= sequence) {
        return Ok(());
    }
    let mut path = match parent {
        Some(parent) => group_path(conn, parent).await?,
        None => Vec::new(),
    };
    path.push(id);
    let Some((old_path, _)) = known else {
        sqlx::query("INSERT INTO usage_groups (group_id, path, version) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&path)
            .bind(sequence)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    };
    // The ancestors, without the group itself.
    let old_ancestors = &old_path[..old_path.len() - 1];
    let new_ancestors = &path[..path.len() - 1];
    sqlx::query(&move_sql(
        "SELECT day, tool_id, class_rows, sessions_started, sessions_completed, messages, \
             struggles, misbehaviors, safety_concerns, recoveries, assignments_submitted \
         FROM usage_rollup WHERE group_id = $3",
    ))
    .bind(old_ancestors)
    .bind(new_ancestors)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(DELETE_EMPTY_ROLLUP)
        .bind(old_ancestors)
        .execute(&mut *conn)
        .await?;
    // The subtree (the group included): the old path's prefix becomes the new one.
    sqlx::query(
        "UPDATE usage_groups SET path = $2 || path[$3 + 1:], \
             version = CASE WHEN group_id = $4 THEN $5 ELSE version END \
         WHERE path @> ARRAY[$4::uuid] AND path[1:$3] = $1",
    )
    .bind(&old_path)
    .bind(&path)
    .bind(old_path.len() as i32)
    .bind(id)
    .bind(sequence)
    .execute(&mut *conn)
    .await?;
    // Its active students, now that the paths say where its subtree is.
    let active: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM usage_rollup WHERE group_id = $1 AND students <> '')",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    if active {
        recount_moved(conn, old_ancestors, new_ancestors).await?;
    }
    Ok(())
}

/// Puts class `id` in group `group_id`, as its stream's event `sequence` says: its whole
/// history leaves its old group's ancestors (none when it is new) and joins the new ones.
async fn place_class(
    conn: &mut PgConnection,
    id: Uuid,
    group_id: Uuid,
    sequence: i64,
) -> anyhow::Result<()> {
    let known: Option<(Uuid, i64)> =
        sqlx::query_as("SELECT group_id, version FROM usage_classes WHERE class_id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if known.is_some_and(|(_, v)| v >= sequence) {
        return Ok(());
    }
    let old_path = match known {
        Some((old, _)) => group_path(conn, old).await?,
        None => Vec::new(),
    };
    let path = group_path(conn, group_id).await?;
    sqlx::query(
        "INSERT INTO usage_classes (class_id, group_id, version) VALUES ($1, $2, $3) \
         ON CONFLICT (class_id) DO UPDATE SET group_id = EXCLUDED.group_id, \
             version = EXCLUDED.version",
    )
    .bind(id)
    .bind(group_id)
    .bind(sequence)
    .execute(&mut *conn)
    .await?;
    if old_path == path {
        return Ok(());
    }
    sqlx::query(&move_sql(
        "SELECT day, tool_id, 1::bigint AS class_rows, sessions_started, sessions_completed, \
             messages, struggles, misbehaviors, safety_concerns, recoveries, \
             assignments_submitted \
         FROM usage_daily WHERE class_id = $3",
    ))
    .bind(&old_path)
    .bind(&path)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(DELETE_EMPTY_ROLLUP)
        .bind(&old_path)
        .execute(&mut *conn)
        .await?;
    let active: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM usage_active_days WHERE class_id = $1)")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    if active {
        recount_moved(conn, &old_path, &path).await?;
    }
    Ok(())
}

/// After a move from under groups `old` to under `new`: the active students of every group in
/// one list and not the other, recounted from their subtrees (a student who leaves with a
/// class may still be active in another class of the old group, so nothing is subtracted).
/// Moves are rare; a district's recount reads each of its students' active days once.
async fn recount_moved(conn: &mut PgConnection, old: &[Uuid], new: &[Uuid]) -> anyhow::Result<()> {
    for group in old.iter().filter(|g| !new.contains(g)) {
        recount_students(conn, *group).await?;
    }
    for group in new.iter().filter(|g| !old.contains(g)) {
        recount_students(conn, *group).await?;
    }
    Ok(())
}

/// The sessions of the batch's events that earlier batches started.
async fn known_sessions(
    conn: &mut PgConnection,
    learning: &[(Uuid, &LoggedEvent, LearningSessionEvent)],
) -> anyhow::Result<HashMap<Uuid, Session>> {
    let ids: Vec<Uuid> = learning
        .iter()
        .map(|(id, _, _)| *id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "SELECT session_id, class_id, tool_id, student_id, version FROM usage_sessions \
         WHERE session_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("session_id")?,
                Session {
                    class_id: r.try_get("class_id")?,
                    tool_id: r.try_get("tool_id")?,
                    student_id: r.try_get("student_id")?,
                    version: r.try_get("version")?,
                    changed: false,
                },
            ))
        })
        .collect()
}

/// Counts one learning-session event (unless it was applied already).
fn apply_learning(
    sessions: &mut HashMap<Uuid, Session>,
    changes: &mut BatchChanges,
    id: Uuid,
    event: &LoggedEvent,
    payload: &LearningSessionEvent,
) -> anyhow::Result<()> {
    use LearningSessionEvent as E;
    if let E::Started {
        student_id,
        class_id,
        tool_id,
        ..
    } = payload
    {
        sessions.entry(id).or_insert(Session {
            class_id: *class_id,
            tool_id: *tool_id,
            student_id: *student_id,
            version: 0,
            changed: true,
        });
    }
    let Some(session) = sessions.get_mut(&id) else {
        anyhow::bail!(
            "learning session {id} not started, event #{}",
            event.sequence
        );
    };
    if event.sequence <= session.version {
        return Ok(());
    }
    session.version = event.sequence;
    session.changed = true;
    let session = *session;
    let day = day_of(event);
    let counters = changes.counters(session.class_id, day, session.tool_id);
    let student_acted = match payload {
        E::Started { .. } => {
            counters.sessions_started += 1;
            true
        }
        E::Completed { .. } => {
            counters.sessions_completed += 1;
            true
        }
        E::MessagePosted { role, .. } => {
            counters.messages += 1;
            *role == MessageRole::Student
        }
        E::StruggleDetected { .. } => {
            counters.struggles += 1;
            false
        }
        E::MisbehaviorDetected { .. } => {
            counters.misbehaviors += 1;
            false
        }
        E::SafetyConcernDetected { .. } => {
            counters.safety_concerns += 1;
            false
        }
        E::RecoveryDetected { .. } => {
            counters.recoveries += 1;
            false
        }
        E::Paused { .. } | E::Resumed { .. } => false,
    };
    if student_acted {
        changes.active(
            session.class_id,
            day,
            session.tool_id,
            session.student_id,
            event.position,
        );
    }
    Ok(())
}

/// Writes the sessions the batch started or moved forward: one statement.
async fn write_sessions(
    conn: &mut PgConnection,
    sessions: &HashMap<Uuid, Session>,
) -> anyhow::Result<()> {
    let changed: Vec<(&Uuid, &Session)> = sessions.iter().filter(|(_, s)| s.changed).collect();
    if changed.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO usage_sessions (session_id, class_id, tool_id, student_id, version) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[]) \
         ON CONFLICT (session_id) DO UPDATE SET version = EXCLUDED.version \
         WHERE usage_sessions.version < EXCLUDED.version",
    )
    .bind(changed.iter().map(|(id, _)| **id).collect::<Vec<_>>())
    .bind(changed.iter().map(|(_, s)| s.class_id).collect::<Vec<_>>())
    .bind(changed.iter().map(|(_, s)| s.tool_id).collect::<Vec<_>>())
    .bind(
        changed
            .iter()
            .map(|(_, s)| s.student_id)
            .collect::<Vec<_>>(),
    )
    .bind(changed.iter().map(|(_, s)| s.version).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the batch's submissions; those not recorded before count: one statement.
async fn write_submissions(
    conn: &mut PgConnection,
    changes: &mut BatchChanges,
) -> anyhow::Result<()> {
    if changes.submissions.is_empty() {
        return Ok(());
    }
    let rows: Vec<&(Uuid, NaiveDate, Uuid, Uuid)> = changes.submissions.iter().collect();
    let counted: Vec<(Uuid, NaiveDate, i64)> = sqlx::query_as(
        "WITH counted AS ( \
             INSERT INTO usage_submissions (class_id, day, assignment_id, student_id) \
             SELECT * FROM unnest($1::uuid[], $2::date[], $3::uuid[], $4::uuid[]) \
             ON CONFLICT DO NOTHING RETURNING class_id, day) \
         SELECT class_id, day, count(*) FROM counted GROUP BY class_id, day",
    )
    .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.3).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    for (class_id, day, count) in counted {
        changes
            .counters(class_id, day, Uuid::nil())
            .assignments_submitted += count;
    }
    Ok(())
}

/// Adds the batch's counters to their classes' rows, and to the rollup rows of each
/// ancestor of their class (a `usage_daily` row the batch creates adds one to `class_rows`):
/// one statement.
async fn write_counters(
    conn: &mut PgConnection,
    counters: &HashMap<DayKey, Counters>,
) -> anyhow::Result<()> {
    if counters.is_empty() {
        return Ok(());
    }
    let rows: Vec<(&DayKey, &Counters)> = counters.iter().collect();
    let column = |f: fn(&Counters) -> i64| rows.iter().map(|(_, c)| f(c)).collect::<Vec<_>>();
    sqlx::query(&format!(
        "WITH delta AS ( \
             SELECT * FROM unnest($1::uuid[], $2::date[], $3::uuid[], $4::bigint[], \
                 $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], \
                 $10::bigint[], $11::bigint[]) \
             AS d(class_id, day, tool_id, sessions_started, sessions_completed, messages, \
                 struggles, misbehaviors, safety_concerns, recoveries, \
                 assignments_submitted)), \
         daily AS ( \
             INSERT INTO usage_daily AS u (class_id, day, tool_id, sessions_started, \
                 sessions_completed, messages, struggles, misbehaviors, safety_concerns, \
                 recoveries, assignments_submitted) \
             SELECT * FROM delta \
             ON CONFLICT (class_id, day, tool_id) DO UPDATE SET \
                 sessions_started = u.sessions_started + EXCLUDED.sessions_started, \
                 sessions_completed = u.sessions_completed + EXCLUDED.sessions_completed, \
                 messages = u.messages + EXCLUDED.messages, \
                 struggles = u.struggles + EXCLUDED.struggles, \
                 misbehaviors = u.misbehaviors + EXCLUDED.misbehaviors, \
                 safety_concerns = u.safety_concerns + EXCLUDED.safety_concerns, \
                 recoveries = u.recoveries + EXCLUDED.recoveries, \
                 assignments_submitted = u.assignments_submitted + EXCLUDED.assignments_submitted \
             RETURNING class_id, day, tool_id, (xmax = 0) AS created) \
         INSERT INTO usage_rollup AS r (group_id, day, tool_id, class_rows, sessions_started, \
             sessions_completed, messages, struggles, misbehaviors, safety_concerns, recoveries, \
             assignments_submitted) \
         SELECT a, d.day, d.tool_id, count(*) FILTER (WHERE daily.created), \
             sum(d.sessions_started), sum(d.sessions_completed), sum(d.messages), \
             sum(d.struggles), sum(d.misbehaviors), sum(d.safety_concerns), \
             sum(d.recoveries), sum(d.assignments_submitted) \
         FROM delta d JOIN daily USING (class_id, day, tool_id) \
         JOIN usage_classes c ON c.class_id = d.class_id \
         JOIN usage_groups g ON g.group_id = c.group_id \
         CROSS JOIN unnest(g.path) AS a \
         GROUP BY a, d.day, d.tool_id \
         ON CONFLICT (group_id, day, tool_id) DO UPDATE SET {ADD_ROLLUP}"
    ))
    .bind(rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
    .bind(column(|c| c.sessions_started))
    .bind(column(|c| c.sessions_completed))
    .bind(column(|c| c.messages))
    .bind(column(|c| c.struggles))
    .bind(column(|c| c.misbehaviors))
    .bind(column(|c| c.safety_concerns))
    .bind(column(|c| c.recoveries))
    .bind(column(|c| c.assignments_submitted))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A year's active days as the text of a `bit(366)`.
fn bit_text(bits: &[bool]) -> String {
    bits.iter().map(|&b| if b { '1' } else { '0' }).collect()
}

/// Sets the batch's active days: one statement.
async fn write_active_days(
    conn: &mut PgConnection,
    active: &HashMap<ActiveKey, Vec<bool>>,
) -> anyhow::Result<()> {
    if active.is_empty() {
        return Ok(());
    }
    let rows: Vec<(&ActiveKey, &Vec<bool>)> = active.iter().collect();
    sqlx::query(
        "INSERT INTO usage_active_days AS a (class_id, year, tool_id, student_id, days) \
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::uuid[], \
                              $5::text[]::bit(366)[]) \
         ON CONFLICT (class_id, year, tool_id, student_id) \
         DO UPDATE SET days = a.days | EXCLUDED.days",
    )
    .bind(rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.3).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, b)| bit_text(b)).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A set of students as a rollup row stores it: no bytes for none, else the portable Roaring
/// format (the same set always has the same bytes, so a replay compares equal).
fn encode_students(students: &RoaringBitmap) -> Vec<u8> {
    if students.is_empty() {
        return Vec::new();
    }
    let mut bytes = Vec::with_capacity(students.serialized_size());
    students
        .serialize_into(&mut bytes)
        .expect("writing into a Vec does not fail");
    bytes
}

/// A rollup row's set of students.
fn decode_students(bytes: &[u8]) -> std::io::Result<RoaringBitmap> {
    if bytes.is_empty() {
        return Ok(RoaringBitmap::new());
    }
    RoaringBitmap::deserialize_from(bytes)
}

/// The numbers of the batch's active students; those new to the read model get the next
/// numbers in the order of their first act in the log (then by id), so the numbering is a
/// function of the log whatever the batches.
async fn number_students(
    conn: &mut PgConnection,
    first_acts: &HashMap<Uuid, i64>,
) -> anyhow::Result<HashMap<Uuid, u32>> {
    if first_acts.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = first_acts.keys().copied().collect();
    let mut numbers: HashMap<Uuid, u32> = sqlx::query_as::<_, (Uuid, i32)>(
        "SELECT student_id, number FROM usage_students WHERE student_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|(id, number)| (id, number as u32))
    .collect();
    let mut new: Vec<(i64, Uuid)> = first_acts
        .iter()
        .filter(|(id, _)| !numbers.contains_key(id))
        .map(|(id, position)| (*position, *id))
        .collect();
    if new.is_empty() {
        return Ok(numbers);
    }
    new.sort_unstable();
    let next: i32 = sqlx::query_scalar("SELECT coalesce(max(number) + 1, 0) FROM usage_students")
        .fetch_one(&mut *conn)
        .await?;
    let ids: Vec<Uuid> = new.iter().map(|(_, id)| *id).collect();
    let assigned: Vec<i32> = (next..).take(ids.len()).collect();
    sqlx::query(
        "INSERT INTO usage_students (student_id, number) SELECT * FROM unnest($1::uuid[], $2::int[])",
    )
    .bind(&ids)
    .bind(&assigned)
    .execute(&mut *conn)
    .await?;
    numbers.extend(ids.into_iter().zip(assigned.into_iter().map(|n| n as u32)));
    Ok(numbers)
}

/// Adds the batch's active students to the rollup rows of every ancestor of their class, day
/// and tool: one read of those rows' sets and one write of the sets that grew. The rows exist:
/// every act counted also counted in `usage_daily` (a session started, a message, a
/// completion, a submission), which `write_counters` rolled up.
async fn write_students(
    conn: &mut PgConnection,
    active: &HashMap<ActiveKey, Vec<bool>>,
    numbers: &HashMap<Uuid, u32>,
) -> anyhow::Result<()> {
    if active.is_empty() {
        return Ok(());
    }
    let classes: Vec<Uuid> = active
        .keys()
        .map(|k| k.0)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let paths: HashMap<Uuid, Vec<Uuid>> = sqlx::query_as(
        "SELECT c.class_id, g.path FROM usage_classes c \
         JOIN usage_groups g ON g.group_id = c.group_id WHERE c.class_id = ANY($1)",
    )
    .bind(&classes)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut added: HashMap<RollupKey, RoaringBitmap> = HashMap::new();
    for ((class_id, year, tool_id, student_id), bits) in active {
        let (Some(path), Some(number), Some(first)) = (
            paths.get(class_id),
            numbers.get(student_id),
            NaiveDate::from_yo_opt(*year, 1),
        ) else {
            continue;
        };
        for (ordinal0, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
            let day = first + chrono::Days::new(ordinal0 as u64);
            for group in path {
                added
                    .entry((*group, day, *tool_id))
                    .or_default()
                    .insert(*number);
            }
        }
    }
    let keys: Vec<&RollupKey> = added.keys().collect();
    let stored: Vec<(Uuid, NaiveDate, Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT r.group_id, r.day, r.tool_id, r.students FROM usage_rollup r \
         JOIN unnest($1::uuid[], $2::date[], $3::uuid[]) AS k(group_id, day, tool_id) \
             USING (group_id, day, tool_id)",
    )
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.2).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let mut grown = Vec::new();
    for (group_id, day, tool_id, bytes) in stored {
        let key = (group_id, day, tool_id);
        let mut students =
            decode_students(&bytes).with_context(|| format!("the active students of {key:?}"))?;
        let add = &added[&key];
        if add.is_subset(&students) {
            continue;
        }
        students |= add;
        grown.push((key, encode_students(&students)));
    }
    write_student_sets(conn, &grown).await
}

/// Sets the active students of rollup rows: one statement.
async fn write_student_sets(
    conn: &mut PgConnection,
    rows: &[(RollupKey, Vec<u8>)],
) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE usage_rollup r SET students = u.students \
         FROM unnest($1::uuid[], $2::date[], $3::uuid[], $4::bytea[]) \
             AS u(group_id, day, tool_id, students) \
         WHERE r.group_id = u.group_id AND r.day = u.day AND r.tool_id = u.tool_id",
    )
    .bind(rows.iter().map(|(k, _)| k.0).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|(k, _)| k.2).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, b)| b.as_slice()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Recounts the active students of every rollup row of `group_id` from its subtree's active
/// days (after a move; the usage benchmark also seeds with it).
pub async fn recount_students(conn: &mut PgConnection, group_id: Uuid) -> anyhow::Result<()> {
    let rows: Vec<(i32, Uuid, i32, String)> = sqlx::query_as(&format!(
        "SELECT a.year, a.tool_id, s.number, a.days::text FROM usage_active_days a \
         JOIN usage_students s ON s.student_id = a.student_id \
         WHERE a.class_id IN ({SUBTREE_CLASSES})"
    ))
    .bind(group_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut sets: HashMap<(NaiveDate, Uuid), RoaringBitmap> = HashMap::new();
    for (year, tool_id, number, days) in rows {
        let Some(first) = NaiveDate::from_yo_opt(year, 1) else {
            continue;
        };
        for (ordinal0, _) in days.bytes().enumerate().filter(|(_, b)| *b == b'1') {
            sets.entry((first + chrono::Days::new(ordinal0 as u64), tool_id))
                .or_default()
                .insert(number as u32);
        }
    }
    sqlx::query("UPDATE usage_rollup SET students = '' WHERE group_id = $1 AND students <> ''")
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    let rows: Vec<(RollupKey, Vec<u8>)> = sets
        .into_iter()
        .map(|((day, tool_id), students)| ((group_id, day, tool_id), encode_students(&students)))
        .collect();
    write_student_sets(conn, &rows).await
}

/// One day and tool of a report; `tool_id` is `None` for what no tool did (assignments
/// submitted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub day: NaiveDate,
    pub tool_id: Option<Uuid>,
    pub counters: Counters,
    /// Distinct students active that day with that tool in the subtree.
    pub active_students: i64,
}

/// A group's usage over a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    /// By day, then tool (no tool last).
    pub rows: Vec<UsageRow>,
    pub totals: Counters,
    /// Distinct students active on any day of the range (with the tool, when filtered).
    pub active_students: i64,
}

/// The subtree's classes, as the projection's tree has them now (archived ones included).
const SUBTREE_CLASSES: &str = "SELECT c.class_id FROM usage_groups g \
     JOIN usage_classes c ON c.group_id = g.group_id WHERE g.path @> ARRAY[$1::uuid]";

/// The report's first read: the counters of group `$1`'s subtree from day `$2` to day `$3`,
/// by day and tool (only tool `$4` when not null): the group's own rollup rows.
pub fn counters_sql() -> String {
    "SELECT day, tool_id, sessions_started, sessions_completed, messages, struggles, \
            misbehaviors, safety_concerns, recoveries, assignments_submitted, students \
     FROM usage_rollup \
     WHERE group_id = $1 AND day BETWEEN $2 AND $3 AND ($4::uuid IS NULL OR tool_id = $4)"
        .to_owned()
}

/// A group's usage from `from` to `to` (both included, at most [`MAX_RANGE_DAYS`] apart),
/// over its subtree as it is now; only tool `tool` when given. Two reads: the group's rollup
/// rows by day and tool, and the active days of each student, class and tool of
/// the range's years (distinct students are counted here, from one or two rows per student,
/// class and tool).
pub async fn report(
    conn: &mut PgConnection,
    group_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    tool: Option<Uuid>,
) -> sqlx::Result<UsageReport> {
    let mut rows: Vec<UsageRow> = Vec::new();
    // Whoever was active on any day of the range.
    let mut everyone = RoaringBitmap::new();
    for r in sqlx::query(&counters_sql())
        .bind(group_id)
        .bind(from)
        .bind(to)
        .bind(tool)
        .fetch_all(&mut *conn)
        .await?
    {
        let day: NaiveDate = r.try_get("day")?;
        let tool_id: Uuid = r.try_get("tool_id")?;
        let counters = Counters {
            sessions_started: r.try_get("sessions_started")?,
            sessions_completed: r.try_get("sessions_completed")?,
            messages: r.try_get("messages")?,
            struggles: r.try_get("struggles")?,
            misbehaviors: r.try_get("misbehaviors")?,
            safety_concerns: r.try_get("safety_concerns")?,
            recoveries: r.try_get("recoveries")?,
            assignments_submitted: r.try_get("assignments_submitted")?,
        };
        let students = decode_students(r.try_get::<&[u8], _>("students")?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        rows.push(UsageRow {
            day,
            tool_id: (!tool_id.is_nil()).then_some(tool_id),
            counters,
            active_students: students.len() as i64,
        });
        everyone |= students;
    }
    let mut totals = Counters::default();
    let mut ordered = rows;
    for row in &ordered {
        totals.add(&row.counters);
    }
    // By day, then tool, what no tool did last.
    ordered.sort_by_key(|r| (r.day, r.tool_id.is_none(), r.tool_id));
    Ok(UsageReport {
        rows: ordered,
        totals,
        active_students: everyone.len() as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(aggregate_type: &str, event_type: &str, payload: serde_json::Value) -> LoggedEvent {
        LoggedEvent {
            position: 1,
            event_id: Uuid::nil(),
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: Uuid::nil().to_string(),
            sequence: 1,
            event_type: event_type.to_owned(),
            event_version: "1".to_owned(),
            payload,
            metadata: serde_json::json!({}),
            recorded_at: "2026-03-01T23:59:59.999Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_submission_is_read_by_its_fields_on_its_utc_day() {
        let (class, assignment, student) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let submitted = event(
            SUBMISSION_TYPE,
            SUBMITTED,
            serde_json::json!({"type": SUBMITTED, "assignment_id": assignment,
                               "class_id": class, "student_id": student, "late": false}),
        );
        assert_eq!(
            submission(&submitted).unwrap(),
            (
                class,
                NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                assignment,
                student
            )
        );
        let broken = event(
            SUBMISSION_TYPE,
            SUBMITTED,
            serde_json::json!({"assignment_id": "x", "class_id": class, "student_id": student}),
        );
        assert!(submission(&broken).is_err());
    }

    #[test]
    fn a_set_of_students_has_one_form_whatever_its_making() {
        assert!(encode_students(&RoaringBitmap::new()).is_empty());
        assert!(decode_students(&[]).unwrap().is_empty());
        // Built one by one, in another order, grown past an array container and back through
        // a union: the same set, the same bytes.
        let numbers: Vec<u32> = (0..6000).map(|i| i * 7 % 9001).collect();
        let one_by_one: RoaringBitmap = numbers.iter().copied().collect();
        let reversed: RoaringBitmap = numbers.iter().rev().copied().collect();
        let mut halves: RoaringBitmap = numbers[..3000].iter().copied().collect();
        halves |= numbers[3000..].iter().copied().collect::<RoaringBitmap>();
        let bytes = encode_students(&one_by_one);
        assert_eq!(encode_students(&reversed), bytes);
        assert_eq!(encode_students(&halves), bytes);
        assert_eq!(decode_students(&bytes).unwrap(), one_by_one);
        assert!(decode_students(&[1, 2, 3]).is_err());
    }

    #[test]
    fn tree_events_are_read_by_their_new_place() {
        let (group, parent) = (Uuid::now_v7(), Uuid::now_v7());
        let created = event(
            GROUP_TYPE,
            "group.created",
            serde_json::json!({"type": "group.created", "name": "North", "parent_id": parent}),
        );
        assert_eq!(
            tree_event(&created).unwrap(),
            Some(Placed::Group(Some(parent)))
        );
        let to_root = event(
            GROUP_TYPE,
            "group.moved",
            serde_json::json!({"type": "group.moved", "parent_id": null}),
        );
        assert_eq!(tree_event(&to_root).unwrap(), Some(Placed::Group(None)));
        let moved = event(
            CLASS_TYPE,
            "class.moved",
            serde_json::json!({"type": "class.moved", "group_id": group}),
        );
        assert_eq!(tree_event(&moved).unwrap(), Some(Placed::Class(group)));
        let renamed = event(
            CLASS_TYPE,
            "class.renamed",
            serde_json::json!({"type": "class.renamed", "name": "Algebra"}),
        );
        assert_eq!(tree_event(&renamed).unwrap(), None);
        let broken = event(
            CLASS_TYPE,
            "class.created",
            serde_json::json!({"type": "class.created", "name": "Algebra"}),
        );
        assert!(tree_event(&broken).is_err());
    }

    #[test]
    fn events_count_once_and_only_student_acts_make_a_student_active() {
        let (session, class, tool, student) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let mut sessions = HashMap::new();
        let mut changes = BatchChanges::default();
        let started = LearningSessionEvent::Started {
            student_id: student,
            class_id: class,
            group_id: Uuid::now_v7(),
            tool_id: tool,
        };
        let mut logged = event("learning_session", "session.started", serde_json::json!({}));
        apply_learning(&mut sessions, &mut changes, session, &logged, &started).unwrap();
        // Delivered again: nothing more.
        apply_learning(&mut sessions, &mut changes, session, &logged, &started).unwrap();
        logged.sequence = 2;
        // Just after midnight UTC: the next day.
        logged.recorded_at = "2026-03-02T00:00:00Z".parse().unwrap();
        let recovery = LearningSessionEvent::RecoveryDetected {
            topic: "fractions".into(),
        };
        apply_learning(&mut sessions, &mut changes, session, &logged, &recovery).unwrap();
        let first = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let second = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        assert_eq!(changes.counters[&(class, first, tool)].sessions_started, 1);
        assert_eq!(changes.counters[&(class, second, tool)].recoveries, 1);
        let bits = &changes.active[&(class, 2026, tool, student)];
        assert!(bits[first.ordinal0() as usize]);
        assert!(!bits[second.ordinal0() as usize], "a detection is no act");
        assert_eq!(sessions[&session].version, 2);
    }
}
