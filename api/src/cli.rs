//! The `raptscallions` command line.

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use infrastructure::{config, db, telemetry, Config};
use sqlx::postgres::PgPoolOptions;
use sqlx::Connection as _;

use crate::progress::Progress;
use crate::Application;

#[derive(Debug, Parser)]
#[command(name = "raptscallions", version, about = "The Raptscallions backend")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, start the subscribers and serve the HTTP API.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Rebuild read models from position 0 of the event log.
    Replay(ReplayArgs),
    /// Verify the event log against its audit chain: recompute every seal from the start,
    /// or after an anchor kept from a checkpoint, and name the first event that is not what
    /// was sealed. Reads only. Exits 0 when the log verifies, 1 when it does not.
    Verify(VerifyArgs),
    /// Each subscriber's checkpoint, lag behind the log's head (events and seconds) and the
    /// process that runs it, read from the database: works with the service down.
    Status(StatusArgs),
    /// Create a system admin, or make an existing account one. The password is read from a
    /// prompt, or from the first line of standard input when it is not a terminal; never
    /// from the command line.
    CreateAdmin(CreateAdminArgs),
    /// Write a NATS server configuration for live dashboards (operator-mode JWT
    /// authentication, a websocket listener, JetStream) and the seeds the service needs:
    /// `DIR/nats.conf` and `DIR/nats.env` (secrets, mode 0600). Existing keys in DIR are kept.
    NatsSetup(NatsSetupArgs),
    /// Create a sample school to explore (a district with two schools, classes, teachers, a
    /// counselor, students, learning sessions with detections, assessments) through the
    /// ordinary commands, and print its sign-in accounts and links. Applies pending
    /// migrations first. Running it again adds nothing; it finishes an interrupted run.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The service's address as a browser opens it, for the printed links. Default:
    /// `http://` and BIND_ADDR (or 127.0.0.1:8080).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Stop with an error after this many steps have appended events, as an interrupted run
    /// would (for tests).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

#[derive(Debug, Args)]
pub struct NatsSetupArgs {
    /// Where to write nats.conf, nats.env and operator.jwt; the server's JetStream store and
    /// account directory go below it.
    #[arg(long)]
    pub dir: std::path::PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The client port (the service's NATS_URL).
    #[arg(long, default_value_t = 4222)]
    pub port: u16,
    /// The websocket port (dashboards; NATS_WEBSOCKET_URL).
    #[arg(long, default_value_t = 4223)]
    pub websocket_port: u16,
    /// An origin whose pages may open a websocket (the API's public origin), repeatable.
    /// None: any origin (the JWT cookie is SameSite=Strict either way).
    #[arg(long = "allowed-origin")]
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the subscribers as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The anchor's log position (from `GET /audit/checkpoints`, or a previous run's
    /// `to_position`).
    #[arg(long, requires = "hash")]
    pub position: Option<i64>,
    /// The anchor's hash, 64 hex digits.
    #[arg(long, requires = "position")]
    pub hash: Option<String>,
    /// The anchor's signature (base64), when the anchor is a signed checkpoint.
    #[arg(long, requires = "position")]
    pub signature: Option<String>,
    /// The public key to check signatures with (PEM file, or 64 hex digits). Default: the
    /// public half of AUDIT_SIGNING_KEY / AUDIT_SIGNING_KEY_FILE when set.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The projection to rebuild (see `--list`).
    #[arg(required_unless_present_any = ["all", "list", "as_of"], conflicts_with = "all")]
    pub projection: Option<String>,
    /// Rebuild every projection.
    #[arg(long)]
    pub all: bool,
    /// List the projections.
    #[arg(long)]
    pub list: bool,
    /// Do not touch the live read models: rebuild into temporary tables, compare them row by
    /// row with the live ones (each at its checkpoint), print a summary, and exit 1 on any
    /// difference.
    #[arg(long, conflicts_with_all = ["list", "as_of"])]
    pub compare: bool,
    /// Build every read model as it stood at this log position or RFC 3339 time (the events
    /// recorded by then) into the new schema `--into`; the live read models are not touched.
    #[arg(long, value_name = "TIME|POSITION", requires = "into", conflicts_with_all = ["list", "projection", "all"])]
    pub as_of: Option<String>,
    /// The schema `--as-of` creates and fills.
    #[arg(long, value_name = "SCHEMA", requires = "as_of")]
    pub into: Option<String>,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = Config::from_env()?;
            let _traces = telemetry::init_with_traces(config.log_format)?;
            Application::build(config).await?.run_until_stopped().await
        }
        Command::Migrate => {
            let (options, format) = config::database_from_env()?;
            telemetry::init(format);
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .context("connecting to DATABASE_URL")?;
            db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Replay(args) => replay(args).await,
        Command::Verify(args) => verify(args).await,
        Command::Status(args) => status(args).await,
        Command::CreateAdmin(args) => create_admin(args).await,
        Command::Demo(args) => {
            let (_, format) = config::database_from_env()?;
            telemetry::init(format);
            let outcome = crate::demo::build(args.stop_after).await?;
            print!(
                "{}",
                crate::demo::report(&outcome, &crate::demo::base_url(args.base_url))
            );
            Ok(())
        }
        Command::NatsSetup(args) => {
            let dir = std::path::absolute(&args.dir)?;
            infrastructure::realtime::auth::write_setup(
                &dir,
                &infrastructure::realtime::auth::ServerLayout {
                    host: args.host,
                    port: args.port,
                    websocket_port: args.websocket_port,
                    dir: dir.clone(),
                    allowed_origins: args.allowed_origins,
                },
            )?;
            println!("{}", dir.join("nats.conf").display());
            Ok(())
        }
    }
}

fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _};
    if std::io::stdin().is_terminal() {
        Ok(rpassword::prompt_password("Password: ")?)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

async fn create_admin(args: CreateAdminArgs) -> anyhow::Result<()> {
    use domain::user::{DisplayName, Email, Password};
    let email = Email::parse(&args.email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    let name = DisplayName::parse(&args.name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let (options, format) = config::database_from_env()?;
    telemetry::init(format);
    let auth = config::auth_from_env()?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .context("connecting to DATABASE_URL")?;
    db::migrate(&pool).await?;
    let identity = crate::app::identity(
        &auth,
        pool.clone(),
        std::sync::Arc::new(application::ports::NoListener),
        std::sync::Arc::new(application::ports::SystemClock),
    )?;
    let context = application::CommandContext {
        actor: "system:create-admin".into(),
        correlation_id: uuid::Uuid::now_v7().to_string(),
        causation_id: None,
    };
    if let Some(user_id) = identity.user_id_for(&email).await? {
        identity
            .set_system_admin(&context, user_id, true)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("{} ({user_id}) is now a system admin", email.as_str());
        return Ok(());
    }
    let password =
        Password::parse(&read_password()?).map_err(|e| anyhow::anyhow!("password: {e}"))?;
    let user_id = identity
        .create_account(&context, email.clone(), name, &password, true)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .id;
    println!("created system admin {} ({user_id})", email.as_str());
    Ok(())
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let all = projections::all_projections();
    if let (Some(at), Some(schema)) = (&args.as_of, &args.into) {
        let at: projections::replay::AsOf =
            at.parse().map_err(|e| anyhow::anyhow!("--as-of: {e}"))?;
        let (options, format) = config::database_from_env()?;
        telemetry::init(format);
        let started = std::time::Instant::now();
        let progress = Progress::new("replay --as-of", "events");
        let built =
            projections::replay::build_as_of(&options, &all, at, schema, REPLAY_BATCH, &|p| {
                progress.replay(p)
            })
            .await?;
        progress.finish();
        for (name, events) in &built.projections {
            println!("{name}: {events} events");
        }
        for (table, rows) in &built.tables {
            println!("{}.{table}: {rows} rows", built.schema);
        }
        println!(
            "read models as of position {} in schema {} ({:.1?})",
            built.position,
            built.schema,
            started.elapsed()
        );
        return Ok(());
    }
    if args.list {
        for p in &all {
            println!("{}", p.name());
        }
        return Ok(());
    }
    let selected: Vec<_> = if args.all {
        all
    } else {
        let name = args.projection.unwrap_or_default();
        let found: Vec<_> = all.into_iter().filter(|p| p.name() == name).collect();
        if found.is_empty() {
            bail!("unknown projection {name:?}; `raptscallions replay --list` lists them");
        }
        found
    };
    let (options, format) = config::database_from_env()?;
    telemetry::init(format);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.clone())
        .await
        .context("connecting to DATABASE_URL")?;
    db::migrate(&pool).await?;
    if args.compare {
        return compare(&options, &selected).await;
    }
    let progress = Progress::new("replay", "events");
    for projection in selected {
        let started = std::time::Instant::now();
        let target = projections::replay::rebuild(
            &pool,
            &options,
            projection.as_ref(),
            REPLAY_BATCH,
            &|p| progress.replay(p),
        )
        .await?;
        progress.finish();
        println!(
            "{}: rebuilt up to position {target} in {:.1?}",
            projection.name(),
            started.elapsed()
        );
    }
    Ok(())
}

async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    use projections::audit::{keys, verify};
    let anchor = verify::Anchor::parse(
        args.position,
        args.hash.as_deref(),
        args.signature.as_deref(),
    )
    .map_err(|detail| anyhow::anyhow!("the anchor: {detail}"))?;
    let (options, format) = config::database_from_env()?;
    telemetry::init(format);
    let key = match &args.public_key {
        Some(text) => {
            let text = if std::path::Path::new(text).exists() {
                std::fs::read_to_string(text).with_context(|| format!("reading {text}"))?
            } else {
                text.clone()
            };
            Some(keys::parse_public_key(&text)?)
        }
        None => config::audit_key_from_env()?.map(|k| k.public_key()),
    };
    let pool = PgPoolOptions::new()
        .max_connections(3)
        .connect_with(options)
        .await
        .context("connecting to DATABASE_URL")?;
    let progress = Progress::new("verifying", "events");
    let report = verify::verify(&pool, anchor.as_ref(), key.as_ref(), |p| {
        progress.update(p.checked.max(0) as u64, p.total.max(0) as u64);
    })
    .await?;
    progress.finish();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "checked {} events and {} checkpoints after position {} up to {}{}",
            report.events_checked,
            report.checkpoints_checked,
            report.from_position,
            report.to_position,
            if report.signatures_checked {
                ""
            } else {
                " (signatures not checked: no public key)"
            }
        );
        match &report.failure {
            None => println!(
                "verified; anchor for the next run: --position {} --hash {}",
                report.to_position, report.last_hash
            ),
            Some(f) => println!(
                "FAILED at position {}: {} ({}){}",
                f.position,
                f.kind.as_str(),
                f.detail,
                f.event_id
                    .map(|id| format!(", event {id}"))
                    .unwrap_or_default()
            ),
        }
    }
    if report.failure.is_some() {
        anyhow::bail!("the log does not verify");
    }
    Ok(())
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let (options, format) = config::database_from_env()?;
    telemetry::init(format);
    let mut conn = sqlx::PgConnection::connect_with(&options)
        .await
        .context("connecting to DATABASE_URL")?;
    let lags = projections::metrics::subscriber_lags(&mut conn, true).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lags)?);
        return Ok(());
    }
    let head = lags.first().map_or(0, |l| l.head);
    println!("log head: position {head}");
    println!(
        "{:<22} {:>20} {:>10} {:>10}  leader",
        "subscriber", "position", "lag", "lag (s)"
    );
    for lag in &lags {
        println!(
            "{:<22} {:>20} {:>10} {:>10.1}  {}",
            lag.name,
            lag.position,
            lag.lag_events,
            lag.lag_seconds,
            lag.leader.as_deref().unwrap_or("none (no process runs it)")
        );
    }
    Ok(())
}

