//! A read-only look into a database for the tests' consistency checks (after a kill -9, after
//! random operations) and for operators: the rows that the checks compare, in domain words,
//! so that nothing outside the storage backend opens the file or writes SQL. It opens the file
//! read-only and never takes the writer's place; a running daemon is unaffected.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::StoreError;

/// A read-only connection to a database file.
pub struct Inspector {
    conn: Connection,
    path: std::path::PathBuf,
}

/// A contact as the consistency checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    /// Row id.
    pub id: i64,
    /// Phone digits, when known.
    pub phone: Option<String>,
    /// The stored conversation state (`IDLE`, `CHAT_SUPPORT_ACTIVE`, ...).
    pub state: String,
    /// In a chat with support.
    pub chat_active: bool,
    /// The open (or last) chat session.
    pub current_session_id: Option<i64>,
    /// Start of the open chat session.
    pub chat_started_at: Option<i64>,
    /// The stored message count.
    pub message_count: i64,
}

/// A chat session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Row id.
    pub id: i64,
    /// Its contact.
    pub contact_id: i64,
    /// Start, unix ms.
    pub started_at: i64,
    /// End, unix ms; `None` while open.
    pub ended_at: Option<i64>,
    /// The agent who ended it (name); `None` for the operator, the user or the system.
    pub ended_by_agent: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Row id.
    pub id: i64,
    /// `user`, `admin` or `bot`.
    pub sender: String,
    /// Received from the user.
    pub inbound: bool,
    /// WhatsApp's id, once known.
    pub wamid: Option<String>,
    /// The chat session it belongs to.
    pub session_id: Option<i64>,
    /// The text as stored.
    pub text: String,
    /// The sending agent's name (`None`: the operator, the bot or the user).
    pub agent: Option<String>,
}

/// An outbound message's row in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Row id.
    pub id: i64,
    /// `pending`, `inflight`, `done` or `failed`.
    pub state: String,
    /// The exact Cloud API body.
    pub payload: String,
    /// Send attempts so far.
    pub attempts: i64,
    /// The wamid the Cloud API gave its message.
    pub wamid: Option<String>,
}

/// What [`Inspector::count`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Messages received from users.
    InboundMessages,
    /// Inbound message ids recorded for deduplication.
    ProcessedUpdates,
    /// Outbox rows not yet sent (pending or in flight).
    UnsentOutbox,
    /// Statuses kept for messages not (yet) known.
    EarlyStatuses,
    /// Deliveries parked after failing again and again.
    ParkedDeliveries,
}

impl Inspector {
    /// Opens the database at `path` read-only.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path) -> Result<Inspector, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(Inspector {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Acknowledged webhook deliveries not processed yet: inbox rows past the database's
    /// watermark.
    ///
    /// # Errors
    /// Either file.
    pub fn inbox_pending(&self) -> Result<i64, StoreError> {
        let through: i64 = self.conn.query_row(
            "SELECT processed_through FROM inbox_state WHERE id = 1",
            [],
            |r| r.get(0),
        )?;
        let inbox = Connection::open_with_flags(
            super::inbox::inbox_path(&self.path),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(
            inbox.query_row("SELECT COUNT(*) FROM inbox WHERE id > ?1", [through], |r| {
                r.get(0)
            })?,
        )
    }

    /// Whether the file passes SQLite's own integrity check.
    ///
    /// # Errors
    /// The database.
    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let r: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(r == "ok")
    }

    /// Every contact, by id.
    ///
    /// # Errors
    /// The database.
    pub fn contacts(&self) -> Result<Vec<ContactRow>, StoreError> {
        self.contacts_where("1", None)
    }

    /// The contact with this phone number.
    ///
    /// # Errors
    /// The database.
    pub fn contact_by_phone(&self, phone: &str) -> Result<Option<ContactRow>, StoreError> {
        Ok(self.contacts_where("phone = ?1", Some(phone))?.pop())
    }

