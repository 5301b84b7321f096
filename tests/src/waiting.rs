//! Waiting instead of sleeping: until the subscribers have caught up with the log, until a
//! probe answers; and holding a projection back, for the tests of what is answered before a
//! read model has a write.

use std::time::Duration;

use sqlx::PgPool;

use crate::app::TestApp;

impl TestApp {
    /// Holds projection `name` back until the returned transaction ends (commit or drop):
    /// its next batch waits for the checkpoint row this locks. For tests of what is answered
    /// before a read model has a write.
    pub async fn hold_projection(&self, name: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut hold = self.pool.begin().await.expect("begin");
        sqlx::query("SELECT 1 FROM subscriber_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *hold)
            .await
            .expect("lock the checkpoint row");
        hold
    }

    /// Holds projection `name` back, and only it, until the returned transaction ends: as
    /// [`hold_projection`](Self::hold_projection), but from a connection tagged as a
    /// read-model writer, so the log's safe bound does not wait for it and every other
    /// subscriber (sinks included) goes on reading the log. For tests of what happens while
    /// one read model lags the log.
    pub async fn hold_projection_alone(
        &self,
        name: &str,
    ) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let options = (*self.pool.connect_options())
            .clone()
            .application_name(projections::log::READ_MODEL_WRITER);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("a read-model writer connection");
        let mut hold = pool.begin().await.expect("begin");
        sqlx::query("SELECT 1 FROM subscriber_checkpoints WHERE name = $1 FOR UPDATE")
            .bind(name)
            .execute(&mut *hold)
            .await
            .expect("lock the checkpoint row");
        hold
    }

    /// Waits until every subscriber's checkpoint has reached the current end of the log.
    pub async fn wait_for_subscribers(&self) {
        let head = self.log_head().await;
        wait_for_checkpoints(
            &self.pool,
            head,
            &[
                "groups",
                "identity",
                "learning",
                "assessments",
                "notifications",
                "dashboards",
                "interventions",
                "safety_concerns",
                "assignments",
                "themes",
                "usage",
                "nats-relay",
            ],
        )
        .await;
    }

    /// The names of the subscribers this app runs.
    pub fn subscriber_names(&self) -> Vec<String> {
        self.application()
            .services()
            .subscribers
            .snapshot()
            .into_iter()
            .map(|status| status.name)
            .collect()
    }

    /// Waits until every subscriber this app runs (whatever its name; a configured-off one,
    /// such as `realtime-revocations` without NATS keys, keeps its checkpoint row but does not
    /// run) has caught up with the log and the log has stopped growing (reactions append
    /// events of their own).
    pub async fn wait_for_all_subscribers(&self) {
        let names = self.subscriber_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        loop {
            let head = self.log_head().await;
            wait_for_checkpoints(&self.pool, head, &names).await;
            if self.log_head().await == head {
                return;
            }
        }
    }
}

/// Waits (up to 30 s, then panics) until each named checkpoint is at or past `position`.
pub async fn wait_for_checkpoints(pool: &PgPool, position: i64, names: &[&str]) {
    for _ in 0..3000 {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, position FROM subscriber_checkpoints")
                .fetch_all(pool)
                .await
                .expect("checkpoints");
        let done = names
            .iter()
            .all(|name| rows.iter().any(|(n, p)| n == name && *p >= position));
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("subscribers {names:?} did not reach position {position}");
}

/// Polls `probe` every 50 ms until it returns `Some`, for up to `timeout`; then panics with
/// `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
