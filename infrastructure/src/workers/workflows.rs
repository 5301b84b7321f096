//! The `workflows` subscriber (the process manager of ADR 0010) and the timer loop: the
//! wiring around `application::workflows`, which holds the rules.
//!
//! - [`WorkflowSteps`] is a [`Sink`]: it hands every learning-session and saga event to
//!   [`Workflows::handle`], each learning session's (or concern's) in log order, different
//!   ones concurrently; the checkpoint moves after the batch, and a redelivered batch has no
//!   second effect (deterministic ids).
//! - [`run_timers`] fires timers at their due time while this process holds the timer lease
//!   (an advisory lock on a dedicated connection, like the subscribers' leadership): other
//!   processes try to take it over every `takeover_interval`, so a dead leader's timers still
//!   fire.
//! - [`ReadModelDirectory`] answers the workflows' questions about people and places from the
//!   read models, once those have caught up with the event being handled.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use application::workflows::{
    timers, Fallible, InterventionMessage, LogEntry, SessionFacts, WorkflowDirectory, Workflows,
    AGGREGATE_TYPES,
};
use async_trait::async_trait;
use domain::group::{GroupId, GroupRole};
use domain::learning::{LearningSession, LearningSessionEvent};
use domain::user::UserId;
use domain::Aggregate as _;
use futures::{StreamExt as _, TryStreamExt as _};
use minijinja::Environment;
use projections::directory::DirectoryProjection;
use projections::identity::IdentityProjection;
use projections::{directory, Checkpoints, LoggedEvent, Projection, Sink};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument as _;

pub const NAME: &str = "workflows";

/// The process manager as a subscriber of the log.
pub struct WorkflowSteps {
    pub workflows: Arc<Workflows>,
}

#[async_trait]
impl Sink for WorkflowSteps {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(AGGREGATE_TYPES)
    }

    /// The batch's events by ordering key (a learning session, a safety concern), each key's
    /// in log order, different keys concurrently (`Workflows::ordering_key` says why that
    /// keeps every rule's order).
    async fn deliver(&self, events: &[LoggedEvent]) -> anyhow::Result<()> {
        let mut lanes: Vec<(uuid::Uuid, Vec<LoggedEvent>)> = Vec::new();
        for event in events {
            let key = self
                .workflows
                .ordering_key(&entry(event))
                .await
                .map_err(|e| anyhow::anyhow!(e).context("ordering key"))?;
            let Some(key) = key else { continue };
            match lanes.iter_mut().find(|(k, _)| *k == key) {
                Some((_, lane)) => lane.push(event.clone()),
                None => lanes.push((key, vec![event.clone()])),
            }
        }
        let runs: Vec<_> = lanes
            .into_iter()
            .map(|(_, lane)| {
                let workflows = self.workflows.clone();
                async move {
                    for event in &lane {
                        // A saga step: the process manager's handling of one event, with the
                        // correlation id its commands carry on.
                        let step = tracing::info_span!(
                            "saga_step",
                            event_type = %event.event_type,
                            position = event.position,
                            correlation_id = event.meta("correlation_id").unwrap_or_default(),
                        );
                        workflows
                            .handle(entry(event))
                            .instrument(step)
                            .await
                            .map_err(|e| {
                                anyhow::anyhow!(e).context(format!(
                                    "workflow step for {} at position {}",
                                    event.event_type, event.position
                                ))
                            })?;
                    }
                    Ok::<_, anyhow::Error>(())
                }
            })
            .collect();
        futures::stream::iter(runs)
            .buffer_unordered(LANES)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

/// Learning sessions (or concerns) whose events are handled at once within a batch.
const LANES: usize = 8;

fn entry(event: &LoggedEvent) -> LogEntry<'_> {
    LogEntry {
        event_id: event.event_id,
        position: event.position,
        aggregate_type: &event.aggregate_type,
        aggregate_id: &event.aggregate_id,
        payload: &event.payload,
        correlation_id: event.meta("correlation_id").unwrap_or_default(),
    }
}

/// The lock whose holder fires the timers.
const TIMER_LEASE: &str = "raptscallions:workflow-timers";
/// Timers held by the loop at once (waiting for their moment or firing).
const MAX_SCHEDULED: usize = 1_000;
/// Timers fired together, in one transaction ([`Workflows::fire_all`]).
const BATCH: usize = 64;
/// Batches firing at once.
const BATCHES_AT_ONCE: usize = 2;
/// Connections the firing uses at once: each batch loads its sagas eight at a time. The timer
/// loop's pool has this many and two more (the looks at the table, a batch's transaction).
pub const FIRING_CONCURRENCY: usize = 16;
/// The longest the loop waits between two looks at the table.
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// How the timer loop runs.
#[derive(Debug, Clone)]
pub struct TimerSettings {
    /// The database the lease connection opens.
    pub database: PgConnectOptions,
    /// How often a process that does not hold the lease tries to take it.
    pub takeover_interval: Duration,
    /// The longest sleep between two looks at the table (a timer written by another
    /// process wakes nobody here); at most [`LOOK_EVERY`].
    pub poll_interval: Duration,
    /// Where each fired timer's lateness is observed.
    pub metrics: Arc<projections::metrics::Metrics>,
}

