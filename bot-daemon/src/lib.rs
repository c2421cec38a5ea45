//! chat-support's daemon as a library, so tests can boot it in-process on port 0.
//!
//! The source tree shows the layers, and every import points down this list:
//!
//! - [`cli`]: `admin …`, `simulate` and the students' import (over the APIs and the engine).
//! - [`adapters`]: HTTP + webhook parsing, gRPC, REST, the outbound sender, the listeners.
//! - [`engine`]: every business rule and permission; composes the core and the store.
//! - [`storage`]: one storage interface chosen by `--db`; `storage/sqlite/` is the SQLite
//!   backend (writer thread, group commit, migrations).
//! - [`core`]: plain types and pure rules (domain, conversation, desk, hours, stats).
//!
//! This file and [`config`] sit on top: the configuration, and [`Daemon`], which wires every
//! layer together. The modules are also re-exported here under their short names
//! (`bot_daemon::domain`, `bot_daemon::grpc`, …), which is how the crate's own code and its
//! tests name them; `bot-daemon/tests/layers.rs` checks that no import runs back up.
#![warn(missing_docs)]

pub mod adapters;
pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod storage;

pub use crate::adapters::{
    grpc, health, http, inbox, metrics, outbound, rest, server, throttle, webhook,
};
pub use crate::cli::{admin_cli, cli_output, simulate, students};
pub use crate::core::{conversation, desk, domain, hours, inbound, stats};

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    config::{secret_beside_db, Config},
    engine::{system_clock, Clock, Engine},
    metrics::Metrics,
    outbound::{CloudApi, Transport},
    storage::{Store, StoreError},
};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database. Each variant's message includes its cause's, so the cause is not also
    /// the `source()`: `error: {:#}` would print it twice.
    #[error("opening the database: {0}")]
    Store(StoreError),
    /// Binding or reading a listener, or a secret file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The HTTP client for the Cloud API.
    #[error("building the Cloud API client: {0}")]
    Client(reqwest::Error),
    /// The gRPC listener's setup (TLS files, agents).
    #[error(transparent)]
    Grpc(#[from] grpc::GrpcStartError),
    /// Anything else about the setup.
    #[error("{0}")]
    Invalid(String),
}

impl From<StoreError> for StartError {
    fn from(e: StoreError) -> StartError {
        StartError::Store(e)
    }
}

impl From<reqwest::Error> for StartError {
    fn from(e: reqwest::Error) -> StartError {
        StartError::Client(e)
    }
}

/// The listeners the daemon serves on, bound by the caller (tests bind port 0).
#[derive(Debug)]
pub struct Listeners {
    /// Webhook, health, metrics and REST.
    pub http: TcpListener,
    /// The agents' gRPC API.
    pub grpc: TcpListener,
}

impl Listeners {
    /// Binds the configured addresses.
    ///
    /// # Errors
    /// An address that cannot be bound.
    pub async fn bind(cfg: &Config) -> Result<Listeners, StartError> {
        let http = TcpListener::bind(&cfg.http_addr).await.map_err(|e| {
            StartError::Invalid(format!(
                "binding the HTTP listener on {}: {e}",
                cfg.http_addr
            ))
        })?;
        let grpc = TcpListener::bind(&cfg.grpc_addr).await.map_err(|e| {
            StartError::Invalid(format!(
                "binding the gRPC listener on {}: {e}",
                cfg.grpc_addr
            ))
        })?;
        Ok(Listeners { http, grpc })
    }
}

/// A running daemon.
pub struct Daemon {
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    store: Store,
    engine: Engine,
    metrics: Arc<Metrics>,
    sandbox: bool,
    health: Arc<health::Health>,
    inbox: Arc<inbox::Tracker>,
    own_number: Option<Arc<String>>,
    shutdown_timeout: Duration,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("http_addr", &self.http_addr)
            .finish_non_exhaustive()
    }
}

/// The agents' API token: configured, or generated once into `<db>.admin-token` (mode 0600).
/// Returns the token and, when it lives in a file, that file.
///
/// # Errors
/// The token file cannot be read or created.
pub fn resolve_admin_token(
    cfg: &Config,
) -> Result<(String, Option<std::path::PathBuf>), StartError> {
    match &cfg.admin_token {
        Some(t) => Ok((t.clone(), None)),
        None => {
            let (t, path) = secret_beside_db(cfg.db.path(), proto::client::TOKEN_FILE_SUFFIX)?;
            Ok((t, Some(path)))
        }
    }
}

