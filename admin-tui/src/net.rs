//! The network task: the only owner of the gRPC client (the shared [`proto::client`], set up
//! from the options in `cli.rs`; the token is read again at every attempt). It receives [`NetCmd`]s from the UI
//! loop and answers with [`NetEvent`]s over a channel; only converted types (`model.rs`) cross
//! over. The `WatchChats` stream runs in its own task (one at a time; a new `Watch` replaces the
//! old one); each unary call runs in a task of its own, so a slow call never blocks the others.
//!
//! Adding an RPC (as `MarkRead` was): a `NetCmd` variant, a `NetEvent` variant for its
//! answer, and one arm in [`call`].

use std::{future::Future, time::Duration};

use proto::{
    client::{root_cause as innermost, Client, ClientConfig, ClientError},
    v1 as pb,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tonic::{transport::Channel, Code, Status};

use crate::app::{Failure, Msg, NetCmd, NetEvent, LIST_PAGE, THREAD_PAGE};
use crate::model;
use crate::strings;

/// The longest a unary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest the stream may take to answer.
const WATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What every task needs: the channel, where the token is, the way back to the UI.
#[derive(Clone)]
struct Ctx {
    channel: Channel,
    cfg: ClientConfig,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Ctx {
    /// A client with the token as it is now (the file is read again at every attempt, so a
    /// daemon started after the console is picked up).
    fn client(&self) -> Result<Client, String> {
        self.cfg.client(self.channel.clone()).map_err(|e| match e {
            ClientError::NoToken(why) => why.to_string(),
            other => other.to_string(),
        })
    }

    /// Sends to the UI; false once it has gone.
    fn send(&self, e: NetEvent) -> bool {
        self.tx.send(Msg::Net(e)).is_ok()
    }
}

/// Starts the network task; returns where to send it commands. It ends when that sender is
/// dropped.
pub(crate) fn spawn(
    channel: Channel,
    cfg: ClientConfig,
    tx: mpsc::UnboundedSender<Msg>,
) -> mpsc::UnboundedSender<NetCmd> {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let ctx = Ctx { channel, cfg, tx };
    tokio::spawn(run(ctx, cmd_rx));
    cmd_tx
}

async fn run(ctx: Ctx, mut rx: mpsc::UnboundedReceiver<NetCmd>) {
    let mut watch: Option<JoinHandle<()>> = None;
    while let Some(cmd) = rx.recv().await {
        match cmd {
            NetCmd::Watch {
                gen,
                after_sequence,
                delay,
            } => {
                if let Some(old) = watch.take() {
                    old.abort();
                }
                watch = Some(tokio::spawn(watch_chats(
                    ctx.clone(),
                    gen,
                    after_sequence,
                    delay,
                )));
            }
            other => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let answer = call(&ctx, other).await;
                    if let Some(e) = answer {
                        ctx.send(e);
                    }
                });
            }
        }
    }
    if let Some(w) = watch {
        w.abort();
    }
}

/// Runs one unary call with a timeout; errors become readable text.
async fn unary<T, F, Fut>(ctx: &Ctx, f: F) -> Result<T, String>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    let client = ctx.client()?;
    match tokio::time::timeout(CALL_TIMEOUT, f(client)).await {
        Err(_) => Err("the daemon did not answer in time".to_string()),
        Ok(Err(status)) => {
            tracing::warn!(code = ?status.code(), message = status.message(), "call failed");
            Err(describe(&status))
        }
        Ok(Ok(r)) => Ok(r.into_inner()),
    }
}

