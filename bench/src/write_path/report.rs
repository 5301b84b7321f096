//! The write-path benchmark's report: the Markdown tables it prints (throughput against the
//! raw ceiling, the ratios, the lags) and whether the targets were met.

use std::fmt::Write as _;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::cpu::{CpuShare, DISTURBED_OTHER_PCT};
use super::lag::LagRun;
use super::raw::RawSteps;
use super::settings::Settings;
use super::step::Step;
use crate::stats::{ms, nearest_rank};

/// The target of the projection lag's p99.
const PROJECTION_TARGET_P99: Duration = Duration::from_millis(50);
/// The target of `POST /groups` at 8 clients, as a share of the raw ceiling.
const HTTP_TARGET_RATIO_AT_8: f64 = 0.40;

/// The PostgreSQL version and the settings that bound a commit's cost.
pub(super) async fn postgres_facts(url: &str) -> String {
    let Ok(mut conn) = PgConnection::connect(url).await else {
        return "unknown".to_owned();
    };
    let mut facts = Vec::new();
    if let Ok(version) = sqlx::query_scalar::<_, String>("SHOW server_version")
        .fetch_one(&mut conn)
        .await
    {
        facts.push(format!("PostgreSQL {version}"));
    }
    for setting in [
        "synchronous_commit",
        "fsync",
        "wal_sync_method",
        "shared_buffers",
    ] {
        if let Ok(value) = sqlx::query_scalar::<_, String>(&format!("SHOW {setting}"))
            .fetch_one(&mut conn)
            .await
        {
            facts.push(format!("{setting}={value}"));
        }
    }
    let _ = conn.close().await;
    facts.join(", ")
}

fn cpu_cell(cpu: &CpuShare) -> String {
    format!(
        "{:.0} / {:.0} / {:.0} / {:.0} / {:.0} / {:.0}{}",
        cpu.busy,
        cpu.this,
        cpu.postgres,
        cpu.nats,
        cpu.kernel,
        cpu.other(),
        if cpu.disturbed() { " ⚠" } else { "" }
    )
}

fn yes_no(met: bool) -> &'static str {
    if met {
        "**met**"
    } else {
        "**NOT met**"
    }
}

/// What was measured against the running app: `POST /groups`, the diagnostics, the lags.
pub(super) struct AppMeasurements {
    pub(super) http: Vec<Step>,
    pub(super) app_auth: Vec<Step>,
    pub(super) app_ryw: Vec<Step>,
    pub(super) app_cmd: Vec<Step>,
    pub(super) lag: LagRun,
}