/// The app secret: configured, or in sandbox mode kept in `<db>.sandbox-secret`.
///
/// # Errors
/// Production mode without a secret, or the secret file cannot be made.
pub fn resolve_app_secret(cfg: &Config) -> Result<String, StartError> {
    match &cfg.app_secret {
        Some(s) => Ok(s.clone()),
        None if cfg.is_sandbox() => Ok(secret_beside_db(cfg.db.path(), "sandbox-secret")?.0),
        None => Err(StartError::Invalid(
            "WHATSAPP_APP_SECRET is required outside sandbox mode".into(),
        )),
    }
}

/// Raises the descriptor limit where allowed and warns when the connection caps could still
/// exhaust it (at the limit, both listeners would stop accepting).
fn check_fd_limit(limits: &config::Limits) {
    let Some(fds) = server::raise_fd_limit() else {
        return;
    };
    // The database, the outbox's HTTP client and the runtime need some of their own.
    let needed = (limits.max_http_connections + limits.max_grpc_connections) as u64 + 256;
    if fds < needed {
        tracing::warn!(
            limit = fds,
            needed,
            "the open-file limit is below the connection caps ([limits] max_http_connections + max_grpc_connections + 256): raise it (ulimit -n / LimitNOFILE) or lower the caps"
        );
    }
}

impl Daemon {
    /// Opens the store and starts serving on `listeners` with the system clock.
    ///
    /// # Errors
    /// See [`StartError`].
    pub async fn start(cfg: Config, listeners: Listeners) -> Result<Daemon, StartError> {
        Daemon::start_with_clock(cfg, listeners, system_clock()).await
    }

    /// Like [`Daemon::start`] with an injected clock.
    ///
    /// # Errors
    /// See [`StartError`].
    pub async fn start_with_clock(
        cfg: Config,
        listeners: Listeners,
        clock: Clock,
    ) -> Result<Daemon, StartError> {
        let db = cfg.db.clone();
        let store = tokio::task::spawn_blocking(move || Store::connect(&db))
            .await
            .map_err(|e| StartError::Invalid(format!("opening the database: {e}")))??;
        let app_secret = resolve_app_secret(&cfg)?;
        let transport = match &cfg.access_token {
            Some(token) => Transport::Cloud(CloudApi::new(
                &cfg.api_base,
                &cfg.phone_number_id,
                token,
                cfg.sender.request_timeout,
            )?),
            None => Transport::Sandbox,
        };
        let sandbox = transport.is_sandbox();
        let engine =
            Engine::new(store.clone(), cfg.bot.clone(), clock.clone()).with_desk(cfg.desk.clone());
        let metrics = Arc::new(Metrics::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();

        let http_addr = listeners.http.local_addr()?;
        let grpc_addr = listeners.grpc.local_addr()?;
        let limits = cfg.limits.clone();
        check_fd_limit(&limits);
        let (token, token_file) = resolve_admin_token(&cfg)?;
        // Everything that can refuse to start does so before anything listens.
        let tracker = Arc::new(inbox::Tracker::default());
        // The business number this daemon answers for (`None` in sandbox mode: every number).
        // Messages addressed to another number of the same app are acknowledged and ignored,
        // so a user who wrote to number B never gets an answer from number A.
        let own_number = (!cfg.is_sandbox()).then(|| Arc::new(cfg.phone_number_id.clone()));
        let grpc_server = grpc::GrpcServer::prepare(
            engine.clone(),
            tracker.clone(),
            own_number.clone(),
            token.clone(),
            cfg.tls.clone(),
            limits.header_timeout,
            shutdown_rx.clone(),
        )
        .await?;
        if let Some(path) = token_file {
            tracing::info!(file = %path.display(), "admin API token is in this file (generated on first start, mode 0600)");
        }
        let health = Arc::new(health::Health::default());
        tasks.push(tokio::spawn(inbox::run_processor(
            engine.clone(),
            tracker.clone(),
            metrics.clone(),
            own_number.clone(),
            shutdown_rx.clone(),
        )));
        let state = http::HttpState {
            engine: engine.clone(),
            metrics: metrics.clone(),
            inbox: tracker.clone(),
            app_secret: Arc::new(app_secret.into_bytes()),
            verify_token: cfg.verify_token.clone().map(Arc::new),
            slots: Arc::new(http::WebhookSlots::new(limits.webhook_concurrency)),
            health: health.clone(),
        };
        let app = http::router(state, rest::router(engine.clone(), token));
        let (http_listener, http_metrics, http_limits, http_shutdown, http_health) = (
            listeners.http,
            metrics.clone(),
            limits.clone(),
            shutdown_rx.clone(),
            health.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let stopping = http_shutdown.clone();
            let r =
                server::serve_http(http_listener, app, http_limits, http_metrics, http_shutdown)
                    .await;
            if !*stopping.borrow() {
                http_health.fail(match r {
                    Ok(()) => format!("the HTTP listener on {http_addr} stopped"),
                    Err(e) => format!("the HTTP listener on {http_addr} failed: {e}"),
                });
            }
        }));
        tracing::info!(addr = %http_addr, "webhook listening on http://{http_addr}/webhook");

