//! The store: one storage interface in domain terms, a backend per folder, chosen at start-up
//! from `--db` ([`Location`]), as atuin does it. This module is the backend-neutral part: the
//! records (`records.rs`), [`StoreError`], the transaction traits a write job sees
//! ([`Tx`], `tx.rs`), the inbox's handle (`inbox.rs`) and [`Store`], the handle every layer
//! above holds. The backends: SQLite (`sqlite/`, the embedded default) and PostgreSQL
//! (`postgres/`, for several daemons on one desk); each is the only code that knows its SQL
//! and its driver.
//!
//! [`Store`] is a handle over the chosen backend, an enum with one variant per backend rather
//! than an `Arc<dyn Backend>`: the many async reads dispatch with one `match` each (written
//! once, by the `reads!` list below) instead of boxing a future per call, and the compiler
//! lists every read a new backend must provide. Writes are backend-neutral jobs: `write(f)`
//! sends a boxed closure over `&dyn Tx` down a channel to the backend's writer, which runs every
//! job waiting in one transaction (group commit, each job in its own savepoint) and answers
//! each only after the commit, then publishes the events the jobs logged and wakes the sender.

pub mod postgres;
mod records;
mod shared;
mod sqlite;
mod tx;

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
};

use tokio::sync::{broadcast, oneshot, Notify};

use crate::domain::{Address, Millis};

pub use crate::domain::Identity;
pub use crate::stats::SessionFacts;
pub use records::*;
mod inbox;
pub use inbox::Inbox;
pub use sqlite::inbox::inbox_path;
pub use sqlite::{backup, inspect};
pub use tx::{
    ConversationTx, DeskTx, InboxTx, NewMessage, QueueTx, SurveyTx, Tx, EARLY_STATUSES_CAP,
    EARLY_STATUSES_PRUNE_EVERY,
};

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
/// SQLite database; `postgres://…` and `postgresql://…` name a PostgreSQL database, which
/// several daemons may share.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres {
        /// `postgres://USER[:PASS]@HOST:PORT/DB[?sslmode=…]`.
        url: String,
        /// Where this daemon keeps the files a SQLite desk keeps beside its database (the
        /// generated admin token, the sandbox's secret): `<secrets>.admin-token`, …
        /// (`./chat-support-postgres` unless set).
        secrets: PathBuf,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => f.debug_tuple("Sqlite").field(p).finish(),
            Location::Postgres { url, secrets } => f
                .debug_struct("Postgres")
                .field("url", &without_password(url))
                .field("secrets", secrets)
                .finish(),
        }
    }
}

/// A PostgreSQL URL as it may be printed: any password replaced by `***`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Why a `--db` value names no backend this build has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// A URL of another kind.
    #[error(
        "--db: unknown database scheme \"{0}://\"; accepted: a file path, sqlite://PATH or \
         sqlite:PATH (SQLite), postgres://… or postgresql://… (PostgreSQL)"
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
    /// Another `scheme://`, or no path.
    pub fn parse(value: &std::ffi::OsStr) -> Result<Location, LocationError> {
        let Some(text) = value.to_str() else {
            return Ok(Location::Sqlite(PathBuf::from(value)));
        };
        let path = if let Some(rest) = strip_prefix_ignore_case(text, "sqlite://") {
            rest
        } else if let Some(rest) = strip_prefix_ignore_case(text, "sqlite:") {
            rest
        } else if let Some((scheme, _)) = text.split_once("://").filter(|(s, _)| is_scheme(s)) {
            return match scheme.to_ascii_lowercase().as_str() {
                "postgres" | "postgresql" => Ok(Location::Postgres {
                    url: text.to_string(),
                    secrets: PathBuf::from("chat-support-postgres"),
                }),
                _ => Err(LocationError::UnknownScheme(scheme.to_string())),
            };
        } else {
            text
        };
        if path.is_empty() {
            return Err(LocationError::NoPath);
        }
        Ok(Location::Sqlite(PathBuf::from(path)))
    }

    /// The database file, beside which the daemon keeps its secrets (`<db>.admin-token`, …);
    /// on PostgreSQL the path those files are named after.
    pub fn path(&self) -> &Path {
        match self {
            Location::Sqlite(p) => p,
            Location::Postgres { secrets, .. } => secrets,
        }
    }

    /// Whether this is a database several daemons may share (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres { .. })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres { url, .. } => write!(f, "{}", without_password(url)),
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

