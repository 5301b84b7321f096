//! The realtime publisher: sends the live updates that the projections store in
//! `realtime_updates` to core NATS, on `<NATS_SUBJECT_PREFIX>.<topic>` with the header
//! `Rapt-Position`, in log order per topic, and prunes them after `REALTIME_RETENTION_MS`.
//!
//! - **One process at a time**: the leader holds a PostgreSQL advisory lock on its own
//!   connection (as the workflow timers do); the others try again every
//!   `SUBSCRIBER_TAKEOVER_INTERVAL_MS`, and one takes over when the leader's connection goes.
//! - **A cursor per source** (`realtime_cursors`): each projection commits its updates in
//!   position order, so the rows of one source above its cursor are exactly what is still to
//!   be sent, whatever order the projections' transactions commit in.
//! - **Woken** by `NOTIFY rapt_realtime` (sent by the projections' transactions), and polling
//!   every `SUBSCRIBER_POLL_INTERVAL_MS` besides.
//! - **NATS down**: nothing is sent and no cursor moves; once NATS is back, everything above
//!   the cursors goes out. A batch whose flush did not complete is sent again, so a message
//!   can arrive twice: clients drop an update whose position is not above the last they
//!   applied for that topic.
//! - It does not share the NATS relay's path (`nats-relay`, which batches up to 20 ms for
//!   JetStream acknowledgements): an update is sent as soon as its projection commits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::connection::State;
use async_nats::HeaderMap;
use projections::realtime::{CHANNEL, SOURCES};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection as _, PgConnection};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// The advisory lock of the leader.
const LEASE: &str = "rapt.realtime-publisher";

/// Updates read per source and round.
const BATCH: i64 = 500;

/// How long a round may take to hand its messages to NATS and flush them.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a round looks whether NATS is back.
const NATS_RETRY: Duration = Duration::from_millis(200);

/// Pruning runs at most this often (or every retention period, when that is shorter).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The publisher's settings.
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    /// Its own connections: the leader's lock (and work), and the listener.
    pub database: PgConnectOptions,
    /// `NATS_SUBJECT_PREFIX`.
    pub subject_prefix: String,
    /// `REALTIME_RETENTION_MS`: how long a published update stays available for catch-up.
    pub retention: Duration,
    /// `SUBSCRIBER_POLL_INTERVAL_MS`.
    pub poll_interval: Duration,
    /// `SUBSCRIBER_TAKEOVER_INTERVAL_MS`.
    pub takeover_interval: Duration,
    /// Where the updates published are counted.
    pub metrics: Arc<projections::metrics::Metrics>,
}

/// Runs until `shutdown`: leads when it can, stands by otherwise.
pub async fn run(
    nats: async_nats::Client,
    settings: PublisherSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut standby: Option<PgConnection> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match lead(&nats, &settings, &mut standby, &mut shutdown).await {
            Ok(()) => {}
            Err(error) => {
                standby = None;
                tracing::warn!(error = format!("{error:#}"), "realtime publisher");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.takeover_interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
}

/// Takes the lock if it is free, then publishes until shutdown or an error (which gives the
/// lock up: the connection closes). Without the lock, keeps the connection for the next try.
async fn lead(
    nats: &async_nats::Client,
    settings: &PublisherSettings,
    standby: &mut Option<PgConnection>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut conn = match standby.take() {
        Some(conn) => conn,
        None => PgConnection::connect_with(&projections::log::read_model_writer(
            settings.database.clone(),
        ))
        .await
        .context("realtime publisher connection")?,
    };
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1)::bigint)")
        .bind(LEASE)
        .fetch_one(&mut conn)
        .await?;
    if !held {
        *standby = Some(conn);
        return Ok(());
    }
    tracing::info!("realtime publisher active in this process");
    sqlx::query(
        "INSERT INTO realtime_cursors (source, position) SELECT source, 0 \
         FROM unnest($1::text[]) AS source ON CONFLICT (source) DO NOTHING",
    )
    .bind(SOURCES)
    .execute(&mut conn)
    .await?;
    let wake = Arc::new(Notify::new());
    let _listener = Listening::start(settings.database.clone(), wake.clone());
    let mut publisher = Publisher {
        nats,
        prefix: &settings.subject_prefix,
        conn: &mut conn,
        metrics: &settings.metrics,
    };
    let prune_every = settings.retention.min(PRUNE_EVERY);
    let mut pruned_at: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let round = publisher.round().await?;
        if pruned_at.is_none_or(|at| at.elapsed() >= prune_every) {
            publisher.prune(settings.retention).await?;
            pruned_at = Some(Instant::now());
        }
        let wait = match round {
            Round::Full => continue,
            Round::NatsDown => NATS_RETRY,
            Round::Done => settings.poll_interval,
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
}

/// The outcome of a round.
enum Round {
    /// Everything above the cursors was sent.
    Done,
    /// A source had a full batch: more may be waiting.
    Full,
    /// NATS is not connected (or did not take the messages in time): nothing moved.
    NatsDown,
}

struct Publisher<'a> {
    nats: &'a async_nats::Client,
    prefix: &'a str,
    conn: &'a mut PgConnection,
    metrics: &'a projections::metrics::Metrics,
}