impl TimerSettings {
    fn look_every(&self) -> Duration {
        self.poll_interval.min(LOOK_EVERY)
    }
}

/// Fires due timers while this process holds the lease, until shutdown. `workflows` should
/// run on a pool of its own ([`Workflows::with_pool`], [`FIRING_CONCURRENCY`] + 2
/// connections), so that firing never waits for a connection behind the process manager.
pub async fn run_timers(
    workflows: Arc<Workflows>,
    pool: PgPool,
    settings: TimerSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        match lead_timers(&workflows, &pool, &settings, &mut shutdown).await {
            Ok(()) => {}
            Err(error) => tracing::warn!(error = format!("{error:#}"), "workflow timers"),
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.takeover_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Timers read from the table, waiting for their moment, the earliest first.
#[derive(Default)]
struct Schedule {
    waiting: BTreeMap<(Instant, uuid::Uuid), timers::DueTimer>,
    /// Waiting or firing: left out of the next look.
    held: HashSet<uuid::Uuid>,
    /// Timers whose firing failed, left alone until the instant given.
    resting: HashMap<uuid::Uuid, Instant>,
}

impl Schedule {
    fn hold(&mut self, at: Instant, timer: timers::DueTimer) {
        self.held.insert(timer.id);
        self.waiting.insert((at, timer.id), timer);
    }

    /// Up to [`BATCH`] timers due by `now`, the earliest first.
    fn take_due(&mut self, now: Instant) -> Vec<timers::DueTimer> {
        let mut due = Vec::new();
        while due.len() < BATCH {
            match self.waiting.first_entry() {
                Some(entry) if entry.key().0 <= now => due.push(entry.remove()),
                _ => break,
            }
        }
        due
    }

    fn next_due(&self) -> Option<Instant> {
        self.waiting.first_key_value().map(|((at, _), _)| *at)
    }

    /// What a look leaves out.
    fn known(&mut self, now: Instant) -> Vec<uuid::Uuid> {
        self.resting.retain(|_, until| *until > now);
        self.held
            .iter()
            .chain(self.resting.keys())
            .copied()
            .collect()
    }
}

/// Takes the lease if it is free, then fires timers as they come due until shutdown or an
/// error (which gives the lease up: the connection closes).
///
/// Each look at the table takes the timers due within two look intervals from now (the
/// database clock says when each is due) into a schedule; the loop sleeps until the earliest
/// is due, then fires every timer due by then in batches of up to [`BATCH`], one transaction
/// each, [`BATCHES_AT_ONCE`] at a time. So a timer fires when it is due, not when a look
/// happens to find it, and 10,000 timers due at once cost a few hundred commits, not 10,000.
/// A timer whose firing failed rests for a poll interval before it is tried again.
/// A timer this process writes rings the loop, which looks at once only if the timer is due
/// before its regular looks would find it (so a flood of saga starts does not become a flood
/// of looks); that compares the database's due time with this machine's clock, which is
/// fine as long as the two agree within a look interval.
async fn lead_timers(
    workflows: &Arc<Workflows>,
    pool: &PgPool,
    settings: &TimerSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut lease = PgConnection::connect_with(&settings.database)
        .await
        .context("timer lease connection")?;
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1)::bigint)")
        .bind(TIMER_LEASE)
        .fetch_one(&mut lease)
        .await?;
    if !held {
        return Ok(());
    }
    tracing::debug!("holding the workflow timer lease");
    let bell = workflows.timer_scheduled();
    let look_every = settings.look_every();
    // Dropped on return: the batches stop with the lease.
    let mut batches: JoinSet<Vec<(uuid::Uuid, application::workflows::Fallible<()>)>> =
        JoinSet::new();
    let mut schedule = Schedule::default();
    let mut look_now = true;
    let mut last_look_full = false;
    let mut next_look = Instant::now();
    let mut lease_checked = Instant::now();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        if look_now || Instant::now() >= next_look {
            look_now = false;
            let room = MAX_SCHEDULED.saturating_sub(schedule.held.len());
            if room > 0 {
                let known = schedule.known(Instant::now());
                let coming = timers::coming_due(pool, 2 * look_every, &known, room as i64).await?;
                let read = Instant::now();
                // Full: more may be due; look again as soon as half of these are done.
                last_look_full = coming.timers.len() == room;
                for timer in coming.timers {
                    let wait = coming
                        .now
                        .and_then(|now| (timer.due_at - now).to_std().ok())
                        .unwrap_or_default();
                    schedule.hold(read + wait, timer);
                }
            }
            next_look = Instant::now() + look_every;
            // The lease is checked (the connection is alive) once per look interval.
            if lease_checked.elapsed() >= look_every {
                sqlx::query("SELECT 1").execute(&mut lease).await?;
                lease_checked = Instant::now();
            }
        }
        while batches.len() < BATCHES_AT_ONCE {
            let due = schedule.take_due(Instant::now());
            if due.is_empty() {
                break;
            }
            let workflows = workflows.clone();
            let metrics = settings.metrics.clone();
            batches.spawn(async move {
                let fired = workflows
                    .fire_all(&due)
                    .instrument(tracing::info_span!("timers_fired", timers = due.len()))
                    .await;
                // Lateness from the due time (the database's clock) to this process's.
                let now = chrono::Utc::now();
                for timer in &due {
                    if fired
                        .iter()
                        .any(|(id, outcome)| *id == timer.id && outcome.is_ok())
                    {
                        metrics.timer_fired((now - timer.due_at).to_std().unwrap_or_default());
                    }
                }
                fired
            });
        }
        let wake_at = match schedule.next_due() {
            Some(due) if batches.len() < BATCHES_AT_ONCE => due.min(next_look),
            _ => next_look,
        };
        tokio::select! {
            Some(done) = batches.join_next(), if !batches.is_empty() => {
                for (id, outcome) in done.context("a timer batch")? {
                    schedule.held.remove(&id);
                    if let Err(error) = outcome {
                        tracing::warn!(timer = %id, error = format!("{error:#}"), "firing a workflow timer failed; will retry");
                        schedule.resting.insert(id, Instant::now() + settings.poll_interval);
                    }
                }
                if last_look_full && schedule.held.len() <= MAX_SCHEDULED / 2 {
                    look_now = true;
                }
            }
            _ = tokio::time::sleep_until(wake_at.into()) => {}
            due_at = bell.rung() => {
                // Due before the next regular look (or within one interval after it, should
                // that look be late): look now.
                let until_due = (due_at - chrono::Utc::now()).to_std().unwrap_or_default();
                if Instant::now() + until_due < next_look + look_every {
                    look_now = true;
                }
            }
            _ = shutdown.changed() => {}
        }
    }
}

