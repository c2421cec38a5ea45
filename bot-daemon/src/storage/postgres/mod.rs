//! The PostgreSQL backend (issue 16), so far its schema: versioned migrations applied under an
//! advisory lock, so that two daemons starting together on one database migrate it once. The
//! store itself (the transactions, reads, inbox and events on PostgreSQL) is not built yet, so
//! `--db postgres://…` is still refused at start ([`super::LocationError`]). Only this folder
//! uses `tokio_postgres`.

mod import;
mod schema;

pub use import::import;

pub use schema::LATEST;
use schema::MIGRATIONS;
use tokio_postgres::{error::SqlState, Client, NoTls};

use super::StoreError;

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
            Some(_) => StoreError::Internal(message),
            // No SQL state: the connection (refused, closed, timed out).
            None => StoreError::Unavailable(message),
        }
    }
}

/// Brings the database at `url` (`postgres://USER[:PASS]@HOST:PORT/DB`) to [`LATEST`]: each
/// missing step in its own transaction, all under one advisory lock (a second daemon waits,
/// then finds nothing to do). Plain connections only for now (TLS comes with the store).
///
/// # Errors
/// The server cannot be reached, a step fails (nothing of that step is kept), or the database
/// was migrated by a newer build ([`StoreError::TooNew`]).
pub async fn migrate(url: &str) -> Result<Migrated, StoreError> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = locked(&mut client).await;
    drop(client);
    let _ = driver.await;
    result
}

async fn locked(client: &mut Client) -> Result<Migrated, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let migrated = result?;
    unlocked?;
    Ok(migrated)
}

async fn apply(client: &mut Client) -> Result<Migrated, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
    let found: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if found > LATEST {
        return Err(StoreError::TooNew {
            found,
            supported: LATEST,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i64 + 1;
        let tx = client.transaction().await?;
        tx.batch_execute(step).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    Ok(Migrated {
        from: found,
        to: LATEST,
    })
}