pub(crate) type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write job as the backend's writer runs it: the closure over the open transaction, which
/// says how it went and hands back what answers its caller after the commit.
type Job = Box<dyn FnOnce(&dyn Tx) -> (JobOutcome, Completion) + Send>;

/// How a job went, for the writer: roll back its savepoint, and what it says about the disk.
#[derive(Debug, Clone, Copy)]
struct JobOutcome {
    failed: bool,
    /// Failed because the database cannot be written (disk full, read-only, I/O error).
    storage_fault: bool,
    /// A readiness probe: its success says nothing about real writes.
    probe: bool,
}

/// What a backend's writer reports to after each commit: the live events, the outbound
/// sender's wake-up, and whether the database can be written.
#[derive(Clone)]
struct Hub {
    events: broadcast::Sender<Arc<StoredEvent>>,
    outbox: Arc<Notify>,
    writable: Arc<AtomicBool>,
}

/// The chosen backend's read side.
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::Reads),
    Postgres(postgres::Reads),
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

impl StoreError {
    /// The database cannot be written at all (disk full, read-only, I/O error, failed commit,
    /// shut down), as opposed to one request or one delivery going wrong.
    pub fn is_storage_fault(&self) -> bool {
        matches!(
            self,
            StoreError::Full(_)
                | StoreError::Unavailable(_)
                | StoreError::Corrupt(_)
                | StoreError::Commit(_)
                | StoreError::Io(_)
                | StoreError::Closed
        )
    }
}

/// The most jobs committed together.
const MAX_BATCH: usize = 512;

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    jobs: mpsc::Sender<Job>,
    hub: Hub,
    location: Location,
    /// Open `WatchChats` streams per agent id (the operator's are not counted).
    watchers: Watchers,
    /// Where verified webhooks wait for processing.
    inbox: Inbox,
    /// Whether this daemon leads the desk (processes the inbox, sends, runs the timers):
    /// always on SQLite; on PostgreSQL, the daemon holding the leader's lock.
    leader: Arc<AtomicBool>,
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
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish()
    }
}

