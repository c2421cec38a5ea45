//! Processing the durable inbox: a batch of acknowledged deliveries, oldest first, applied in
//! one writer transaction, each in its own savepoint, with the inbox watermark moved in the same
//! transaction as their effects (so a crash at any point processes each delivery exactly once).
//!
//! A delivery that fails on its own (a defect, not the database) is tried again in the next
//! batch, holding back the ones after it so each user's order is kept; after
//! [`PARK_AFTER`] failures it is parked, with its body and the error, and the others go on.
//! When the database itself cannot be written, nothing of the batch is kept and nothing is
//! parked: the batch is tried again later, as it is.

use super::{
    apply_delivery, clamp_timestamps, desk::operator_only, DeliveryOutcome, Engine, EngineError,
};
use crate::{
    conversation::BotSettings,
    desk::{Caller, DeskSettings},
    domain::Millis,
    inbound::Delivery,
    storage::{ParkedDelivery, StoreError, Tx, WriteError},
};

/// Whether an engine error means the database cannot be written (not this delivery's fault).
fn is_fault(e: &EngineError) -> bool {
    e.store_error().is_some_and(StoreError::is_storage_fault)
}

/// Applies `d` in a savepoint of its own. `Ok(Ok(_))`: applied; `Ok(Err(why))`: it failed on
/// its own and nothing of it is kept; `Err(_)`: the database cannot be written.
fn apply_isolated(
    tx: &dyn Tx,
    d: &Delivery,
    failpoint: &Failpoint,
    settings: &BotSettings,
    desk: &DeskSettings,
    now: Millis,
) -> Result<Result<DeliveryOutcome, String>, EngineError> {
    let mut outcome = None;
    let mut failure: Option<EngineError> = None;
    let r = tx.isolated(&mut |tx| {
        let result = failpoint
            .check(d)
            .map_err(EngineError::from)
            .and_then(|()| apply_delivery(tx, d, settings, desk, now));
        match result {
            Ok(o) => {
                outcome = Some(o);
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    });
    match (r, outcome, failure) {
        (Err(e), _, _) if e.is_storage_fault() => Err(e.into()),
        (Err(e), _, _) => Ok(Err(e.to_string())),
        (Ok(()), Some(o), _) => Ok(Ok(o)),
        (Ok(()), None, Some(f)) if is_fault(&f) => Err(f),
        (Ok(()), None, Some(f)) => Ok(Err(f.to_string())),
        (Ok(()), None, None) => Ok(Err("processing stopped half-way".to_string())),
    }
}

/// Why a batch attempt was rolled back.
#[derive(Debug)]
enum BatchError {
    /// The database (or a refusal the store raised).
    Engine(EngineError),
    /// A delivery failed on its own in the fast attempt: apply again, a savepoint each.
    NeedsCare,
}

impl From<StoreError> for BatchError {
    fn from(e: StoreError) -> BatchError {
        BatchError::Engine(e.into())
    }
}

impl From<EngineError> for BatchError {
    fn from(e: EngineError) -> BatchError {
        BatchError::Engine(e)
    }
}

impl WriteError for BatchError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            BatchError::Engine(e) => e.store_error(),
            BatchError::NeedsCare => None,
        }
    }
}

/// A delivery is parked after failing this many times.
pub const PARK_AFTER: u32 = 3;

/// One acknowledged delivery to process.
#[derive(Debug, Clone)]
pub struct InboxItem {
    /// Its inbox id.
    pub id: i64,
    /// When the webhook arrived.
    pub received_at: Millis,
    /// The body as received (kept when the delivery is parked).
    pub body: Vec<u8>,
    /// The parsed delivery, or why it cannot be parsed (parked at once: it never will be).
    pub delivery: Result<Delivery, String>,
    /// Failures so far.
    pub failures: u32,
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Its effects are committed.
    Applied(DeliveryOutcome),
    /// Set aside with this error.
    Parked(String),
    /// Failed this time (not committed); it comes first in the next batch.
    Failed(String),
}

