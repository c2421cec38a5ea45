//! The SQLite backend: one file (WAL, foreign keys, `PRAGMA user_version` migrations), the only
//! code that knows SQL or rusqlite. One dedicated writer thread owns the write connection: it
//! takes every job waiting on the store's channel at that moment and runs them in one
//! `BEGIN IMMEDIATE … COMMIT` (group commit, `synchronous=FULL`), each job in its own savepoint
//! so a failing job rolls back alone, and only after the commit answers the jobs, publishes the
//! events they logged and wakes the outbound sender. Reads run on a small pool of read-only
//! connections through `spawn_blocking` ([`Reads`]). rusqlite's errors become [`StoreError`]s
//! here; no rusqlite type leaves this folder.
//!
//! One file per area implements the transaction traits of [`crate::storage::Tx`] on
//! [`SqliteTx`] and the reads the store handle dispatches to: `tx.rs` (conversations, outbox,
//! statuses, events), `agents.rs` (the desk), `csat.rs` (surveys), `queue.rs` (the queue and the
//! timers), `read.rs` (lists, threads, the event log, gauges), `stats.rs`; `schema.rs` holds the
//! migrations and `inspect.rs` a read-only look at a database file for tests and operators.

mod agents;
mod csat;
pub(super) mod export;
pub(super) mod inbox;
pub mod inspect;
mod parked;
mod queue;
mod read;
mod schema;
mod stats;
mod tx;

use std::{
    path::{Path, PathBuf},
    sync::{atomic::Ordering, mpsc, Arc, Mutex},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

pub(super) use read::{inbox_delivery_done, recent_outbound_payloads, replies_after_wamid};
pub(crate) use tx::SqliteTx;

use super::{Hub, Job, StoreError, MAX_BATCH};

/// SQLite's errors in the store's own terms: no `rusqlite` type leaves the backend.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode::*;
        let message = e.to_string();
        match e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                DiskFull => StoreError::Full(message),
                ReadOnly
                | SystemIoFailure
                | CannotOpen
                | DatabaseBusy
                | DatabaseLocked
                | PermissionDenied
                | FileLockingProtocolFailed => StoreError::Unavailable(message),
                DatabaseCorrupt | NotADatabase => StoreError::Corrupt(message),
                _ => StoreError::Internal(message),
            },
            _ => StoreError::Internal(message),
        }
    }
}

/// Why a batch's jobs failed when SQLite rolled its transaction back by itself.
const ROLLED_BACK: &str = "the database cannot be written (disk full, read-only or I/O error): \
                           SQLite rolled the transaction back";

/// Pages of WAL after which a commit checkpoints it into the database file.
pub(super) const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

