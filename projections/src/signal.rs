//! Waking subscribers when the log grows.
//!
//! In this process, an append bumps a watch counter at once: the general one, which wakes
//! subscribers that handle every aggregate type, and those of the subscribers that handle the
//! appended type (the others are not woken; they pass such events on their next batch or
//! poll). Other processes hear about it
//! through PostgreSQL `NOTIFY rapt_log`, sent outside the append transaction (a NOTIFY inside
//! it would serialize commits) and coalesced: one notification per burst of appends. Its
//! payload is `<sender instance>:<type>,<type>…`, so a process ignores its own notifications
//! (PostgreSQL delivers them to every listener, the sender's included: without this, each
//! append would wake every local subscriber a second time) and another process wakes only
//! the subscribers of those types. Every subscriber also polls on a timer, so a lost
//! notification only delays it.
//!
//! A process that is alone on its database sends nothing: each listener connection holds a
//! shared advisory lock (its presence), and the notifier looks at most once a second whether
//! anybody else holds it. Measured with logins at 8 clients on 2 cores, the NOTIFY per append
//! (a statement and a transaction of its own) cost 3–4 % of the throughput.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Told after every successful append (with the stream's aggregate type), so that the log
/// subscribers that handle it wake up at once instead of waiting for their next poll. The
/// write side (`application`'s command runner) calls it; [`LogSignal`] is the implementation.
pub trait AppendListener: Send + Sync + 'static {
    fn appended(&self, aggregate_type: &'static str);

    /// A command on an aggregate of this type was decided: `ok`, `rejected` (by the domain),
    /// `conflict` (another writer won) or `error`. For the metrics.
    fn command_decided(&self, _aggregate_type: &'static str, _outcome: &'static str) {}

    /// An append statement wrote `events` events of this type in `elapsed`. For the metrics.
    fn append_written(&self, _aggregate_type: &'static str, _events: usize, _elapsed: Duration) {}
}

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "rapt_log";

/// The shortest time between two notifications this process sends.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

/// The advisory lock that each process's listener connection holds (shared) while it
/// listens: how a process sees whether any other process would hear its notifications.
const PRESENCE: (i32, i32) = (0x5241_5050, 1);

/// How long the notifier trusts its last look at who else listens.
const PRESENCE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A subscriber's wake-up channel with the aggregate types it handles.
type TypedWake = (&'static [&'static str], watch::Sender<u64>);

/// Wakes subscribers when events are appended.
#[derive(Clone)]
pub struct LogSignal {
    counter: Arc<watch::Sender<u64>>,
    typed: Arc<RwLock<Vec<TypedWake>>>,
    /// Names this process in its notifications.
    instance: Arc<str>,
    /// Aggregate types appended here since the last notification was sent.
    notify_pending: Arc<Mutex<BTreeSet<&'static str>>>,
    notify_wanted: Arc<Notify>,
    /// The backend pid of this process's listener connection (0 while not listening).
    listener_pid: Arc<AtomicI32>,
    /// Where commands and appends are counted, if anywhere.
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Default for LogSignal {
    fn default() -> Self {
        Self {
            counter: Arc::new(watch::channel(0).0),
            typed: Arc::default(),
            instance: uuid::Uuid::new_v4().simple().to_string().into(),
            notify_pending: Arc::default(),
            notify_wanted: Arc::new(Notify::new()),
            listener_pid: Arc::default(),
            metrics: None,
        }
    }
}

impl LogSignal {
    /// This signal, also counting the commands and appends it is told of in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// A receiver that changes whenever something was appended (here or elsewhere).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.counter.subscribe()
    }