/// The workflows' questions answered from the read models.
pub struct ReadModelDirectory {
    pub pool: PgPool,
    pub checkpoints: Checkpoints,
}

#[async_trait]
impl WorkflowDirectory for ReadModelDirectory {
    async fn caught_up_with(&self, position: i64) -> Fallible<()> {
        let sources: [&dyn Projection; 2] = [&DirectoryProjection, &IdentityProjection];
        for source in sources {
            self.checkpoints
                .wait_for_handled(
                    source.name(),
                    source.aggregate_types(),
                    Some(position),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|e| format!("waiting for {}: {e}", source.name()))?;
        }
        Ok(())
    }

    async fn learning_session(&self, id: uuid::Uuid) -> Fallible<Option<SessionFacts>> {
        let payload =
            projections::log::first_payload(&self.pool, LearningSession::TYPE, &id.to_string())
                .await?;
        Ok(match payload.map(serde_json::from_value).transpose()? {
            Some(LearningSessionEvent::Started {
                class_id,
                group_id,
                student_id,
                ..
            }) => Some(SessionFacts {
                class_id,
                group_id,
                student_id,
            }),
            _ => None,
        })
    }

    async fn class_name(&self, class_id: uuid::Uuid) -> Fallible<Option<String>> {
        Ok(directory::get_class(&self.pool, class_id)
            .await?
            .map(|class| class.name))
    }

    async fn class_teachers(&self, class_id: uuid::Uuid) -> Fallible<Vec<UserId>> {
        Ok(directory::class_teachers(&self.pool, class_id).await?)
    }

    async fn group_chain(&self, group_id: GroupId) -> Fallible<Vec<GroupId>> {
        Ok(directory::group_chain(&self.pool, group_id).await?)
    }

    async fn group_handlers(
        &self,
        group_id: GroupId,
        roles: &[GroupRole],
    ) -> Fallible<Vec<UserId>> {
        Ok(directory::group_members_with_roles(&self.pool, group_id, roles).await?)
    }

    async fn system_admins(&self) -> Fallible<Vec<UserId>> {
        Ok(directory::system_admins(&self.pool).await?)
    }

    async fn user_name(&self, id: UserId) -> Fallible<Option<String>> {
        Ok(directory::contact(&self.pool, id)
            .await?
            .map(|(_, name)| name))
    }
}

/// The intervention message, from `infrastructure/templates/workflows/`.
pub struct InterventionTemplate {
    env: Environment<'static>,
}

impl InterventionTemplate {
    pub fn load() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.add_template(
            "intervention_message.txt",
            include_str!("../../templates/workflows/intervention_message.txt"),
        )?;
        Ok(Self { env })
    }
}

impl InterventionMessage for InterventionTemplate {
    fn render(&self, topic: &str) -> Fallible<String> {
        let text = self
            .env
            .get_template("intervention_message.txt")?
            .render(minijinja::context! { topic })?;
        Ok(text.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_intervention_message_names_the_topic() {
        let message = InterventionTemplate::load()
            .unwrap()
            .render("long division")
            .unwrap();
        assert!(message.contains("Let me try explaining long division in a different way"));
    }
}
