//! `bot-daemon admin inbox`: the durable inbox as the operator sees it — how much is waiting
//! and for how long, and the parked deliveries, which `retry` tries again and `drop` forgets.

use proto::{client::Client, v1 as pb};
use serde_json::{json, Value};

use super::output::{one_line, ts, ts_json, Output};
use crate::cli_output::CliError;

/// What `admin inbox` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum InboxCommand {
    /// Try a parked delivery again (it leaves the list when it goes through).
    Retry {
        /// The parked delivery's inbox id.
        inbox_id: i64,
    },
    /// Forget a parked delivery for good (its messages are not processed).
    Drop {
        /// The parked delivery's inbox id.
        inbox_id: i64,
    },
}

/// `admin inbox [retry ID | drop ID]`.
pub(crate) async fn run(
    c: &mut Client,
    cmd: Option<&InboxCommand>,
    limit: u32,
    json: bool,
) -> Result<Output, CliError> {
    match cmd {
        None => {
            let r = c
                .get_inbox(pb::GetInboxRequest { limit })
                .await
                .map_err(CliError::from_status)?
                .into_inner();
            Ok(render_inbox(&r, json))
        }
        Some(InboxCommand::Retry { inbox_id }) => {
            let r = c
                .retry_parked_delivery(pb::RetryParkedDeliveryRequest {
                    inbox_id: *inbox_id,
                })
                .await
                .map_err(CliError::from_status)?
                .into_inner();
            Ok(if json {
                Output::Json(delivery_json(&r))
            } else {
                Output::line(format!(
                    "delivery {} processed: {} message(s) applied, {} already processed, {} status(es)",
                    r.inbox_id, r.applied, r.duplicates, r.statuses
                ))
            })
        }
        Some(InboxCommand::Drop { inbox_id }) => {
            c.drop_parked_delivery(pb::DropParkedDeliveryRequest {
                inbox_id: *inbox_id,
            })
            .await
            .map_err(CliError::from_status)?;
            Ok(if json {
                Output::Json(json!({ "dropped": inbox_id }))
            } else {
                Output::line(format!("delivery {inbox_id} dropped"))
            })
        }
    }
}

fn delivery_json(r: &pb::InboxDelivery) -> Value {
    json!({
        "inbox_id": r.inbox_id,
        "state": pb::InboxState::try_from(r.state).map_or("unspecified", |s| match s {
            pb::InboxState::Unknown => "unknown",
            pb::InboxState::Pending => "pending",
            pb::InboxState::Processed => "processed",
            pb::InboxState::Parked => "parked",
            pb::InboxState::Unspecified => "unspecified",
        }),
        "applied": r.applied,
        "duplicates": r.duplicates,
        "statuses": r.statuses,
        "error": r.error,
    })
}

fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// `admin inbox`'s answer: a summary line and the parked deliveries, or JSON.
pub(crate) fn render_inbox(r: &pb::GetInboxResponse, json: bool) -> Output {
    if json {
        return Output::Json(json!({
            "pending": r.pending,
            "oldest_pending_age_ms": r.oldest_pending_age_ms,
            "processed_through": r.processed_through,
            "parked_total": r.parked_total,
            "parked": r.parked.iter().map(|p| json!({
                "inbox_id": p.inbox_id,
                "received_at": ts_json(&p.received_at),
                "parked_at": ts_json(&p.parked_at),
                "attempts": p.attempts,
                "size_bytes": p.size_bytes,
                "error": p.error,
            })).collect::<Vec<_>>(),
        }));
    }
    let mut lines = vec![if r.pending == 0 {
        format!(
            "inbox: nothing waiting (processed through delivery {})",
            r.processed_through
        )
    } else {
        format!(
            "inbox: {} waiting, the oldest for {} (processed through delivery {})",
            r.pending,
            age(r.oldest_pending_age_ms),
            r.processed_through
        )
    }];
    if r.parked_total == 0 {
        lines.push("parked: none".to_string());
        return Output::Lines(lines);
    }
    lines.push(format!(
        "parked: {} (retry with `admin inbox retry ID`, forget with `admin inbox drop ID`)",
        r.parked_total
    ));
    lines.push(format!(
        "{:>8}  {:<19}  {:>8}  {:>7}  ERROR",
        "ID", "RECEIVED", "ATTEMPTS", "BYTES"
    ));
    for p in &r.parked {
        lines.push(format!(
            "{:>8}  {:<19}  {:>8}  {:>7}  {}",
            p.inbox_id,
            ts(&p.received_at),
            p.attempts,
            p.size_bytes,
            one_line(&p.error, 100)
        ));
    }
    if (r.parked.len() as u64) < r.parked_total {
        lines.push(format!(
            "… and {} more (--limit)",
            r.parked_total - r.parked.len() as u64
        ));
    }
    Output::Lines(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbox_reads_as_a_summary_and_a_table_of_parked_deliveries() {
        let r = pb::GetInboxResponse {
            pending: 3,
            oldest_pending_age_ms: 125_000,
            processed_through: 41,
            parked: vec![pb::ParkedDelivery {
                inbox_id: 17,
                received_at: Some(prost_types::Timestamp {
                    seconds: 1_795_000_000,
                    nanos: 0,
                }),
                error: "database error: boom\nsecond line".into(),
                attempts: 3,
                parked_at: None,
                size_bytes: 812,
            }],
            parked_total: 2,
        };
        let text = render_inbox(&r, false).text();
        assert_eq!(
            text,
            "inbox: 3 waiting, the oldest for 2 min (processed through delivery 41)\n\
             parked: 2 (retry with `admin inbox retry ID`, forget with `admin inbox drop ID`)\n\
             \x20     ID  RECEIVED             ATTEMPTS    BYTES  ERROR\n\
             \x20     17  2026-11-18 11:06:40         3      812  database error: boom second line\n\
             … and 1 more (--limit)\n"
        );
        let empty = pb::GetInboxResponse::default();
        assert_eq!(
            render_inbox(&empty, false).text(),
            "inbox: nothing waiting (processed through delivery 0)\nparked: none\n"
        );
        let j = render_inbox(&r, true).text();
        assert!(
            j.contains("\"inbox_id\":17") && j.contains("\"pending\":3"),
            "{j}"
        );
    }
}