    /// A receiver that changes when events of one of `types` are appended, here or (as its
    /// notification names them) in another process; every append when `types` is `None`.
    pub fn subscribe_to(&self, types: Option<&'static [&'static str]>) -> watch::Receiver<u64> {
        let Some(types) = types else {
            return self.subscribe();
        };
        let (sender, receiver) = watch::channel(0);
        let mut typed = self.typed.write().expect("wake list");
        typed.retain(|(_, s)| s.receiver_count() > 0);
        typed.push((types, sender));
        receiver
    }

    fn bump(sender: &watch::Sender<u64>) {
        sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Wake every local subscriber.
    pub fn wake_local(&self) {
        Self::bump(&self.counter);
        for (_, sender) in self.typed.read().expect("wake list").iter() {
            Self::bump(sender);
        }
    }

    /// Wake the local subscribers that handle `aggregate_type` (and those that handle all).
    fn wake_type(&self, aggregate_type: &str) {
        self.wake_types(&[aggregate_type]);
    }

    /// Wake the local subscribers that handle any of `appended` (and those that handle all).
    fn wake_types(&self, appended: &[&str]) {
        Self::bump(&self.counter);
        for (types, sender) in self.typed.read().expect("wake list").iter() {
            if appended.iter().any(|t| types.contains(t)) {
                Self::bump(sender);
            }
        }
    }

    /// The payload of the next notification, or `None` when nothing was appended since the
    /// last one.
    fn take_notification(&self) -> Option<String> {
        let types = std::mem::take(&mut *self.notify_pending.lock().expect("pending types"));
        if types.is_empty() {
            return None;
        }
        let types: Vec<&str> = types.into_iter().collect();
        Some(format!("{}:{}", self.instance, types.join(",")))
    }

    /// Reacts to a notification: nothing for our own, the named types for another process's,
    /// everybody for one we cannot read (an older process, or a manual `NOTIFY rapt_log`).
    fn heard(&self, payload: &str) {
        match payload.split_once(':') {
            Some((instance, _)) if instance == &*self.instance => {}
            Some((_, types)) if !types.is_empty() => {
                self.wake_types(&types.split(',').collect::<Vec<_>>())
            }
            _ => self.wake_local(),
        }
    }

    /// Runs until `shutdown` resolves: forwards local appends to other processes with
    /// `NOTIFY`, and wakes local subscribers on notifications from other processes.
    pub async fn run(self, pool: PgPool, mut shutdown: watch::Receiver<bool>) {
        let notifier = {
            let this = self.clone();
            // Its own connection, committing without waiting for the WAL flush: a NOTIFY is
            // a transaction with an xid, and on a synchronous connection each one would wait
            // for an fsync of its own, competing with the appends' flushes. Listeners hear it
            // at commit either way; a crash loses nothing a poll does not find.
            let connect = pool
                .connect_options()
                .as_ref()
                .clone()
                .options([("synchronous_commit", "off")]);
            async move {
                let mut conn: Option<PgConnection> = None;
                let mut others: Option<(bool, Instant)> = None;
                loop {
                    this.notify_wanted.notified().await;
                    if let Some(payload) = this.take_notification() {
                        // Alone on this database, a notification would only wake our own
                        // listener, which ignores it.
                        if !this.others_listen(&mut conn, &connect, &mut others).await {
                            continue;
                        }
                        if let Err(error) = notify(&mut conn, &connect, &payload).await {
                            conn = None;
                            tracing::debug!(%error, "could not send the log notification");
                        }
                        // Each NOTIFY is a transaction of its own (an xid, a commit record):
                        // under load, one per NOTIFY_INTERVAL carries every type appended
                        // meanwhile. Local subscribers were woken at once; only other
                        // processes wait this long at most.
                        tokio::time::sleep(NOTIFY_INTERVAL).await;
                    }
                }
            }
        };
        let listener = {
            let this = self.clone();
            async move {
                loop {
                    match PgListener::connect_with(&pool).await {
                        Ok(mut listener) => {
                            match announce(&mut listener).await {
                                Ok(pid) => this.listener_pid.store(pid, Ordering::Relaxed),
                                Err(error) => tracing::debug!(%error, "log listener cannot listen"),
                            }
                            // `None`: the connection was lost, and the presence lock with it;
                            // the next connection takes both again.
                            while let Ok(Some(notification)) = listener.try_recv().await {
                                this.heard(notification.payload());
                            }
                            this.listener_pid.store(0, Ordering::Relaxed);
                        }
                        Err(error) => tracing::debug!(%error, "log listener cannot connect"),
                    }
                    // A reconnect may have missed notifications: wake everybody once.
                    this.wake_local();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        tokio::select! {
            _ = notifier => {}
            _ = listener => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
}

impl LogSignal {
    /// Whether a process other than this one listens on the log channel (holds the presence
    /// lock), as last looked up at most [`PRESENCE_CHECK_INTERVAL`] ago. A process that
    /// starts listening is heard from within that interval; until then its subscribers
    /// find new events by polling. When the look-up fails, assume somebody listens.
    async fn others_listen(
        &self,
        conn: &mut Option<PgConnection>,
        connect: &PgConnectOptions,
        last: &mut Option<(bool, Instant)>,
    ) -> bool {
        if let Some((others, at)) = *last {
            if at.elapsed() < PRESENCE_CHECK_INTERVAL {
                return others;
            }
        }
        let own = self.listener_pid.load(Ordering::Relaxed);
        let others = match connected(conn, connect).await {
            Ok(c) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2 \
                 AND pid <> $3)",
            )
            .bind(PRESENCE.0)
            .bind(PRESENCE.1)
            .bind(own)
            .fetch_one(c)
            .await
            .unwrap_or(true),
            Err(_) => true,
        };
        *last = Some((others, Instant::now()));
        others
    }
}

/// Listens on the log channel and takes the presence lock; returns the connection's pid.
async fn announce(listener: &mut PgListener) -> sqlx::Result<i32> {
    listener.listen(CHANNEL).await?;
    sqlx::query("SELECT pg_advisory_lock_shared($1, $2)")
        .bind(PRESENCE.0)
        .bind(PRESENCE.1)
        .execute(&mut *listener)
        .await?;
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *listener)
        .await
}

/// `conn`, connecting first if needed.
async fn connected<'c>(
    conn: &'c mut Option<PgConnection>,
    connect: &PgConnectOptions,
) -> sqlx::Result<&'c mut PgConnection> {
    Ok(match conn {
        Some(conn) => conn,
        None => conn.insert(PgConnection::connect_with(connect).await?),
    })
}

/// Sends one notification on `conn`, connecting first if needed.
async fn notify(
    conn: &mut Option<PgConnection>,
    connect: &PgConnectOptions,
    payload: &str,
) -> sqlx::Result<()> {
    let conn = connected(conn, connect).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(conn)
        .await
        .map(drop)
}

impl AppendListener for LogSignal {
    fn appended(&self, aggregate_type: &'static str) {
        self.wake_type(aggregate_type);
        self.notify_pending
            .lock()
            .expect("pending types")
            .insert(aggregate_type);
        self.notify_wanted.notify_one();
    }

    fn command_decided(&self, aggregate_type: &'static str, outcome: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.command(aggregate_type, outcome);
        }
    }

    fn append_written(&self, aggregate_type: &'static str, events: usize, elapsed: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.append(aggregate_type, events, elapsed);
        }
    }
}
