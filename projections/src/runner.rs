//! Running a named subscriber: exactly one process at a time, from its checkpoint, forever.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::log::{self, LoggedEvent};
use crate::metrics::Metrics;
use crate::signal::LogSignal;
use tracing::Instrument as _;

/// A read model: applies events inside the transaction that also moves its checkpoint.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The subscriber name (checkpoint row, lock, `replay <name>`).
    fn name(&self) -> &'static str;
    /// The aggregate types whose events it applies (`None`: all). Others are skipped
    /// without being read.
    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        None
    }
    /// At most one batch per this interval while events keep coming, unless somebody in this
    /// process waits for the projection (see [`Subscriber::batch_interval`]). Zero: a batch
    /// at every wake-up.
    fn batch_interval(&self) -> Duration {
        Duration::ZERO
    }
    /// The tables of its read model: emptied by [`reset`](Self::reset), compared by
    /// `replay --compare`, rebuilt as of a moment by `replay --as-of`.
    fn tables(&self) -> &'static [&'static str];
    /// Empties the read model's tables before a rebuild.
    async fn reset(&self, conn: &mut PgConnection) -> anyhow::Result<()> {
        sqlx::query(&format!("TRUNCATE {}", self.tables().join(", ")))
            .execute(conn)
            .await?;
        Ok(())
    }
    /// Applies one event. Runs inside the batch transaction.
    async fn apply(&self, conn: &mut PgConnection, event: &LoggedEvent) -> anyhow::Result<()>;
    /// Applies a batch's events in log order, inside the batch transaction: by default one
    /// after the other with [`apply`](Self::apply). A projection whose per-event work is
    /// mostly per class (or per any key) overrides it to do that work once per batch.
    async fn apply_batch(
        &self,
        conn: &mut PgConnection,
        events: &[LoggedEvent],
    ) -> anyhow::Result<()> {
        for event in events {
            self.apply(conn, event)
                .await
                .with_context(|| applying(event))?;
        }
        Ok(())
    }
}

/// The context of an error in applying `event`.
pub fn applying(event: &LoggedEvent) -> String {
    format!(
        "applying {} at position {} ({} {} #{})",
        event.event_type, event.position, event.aggregate_type, event.aggregate_id, event.sequence
    )
}

/// A side effect (publishing, sending): the checkpoint moves only after `deliver` succeeded,
/// so a failure means the same events are delivered again (the sink must deduplicate).
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// The aggregate types whose events it handles (`None`: all).
    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        None
    }
    async fn deliver(&self, events: &[LoggedEvent]) -> anyhow::Result<()>;
    /// Whether it needs the events' payload and metadata as JSON (the audit sealer reads
    /// their stored text itself, and is handed the events without them).
    fn reads_payloads(&self) -> bool {
        true
    }
    /// As [`Projection::batch_interval`].
    fn batch_interval(&self) -> Duration {
        Duration::ZERO
    }
    /// Whether the receiver de-duplicates deliveries, so that the checkpoint after a
    /// delivery may be written up to [`IDLE_CHECKPOINT_INTERVAL`] later, in one write for
    /// every batch delivered meanwhile, instead of after each batch. A crash then delivers
    /// that stretch again (never less: the checkpoint only ever trails the deliveries).
    fn deduplicated(&self) -> bool {
        false
    }
}

/// Any consumer of the log.
#[derive(Clone)]
pub enum Subscriber {
    Projection(Arc<dyn Projection>),
    Sink(Arc<dyn Sink>),
}

impl Subscriber {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Projection(p) => p.name(),
            Self::Sink(s) => s.name(),
        }
    }

    pub fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        match self {
            Self::Projection(p) => p.aggregate_types(),
            Self::Sink(s) => s.aggregate_types(),
        }
    }

    /// Under load, a batch per event costs a read, a checkpoint write and (for a projection)
    /// a transaction each time; a subscriber that nobody usually waits for may instead let
    /// the events of up to this interval gather into one batch. The first event after a
    /// quiet stretch is handled at once; a waiter in this process (read-your-writes) cuts the
    /// gathering short ([`Subscribers::hurry`]); one in another process sees the checkpoint
    /// at most this much later.
    pub fn batch_interval(&self) -> Duration {
        match self {
            Self::Projection(p) => p.batch_interval(),
            Self::Sink(s) => s.batch_interval(),
        }
    }
}

/// What this process knows of one subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriberStatus {
    pub name: String,
    /// Whether this process currently runs it (holds its lock).
    pub active: bool,
    /// Its checkpoint as last seen by this process.
    pub position: i64,
    /// Runs in this process that failed since it last handled a batch: more than zero means
    /// it keeps restarting (an event it cannot handle, or the database gone; the cause is
    /// in the log, at `error`).
    pub failures: u32,
}

