//! The PostgreSQL backend (issue 16): a desk that outgrows one machine runs several daemons on
//! one PostgreSQL database, which is the shared truth. The only code that knows PostgreSQL's
//! SQL or its drivers (`postgres`, `tokio_postgres`).
//!
//! As in the SQLite backend, one file per area implements the transaction traits of
//! [`crate::storage::Tx`] on [`PgTx`] and the reads: `tx.rs` (conversations, outbox,
//! statuses), `agents.rs` (the desk), `csat.rs`, `queue.rs`, `stats.rs`, `parked.rs` (the
//! inbox's side), `read.rs`; `rows.rs` has the row mappers, `events.rs` the event log,
//! `inbox.rs` the inbox table, `store.rs` the writer, the follower and the leader, `conn.rs`
//! the connections (rustls for TLS), `schema.rs` the migrations and `import.rs` the copy of a
//! SQLite desk (`bot-daemon migrate`).

mod agents;
mod backup;
mod conn;
mod csat;
pub(super) mod direct;
mod events;
mod import;
pub(crate) mod inbox;
mod parked;
mod queue;
mod read;
mod rows;
mod schema;
mod stats;
mod store;
mod tx;

pub use backup::{backup, PgBackup};
pub use import::import;

pub use schema::LATEST;
use schema::MIGRATIONS;
pub(crate) use store::PgTx;
pub(super) use store::{open, Reads};
use tokio_postgres::error::SqlState;

use super::StoreError;
use conn::Conn;

/// The advisory lock held while migrating (any constant shared by every daemon: "chat-sup").
const MIGRATION_LOCK: i64 = 0x6368_6174_2d73_7570;

/// What [`migrate`] found and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The schema version before.
    pub from: i64,
    /// The schema version after ([`LATEST`]).
    pub to: i64,
}

/// PostgreSQL's errors in the store's own terms: no `tokio_postgres` type leaves the backend.
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        let message = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => e.to_string(),
        };
        match e.code() {
            Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::OUT_OF_MEMORY => {
                StoreError::Full(message)
            }
            Some(c) if *c == SqlState::DATA_CORRUPTED || *c == SqlState::INDEX_CORRUPTED => {
                StoreError::Corrupt(message)
            }
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(message),
            // Transient: a deadlock or a lock wait given up (tried again by the caller), the
            // server shutting down or starting, a connection failure.
            Some(c)
                if *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::LOCK_NOT_AVAILABLE
                    || *c == SqlState::QUERY_CANCELED
                    || *c == SqlState::ADMIN_SHUTDOWN
                    || *c == SqlState::CRASH_SHUTDOWN
                    || *c == SqlState::CANNOT_CONNECT_NOW
                    || *c == SqlState::READ_ONLY_SQL_TRANSACTION
                    || c.code().starts_with("08") =>
            {
                StoreError::Unavailable(message)
            }
            Some(_) => StoreError::Internal(message),
            // No SQL state: the connection (refused, closed, timed out), or a value this
            // program cannot read (a defect).
            None if e.is_closed()
                || std::error::Error::source(&e)
                    .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
                || message.starts_with("error connecting")
                || message.contains("timed out")
                || message.contains("TLS") =>
            {
                StoreError::Unavailable(message)
            }
            None => StoreError::Internal(message),
        }
    }
}

/// Brings the database at `url` (`postgres://USER[:PASS]@HOST:PORT/DB`) to [`LATEST`]: each
/// missing step in its own transaction, all under one advisory lock (a second daemon waits,
/// then finds nothing to do).
///
/// # Errors
/// The server cannot be reached, a step fails (nothing of that step is kept), or the database
/// was migrated by a newer build ([`StoreError::TooNew`]).
pub async fn migrate(url: &str) -> Result<Migrated, StoreError> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = Conn::connect(&url)?;
        migrate_conn(&mut conn)
    })
    .await
    .map_err(|e| StoreError::Internal(format!("migration task failed: {e}")))?
}

/// [`migrate`] on an open connection. Blocking.
///
/// # Errors
/// As [`migrate`].
pub(crate) fn migrate_conn(conn: &mut Conn) -> Result<Migrated, StoreError> {
    conn.query_one("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = apply(conn);
    let unlocked = conn.query_one("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    let migrated = result?;
    unlocked?;
    Ok(migrated)
}

fn apply(conn: &mut Conn) -> Result<Migrated, StoreError> {
    conn.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let found: i64 = conn
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .try_get(0)?;
    if found > LATEST {
        return Err(StoreError::TooNew {
            found,
            supported: LATEST,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i64 + 1;
        conn.batch("BEGIN")?;
        let r = conn.batch(step).and_then(|()| {
            conn.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&version],
            )?;
            conn.batch("COMMIT")
        });
        if let Err(e) = r {
            let _ = conn.batch("ROLLBACK");
            return Err(e);
        }
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    Ok(Migrated {
        from: found,
        to: LATEST,
    })
}
