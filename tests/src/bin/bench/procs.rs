//! Child processes: the daemon under test (the real `bot-daemon` binary, or this binary
//! re-executed to run the same library code when that binary is not built) and the bare
//! baseline server. Both print their listening addresses on stderr, which is parsed here.

use std::{
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use bot_daemon::config::{Config, ConfigArgs};

/// How to start the daemon.
#[derive(Debug, Clone)]
pub(crate) enum DaemonCmd {
    /// The real binary at this path.
    Binary(PathBuf),
    /// This executable with `__serve-daemon` (the same library code, no tracing).
    SelfExec,
}

impl DaemonCmd {
    pub(crate) fn describe(&self) -> String {
        match self {
            DaemonCmd::Binary(p) => format!("bot-daemon binary {}", p.display()),
            DaemonCmd::SelfExec => {
                "bench binary re-executed as the daemon (same library code; bot-daemon binary not found)"
                    .to_string()
            }
        }
    }
}

/// Finds (building it first, in a release build run by cargo) `bot-daemon` beside this binary.
pub(crate) fn locate_daemon(explicit: Option<PathBuf>) -> DaemonCmd {
    if let Some(p) = explicit {
        return DaemonCmd::Binary(std::fs::canonicalize(&p).unwrap_or(p));
    }
    let Ok(me) = std::env::current_exe() else {
        return DaemonCmd::SelfExec;
    };
    let Some(dir) = me.parent() else {
        return DaemonCmd::SelfExec;
    };
    // Integration tests run from target/<profile>/deps; binaries live one level up.
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let candidate = dir.join("bot-daemon");
    if !cfg!(debug_assertions) {
        // A release bench run by `cargo run` rebuilds the daemon so its figures are never stale.
        if let Ok(cargo) = std::env::var("CARGO") {
            eprintln!("bench: building the release bot-daemon binary (cargo build --release -p bot-daemon)");
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--release",
                    "--quiet",
                    "-p",
                    "bot-daemon",
                    "--bin",
                    "bot-daemon",
                ])
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!(
                    "bench: building bot-daemon failed; falling back to the in-binary daemon"
                );
                return DaemonCmd::SelfExec;
            }
        }
        if candidate.is_file() {
            return DaemonCmd::Binary(candidate);
        }
    }
    DaemonCmd::SelfExec
}

/// The daemon's TOML configuration for a run.
pub(crate) fn write_config(
    dir: &Path,
    name: &str,
    db: &Path,
    api_base: &str,
    max_per_second: u32,
) -> Result<PathBuf> {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"http_addr = "127.0.0.1:0"
grpc_addr = "127.0.0.1:0"
db = "{db}"
admin_token = "{admin}"

[whatsapp]
access_token = "{access}"
phone_number_id = "{pnid}"
app_secret = "{secret}"
verify_token = "{verify}"
api_base = "{api_base}"

[outbound]
max_per_second = {max_per_second}
"#,
        db = db.display(),
        admin = tests::ADMIN_TOKEN,
        access = tests::ACCESS_TOKEN,
        pnid = tests::PHONE_NUMBER_ID,
        secret = tests::APP_SECRET,
        verify = tests::VERIFY_TOKEN,
    );
    std::fs::write(&path, text)?;
    Ok(path)
}

/// A running child server.
pub(crate) struct Proc {
    child: Child,
    pub(crate) pid: u32,
    pub(crate) http: SocketAddr,
    pub(crate) grpc: Option<SocketAddr>,
    /// From spawn to the addresses being printed.
    pub(crate) listening_after: Duration,
    pub(crate) spawned_at: Instant,
}

fn parse_addr(line: &str, marker: &str, end: &str) -> Option<SocketAddr> {
    let i = line.find(marker)? + marker.len();
    let rest = &line[i..];
    let j = if end.is_empty() {
        rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len())
    } else {
        rest.find(end)?
    };
    rest[..j].trim().parse().ok()
}

