//! The store: one SQLite file (WAL, foreign keys, versioned migrations) behind a small domain
//! API. One dedicated writer thread owns the write connection; callers hand it jobs over a
//! channel and it runs every job waiting at that moment in one transaction (group commit, each
//! job in its own savepoint), then answers each job only after the commit. Reads run on a small
//! pool of read connections through `spawn_blocking`. rusqlite types never leave this module.

mod agents;
mod csat;
pub mod inspect;
mod queue;
mod read;
mod schema;
pub mod stats;
mod tx;

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, oneshot, Notify};

use crate::{
    desk::Priority,
    domain::{Address, ContactKind, DeliveryStatus, EndedBy, Millis, Sender, State},
};

pub use crate::domain::Identity;
pub use agents::{AgentCredential, AgentRecord, AuditRecord, CannedResponse, Claim, NoteRecord};
pub use csat::SurveyRecord;
pub use read::{
    recent_outbound_payloads, replies_after_wamid, Gauges, ListQuery, OutboxItem, Page,
};
pub use tx::{NewMessage, Tx, EARLY_STATUSES_CAP, EARLY_STATUSES_PRUNE_EVERY};

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

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be used right now: the file cannot be opened or written
    /// (read-only, I/O error) or stays locked. The backend's message is part of this one, so
    /// it is not also the `source()` (printed chains would repeat it).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The disk, or the configured size cap, is full: nothing more can be stored.
    #[error("database full: {0}")]
    Full(String),
    /// The backend refused a statement for another reason: a defect, not the caller's fault.
    #[error("database error: {0}")]
    Internal(String),
    /// The database was written by a newer version of this program.
    #[error("database schema version {found} is newer than this program supports ({supported}); upgrade chat-support")]
    TooNew {
        /// The file's version.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// The transaction holding this job failed to commit; nothing of it was stored.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The writer thread is gone (shutting down).
    #[error("the store is shut down")]
    Closed,
    /// The database file, or a value stored in it, cannot be read back.
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// No conversation for this phone number or BSUID (a read that names one).
    #[error("no conversation for {0}")]
    NotFound(String),
    /// A unique key is taken (an agent's name, a file that must be new); the engine words it
    /// for the caller.
    #[error("{0}")]
    Conflict(String),
    /// A list's page token that this store did not issue.
    #[error("{0}")]
    BadToken(String),
    /// I/O around the database file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Where the data lives: the `--db` value (flag, `CHAT_SUPPORT_DB` or the TOML's `db`), read at
/// start-up. The backend is chosen from it: a file path, `sqlite://PATH` or `sqlite:PATH` is a
/// SQLite database. `postgres://…` and `postgresql://…` name the PostgreSQL backend, which this
/// build does not have yet (issue 16): they are refused with a message saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
}

/// Why a `--db` value names no backend this build has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// A PostgreSQL URL (not repeated: it may hold a password).
    #[error(
        "--db names a PostgreSQL database, but the PostgreSQL backend is not available in this \
         build yet (issue 16); use a SQLite file: a path, sqlite://PATH or sqlite:PATH"
    )]
    PostgresUnavailable,
    /// A URL of another kind.
    #[error(
        "--db: unknown database scheme \"{0}://\"; accepted: a file path, sqlite://PATH or \
         sqlite:PATH (SQLite), postgres://… or postgresql://… (PostgreSQL, not in this build yet)"
    )]
    UnknownScheme(String),
    /// `sqlite:` with nothing after it, or an empty value.
    #[error("--db names no database file; give a path, sqlite://PATH or sqlite:PATH")]
    NoPath,
}

