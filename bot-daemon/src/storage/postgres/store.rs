//! The PostgreSQL store at run time: the writer thread (group commit, as SQLite's: every job
//! waiting in one transaction, each in its own savepoint, answered only after the COMMIT), the
//! read pool, the follower that publishes what other daemons committed, and the desk's leader.
//!
//! - **Events in commit order.** A transaction that logged events takes their numbers from the
//!   one-row `event_seq` as its last statement before COMMIT; the row stays locked until the
//!   commit, so numbers are dense and a reader that sees event n sees every event before it.
//!   We chose this single sequencer over `xid8`/`pg_snapshot_xmin`: the sequence number stays
//!   the one cursor `WatchChats` resumes from on either backend, and only the tail of
//!   transactions that logged events (one per writer batch) is serialised across daemons.
//! - **Live events across daemons.** Each commit that logged events sends `NOTIFY` (a wake-up
//!   only, no payload); every daemon's follower then reads the events table after the last
//!   number it published, so a notification lost while disconnected loses nothing (it also
//!   polls every [`FOLLOW_POLL`]). The writer publishes its own events at once when they are
//!   the next numbers; otherwise the follower does, in order.
//! - **One leader per desk.** A daemon holding the advisory lock [`LEADER_LOCK`] on a session
//!   of its own is the leader: it processes the inbox, sends the outbox and runs the timers. When
//!   it dies, PostgreSQL drops its session and the lock, and another daemon takes it within
//!   [`LEADER_POLL`].

use std::{
    cell::{Cell, RefCell},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    time::{Duration, Instant},
};

use postgres::{fallible_iterator::FallibleIterator, Row};

use super::conn::{Conn, Params, Pool};
use super::events::events_after;
use super::inbox::Inbox;
use crate::storage::shared::EventPayload;
use crate::storage::{Hub, Job, StoreError, StoredEvent, MAX_BATCH};

/// The advisory lock the leader holds ("chat-ldr").
pub(crate) const LEADER_LOCK: i64 = 0x6368_6174_2d6c_6472;
/// How often a daemon that is not the leader tries to become it.
pub(crate) const LEADER_POLL: Duration = Duration::from_millis(500);
/// How often the follower reads the events table without a notification.
pub(crate) const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// The channel commits that logged events notify.
pub(crate) const EVENTS_CHANNEL: &str = "chat_support_events";
/// The channel inbox appends notify.
pub(crate) const INBOX_CHANNEL: &str = "chat_support_inbox";

/// What the writer and the follower share: the last event number published on this daemon.
#[derive(Clone, Default)]
pub(crate) struct Published(Arc<Mutex<i64>>);

/// The writer's open transaction: the PostgreSQL implementation of [`crate::storage::Tx`].
/// Statements go through the connection's cache; the events it logs wait here (with their
/// contact) until the writer numbers and inserts them just before the COMMIT.
pub(crate) struct PgTx<'c> {
    conn: RefCell<&'c mut Conn>,
    pub(super) events: RefCell<Vec<(Option<i64>, StoredEvent)>>,
    pub(super) outbox_dirty: Cell<bool>,
    /// Nesting of `isolated` savepoints (each level has its own name).
    pub(super) depth: Cell<u32>,
}

