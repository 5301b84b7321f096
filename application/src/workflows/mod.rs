//! The workflows (ADR 0010): struggle interventions and safety escalations as saga aggregates,
//! driven by a process manager that reads the log, and durable timers.
//!
//! - [`Workflows::handle`] is the process manager: the `workflows` subscriber hands it every
//!   learning-session and saga event in log order; it turns them into commands on the sagas
//!   and the sagas' decisions into effects (notifications, a pause, an assistant message), each
//!   with an id derived from its cause ([`ids`]), then records the effect on the saga.
//! - [`Workflows::fire_all`] fires due timers (the timer loop calls it with the rows that
//!   [`timers`] reports due, a batch at a time).
//! - [`SafetyConcerns`] holds the use cases of the people who handle a concern.
//! - [`audience`] says who a concern's alerts go to, level by level (plain rules, tested
//!   without a database).
//!
//! Tables owned here: `workflow_timers` ([`timers`]) and `struggle_intervention_runs`
//! ([`runs`]). The read models of the workflows are in `projections::workflows`.

pub mod audience;
pub mod ids;
mod interventions;
pub mod runs;
mod safety;
pub mod timers;

use std::sync::Arc;
use std::time::Duration;

use domain::group::{GroupId, GroupRole};
use domain::learning::LearningSession;
use domain::safety_escalation::SafetyEscalation;
use domain::struggle_intervention::StruggleIntervention;
use domain::user::UserId;
use domain::Aggregate as _;
use futures::stream::{self, StreamExt as _};
use sqlx::PgPool;
use uuid::Uuid;

pub use safety::SafetyConcerns;

use crate::learning::LearningSessions;
use crate::notifications::Notifications;
use crate::ports::AppendListener;

/// What a step of the workflows gives: any failure is retried by the subscriber.
pub type Fallible<T> = crate::ports::anyhow_like::Result<T>;
use crate::store::Decided;
use crate::{CommandContext, CommandRunner};

/// How many times a timer's command is decided when its saga keeps changing under it.
const FIRE_ATTEMPTS: u32 = 5;

/// Sagas loaded at once while a batch of timers is decided.
const LOADS_AT_ONCE: usize = 8;

/// What firing a timer appends.
enum Planned {
    Recheck(Decided<StruggleIntervention>),
    Escalation(Decided<SafetyEscalation>),
    /// The saga no longer waits for the timer.
    Nothing,
}

/// Firings decided and not appended yet, with the timers they mark (those that append
/// nothing too).
#[derive(Default)]
struct Firings {
    rechecks: Vec<(Decided<StruggleIntervention>, CommandContext)>,
    escalations: Vec<(Decided<SafetyEscalation>, CommandContext)>,
    timers: Vec<Uuid>,
}

impl Firings {
    fn add(&mut self, timer: &timers::DueTimer, plan: Planned) {
        match plan {
            Planned::Recheck(decided) => self.rechecks.push((decided, firing_context(timer))),
            Planned::Escalation(decided) => self.escalations.push((decided, firing_context(timer))),
            Planned::Nothing => {}
        }
        self.timers.push(timer.id);
    }
}

/// Who fires a timer, in the metadata of what the firing appends.
fn firing_context(timer: &timers::DueTimer) -> CommandContext {
    CommandContext {
        actor: ACTOR.to_owned(),
        correlation_id: format!("timer:{}", timer.id),
        causation_id: None,
    }
}

/// A decided firing, or nothing when the saga no longer waits for the timer (ended, fired
/// before): it refuses the command.
fn planned<A, E>(
    decided: Result<Decided<A>, crate::CommandError<E>>,
    plan: fn(Decided<A>) -> Planned,
) -> Fallible<Planned>
where
    A: domain::Aggregate,
    E: std::error::Error + Send + Sync + 'static,
{
    match decided {
        Ok(decided) => Ok(plan(decided)),
        Err(crate::CommandError::Rejected(_)) => Ok(Planned::Nothing),
        Err(other) => Err(other.into()),
    }
}

fn store_failure(error: sqlx::Error) -> Firing {
    Firing::Failed(crate::StoreError::from(error).into())
}

/// Why a timer's command did not go through.
enum Firing {
    /// Another command on the saga came first: decide again.
    Conflict,
    Failed(crate::ports::anyhow_like::Error),
}

impl<E: std::error::Error + Send + Sync + 'static> From<crate::CommandError<E>> for Firing {
    fn from(error: crate::CommandError<E>) -> Self {
        match error {
            crate::CommandError::Conflict => Self::Conflict,
            other => Self::Failed(other.into()),
        }
    }
}