impl Location {
    /// Reads a `--db` value. A value that is not UTF-8 can only be a path.
    ///
    /// # Errors
    /// A PostgreSQL URL (not in this build yet), another `scheme://`, or no path.
    pub fn parse(value: &std::ffi::OsStr) -> Result<Location, LocationError> {
        let Some(text) = value.to_str() else {
            return Ok(Location::Sqlite(PathBuf::from(value)));
        };
        let path = if let Some(rest) = strip_prefix_ignore_case(text, "sqlite://") {
            rest
        } else if let Some(rest) = strip_prefix_ignore_case(text, "sqlite:") {
            rest
        } else if let Some((scheme, _)) = text.split_once("://").filter(|(s, _)| is_scheme(s)) {
            return Err(match scheme.to_ascii_lowercase().as_str() {
                "postgres" | "postgresql" => LocationError::PostgresUnavailable,
                _ => LocationError::UnknownScheme(scheme.to_string()),
            });
        } else {
            text
        };
        if path.is_empty() {
            return Err(LocationError::NoPath);
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }

    /// The database file, beside which the daemon keeps its secrets (`<db>.admin-token`, …).
    pub fn path(&self) -> &Path {
        match self {
            Location::Sqlite(p) => p,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// A URL scheme as RFC 3986 spells it: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRecord {
    /// Row id.
    pub id: i64,
    /// BSUID.
    pub user_id: Option<String>,
    /// Digits.
    pub phone: Option<String>,
    /// WhatsApp username.
    pub username: Option<String>,
    /// WhatsApp profile name.
    pub profile_name: Option<String>,
    /// Name given at registration or import.
    pub registered_name: Option<String>,
    /// Student or lead.
    pub kind: ContactKind,
    /// Conversation state.
    pub state: State,
    /// The seed's `chat_support_active`.
    pub chat_support_active: bool,
    /// The seed's `chat_last_message_time`.
    pub chat_last_message_time: Option<Millis>,
    /// The open (or last) chat session.
    pub current_session_id: Option<i64>,
    /// When the open chat session started.
    pub chat_started_at: Option<Millis>,
    /// Last inbound message (Meta's time).
    pub last_inbound_at: Option<Millis>,
}

impl ContactRecord {
    /// Phone when known, else BSUID.
    pub fn address(&self) -> Address {
        match (&self.phone, &self.user_id) {
            (Some(p), _) => Address::Phone(p.clone()),
            (None, Some(u)) => Address::UserId(u.clone()),
            (None, None) => Address::Phone(String::new()),
        }
    }
}

/// The last message of a conversation, for lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastMessage {
    /// Text or placeholder.
    pub text: String,
    /// Who wrote it.
    pub sender: Sender,
    /// When.
    pub timestamp: Millis,
}

/// One row of the conversations list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Row id of the contact.
    pub contact_id: i64,
    /// Phone digits, when known.
    pub phone: Option<String>,
    /// BSUID, when known.
    pub user_id: Option<String>,
    /// Username, when known.
    pub username: Option<String>,
    /// Registered name, else profile name, else username, else address.
    pub display_name: String,
    /// Student or lead.
    pub kind: ContactKind,
    /// Conversation state.
    pub state: State,
    /// In a chat with support.
    pub chat_active: bool,
    /// Last message.
    pub last_message: Option<LastMessage>,
    /// Messages in the history.
    pub message_count: u32,
    /// Start of the open chat session.
    pub chat_started_at: Option<Millis>,
    /// Oldest user message not yet answered by an agent.
    pub waiting_since: Option<Millis>,
    /// User messages since the last agent message.
    pub unread_count: u32,
    /// Open or last chat session.
    pub chat_session_id: Option<i64>,
    /// Last inbound message time.
    pub last_inbound_at: Option<Millis>,
    /// The agent the chat is assigned to.
    #[serde(default)]
    pub assigned_agent_id: Option<i64>,
    /// Its name.
    #[serde(default)]
    pub assigned_agent: Option<String>,
    /// The chat's priority.
    #[serde(default)]
    pub priority: Priority,
    /// The first agent reply of the open chat; `None` while it waits in the queue.
    #[serde(default)]
    pub first_response_at: Option<Millis>,
}

impl Summary {
    /// Phone when known, else BSUID.
    pub fn address(&self) -> String {
        self.phone
            .clone()
            .or_else(|| self.user_id.clone())
            .unwrap_or_default()
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Row id.
    pub id: i64,
    /// Whose conversation.
    pub contact_id: i64,
    /// The chat session it belongs to, if it was sent during one.
    pub session_id: Option<i64>,
    /// Who wrote it.
    pub sender: Sender,
    /// Cloud API type (`text`, `interactive`, `image`, ...).
    pub kind: String,
    /// Text or placeholder, exactly as sent.
    pub text: String,
    /// Media id for media messages.
    pub media_id: Option<String>,
    /// WhatsApp message id, once known.
    pub wamid: Option<String>,
    /// Meta's time for inbound messages; commit time for outbound ones.
    pub timestamp: Millis,
    /// Delivery status.
    pub status: DeliveryStatus,
    /// Meta's error code when failed.
    pub error_code: Option<i64>,
    /// Meta's error message when failed.
    pub error_message: Option<String>,
    /// The agent who sent it (`None`: the operator, the bot or the user).
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// Its name.
    #[serde(default)]
    pub agent_name: Option<String>,
}

/// What happened, as written to the event log in commit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// A chat session opened.
    ChatStarted {
        /// The session.
        session_id: i64,
    },
    /// A message from anyone was stored.
    MessageAdded {
        /// The message.
        message: MessageRecord,
    },
    /// A chat session closed.
    ChatEnded {
        /// The session.
        session_id: i64,
        /// Who closed it.
        ended_by: EndedBy,
        /// The agent who closed it, if an agent did.
        #[serde(default)]
        agent: Option<String>,
    },
    /// An outbound message's delivery status moved forward.
    DeliveryStatusChanged {
        /// The message.
        message_id: i64,
        /// The new status.
        status: DeliveryStatus,
        /// Meta's error code when failed.
        error_code: Option<i64>,
        /// Meta's error message when failed.
        error_message: Option<String>,
    },
    /// Name, identity or registration changed.
    ContactUpdated,
    /// The chat was claimed, assigned, unassigned, transferred or taken over.
    AssignmentChanged {
        /// The new assignee's name (`None`: unassigned).
        agent: Option<String>,
        /// The previous one's.
        previous: Option<String>,
        /// `claimed`, `assigned`, `unassigned`, `transferred`, `takeover`, `auto_assigned`.
        action: String,
        /// An agent's name, `operator` or `system`.
        by: String,
    },
    /// A private note was added.
    NoteAdded {
        /// The note.
        note: NoteRecord,
    },
    /// The chat's priority changed.
    PriorityChanged {
        /// The new priority.
        priority: Priority,
        /// An agent's name, `operator` or `system`.
        by: String,
    },
    /// A user rated an ended chat session.
    CsatRated {
        /// The rated session.
        session_id: i64,
        /// 1–5.
        rating: u8,
        /// The agent who handled the session.
        agent: Option<String>,
    },
    /// A canned response was saved or deleted (a desk-wide event: no conversation).
    CannedChanged {
        /// The shortcut.
        shortcut: String,
        /// The body as saved; `None` when it was deleted.
        body: Option<String>,
        /// When it was saved.
        updated_at: Millis,
    },
}

/// One committed event with its sequence number and the conversation's summary at that point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Commit order, from 1.
    pub seq: i64,
    /// When it was committed.
    pub at: Millis,
    /// The conversation after the event.
    pub summary: Option<Summary>,
    /// What happened.
    pub kind: EventKind,
}

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Tx<'_>) -> (JobOutcome, Completion) + Send>;