/// What one batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The watermark after the batch: every item up to it is applied or parked.
    pub through: i64,
    /// Each item that was looked at, in order; items after a failed one are not.
    pub items: Vec<(i64, ItemOutcome)>,
}

impl Engine {
    /// Processes `items` (in inbox order) in one transaction and returns once it is committed.
    ///
    /// The batch is first applied without a savepoint per delivery (they cost ~10% of the
    /// writer's time at saturation); only if a delivery fails on its own is that attempt
    /// rolled back whole and the batch applied again with a savepoint around each delivery, so
    /// the failing one is undone alone and counted.
    ///
    /// # Errors
    /// The database cannot be written: nothing of the batch is stored, and the watermark did
    /// not move.
    pub async fn process_inbox(&self, items: Vec<InboxItem>) -> Result<BatchOutcome, EngineError> {
        match self.run_batch(items.clone(), false).await {
            Err(BatchError::NeedsCare) => match self.run_batch(items, true).await {
                Ok(done) => Ok(done),
                Err(BatchError::Engine(e)) => Err(e),
                Err(BatchError::NeedsCare) => Err(EngineError::Store(StoreError::Internal(
                    "a careful batch asked for care".into(),
                ))),
            },
            Ok(done) => Ok(done),
            Err(BatchError::Engine(e)) => Err(e),
        }
    }