impl<'c> PgTx<'c> {
    pub(super) fn new(conn: &'c mut Conn) -> PgTx<'c> {
        PgTx {
            conn: RefCell::new(conn),
            events: RefCell::new(Vec::new()),
            outbox_dirty: Cell::new(false),
            depth: Cell::new(0),
        }
    }

    /// Runs `f` on the connection (never while another call holds it: calls do not nest).
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Conn) -> T) -> T {
        f(&mut self.conn.borrow_mut())
    }

    pub(super) fn query(&self, sql: &'static str, p: Params<'_>) -> Result<Vec<Row>, StoreError> {
        self.with(|c| c.query(sql, p))
    }

    pub(super) fn query_opt(
        &self,
        sql: &'static str,
        p: Params<'_>,
    ) -> Result<Option<Row>, StoreError> {
        self.with(|c| c.query_opt(sql, p))
    }

    pub(super) fn query_one(&self, sql: &'static str, p: Params<'_>) -> Result<Row, StoreError> {
        self.with(|c| c.query_one(sql, p))
    }

    pub(super) fn execute(&self, sql: &'static str, p: Params<'_>) -> Result<u64, StoreError> {
        self.with(|c| c.execute(sql, p))
    }

    pub(super) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.with(|c| c.batch(sql))
    }

    pub(super) fn mark(&self) -> (usize, bool) {
        (self.events.borrow().len(), self.outbox_dirty.get())
    }

    pub(super) fn reset_to(&self, mark: (usize, bool)) {
        self.events.borrow_mut().truncate(mark.0);
        self.outbox_dirty.set(mark.1);
    }

    /// Numbers this transaction's events (taking the sequencer's lock until the COMMIT), fills
    /// in each conversation as the transaction leaves it (one read per contact) and inserts
    /// them. Returns them, numbered.
    fn log_events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let mut pending = std::mem::take(&mut *self.events.borrow_mut());
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let mut read: std::collections::HashMap<i64, Option<crate::storage::Summary>> =
            std::collections::HashMap::new();
        for (contact, e) in pending.iter_mut() {
            let Some(id) = *contact else { continue };
            let s = match read.get(&id) {
                Some(s) => s.clone(),
                None => {
                    let s = self.with(|c| super::rows::summary_by_id(c, id))?;
                    read.insert(id, s.clone());
                    s
                }
            };
            e.summary = s;
        }
        let n = pending.len() as i64;
        let last: i64 = self
            .query_one(
                "UPDATE event_seq SET last = last + $1 WHERE id = 1 RETURNING last",
                &[&n],
            )?
            .try_get(0)?;
        let mut seqs = Vec::with_capacity(pending.len());
        let mut ats = Vec::with_capacity(pending.len());
        let mut contacts = Vec::with_capacity(pending.len());
        let mut payloads = Vec::with_capacity(pending.len());
        let mut out = Vec::with_capacity(pending.len());
        for (i, (contact, mut e)) in pending.into_iter().enumerate() {
            e.seq = last - n + 1 + i as i64;
            seqs.push(e.seq);
            ats.push(e.at);
            contacts.push(contact);
            payloads.push(serde_json::to_string(&EventPayload { kind: &e.kind })?);
            out.push(e);
        }
        self.execute(
            "INSERT INTO events (seq, at, contact_id, payload)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])",
            &[&seqs, &ats, &contacts, &payloads],
        )?;
        self.batch(&format!("NOTIFY {EVENTS_CHANNEL}"))?;
        Ok(out)
    }
}

/// The read side: a pool of connections, used off the async runtime.
#[derive(Clone)]
pub(crate) struct Reads {
    pool: Arc<Pool>,
    /// While a handle on the store lives, its follower and its leader's session do too: they
    /// stop (and the leader's lock is let go) once the last one is dropped.
    _alive: Arc<()>,
}

impl Reads {
    /// Runs `f` on a pooled connection off the async runtime.
    ///
    /// # Errors
    /// What `f` returned, or no connection could be opened.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
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
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.query_one("SELECT 1", &[])?;
            Ok(())
        })
        .await
    }
}

/// Opens the store at `url`: migrates it (under the migration lock), then starts the writer,
/// the follower, the leader election and the inbox's appender. Blocking.
///
/// # Errors
/// The server cannot be reached, or the schema is newer than this program.
pub(in crate::storage) fn open(
    url: &str,
    jobs: mpsc::Receiver<Job>,
    hub: Hub,
    leader: Arc<AtomicBool>,
) -> Result<(Reads, Inbox), StoreError> {
    let mut conn = Conn::connect(url)?;
    super::migrate_conn(&mut conn)?;
    let last: i64 = conn
        .query_one("SELECT last FROM event_seq WHERE id = 1", &[])?
        .try_get(0)?;
    let published = Published(Arc::new(Mutex::new(last)));
    let inbox = Inbox::open(url)?;
    let writer = Writer {
        url: url.to_string(),
        conn: Some(conn),
        hub: hub.clone(),
        published: published.clone(),
        last_attempt: None,
    };
    std::thread::Builder::new()
        .name("pg-writer".into())
        .spawn(move || writer.run(jobs))?;
    let alive = Arc::new(());
    let follower = Follower {
        url: url.to_string(),
        hub,
        published,
        inbox: inbox.clone(),
        alive: Arc::downgrade(&alive),
    };
    std::thread::Builder::new()
        .name("pg-follower".into())
        .spawn(move || follower.run())?;
    let (elect_url, weak) = (url.to_string(), Arc::downgrade(&alive));
    std::thread::Builder::new()
        .name("pg-leader".into())
        .spawn(move || elect(&elect_url, &leader, &weak))?;
    Ok((
        Reads {
            pool: Arc::new(Pool::new(url)),
            _alive: alive,
        },
        inbox,
    ))
}

