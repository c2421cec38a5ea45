//! The durable inbox: every verified webhook body, appended to its own SQLite file
//! (`<db>.inbox`, WAL, `synchronous=FULL`) by its own writer thread, before the webhook is
//! answered. Appends are group-committed: every body waiting when the writer wakes goes in one
//! transaction and one fsync, so acknowledging never waits behind the processing of earlier
//! messages, which runs in the main database's writer.
//!
//! Why a file of its own: SQLite has one writer per file, and the processing transactions are
//! long (many messages each); sharing the file would put every acknowledgement behind them.
//! Exactly-once processing does not need both files in one transaction: the main database keeps
//! the id of the last processed row (`inbox_state.processed_through`, advanced in the same
//! transaction as the effects), rows at or below it are never processed again, and they are
//! deleted from the inbox later, lazily. Row ids never go back (`AUTOINCREMENT`, and on opening,
//! the sequence is raised to the main database's watermark if an inbox file was lost).

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicI64, Ordering},
        mpsc, Arc, Mutex,
    },
    time::Duration,
};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::{oneshot, Notify};

use crate::{
    domain::Millis,
    storage::{InboxRow, StoreError},
};

/// The inbox file that goes with the database at `db`: `<db>.inbox`.
pub fn inbox_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".inbox");
    PathBuf::from(name)
}

/// A body waiting for the next commit, with whom to tell its id.
type Pending = (
    bytes::Bytes,
    Millis,
    oneshot::Sender<Result<i64, StoreError>>,
);

/// Processed rows wait at most this long for an append's transaction to delete them.
const TIDY_AFTER: Duration = Duration::from_millis(500);

/// The most bodies appended in one transaction.
const MAX_APPEND_BATCH: usize = 2048;

