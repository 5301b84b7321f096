//! Structured logs with `tracing`: human-readable by default, JSON with `LOG_FORMAT=json`.
//! `RUST_LOG` filters (default `info`). With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the server
//! also exports its spans to that OpenTelemetry collector (OTLP over HTTP, protobuf; the
//! standard `OTEL_*` variables of the exporter apply, such as
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_BSP_SCHEDULE_DELAY`).
//!
//! The spans that follow a request through the log, each carrying its correlation id (the
//! request id, written into every event's metadata): `request` (the HTTP request,
//! `request_id` and `correlation_id`), `command` (a command on an aggregate, also the process
//! manager's and the timers', with the correlation id of the request or event that caused
//! it), `subscriber_batch` (a subscriber's batch, with the distinct `correlation_ids` of its
//! events); the relay's NATS messages carry it in the `Rapt-Correlation-Id` header. The
//! command and batch log lines are at `debug` (`RUST_LOG=info,application=debug,projections=debug`),
//! so a JSON log filtered by one id shows the whole path.

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::LogFormat;

/// Installs the global subscriber. Calling it twice is harmless (the second call is ignored).
pub fn init(format: LogFormat) {
    install(format, None);
}

/// The exporter of spans to a collector; flushed and stopped when dropped.
pub struct Traces(opentelemetry_sdk::trace::SdkTracerProvider);

impl Drop for Traces {
    fn drop(&mut self) {
        if let Err(error) = self.0.shutdown() {
            eprintln!("exporting the last spans failed: {error}");
        }
    }
}

/// [`init`], also exporting spans when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. Keep the returned guard for as long as the
/// process runs.
pub fn init_with_traces(format: LogFormat) -> anyhow::Result<Option<Traces>> {
    let wanted = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    if !wanted {
        init(format);
        return Ok(None);
    }
    // The exporter's blocking HTTP client may not be made inside the async runtime.
    let provider = std::thread::spawn(tracer_provider)
        .join()
        .map_err(|_| anyhow::anyhow!("building the span exporter panicked"))??;
    install(format, Some(&provider));
    Ok(Some(Traces(provider)))
}

fn tracer_provider() -> anyhow::Result<opentelemetry_sdk::trace::SdkTracerProvider> {
    // The endpoint and the rest come from the standard variables.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("raptscallions")
                .build(),
        )
        .build())
}

fn install(format: LogFormat, traces: Option<&opentelemetry_sdk::trace::SdkTracerProvider>) {
    use opentelemetry::trace::TracerProvider as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
    };
    // Spans with their fields, and the warnings and errors logged in them; not the info and
    // debug lines (the access log's line is the request span's fields again), nor per-span
    // thread, source location, target or busy/idle timing: what a trace of the log's path
    // needs, at a cost per request the benchmark keeps small.
    let spans = traces.map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("raptscallions"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            .with_context_activation(false)
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                meta.is_span() || *meta.level() <= tracing::Level::WARN
            }))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init();
}
