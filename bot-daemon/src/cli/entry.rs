//! The `bot-daemon` command line: runs the daemon (the default), or one of its operator
//! commands. It parses flags, sets up logging, binds and waits for a signal, and turns a
//! command's failure into its exit code (see [`crate::cli_output`]). It lives in the library so
//! that the end-to-end tests can run the real binary as a process of their own
//! (`tests/src/bin/daemon-under-test.rs`: Cargo builds only a test package's own binaries).

use std::{io::IsTerminal, process::ExitCode};

use crate::{
    admin_cli::{self, AdminArgs},
    cli_output::{emit, CliError},
    config::{Config, ConfigArgs, LogFormat},
    engine::{system_clock, Engine},
    simulate::{self, SimulateArgs},
    storage::Store,
    students, Daemon, Listeners,
};
use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
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
    /// Copy the live database to a new file, safe while serving: SQLite's online backup API, or
    /// on PostgreSQL `pg_dump` (custom format) after checking it is as new as the server.
    Backup {
        /// The new file.
        path: std::path::PathBuf,
    },
    /// Copy a SQLite desk (live or stopped) into a new, empty PostgreSQL database and check
    /// every table's count; then run the daemon with --db set to that database.
    Migrate {
        /// The SQLite database to copy (default: the daemon's --db).
        #[arg(long)]
        from: Option<std::path::PathBuf>,
        /// The PostgreSQL database: postgres://USER[:PASS]@HOST:PORT/DB.
        #[arg(long)]
        to: String,
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

/// The daemon's flags each subcommand does not use: hidden from its `--help` (they are still
/// accepted, as before). The daemon itself (`serve`, or no subcommand) shows them all.
fn unused_flags(subcommand: &str) -> &'static [&'static str] {
    match subcommand {
        "admin" => &[
            "http_addr",
            "access_token",
            "phone_number_id",
            "app_secret",
            "verify_token",
            "api_base",
            "admin_token",
            "tls_cert",
            "tls_key",
            "log_format",
        ],
        "simulate" => &[
            "grpc_addr",
            "access_token",
            "verify_token",
            "api_base",
            "admin_token",
            "tls_cert",
            "tls_key",
            "log_format",
        ],
        "backup" | "students" | "migrate" => &[
            "http_addr",
            "grpc_addr",
            "access_token",
            "phone_number_id",
            "app_secret",
            "verify_token",
            "api_base",
            "admin_token",
            "tls_cert",
            "tls_key",
            "log_format",
        ],
        _ => &[],
    }
}

/// What a shared flag means to a client subcommand (the daemon's own help says "listener").
fn client_help(subcommand: &str, id: &str) -> Option<&'static str> {
    match (subcommand, id) {
        ("admin", "grpc_addr") => Some("The daemon's gRPC address"),
        ("admin", "db") => Some(
            "The daemon's database file: the token is read from <DB>.admin-token when none is set",
        ),
        ("simulate", "http_addr") => Some("The daemon's webhook listener"),
        ("simulate", "db") => Some("The daemon's database file (the replies are read from it)"),
        _ => None,
    }
}

/// Hides `hidden` in `cmd` and all its subcommands, and words the shared flags for `top`.
fn hide_flags(cmd: &mut clap::Command, top: &str, hidden: &[&str]) {
    *cmd = std::mem::take(cmd).mut_args(|a| {
        let id = a.get_id().as_str().to_string();
        let a = match client_help(top, &id) {
            Some(help) => a.help(help),
            None => a,
        };
        if hidden.contains(&id.as_str()) {
            a.hide(true)
        } else {
            a
        }
    });
    for sc in cmd.get_subcommands_mut() {
        hide_flags(sc, top, hidden);
    }
}

/// The command line, with each subcommand's help showing only the flags it uses.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // Copies the global flags into every subcommand first, so they can be hidden there.
    cmd.build();
    for sc in cmd.get_subcommands_mut() {
        let top = sc.get_name().to_string();
        hide_flags(sc, &top, unused_flags(&top));
    }
    cmd
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        // Colours only for a person at a terminal (and never with NO_COLOR set).
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init(),
    }
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