/// Tuning of the runners.
#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    /// Events per batch (one transaction for a projection).
    pub batch_size: i64,
    /// How often an idle subscriber looks at the log even without a wake-up.
    pub poll_interval: Duration,
    /// How often a standby process tries to take over.
    pub takeover_interval: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_secs(1),
            takeover_interval: Duration::from_secs(1),
        }
    }
}

/// One subscriber of this process: its status, and the nudge of those waiting for it.
#[derive(Clone)]
struct Entry {
    status: watch::Sender<SubscriberStatus>,
    hurry: Arc<Notify>,
    /// Where its batches are timed, if anywhere.
    metrics: Option<Arc<Metrics>>,
}

/// The subscribers of this process and their status.
#[derive(Clone, Default)]
pub struct Subscribers {
    statuses: Arc<RwLock<BTreeMap<String, Entry>>>,
    metrics: Option<Arc<Metrics>>,
}

impl Subscribers {
    /// Subscribers whose batches are timed in `metrics`.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Self {
        Self {
            statuses: Arc::default(),
            metrics: Some(metrics),
        }
    }

    fn register(&self, name: &str) -> Entry {
        let mut statuses = self.statuses.write().expect("status lock");
        statuses
            .entry(name.to_owned())
            .or_insert_with(|| Entry {
                status: watch::channel(SubscriberStatus {
                    name: name.to_owned(),
                    active: false,
                    position: 0,
                    failures: 0,
                })
                .0,
                hurry: Arc::new(Notify::new()),
                metrics: self.metrics.clone(),
            })
            .clone()
    }

    /// Follows one subscriber's status, if it runs in this process.
    pub fn watch(&self, name: &str) -> Option<watch::Receiver<SubscriberStatus>> {
        let statuses = self.statuses.read().expect("status lock");
        statuses.get(name).map(|entry| entry.status.subscribe())
    }

    /// Somebody waits for subscriber `name`: it stops gathering events and reads now.
    pub fn hurry(&self, name: &str) {
        let statuses = self.statuses.read().expect("status lock");
        if let Some(entry) = statuses.get(name) {
            entry.hurry.notify_one();
        }
    }

    /// The status of every subscriber of this process.
    pub fn snapshot(&self) -> Vec<SubscriberStatus> {
        let statuses = self.statuses.read().expect("status lock");
        statuses
            .values()
            .map(|e| e.status.borrow().clone())
            .collect()
    }

    /// Starts a runner for `subscriber` that stops when `shutdown` becomes true.
    pub fn spawn(
        &self,
        subscriber: Subscriber,
        connect: PgConnectOptions,
        signal: LogSignal,
        settings: RunnerSettings,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let entry = self.register(subscriber.name());
        // A subscriber's own writes (read-model rows with their checkpoint, a sink's
        // checkpoint) commit without waiting for the WAL flush: everything they hold is
        // derived from the log, which is written durably by the commands. Should PostgreSQL
        // itself crash, at most the last fraction of a second of such commits is lost, rows
        // and checkpoint together (one transaction, WAL order), and the subscriber handles
        // those events again; sinks deduplicate (deterministic ids, `Nats-Msg-Id`).
        // Commands that subscribers issue go through the pool and stay synchronous.
        // Its connection never appends events: the log's safe bound need not wait for it.
        let connect = log::read_model_writer(connect).options([
            ("synchronous_commit", "off"),
            ("plan_cache_mode", "force_generic_plan"),
        ]);
        tokio::spawn(run(subscriber, connect, signal, settings, entry, shutdown))
    }
}

/// The advisory-lock key of a subscriber: namespace 'RAPT' and the hash of its name.
pub(crate) const LOCK_NAMESPACE: i32 = 0x5241_5054;

pub(crate) async fn try_lock(conn: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(LOCK_NAMESPACE)
        .bind(name)
        .fetch_one(conn)
        .await
}

/// Waits for `duration` or until shutdown; true when shutting down.
async fn pause(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = shutdown.wait_for(|stop| *stop) => true,
    };
    stopped || *shutdown.borrow()
}

