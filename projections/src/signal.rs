//! Waking subscribers when the log grows.
//!
//! In this process, an append bumps a watch counter at once: the general one, which wakes
//! subscribers that handle every aggregate type, and those of the subscribers that handle the
//! appended type (the others are not woken; they pass such events on their next batch or
//! poll). Other processes hear about it
//! through PostgreSQL `NOTIFY rapt_log`, sent outside the append transaction (a NOTIFY inside
//! it would serialize commits) and coalesced: one notification per burst of appends. Every
//! subscriber also polls on a timer, so a lost notification only delays it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use application::ports::AppendListener;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "rapt_log";

/// A subscriber's wake-up channel with the aggregate types it handles.
type TypedWake = (&'static [&'static str], watch::Sender<u64>);

/// Wakes subscribers when events are appended.
#[derive(Clone)]
pub struct LogSignal {
    counter: Arc<watch::Sender<u64>>,
    typed: Arc<RwLock<Vec<TypedWake>>>,
    notify_pending: Arc<AtomicBool>,
    notify_wanted: Arc<Notify>,
}

impl Default for LogSignal {
    fn default() -> Self {
        Self {
            counter: Arc::new(watch::channel(0).0),
            typed: Arc::default(),
            notify_pending: Arc::new(AtomicBool::new(false)),
            notify_wanted: Arc::new(Notify::new()),
        }
    }
}

impl LogSignal {
    /// A receiver that changes whenever something was appended (here or elsewhere).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.counter.subscribe()
    }

    /// A receiver that changes when events of one of `types` are appended here, or when
    /// anything is appended elsewhere (other processes do not say which types); every
    /// append when `types` is `None`.
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
        Self::bump(&self.counter);
        for (types, sender) in self.typed.read().expect("wake list").iter() {
            if types.contains(&aggregate_type) {
                Self::bump(sender);
            }
        }
    }

    /// Runs until `shutdown` resolves: forwards local appends to other processes with
    /// `NOTIFY`, and wakes local subscribers on notifications from other processes.
    pub async fn run(self, pool: PgPool, mut shutdown: watch::Receiver<bool>) {
        let notifier = {
            let this = self.clone();
            let pool = pool.clone();
            async move {
                loop {
                    this.notify_wanted.notified().await;
                    if this.notify_pending.swap(false, Ordering::AcqRel) {
                        if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
                            .bind(CHANNEL)
                            .execute(&pool)
                            .await
                        {
                            tracing::debug!(%error, "could not send the log notification");
                        }
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
                                while listener.recv().await.is_ok() {
                                    this.wake_local();
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

impl AppendListener for LogSignal {
    fn appended(&self, aggregate_type: &'static str) {
        self.wake_type(aggregate_type);
        self.notify_pending.store(true, Ordering::Release);
        self.notify_wanted.notify_one();
    }
}
