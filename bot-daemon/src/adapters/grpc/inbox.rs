//! The durable inbox over gRPC (the operator's): what is waiting and parked (`GetInbox`), what
//! became of one delivery (`GetInboxDelivery`, optionally waiting for it), and retrying or
//! dropping a parked one.

use std::time::Duration;

use proto::v1 as pb;
use tonic::{Request, Response, Status};

use super::{agents::caller_of, convert, AdminService, MAX_PAGE};
use crate::{inbox::InboxStatus, storage::ParkedDelivery};

type Rpc<T> = Result<Response<T>, Status>;

/// The longest `GetInboxDelivery` waits.
pub const MAX_WAIT_MS: u32 = 30_000;

fn parked(p: &ParkedDelivery) -> pb::ParkedDelivery {
    pb::ParkedDelivery {
        inbox_id: p.inbox_id,
        received_at: Some(convert::ts(p.received_at)),
        error: p.error.clone(),
        attempts: p.attempts,
        parked_at: Some(convert::ts(p.parked_at)),
        size_bytes: u32::try_from(p.body.len()).unwrap_or(u32::MAX),
    }
}

/// A tracker's status in the API's terms.
pub fn delivery(inbox_id: i64, status: InboxStatus) -> pb::InboxDelivery {
    let mut d = pb::InboxDelivery {
        inbox_id,
        ..Default::default()
    };
    let state = match status {
        InboxStatus::Unknown => pb::InboxState::Unknown,
        InboxStatus::Pending {
            failures,
            last_error,
        } => {
            d.failures = failures;
            d.error = last_error.unwrap_or_default();
            pb::InboxState::Pending
        }
        InboxStatus::Applied {
            outcome,
            other_number,
        } => {
            let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
            d.applied = n(outcome.applied);
            d.duplicates = n(outcome.duplicates);
            d.statuses = n(outcome.statuses);
            d.other_number = n(other_number);
            pb::InboxState::Processed
        }
        InboxStatus::Processed => {
            d.details_forgotten = true;
            pb::InboxState::Processed
        }
        InboxStatus::Parked { error } => {
            d.error = error;
            pb::InboxState::Parked
        }
    };
    d.state = state as i32;
    d
}

impl AdminService {
    pub(super) async fn get_inbox_impl(
        &self,
        r: Request<pb::GetInboxRequest>,
    ) -> Rpc<pb::GetInboxResponse> {
        let caller = caller_of(&r)?;
        self.engine.inbox_allowed(&caller)?;
        let limit = match r.into_inner().limit {
            0 => 50,
            n if n <= MAX_PAGE => n,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "limit must be between 1 and {MAX_PAGE} (0 for 50)"
                )))
            }
        };
        let store = self.engine.store();
        let gauges = store.gauges(self.engine.now()).await?;
        let (list, total) = store.parked_deliveries(limit).await?;
        Ok(Response::new(pb::GetInboxResponse {
            pending: u64::try_from(gauges.inbox_pending).unwrap_or(0),
            oldest_pending_age_ms: gauges.inbox_oldest_age_ms,
            processed_through: store.inbox_processed_through().await?,
            parked: list.iter().map(parked).collect(),
            parked_total: total,
        }))
    }

    pub(super) async fn get_inbox_delivery_impl(
        &self,
        r: Request<pb::GetInboxDeliveryRequest>,
    ) -> Rpc<pb::InboxDelivery> {
        let caller = caller_of(&r)?;
        self.engine.inbox_allowed(&caller)?;
        let r = r.into_inner();
        if r.inbox_id <= 0 {
            return Err(Status::invalid_argument(
                "inbox_id must be an inbox id (>= 1)",
            ));
        }
        if r.wait_ms > MAX_WAIT_MS {
            return Err(Status::invalid_argument(format!(
                "wait_ms must be at most {MAX_WAIT_MS}"
            )));
        }
        let status = self
            .inbox
            .wait(r.inbox_id, Duration::from_millis(u64::from(r.wait_ms)))
            .await;
        // A delivery parked before a restart is still parked, whatever the tracker forgot.
        let status = match status {
            InboxStatus::Processed => {
                match self.engine.store().parked_delivery(r.inbox_id).await? {
                    Some(p) => InboxStatus::Parked { error: p.error },
                    None => InboxStatus::Processed,
                }
            }
            other => other,
        };
        Ok(Response::new(delivery(r.inbox_id, status)))
    }

    pub(super) async fn retry_parked_impl(
        &self,
        r: Request<pb::RetryParkedDeliveryRequest>,
    ) -> Rpc<pb::InboxDelivery> {
        let caller = caller_of(&r)?;
        let id = r.into_inner().inbox_id;
        let own = self.own_number.clone();
        let outcome = self
            .engine
            .retry_parked(&caller, id, move |body| {
                crate::inbox::parse_stored(body, own.as_deref().map(String::as_str))
            })
            .await?;
        Ok(Response::new(delivery(
            id,
            InboxStatus::Applied {
                outcome: outcome.0,
                other_number: outcome.1,
            },
        )))
    }

    pub(super) async fn drop_parked_impl(
        &self,
        r: Request<pb::DropParkedDeliveryRequest>,
    ) -> Rpc<pb::DropParkedDeliveryResponse> {
        let caller = caller_of(&r)?;
        let id = r.into_inner().inbox_id;
        if !self.engine.drop_parked(&caller, id).await? {
            return Err(Status::not_found(format!("no parked delivery {id}")));
        }
        Ok(Response::new(pb::DropParkedDeliveryResponse {}))
    }
}
