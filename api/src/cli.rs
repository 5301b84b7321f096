//! The `raptscallions` command line.

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use infrastructure::{config, db, telemetry, Config};
use sqlx::postgres::PgPoolOptions;

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
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The projection to rebuild (see `--list`).
    #[arg(required_unless_present_any = ["all", "list"], conflicts_with = "all")]
    pub projection: Option<String>,
    /// Rebuild every projection.
    #[arg(long)]
    pub all: bool,
    /// List the projections.
    #[arg(long)]
    pub list: bool,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = Config::from_env()?;
            telemetry::init(config.log_format);
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
    }
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let all = projections::all_projections();
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
    for projection in selected {
        let started = std::time::Instant::now();
        let target =
            projections::replay::rebuild(&pool, &options, projection.as_ref(), 1000).await?;
        println!(
            "{}: rebuilt up to position {target} in {:.1?}",
            projection.name(),
            started.elapsed()
        );
    }
    Ok(())
}