/// The actor of every command the workflows issue.
pub const ACTOR: &str = "system:workflows";

/// The delays of the workflows (`…_MS` environment variables).
#[derive(Debug, Clone, Copy)]
pub struct WorkflowSettings {
    /// `STRUGGLE_RECHECK_AFTER_MS`: from a struggle to the decision.
    pub struggle_recheck_after: Duration,
    /// `SAFETY_ACK_TIMEOUT_MS`: an `immediate` alert unacknowledged this long escalates.
    pub safety_ack_timeout: Duration,
    /// `SAFETY_SAME_DAY_ACK_TIMEOUT_MS`: the same for `same_day`.
    pub safety_same_day_ack_timeout: Duration,
    /// `SAFETY_FOLLOW_UP_AFTER_MS`: from a `monitor` concern to its follow-up.
    pub safety_follow_up_after: Duration,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            struggle_recheck_after: Duration::from_millis(300_000),
            safety_ack_timeout: Duration::from_millis(900_000),
            safety_same_day_ack_timeout: Duration::from_millis(28_800_000),
            safety_follow_up_after: Duration::from_millis(86_400_000),
        }
    }
}

/// The facts of a learning session that the workflows need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    pub class_id: Uuid,
    pub group_id: GroupId,
    pub student_id: UserId,
}

/// What the workflows look up about people and places (implemented over the read models).
#[async_trait::async_trait]
pub trait WorkflowDirectory: Send + Sync + 'static {
    /// Waits until the read models below have applied everything up to `position` that
    /// concerns them, so that recipients are those of the moment of the event.
    async fn caught_up_with(&self, position: i64) -> Fallible<()>;
    async fn learning_session(&self, id: Uuid) -> Fallible<Option<SessionFacts>>;
    async fn class_name(&self, class_id: Uuid) -> Fallible<Option<String>>;
    /// The enabled teachers of the class.
    async fn class_teachers(&self, class_id: Uuid) -> Fallible<Vec<UserId>>;
    /// The group and its ancestors: the group first, the root last.
    async fn group_chain(&self, group_id: GroupId) -> Fallible<Vec<GroupId>>;
    /// The enabled users who hold one of `roles` in the group itself (not above it).
    async fn group_handlers(&self, group_id: GroupId, roles: &[GroupRole])
        -> Fallible<Vec<UserId>>;
    /// The enabled system admins.
    async fn system_admins(&self) -> Fallible<Vec<UserId>>;
    async fn user_name(&self, id: UserId) -> Fallible<Option<String>>;
}

/// The text of the message an intervention posts (a template that names the topic).
pub trait InterventionMessage: Send + Sync + 'static {
    fn render(&self, topic: &str) -> Fallible<String>;
}

/// One event of the log, as the process manager reads it.
#[derive(Debug, Clone, Copy)]
pub struct LogEntry<'a> {
    pub event_id: Uuid,
    pub position: i64,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub payload: &'a serde_json::Value,
    pub correlation_id: &'a str,
}

impl LogEntry<'_> {
    fn context(&self) -> CommandContext {
        CommandContext {
            actor: ACTOR.to_owned(),
            correlation_id: self.correlation_id.to_owned(),
            causation_id: Some(self.event_id.to_string()),
        }
    }

    fn stream_id(&self) -> Fallible<Uuid> {
        Ok(Uuid::parse_str(self.aggregate_id)?)
    }
}

/// The aggregate types whose events the process manager reads.
pub const AGGREGATE_TYPES: &[&str] = &[
    LearningSession::TYPE,
    StruggleIntervention::TYPE,
    SafetyEscalation::TYPE,
];

/// The process manager and the timer firing of both workflows.
pub struct Workflows {
    pool: PgPool,
    interventions: CommandRunner<StruggleIntervention>,
    escalations: CommandRunner<SafetyEscalation>,
    learning: Arc<LearningSessions>,
    notifications: Arc<Notifications>,
    directory: Arc<dyn WorkflowDirectory>,
    message: Arc<dyn InterventionMessage>,
    settings: WorkflowSettings,
    listener: Arc<dyn AppendListener>,
    /// Rung when this process schedules a timer, so the timer loop can shorten its sleep.
    timer_scheduled: Arc<timers::TimerBell>,
}

