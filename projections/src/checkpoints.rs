//! Read-your-writes: waiting (bounded) until a subscriber has passed a position.

use std::time::Duration;

use sqlx::PgPool;
use tokio::time::Instant;

use crate::runner::Subscribers;

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("subscriber {name} did not reach position {position} within {timeout:?}")]
    Timeout {
        name: String,
        position: i64,
        timeout: Duration,
    },
    #[error("could not read the checkpoint")]
    Store(#[from] sqlx::Error),
}

/// Where the subscribers are, here or in another process.
#[derive(Clone)]
pub struct Checkpoints {
    pool: PgPool,
    local: Subscribers,
}

impl Checkpoints {
    pub fn new(pool: PgPool, local: Subscribers) -> Self {
        Self { pool, local }
    }

    /// The checkpoint of `name` as stored.
    pub async fn position(&self, name: &str) -> sqlx::Result<i64> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM subscriber_checkpoints WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(position.unwrap_or(0))
    }

    /// Returns once subscriber `name`, which handles `types` (`None`: all), has applied every
    /// event of those types that is committed now, up to `up_to` if given. A subscriber is
    /// woken only by its own types, so its checkpoint may stay behind a position with nothing
    /// left for it to apply: this waits for the newest event it actually has to apply.
    pub async fn wait_for_handled(
        &self,
        name: &str,
        types: Option<&[&str]>,
        up_to: Option<i64>,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        let checkpoint = self.position(name).await?;
        if up_to.is_some_and(|up_to| checkpoint >= up_to) {
            return Ok(());
        }
        let pending: Option<i64> = sqlx::query_scalar(
            "SELECT max(position) FROM events WHERE position > $1 \
             AND ($2::bigint IS NULL OR position <= $2) \
             AND ($3::text[] IS NULL OR aggregate_type = ANY($3))",
        )
        .bind(checkpoint)
        .bind(up_to)
        .bind(types)
        .fetch_one(&self.pool)
        .await?;
        match pending {
            Some(pending) => self.wait_for(name, pending, timeout).await,
            None => Ok(()),
        }
    }

    /// Returns once subscriber `name` has applied the newest event of one stream; `false`
    /// (at once) when there is no such stream.
    pub async fn wait_for_stream(
        &self,
        name: &str,
        aggregate_type: &str,
        aggregate_id: &str,
        timeout: Duration,
    ) -> Result<bool, WaitError> {
        match crate::log::stream_head(&self.pool, aggregate_type, aggregate_id).await? {
            Some(position) => self.wait_for(name, position, timeout).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Returns once subscriber `name` has handled every event up to `position`, or fails after
    /// `timeout`. When the subscriber runs in this process its progress is followed in
    /// memory; otherwise its checkpoint row is polled.
    pub async fn wait_for(
        &self,
        name: &str,
        position: i64,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        let deadline = Instant::now() + timeout;
        let mut local = self.local.watch(name);
        let mut delay = Duration::from_millis(1);
        loop {
            let locally_active = match &mut local {
                Some(rx) => {
                    let status = rx.borrow_and_update();
                    if status.active && status.position >= position {
                        return Ok(());
                    }
                    if status.active {
                        // It may be letting events gather: this wait is why it should not.
                        self.local.hurry(name);
                    }
                    status.active
                }
                None => false,
            };
            if !locally_active && self.position(name).await? >= position {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::Timeout {
                    name: name.to_owned(),
                    position,
                    timeout,
                });
            }
            let sleep = tokio::time::sleep(delay.min(deadline - now));
            match (&mut local, locally_active) {
                (Some(rx), true) => {
                    tokio::select! {
                        _ = rx.changed() => {}
                        _ = sleep => {}
                    }
                }
                _ => {
                    sleep.await;
                    delay = (delay * 2).min(Duration::from_millis(20));
                }
            }
        }
    }
}
