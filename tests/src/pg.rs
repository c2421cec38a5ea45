//! A throwaway PostgreSQL cluster for the tests, started from Debian's `postgresql` server
//! binaries (`/usr/lib/postgresql/<version>/bin`, or `CHAT_SUPPORT_PG_BIN`): `initdb` and
//! `pg_ctl` in a temporary directory, on a free loopback port, with the socket in that
//! directory and `fsync=off` (tests only). As root, the server runs as the `postgres` user
//! (`runuser`), since PostgreSQL refuses to run as root. One cluster per test binary, stopped
//! when the binary exits; a fresh database per test ([`database`]).
//!
//! Without the binaries a PostgreSQL test prints one line saying it was skipped and how to
//! enable it, and passes — unless `CHAT_SUPPORT_PG_TESTS=required` (set by `.ci/run`), where a
//! missing server fails the test: CI can never pass without running them.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicU32, Ordering},
        Mutex, OnceLock,
    },
};

/// A running cluster (stopped at exit by [`stop_at_exit`]; its directory goes with it).
struct Cluster {
    port: u16,
    _dir: tempfile::TempDir,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
/// The data directory and binaries of the cluster to stop at exit.
static TO_STOP: Mutex<Option<(PathBuf, PathBuf, bool)>> = Mutex::new(None);
static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// The newest server binaries: `CHAT_SUPPORT_PG_BIN`, else `/usr/lib/postgresql/*/bin`.
fn server_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CHAT_SUPPORT_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `program` with `args`, as the `postgres` user when `as_postgres`.
fn run(as_postgres: bool, program: &Path, args: &[&str]) -> Result<(), String> {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {} failed ({}): {}{}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

extern "C" fn stop_at_exit() {
    let Ok(mut guard) = TO_STOP.lock() else {
        return;
    };
    if let Some((bin, data, as_postgres)) = guard.take() {
        let data_s = data.to_string_lossy().into_owned();
        let _ = run(
            as_postgres,
            &bin.join("pg_ctl"),
            &["-D", &data_s, "-m", "immediate", "-w", "stop"],
        );
        // The cluster's directory (a static's TempDir is never dropped).
        if let Some(dir) = data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn start() -> Result<Cluster, String> {
    let bin = server_bin().ok_or_else(|| {
        "no PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin)".to_string()
    })?;
    let as_postgres = is_root();
    let dir = tempfile::Builder::new()
        .prefix("chat-support-pg")
        .tempdir()
        .map_err(|e| format!("creating the cluster's directory: {e}"))?;
    if as_postgres {
        let out = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("chown: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "chown postgres {}: {}",
                dir.path().display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let data = dir.path().join("data");
    let data_s = data.to_string_lossy().into_owned();
    run(
        as_postgres,
        &bin.join("initdb"),
        &[
            "-D",
            &data_s,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )?;
    let port = free_port()?;
    let socket = dir.path().to_string_lossy().into_owned();
    let log = dir.path().join("server.log").to_string_lossy().into_owned();
    let options = format!(
        "-p {port} -k {socket} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=1000"
    );
    if let Ok(mut guard) = TO_STOP.lock() {
        *guard = Some((bin.clone(), data.clone(), as_postgres));
    }
    // SAFETY: registers a plain function to run at process exit.
    unsafe {
        libc::atexit(stop_at_exit);
    }
    run(
        as_postgres,
        &bin.join("pg_ctl"),
        &[
            "-D", &data_s, "-l", &log, "-o", &options, "-t", "60", "-w", "start",
        ],
    )
    .map_err(|e| {
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        format!("{e}\nserver log:\n{server_log}")
    })?;
    Ok(Cluster { port, _dir: dir })
}

/// Whether this machine can run the PostgreSQL tests: the cluster starts (once per test
/// binary), or why not.
///
/// # Errors
/// Why there is no cluster.
pub fn server_available() -> Result<(), String> {
    server_bin().map(|_| ()).ok_or_else(|| {
        "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin".to_string()
    })
}

/// The URL of a new, empty database on this test binary's cluster, or `None` (after printing
/// why) when PostgreSQL tests are skipped here.
///
/// # Panics
/// When the cluster cannot start and `CHAT_SUPPORT_PG_TESTS=required`, or a database cannot
/// be created.
pub async fn database(test: &str) -> Option<String> {
    let required = std::env::var("CHAT_SUPPORT_PG_TESTS").is_ok_and(|v| v == "required");
    let cluster = match CLUSTER.get_or_init(start) {
        Ok(c) => c,
        Err(why) if required => {
            panic!("PostgreSQL tests are required (CHAT_SUPPORT_PG_TESTS=required): {why}")
        }
        Err(why) => {
            // One line per test binary.
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if SAID.swap(true, Ordering::Relaxed) {
                return None;
            }
            eprintln!(
                "PostgreSQL tests skipped (first: {test}): {why}. Install Debian's postgresql \
                 package (or set CHAT_SUPPORT_PG_BIN); CHAT_SUPPORT_PG_TESTS=required makes a skip fail"
            );
            return None;
        }
    };
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test cluster: {e}"));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    drop(client);
    let _ = driver.await;
    Some(format!(
        "postgres://postgres@127.0.0.1:{}/{name}",
        cluster.port
    ))
}