async fn run(
    subscriber: Subscriber,
    connect: PgConnectOptions,
    signal: LogSignal,
    settings: RunnerSettings,
    entry: Entry,
    mut shutdown: watch::Receiver<bool>,
) {
    let Entry {
        status,
        hurry,
        metrics,
    } = entry;
    let name = subscriber.name();
    let mut standby_conn: Option<PgConnection> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let mut conn = match standby_conn.take() {
            Some(conn) => conn,
            None => match PgConnection::connect_with(&connect).await {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(subscriber = name, %error, "cannot connect; retrying");
                    if pause(settings.takeover_interval, &mut shutdown).await {
                        break;
                    }
                    continue;
                }
            },
        };
        match try_lock(&mut conn, name).await {
            Ok(true) => {}
            Ok(false) => {
                // Another process runs it. If this one failed before, it stays "failing"
                // only until the subscriber moves past where it failed here.
                if status.borrow().failures > 0 {
                    if let Ok(stored) = stored_checkpoint(&mut conn, name).await {
                        status.send_if_modified(|s| {
                            let moved = stored > s.position;
                            if moved {
                                s.failures = 0;
                                s.position = stored;
                            }
                            moved
                        });
                    }
                }
                standby_conn = Some(conn);
                if pause(settings.takeover_interval, &mut shutdown).await {
                    break;
                }
                continue;
            }
            Err(error) => {
                tracing::warn!(subscriber = name, %error, "cannot take the subscriber lock");
                if pause(settings.takeover_interval, &mut shutdown).await {
                    break;
                }
                continue;
            }
        }
        tracing::info!(subscriber = name, "active in this process");
        status.send_modify(|s| s.active = true);
        let outcome = run_active(
            &subscriber,
            &mut conn,
            &signal,
            settings,
            (&status, &hurry, metrics.as_deref()),
            &mut shutdown,
        )
        .await;
        status.send_modify(|s| s.active = false);
        // Closing the connection releases the lock for another process.
        let _ = conn.close().await;
        match outcome {
            Ok(()) => break,
            Err(error) => {
                status.send_modify(|s| s.failures = s.failures.saturating_add(1));
                tracing::error!(
                    subscriber = name,
                    error = format!("{error:#}"),
                    "subscriber failed; restarting"
                );
                if pause(settings.takeover_interval, &mut shutdown).await {
                    break;
                }
            }
        }
    }
    tracing::info!(subscriber = name, "stopped");
}

/// How long a checkpoint that only passed events of other types (or, for a de-duplicated
/// sink, delivered events) may stay unwritten. Such an advance changes nothing but where a
/// restart begins reading (and what a waiter in another process sees), so it is written at
/// most this often instead of after every wake-up.
pub const IDLE_CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// Where an active subscriber is: `position` in memory (everything up to it handled or of no
/// interest), `stored` as last written to its checkpoint row.
pub(crate) struct Cursor {
    pub position: i64,
    stored: i64,
    stored_at: Instant,
}

impl Cursor {
    pub(crate) async fn load(conn: &mut PgConnection, name: &str) -> sqlx::Result<Self> {
        ensure_checkpoint(&mut *conn, name).await?;
        let stored = stored_checkpoint(conn, name).await?;
        Ok(Self::at(stored))
    }

    fn at(position: i64) -> Self {
        Self {
            position,
            stored: position,
            stored_at: Instant::now(),
        }
    }

    /// Writes the in-memory position if it is ahead of the row (now, or only when the last
    /// write is older than [`IDLE_CHECKPOINT_INTERVAL`]). A row changed by somebody else (a
    /// replay reset it) wins: the cursor moves back to it.
    pub(crate) async fn flush(
        &mut self,
        conn: &mut PgConnection,
        name: &str,
        now: bool,
    ) -> sqlx::Result<()> {
        if self.position == self.stored
            || (!now && self.stored_at.elapsed() < IDLE_CHECKPOINT_INTERVAL)
        {
            return Ok(());
        }
        *self = Self::at(advance(conn, name, self.stored, self.position).await?);
        Ok(())
    }

    /// Adopts the stored checkpoint, read with a slice, if somebody else (a replay) changed
    /// it; true if it did.
    fn adopt(&mut self, stored: Option<i64>) -> bool {
        match stored {
            Some(stored) if stored != self.stored => {
                *self = Self::at(stored);
                true
            }
            _ => false,
        }
    }
}

