//! The service's Prometheus metrics (`GET /metrics`): one [`Metrics`] per running
//! application, each with a registry of its own (tests run several applications in one
//! process; a global registry would mix them).
//!
//! Two kinds of figures:
//! - **Counted as things happen**: HTTP requests and their latency (the API's middleware),
//!   commands by outcome and the appends' latency (the command runner, through
//!   [`crate::signal::AppendListener`]), events appended, subscriber batches and their
//!   duration (the runner), emails sent, failed and dead-lettered (the email sink), timers'
//!   lateness when they fire (the timer loop), realtime credentials issued and live updates
//!   published. These are this process's since it started, as Prometheus counters are.
//! - **Read when scraped** ([`Metrics::refresh`]): the log's head, each subscriber's
//!   checkpoint, lag behind the head (events and seconds) and whether this process leads it,
//!   the sagas running by type, the timers waiting and those due but not fired, and the
//!   database pool's use. The lag is the database's, so every instance reports the same
//!   figures for a subscriber whichever process runs it.

use std::time::Duration;

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use sqlx::PgPool;

use crate::runner::Subscribers;

/// Latency buckets, in seconds: from half a millisecond to ten seconds.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Lateness buckets of timers, in seconds: up to a minute.
const LATENESS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How many events behind a subscriber is counted exactly; beyond, this figure is reported.
/// A scrape counts index entries, and a subscriber whose checkpoint stays far behind (one that
/// no process runs, say) made every scrape count the whole log since it; its lag in seconds
/// stays exact, and ten thousand events behind is an alert anyway.
pub const LAG_COUNT_LIMIT: i64 = 10_000;

/// The metric families of one application.
pub struct Metrics {
    /// `METRICS_ENABLED=false`: nothing is recorded and `/metrics` is a 404.
    enabled: bool,
    registry: Registry,
    /// By route template (`/groups/:id`; `unmatched` for no route), method and status.
    http_requests: IntCounterVec,
    /// By route template and method.
    http_seconds: HistogramVec,
    /// By aggregate type and outcome (`ok`, `rejected`, `conflict`, `error`).
    commands: IntCounterVec,
    /// The append statement's latency, by aggregate type.
    append_seconds: HistogramVec,
    /// By aggregate type.
    events_appended: IntCounterVec,
    /// Batches a subscriber handled in this process, by subscriber.
    subscriber_batch_seconds: HistogramVec,
    /// By outcome: `sent`, `failed` (an attempt that will be retried), `dead_lettered`.
    emails: IntCounterVec,
    /// From due time to fired, per timer fired by this process.
    timer_lateness_seconds: Histogram,
    realtime_credentials_issued: IntCounter,
    realtime_updates_published: IntCounter,
    log_head: IntGauge,
    subscriber_position: IntGaugeVec,
    subscriber_lag_events: IntGaugeVec,
    subscriber_lag_seconds: prometheus::GaugeVec,
    subscriber_failures: IntGaugeVec,
    subscriber_leader: IntGaugeVec,
    sagas_running: IntGaugeVec,
    timers_waiting: IntGauge,
    timers_due: IntGauge,
    pool_connections: IntGaugeVec,
    pool_max_connections: IntGauge,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("rapt")
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> HistogramOpts {
    HistogramOpts::new(name, help)
        .namespace("rapt")
        .buckets(buckets.to_vec())
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics that record nothing (`METRICS_ENABLED=false`).
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// Whether anything is recorded (and served).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn new() -> Self {
        let registry = Registry::new();
        macro_rules! register {
            ($metric:expr) => {{
                let metric = $metric.expect("a valid metric definition");
                registry
                    .register(Box::new(metric.clone()))
                    .expect("each metric is registered once");
                metric
            }};
        }
        let metrics = Self {
            enabled: true,
            http_requests: register!(IntCounterVec::new(
                opts("http_requests_total", "HTTP requests answered"),
                &["route", "method", "status"],
            )),
            http_seconds: register!(HistogramVec::new(
                histogram(
                    "http_request_duration_seconds",
                    "Time to answer an HTTP request (headers)",
                    SECONDS,
                ),
                &["route", "method"],
            )),
            commands: register!(IntCounterVec::new(
                opts("commands_total", "Commands decided, by outcome"),
                &["aggregate_type", "outcome"],
            )),
            append_seconds: register!(HistogramVec::new(
                histogram(
                    "append_duration_seconds",
                    "Time of the append statement",
                    SECONDS
                ),
                &["aggregate_type"],
            )),
            events_appended: register!(IntCounterVec::new(
                opts("events_appended_total", "Events appended to the log"),
                &["aggregate_type"],
            )),
            subscriber_batch_seconds: register!(HistogramVec::new(
                histogram(
                    "subscriber_batch_duration_seconds",
                    "Time of a subscriber's batch in this process",
                    SECONDS,
                ),
                &["subscriber"],
            )),
            emails: register!(IntCounterVec::new(
                opts("emails_total", "Notification emails, by outcome"),
                &["outcome"],
            )),
            timer_lateness_seconds: register!(Histogram::with_opts(histogram(
                "timer_lateness_seconds",
                "From a workflow timer's due time to its firing",
                LATENESS,
            ))),
            realtime_credentials_issued: register!(IntCounter::with_opts(opts(
                "realtime_credentials_issued_total",
                "Live-dashboard credentials issued",
            ))),
            realtime_updates_published: register!(IntCounter::with_opts(opts(
                "realtime_updates_published_total",
                "Live updates published to NATS",
            ))),
            log_head: register!(IntGauge::with_opts(opts(
                "log_head_position",
                "The newest position of the log readable by subscribers",
            ))),
            subscriber_position: register!(IntGaugeVec::new(
                opts("subscriber_position", "A subscriber's checkpoint"),
                &["subscriber"],
            )),
            subscriber_lag_events: register!(IntGaugeVec::new(
                opts(
                    "subscriber_lag_events",
                    "Events between a subscriber's checkpoint and the log's head",
                ),
                &["subscriber"],
            )),
            subscriber_lag_seconds: register!(prometheus::GaugeVec::new(
                opts(
                    "subscriber_lag_seconds",
                    "Age of the oldest event a subscriber has not passed (0 when caught up)",
                ),
                &["subscriber"],
            )),
            subscriber_failures: register!(IntGaugeVec::new(
                opts(
                    "subscriber_failures",
                    "Runs of a subscriber in this process that failed since its last batch",
                ),
                &["subscriber"],
            )),
            subscriber_leader: register!(IntGaugeVec::new(
                opts(
                    "subscriber_leader",
                    "1 when this process runs the subscriber (holds its lock)",
                ),
                &["subscriber"],
            )),
            sagas_running: register!(IntGaugeVec::new(
                opts("sagas_running", "Workflow instances not ended, by type"),
                &["saga"],
            )),
            timers_waiting: register!(IntGauge::with_opts(opts(
                "timers_waiting",
                "Workflow timers not fired yet",
            ))),
            timers_due: register!(IntGauge::with_opts(opts(
                "timers_due",
                "Workflow timers due and not fired yet (late)",
            ))),
            pool_connections: register!(IntGaugeVec::new(
                opts("db_pool_connections", "The database pool's connections"),
                &["state"],
            )),
            pool_max_connections: register!(IntGauge::with_opts(opts(
                "db_pool_max_connections",
                "The database pool's size limit",
            ))),
            registry,
        };
        // Every outcome shows from the start (a series that appears only at its first
        // increment hides its first one from `rate()`).
        for outcome in ["sent", "failed", "dead_lettered"] {
            metrics.emails.with_label_values(&[outcome]);
        }
        metrics
    }

