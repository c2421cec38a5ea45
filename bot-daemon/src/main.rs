//! `bot-daemon`: runs the daemon (the default), or one of its operator commands. All logic is in
//! the library; this file parses flags, sets up logging, binds and waits for a signal.

use anyhow::Context;
use bot_daemon::{
    admin_cli::{self, AdminArgs},
    config::{Config, ConfigArgs},
    engine::{system_clock, Engine},
    simulate::{self, SimulateArgs},
    storage::Store,
    students, Daemon, Listeners,
};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// chat-support: live human support over WhatsApp.
#[derive(Debug, Parser)]
#[command(name = "bot-daemon", version, about)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default).
    Serve,
    /// Post a signed webhook to a running local daemon, as a WhatsApp user, and print the replies.
    Simulate(SimulateArgs),
    /// The agents' API from a shell: list, show, send, end, watch (over gRPC).
    Admin(AdminArgs),
    /// Copy the live database to a new file (SQLite's online backup API; safe while serving).
    Backup {
        /// The new file.
        path: std::path::PathBuf,
    },
    /// Manage known students.
    Students {
        #[command(subcommand)]
        command: StudentsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum StudentsCommand {
    /// Import students from a CSV file: phone_number,name (a header line is allowed).
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
    },
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(cfg: Config) -> anyhow::Result<()> {
    tracing::info!(config = ?cfg, "starting chat-support");
    let listeners = Listeners::bind(&cfg).await?;
    let daemon = Daemon::start(cfg, listeners).await?;
    let failure = tokio::select! {
        () = shutdown_signal() => None,
        why = daemon.failed() => Some(why),
    };
    tracing::info!("shutting down: finishing in-flight requests and sends");
    daemon.shutdown().await;
    match failure {
        // A listener that died leaves a daemon that cannot serve: exit non-zero so a
        // supervisor (Restart=on-failure) starts a fresh one.
        Some(why) => Err(anyhow::anyhow!("{why}")),
        None => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::load(&cli.config)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            init_tracing();
            serve(cfg).await
        }
        Command::Simulate(args) => simulate::run(&cfg, &args).await,
        Command::Admin(args) => admin_cli::run(&cfg, &args).await,
        Command::Backup { path } => {
            let (db, dest) = (cfg.db.clone(), path.clone());
            let pages =
                tokio::task::spawn_blocking(move || bot_daemon::storage::backup(&db, &dest))
                    .await??;
            println!(
                "backed up {} to {} ({pages} pages, integrity ok)",
                cfg.db.display(),
                path.display()
            );
            Ok(())
        }
        Command::Students {
            command: StudentsCommand::Import { file },
        } => {
            let rows = students::read_csv(&file)
                .map_err(anyhow::Error::msg)
                .context("nothing was imported")?;
            let db = cfg.db.clone();
            let store = tokio::task::spawn_blocking(move || Store::open(&db)).await??;
            let engine = Engine::new(store, cfg.bot.clone(), system_clock());
            let (created, updated) = engine.import_students(rows).await?;
            println!(
                "imported {created} new and updated {updated} existing students into {}",
                cfg.db.display()
            );
            Ok(())
        }
    }
}