/// Processes batches while this process holds the lock; returns Ok on shutdown.
async fn run_active(
    subscriber: &Subscriber,
    conn: &mut PgConnection,
    signal: &LogSignal,
    settings: RunnerSettings,
    (status, hurry, metrics): (&watch::Sender<SubscriberStatus>, &Notify, Option<&Metrics>),
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let name = subscriber.name();
    let mut cursor = Cursor::load(&mut *conn, name).await?;
    let mut wake = signal.subscribe_to(subscriber.aggregate_types());
    let mut behind_delay = Duration::from_millis(1);
    let batch_interval = subscriber.batch_interval();
    let mut batch_started;
    loop {
        let stopping = *shutdown.borrow();
        if stopping {
            return stop(conn, name, &mut cursor).await;
        }
        wake.borrow_and_update();
        batch_started = Instant::now();
        let batch = match subscriber {
            Subscriber::Projection(p) => {
                projection_batch(p.as_ref(), conn, settings.batch_size, &mut cursor)
                    .await
                    .with_context(|| format!("projection {name}"))?
            }
            Subscriber::Sink(s) => {
                match sink_batch(s.as_ref(), conn, settings.batch_size, &mut cursor, shutdown)
                    .await?
                {
                    Some(batch) => batch,
                    None => return stop(conn, name, &mut cursor).await,
                }
            }
        };
        cursor.flush(&mut *conn, name, false).await?;
        if let Some(metrics) = metrics.filter(|_| batch.count > 0) {
            metrics.batch(name, batch_started.elapsed());
        }
        // A batch handled: whatever failed before (the database gone, say) is behind it.
        status.send_modify(|s| {
            s.failures = 0;
            s.position = cursor.position;
        });
        if batch.full {
            behind_delay = Duration::from_millis(1);
            continue;
        }
        // Committed events above the safe bound wait for an older transaction to finish:
        // look again soon (or as soon as something is appended) rather than at the next poll.
        let wait = if batch.head > cursor.position {
            let wait = behind_delay;
            behind_delay = (behind_delay * 2).min(Duration::from_millis(50));
            wait
        } else if cursor.position != cursor.stored {
            behind_delay = Duration::from_millis(1);
            IDLE_CHECKPOINT_INTERVAL
        } else {
            behind_delay = Duration::from_millis(1);
            settings.poll_interval
        };
        // Every slice also reads the stored checkpoint, so a replay that reset it is noticed
        // at the next wake-up or poll.
        // Somebody waiting for this subscriber cuts the wait short too: behind a safe bound
        // held back by other transactions (other aggregates' appends, which do not wake it),
        // the look-again delay grows to 50 ms, and a write waiting for this read model would
        // wait that long after the bound has passed its event.
        let (woken, stopping) = tokio::select! {
            _ = wake.changed() => (true, false),
            _ = tokio::time::sleep(wait) => (false, false),
            _ = hurry.notified() => (false, false),
            _ = shutdown.wait_for(|stop| *stop) => (false, true),
        };
        // Events keep coming: let them gather until the interval since the last batch is
        // over, unless somebody waits for this subscriber.
        let gather = batch_interval.saturating_sub(batch_started.elapsed());
        let stopping = stopping
            || (woken
                && !gather.is_zero()
                && tokio::select! {
                    _ = tokio::time::sleep(gather) => false,
                    _ = hurry.notified() => false,
                    _ = shutdown.wait_for(|stop| *stop) => true,
                });
        if stopping {
            return stop(conn, name, &mut cursor).await;
        }
    }
}

/// On shutdown: writes what the checkpoint has not caught up with yet, so that the next
/// process starts where this one stopped (it would start from the row anyway; this only
/// spares it re-reading).
async fn stop(conn: &mut PgConnection, name: &str, cursor: &mut Cursor) -> anyhow::Result<()> {
    if let Err(error) = cursor.flush(conn, name, true).await {
        tracing::debug!(subscriber = name, %error, "could not write the checkpoint on shutdown");
    }
    Ok(())
}

/// The outcome of one batch.
pub(crate) struct Batch {
    /// How many events it handled.
    pub count: i64,
    /// Whether it stopped at the batch size (more may follow at once).
    pub full: bool,
    /// The newest committed position in the log when it was read.
    pub head: i64,
}

pub(crate) async fn ensure_checkpoint(conn: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO subscriber_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(conn)
        .await
        .map(drop)
}

async fn stored_checkpoint(conn: &mut PgConnection, name: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT position FROM subscriber_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_one(conn)
        .await
}