/// Holds the leader's advisory lock while this daemon can: tries every [`LEADER_POLL`],
/// checks the session it holds it on as often, and says so in `leader`.
fn elect(url: &str, leader: &AtomicBool, alive: &std::sync::Weak<()>) {
    let mut conn: Option<Conn> = None;
    while alive.strong_count() > 0 {
        let held = leader.load(Ordering::Relaxed);
        let ok = (|| -> Result<bool, StoreError> {
            let c = match conn.as_mut() {
                Some(c) if !c.is_closed() => c,
                _ => conn.insert(Conn::connect(url)?),
            };
            if held {
                c.query_one("SELECT 1", &[])?;
                return Ok(true);
            }
            Ok(
                c.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])?
                    .try_get(0)?,
            )
        })();
        let now_leader = match ok {
            Ok(b) => b,
            Err(e) => {
                if held {
                    tracing::warn!(error = %e, "lost the desk's leadership: the session holding it failed");
                }
                conn = None;
                false
            }
        };
        if now_leader != held {
            leader.store(now_leader, Ordering::Relaxed);
            if now_leader {
                tracing::info!("this daemon leads the desk: it processes the inbox, sends the outbox and runs the timers");
            }
        }
        std::thread::sleep(LEADER_POLL);
    }
}

/// Publishes what other daemons (and this one's writer, when it could not) committed.
struct Follower {
    url: String,
    hub: Hub,
    published: Published,
    inbox: Inbox,
    alive: std::sync::Weak<()>,
}