fn spawn_and_wait(mut cmd: Command, log: &Path, want_grpc: bool) -> Result<Proc> {
    for (k, _) in std::env::vars() {
        if k.starts_with("WHATSAPP_") || k.starts_with("CHAT_SUPPORT_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let spawned_at = Instant::now();
    let mut child = cmd.spawn().context("spawning a server process")?;
    let pid = child.id();
    let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let (tx, rx) = mpsc::channel::<(Option<SocketAddr>, Option<SocketAddr>)>();
    let mut logfile = std::fs::File::create(log)?;
    std::thread::spawn(move || {
        // Keep draining stderr for the whole life of the child, or it blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let http = parse_addr(&line, "listening on http://", "/webhook");
            let grpc = parse_addr(&line, "gRPC API listening on ", "");
            if http.is_some() || grpc.is_some() {
                let _ = tx.send((http, grpc));
            }
            let _ = writeln!(logfile, "{line}");
        }
    });
    let (mut http, mut grpc) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while http.is_none() || (want_grpc && grpc.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((h, g)) => {
                http = http.or(h);
                grpc = grpc.or(g);
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server did not print its addresses within 120 s; see {}",
                    log.display()
                );
            }
        }
    }
    Ok(Proc {
        child,
        pid,
        http: http.ok_or_else(|| anyhow!("no http address"))?,
        grpc,
        listening_after: spawned_at.elapsed(),
        spawned_at,
    })
}

impl Proc {
    /// Starts the daemon with `config`.
    pub(crate) fn daemon(how: &DaemonCmd, config: &Path, log: &Path) -> Result<Proc> {
        let mut cmd = match how {
            DaemonCmd::Binary(p) => {
                let mut c = Command::new(p);
                c.arg("--config").arg(config).arg("serve");
                c
            }
            DaemonCmd::SelfExec => {
                let mut c = Command::new(std::env::current_exe()?);
                c.arg("__serve-daemon").arg(config);
                c
            }
        };
        cmd.current_dir(config.parent().unwrap_or(Path::new(".")));
        spawn_and_wait(cmd, log, true)
    }

    /// Starts the bare axum server (this executable with `__serve-bare`).
    pub(crate) fn bare(log: &Path) -> Result<Proc> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("__serve-bare");
        spawn_and_wait(cmd, log, false)
    }

    /// (VmRSS, VmHWM) in KiB.
    pub(crate) fn rss_kib(&self) -> (u64, u64) {
        rss_of(self.pid)
    }

    /// Polls `GET /readyz` until it answers 200; returns the time since spawn.
    pub(crate) async fn wait_ready(&self) -> Result<Duration> {
        let client = reqwest::Client::builder().no_proxy().build()?;
        let url = format!("http://{}/readyz", self.http);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = client.get(&url).send().await {
                if r.status() == 200 {
                    return Ok(self.spawned_at.elapsed());
                }
            }
            if Instant::now() > deadline {
                bail!("{url} not ready within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub(crate) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn rss_of(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// `__serve-daemon <config>`: the daemon's library code, as `bot-daemon serve` runs it.
pub(crate) fn serve_daemon(config: &Path) -> Result<()> {
    let cfg = Config::load(&ConfigArgs {
        config: Some(config.to_path_buf()),
        ..ConfigArgs::default()
    })?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listeners = bot_daemon::Listeners::bind(&cfg).await?;
        let daemon = bot_daemon::Daemon::start(cfg, listeners).await?;
        eprintln!("webhook listening on http://{}/webhook", daemon.http_addr());
        eprintln!("agents' gRPC API listening on {}", daemon.grpc_addr());
        std::future::pending::<()>().await;
        Ok::<(), anyhow::Error>(())
    })
}

/// `__serve-bare`: axum on the same stack as the daemon, answering every webhook POST with the
/// daemon's success body after reading it, doing nothing else.
pub(crate) fn serve_bare() -> Result<()> {
    use axum::{body::Bytes, routing::post, Router};
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let app = Router::new().route(
            "/webhook",
            post(|body: Bytes| async move {
                let _ = body.len();
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    r#"{"applied":1,"duplicates":0,"status":"ok","statuses":0}"#,
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!(
            "bare server listening on http://{}/webhook",
            listener.local_addr()?
        );
        axum::serve(listener, app).await?;
        Ok::<(), anyhow::Error>(())
    })
}
