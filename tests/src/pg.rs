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
    let (port, dir) = init_and_start(&bin, as_postgres, false, |data| {
        if let Ok(mut guard) = TO_STOP.lock() {
            *guard = Some((bin.clone(), data.to_path_buf(), as_postgres));
        }
        // SAFETY: registers a plain function to run at process exit.
        unsafe {
            libc::atexit(stop_at_exit);
        }
    })?;
    Ok(Cluster { port, _dir: dir })
}

/// `initdb` and `pg_ctl start` in a new temporary directory; `durable` keeps PostgreSQL's
/// defaults (`fsync`, `synchronous_commit`, `full_page_writes` on), else they are off (tests).
/// `before_start` sees the data directory before the server starts.
fn init_and_start(
    bin: &Path,
    as_postgres: bool,
    durable: bool,
    before_start: impl FnOnce(&Path),
) -> Result<(u16, tempfile::TempDir), String> {
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
    let speed = if durable {
        ""
    } else {
        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
    };
    // In the cluster's own configuration file, so a restart ([`restart_server`]) keeps it.
    let settings = format!(
        "\nport = {port}\nunix_socket_directories = '{socket}'\nlisten_addresses = '127.0.0.1'\n\
         max_connections = 1000\n{speed}"
    );
    {
        use std::io::Write;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(|e| format!("opening postgresql.conf: {e}"))?;
        conf.write_all(settings.as_bytes())
            .map_err(|e| format!("writing postgresql.conf: {e}"))?;
    }
    before_start(&data);
    pg_ctl_start(bin, as_postgres, &data)?;
    Ok((port, dir))
}

fn pg_ctl_start(bin: &Path, as_postgres: bool, data: &Path) -> Result<(), String> {
    let data_s = data.to_string_lossy().into_owned();
    let log = data
        .parent()
        .unwrap_or(data)
        .join("server.log")
        .to_string_lossy()
        .into_owned();
    run(
        as_postgres,
        &bin.join("pg_ctl"),
        &["-D", &data_s, "-l", &log, "-t", "60", "-w", "start"],
    )
    .map_err(|e| {
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        format!("{e}\nserver log:\n{server_log}")
    })
}

/// Stops this test binary's cluster (`pg_ctl stop -m fast`: sessions are cut, as when the
/// server restarts under the daemons), for a drill; [`start_server`] starts it again on the
/// same port with the same data.
///
/// # Panics
/// No cluster was started, or it does not stop.
pub fn stop_server() {
    let guard = TO_STOP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (bin, data, as_postgres) = guard.as_ref().expect("a cluster to stop");
    let data_s = data.to_string_lossy().into_owned();
    run(
        *as_postgres,
        &bin.join("pg_ctl"),
        &["-D", &data_s, "-m", "fast", "-w", "stop"],
    )
    .unwrap_or_else(|e| panic!("stopping the test cluster: {e}"));
}

/// Starts the cluster [`stop_server`] stopped.
///
/// # Panics
/// It does not start.
pub fn start_server() {
    let guard = TO_STOP
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (bin, data, as_postgres) = guard.as_ref().expect("a cluster to start");
    pg_ctl_start(bin, *as_postgres, data)
        .unwrap_or_else(|e| panic!("starting the test cluster again: {e}"));
}

/// A cluster of its own with PostgreSQL's durable defaults (`fsync` on), for the benchmark
/// harness; stopped (and its directory removed) when dropped.
pub struct DurableCluster {
    /// Its loopback port.
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
    dir: tempfile::TempDir,
}

impl DurableCluster {
    /// Starts one.
    ///
    /// # Errors
    /// No server binaries, or the server did not start.
    pub fn start() -> Result<DurableCluster, String> {
        let bin = server_bin().ok_or_else(|| {
            "no PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin)".to_string()
        })?;
        let as_postgres = is_root();
        let (port, dir) = init_and_start(&bin, as_postgres, true, |_| {})?;
        Ok(DurableCluster {
            port,
            bin,
            as_postgres,
            dir,
        })
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    #[must_use]
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's major version and settings line, for a report.
    #[must_use]
    pub fn describe(&self) -> String {
        let version = Command::new(self.bin.join("postgres"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        format!("{version}, fsync on, synchronous_commit on, full_page_writes on")
    }
}

impl Drop for DurableCluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        let _ = run(
            self.as_postgres,
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "fast", "-w", "stop"],
        );
    }
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