/// The whole report, in Markdown.
pub(super) fn report(
    settings: &Settings,
    facts: &str,
    pool_size: u32,
    raw_steps: &RawSteps,
    app: &AppMeasurements,
) -> String {
    let AppMeasurements {
        http,
        app_auth,
        app_ryw,
        app_cmd,
        lag,
    } = app;
    let raw = &raw_steps.scratch[..];
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "## Results\n");
    let _ = writeln!(
        out,
        "{cores} cores; {facts}; app pool DATABASE_MAX_CONNECTIONS={pool_size}; \
         {:.1} s measured per step after {:.1} s warm-up; POST /groups with a bearer token, {}.\n",
        settings.secs.as_secs_f64(),
        settings.warmup.as_secs_f64(),
        if settings.shared_session {
            "all clients sharing one session"
        } else {
            "one session per client"
        }
    );
    let _ = writeln!(out, "### Throughput\n");
    let _ = writeln!(
        out,
        "CPU columns: share of the whole machine (100 % = all {cores} cores) during the window: \
         busy / bench process (load generator + server + subscribers) / postgres (background \
         processes and this benchmark's backends) / nats-server / kernel threads \
         / anything else (including other databases' backends: concurrent test runs); and CPU time per successful \
         operation (bench + postgres + nats, then bench, then postgres). `diag:` rows split the cost of POST /groups: \
         `Groups::create` called in-process with and without the read-your-writes wait (the \
         subscribers run), and, in the baseline's database without any subscriber, the \
         command's SQL replayed by hand and a plain insert into the real `events` table.\n"
    );
    let _ = writeln!(
        out,
        "| Measurement | Clients | ops/s | p50 ms | p99 ms | errors | vs raw (same clients) | CPU % busy / bench / pg / nats / kernel / other | CPU ms/op ours / bench / pg |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|---|");
    let groups: [(&str, &[Step]); 7] = [
        ("**raw INSERT tx (baseline)**", raw),
        ("**POST /groups (HTTP)**", http),
        ("diag: authenticate bearer token only, no HTTP", app_auth),
        ("diag: create + read-your-writes, no HTTP", app_ryw),
        ("diag: create only, no HTTP", app_cmd),
        (
            "diag: raw command SQL, no subscribers",
            &raw_steps.command_sql,
        ),
        (
            "diag: raw INSERT tx into real `events`",
            &raw_steps.events_table,
        ),
    ];
    for (label, steps) in groups {
        for step in steps {
            let ratio = raw
                .iter()
                .find(|r| r.clients == step.clients)
                .map(|r| step.per_sec() / r.per_sec());
            let (all, this, pg) = step.cpu_per_op(cores);
            let _ = writeln!(
                out,
                "| {label} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {all:.2} / {this:.2} / {pg:.2} |",
                step.clients,
                step.per_sec(),
                ms(step.p50()),
                ms(step.p99()),
                step.errors,
                ratio.map_or("n/a".to_owned(), |r| format!("{:.1} %", 100.0 * r)),
                cpu_cell(&step.cpu)
            );
        }
    }
    let _ = writeln!(out, "\n### Ratios (POST /groups ÷ raw, same concurrency)\n");
    let _ = writeln!(
        out,
        "| Clients | throughput ratio | p50 latency ratio | p99 latency ratio |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|");
    for step in http {
        if let Some(r) = raw.iter().find(|r| r.clients == step.clients) {
            let _ = writeln!(
                out,
                "| {} | {:.1} % | {:.1}× | {:.1}× |",
                step.clients,
                100.0 * step.per_sec() / r.per_sec(),
                ms(step.p50()) / ms(r.p50()).max(1e-9),
                ms(step.p99()) / ms(r.p99()).max(1e-9),
            );
        }
    }

    let rate = lag.issued as f64 / lag.issue_span.as_secs_f64().max(1e-9);
    let _ = writeln!(out, "\n### Lag under a paced load\n");
    let _ = writeln!(
        out,
        "{} `Groups::create` commands paced at {} /s (achieved {:.0} /s), {} failed; \
         {} projection waits timed out; relay: {} events missing, {} arrived before their \
         append returned (counted as 0). CPU % busy / bench / pg / nats / kernel / other: {}.\n",
        lag.issued,
        settings.rate,
        rate,
        lag.failed,
        lag.projection_timeouts,
        lag.relay_missing,
        lag.relay_before_return,
        cpu_cell(&lag.cpu)
    );
    let _ = writeln!(
        out,
        "| Measurement | n | p50 ms | p99 ms | max ms | target |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let row = |out: &mut String, name: &str, v: &[Duration], target: &str| {
        let _ = writeln!(
            out,
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {target} |",
            v.len(),
            ms(nearest_rank(v, 50.0)),
            ms(nearest_rank(v, 99.0)),
            ms(v.last().copied().unwrap_or_default()),
        );
    };
    row(
        &mut out,
        "command (create, app layer, incl. position read)",
        &lag.command_latency,
        "–",
    );
    let projection_met = !lag.projection_lag.is_empty()
        && lag.projection_timeouts == 0
        && nearest_rank(&lag.projection_lag, 99.0) <= PROJECTION_TARGET_P99;
    row(
        &mut out,
        "projection lag (append returned → `groups` checkpoint)",
        &lag.projection_lag,
        &format!(
            "p99 ≤ {} ms: {}",
            PROJECTION_TARGET_P99.as_millis(),
            yes_no(projection_met)
        ),
    );
    row(
        &mut out,
        "relay lag (append returned → NATS message)",
        &lag.relay_lag,
        "–",
    );

    let all_steps = raw_steps
        .scratch
        .iter()
        .chain(&raw_steps.events_table)
        .chain(&raw_steps.command_sql)
        .chain(http)
        .chain(app_auth)
        .chain(app_ryw)
        .chain(app_cmd);
    let disturbed =
        all_steps.filter(|s| s.cpu.disturbed()).count() + usize::from(lag.cpu.disturbed());
    if disturbed > 0 {
        let _ = writeln!(
            out,
            "\n⚠ {disturbed} measurement(s) ran while other processes used more than {DISTURBED_OTHER_PCT:.0} % \
             of the machine: their figures are low; run again on a quiet machine."
        );
    }
    let _ = writeln!(out, "\n### Targets\n");
    let at8 = http.iter().find(|s| s.clients == 8).and_then(|h| {
        raw.iter()
            .find(|r| r.clients == 8)
            .map(|r| h.per_sec() / r.per_sec())
    });
    match at8 {
        Some(ratio) => {
            let _ = writeln!(
                out,
                "- POST /groups at 8 clients ≥ {:.0} % of raw: {:.1} % → {}",
                100.0 * HTTP_TARGET_RATIO_AT_8,
                100.0 * ratio,
                yes_no(ratio >= HTTP_TARGET_RATIO_AT_8)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- POST /groups at 8 clients: not measured (BENCH_CLIENTS)"
            );
        }
    }
    let _ = writeln!(
        out,
        "- projection lag p99 ≤ {} ms: {:.2} ms → {}",
        PROJECTION_TARGET_P99.as_millis(),
        ms(nearest_rank(&lag.projection_lag, 99.0)),
        yes_no(projection_met)
    );
    out
}