enum Job {
    Append {
        body: bytes::Bytes,
        received_at: Millis,
        reply: oneshot::Sender<Result<i64, StoreError>>,
    },
    SizeLimit {
        pages: i64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// A handle on the inbox; cheap to clone.
#[derive(Clone)]
pub struct Inbox {
    jobs: mpsc::Sender<Job>,
    reader: Arc<Mutex<Option<Connection>>>,
    path: PathBuf,
    appended: Arc<Notify>,
    last_id: Arc<AtomicI64>,
    release_through: Arc<AtomicI64>,
    /// Whether the last append's commit succeeded (a full disk, a read-only file or an I/O
    /// error turns it false until an append commits again).
    writable: Arc<AtomicBool>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").field("path", &self.path).finish()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    body        BLOB NOT NULL
);
";

impl Inbox {
    /// Opens (creating if needed) the inbox at `path`; `processed_through` is the main
    /// database's watermark, below which no new id may ever be handed out.
    pub(crate) fn open(path: &Path, processed_through: i64) -> Result<Inbox, StoreError> {
        super::prepare_file(path)?;
        let conn = Connection::open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Internal(format!(
                "could not switch {} to WAL mode (got {mode})",
                path.display()
            )));
        }
        // FULL: an acknowledged body is on disk (fsync on every commit).
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Checkpointed as rarely as the database (every 10,000 pages): a checkpoint runs inside
        // an append's commit, which every acknowledgement waiting on it pays for.
        conn.pragma_update(None, "wal_autocheckpoint", super::WAL_AUTOCHECKPOINT_PAGES)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        // Make sure `sqlite_sequence` has our row, then never hand out an id at or below the
        // watermark (an inbox file deleted or restored from an older copy).
        let seq: i64 = conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'inbox'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if seq < processed_through {
            let pending: i64 = conn.query_row("SELECT COUNT(*) FROM inbox", [], |r| r.get(0))?;
            if pending > 0 {
                return Err(StoreError::Corrupt(format!(
                    "the inbox {} is older than the database (its last delivery is {seq}, the \
                     database processed up to {processed_through}) and still holds {pending} \
                     deliveries: restore the inbox that goes with this database, or move it away \
                     to start an empty one",
                    path.display()
                )));
            }
            conn.execute("DELETE FROM sqlite_sequence WHERE name = 'inbox'", [])?;
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('inbox', ?1)",
                [processed_through],
            )?;
        }
        let last: i64 = conn.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM inbox), 0), ?1)",
            [processed_through],
            |r| r.get(0),
        )?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let appended = Arc::new(Notify::new());
        let last_id = Arc::new(AtomicI64::new(last));
        let release_through = Arc::new(AtomicI64::new(processed_through));
        let writable = Arc::new(AtomicBool::new(true));
        let writer = Writer {
            conn,
            appended: appended.clone(),
            last_id: last_id.clone(),
            release_through: release_through.clone(),
            released: 0,
            writable: writable.clone(),
        };
        std::thread::Builder::new()
            .name("inbox-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(Inbox {
            jobs,
            reader: Arc::new(Mutex::new(None)),
            path: path.to_path_buf(),
            appended,
            last_id,
            release_through,
            writable,
        })
    }

    /// Whether the last append committed: false from a failed commit (full, read-only, I/O
    /// error) until the next one that succeeds. Appends are still attempted meanwhile.
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// Where the inbox lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `body` and returns its id once it is on disk.
    ///
    /// # Errors
    /// The inbox cannot be written (full, read-only, I/O error) or is shut down.
    pub async fn append(&self, body: bytes::Bytes, received_at: Millis) -> Result<i64, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Append {
                body,
                received_at,
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Woken after every commit that appended something.
    pub fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    /// The newest id handed out (0 when none ever was).
    pub fn last_id(&self) -> i64 {
        self.last_id.load(Ordering::Acquire)
    }

    /// Says that every row up to `id` is processed: the writer deletes them with the next
    /// appends, or after [`TIDY_AFTER`] without any (they are never read again either way).
    pub fn release_through(&self, id: i64) {
        self.release_through.fetch_max(id, Ordering::AcqRel);
    }

    /// Caps the inbox's size like the main database's (see `Store::set_size_limit`): at most
    /// `max_bytes` (never below what it holds now), `None` lifts the cap.
    pub(crate) async fn set_size_limit(&self, max_bytes: Option<u64>) -> Result<(), StoreError> {
        // The inbox's pages are SQLite's default 4 KiB.
        let pages = match max_bytes {
            Some(b) => (b / 4096).max(1) as i64,
            None => 4_294_967_294,
        };
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::SizeLimit { pages, reply })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Up to `limit` rows after `after`, oldest first.
    ///
    /// # Errors
    /// The inbox cannot be read.
    pub async fn read_after(&self, after: i64, limit: usize) -> Result<Vec<InboxRow>, StoreError> {
        self.with_reader(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, received_at, body FROM inbox WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit as i64], |r| {
                Ok(InboxRow {
                    id: r.get(0)?,
                    received_at: r.get(1)?,
                    body: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// How many rows after `after` are waiting, and when the oldest of them arrived.
    ///
    /// # Errors
    /// The inbox cannot be read.
    pub async fn pending_after(&self, after: i64) -> Result<(u64, Option<Millis>), StoreError> {
        self.with_reader(move |c| {
            let oldest: Option<Millis> = c
                .prepare_cached("SELECT received_at FROM inbox WHERE id > ?1 ORDER BY id LIMIT 1")?
                .query_row([after], |r| r.get(0))
                .optional()?;
            let count: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM inbox WHERE id > ?1")?
                .query_row([after], |r| r.get(0))?;
            Ok((count.max(0) as u64, oldest))
        })
        .await
    }

    async fn with_reader<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reader, path) = (self.reader.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            let mut slot = reader
                .lock()
                .map_err(|_| StoreError::Internal("the inbox reader panicked".into()))?;
            if slot.is_none() {
                let c = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(Duration::from_secs(10))?;
                *slot = Some(c);
            }
            match slot.as_ref() {
                Some(c) => f(c),
                None => Err(StoreError::Internal("no inbox reader".into())),
            }
        })
        .await
        .map_err(|e| StoreError::Internal(format!("inbox read task failed: {e}")))?
    }
}

struct Writer {
    conn: Connection,
    appended: Arc<Notify>,
    last_id: Arc<AtomicI64>,
    release_through: Arc<AtomicI64>,
    /// Rows up to here are deleted.
    released: i64,
    writable: Arc<AtomicBool>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        loop {
            // Processed rows are deleted in the next append's transaction; only when no append
            // comes for a while do they get a commit (and an fsync) of their own, so deleting
            // never adds a commit to the acknowledgements' path.
            let first = match rx.recv_timeout(TIDY_AFTER) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.commit(Vec::new());
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut appends = Vec::new();
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Append {
                        body,
                        received_at,
                        reply,
                    } => appends.push((body, received_at, reply)),
                    Job::SizeLimit { pages, reply } => {
                        let r = self
                            .conn
                            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                            .map_err(StoreError::from);
                        let _ = reply.send(r);
                    }
                }
                if appends.len() < MAX_APPEND_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.commit(appends);
            }
        }
        tracing::debug!("inbox writer stopped");
    }

    /// One transaction: the appends, and the deletion of what was processed since last time.
    fn commit(&mut self, appends: Vec<Pending>) {
        let release = self.release_through.load(Ordering::Acquire);
        if appends.is_empty() && release <= self.released {
            return;
        }
        let result = (|| -> Result<Vec<i64>, StoreError> {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            let mut ids = Vec::with_capacity(appends.len());
            {
                let mut insert = self
                    .conn
                    .prepare_cached("INSERT INTO inbox (received_at, body) VALUES (?1, ?2)")?;
                for (body, at, _) in &appends {
                    insert.execute(params![at, body.as_ref()])?;
                    ids.push(self.conn.last_insert_rowid());
                }
            }
            if release > self.released {
                self.conn
                    .prepare_cached("DELETE FROM inbox WHERE id <= ?1")?
                    .execute([release])?;
            }
            self.conn.execute_batch("COMMIT")?;
            Ok(ids)
        })();
        match result {
            Ok(ids) => {
                self.writable.store(true, Ordering::Relaxed);
                self.released = self.released.max(release);
                if let Some(last) = ids.last() {
                    self.last_id.fetch_max(*last, Ordering::AcqRel);
                }
                let any = !ids.is_empty();
                for ((_, _, reply), id) in appends.into_iter().zip(ids) {
                    let _ = reply.send(Ok(id));
                }
                if any {
                    self.appended.notify_one();
                }
            }
            Err(e) => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                let message = e.to_string();
                tracing::error!(error = %message, "inbox append failed");
                self.writable.store(false, Ordering::Relaxed);
                for (_, _, reply) in appends {
                    let _ = reply.send(Err(match &e {
                        StoreError::Full(m) => StoreError::Full(m.clone()),
                        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
                        _ => StoreError::Commit(message.clone()),
                    }));
                }
            }
        }
    }
}