/// One unary command and its answer.
// The contract grows (new request fields); `..Default::default()` keeps this compiling and
// sends their defaults.
#[allow(clippy::needless_update)]
async fn call(ctx: &Ctx, cmd: NetCmd) -> Option<NetEvent> {
    Some(match cmd {
        NetCmd::Watch { .. } => return None,
        NetCmd::LoadThread { address, before } => {
            let req = pb::GetConversationRequest {
                phone_number: address.clone(),
                page_size: THREAD_PAGE,
                before,
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.get_conversation(req).await }).await;
            NetEvent::Thread {
                address,
                before,
                result: result.map(model::thread_page),
            }
        }
        NetCmd::List {
            req,
            query,
            page_token,
            append,
        } => {
            let request = pb::ListConversationsRequest {
                active_only: false,
                page_size: LIST_PAGE,
                page_token,
                query,
                ..Default::default()
            };
            let result = unary(
                ctx,
                |mut c| async move { c.list_conversations(request).await },
            )
            .await;
            NetEvent::List {
                req,
                append,
                result: result.map(model::list_page),
            }
        }
        NetCmd::Send {
            address,
            local_id,
            text,
            key,
            takeover,
        } => {
            let req = pb::SendMessageRequest {
                phone_number: address.clone(),
                message: text,
                idempotency_key: key,
                takeover,
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.send_message(req).await }).await;
            NetEvent::Sent {
                address,
                local_id,
                result: result.map(|r| model::SentAck {
                    message_id: r.message_id,
                    at: model::time(r.timestamp.as_ref()),
                    template_used: r.template_used,
                    chat_started: r.chat_started,
                }),
            }
        }
        NetCmd::EndChat {
            address,
            message,
            skip_closing_message,
        } => {
            let req = pb::EndChatRequest {
                phone_number: address.clone(),
                message,
                skip_closing_message,
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.end_chat(req).await }).await;
            NetEvent::Ended {
                address,
                result: result.map(|r| r.template_used),
            }
        }
        NetCmd::Stats { days } => {
            let to = chrono::Utc::now().timestamp();
            let req = pb::GetStatsRequest {
                from: Some(prost_types::Timestamp {
                    seconds: to - i64::from(days) * 86_400,
                    nanos: 0,
                }),
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.get_stats(req).await }).await;
            NetEvent::Stats {
                result: result.map(model::stats),
            }
        }
        NetCmd::MarkRead { address } => {
            let req = pb::MarkReadRequest {
                phone_number: address.clone(),
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.mark_read(req).await }).await;
            NetEvent::MarkedRead {
                address,
                result: result.map(|r| r.marked),
            }
        }
        NetCmd::LoadDesk => NetEvent::Desk(load_desk(ctx).await),
        NetCmd::SetAvailability { available } => {
            let req = pb::SetAvailabilityRequest {
                available,
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.set_availability(req).await }).await;
            NetEvent::Availability(result.map(|a| a.available))
        }
        NetCmd::Claim { address } => {
            let req = pb::ClaimConversationRequest {
                phone_number: address.clone(),
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.claim_conversation(req).await }).await;
            desk_done(address, result, |s| strings::claimed(s.name()))
        }
        NetCmd::Assign {
            address,
            agent,
            note,
        } => {
            let req = pb::AssignConversationRequest {
                phone_number: address.clone(),
                agent: agent.clone(),
                note,
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.assign_conversation(req).await }).await;
            desk_done(address, result, |s| strings::assigned(s.name(), &agent))
        }
        NetCmd::Transfer {
            address,
            agent,
            note,
        } => {
            let req = pb::TransferConversationRequest {
                phone_number: address.clone(),
                agent: agent.clone(),
                note,
                ..Default::default()
            };
            let result = unary(
                ctx,
                |mut c| async move { c.transfer_conversation(req).await },
            )
            .await;
            desk_done(address, result, |s| strings::transferred(s.name(), &agent))
        }
        NetCmd::SetPriority { address, priority } => {
            let req = pb::SetPriorityRequest {
                phone_number: address.clone(),
                priority: priority.to_pb() as i32,
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.set_priority(req).await }).await;
            desk_done(address, result, |s| {
                strings::priority_set(s.name(), priority.label())
            })
        }
        NetCmd::AddNote { address, text } => {
            let req = pb::AddNoteRequest {
                phone_number: address.clone(),
                text,
                ..Default::default()
            };
            let result = unary(ctx, |mut c| async move { c.add_note(req).await }).await;
            NetEvent::DeskDone {
                done: strings::note_added(&address),
                address,
                result: result.map(|_| None),
            }
        }
    })
}

/// A desk call's answer: the conversation afterwards and what to say.
fn desk_done(
    address: String,
    result: Result<pb::ConversationSummary, String>,
    done: impl FnOnce(&model::Summary) -> String,
) -> NetEvent {
    let summary = result.map(model::summary);
    let text = summary.as_ref().map(done).unwrap_or_default();
    NetEvent::DeskDone {
        address,
        done: text,
        result: summary.map(Some),
    }
}