    /// Counts an HTTP request answered.
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        self.http_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.http_seconds
            .with_label_values(&[route, method])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a command's outcome.
    pub fn command(&self, aggregate_type: &str, outcome: &str) {
        if !self.enabled {
            return;
        }
        self.commands
            .with_label_values(&[aggregate_type, outcome])
            .inc();
    }

    /// Counts an append statement of `events` events.
    pub fn append(&self, aggregate_type: &str, events: usize, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        self.events_appended
            .with_label_values(&[aggregate_type])
            .inc_by(events as u64);
        self.append_seconds
            .with_label_values(&[aggregate_type])
            .observe(elapsed.as_secs_f64());
    }

    /// Times a subscriber's batch that handled events.
    pub fn batch(&self, subscriber: &str, elapsed: Duration) {
        if self.enabled {
            self.subscriber_batch_seconds
                .with_label_values(&[subscriber])
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Counts an email's outcome: `sent`, `failed` (to be retried), `dead_lettered`.
    pub fn email(&self, outcome: &str) {
        if self.enabled {
            self.emails.with_label_values(&[outcome]).inc();
        }
    }

    /// A workflow timer fired this late after its due time.
    pub fn timer_fired(&self, lateness: Duration) {
        if self.enabled {
            self.timer_lateness_seconds.observe(lateness.as_secs_f64());
        }
    }

    pub fn realtime_credential_issued(&self) {
        if self.enabled {
            self.realtime_credentials_issued.inc();
        }
    }

    pub fn realtime_updates_published(&self, count: u64) {
        if self.enabled {
            self.realtime_updates_published.inc_by(count);
        }
    }

    /// Reads what is read when scraped: the log's head and each subscriber's checkpoint and
    /// lag (from the database), this process's leadership and failures (from `subscribers`),
    /// the sagas and timers, and `pool`'s use.
    pub async fn refresh(&self, pool: &PgPool, subscribers: &Subscribers) -> sqlx::Result<()> {
        let mut conn = pool.acquire().await?;
        // Leadership comes from this process's own runners: no look at the cluster's locks.
        let lags = subscriber_lags(&mut conn, false).await?;
        self.log_head.set(lags.first().map_or(0, |l| l.head));
        for lag in &lags {
            let name = [lag.name.as_str()];
            self.subscriber_position
                .with_label_values(&name)
                .set(lag.position);
            self.subscriber_lag_events
                .with_label_values(&name)
                .set(lag.lag_events);
            self.subscriber_lag_seconds
                .with_label_values(&name)
                .set(lag.lag_seconds);
        }
        for status in subscribers.snapshot() {
            let name = [status.name.as_str()];
            self.subscriber_leader
                .with_label_values(&name)
                .set(i64::from(status.active));
            self.subscriber_failures
                .with_label_values(&name)
                .set(i64::from(status.failures));
        }
        let (interventions, concerns, waiting, due): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM interventions WHERE ended_at IS NULL), \
                    (SELECT count(*) FROM safety_concerns WHERE status <> 'resolved'), \
                    (SELECT count(*) FROM workflow_timers WHERE fired_at IS NULL), \
                    (SELECT count(*) FROM workflow_timers \
                     WHERE fired_at IS NULL AND due_at <= clock_timestamp())",
        )
        .fetch_one(&mut *conn)
        .await?;
        drop(conn);
        self.sagas_running
            .with_label_values(&["struggle_intervention"])
            .set(interventions);
        self.sagas_running
            .with_label_values(&["safety_escalation"])
            .set(concerns);
        self.timers_waiting.set(waiting);
        self.timers_due.set(due);
        let size = i64::from(pool.size());
        let idle = pool.num_idle() as i64;
        self.pool_connections.with_label_values(&["idle"]).set(idle);
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(size - idle);
        self.pool_max_connections
            .set(i64::from(pool.options().get_max_connections()));
        Ok(())
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding into a Vec does not fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One subscriber's place, as the database has it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SubscriberLag {
    pub name: String,
    pub position: i64,
    /// The log's head readable by subscribers (`events_safe_bound()` applied).
    pub head: i64,
    /// Events after the checkpoint up to the head (at most [`LAG_COUNT_LIMIT`]).
    pub lag_events: i64,
    /// Age of the oldest such event, in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// The process that runs it, if any: its backend's `application_name` and client
    /// address, read from the subscriber's advisory lock.
    pub leader: Option<String>,
}

/// Every subscriber's checkpoint, lag and (with `leaders`) the process that runs it, read
/// from the database (works with the service down: `raptscallions status`). The leaders are
/// read from `pg_locks` and `pg_stat_activity`, which cost a look at the whole cluster's
/// locks; a scrape leaves them out.
pub async fn subscriber_lags(
    conn: &mut sqlx::PgConnection,
    leaders: bool,
) -> sqlx::Result<Vec<SubscriberLag>> {
    type Row = (String, i64, i64, i64, Option<f64>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "WITH head AS ( \
             SELECT coalesce((SELECT max(position) FROM events \
                              WHERE position < events_safe_bound()), 0) AS head) \
         SELECT c.name, c.position, head.head, \
             (SELECT count(*) FROM (SELECT 1 FROM events e \
                  WHERE e.position > c.position AND e.position <= head.head \
                  LIMIT $2) x), \
             (SELECT extract(epoch FROM clock_timestamp() - e.recorded_at)::float8 \
              FROM events e WHERE e.position > c.position AND e.position <= head.head \
              ORDER BY e.position LIMIT 1), \
             (SELECT a.application_name || coalesce(' ' || host(a.client_addr), '') \
                     || ' pid ' || l.pid \
              FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
              WHERE $3 AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 \
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                AND l.classid::bigint = $1 \
                AND l.objid::bigint = (hashtext(c.name)::bigint & 4294967295) \
              LIMIT 1) \
         FROM subscriber_checkpoints c CROSS JOIN head ORDER BY c.name",
    )
    .bind(i64::from(crate::runner::LOCK_NAMESPACE))
    .bind(LAG_COUNT_LIMIT)
    .bind(leaders)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, position, head, lag_events, lag_seconds, leader)| SubscriberLag {
                name,
                position,
                head,
                lag_events,
                lag_seconds: lag_seconds.unwrap_or(0.0).max(0.0),
                leader,
            },
        )
        .collect())
}