impl Publisher<'_> {
    /// Sends the updates above each source's cursor (up to [`BATCH`] per source), flushes,
    /// then moves the cursors.
    async fn round(&mut self) -> anyhow::Result<Round> {
        if self.nats.connection_state() != State::Connected {
            return Ok(Round::NatsDown);
        }
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT c.source, u.topic, u.position, u.body::text FROM realtime_cursors c \
             CROSS JOIN LATERAL ( \
                 SELECT topic, position, body FROM realtime_updates u \
                 WHERE u.source = c.source AND u.position > c.position \
                 ORDER BY u.position LIMIT $1) u \
             ORDER BY c.source, u.position",
        )
        .bind(BATCH)
        .fetch_all(&mut *self.conn)
        .await
        .context("reading realtime updates")?;
        if rows.is_empty() {
            return Ok(Round::Done);
        }
        // Per source: the last position sent and how many were read.
        let mut last: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let sent = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            for (source, topic, position, body) in rows {
                let mut headers = HeaderMap::new();
                headers.insert("Rapt-Position", position.to_string().as_str());
                self.nats
                    .publish_with_headers(
                        format!("{}.{topic}", self.prefix),
                        headers,
                        body.into_bytes().into(),
                    )
                    .await?;
                let entry = last.entry(source).or_insert((0, 0));
                *entry = (position, entry.1 + 1);
            }
            self.nats.flush().await?;
            anyhow::Ok(())
        })
        .await;
        match sent {
            Ok(Ok(())) => {
                let count: i64 = last.values().map(|(_, n)| n).sum();
                self.metrics.realtime_updates_published(count as u64);
            }
            Ok(Err(error)) => {
                tracing::warn!(error = format!("{error:#}"), "realtime updates not sent");
                return Ok(Round::NatsDown);
            }
            Err(_) => {
                tracing::warn!("realtime updates not flushed in time; sending them again");
                return Ok(Round::NatsDown);
            }
        }
        let (sources, positions): (Vec<&str>, Vec<i64>) = last
            .iter()
            .map(|(source, (position, _))| (source.as_str(), *position))
            .unzip();
        sqlx::query(
            "UPDATE realtime_cursors c SET position = v.position \
             FROM unnest($1::text[], $2::bigint[]) AS v(source, position) \
             WHERE c.source = v.source AND c.position < v.position",
        )
        .bind(&sources)
        .bind(&positions)
        .execute(&mut *self.conn)
        .await
        .context("moving the realtime cursors")?;
        Ok(if last.values().any(|(_, count)| *count >= BATCH) {
            Round::Full
        } else {
            Round::Done
        })
    }

    /// Deletes, per source, the published updates up to the newest one older than
    /// `retention`, and records that position as the source's `pruned_below`.
    async fn prune(&mut self, retention: Duration) -> anyhow::Result<()> {
        let pruned = sqlx::query(
            "WITH bounds AS ( \
                 SELECT c.source, ( \
                     SELECT max(u.position) FROM realtime_updates u \
                     WHERE u.source = c.source AND u.position <= c.position \
                       AND u.recorded_at < now() - make_interval(secs => $1)) AS below \
                 FROM realtime_cursors c), \
             deleted AS ( \
                 DELETE FROM realtime_updates u USING bounds b \
                 WHERE u.source = b.source AND u.position <= b.below) \
             UPDATE realtime_cursors c SET pruned_below = b.below FROM bounds b \
             WHERE c.source = b.source AND b.below > c.pruned_below",
        )
        .bind(retention.as_secs_f64())
        .execute(&mut *self.conn)
        .await
        .context("pruning realtime updates")?
        .rows_affected();
        if pruned > 0 {
            tracing::debug!(sources = pruned, "pruned realtime updates");
        }
        Ok(())
    }
}

/// Listens for `NOTIFY rapt_realtime` in a task of its own (stopped when dropped) and wakes
/// the publisher; also after a reconnect, which may have missed notifications.
struct Listening(tokio::task::JoinHandle<()>);

impl Listening {
    fn start(database: PgConnectOptions, wake: Arc<Notify>) -> Self {
        Self(tokio::spawn(async move {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(database);
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(error) = listener.listen(CHANNEL).await {
                            tracing::debug!(%error, "realtime listener cannot listen");
                        } else {
                            // `None`: the connection was lost (and is made again next time).
                            while let Ok(Some(_)) = listener.try_recv().await {
                                wake.notify_one();
                            }
                        }
                    }
                    Err(error) => tracing::debug!(%error, "realtime listener cannot connect"),
                }
                wake.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}
