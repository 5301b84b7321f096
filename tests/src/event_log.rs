//! The event log as the tests read it: its length, its head, and counts of events by type.

use crate::app::TestApp;

impl TestApp {
    /// The number of events in the log.
    pub async fn log_length(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }

    /// The newest position in the log (0 when empty).
    pub async fn log_head(&self) -> i64 {
        projections::log::head(&self.pool).await.expect("head")
    }

    /// The number of events of one aggregate type.
    pub async fn count_events(&self, aggregate_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = $1")
            .bind(aggregate_type)
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }

    /// The number of events of one event type.
    pub async fn count_event_type(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }
}