impl Follower {
    fn run(self) {
        let mut conn: Option<Conn> = None;
        while self.alive.strong_count() > 0 {
            let result = (|| -> Result<(), StoreError> {
                let c = match conn.as_mut() {
                    Some(c) if !c.is_closed() => c,
                    _ => {
                        let mut c = Conn::connect(&self.url)?;
                        c.batch(&format!("LISTEN {EVENTS_CHANNEL}; LISTEN {INBOX_CHANNEL}"))?;
                        conn.insert(c)
                    }
                };
                self.catch_up(c)?;
                // Until an event is notified (then catch up again) or the poll's time passes;
                // an append wakes the processor on the way.
                let mut notes = c.client().notifications();
                let mut it = notes.timeout_iter(FOLLOW_POLL);
                while let Some(n) = it.next()? {
                    if n.channel() != INBOX_CHANNEL {
                        break;
                    }
                    self.inbox.wake();
                }
                Ok(())
            })();
            if let Err(e) = result {
                tracing::warn!(error = %e, "following the desk's events failed; reconnecting");
                conn = None;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    fn catch_up(&self, c: &mut Conn) -> Result<(), StoreError> {
        loop {
            let after = self.published.0.lock().map(|g| *g).unwrap_or(0);
            let events = events_after(c, after, 1000)?;
            if events.is_empty() {
                return Ok(());
            }
            let full = events.len() == 1000;
            if let Ok(mut p) = self.published.0.lock() {
                for e in events {
                    if e.seq == *p + 1 {
                        *p = e.seq;
                        let _ = self.hub.events.send(Arc::new(e));
                    }
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}

struct Writer {
    url: String,
    conn: Option<Conn>,
    hub: Hub,
    published: Published,
    /// When a connection was last tried after losing it (at most one try per 250 ms).
    last_attempt: Option<Instant>,
}

/// Session settings of the writer: no statement or lock wait holds the desk's writes forever.
const WRITER_SESSION: &str = "SET lock_timeout = '10s'; SET statement_timeout = '60s'";

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        if let Some(c) = self.conn.as_mut() {
            if let Err(e) = c.batch(WRITER_SESSION) {
                tracing::warn!(error = %e, "setting the writer's session");
            }
        }
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
        tracing::debug!("postgres writer stopped");
    }

    /// The connection, opened again when the server closed it.
    fn connection(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.as_ref().is_some_and(Conn::is_closed) {
            self.conn = None;
        }
        if self.conn.is_none() {
            if self
                .last_attempt
                .is_some_and(|t| t.elapsed() < Duration::from_millis(250))
            {
                return Err(StoreError::Unavailable(
                    "the connection to PostgreSQL is lost; reconnecting".into(),
                ));
            }
            self.last_attempt = Some(Instant::now());
            let mut c = Conn::connect(&self.url)?;
            c.batch(WRITER_SESSION)?;
            tracing::info!("the writer is connected to PostgreSQL");
            self.conn = Some(c);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("no connection to PostgreSQL".into()))
    }

    /// Fails `job` with `why` without writing anything: it runs in a read-only transaction
    /// that is rolled back, so only its completion comes out of it (or, with no connection,
    /// its completion is dropped, which answers its caller `Closed`-like).
    fn discard(conn: Option<&mut Conn>, job: Job, why: &StoreError) {
        let Some(conn) = conn.filter(|c| !c.is_closed()) else {
            drop(job);
            return;
        };
        let _ = conn.batch("ROLLBACK; BEGIN READ ONLY");
        let tx = PgTx::new(conn);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&tx)));
        drop(tx);
        let _ = conn.batch("ROLLBACK");
        if let Ok((_, done)) = outcome {
            done(Err(StoreError::Commit(why.to_string())));
        }
    }

    fn commit_batch(&mut self, batch: Vec<Job>) {
        let hub = self.hub.clone();
        let published = self.published.clone();
        let conn = match self.connection() {
            Ok(c) => c,
            Err(e) => {
                hub.writable.store(false, Ordering::Relaxed);
                for job in batch {
                    Self::discard(None, job, &e);
                }
                return;
            }
        };
        if let Err(e) = conn.batch("BEGIN") {
            tracing::error!(error = %e, "could not begin a transaction");
            hub.writable.store(false, Ordering::Relaxed);
            for job in batch {
                Self::discard(Some(&mut *conn), job, &e);
            }
            return;
        }
        let tx = PgTx::new(conn);
        let mut completions: Vec<(Option<StoreError>, crate::storage::Completion)> =
            Vec::with_capacity(batch.len());
        let (mut wrote, mut fault) = (false, false);
        let mut lost: Option<StoreError> = None;
        let mut leftover: Vec<Job> = Vec::new();
        for job in batch {
            if lost.is_some() {
                // The connection is gone (or the transaction is): nothing more runs in it.
                leftover.push(job);
                continue;
            }
            let mark = tx.mark();
            if let Err(e) = tx.batch("SAVEPOINT job") {
                lost = Some(e);
                leftover.push(job);
                continue;
            }
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
            let mut own_error = None;
            if failed {
                if let Err(e) = tx.batch("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job") {
                    lost = Some(e);
                }
                tx.reset_to(mark);
            } else if let Err(e) = tx.batch("RELEASE SAVEPOINT job") {
                // A statement of the job failed and the job went on regardless: what it
                // wrote is undone, and it fails.
                tracing::error!(error = %e, "a store job ignored a failed statement; it was rolled back");
                if tx
                    .batch("ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job")
                    .is_err()
                {
                    lost = Some(StoreError::Commit(e.to_string()));
                }
                tx.reset_to(mark);
                own_error = Some(StoreError::Commit(e.to_string()));
            }
            if let Some(done) = done {
                completions.push((own_error, done));
            }
        }
        let logged = match &lost {
            Some(_) => Ok(Vec::new()),
            None => tx.log_events(),
        };
        let outbox_dirty = tx.outbox_dirty.get();
        drop(tx);
        let commit = match (lost, logged) {
            (Some(e), _) | (None, Err(e)) => {
                let _ = conn.batch("ROLLBACK");
                for job in leftover.drain(..) {
                    Self::discard(Some(&mut *conn), job, &e);
                }
                Err(e)
            }
            // PostgreSQL answers COMMIT of a failed transaction with a rollback, not an error:
            // a statement first tells.
            (None, Ok(events)) => match conn
                .query_one("SELECT 1", &[])
                .and_then(|_| conn.batch("COMMIT"))
            {
                Ok(()) => Ok(events),
                Err(e) => {
                    let _ = conn.batch("ROLLBACK");
                    Err(e)
                }
            },
        };
        match commit {
            Ok(events) => {
                if fault {
                    tracing::error!("a write failed: the database cannot be written");
                    hub.writable.store(false, Ordering::Relaxed);
                } else if wrote {
                    hub.writable.store(true, Ordering::Relaxed);
                }
                // Published here when they are the next numbers; else the follower does.
                if let (Some(first), Ok(mut p)) = (events.first(), published.0.lock()) {
                    if first.seq == *p + 1 {
                        for e in events {
                            *p = e.seq;
                            let _ = hub.events.send(Arc::new(e));
                        }
                    }
                }
                if outbox_dirty {
                    hub.outbox.notify_one();
                }
                for (own, done) in completions {
                    done(own.map_or(Ok(()), Err));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed");
                hub.writable.store(false, Ordering::Relaxed);
                let msg = e.to_string();
                for (_, done) in completions {
                    done(Err(StoreError::Commit(msg.clone())));
                }
            }
        }
    }
}
