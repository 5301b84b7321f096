//! Steps 3 + 4, projection and relay lag under a paced load: `Groups::create` commands
//! issued at a fixed rate through the application layer; for each, the time from "append
//! returned" until the `groups` checkpoint has passed its position, and until its event
//! arrives on NATS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use domain::group::GroupName;
use futures::StreamExt as _;
use tests::TestApp;

use super::cpu::{cpu_sample, cpu_share, CpuShare};
use super::post_groups::bench_context;
use super::settings::{Settings, PROJECTION};
use super::step::stopped;

/// What a lag run measured; the latencies sorted.
pub(super) struct LagRun {
    pub(super) issued: usize,
    pub(super) failed: usize,
    pub(super) issue_span: Duration,
    pub(super) command_latency: Vec<Duration>,
    pub(super) projection_lag: Vec<Duration>,
    pub(super) projection_timeouts: usize,
    pub(super) relay_lag: Vec<Duration>,
    pub(super) relay_before_return: usize,
    pub(super) relay_missing: usize,
    pub(super) cpu: CpuShare,
}

/// One command of a lag run.
struct CommandSample {
    position: i64,
    returned: Instant,
    command_latency: Duration,
    projection_lag: Option<Duration>,
}

/// The log position of a relayed event: its `Rapt-Position` header, else its payload's
/// `position`.
fn relayed_position(message: &async_nats::Message) -> Option<i64> {
    if let Some(value) = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Rapt-Position"))
    {
        if let Ok(position) = value.as_str().parse() {
            return Some(position);
        }
    }
    serde_json::from_slice::<serde_json::Value>(&message.payload)
        .ok()?
        .get("position")?
        .as_i64()
}

/// Issues `Groups::create` at `BENCH_RATE` for `BENCH_LAG_SECS` and measures the lags.
pub(super) async fn lag_run(app: &TestApp, settings: &Settings) -> anyhow::Result<LagRun> {
    let services = app.application().services().clone();

    // Core NATS subscription on the relay's subjects: it sees each message as JetStream
    // stores it.
    let nats = async_nats::connect(&app.config.nats_url)
        .await
        .context("connecting to NATS")?;
    let mut subscription = nats
        .subscribe(format!("{}.events.>", app.config.nats_subject_prefix))
        .await?;
    nats.flush().await?;
    let received: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let receiver = {
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let now = Instant::now();
                if let Some(position) = relayed_position(&message) {
                    received
                        .lock()
                        .expect("lock")
                        .entry(position)
                        .or_insert(now);
                }
            }
        })
    };

    let total = (f64::from(settings.rate) * settings.lag_secs.as_secs_f64()).round() as usize;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(settings.rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut handles = Vec::with_capacity(total);
    let cpu_before = cpu_sample().await;
    let first = Instant::now();
    for i in 0..total {
        ticker.tick().await;
        if stopped() {
            break;
        }
        let services = services.clone();
        handles.push(tokio::spawn(async move {
            let context = bench_context();
            let name = GroupName::parse(&format!("lag {i}")).expect("valid name");
            let issued = Instant::now();
            let (_, appended) = services.groups.create(&context, name, None).await.ok()?;
            let returned = Instant::now();
            let position = appended.position?;
            let projection_lag = services
                .checkpoints
                .wait_for(PROJECTION, position, Duration::from_secs(10))
                .await
                .ok()
                .map(|()| returned.elapsed());
            Some(CommandSample {
                position,
                returned,
                command_latency: returned - issued,
                projection_lag,
            })
        }));
    }
    let issue_span = first.elapsed();
    let issued = handles.len();
    let mut samples = Vec::with_capacity(total);
    let mut failed = 0;
    for handle in handles {
        match handle.await {
            Ok(Some(sample)) => samples.push(sample),
            _ => failed += 1,
        }
    }
    // Let the relay deliver the tail (bounded).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = {
            let received = received.lock().expect("lock");
            samples.iter().all(|s| received.contains_key(&s.position))
        };
        if all || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = cpu_share(&cpu_before, &cpu_sample().await);
    receiver.abort();
    let _ = receiver.await;

    let received = received.lock().expect("lock").clone();
    let mut command_latency: Vec<Duration> = samples.iter().map(|s| s.command_latency).collect();
    let mut projection_lag: Vec<Duration> =
        samples.iter().filter_map(|s| s.projection_lag).collect();
    let projection_timeouts = samples.len() - projection_lag.len();
    let mut relay_lag = Vec::with_capacity(samples.len());
    let mut relay_before_return = 0;
    let mut relay_missing = 0;
    for sample in &samples {
        match received.get(&sample.position) {
            Some(&at) => {
                if at < sample.returned {
                    relay_before_return += 1;
                }
                relay_lag.push(at.saturating_duration_since(sample.returned));
            }
            None => relay_missing += 1,
        }
    }
    command_latency.sort_unstable();
    projection_lag.sort_unstable();
    relay_lag.sort_unstable();
    Ok(LagRun {
        issued,
        failed,
        issue_span,
        command_latency,
        projection_lag,
        projection_timeouts,
        relay_lag,
        relay_before_return,
        relay_missing,
        cpu,
    })
}
