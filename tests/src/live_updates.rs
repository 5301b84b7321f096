//! Live updates as a dashboard sees them on core NATS: a subscription to one topic of the app
//! under test (its own subject prefix), and waiting for the realtime publisher.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;

use crate::app::TestApp;
use crate::waiting::eventually;

/// One update received: its `Rapt-Position` header and its JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub position: i64,
    pub body: Value,
}

/// A subscription to one topic (`class.<id>.dashboard`, …) of the app.
pub struct TopicWatcher {
    pub subject: String,
    pub client: async_nats::Client,
    subscription: async_nats::Subscriber,
}

impl TopicWatcher {
    /// The next update within `timeout`, or `None`.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<Received> {
        let message = tokio::time::timeout(timeout, self.subscription.next())
            .await
            .ok()??;
        let position = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Rapt-Position"))
            .expect("every update has a Rapt-Position header")
            .as_str()
            .parse()
            .expect("Rapt-Position is a number");
        let body: Value = serde_json::from_slice(&message.payload).expect("the update is JSON");
        assert_eq!(body["position"], position, "header and body agree");
        Some(Received { position, body })
    }

    /// The next update (10 s at most, then panics).
    pub async fn next(&mut self) -> Received {
        let subject = self.subject.clone();
        self.next_within(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no update on {subject} within 10 s"))
    }

    /// Updates until one at `position` or above has arrived, skipping repeats (a position at
    /// or below the last one kept), as a client does.
    pub async fn until(&mut self, position: i64, after: i64) -> Vec<Received> {
        let mut seen = Vec::new();
        let mut last = after;
        while last < position {
            let update = self.next().await;
            if update.position > last {
                last = update.position;
                seen.push(update);
            }
        }
        seen
    }
}

impl TestApp {
    /// Subscribes to `topic` on the NATS at `nats_url` (the app's subject prefix in front),
    /// and returns once the server has the subscription.
    pub async fn watch(&self, nats_url: &str, topic: &str) -> TopicWatcher {
        let client = async_nats::connect(nats_url)
            .await
            .expect("connect to NATS");
        let subject = format!("{}.{topic}", self.config.nats_subject_prefix);
        let subscription = client.subscribe(subject.clone()).await.expect("subscribe");
        // A round trip: the server handles a connection's messages in order, so once this
        // answer is back, the subscription is in place.
        let _ = client.request(format!("{subject}.probe"), "".into()).await;
        TopicWatcher {
            subject,
            client,
            subscription,
        }
    }

    /// Waits until the realtime publisher has sent every stored update.
    pub async fn wait_for_realtime(&self) {
        eventually(
            "the realtime publisher to send every stored update",
            Duration::from_secs(30),
            || async {
                let behind: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM realtime_updates u JOIN realtime_cursors c \
                     USING (source) WHERE u.position > c.position)",
                )
                .fetch_one(&self.pool)
                .await
                .expect("realtime cursors");
                (!behind).then_some(())
            },
        )
        .await;
    }
}