/// Moves the checkpoint row from `from` to `to` (locking it until the end of the current
/// transaction); false if somebody (a replay) changed it meanwhile.
async fn compare_and_set(
    conn: &mut PgConnection,
    name: &str,
    from: i64,
    to: i64,
) -> sqlx::Result<bool> {
    let moved = sqlx::query(
        "UPDATE subscriber_checkpoints SET position = $3, updated_at = now() \
         WHERE name = $1 AND position = $2",
    )
    .bind(name)
    .bind(from)
    .bind(to)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Moves the checkpoint from `from` to `to` unless somebody (a replay) changed it meanwhile;
/// returns where it is.
async fn advance(conn: &mut PgConnection, name: &str, from: i64, to: i64) -> sqlx::Result<i64> {
    if to == from || compare_and_set(&mut *conn, name, from, to).await? {
        Ok(to)
    } else {
        stored_checkpoint(conn, name).await
    }
}

/// One projection batch from `cursor`: the events it wants are applied and the checkpoint
/// moved in one transaction; a stretch of the log without such events only moves the cursor
/// (written later by [`Cursor::flush`]).
pub(crate) async fn projection_batch(
    projection: &dyn Projection,
    conn: &mut PgConnection,
    batch_size: i64,
    cursor: &mut Cursor,
) -> anyhow::Result<Batch> {
    let name = projection.name();
    loop {
        let slice = log::read_slice_for(
            &mut *conn,
            Some(name),
            cursor.position,
            batch_size,
            projection.aggregate_types(),
            true,
        )
        .await?;
        if cursor.adopt(slice.stored) {
            // Reset by a replay: start again from where it is now.
            continue;
        }
        let full = slice.covered < slice.head && slice.events.len() as i64 >= batch_size;
        if slice.events.is_empty() {
            cursor.position = slice.covered;
            return Ok(Batch {
                count: 0,
                full,
                head: slice.head,
            });
        }
        let mut tx = conn.begin().await?;
        // Moves the checkpoint first, by compare-and-set: this locks the row for the rest of
        // the batch (a replay's reset waits for it, and the batch waits for a running reset),
        // and finds none if a replay reset it since we last wrote it.
        if !compare_and_set(&mut tx, name, cursor.stored, slice.covered).await? {
            // Reset by a replay: start again from where it is now.
            tx.rollback().await?;
            *cursor = Cursor::at(stored_checkpoint(&mut *conn, name).await?);
            continue;
        }
        let span = batch_span(name, &slice.events);
        projection
            .apply_batch(&mut tx, &slice.events)
            .instrument(span.clone())
            .await?;
        tx.commit().instrument(span.clone()).await?;
        span.in_scope(|| tracing::debug!("batch applied"));
        *cursor = Cursor::at(slice.covered);
        return Ok(Batch {
            count: slice.events.len() as i64,
            full,
            head: slice.head,
        });
    }
}

/// One sink batch: deliver (retrying until it works), then move the checkpoint if nobody
/// reset it meanwhile. `None` when shutting down.
async fn sink_batch(
    sink: &dyn Sink,
    conn: &mut PgConnection,
    batch_size: i64,
    cursor: &mut Cursor,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<Batch>> {
    let name = sink.name();
    let slice = loop {
        let slice = log::read_slice_for(
            &mut *conn,
            Some(name),
            cursor.position,
            batch_size,
            sink.aggregate_types(),
            sink.reads_payloads(),
        )
        .await?;
        // Reset by a replay: read again from where it is now.
        if !cursor.adopt(slice.stored) {
            break slice;
        }
    };
    let full = slice.covered < slice.head && slice.events.len() as i64 >= batch_size;
    if !slice.events.is_empty() {
        let span = batch_span(name, &slice.events);
        let mut delay = Duration::from_millis(100);
        while let Err(error) = sink.deliver(&slice.events).instrument(span.clone()).await {
            tracing::warn!(subscriber = name, error = format!("{error:#}"), retry_in = ?delay, "delivery failed");
            if pause(delay, shutdown).await {
                return Ok(None);
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        span.in_scope(|| tracing::debug!("batch delivered"));
    }
    cursor.position = slice.covered;
    if !slice.events.is_empty() && !sink.deduplicated() {
        cursor.flush(&mut *conn, name, true).await?;
    }
    Ok(Some(Batch {
        count: slice.events.len() as i64,
        full,
        head: slice.head,
    }))
}

/// How many correlation ids a batch's span names at most.
const BATCH_SPAN_IDS: usize = 64;

/// The span of a subscriber's batch: the subscriber, its events, and the distinct correlation
/// ids they carry (the requests and workflow runs that caused them), so that a log or a trace
/// filtered by one id shows every batch that handled its events.
fn batch_span(name: &str, events: &[LoggedEvent]) -> tracing::Span {
    let mut ids: Vec<&str> = events
        .iter()
        .filter_map(|e| e.meta("correlation_id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let more = ids.len().saturating_sub(BATCH_SPAN_IDS);
    ids.truncate(BATCH_SPAN_IDS);
    let mut correlation_ids = ids.join(",");
    if more > 0 {
        correlation_ids.push_str(&format!(",(+{more} more)"));
    }
    tracing::info_span!(
        "subscriber_batch",
        subscriber = name,
        events = events.len(),
        correlation_ids = %correlation_ids
    )
}

pub(crate) use try_lock as try_subscriber_lock;