/// One line on stderr; a closed stderr is ignored (eprintln! would panic).
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Reports a failure on stderr (one JSON object with `--json`) and gives its exit code.
fn report(e: &anyhow::Error, json: bool) -> ExitCode {
    let cli = e.downcast_ref::<CliError>();
    if let Some(CliError::BrokenPipe) = cli {
        return ExitCode::SUCCESS;
    }
    let code = cli.map_or(1, CliError::exit_code);
    if json {
        let err = match cli {
            Some(c) => c.to_json(),
            None => serde_json::json!({"error": {"code": "UNKNOWN", "message": format!("{e:#}")}}),
        };
        say(&err.to_string());
    } else {
        say(&format!("error: {e:#}"));
    }
    ExitCode::from(code)
}

/// The `bot-daemon` binary: parses the command line, runs it on a tokio runtime, and gives its
/// exit code.
#[must_use]
pub fn main_entry() -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(main_async()),
        Err(e) => {
            say(&format!("error: cannot start the async runtime: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn main_async() -> ExitCode {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            let json = std::env::args_os().any(|a| a == "--json");
            let shown = matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if json && !shown {
                let text = e.to_string();
                let message = text.trim().trim_start_matches("error: ");
                say(
                    &serde_json::json!({"error": {"code": "INVALID_ARGUMENT", "message": message}})
                        .to_string(),
                );
                return ExitCode::from(2);
            }
            // Usage errors exit 2, help and version 0 (clap's own codes).
            e.exit()
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let json = matches!(&cli.command, Some(Command::Admin(a)) if a.json);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, json),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::load(&cli.config)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            init_tracing(cfg.log_format);
            serve(cfg).await
        }
        Command::Simulate(args) => simulate::run(&cfg, &args).await,
        Command::Admin(args) => Ok(admin_cli::run(&cfg, &args).await?),
        Command::Backup { path } => match cfg.db.clone() {
            crate::storage::Location::Postgres { url, .. } => {
                let dest = path.clone();
                let done = tokio::task::spawn_blocking(move || {
                    crate::storage::postgres::backup(&url, &dest)
                })
                .await??;
                emit(format!(
                    "backed up {} to {} ({} bytes, pg_dump custom format) with {} ({}; server {}); \
                     restore into an empty database with: pg_restore --no-owner --dbname postgres://… {}",
                    cfg.db,
                    path.display(),
                    done.bytes,
                    done.pg_dump.display(),
                    done.pg_dump_version,
                    done.server_version,
                    path.display()
                ))?;
                Ok(())
            }
            crate::storage::Location::Sqlite(db) => {
                let dest = path.clone();
                let pages = tokio::task::spawn_blocking(move || crate::storage::backup(&db, &dest))
                    .await??;
                emit(format!(
                    "backed up {} to {} ({pages} pages, integrity ok)",
                    cfg.db,
                    path.display()
                ))?;
                Ok(())
            }
        },
        Command::Migrate { from, to } => {
            let from = from.unwrap_or_else(|| cfg.db.path().to_path_buf());
            let report = crate::storage::copy_sqlite_to_postgres(&from, &to)
                .await
                .context("nothing usable was copied")?;
            let mut lines = vec![format!(
                "copied {} into {} (every count checked):",
                from.display(),
                crate::storage::without_password(&to)
            )];
            for (table, read, _) in &report.tables {
                lines.push(format!("  {table:<18} {read:>9} rows"));
            }
            emit(lines.join("\n"))?;
            Ok(())
        }
        Command::Students {
            command: StudentsCommand::Import { file },
        } => {
            let rows = students::read_csv(&file)
                .map_err(anyhow::Error::msg)
                .context("nothing was imported")?;
            let db = cfg.db.clone();
            let store = tokio::task::spawn_blocking(move || Store::connect(&db)).await??;
            let engine = Engine::new(store, cfg.bot.clone(), system_clock());
            let (created, updated) = engine.import_students(rows).await?;
            emit(format!(
                "imported {created} new and updated {updated} existing students into {}",
                cfg.db
            ))?;
            Ok(())
        }
    }
}