        let incoming = server::GrpcIncoming::new(
            listeners.grpc,
            limits.max_grpc_connections,
            limits.header_timeout,
            metrics.clone(),
            shutdown_rx.clone(),
        );
        let (grpc_shutdown, grpc_health) = (shutdown_rx.clone(), health.clone());
        tasks.push(tokio::spawn(async move {
            let stopping = grpc_shutdown.clone();
            let r = grpc_server.run(incoming, grpc_shutdown).await;
            if !*stopping.borrow() {
                grpc_health.fail(match r {
                    Ok(()) => format!("the gRPC listener on {grpc_addr} stopped"),
                    Err(e) => format!("the gRPC listener on {grpc_addr} failed: {e}"),
                });
            }
        }));
        tracing::info!(addr = %grpc_addr, "agents' gRPC API listening on {grpc_addr}");

        tasks.push(tokio::spawn(outbound::run_sender(
            store.clone(),
            Arc::new(transport),
            clock,
            cfg.sender.clone(),
            metrics.clone(),
            shutdown_rx.clone(),
        )));
        let (maint_store, maint_clock, mut maint_shutdown) =
            (store.clone(), engine.clone(), shutdown_rx.clone());
        tasks.push(tokio::spawn(async move {
            // Keep 30 days of events for WatchChats resumes; older clients get a snapshot.
            const KEEP_MS: i64 = 30 * 24 * 60 * 60 * 1000;
            loop {
                if !maint_store.is_leader() {
                    // One daemon of a shared desk prunes.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = maint_shutdown.changed() => break,
                    }
                }
                match maint_store.prune_events(maint_clock.now(), KEEP_MS).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "pruned old events"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning events failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    _ = maint_shutdown.changed() => break,
                }
            }
        }));
        let (timer_engine, mut timer_shutdown, tick) =
            (engine.clone(), shutdown_rx.clone(), cfg.timer_tick);
        tasks.push(tokio::spawn(async move {
            // Survey timeouts and inactivity, on the engine's clock.
            loop {
                if !timer_engine.store().is_leader() {
                    // One daemon of a shared desk runs the timers.
                    tokio::select! {
                        _ = tokio::time::sleep(tick) => continue,
                        _ = timer_shutdown.changed() => break,
                    }
                }
                match timer_engine.sweep_timers().await {
                    Ok(s) if s != engine::Swept::default() => tracing::info!(
                        surveys_closed = s.surveys_closed,
                        reminded = s.reminded,
                        ended = s.ended,
                        "timers"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "timer sweep failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = timer_shutdown.changed() => break,
                }
            }
        }));
        if sandbox {
            tracing::info!(
                "sandbox mode: no WHATSAPP_ACCESS_TOKEN, outbound messages are recorded, not sent"
            );
        }
        Ok(Daemon {
            http_addr,
            grpc_addr,
            store,
            engine,
            metrics,
            sandbox,
            health,
            inbox: tracker,
            own_number,
            shutdown_timeout: limits.shutdown_timeout,
            shutdown,
            tasks,
        })
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The store (tests inspect it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// What became of recent webhook deliveries (acknowledged, processed, parked).
    pub fn inbox(&self) -> &Arc<inbox::Tracker> {
        &self.inbox
    }

    /// The business number deliveries are filtered by (`None` in sandbox mode).
    pub fn own_number(&self) -> Option<&str> {
        self.own_number.as_deref().map(String::as_str)
    }

    /// Metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// True in sandbox mode.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox
    }

    /// Waits until a listener fails (the daemon can no longer serve) and says which and why.
    pub async fn failed(&self) -> String {
        self.health.failed().await
    }

    /// Stops accepting, closes idle connections, finishes in-flight requests and sends, and
    /// returns when every task has ended or the one shutdown deadline
    /// ([`config::Limits::shutdown_timeout`]) has passed; what is still running then is
    /// stopped where it stands (the outbox and the inbox are durable, nothing is lost).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        let mut late = 0;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                late += 1;
            }
        }
        if late > 0 {
            tracing::warn!(
                tasks = late,
                "stopped what had not finished within the {} s shutdown deadline",
                self.shutdown_timeout.as_secs_f64()
            );
        }
    }
}