/// How a job went, for the writer: roll back its savepoint, and what it says about the disk.
#[derive(Debug, Clone, Copy)]
struct JobOutcome {
    failed: bool,
    /// Failed because the database cannot be written (disk full, read-only, I/O error).
    storage_fault: bool,
    /// A readiness probe: its success says nothing about real writes.
    probe: bool,
}

/// The error of a write job: a store error converts into it, and it says whether it is one
/// (the writer tells a full or unwritable database apart from a refused request).
pub trait WriteError: From<StoreError> + Send + 'static {
    /// The store's error, when this is one.
    fn store_error(&self) -> Option<&StoreError>;
}

impl WriteError for StoreError {
    fn store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}

/// Whether an error means the database cannot be written at all (rather than a bad request).
fn is_storage_fault(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Full(_)
            | StoreError::Unavailable(_)
            | StoreError::Corrupt(_)
            | StoreError::Commit(_)
            | StoreError::Io(_)
    )
}

/// The most jobs committed together.
const MAX_BATCH: usize = 512;

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
    readers: Arc<ReadPool>,
    events: broadcast::Sender<Arc<StoredEvent>>,
    outbox: Arc<Notify>,
    path: PathBuf,
    writable: Arc<AtomicBool>,
    /// Open `WatchChats` streams per agent id (the operator's are not counted).
    watchers: Watchers,
}

type Watchers = Arc<std::sync::Mutex<std::collections::HashMap<i64, usize>>>;

/// An agent's open `WatchChats` stream, counted while this lives (see [`Store::watching`]).
#[derive(Debug)]
pub struct Watching {
    watchers: Watchers,
    agent_id: i64,
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Ok(mut w) = self.watchers.lock() {
            if let Some(n) = w.get_mut(&self.agent_id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    w.remove(&self.agent_id);
                }
            }
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
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

impl Store {
    /// Opens (creating if needed) the database at `path`, migrates it, and starts the writer
    /// thread. Must be called inside a tokio runtime only for the async methods; opening itself
    /// is blocking.
    ///
    /// # Errors
    /// The file cannot be opened or created, or its schema is newer than this program.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
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
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (events, _) = broadcast::channel(4096);
        let outbox = Arc::new(Notify::new());
        let writable = Arc::new(AtomicBool::new(true));
        let writer = Writer {
            conn,
            events: events.clone(),
            outbox: outbox.clone(),
            writable: writable.clone(),
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(Store {
            jobs,
            readers: Arc::new(ReadPool {
                path: path.to_path_buf(),
                idle: Mutex::new(Vec::new()),
            }),
            events,
            outbox,
            path: path.to_path_buf(),
            watchers: Watchers::default(),
            writable,
        })
    }

    /// Opens the store at `location` with the backend it names (SQLite: [`Store::open`]).
    /// Blocking, like opening itself.
    ///
    /// # Errors
    /// As the backend's open.
    pub fn connect(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::Sqlite(path) => Store::open(path),
        }
    }

