//! The inbox's processor: takes acknowledged webhook bodies from the durable inbox in arrival
//! order, parses them (off the writer thread), drops what is addressed to another business
//! number, and hands them to the engine in batches. It also keeps what became of recent
//! deliveries ([`Tracker`]), for `admin inbox`, metrics and callers that want to wait for a
//! delivery's effects (the tests; scripts through the operator's API).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    engine::{DeliveryOutcome, Engine, InboxItem, ItemOutcome},
    inbound::Delivery,
    metrics::Metrics,
    throttle::ErrorThrottle,
    webhook,
};

/// The most deliveries processed in one transaction. A batch is only this large when a backlog
/// is waiting (otherwise it holds what has arrived). Larger batches commit less often and write
/// each hot page (a contact's row, an index page) once for many messages: 256 against 64 wrote
/// ~10 KiB per message instead of ~15 and processed ~25% more per second (docs/benchmarks.md).
/// Every other write (an agent's send, the sender's record of Meta's answer) waits behind the
/// batch: ~35 ms for 256 in a release build.
pub const BATCH: usize = 256;

/// What the tracker remembers of processed deliveries (older ones only say "processed").
const REMEMBERED: usize = 65_536;

/// What became of one inbox delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxStatus {
    /// No delivery has this id (yet).
    Unknown,
    /// Acknowledged, not processed yet.
    Pending {
        /// Failed attempts so far.
        failures: u32,
        /// The last failure.
        last_error: Option<String>,
    },
    /// Processed.
    Applied {
        /// What it did.
        outcome: DeliveryOutcome,
        /// Messages in it addressed to another business number (ignored).
        other_number: usize,
    },
    /// Processed long enough ago that the details are forgotten.
    Processed,
    /// Set aside after failing again and again (`admin inbox`).
    Parked {
        /// Why.
        error: String,
    },
}

#[derive(Default)]
struct State {
    through: i64,
    last_id: i64,
    outcomes: BTreeMap<i64, InboxStatus>,
    failures: HashMap<i64, (u32, String)>,
    /// Deliveries the webhook handler already parsed, by inbox id, until the processor takes
    /// them (at most [`HANDED_OVER`]).
    parsed: HashMap<i64, Delivery>,
}

/// The most parsed deliveries held for the processor; past it, it parses the stored bytes.
const HANDED_OVER: usize = 4096;

/// What became of recent deliveries, and a way to wait for one.
pub struct Tracker {
    state: Mutex<State>,
    progress: watch::Sender<u64>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker").finish_non_exhaustive()
    }
}

impl Default for Tracker {
    fn default() -> Tracker {
        Tracker {
            state: Mutex::new(State::default()),
            progress: watch::channel(0).0,
        }
    }
}

impl Tracker {
    fn update(&self, f: impl FnOnce(&mut State)) {
        if let Ok(mut s) = self.state.lock() {
            f(&mut s);
        }
        self.progress.send_modify(|n| *n += 1);
    }

    /// Notes an acknowledged delivery, with what the handler parsed of it.
    pub fn appended(&self, id: i64, delivery: Delivery) {
        if let Ok(mut s) = self.state.lock() {
            s.last_id = s.last_id.max(id);
            if s.parsed.len() < HANDED_OVER && id > s.through {
                s.parsed.insert(id, delivery);
            }
        }
    }

    /// The handler's parse of delivery `id`, if it is still held.
    fn take_parsed(&self, id: i64) -> Option<Delivery> {
        self.state
            .lock()
            .ok()
            .and_then(|mut s| s.parsed.remove(&id))
    }

    /// What became of delivery `id`.
    pub fn status(&self, id: i64) -> InboxStatus {
        let Ok(s) = self.state.lock() else {
            return InboxStatus::Unknown;
        };
        if let Some(o) = s.outcomes.get(&id) {
            return o.clone();
        }
        if id <= s.through && id > 0 {
            return InboxStatus::Processed;
        }
        if id > s.last_id || id <= 0 {
            return InboxStatus::Unknown;
        }
        match s.failures.get(&id) {
            Some((failures, e)) => InboxStatus::Pending {
                failures: *failures,
                last_error: Some(e.clone()),
            },
            None => InboxStatus::Pending {
                failures: 0,
                last_error: None,
            },
        }
    }