    fn contacts_where(&self, cond: &str, arg: Option<&str>) -> Result<Vec<ContactRow>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, phone, state, chat_support_active, current_session_id, chat_started_at,
                    message_count FROM contacts WHERE {cond} ORDER BY id"
        ))?;
        let row = |r: &rusqlite::Row<'_>| {
            Ok(ContactRow {
                id: r.get(0)?,
                phone: r.get(1)?,
                state: r.get(2)?,
                chat_active: r.get(3)?,
                current_session_id: r.get(4)?,
                chat_started_at: r.get(5)?,
                message_count: r.get(6)?,
            })
        };
        let rows = match arg {
            Some(a) => stmt.query_map([a], row)?.collect::<Result<_, _>>()?,
            None => stmt.query_map([], row)?.collect::<Result<_, _>>()?,
        };
        Ok(rows)
    }

    /// A contact's chat sessions, oldest first.
    ///
    /// # Errors
    /// The database.
    pub fn sessions(&self, contact_id: i64) -> Result<Vec<SessionRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.id, s.contact_id, s.started_at, s.ended_at,
                    (SELECT a.name FROM agents a WHERE a.id = s.agent_id)
             FROM chat_sessions s WHERE s.contact_id = ?1 ORDER BY s.id",
        )?;
        let rows = stmt.query_map([contact_id], |r| {
            Ok(SessionRow {
                id: r.get(0)?,
                contact_id: r.get(1)?,
                started_at: r.get(2)?,
                ended_at: r.get(3)?,
                ended_by_agent: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Messages in commit order: a contact's (`Some(id)`) or everyone's.
    ///
    /// # Errors
    /// The database.
    pub fn messages(&self, contact_id: Option<i64>) -> Result<Vec<MessageRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT m.id, m.sender, m.direction = 'in', m.wamid, m.session_id, m.text,
                    (SELECT a.name FROM agents a WHERE a.id = m.agent_id)
             FROM messages m WHERE ?1 IS NULL OR m.contact_id = ?1 ORDER BY m.id",
        )?;
        let rows = stmt.query_map([contact_id], |r| {
            Ok(MessageRow {
                id: r.get(0)?,
                sender: r.get(1)?,
                inbound: r.get(2)?,
                wamid: r.get(3)?,
                session_id: r.get(4)?,
                text: r.get(5)?,
                agent: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The outbox rows of messages (not read receipts), in order, with their message's wamid.
    ///
    /// # Errors
    /// The database.
    pub fn outbox_messages(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT o.id, o.state, o.payload, o.attempts, m.wamid FROM outbox o
             JOIN messages m ON m.id = o.message_id WHERE o.kind = 'message' ORDER BY o.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OutboxRow {
                id: r.get(0)?,
                state: r.get(1)?,
                payload: r.get(2)?,
                attempts: r.get(3)?,
                wamid: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many rows of a kind there are.
    ///
    /// # Errors
    /// The database.
    pub fn count(&self, what: Count) -> Result<i64, StoreError> {
        let sql = match what {
            Count::InboundMessages => "SELECT COUNT(*) FROM messages WHERE direction = 'in'",
            Count::ProcessedUpdates => "SELECT COUNT(*) FROM processed_updates",
            Count::UnsentOutbox => {
                "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'inflight')"
            }
            Count::EarlyStatuses => "SELECT COUNT(*) FROM early_statuses",
            Count::ParkedDeliveries => "SELECT COUNT(*) FROM inbox_parked",
        };
        Ok(self
            .conn
            .query_row(sql, [], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }
}

/// The database's write lock, held as another program would hold it (a backup tool, a
/// `sqlite3` shell left in a transaction) until dropped: the daemon's writer waits, then fails
/// as on a locked database. For the tests of what is acknowledged while processing cannot run.
pub struct WriteLock {
    conn: Connection,
}

impl WriteLock {
    /// Takes the write lock of the database at `path`.
    ///
    /// # Errors
    /// The file cannot be opened, or the lock is taken.
    pub fn take(path: &Path) -> Result<WriteLock, StoreError> {
        let conn = Connection::open(path)?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(WriteLock { conn })
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }
}
