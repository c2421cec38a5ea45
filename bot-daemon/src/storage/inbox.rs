//! The durable inbox's handle, whatever the backend: where every verified webhook body is
//! stored before it is answered 200, and read back in order by the processor. On SQLite it is
//! a file of its own beside the database (`<db>.inbox`); on PostgreSQL a table of the desk's
//! database, shared by every daemon.

use std::sync::Arc;

use tokio::sync::Notify;

use super::{postgres, sqlite, InboxRow, StoreError};
use crate::domain::Millis;

/// A handle on the inbox; cheap to clone.
#[derive(Clone, Debug)]
pub enum Inbox {
    /// `<db>.inbox`.
    Sqlite(sqlite::inbox::Inbox),
    /// The `inbox` table.
    Postgres(postgres::inbox::Inbox),
}

impl Inbox {
    /// Whether the last append committed: false from a failed commit until the next one that
    /// succeeds.
    pub fn is_writable(&self) -> bool {
        match self {
            Inbox::Sqlite(i) => i.is_writable(),
            Inbox::Postgres(i) => i.is_writable(),
        }
    }

    /// Where the inbox lives, for messages.
    pub fn describe(&self) -> String {
        match self {
            Inbox::Sqlite(i) => i.path().display().to_string(),
            Inbox::Postgres(_) => "(the PostgreSQL table inbox)".to_string(),
        }
    }

    /// Appends `body` and returns its id once it is durable.
    ///
    /// # Errors
    /// The inbox cannot be written or is shut down.
    pub async fn append(&self, body: bytes::Bytes, received_at: Millis) -> Result<i64, StoreError> {
        match self {
            Inbox::Sqlite(i) => i.append(body, received_at).await,
            Inbox::Postgres(i) => i.append(body, received_at).await,
        }
    }

    /// Woken after appends committed.
    pub fn appended(&self) -> Arc<Notify> {
        match self {
            Inbox::Sqlite(i) => i.appended(),
            Inbox::Postgres(i) => i.appended(),
        }
    }

    /// The newest id handed out (0 when none).
    pub fn last_id(&self) -> i64 {
        match self {
            Inbox::Sqlite(i) => i.last_id(),
            Inbox::Postgres(i) => i.last_id(),
        }
    }

    /// Every row up to `id` is processed (they may be deleted).
    pub fn release_through(&self, id: i64) {
        match self {
            Inbox::Sqlite(i) => i.release_through(id),
            Inbox::Postgres(i) => i.release_through(id),
        }
    }

    /// Caps the inbox's size (SQLite only; on PostgreSQL nothing to do: the main database's
    /// cap is refused first).
    pub(crate) async fn set_size_limit(&self, max_bytes: Option<u64>) -> Result<(), StoreError> {
        match self {
            Inbox::Sqlite(i) => i.set_size_limit(max_bytes).await,
            Inbox::Postgres(_) => Ok(()),
        }
    }

    /// Up to `limit` rows after `after`, oldest first.
    ///
    /// # Errors
    /// The inbox cannot be read.
    pub async fn read_after(&self, after: i64, limit: usize) -> Result<Vec<InboxRow>, StoreError> {
        match self {
            Inbox::Sqlite(i) => i.read_after(after, limit).await,
            Inbox::Postgres(i) => i.read_after(after, limit).await,
        }
    }

    /// How many rows after `after` are waiting, and when the oldest arrived.
    ///
    /// # Errors
    /// The inbox cannot be read.
    pub async fn pending_after(&self, after: i64) -> Result<(u64, Option<Millis>), StoreError> {
        match self {
            Inbox::Sqlite(i) => i.pending_after(after).await,
            Inbox::Postgres(i) => i.pending_after(after).await,
        }
    }
}