    /// Waits up to `timeout` until delivery `id` is processed or parked, or an attempt at it
    /// failed; returns its status then.
    pub async fn wait(&self, id: i64, timeout: Duration) -> InboxStatus {
        let mut rx = self.progress.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.status(id) {
                InboxStatus::Pending {
                    last_error: None, ..
                } => {}
                done => return done,
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.status(id);
            }
        }
    }

    /// Failures so far of the given deliveries.
    fn failures(&self, id: i64) -> u32 {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.failures.get(&id).map(|f| f.0))
            .unwrap_or(0)
    }

    /// The watermark: every delivery up to it is applied or parked.
    pub fn through(&self) -> i64 {
        self.state.lock().map_or(0, |s| s.through)
    }
}

/// Parses a stored body and drops what is addressed to another business number; returns the
/// delivery and how many messages were dropped.
pub fn parse_stored(body: &[u8], own_number: Option<&str>) -> Result<(Delivery, usize), String> {
    let mut d = webhook::parse(body).map_err(|e| e.to_string())?;
    let other = match own_number {
        Some(own) => webhook::keep_own_number(&mut d, own),
        None => 0,
    };
    Ok((d, other))
}

/// Runs until `shutdown`: processes the inbox, oldest first, in batches of up to [`BATCH`].
pub async fn run_processor(
    engine: Engine,
    tracker: Arc<Tracker>,
    metrics: Arc<Metrics>,
    own_number: Option<Arc<String>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let store = engine.store().clone();
    let inbox = store.inbox().clone();
    let appended = inbox.appended();
    let mut errors = ErrorThrottle::new(Duration::from_secs(30));
    let mut backoff = Duration::from_millis(20);
    let pause = |d: Duration, mut shutdown: watch::Receiver<bool>| async move {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = shutdown.changed() => {}
        }
    };
    let mut through = loop {
        match store.inbox_processed_through().await {
            Ok(t) => break t,
            Err(e) => {
                if let Some(n) = errors.check(&e.to_string(), std::time::Instant::now()) {
                    tracing::error!(error = %e, repeated = n, "inbox: reading the watermark failed");
                }
                pause(backoff, shutdown.clone()).await;
                if *shutdown.borrow() {
                    return;
                }
            }
        }
    };
    tracker.update(|s| {
        s.through = through;
        s.last_id = s.last_id.max(inbox.last_id());
    });
    let mut leading = true;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Several daemons on one PostgreSQL desk: only the leader processes (in one order
        // for the whole desk); the others wait to take over.
        if !store.is_leader() {
            leading = false;
            pause(Duration::from_millis(250), shutdown.clone()).await;
            continue;
        }
        if !leading {
            leading = true;
            match store.inbox_processed_through().await {
                Ok(t) => through = through.max(t),
                Err(e) => {
                    tracing::warn!(error = %e, "inbox: reading the watermark failed");
                    pause(backoff, shutdown.clone()).await;
                    continue;
                }
            }
        }
        let rows = match inbox.read_after(through, BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                if let Some(n) = errors.check(&e.to_string(), std::time::Instant::now()) {
                    tracing::error!(error = %e, repeated = n, "inbox: reading failed");
                }
                pause(Duration::from_secs(1), shutdown.clone()).await;
                continue;
            }
        };
        if rows.is_empty() {
            tokio::select! {
                _ = appended.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let failures: Vec<u32> = ids.iter().map(|id| tracker.failures(*id)).collect();
        let own = own_number.clone();
        let handed: Vec<Option<Delivery>> = ids.iter().map(|id| tracker.take_parsed(*id)).collect();
        let handed_all = handed.iter().all(Option::is_some);
        let build = move || {
            rows.into_iter()
                .zip(failures)
                .zip(handed)
                .map(|((row, failures), handed)| {
                    let own = own.as_deref().map(String::as_str);
                    let parsed = match handed {
                        Some(mut d) => {
                            let other = own.map_or(0, |own| webhook::keep_own_number(&mut d, own));
                            Ok((d, other))
                        }
                        None => parse_stored(&row.body, own),
                    };
                    let other = parsed.as_ref().map_or(0, |p| p.1);
                    (
                        InboxItem {
                            id: row.id,
                            received_at: row.received_at,
                            body: row.body,
                            delivery: parsed.map(|p| p.0),
                            failures,
                        },
                        other,
                    )
                })
                .collect::<Vec<_>>()
        };
        // Parsing is CPU work: off the runtime, unless every delivery was handed over.
        let parsed = if handed_all {
            Ok(build())
        } else {
            tokio::task::spawn_blocking(build).await
        };
        let Ok(parsed) = parsed else {
            tracing::error!("inbox: parsing a batch panicked");
            pause(Duration::from_secs(1), shutdown.clone()).await;
            continue;
        };
        let others: HashMap<i64, usize> = parsed.iter().map(|(i, o)| (i.id, *o)).collect();
        let items = parsed.into_iter().map(|(i, _)| i).collect();
        match engine.process_inbox(items).await {
            Ok(batch) => {
                let mut failed = false;
                let (mut applied, mut parked) = (0u64, 0u64);
                for (id, outcome) in &batch.items {
                    match outcome {
                        ItemOutcome::Applied(o) => {
                            applied += 1;
                            metrics.messages_in.add(o.applied as u64);
                            metrics.messages_duplicate.add(o.duplicates as u64);
                            metrics.statuses.add(o.statuses as u64);
                            let other = others.get(id).copied().unwrap_or(0);
                            if other > 0 {
                                tracing::warn!(
                                    inbox_id = id,
                                    count = other,
                                    "messages addressed to another business number ignored"
                                );
                            }
                        }
                        ItemOutcome::Parked(_) => parked += 1,
                        ItemOutcome::Failed(_) => failed = true,
                    }
                }
                metrics.inbox_processed.add(applied);
                metrics.inbox_parked.add(parked);
                through = batch.through;
                tracker.update(|s| {
                    s.through = through;
                    for (id, outcome) in batch.items {
                        match outcome {
                            ItemOutcome::Applied(outcome) => {
                                s.failures.remove(&id);
                                s.outcomes.insert(
                                    id,
                                    InboxStatus::Applied {
                                        outcome,
                                        other_number: others.get(&id).copied().unwrap_or(0),
                                    },
                                );
                            }
                            ItemOutcome::Parked(error) => {
                                s.failures.remove(&id);
                                s.outcomes.insert(id, InboxStatus::Parked { error });
                            }
                            ItemOutcome::Failed(error) => {
                                let f = s.failures.entry(id).or_insert((0, String::new()));
                                f.0 += 1;
                                f.1 = error;
                            }
                        }
                    }
                    while s.outcomes.len() > REMEMBERED {
                        s.outcomes.pop_first();
                    }
                    // A parse handed over after the processor read its row from the file.
                    let through = s.through;
                    s.parsed.retain(|id, _| *id > through);
                });
                inbox.release_through(through);
                if failed {
                    pause(backoff, shutdown.clone()).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                } else {
                    backoff = Duration::from_millis(20);
                    let cleared = errors.clear();
                    if cleared > 0 {
                        tracing::info!(repeated = cleared, "inbox: processing again");
                    }
                }
            }
            Err(e) => {
                // The database cannot be written: the whole batch waits, nothing is parked.
                let message = e.to_string();
                if let Some(n) = errors.check(&message, std::time::Instant::now()) {
                    tracing::error!(error = %message, repeated = n, pending = ids.len(), "inbox: processing failed; trying again");
                }
                tracker.update(|s| {
                    for id in &ids {
                        let f = s.failures.entry(*id).or_insert((0, String::new()));
                        f.1 = message.clone();
                    }
                });
                pause(backoff, shutdown.clone()).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    tracing::debug!("inbox processor stopped");
}