/// Who this console is, the enabled agents and the canned responses.
#[allow(clippy::needless_update)]
async fn load_desk(ctx: &Ctx) -> Result<model::Desk, String> {
    let me = unary(ctx, |mut c| async move {
        c.who_am_i(pb::WhoAmIRequest::default()).await
    })
    .await?;
    let agents = unary(ctx, |mut c| async move {
        c.list_agents(pb::ListAgentsRequest::default()).await
    })
    .await?;
    let canned = unary(ctx, |mut c| async move {
        c.list_canned_responses(pb::ListCannedResponsesRequest::default())
            .await
    })
    .await?;
    Ok(model::Desk {
        me: me.agent.map(model::agent),
        agents: agents
            .agents
            .into_iter()
            .filter(|a| a.enabled)
            .map(model::agent)
            .collect(),
        canned: canned.responses.into_iter().map(model::canned).collect(),
    })
}

/// Follows `WatchChats` after `delay`, resuming after `after`, until it ends or is replaced.
#[allow(clippy::needless_update)]
async fn watch_chats(ctx: Ctx, gen: u64, after: u64, delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let ended = |failure| NetEvent::StreamEnded { gen, failure };
    let mut client = match ctx.client() {
        Ok(c) => c,
        Err(e) => {
            ctx.send(ended(Failure::NoToken(e)));
            return;
        }
    };
    let request = pb::WatchChatsRequest {
        after_sequence: after,
        ..Default::default()
    };
    let mut stream = match tokio::time::timeout(WATCH_TIMEOUT, client.watch_chats(request)).await {
        Err(_) => {
            ctx.send(ended(Failure::Unreachable("no answer".into())));
            return;
        }
        Ok(Err(status)) => {
            tracing::info!(code = ?status.code(), message = status.message(), "watch refused");
            ctx.send(ended(classify(&status, false)));
            return;
        }
        Ok(Ok(r)) => r.into_inner(),
    };
    tracing::info!(gen, after, "watching");
    if !ctx.send(NetEvent::Connected { gen }) {
        return;
    }
    loop {
        match stream.message().await {
            Ok(Some(e)) => {
                if !ctx.send(NetEvent::Event {
                    gen,
                    event: model::event(e),
                }) {
                    return;
                }
            }
            Ok(None) => {
                ctx.send(ended(Failure::Lost("the daemon closed the stream".into())));
                return;
            }
            Err(status) => {
                tracing::info!(code = ?status.code(), message = status.message(), "watch ended");
                ctx.send(ended(classify(&status, true)));
                return;
            }
        }
    }
}

/// Why a watch failed, for the status bar.
fn classify(status: &Status, established: bool) -> Failure {
    match status.code() {
        // An open stream ended by the daemon: this token's access was revoked.
        Code::Unauthenticated if established => {
            let why = status.message();
            Failure::Revoked(
                why.strip_prefix("your access was revoked: ")
                    .unwrap_or(why)
                    .to_string(),
            )
        }
        Code::Unauthenticated => Failure::TokenRefused(status.message().to_string()),
        Code::Unavailable | Code::Unknown if !established => {
            Failure::Unreachable(root_cause(status))
        }
        Code::Unavailable => Failure::Lost(status.message().to_string()),
        _ => Failure::Lost(describe(status)),
    }
}

/// The innermost error under a transport failure ("Connection refused (os error 111)").
fn root_cause(status: &Status) -> String {
    innermost(status).unwrap_or_else(|| status.message().to_string())
}

/// A failed call in words.
pub(crate) fn describe(status: &Status) -> String {
    match status.code() {
        Code::Unavailable => {
            let cause = root_cause(status);
            if cause.is_empty() {
                crate::strings::UNREACHABLE.to_string()
            } else {
                format!("{}: {cause}", crate::strings::UNREACHABLE)
            }
        }
        Code::Unauthenticated => format!("token refused: {}", status.message()),
        Code::FailedPrecondition | Code::InvalidArgument | Code::NotFound => {
            status.message().to_string()
        }
        Code::DeadlineExceeded => "the daemon did not answer in time".to_string(),
        code => format!("{}: {}", code.description(), status.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_for_the_status_bar() {
        assert!(matches!(
            classify(&Status::unauthenticated("invalid token"), false),
            Failure::TokenRefused(_)
        ));
        // UNAUTHENTICATED ending an open stream: the token was revoked while in use.
        assert!(matches!(
            classify(&Status::unauthenticated("your access was revoked"), true),
            Failure::Revoked(_)
        ));
        assert!(matches!(
            classify(&Status::unavailable("tcp connect error"), false),
            Failure::Unreachable(_)
        ));
        assert!(matches!(
            classify(&Status::unavailable("the daemon is shutting down"), true),
            Failure::Lost(_)
        ));
        assert_eq!(
            describe(&Status::failed_precondition("no active chat")),
            "no active chat"
        );
    }
}
