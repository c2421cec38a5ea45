//! The durable inbox on PostgreSQL: the table `inbox` in the desk's database, shared by every
//! daemon. Appends are group-committed by a thread of their own (every body waiting in one
//! INSERT), numbered from the one-row `inbox_seq` just before the COMMIT, so ids are dense and
//! in commit order across daemons: the processor's watermark can never pass a delivery another
//! daemon committed late. An append is answered only after its COMMIT, then notified to every
//! daemon's follower (`NOTIFY`, a wake-up only).

use std::sync::{
    atomic::{AtomicBool, AtomicI64, Ordering},
    mpsc, Arc,
};

use tokio::sync::{oneshot, Notify};

use super::conn::{Conn, Pool};
use super::store::INBOX_CHANNEL;
use crate::domain::Millis;
use crate::storage::{InboxRow, StoreError};

struct Append {
    body: bytes::Bytes,
    received_at: Millis,
    reply: oneshot::Sender<Result<i64, StoreError>>,
}

/// A handle on the inbox; cheap to clone.
#[derive(Clone)]
pub struct Inbox {
    jobs: mpsc::Sender<Append>,
    reads: Arc<Pool>,
    appended: Arc<Notify>,
    last_id: Arc<AtomicI64>,
    release_through: Arc<AtomicI64>,
    writable: Arc<AtomicBool>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

/// The most bodies in one append transaction.
const MAX_APPENDS: usize = 1024;

impl Inbox {
    /// Starts the appender on its own connection to `url`. Blocking.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub(crate) fn open(url: &str) -> Result<Inbox, StoreError> {
        let mut conn = Conn::connect(url)?;
        let last: i64 = conn
            .query_one("SELECT last FROM inbox_seq WHERE id = 1", &[])?
            .try_get(0)?;
        let (jobs, rx) = mpsc::channel();
        let inbox = Inbox {
            jobs,
            reads: Arc::new(Pool::new(url)),
            appended: Arc::new(Notify::new()),
            last_id: Arc::new(AtomicI64::new(last)),
            release_through: Arc::new(AtomicI64::new(0)),
            writable: Arc::new(AtomicBool::new(true)),
        };
        let appender = Appender {
            url: url.to_string(),
            conn: Some(conn),
            inbox: inbox.clone(),
            released: 0,
        };
        std::thread::Builder::new()
            .name("pg-inbox".into())
            .spawn(move || appender.run(rx))?;
        Ok(inbox)
    }