    async fn run_batch(
        &self,
        items: Vec<InboxItem>,
        careful: bool,
    ) -> Result<BatchOutcome, BatchError> {
        let failpoint = self.failpoint.clone();
        let settings = self.settings.clone();
        let desk = self.desk.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let mut through = tx.inbox_processed_through()?;
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if item.id <= through {
                        continue;
                    }
                    let error = match &item.delivery {
                        Err(e) => format!("the body cannot be read: {e}"),
                        Ok(d) => {
                            let mut d = d.clone();
                            clamp_timestamps(&mut d, now);
                            let applied = if careful {
                                apply_isolated(tx, &d, &failpoint, &settings, &desk, now)?
                            } else {
                                // A panic, like a failure, sends the batch to the careful
                                // attempt (which catches it in the delivery's savepoint).
                                let fast = std::panic::catch_unwind(
                                    std::panic::AssertUnwindSafe(|| {
                                        failpoint.check(&d).map_err(EngineError::from).and_then(
                                            |()| apply_delivery(tx, &d, &settings, &desk, now),
                                        )
                                    }),
                                );
                                match fast {
                                    Ok(Ok(o)) => Ok(o),
                                    Ok(Err(e)) if is_fault(&e) => {
                                        return Err(BatchError::Engine(e))
                                    }
                                    // Undo the whole attempt; the careful one isolates it.
                                    Ok(Err(_)) | Err(_) => return Err(BatchError::NeedsCare),
                                }
                            };
                            match applied {
                                Ok(o) => {
                                    through = item.id;
                                    out.push((item.id, ItemOutcome::Applied(o)));
                                    continue;
                                }
                                Err(why) => why,
                            }
                        }
                    };
                    let failures = item.failures + 1;
                    if item.delivery.is_ok() && failures < PARK_AFTER {
                        tracing::warn!(inbox_id = item.id, failures, error = %error, "delivery failed; trying again");
                        out.push((item.id, ItemOutcome::Failed(error)));
                        break;
                    }
                    tracing::error!(inbox_id = item.id, failures, error = %error, "delivery parked: `admin inbox` lists it, `admin inbox retry` tries it again");
                    tx.park_delivery(&ParkedDelivery {
                        inbox_id: item.id,
                        received_at: item.received_at,
                        body: item.body,
                        error: error.clone(),
                        attempts: failures,
                        parked_at: now,
                    })?;
                    through = item.id;
                    out.push((item.id, ItemOutcome::Parked(error)));
                }
                tx.set_inbox_processed_through(through)?;
                Ok(BatchOutcome {
                    through,
                    items: out,
                })
            })
            .await
    }

    /// Whether `caller` may see and handle the inbox (the operator only).
    ///
    /// # Errors
    /// `PermissionDenied` for an agent.
    pub fn inbox_allowed(&self, caller: &Caller) -> Result<(), EngineError> {
        operator_only(caller, "handle the inbox")
    }

    /// Tries a parked delivery again, parsed by the caller's `parse` (which also says how many
    /// messages were for another business number); on success it leaves the parked list, on
    /// failure it stays there with the new error and one more attempt.
    ///
    /// # Errors
    /// `PermissionDenied` for an agent; `Missing` when no delivery with that id is parked;
    /// `FailedPrecondition` when it fails again; storage.
    pub async fn retry_parked(
        &self,
        caller: &Caller,
        inbox_id: i64,
        parse: impl FnOnce(&[u8]) -> Result<(Delivery, usize), String> + Send + 'static,
    ) -> Result<(DeliveryOutcome, usize), EngineError> {
        operator_only(caller, "handle the inbox")?;
        let failpoint = self.failpoint.clone();
        let settings = self.settings.clone();
        let desk = self.desk.clone();
        let now = self.now();
        let parked = self
            .store
            .parked_delivery(inbox_id)
            .await?
            .ok_or_else(|| EngineError::Missing(format!("no parked delivery {inbox_id}")))?;
        let parsed = parse(&parked.body);
        type Retried = Result<(DeliveryOutcome, usize), EngineError>;
        self.store
            .write(move |tx| -> Result<Retried, EngineError> {
                let error = match parsed {
                    Err(e) => format!("the body cannot be read: {e}"),
                    Ok((mut d, other)) => {
                        clamp_timestamps(&mut d, now);
                        match apply_isolated(tx, &d, &failpoint, &settings, &desk, now)? {
                            Ok(o) => {
                                tx.remove_parked(inbox_id)?;
                                return Ok(Ok((o, other)));
                            }
                            Err(why) => why,
                        }
                    }
                };
                tx.park_delivery(&ParkedDelivery {
                    error: error.clone(),
                    attempts: parked.attempts.saturating_add(1),
                    parked_at: now,
                    ..parked
                })?;
                Ok(Err(EngineError::FailedPrecondition(format!(
                    "delivery {inbox_id} failed again and stays parked: {error}"
                ))))
            })
            .await?
    }

    /// Drops a parked delivery for good; false when none had that id.
    ///
    /// # Errors
    /// `PermissionDenied` for an agent; storage.
    pub async fn drop_parked(&self, caller: &Caller, inbox_id: i64) -> Result<bool, EngineError> {
        operator_only(caller, "handle the inbox")?;
        Ok(self
            .store
            .write(move |tx| tx.remove_parked(inbox_id))
            .await?)
    }

    /// Makes processing fail for every delivery holding a message with this wamid (`None`:
    /// none), as a defect would: the tests' poison delivery.
    #[cfg(feature = "failpoints")]
    pub fn fail_deliveries_with(&self, wamid: Option<&str>) {
        self.failpoint.set(wamid);
    }
}

/// A test-only fault: processing a delivery with a given wamid fails. Without the
/// `failpoints` feature it is empty and never fails.
#[derive(Debug, Clone, Default)]
pub(super) struct Failpoint {
    #[cfg(feature = "failpoints")]
    wamid: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Failpoint {
    #[cfg(feature = "failpoints")]
    fn set(&self, wamid: Option<&str>) {
        if let Ok(mut w) = self.wamid.lock() {
            *w = wamid.map(str::to_string);
        }
    }

    #[allow(clippy::unused_self, unused_variables)]
    fn check(&self, d: &Delivery) -> Result<(), StoreError> {
        #[cfg(feature = "failpoints")]
        if let Ok(w) = self.wamid.lock() {
            if let Some(w) = w.as_deref() {
                if d.messages.iter().any(|m| m.wamid == w) {
                    return Err(StoreError::Internal(format!("failpoint: {w}")));
                }
            }
        }
        Ok(())
    }
}
