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

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use application::ports::AppendListener;
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{Connection as _, PgConnection, PgPool};
use tokio::sync::{watch, Notify};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "rapt_log";

/// The shortest time between two notifications this process sends.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

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
}

impl Default for LogSignal {
    fn default() -> Self {
        Self {
            counter: Arc::new(watch::channel(0).0),
            typed: Arc::default(),
            instance: uuid::Uuid::new_v4().simple().to_string().into(),
            notify_pending: Arc::default(),
            notify_wanted: Arc::new(Notify::new()),
        }
    }
}

impl LogSignal {
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
                loop {
                    this.notify_wanted.notified().await;
                    if let Some(payload) = this.take_notification() {
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
                            if listener.listen(CHANNEL).await.is_ok() {
                                while let Ok(notification) = listener.recv().await {
                                    this.heard(notification.payload());
                                }
                            }
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

/// Sends one notification on `conn`, connecting first if needed.
async fn notify(
    conn: &mut Option<PgConnection>,
    connect: &PgConnectOptions,
    payload: &str,
) -> sqlx::Result<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(PgConnection::connect_with(connect).await?),
    };
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
}
