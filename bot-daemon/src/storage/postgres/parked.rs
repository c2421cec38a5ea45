//! The database's side of the inbox on PostgreSQL: the watermark of processed inbox rows
//! (moved in the same transaction as their effects) and the parked deliveries. The watermark
//! is read locked (`FOR UPDATE`): should two daemons ever process at once (a leader's
//! hand-over), the second waits for the first's commit and then skips what it applied, so each
//! delivery's effects are stored once.

use postgres::Row;

use super::store::{PgTx, Reads};
use crate::storage::{InboxTx, ParkedDelivery, StoreError, Tx};

fn parked_from_row(r: &Row) -> Result<ParkedDelivery, StoreError> {
    Ok(ParkedDelivery {
        inbox_id: r.try_get(0)?,
        received_at: r.try_get(1)?,
        body: r.try_get(2)?,
        error: r.try_get(3)?,
        attempts: r.try_get::<_, i64>(4)?.clamp(0, u32::MAX as i64) as u32,
        parked_at: r.try_get(5)?,
    })
}

macro_rules! parked_cols {
    () => {
        "inbox_id, received_at, body, error, attempts, parked_at"
    };
}

impl InboxTx for PgTx<'_> {
    fn isolated(&self, f: &mut dyn FnMut(&dyn Tx) -> bool) -> Result<(), StoreError> {
        let mark = self.mark();
        let level = self.depth.get() + 1;
        self.depth.set(level);
        let name = format!("isolated_{level}");
        let begun = self.batch(&format!("SAVEPOINT {name}"));
        let result = begun.and_then(|()| {
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
            if keep {
                // A statement that failed inside without `f` noticing leaves the savepoint
                // aborted: releasing it then fails, and it is undone.
                if self.batch(&format!("RELEASE SAVEPOINT {name}")).is_ok() {
                    return result;
                }
            }
            self.batch(&format!(
                "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
            ))?;
            self.reset_to(mark);
            if keep && result.is_ok() {
                return Err(StoreError::Internal(
                    "a statement failed inside a delivery; it was undone".into(),
                ));
            }
            result
        });
        self.depth.set(level - 1);
        result
    }

    fn inbox_processed_through(&self) -> Result<i64, StoreError> {
        Ok(self
            .query_one(
                "SELECT processed_through FROM inbox_state WHERE id = 1 FOR UPDATE",
                &[],
            )?
            .try_get(0)?)
    }

    fn set_inbox_processed_through(&self, id: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE inbox_state SET processed_through = GREATEST(processed_through, $1) WHERE id = 1",
            &[&id],
        )?;
        Ok(())
    }

    fn park_delivery(&self, p: &ParkedDelivery) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO inbox_parked (inbox_id, received_at, body, error, attempts, parked_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (inbox_id) DO UPDATE SET
                 error = excluded.error, attempts = excluded.attempts,
                 parked_at = excluded.parked_at",
            &[
                &p.inbox_id,
                &p.received_at,
                &p.body,
                &p.error,
                &i64::from(p.attempts),
                &p.parked_at,
            ],
        )?;
        Ok(())
    }

    fn remove_parked(&self, inbox_id: i64) -> Result<bool, StoreError> {
        Ok(self.execute("DELETE FROM inbox_parked WHERE inbox_id = $1", &[&inbox_id])? == 1)
    }
}

impl Reads {
    pub(crate) async fn inbox_processed_through(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            Ok(c.query_one(
                "SELECT processed_through FROM inbox_state WHERE id = 1",
                &[],
            )?
            .try_get(0)?)
        })
        .await
    }

    pub(crate) async fn parked_delivery(
        &self,
        inbox_id: i64,
    ) -> Result<Option<ParkedDelivery>, StoreError> {
        self.read(move |c| {
            c.query_opt(
                concat!(
                    "SELECT ",
                    parked_cols!(),
                    " FROM inbox_parked WHERE inbox_id = $1"
                ),
                &[&inbox_id],
            )?
            .map(|r| parked_from_row(&r))
            .transpose()
        })
        .await
    }

    pub(crate) async fn parked_deliveries(
        &self,
        limit: u32,
    ) -> Result<(Vec<ParkedDelivery>, u64), StoreError> {
        self.read(move |c| {
            let total: i64 = c
                .query_one("SELECT COUNT(*) FROM inbox_parked", &[])?
                .try_get(0)?;
            let rows = c.query(
                concat!(
                    "SELECT ",
                    parked_cols!(),
                    " FROM inbox_parked ORDER BY inbox_id LIMIT $1"
                ),
                &[&i64::from(limit)],
            )?;
            let rows = rows
                .iter()
                .map(parked_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((rows, total.max(0) as u64))
        })
        .await
    }
}