/// Events per batch when rebuilding.
const REPLAY_BATCH: i64 = 1000;

async fn compare(
    options: &sqlx::postgres::PgConnectOptions,
    selected: &[std::sync::Arc<dyn projections::Projection>],
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let progress = Progress::new("replay --compare", "events");
    let comparisons =
        projections::replay::compare(options, selected, REPLAY_BATCH, &|p| progress.replay(p))
            .await?;
    progress.finish();
    let mut differing = 0;
    for c in &comparisons {
        let verdict = if c.identical() {
            "identical"
        } else {
            "DIFFERS"
        };
        println!(
            "{}: {verdict} (rebuilt from {} events up to position {})",
            c.projection, c.events_applied, c.position
        );
        for t in &c.tables {
            if t.only_live > 0 || t.only_rebuilt > 0 {
                println!(
                    "  {}: {} rows live, {} rebuilt; {} only live, {} only rebuilt",
                    t.table, t.live_rows, t.rebuilt_rows, t.only_live, t.only_rebuilt
                );
                for example in &t.examples {
                    println!("    {example}");
                }
            }
        }
        if !c.identical() {
            differing += 1;
        }
    }
    println!(
        "{} of {} read models differ ({:.1?})",
        differing,
        comparisons.len(),
        started.elapsed()
    );
    if differing > 0 {
        anyhow::bail!("the live read models differ from the log's");
    }
    Ok(())
}