impl Store {
    /// Opens the store at `location` with the backend it names, migrating it and starting its
    /// writer. Blocking (call it from `spawn_blocking` inside a runtime); the async methods need
    /// a tokio runtime.
    ///
    /// # Errors
    /// The backend cannot be opened (for SQLite: the file cannot be opened or created, its
    /// directory is missing, or its schema is newer than this program).
    pub fn connect(location: &Location) -> Result<Store, StoreError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let hub = Hub {
            events: broadcast::channel(4096).0,
            outbox: Arc::new(Notify::new()),
            writable: Arc::new(AtomicBool::new(true)),
        };
        let leader = Arc::new(AtomicBool::new(false));
        let (backend, inbox) = match location {
            Location::Sqlite(path) => {
                let (reads, inbox) = sqlite::open(path, rx, hub.clone())?;
                leader.store(true, Ordering::Relaxed);
                (Backend::Sqlite(reads), Inbox::Sqlite(inbox))
            }
            Location::Postgres { url, .. } => {
                let (reads, inbox) = postgres::open(url, rx, hub.clone(), leader.clone())?;
                (Backend::Postgres(reads), Inbox::Postgres(inbox))
            }
        };
        Ok(Store {
            backend,
            jobs,
            hub,
            location: location.clone(),
            watchers: Watchers::default(),
            inbox,
            leader,
        })
    }

    /// The durable inbox beside the database.
    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// Whether this daemon leads the desk: it processes the inbox, sends the outbox and runs
    /// the timers (always, on SQLite; on PostgreSQL one daemon at a time).
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// [`Store::connect`] to the SQLite file at `path`.
    ///
    /// # Errors
    /// As [`Store::connect`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::connect(&Location::Sqlite(path.to_path_buf()))
    }

    /// Gauges for metrics, read at scrape time.
    ///
    /// # Errors
    /// The database.
    pub async fn gauges(&self, now: Millis) -> Result<Gauges, StoreError> {
        let g = match &self.backend {
            Backend::Sqlite(b) => b.gauges(now).await?,
            Backend::Postgres(b) => b.gauges(now).await?,
        };
        let through = self.inbox_processed_through().await?;
        let (pending, oldest) = self.inbox.pending_after(through).await?;
        Ok(Gauges {
            agents_connected: i64::try_from(self.agents_watching()).unwrap_or(i64::MAX),
            inbox_pending: i64::try_from(pending).unwrap_or(i64::MAX),
            inbox_oldest_age_ms: oldest.map_or(0, |t| (now - t).max(0)),
            leader: i64::from(self.is_leader()),
            ..g
        })
    }

    /// False after a write failed because the database cannot be written (disk full,
    /// read-only, I/O error), until a write succeeds again.
    pub fn is_writable(&self) -> bool {
        self.hub.writable.load(Ordering::Relaxed)
    }

    /// Caps the database's size (SQLite's `max_page_count`); `None` lifts the cap. Past it,
    /// writes fail as on a full disk.
    ///
    /// # Errors
    /// The database.
    pub async fn set_size_limit(&self, max_bytes: Option<u64>) -> Result<(), StoreError> {
        self.write(move |tx| tx.set_size_limit(max_bytes)).await?;
        self.inbox.set_size_limit(max_bytes).await
    }

    /// Where the data lives.
    pub fn location(&self) -> &Location {
        &self.location
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
        F: FnOnce(&dyn Tx) -> Result<T, E> + Send + 'static,
    {
        self.submit(f, false).await
    }

    async fn submit<T, E, F>(&self, f: F, probe: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: WriteError,
        F: FnOnce(&dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |tx: &dyn Tx| {
            let result = f(tx);
            let outcome = JobOutcome {
                failed: result.is_err(),
                storage_fault: result
                    .as_ref()
                    .err()
                    .and_then(WriteError::store_error)
                    .is_some_and(StoreError::is_storage_fault),
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
        self.hub.events.subscribe()
    }

    /// Woken after every commit that queued outbound messages.
    pub fn outbox_notify(&self) -> Arc<Notify> {
        self.hub.outbox.clone()
    }

    /// Whether the database answers (a read, and an empty transaction through the writer) and
    /// the last writes committed, the database's and the inbox's.
    ///
    /// # Errors
    /// Either fails.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.ping().await?,
            Backend::Postgres(b) => b.ping().await?,
        }
        self.submit(|_| Ok::<(), StoreError>(()), true).await?;
        if !self.is_writable() {
            return Err(StoreError::Commit(
                "the last write failed: the database cannot be written (disk full, read-only or I/O error)".into(),
            ));
        }
        if !self.inbox.is_writable() {
            return Err(StoreError::Commit(format!(
                "the last webhook could not be stored: the inbox {} cannot be written (disk full, read-only or I/O error)",
                self.inbox.describe()
            )));
        }
        Ok(())
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

/// Whether inbox delivery `inbox_id` is processed, and its error when it was parked instead;
/// read by a program beside the daemon (the simulator, which waits for its delivery's
/// replies). Blocking.
///
/// # Errors
/// The database cannot be opened or read.
pub fn inbox_delivery_done(
    at: &Location,
    inbox_id: i64,
) -> Result<(bool, Option<String>), StoreError> {
    match at {
        Location::Sqlite(p) => sqlite::inbox_delivery_done(p, inbox_id),
        Location::Postgres { url, .. } => postgres::direct::inbox_delivery_done(url, inbox_id),
    }
}

/// The messages the bot or an agent sent after the inbound message `wamid`, up to the user's
/// next message, with their Cloud API bodies (the simulator). Blocking.
///
/// # Errors
/// The database cannot be opened or read.
pub fn replies_after_wamid(
    at: &Location,
    wamid: &str,
) -> Result<Vec<(MessageRecord, Option<String>)>, StoreError> {
    match at {
        Location::Sqlite(p) => sqlite::replies_after_wamid(p, wamid),
        Location::Postgres { url, .. } => postgres::direct::replies_after_wamid(url, wamid),
    }
}

/// The Cloud API bodies most recently queued for a user, newest first (the simulator picks a
/// list's row from them). Blocking.
///
/// # Errors
/// The database cannot be opened or read.
pub fn recent_outbound_payloads(
    at: &Location,
    phone: Option<&str>,
    user_id: Option<&str>,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    match at {
        Location::Sqlite(p) => sqlite::recent_outbound_payloads(p, phone, user_id, limit),
        Location::Postgres { url, .. } => {
            postgres::direct::recent_outbound_payloads(url, phone, user_id, limit)
        }
    }
}

/// The reads every backend provides, each dispatched to the chosen backend. One line per read
/// here is the read half of the storage interface.
macro_rules! reads {
    ($( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    match &self.backend {
                        Backend::Sqlite(b) => b.$name($($arg),*).await,
                        Backend::Postgres(b) => b.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

reads! {
    /// The last inbox row whose effects are stored.
    ///
    /// # Errors
    /// The database.
    fn inbox_processed_through(&self) -> i64;
    /// The parked deliveries, oldest first, at most `limit`, and how many there are in all.
    ///
    /// # Errors
    /// The database.
    fn parked_deliveries(&self, limit: u32) -> (Vec<ParkedDelivery>, u64);
    /// The parked delivery with this inbox id, if there is one.
    ///
    /// # Errors
    /// The database.
    fn parked_delivery(&self, inbox_id: i64) -> Option<ParkedDelivery>;
    /// The addresses of the contacts whose WhatsApp username is `name` (any case): none, one,
    /// or — when Meta gave a username up and another user took it — two (never more are read).
    ///
    /// # Errors
    /// The database.
    fn addresses_by_username(&self, name: &str) -> Vec<Address>;
    /// A page of conversations.
    ///
    /// # Errors
    /// An invalid page token, or the database.
    fn list_conversations(&self, q: ListQuery) -> Page;
    /// A conversation's summary by phone or BSUID.
    ///
    /// # Errors
    /// The database.
    fn find_conversation(&self, address: Address) -> Option<Summary>;
    /// A conversation and one page of its thread (oldest first within the page), with the id
    /// to pass as `before` for the next older page (0 when there is none).
    ///
    /// # Errors
    /// `NotFound` for an unknown contact, or the database.
    fn get_conversation(&self, address: Address, page_size: u32, before: i64) -> (Summary, Vec<MessageRecord>, i64);
    /// Messages of a contact with ids above `after_id`, oldest first.
    ///
    /// # Errors
    /// The database.
    fn messages_after(&self, contact_id: i64, after_id: i64) -> Vec<MessageRecord>;
    /// Committed events after `seq`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The database, or a corrupt payload.
    fn events_after(&self, seq: i64, limit: u32) -> Vec<StoredEvent>;
    /// The oldest sequence number still in the event log, and the newest (0, 0 when empty).
    ///
    /// # Errors
    /// The database.
    fn event_bounds(&self) -> (i64, i64);
    /// The outbox rows that may be attempted now: for each recipient only its oldest open row
    /// (so a user's messages go out in order), oldest first.
    ///
    /// # Errors
    /// The database.
    fn due_outbox(&self, now: Millis, limit: u32) -> Vec<OutboxItem>;
    /// When the next row that [`due_outbox`](Self::due_outbox) can return becomes due, if any:
    /// only each recipient's oldest open row counts, and only while it waits (a row in flight,
    /// or a later row queued behind one, is not due; counting them made the sender poll).
    ///
    /// # Errors
    /// The database.
    fn next_outbox_due(&self) -> Option<Millis>;
    /// Every active chat (ordered as the list) and the last event sequence they reflect, read
    /// in one snapshot so a stream can continue exactly after it.
    ///
    /// # Errors
    /// The database.
    fn active_snapshot(&self) -> (Vec<Summary>, i64);
    /// A conversation's newest 500 activity entries (its audit trail without the messages
    /// and notes, which the thread shows itself), oldest first.
    ///
    /// # Errors
    /// The database.
    fn activity(&self, contact_id: i64) -> Vec<AuditRecord>;
    /// The agent called `name` (any case), enabled or not.
    ///
    /// # Errors
    /// The database.
    fn agent_named(&self, name: &str) -> Option<AgentRecord>;
    /// Every agent, by name.
    ///
    /// # Errors
    /// The database.
    fn list_agents(&self) -> Vec<AgentRecord>;
    /// Every agent's token hash, for the auth check.
    ///
    /// # Errors
    /// The database, or a stored hash of the wrong size.
    fn agent_credentials(&self) -> Vec<AgentCredential>;
    /// An agent by id.
    ///
    /// # Errors
    /// The database (or no such agent).
    fn agent(&self, id: i64) -> AgentRecord;
    /// Canned responses, all of them or the one with `shortcut`.
    ///
    /// # Errors
    /// The database.
    fn canned_responses(&self, shortcut: Option<String>) -> Vec<CannedResponse>;
    /// A conversation's private notes (the newest 500, oldest first).
    ///
    /// # Errors
    /// The database.
    fn notes(&self, contact_id: i64) -> Vec<NoteRecord>;
    /// A page of a conversation's audit trail, newest first, with the id to pass as `before`
    /// for the next page (0 at the end).
    ///
    /// # Errors
    /// `NotFound` contact, or the database.
    fn audit_trail(&self, address: Address, page_size: u32, before: i64) -> (Vec<AuditRecord>, i64);
    /// A contact's surveys, newest first (at most `limit`).
    ///
    /// # Errors
    /// The database.
    fn surveys(&self, contact_id: i64, limit: u32) -> Vec<SurveyRecord>;
    /// Sessions that started or ended in `[from, to)`, oldest start first; with `agent`, only
    /// the sessions that agent took part in (wrote in, or ended).
    ///
    /// # Errors
    /// The database.
    fn session_facts(&self, from: Millis, to: Millis, agent: Option<i64>) -> Vec<SessionFacts>;
    /// Open chats waiting for their first agent reply, now.
    ///
    /// # Errors
    /// The database.
    fn waiting_now(&self) -> u32;
}

/// The tables of a desk, parents before children (foreign keys hold at every step of a copy):
/// what `bot-daemon migrate` reads from one backend and writes into the other, with the inbox's
/// waiting deliveries after them (table `inbox`).
pub(crate) const DESK_TABLES: &[&str] = &[
    "agents",
    "contacts",
    "chat_sessions",
    "messages",
    "outbox",
    "processed_updates",
    "early_statuses",
    "events",
    "notes",
    "canned_responses",
    "audit",
    "csat_surveys",
    "inbox_state",
    "inbox_parked",
];

/// What `bot-daemon migrate` copied: each table's rows as read from the SQLite desk and as the
/// PostgreSQL database holds them after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// (table, rows read, rows in PostgreSQL), in copy order.
    pub tables: Vec<(String, u64, u64)>,
}

/// Copies the SQLite desk at `from` (live or stopped: one consistent snapshot, plus the
/// deliveries still waiting in its inbox) into the empty PostgreSQL database at `to`, migrating
/// it first, and checks every table's count afterwards.
///
/// # Errors
/// Either database, a target that is not empty ([`StoreError::Conflict`]), or counts that
/// differ after the copy ([`StoreError::Corrupt`]; the copy is committed, and the report says
/// which table).
pub async fn copy_sqlite_to_postgres(from: &Path, to: &str) -> Result<CopyReport, StoreError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<CopyItem>(8);
    let from = from.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        // The writing side stopped (it says why): `Closed` tells the two apart below.
        let stopped = || StoreError::Closed;
        let counts = sqlite::export::export(&from, |chunk| {
            tx.blocking_send(CopyItem::Rows(chunk))
                .map_err(|_| stopped())
        })?;
        tx.blocking_send(CopyItem::Done).map_err(|_| stopped())?;
        Ok::<_, StoreError>(counts)
    });
    let written = postgres::import(to, rx).await;
    let read = reader
        .await
        .map_err(|e| StoreError::Internal(format!("reading the SQLite desk failed: {e}")))?;
    let (written, read) = match (written, read) {
        (Ok(w), Ok(r)) => (w, r),
        // The writing side stopped first (a target that is not empty, the server): its error.
        (Err(w), Err(StoreError::Closed)) | (Err(w), Ok(_)) => return Err(w),
        // Otherwise the reading side's failure is the cause (the writer saw the copy end early).
        (_, Err(r)) => return Err(r),
    };
    let mut tables = Vec::new();
    let mut wrong = Vec::new();
    for (table, n) in read {
        let in_pg = written
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, m)| *m);
        if in_pg != n {
            wrong.push(format!("{table}: {n} read, {in_pg} in PostgreSQL"));
        }
        tables.push((table, n, in_pg));
    }
    if !wrong.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "the copy's counts differ: {}",
            wrong.join("; ")
        )));
    }
    Ok(CopyReport { tables })
}