    /// False after a write failed because the database cannot be written (disk full,
    /// read-only, I/O error), until a write succeeds again.
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// Caps the database's size (SQLite's `max_page_count`); `None` lifts the cap. Past it,
    /// writes fail as on a full disk.
    ///
    /// # Errors
    /// The database.
    pub async fn set_size_limit(&self, max_bytes: Option<u64>) -> Result<(), StoreError> {
        self.write(move |tx| tx.set_size_limit(max_bytes)).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the writer's next transaction and returns its result once that transaction
    /// is committed. If `f` fails, its savepoint is rolled back and other jobs are unaffected.
    /// `f` may fail with its caller's own error type (the engine's refusals), as long as a
    /// store error converts into it and can be told apart ([`WriteError`]).
    ///
    /// # Errors
    /// What `f` returned, or the commit's failure.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: WriteError,
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        self.submit(f, false).await
    }

    async fn submit<T, E, F>(&self, f: F, probe: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: WriteError,
        F: FnOnce(&Tx<'_>) -> Result<T, E> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |tx: &Tx<'_>| {
            let result = f(tx);
            let outcome = JobOutcome {
                failed: result.is_err(),
                storage_fault: result
                    .as_ref()
                    .err()
                    .and_then(WriteError::store_error)
                    .is_some_and(is_storage_fault),
                probe,
            };
            let completion: Completion = Box::new(move |commit: Result<(), StoreError>| {
                let _ = reply.send(commit.map_err(E::from).and(result));
            });
            (outcome, completion)
        });
        self.jobs
            .send(job)
            .map_err(|_| E::from(StoreError::Closed))?;
        rx.await.map_err(|_| E::from(StoreError::Closed))?
    }

    /// Runs `f` on a read connection off the async runtime.
    ///
    /// # Errors
    /// What `f` returned, or the connection could not be opened.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// Counts an agent as connected (an open `WatchChats` stream) until the guard drops.
    pub fn watching(&self, agent_id: i64) -> Watching {
        if let Ok(mut w) = self.watchers.lock() {
            *w.entry(agent_id).or_insert(0) += 1;
        }
        Watching {
            watchers: self.watchers.clone(),
            agent_id,
        }
    }

    /// How many agents have at least one open `WatchChats` stream.
    pub fn agents_watching(&self) -> usize {
        self.watchers.lock().map_or(0, |w| w.len())
    }

    /// New committed events, live.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }

    /// Woken after every commit that queued outbound messages.
    pub fn outbox_notify(&self) -> Arc<Notify> {
        self.outbox.clone()
    }

    /// Whether the database answers: a read, and a (empty) transaction through the writer.
    ///
    /// # Errors
    /// Either fails.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await?;
        self.submit(|_| Ok::<(), StoreError>(()), true).await?;
        if self.is_writable() {
            Ok(())
        } else {
            Err(StoreError::Commit(
                "the last write failed: the database cannot be written (disk full, read-only or I/O error)".into(),
            ))
        }
    }

    /// Drops event-log entries older than `keep_ms` (a resuming `WatchChats` client older than
    /// that gets a fresh snapshot). Returns how many were removed.
    ///
    /// # Errors
    /// The database.
    pub async fn prune_events(&self, now: Millis, keep_ms: Millis) -> Result<usize, StoreError> {
        self.write(move |tx| tx.prune_events(now - keep_ms)).await
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
    events: broadcast::Sender<Arc<StoredEvent>>,
    outbox: Arc<Notify>,
    writable: Arc<AtomicBool>,
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

    fn commit_batch(&self, batch: Vec<Job>) {
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            tracing::error!(error = %msg, "could not begin a transaction");
            self.writable.store(false, Ordering::Relaxed);
            for job in batch {
                let tx = Tx::new(&self.conn);
                let (_, done) = job(&tx);
                done(Err(StoreError::Commit(msg.clone())));
            }
            return;
        }
        let tx = Tx::new(&self.conn);
        let mut completions = Vec::with_capacity(batch.len());
        let (mut wrote, mut fault) = (false, false);
        for job in batch {
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
        let commit = self.conn.execute_batch("COMMIT");
        match commit {
            Ok(()) => {
                if fault {
                    tracing::error!("a write failed: the database cannot be written (disk full, read-only or I/O error)");
                    self.writable.store(false, Ordering::Relaxed);
                } else if wrote {
                    self.writable.store(true, Ordering::Relaxed);
                }
                let (events, outbox_dirty) = tx.finish();
                for e in events {
                    let _ = self.events.send(Arc::new(e));
                }
                if outbox_dirty {
                    self.outbox.notify_one();
                }
                for done in completions {
                    done(Ok(()));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                tracing::error!(error = %msg, "commit failed");
                self.writable.store(false, Ordering::Relaxed);
                let _ = self.conn.execute_batch("ROLLBACK");
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