    /// Whether the last append committed.
    pub fn is_writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// Appends `body` and returns its id once it is committed.
    ///
    /// # Errors
    /// The database cannot be written or reached, or the inbox is shut down.
    pub async fn append(&self, body: bytes::Bytes, received_at: Millis) -> Result<i64, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Append {
                body,
                received_at,
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Woken after appends committed (this daemon's, or another's through the follower).
    pub fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    /// Another daemon appended: wake the processor.
    pub(crate) fn wake(&self) {
        self.appended.notify_one();
    }

    /// The newest id this daemon handed out or saw (0 when none).
    pub fn last_id(&self) -> i64 {
        self.last_id.load(Ordering::Acquire)
    }

    /// Every row up to `id` is processed: the appender deletes them.
    pub fn release_through(&self, id: i64) {
        self.release_through.fetch_max(id, Ordering::AcqRel);
    }

    /// Up to `limit` rows after `after`, oldest first.
    ///
    /// # Errors
    /// The database.
    pub async fn read_after(&self, after: i64, limit: usize) -> Result<Vec<InboxRow>, StoreError> {
        let (pool, last_id) = (self.reads.clone(), self.last_id.clone());
        let limit = limit as i64;
        tokio::task::spawn_blocking(move || {
            pool.with(|c| {
                let rows = c.query(
                    "SELECT id, received_at, body FROM inbox WHERE id > $1 ORDER BY id LIMIT $2",
                    &[&after, &limit],
                )?;
                let rows = rows
                    .into_iter()
                    .map(|r| {
                        Ok(InboxRow {
                            id: r.try_get(0)?,
                            received_at: r.try_get(1)?,
                            body: r.try_get(2)?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                if let Some(last) = rows.last() {
                    last_id.fetch_max(last.id, Ordering::AcqRel);
                }
                Ok(rows)
            })
        })
        .await
        .map_err(|e| StoreError::Internal(format!("inbox read task failed: {e}")))?
    }

    /// How many rows after `after` are waiting, and when the oldest of them arrived.
    ///
    /// # Errors
    /// The database.
    pub async fn pending_after(&self, after: i64) -> Result<(u64, Option<Millis>), StoreError> {
        let pool = self.reads.clone();
        tokio::task::spawn_blocking(move || {
            pool.with(|c| {
                let r = c.query_one(
                    "SELECT COUNT(*), MIN(received_at) FROM inbox WHERE id > $1",
                    &[&after],
                )?;
                let (n, oldest): (i64, Option<i64>) = (r.try_get(0)?, r.try_get(1)?);
                Ok((n.max(0) as u64, oldest))
            })
        })
        .await
        .map_err(|e| StoreError::Internal(format!("inbox read task failed: {e}")))?
    }
}

struct Appender {
    url: String,
    conn: Option<Conn>,
    inbox: Inbox,
    /// The watermark up to which rows were deleted.
    released: i64,
}

impl Appender {
    fn run(mut self, rx: mpsc::Receiver<Append>) {
        loop {
            let first = match rx.recv_timeout(std::time::Duration::from_secs(1)) {
                Ok(a) => a,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.tidy();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_APPENDS {
                match rx.try_recv() {
                    Ok(a) => batch.push(a),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
    }

    fn connection(&mut self) -> Result<&mut Conn, StoreError> {
        if self.conn.as_ref().is_none_or(Conn::is_closed) {
            self.conn = Some(Conn::connect(&self.url)?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("no connection".into()))
    }

    /// Deletes processed rows (they are never read again).
    fn tidy(&mut self) {
        let through = self.inbox.release_through.load(Ordering::Acquire);
        if through <= self.released {
            return;
        }
        let done = self
            .connection()
            .and_then(|c| c.execute("DELETE FROM inbox WHERE id <= $1", &[&through]));
        if done.is_ok() {
            self.released = through;
        }
    }

    fn commit(&mut self, batch: Vec<Append>) {
        let through = self.inbox.release_through.load(Ordering::Acquire);
        let released = self.released;
        let result = (|| -> Result<i64, StoreError> {
            let c = self.connection()?;
            c.batch("BEGIN")?;
            let r = (|| {
                let n = batch.len() as i64;
                let last: i64 = c
                    .query_one(
                        "UPDATE inbox_seq SET last = last + $1 WHERE id = 1 RETURNING last",
                        &[&n],
                    )?
                    .try_get(0)?;
                let ids: Vec<i64> = (last - n + 1..=last).collect();
                let at: Vec<i64> = batch.iter().map(|a| a.received_at).collect();
                let bodies: Vec<&[u8]> = batch.iter().map(|a| a.body.as_ref()).collect();
                c.execute(
                    "INSERT INTO inbox (id, received_at, body)
                     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[])",
                    &[&ids, &at, &bodies],
                )?;
                if through > released {
                    c.execute("DELETE FROM inbox WHERE id <= $1", &[&through])?;
                }
                c.batch(&format!("NOTIFY {INBOX_CHANNEL}"))?;
                c.batch("COMMIT")?;
                Ok(last)
            })();
            if r.is_err() {
                let _ = c.batch("ROLLBACK");
            }
            r
        })();
        match result {
            Ok(last) => {
                self.released = self.released.max(through);
                self.inbox.writable.store(true, Ordering::Relaxed);
                self.inbox.last_id.fetch_max(last, Ordering::AcqRel);
                self.inbox.appended.notify_one();
                let first = last - batch.len() as i64 + 1;
                for (i, a) in batch.into_iter().enumerate() {
                    let _ = a.reply.send(Ok(first + i as i64));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "inbox: appending failed; the webhooks are answered 503");
                if e.is_storage_fault() {
                    self.inbox.writable.store(false, Ordering::Relaxed);
                }
                let msg = e.to_string();
                for a in batch {
                    let _ = a.reply.send(Err(StoreError::Unavailable(msg.clone())));
                }
            }
        }
    }
}