/// How a dependency of [`Workflows`] is given.
pub struct WorkflowParts {
    pub pool: PgPool,
    pub listener: Arc<dyn AppendListener>,
    pub learning: Arc<LearningSessions>,
    pub notifications: Arc<Notifications>,
    pub directory: Arc<dyn WorkflowDirectory>,
    pub message: Arc<dyn InterventionMessage>,
    pub settings: WorkflowSettings,
}

impl Workflows {
    pub fn new(parts: WorkflowParts) -> Self {
        Self {
            interventions: CommandRunner::new(parts.pool.clone(), parts.listener.clone()),
            escalations: CommandRunner::new(parts.pool.clone(), parts.listener.clone()),
            listener: parts.listener,
            pool: parts.pool,
            learning: parts.learning,
            notifications: parts.notifications,
            directory: parts.directory,
            message: parts.message,
            settings: parts.settings,
            timer_scheduled: Arc::default(),
        }
    }

    /// Rung whenever this process schedules a timer.
    pub fn timer_scheduled(&self) -> Arc<timers::TimerBell> {
        self.timer_scheduled.clone()
    }

    /// The same workflows on another pool, for the sagas' commands and the timer table (the
    /// timer loop's own connections, so that firing never queues behind the process
    /// manager's); notifications and learning sessions keep theirs. Woken by the same
    /// [`timer_scheduled`](Self::timer_scheduled).
    pub fn with_pool(&self, pool: PgPool) -> Self {
        Self {
            interventions: CommandRunner::new(pool.clone(), self.listener.clone()),
            escalations: CommandRunner::new(pool.clone(), self.listener.clone()),
            pool,
            learning: self.learning.clone(),
            notifications: self.notifications.clone(),
            directory: self.directory.clone(),
            message: self.message.clone(),
            settings: self.settings,
            listener: self.listener.clone(),
            timer_scheduled: self.timer_scheduled.clone(),
        }
    }

    /// What an event must stay in order with, or `None` for an event the workflows ignore.
    ///
    /// The rules need log order only among the events of one learning session (its
    /// detections, pauses and completion, and the recheck of its interventions, which decides
    /// on what the session recorded before it) and among the events of one safety concern.
    /// So the subscriber may handle the events of different keys concurrently, each key's in
    /// log order.
    pub async fn ordering_key(&self, entry: &LogEntry<'_>) -> Fallible<Option<Uuid>> {
        let event_type = entry.payload["type"].as_str().unwrap_or_default();
        let id = entry.stream_id()?;
        Ok(match entry.aggregate_type {
            t if t == LearningSession::TYPE => matches!(
                event_type,
                "learning.struggle_detected"
                    | "learning.recovery_detected"
                    | "safety.concern_detected"
                    | "session.paused"
                    | "session.resumed"
                    | "session.completed"
            )
            .then_some(id),
            t if t == StruggleIntervention::TYPE => {
                if matches!(
                    event_type,
                    "intervention.recheck_fired" | "intervention.ended"
                ) {
                    Some(runs::session_of(&self.pool, id).await?.unwrap_or(id))
                } else {
                    None
                }
            }
            t if t == SafetyEscalation::TYPE => {
                (event_type == "safety_concern.timer_fired").then_some(id)
            }
            _ => None,
        })
    }

    /// Handles one event of the log. The events of one [`ordering_key`](Self::ordering_key)
    /// must come in log order; handling one again (a redelivered batch, a replay) has no
    /// second effect.
    pub async fn handle(&self, entry: LogEntry<'_>) -> Fallible<()> {
        match entry.aggregate_type {
            t if t == LearningSession::TYPE => self.on_learning_event(entry).await,
            t if t == StruggleIntervention::TYPE => self.on_intervention_event(entry).await,
            t if t == SafetyEscalation::TYPE => self.on_escalation_event(entry).await,
            _ => Ok(()),
        }
    }

