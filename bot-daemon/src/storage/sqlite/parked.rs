//! The main database's side of the inbox: the watermark of processed inbox rows (moved in the
//! same transaction as their effects) and the parked deliveries.

use rusqlite::{params, OptionalExtension};

use super::{Reads, SqliteTx};
use crate::storage::{InboxTx, ParkedDelivery, StoreError, Tx};

fn parked_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ParkedDelivery> {
    Ok(ParkedDelivery {
        inbox_id: r.get(0)?,
        received_at: r.get(1)?,
        body: r.get(2)?,
        error: r.get(3)?,
        attempts: r.get::<_, i64>(4)?.clamp(0, u32::MAX as i64) as u32,
        parked_at: r.get(5)?,
    })
}

const PARKED_COLS: &str = "inbox_id, received_at, body, error, attempts, parked_at";

impl InboxTx for SqliteTx<'_> {
    fn isolated(&self, f: &mut dyn FnMut(&dyn Tx) -> bool) -> Result<(), StoreError> {
        let mark = self.mark();
        self.conn().execute_batch("SAVEPOINT isolated")?;
        let (keep, result) =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
                Ok(keep) => (keep, Ok(())),
                Err(panic) => (
                    false,
                    Err(StoreError::Internal(format!(
                        "processing panicked: {}",
                        crate::storage::shared::panic_message(panic.as_ref())
                    ))),
                ),
            };
        if !keep {
            // After a disk-full or I/O error SQLite may have rolled the whole transaction
            // back already; the writer's commit then reports it.
            let _ = self.conn().execute_batch("ROLLBACK TO isolated");
            self.reset_to(mark);
        }
        let _ = self.conn().execute_batch("RELEASE isolated");
        result
    }

    /// The last inbox row whose effects are stored.
    fn inbox_processed_through(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("SELECT processed_through FROM inbox_state WHERE id = 1")?
            .query_row([], |r| r.get(0))?)
    }

    /// Moves the watermark forward to `id` (never back).
    fn set_inbox_processed_through(&self, id: i64) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE inbox_state SET processed_through = MAX(processed_through, ?1) WHERE id = 1",
            )?
            .execute([id])?;
        Ok(())
    }

    /// Sets a delivery aside (or updates one already parked: a failed retry).
    fn park_delivery(&self, p: &ParkedDelivery) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO inbox_parked (inbox_id, received_at, body, error, attempts, parked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (inbox_id) DO UPDATE SET
                     error = excluded.error, attempts = excluded.attempts,
                     parked_at = excluded.parked_at",
            )?
            .execute(params![
                p.inbox_id,
                p.received_at,
                p.body,
                p.error,
                p.attempts as i64,
                p.parked_at
            ])?;
        Ok(())
    }

    /// Forgets a parked delivery; false when there was none.
    fn remove_parked(&self, inbox_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .prepare_cached("DELETE FROM inbox_parked WHERE inbox_id = ?1")?
            .execute([inbox_id])?
            == 1)
    }
}

impl Reads {
    pub(crate) async fn inbox_processed_through(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT processed_through FROM inbox_state WHERE id = 1")?
                    .query_row([], |r| r.get(0))?,
            )
        })
        .await
    }

    pub(crate) async fn parked_delivery(
        &self,
        inbox_id: i64,
    ) -> Result<Option<ParkedDelivery>, StoreError> {
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {PARKED_COLS} FROM inbox_parked WHERE inbox_id = ?1"
            ))?
            .query_row([inbox_id], parked_from_row)
            .optional()?)
        })
        .await
    }

    pub(crate) async fn parked_deliveries(
        &self,
        limit: u32,
    ) -> Result<(Vec<ParkedDelivery>, u64), StoreError> {
        self.read(move |c| {
            let total: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM inbox_parked")?
                .query_row([], |r| r.get(0))?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PARKED_COLS} FROM inbox_parked ORDER BY inbox_id LIMIT ?1"
            ))?;
            let rows = stmt
                .query_map([limit as i64], parked_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rows, total.max(0) as u64))
        })
        .await
    }
}