/// Turns off SQLite's memory statistics, once, before its first connection: with them on, every
/// allocation SQLite makes takes a process-wide mutex (6.5% of the writer's samples at
/// saturation in `pthread_mutex_lock`/`unlock`, docs/benchmarks.md). Nothing here reads them.
/// Once SQLite is initialised the call is refused (`SQLITE_MISUSE`), which changes nothing.
fn no_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` with SQLITE_CONFIG_MEMSTATUS takes one int; it only
        // refuses (returns an error code) once SQLite has been initialised.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                std::ffi::c_int::from(0u8),
            )
        };
        tracing::debug!(rc, "SQLite memory statistics off");
    });
}

/// Prepared statements kept per connection. rusqlite keeps 16 by default; the writer alone runs
/// over 60 distinct statements per batch, so with 16 it parsed and planned most of them again
/// on every use (SQLite's parser in the writer's profile at saturation).
const STATEMENT_CACHE: usize = 256;

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Before SQLite opens `path`: its directory must exist (a mistyped `--db` is refused, not
/// silently created), and a new database file is created mode 0600 whatever the umask, since it
/// holds every message; SQLite gives the `-wal` and `-shm` files the database file's mode. An
/// existing file keeps its mode, with a warning when other users can read it.
fn prepare_file(path: &Path) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "the database's directory {} does not exist (or is not a directory); create it, \
                 or point --db / [storage] at an existing one",
                dir.display()
            ),
        )));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(file) => {
            #[cfg(unix)]
            {
                // `mode` is filtered by the umask, which may only take bits away from 0600.
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            drop(file);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let meta = std::fs::metadata(path)?;
                let mode = meta.permissions().mode() & 0o777;
                if meta.is_file() && mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{mode:o}"),
                        "the database file is readable by other users; it holds every message: \
                         run `chmod 600` on it and its -wal and -shm files"
                    );
                }
            }
            Ok(())
        }
        Err(e) => Err(StoreError::Io(std::io::Error::new(
            e.kind(),
            format!("creating the database file {}: {e}", path.display()),
        ))),
    }
}

/// Opens (creating if needed) the database at `path`, migrates it, and starts the writer thread
/// on `jobs`; the writer reports commits through `hub`. Blocking.
///
/// # Errors
/// The file cannot be opened or created, or its schema is newer than this program.
pub(super) fn open(
    path: &Path,
    jobs: mpsc::Receiver<Job>,
    hub: Hub,
) -> Result<(Reads, inbox::Inbox), StoreError> {
    no_memory_statistics();
    prepare_file(path)?;
    let mut conn = Connection::open(path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "could not switch {} to WAL mode (got {mode})",
            path.display()
        )));
    }
    // FULL: a commit is on disk before the webhook is answered.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Each job runs in a savepoint, whose sub-journal (a copy of every page the job touches)
    // otherwise spills to a temporary file: ~11% of the daemon's CPU in write(2) at
    // saturation (docs/benchmarks.md). In memory it is freed at each RELEASE; durability is
    // unaffected (the WAL and its fsync are).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The WAL is copied back into the database every 10,000 pages (~40 MiB) instead of
    // SQLite's 1,000: at saturation that was a checkpoint ~20 times a second, each one copying
    // and fsyncing pages (a contact's row, the indexes' pages) that the next batches rewrite
    // anyway. Fewer, larger checkpoints copy each hot page once: ~10% more messages processed
    // per second and ~10% fewer bytes written per message (docs/benchmarks.md, issue 15).
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    configure(&conn)?;
    schema::migrate(&mut conn)?;
    let processed_through: i64 = conn.query_row(
        "SELECT processed_through FROM inbox_state WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    let inbox = inbox::Inbox::open(&inbox::inbox_path(path), processed_through)?;
    let writer = Writer { conn, hub };
    std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || writer.run(jobs))?;
    Ok((
        Reads {
            pool: Arc::new(ReadPool {
                path: path.to_path_buf(),
                idle: Mutex::new(Vec::new()),
            }),
        },
        inbox,
    ))
}

/// The read side: a pool of read-only connections, used off the async runtime.
#[derive(Clone)]
pub(super) struct Reads {
    pool: Arc<ReadPool>,
}

impl Reads {
    /// Runs `f` on a read connection off the async runtime.
    ///
    /// # Errors
    /// What `f` returned, or the connection could not be opened.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// Whether a read answers.
    ///
    /// # Errors
    /// The database.
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }
}

struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match self.idle.lock().ok().and_then(|mut v| v.pop()) {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&c)?;
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < 8 {
                idle.push(conn);
            }
        }
        out
    }
}

struct Writer {
    conn: Connection,
    hub: Hub,
}

impl Writer {
    fn run(self, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(j) => batch.push(j),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
        tracing::debug!("sqlite writer stopped");
    }

    /// Fails `job` with `why` without writing anything: it runs with the connection read-only
    /// (outside a transaction its writes would otherwise each commit on their own), so only its
    /// completion comes out of it.
    fn discard(&self, job: Job, why: &str) {
        let _ = self.conn.execute_batch("PRAGMA query_only = ON");
        let tx = SqliteTx::new(&self.conn);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&tx)));
        let _ = self.conn.execute_batch("PRAGMA query_only = OFF");
        if let Ok((_, done)) = outcome {
            done(Err(StoreError::Commit(why.to_string())));
        }
    }

    fn commit_batch(&self, batch: Vec<Job>) {
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            tracing::error!(error = %msg, "could not begin a transaction");
            self.hub.writable.store(false, Ordering::Relaxed);
            for job in batch {
                self.discard(job, &msg);
            }
            return;
        }
        let tx = SqliteTx::new(&self.conn);
        let mut completions = Vec::with_capacity(batch.len());
        let (mut wrote, mut fault) = (false, false);
        for job in batch {
            if self.conn.is_autocommit() {
                // SQLite rolled the transaction back by itself (a full disk, an I/O error):
                // the jobs left must not run outside it, one autocommit at a time.
                self.discard(job, ROLLED_BACK);
                continue;
            }
            let mark = tx.mark();
            let savepoint = self.conn.execute_batch("SAVEPOINT job");
            // A bug in one job must not take the writer (and every later write) down with it:
            // its savepoint is rolled back and its caller sees the store error.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&tx)));
            let (failed, done) = match outcome {
                Ok((o, done)) => {
                    fault |= o.storage_fault;
                    wrote |= !o.failed && !o.probe;
                    (o.failed, Some(done))
                }
                Err(_) => {
                    tracing::error!("a store job panicked; its changes were rolled back");
                    (true, None)
                }
            };
            if failed || savepoint.is_err() {
                let _ = self.conn.execute_batch("ROLLBACK TO job");
                tx.reset_to(mark);
            }
            let _ = self.conn.execute_batch("RELEASE job");
            completions.extend(done);
        }
        // Each event carries its conversation as the batch leaves it: one read per contact
        // touched, not one per event.
        if let Err(e) = tx.fill_summaries() {
            tracing::error!(error = %e, "reading the summaries of this batch's events");
        }
        // A full disk or an I/O error can make SQLite roll the whole transaction back by
        // itself: then there is nothing to commit, and every job of the batch failed.
        let commit = if self.conn.is_autocommit() {
            Err(ROLLED_BACK.to_string())
        } else {
            self.conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        };
        match commit {
            Ok(()) => {
                if fault {
                    tracing::error!("a write failed: the database cannot be written (disk full, read-only or I/O error)");
                    self.hub.writable.store(false, Ordering::Relaxed);
                } else if wrote {
                    self.hub.writable.store(true, Ordering::Relaxed);
                }
                let (events, outbox_dirty) = tx.finish();
                for e in events {
                    let _ = self.hub.events.send(Arc::new(e));
                }
                if outbox_dirty {
                    self.hub.outbox.notify_one();
                }
                for done in completions {
                    done(Ok(()));
                }
            }
            Err(msg) => {
                tracing::error!(error = %msg, "commit failed");
                self.hub.writable.store(false, Ordering::Relaxed);
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                for done in completions {
                    done(Err(StoreError::Commit(msg.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

/// Copies the live database at `db` to a new file `dest` with SQLite's online backup API: a
/// consistent snapshot of everything committed, taken while the daemon keeps serving. Refuses
/// to overwrite an existing file. Returns the number of pages copied.
///
/// # Errors
/// `dest` exists, or either database cannot be opened, copied or checked.
pub fn backup(db: &Path, dest: &Path) -> Result<i32, StoreError> {
    if dest.exists() {
        return Err(StoreError::Conflict(format!(
            "{} already exists; choose a new file",
            dest.display()
        )));
    }
    let src = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    src.busy_timeout(Duration::from_secs(10))?;
    let mut out = Connection::open(dest)?;
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut out)?;
        // All pages in one step (-1): one read transaction, so the copy is one consistent
        // snapshot; a busy source is retried.
        let mut tries = 0;
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                _ if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    return Err(StoreError::Unavailable(
                        "it stayed busy; backup not taken".into(),
                    ))
                }
            }
        }
    }
    let check: String = out.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::Corrupt(format!(
            "the backup failed its integrity check: {check}"
        )));
    }
    Ok(out.query_row("PRAGMA page_count", [], |r| r.get(0))?)
}