    /// Fires due timers together and marks them fired: each saga's command is decided on its
    /// own state ([`LOADS_AT_ONCE`] loads at a time), then every saga's events are appended
    /// and the timers marked in one transaction, so a batch costs one commit instead of one
    /// per timer. A timer that fired before, or that its saga no longer waits for
    /// (acknowledged, ended), appends nothing and is marked. Should any saga have changed
    /// meanwhile (the whole append conflicts), each timer is fired on its own
    /// ([`fire_one`](Self::fire_one)). Returns each timer's outcome; those that failed are not
    /// marked.
    pub async fn fire_all(&self, due: &[timers::DueTimer]) -> Vec<(Uuid, Fallible<()>)> {
        let decided: Vec<Fallible<Planned>> = stream::iter(due.iter().cloned())
            .map(|timer| async move { self.plan_firing(&timer).await })
            .buffered(LOADS_AT_ONCE)
            .collect()
            .await;
        let mut outcomes = Vec::with_capacity(due.len());
        let mut firings = Firings::default();
        for (timer, plan) in due.iter().zip(decided) {
            match plan {
                Ok(plan) => firings.add(timer, plan),
                Err(error) => outcomes.push((timer.id, Err(error))),
            }
        }
        let fired = firings.timers.clone();
        match self.append_firings(firings).await {
            Ok(()) => outcomes.extend(fired.into_iter().map(|id| (id, Ok(())))),
            Err(Firing::Conflict) => {
                for timer in due.iter().filter(|t| fired.contains(&t.id)) {
                    outcomes.push((timer.id, self.fire_one(timer).await));
                }
            }
            Err(Firing::Failed(error)) => {
                let error = format!("{error:#}");
                outcomes.extend(fired.into_iter().map(|id| (id, Err(error.clone().into()))));
            }
        }
        outcomes
    }

    /// Fires one timer and marks it, its command decided again on the new state when it lost
    /// a race with another command on the same saga (a recovery recorded at the same moment),
    /// up to [`FIRE_ATTEMPTS`] times.
    async fn fire_one(&self, timer: &timers::DueTimer) -> Fallible<()> {
        for _ in 0..FIRE_ATTEMPTS {
            let mut firing = Firings::default();
            firing.add(timer, self.plan_firing(timer).await?);
            match self.append_firings(firing).await {
                Ok(()) => return Ok(()),
                Err(Firing::Conflict) => continue,
                Err(Firing::Failed(error)) => return Err(error),
            }
        }
        Err(format!("timer {}: its saga kept changing", timer.id).into())
    }

    /// A timer's command decided on its saga's state.
    async fn plan_firing(&self, timer: &timers::DueTimer) -> Fallible<Planned> {
        use domain::safety_escalation::SafetyEscalationCommand;
        use domain::struggle_intervention::StruggleInterventionCommand;
        let (id, timer_id) = (timer.saga_id, timer.id);
        match timer.saga_type.as_str() {
            t if t == StruggleIntervention::TYPE => planned(
                self.interventions
                    .decide(id, [StruggleInterventionCommand::FireRecheck { timer_id }])
                    .await,
                Planned::Recheck,
            ),
            t if t == SafetyEscalation::TYPE => planned(
                self.escalations
                    .decide(id, [SafetyEscalationCommand::FireTimer { timer_id }])
                    .await,
                Planned::Escalation,
            ),
            other => Err(format!("timer {timer_id} of an unknown saga type {other}").into()),
        }
    }

    /// Appends the firings and marks their timers, in one transaction.
    async fn append_firings(&self, firings: Firings) -> Result<(), Firing> {
        let Firings {
            rechecks,
            escalations,
            timers: fired,
        } = firings;
        if fired.is_empty() {
            return Ok(());
        }
        let (any_recheck, any_escalation) = (!rechecks.is_empty(), !escalations.is_empty());
        let mut tx = self.pool.begin().await.map_err(store_failure)?;
        self.interventions.append_all_in(&mut tx, rechecks).await?;
        self.escalations.append_all_in(&mut tx, escalations).await?;
        timers::mark_fired(&mut *tx, &fired)
            .await
            .map_err(|e| Firing::Failed(e.into()))?;
        tx.commit().await.map_err(store_failure)?;
        if any_recheck {
            self.interventions.appended();
        }
        if any_escalation {
            self.escalations.appended();
        }
        Ok(())
    }

    /// Writes the timer row of a timer its saga has recorded (again: harmless), and wakes the
    /// timer loop of this process.
    async fn ensure_timer_row(
        &self,
        id: Uuid,
        saga_type: &str,
        saga_id: Uuid,
        purpose: &str,
        due_at: chrono::DateTime<chrono::Utc>,
    ) -> Fallible<()> {
        timers::insert(&self.pool, id, saga_type, saga_id, purpose, due_at).await?;
        self.timer_scheduled.ring(due_at);
        Ok(())
    }

    /// The name shown for a student in a notification.
    async fn student_name(&self, id: UserId) -> Fallible<String> {
        Ok(self
            .directory
            .user_name(id)
            .await?
            .unwrap_or_else(|| "A student".to_owned()))
    }
}
