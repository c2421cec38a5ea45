//! The agents' gRPC API (`chatsupport.v1.SupportAdmin`), with bearer-token auth, server
//! reflection and `grpc.health.v1`. Handlers validate, call the engine or the store, convert;
//! `WatchChats` replays the event log and then follows live commits.

pub mod agents;
pub mod convert;
pub mod inbox;
pub mod stats;

use std::{pin::Pin, sync::Arc, time::Duration};

use proto::v1::{
    self as pb,
    support_admin_server::{SupportAdmin, SupportAdminServer},
};
use tokio::{
    net::TcpListener,
    sync::{broadcast::error::RecvError, mpsc, watch},
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::{
    desk::{AssignmentFilter, Caller},
    domain::{parse_contact, Address},
    engine::{Engine, EngineError},
    storage::{ListQuery, StoreError, StoredEvent},
};

/// Default and largest page sizes.
pub const DEFAULT_LIST_PAGE: u32 = 50;
/// Default thread page.
pub const DEFAULT_THREAD_PAGE: u32 = 100;
/// The largest page either call returns.
pub const MAX_PAGE: u32 = 500;

impl From<EngineError> for Status {
    fn from(e: EngineError) -> Status {
        match e {
            EngineError::NotFound(what) => Status::not_found(format!("no conversation for {what}")),
            EngineError::FailedPrecondition(m) => Status::failed_precondition(m),
            EngineError::Invalid(m) => Status::invalid_argument(m),
            EngineError::Missing(m) => Status::not_found(m),
            EngineError::AlreadyExists(m) => Status::already_exists(m),
            EngineError::PermissionDenied(m) => Status::permission_denied(m),
            EngineError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Status {
        match e {
            StoreError::NotFound(what) => Status::not_found(format!("no conversation for {what}")),
            StoreError::BadToken(m) => Status::invalid_argument(m),
            StoreError::Conflict(m) => Status::already_exists(m),
            StoreError::Closed => Status::unavailable("the daemon is shutting down"),
            // Retryable: the database comes back (space freed, file writable again).
            StoreError::Full(_) | StoreError::Unavailable(_) => {
                tracing::error!(error = %e, "a gRPC call could not use the database");
                Status::unavailable(
                    "the database cannot be written right now; retry later (see the daemon's log)",
                )
            }
            other => {
                tracing::error!(error = %other, "internal error in a gRPC call");
                Status::internal("internal error; see the daemon's log")
            }
        }
    }
}

impl AdminService {
    /// The contact a request's `field` names: phone, BSUID or `@username` (resolved by the
    /// engine: NOT_FOUND when nobody has the username).
    async fn contact(&self, field: &str, value: &str) -> Result<Address, Status> {
        let who = parse_contact(value)
            .map_err(|e| Status::invalid_argument(e.replacen("phone_number", field, 1)))?;
        Ok(self.engine.resolve_contact(who).await?)
    }
}

fn page_size(value: u32, default: u32) -> Result<u32, Status> {
    match value {
        0 => Ok(default),
        1..=MAX_PAGE => Ok(value),
        _ => Err(Status::invalid_argument(format!(
            "page_size must be between 1 and {MAX_PAGE} (0 for the default {default})"
        ))),
    }
}

/// The `SupportAdmin` implementation.
#[derive(Clone)]
pub struct AdminService {
    engine: Engine,
    auth: agents::Auth,
    /// What became of recent webhook deliveries.
    inbox: Arc<crate::inbox::Tracker>,
    /// The business number stored deliveries are filtered by when retried.
    own_number: Option<Arc<String>>,
    shutdown: watch::Receiver<bool>,
    subscribers: Arc<std::sync::atomic::AtomicUsize>,
}

/// The most `WatchChats` streams open at once.
pub const MAX_SUBSCRIBERS: usize = 256;
/// Events buffered per subscriber beyond the shared live ring.
const SUBSCRIBER_BUFFER: usize = 256;
/// A subscriber that accepts nothing for this long is dropped.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request message accepted.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// HTTP/2 receive window per stream (bytes a client may send before we read them).
const STREAM_WINDOW: u32 = 256 * 1024;
/// HTTP/2 receive window per connection.
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// Concurrent HTTP/2 streams (calls) per connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 100;
/// Streams a client may open and reset before the server reads them (rapid reset).
const MAX_PENDING_RESETS: usize = 20;

/// Counts an open stream; uncounts it when dropped.
struct SubscriberSlot(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for SubscriberSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ChatEvent, Status>> + Send>>;

#[tonic::async_trait]
impl SupportAdmin for AdminService {
    async fn list_conversations(
        &self,
        request: Request<pb::ListConversationsRequest>,
    ) -> Result<Response<pb::ListConversationsResponse>, Status> {
        let caller = agents::caller_of(&request)?;
        let r = request.into_inner();
        let assignment = match pb::AssignmentFilter::try_from(r.assignment) {
            Ok(pb::AssignmentFilter::All) => AssignmentFilter::All,
            Ok(pb::AssignmentFilter::Unassigned) => AssignmentFilter::Unassigned,
            Ok(pb::AssignmentFilter::Mine) => match caller.agent_id() {
                Some(id) => AssignmentFilter::Agent(id),
                // The operator has no chats of its own.
                None => {
                    return Ok(Response::new(pb::ListConversationsResponse::default()));
                }
            },
            Err(_) => return Err(Status::invalid_argument("unknown assignment filter")),
        };
        if r.query.chars().count() > 200 {
            return Err(Status::invalid_argument(
                "query must be at most 200 characters",
            ));
        }
        let page = self
            .engine
            .store()
            .list_conversations(ListQuery {
                active_only: r.active_only,
                page_size: page_size(r.page_size, DEFAULT_LIST_PAGE)?,
                page_token: r.page_token,
                query: r.query,
                assignment,
            })
            .await?;
        Ok(Response::new(pb::ListConversationsResponse {
            conversations: page.items.iter().map(convert::summary).collect(),
            next_page_token: page.next_token,
        }))
    }

    async fn get_conversation(
        &self,
        request: Request<pb::GetConversationRequest>,
    ) -> Result<Response<pb::Conversation>, Status> {
        let r = request.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        if r.before < 0 {
            return Err(Status::invalid_argument(
                "before must be a message id (>= 0)",
            ));
        }
        let size = page_size(r.page_size, DEFAULT_THREAD_PAGE)?;
        let (summary, messages, next_before) = self
            .engine
            .store()
            .get_conversation(addr, size, r.before)
            .await?;
        let (notes, activity) = if r.before == 0 {
            let store = self.engine.store();
            (
                store.notes(summary.contact_id).await?,
                store.activity(summary.contact_id).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let csat = self.engine.store().surveys(summary.contact_id, 20).await?;
        Ok(Response::new(pb::Conversation {
            summary: Some(convert::summary(&summary)),
            messages: messages.iter().map(convert::message).collect(),
            next_before,
            notes: notes.iter().map(convert::note).collect(),
            csat: csat.iter().map(stats::csat_answer).collect(),
            activity: activity.iter().map(convert::audit).collect(),
        }))
    }

    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        let caller = agents::caller_of(&request)?;
        let r = request.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        if r.idempotency_key.chars().count() > 200 {
            return Err(Status::invalid_argument(
                "idempotency_key must be at most 200 characters",
            ));
        }
        let key = Some(r.idempotency_key).filter(|k| !k.is_empty());
        let sent = self
            .engine
            .agent_send_as(caller, addr, r.message, key, r.takeover)
            .await?;
        Ok(Response::new(pb::SendMessageResponse {
            phone_number: sent.summary.address(),
            message_sent: sent.text,
            timestamp: Some(convert::ts(sent.message.timestamp)),
            message_id: sent.message.id,
            template_used: sent.template_used.unwrap_or_default(),
            chat_started: sent.chat_started.is_some(),
            chat_session_id: sent.message.session_id.unwrap_or_default(),
        }))
    }

    async fn end_chat(
        &self,
        request: Request<pb::EndChatRequest>,
    ) -> Result<Response<pb::EndChatResponse>, Status> {
        let caller = agents::caller_of(&request)?;
        let r = request.into_inner();
        let addr = self.contact("phone_number", &r.phone_number).await?;
        let message = Some(r.message).filter(|m| !m.trim().is_empty());
        let ended = self
            .engine
            .agent_end_as(caller, addr, message, r.skip_closing_message, r.takeover)
            .await?;
        Ok(Response::new(pb::EndChatResponse {
            phone_number: ended.summary.address(),
            session_ended: Some(convert::ts(ended.ended_at)),
            template_used: ended.template_used.unwrap_or_default(),
        }))
    }

    async fn mark_read(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Result<Response<pb::MarkReadResponse>, Status> {
        let addr = self
            .contact("phone_number", &request.into_inner().phone_number)
            .await?;
        let (summary, marked) = self.engine.mark_read(addr).await?;
        Ok(Response::new(pb::MarkReadResponse {
            phone_number: summary.address(),
            marked,
        }))
    }

    async fn get_stats(
        &self,
        request: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::GetStatsResponse>, Status> {
        Ok(Response::new(
            stats::get_stats(&self.engine, request.into_inner()).await?,
        ))
    }

    type WatchChatsStream = EventStream;

    async fn watch_chats(
        &self,
        request: Request<pb::WatchChatsRequest>,
    ) -> Result<Response<Self::WatchChatsStream>, Status> {
        // Resolves when this caller's token stops opening the desk (disabled, rotated).
        let revoked = self.auth.until_revoked(request.metadata())?;
        // Counted as a connected agent (the metrics' `chat_support_agents_connected`) while open.
        let watching = match request.extensions().get::<crate::desk::Caller>() {
            Some(crate::desk::Caller::Agent(a)) => Some(self.engine.store().watching(a.id)),
            _ => None,
        };
        let after = i64::try_from(request.into_inner().after_sequence)
            .map_err(|_| Status::invalid_argument("after_sequence is out of range"))?;
        use std::sync::atomic::Ordering;
        if self.subscribers.fetch_add(1, Ordering::Relaxed) >= MAX_SUBSCRIBERS {
            self.subscribers.fetch_sub(1, Ordering::Relaxed);
            return Err(Status::resource_exhausted(format!(
                "too many WatchChats streams open (at most {MAX_SUBSCRIBERS}); close one and retry"
            )));
        }
        let slot = SubscriberSlot(self.subscribers.clone());
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let feed = Arc::new(std::sync::Mutex::new(Feed {
            rx: Some(rx),
            last_word: None,
            waker: None,
        }));
        let tx = Sink {
            tx,
            feed: feed.clone(),
        };
        let engine = self.engine.clone();
        let shutdown = self.shutdown.clone();
        // Subscribe before reading the log so nothing committed in between is missed.
        let live = engine.store().subscribe();
        tokio::spawn(async move {
            let _watching = watching;
            let mut shutdown = shutdown;
            tokio::select! {
                r = follow(engine, live, after, tx.clone()) => {
                    if let Err(status) = r {
                        let _ = tx.send(Err(status)).await;
                    }
                }
                () = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                    tx.cut(Status::unavailable("the daemon is shutting down"));
                }
                status = revoked => tx.cut(status),
                // The client went away (the stream was dropped): stop at once, even on a quiet
                // desk where nothing would be sent to find out.
                () = tx.tx.closed() => {}
            }
        });
        Ok(Response::new(Box::pin(WatchStream { feed, _slot: slot })))
    }

    async fn who_am_i(
        &self,
        r: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        self.who_am_i_impl(r).await
    }

    async fn add_agent(
        &self,
        r: Request<pb::AddAgentRequest>,
    ) -> Result<Response<pb::AgentTokenResponse>, Status> {
        self.add_agent_impl(r).await
    }

    async fn list_agents(
        &self,
        r: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        self.list_agents_impl(r).await
    }

    async fn set_agent_enabled(
        &self,
        r: Request<pb::SetAgentEnabledRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        self.set_agent_enabled_impl(r).await
    }

    async fn rotate_agent_token(
        &self,
        r: Request<pb::RotateAgentTokenRequest>,
    ) -> Result<Response<pb::AgentTokenResponse>, Status> {
        self.rotate_agent_token_impl(r).await
    }

    async fn set_availability(
        &self,
        r: Request<pb::SetAvailabilityRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        self.set_availability_impl(r).await
    }

    async fn claim_conversation(
        &self,
        r: Request<pb::ClaimConversationRequest>,
    ) -> Result<Response<pb::ConversationSummary>, Status> {
        self.claim_impl(r).await
    }

    async fn assign_conversation(
        &self,
        r: Request<pb::AssignConversationRequest>,
    ) -> Result<Response<pb::ConversationSummary>, Status> {
        self.assign_impl(r).await
    }

    async fn transfer_conversation(
        &self,
        r: Request<pb::TransferConversationRequest>,
    ) -> Result<Response<pb::ConversationSummary>, Status> {
        self.transfer_impl(r).await
    }

    async fn set_priority(
        &self,
        r: Request<pb::SetPriorityRequest>,
    ) -> Result<Response<pb::ConversationSummary>, Status> {
        self.set_priority_impl(r).await
    }

    async fn add_note(&self, r: Request<pb::AddNoteRequest>) -> Result<Response<pb::Note>, Status> {
        self.add_note_impl(r).await
    }

    async fn list_canned_responses(
        &self,
        r: Request<pb::ListCannedResponsesRequest>,
    ) -> Result<Response<pb::ListCannedResponsesResponse>, Status> {
        self.list_canned_impl(r).await
    }

    async fn put_canned_response(
        &self,
        r: Request<pb::PutCannedResponseRequest>,
    ) -> Result<Response<pb::CannedResponse>, Status> {
        self.put_canned_impl(r).await
    }

    async fn delete_canned_response(
        &self,
        r: Request<pb::DeleteCannedResponseRequest>,
    ) -> Result<Response<pb::DeleteCannedResponseResponse>, Status> {
        self.delete_canned_impl(r).await
    }

    async fn expand_canned_response(
        &self,
        r: Request<pb::ExpandCannedResponseRequest>,
    ) -> Result<Response<pb::ExpandCannedResponseResponse>, Status> {
        self.expand_canned_impl(r).await
    }

    async fn list_audit(
        &self,
        r: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        self.list_audit_impl(r).await
    }

    async fn get_inbox(
        &self,
        r: Request<pb::GetInboxRequest>,
    ) -> Result<Response<pb::GetInboxResponse>, Status> {
        self.get_inbox_impl(r).await
    }

    async fn get_inbox_delivery(
        &self,
        r: Request<pb::GetInboxDeliveryRequest>,
    ) -> Result<Response<pb::InboxDelivery>, Status> {
        self.get_inbox_delivery_impl(r).await
    }

    async fn retry_parked_delivery(
        &self,
        r: Request<pb::RetryParkedDeliveryRequest>,
    ) -> Result<Response<pb::InboxDelivery>, Status> {
        self.retry_parked_impl(r).await
    }

    async fn drop_parked_delivery(
        &self,
        r: Request<pb::DropParkedDeliveryRequest>,
    ) -> Result<Response<pb::DropParkedDeliveryResponse>, Status> {
        self.drop_parked_impl(r).await
    }
}

type Item = Result<pb::ChatEvent, Status>;

/// One subscriber's bounded buffer, shared by its producer task ([`Sink`]) and the stream tonic
/// polls ([`WatchStream`]), so the producer can cut the stream off (free what is buffered and
/// end it with a status) even while the client reads nothing.
struct Feed {
    /// `None` once cut off, drained, or dropped by tonic.
    rx: Option<mpsc::Receiver<Item>>,
    /// The status to end with after a cut.
    last_word: Option<Status>,
    /// The stream's task, woken by a cut.
    waker: Option<std::task::Waker>,
}

/// The stream handed to tonic. It holds the stream's slot: when tonic drops it (the client
/// disconnected or reset the stream, or the stream ended) the slot is free again and the feed
/// is closed, which stops the producer task.
struct WatchStream {
    feed: Arc<std::sync::Mutex<Feed>>,
    _slot: SubscriberSlot,
}

impl Stream for WatchStream {
    type Item = Item;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Item>> {
        use std::task::Poll;
        let Ok(mut feed) = self.feed.lock() else {
            return Poll::Ready(None);
        };
        if let Some(rx) = feed.rx.as_mut() {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(item)) => return Poll::Ready(Some(item)),
                Poll::Pending => {
                    feed.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Poll::Ready(None) => feed.rx = None,
            }
        }
        Poll::Ready(feed.last_word.take().map(Err))
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        if let Ok(mut feed) = self.feed.lock() {
            feed.rx = None;
        }
    }
}

/// The producer's end of a [`Feed`]. A client that accepts nothing for [`STALL_TIMEOUT`] is
/// cut off: its buffer is freed and it is told why (if it ever reads again).
#[derive(Clone)]
struct Sink {
    tx: mpsc::Sender<Item>,
    feed: Arc<std::sync::Mutex<Feed>>,
}

impl Sink {
    /// Err when the client is gone or too slow: stop producing for it.
    async fn send(&self, item: Item) -> Result<(), ()> {
        use mpsc::error::SendTimeoutError;
        match self.tx.send_timeout(item, STALL_TIMEOUT).await {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Closed(_)) => Err(()),
            Err(SendTimeoutError::Timeout(_)) => {
                tracing::warn!(
                    "dropping a WatchChats subscriber that read nothing for {} s",
                    STALL_TIMEOUT.as_secs()
                );
                self.cut(Status::resource_exhausted(format!(
                    "this stream read nothing for {} s and was dropped; reconnect with after_sequence set to the last sequence you handled",
                    STALL_TIMEOUT.as_secs()
                )));
                Err(())
            }
        }
    }

    /// Ends the stream now: what is still buffered is dropped (a revoked caller gets nothing
    /// more; a stalled one holds no more memory) and the client's next read gets `status`.
    fn cut(&self, status: Status) {
        let waker = match self.feed.lock() {
            Ok(mut feed) => {
                if feed.rx.take().is_some() {
                    feed.last_word = Some(status);
                }
                feed.waker.take()
            }
            Err(_) => None,
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Sends the snapshot and an event for a stream that starts fresh.
async fn send_snapshot(engine: &Engine, tx: &Sink) -> Result<Option<i64>, Status> {
    let (items, seq) = engine.store().active_snapshot().await?;
    let ev = pb::ChatEvent {
        sequence: seq.max(0) as u64,
        timestamp: Some(convert::ts(engine.now())),
        event: Some(pb::chat_event::Event::Snapshot(pb::Snapshot {
            active_chats: items.iter().map(convert::summary).collect(),
        })),
    };
    Ok(tx.send(Ok(ev)).await.ok().map(|()| seq))
}

/// Replays the log after `last` into `tx`; returns the new last sequence, or None when the
/// client has gone.
async fn replay(engine: &Engine, mut last: i64, tx: &Sink) -> Result<Option<i64>, Status> {
    loop {
        let batch: Vec<StoredEvent> = engine.store().events_after(last, 500).await?;
        if batch.is_empty() {
            return Ok(Some(last));
        }
        for e in &batch {
            if tx.send(Ok(convert::event(e))).await.is_err() {
                return Ok(None);
            }
            last = e.seq;
        }
    }
}

async fn follow(
    engine: Engine,
    mut live: tokio::sync::broadcast::Receiver<Arc<StoredEvent>>,
    after: i64,
    tx: Sink,
) -> Result<(), Status> {
    let (oldest, newest) = engine.store().event_bounds().await?;
    // Resume from the log when it still holds everything after `after`; else a fresh snapshot.
    let resumable = after > 0 && after <= newest && after + 1 >= oldest;
    let start = if resumable {
        replay(&engine, after, &tx).await?
    } else {
        send_snapshot(&engine, &tx).await?
    };
    let Some(mut last) = start else { return Ok(()) };
    loop {
        match live.recv().await {
            Ok(e) => {
                if e.seq <= last {
                    continue;
                }
                if e.seq > last + 1 {
                    // A gap (events committed before we subscribed were read above): fill from the log.
                    match replay(&engine, last, &tx).await? {
                        Some(l) => last = l,
                        None => return Ok(()),
                    }
                    if e.seq <= last {
                        continue;
                    }
                }
                if tx.send(Ok(convert::event(&e))).await.is_err() {
                    return Ok(());
                }
                last = e.seq;
            }
            // This subscriber fell behind the live buffer: catch up from the log.
            Err(RecvError::Lagged(_)) => match replay(&engine, last, &tx).await? {
                Some(l) => last = l,
                None => return Ok(()),
            },
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

/// Why the gRPC listener cannot start: said with the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum GrpcStartError {
    /// A TLS file that cannot be read.
    #[error("reading the gRPC TLS {what} {}: {cause}", path.display())]
    TlsFile {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// TLS files that do not hold what they should.
    #[error("the gRPC TLS {what} {} is not usable: {why}", path.display())]
    TlsContent {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        why: String,
    },
    /// The certificate and key together.
    #[error("the gRPC TLS certificate {} and key {} do not make a TLS server: {why}", cert.display(), key.display())]
    Tls {
        /// The certificate file.
        cert: std::path::PathBuf,
        /// The key file.
        key: std::path::PathBuf,
        /// Why.
        why: String,
    },
    /// The agents' table.
    #[error("loading the agents' tokens")]
    Store(#[from] StoreError),
    /// Reflection.
    #[error("building gRPC reflection: {0}")]
    Reflection(String),
}

/// Reads a PEM file and checks it holds at least one block of the wanted kind.
fn read_pem(
    what: &'static str,
    path: &std::path::Path,
    wanted: &[&str],
) -> Result<Vec<u8>, GrpcStartError> {
    let bytes = std::fs::read(path).map_err(|cause| GrpcStartError::TlsFile {
        what,
        path: path.to_path_buf(),
        cause,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let found = wanted
        .iter()
        .any(|label| text.contains(&format!("-----BEGIN {label}-----")));
    if !found {
        return Err(GrpcStartError::TlsContent {
            what,
            path: path.to_path_buf(),
            why: format!("no PEM block of type {}", wanted.join(" or ")),
        });
    }
    Ok(bytes)
}

/// The gRPC server, built and checked (TLS files read, the key matched to the certificate,
/// agents loaded) before anything listens, so a bad setup stops the daemon at start.
pub struct GrpcServer {
    router: tonic::transport::server::Router,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer").finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// Builds the server; `handshake_timeout` bounds a TLS handshake.
    ///
    /// # Errors
    /// See [`GrpcStartError`].
    #[allow(clippy::too_many_arguments)]
    pub async fn prepare(
        engine: Engine,
        inbox: Arc<crate::inbox::Tracker>,
        own_number: Option<Arc<String>>,
        token: String,
        tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
        handshake_timeout: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Result<GrpcServer, GrpcStartError> {
        let mut builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            // Bounded HTTP/2 buffers (issue 13): what a client may send us unread, per stream
            // and per connection; streams per connection (tonic would otherwise lift hyper's
            // 200 to unlimited); and the rapid-reset guard. What we buffer for a client that
            // reads nothing is bounded by its stream's window, hyper's 400 KiB send buffer and
            // [`SUBSCRIBER_BUFFER`].
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
            .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_RESETS));
        if let Some((cert, key)) = tls {
            let cert_pem = read_pem("certificate", &cert, &["CERTIFICATE"])?;
            let key_pem = read_pem(
                "private key",
                &key,
                &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"],
            )?;
            let identity = tonic::transport::Identity::from_pem(cert_pem, key_pem);
            builder = builder
                .tls_config(
                    tonic::transport::ServerTlsConfig::new()
                        .identity(identity)
                        .timeout(handshake_timeout),
                )
                .map_err(|e| GrpcStartError::Tls {
                    cert: cert.clone(),
                    key: key.clone(),
                    why: error_chain(&e),
                })?;
        }
        let auth = agents::Auth::load(token, engine.store()).await?;
        if engine.store().location().is_shared() {
            auth.follow_other_daemons(engine.store().clone(), shutdown.clone());
        }
        let service = AdminService {
            engine,
            inbox,
            own_number,
            auth: auth.clone(),
            shutdown,
            subscribers: Arc::default(),
        };
        let server = SupportAdminServer::new(service).max_decoding_message_size(MAX_REQUEST_BYTES);
        // Every call is attributed: the interceptor resolves the token to a `Caller` (the
        // operator or an agent) that handlers read from the request's extensions.
        let admin = tonic::service::interceptor::InterceptedService::new(
            server,
            move |mut req: Request<()>| {
                let caller: Caller = auth.caller(req.metadata())?;
                req.extensions_mut().insert(caller);
                Ok(req)
            },
        );
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<SupportAdminServer<AdminService>>()
            .await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| GrpcStartError::Reflection(e.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| GrpcStartError::Reflection(e.to_string()))?;
        let router = builder
            .add_service(admin)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);
        Ok(GrpcServer { router })
    }

    /// Serves the connections `incoming` yields until `shutdown` turns true.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run(
        self,
        incoming: crate::server::GrpcIncoming,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), tonic::transport::Error> {
        let mut rx = shutdown;
        self.router
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
    }
}

/// `e` and its causes, each once, joined by ": ".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

/// Builds and serves the API on `listener` with the default limits until `shutdown` turns
/// true (tests and tools; the daemon calls [`GrpcServer::prepare`] and [`GrpcServer::run`]).
///
/// # Errors
/// A bad setup ([`GrpcStartError`]) or a failed server.
pub async fn serve(
    engine: Engine,
    token: String,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let limits = crate::server::Limits::default();
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let server = GrpcServer::prepare(
        engine,
        Arc::default(),
        None,
        token,
        tls,
        limits.header_timeout,
        shutdown.clone(),
    )
    .await?;
    let incoming = crate::server::GrpcIncoming::new(
        listener,
        limits.max_grpc_connections,
        limits.header_timeout,
        metrics,
        shutdown.clone(),
    );
    server.run(incoming, shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{conversation::BotSettings, engine::system_clock, storage::Store};
    use tonic::transport::{Certificate, Channel, ClientTlsConfig};

    fn event(seq: u64) -> Item {
        Ok(pb::ChatEvent {
            sequence: seq,
            ..Default::default()
        })
    }

    /// A stream's feed and its producer's end, with the slot counter.
    fn feed() -> (WatchStream, Sink, Arc<std::sync::atomic::AtomicUsize>) {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(1));
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let feed = Arc::new(std::sync::Mutex::new(Feed {
            rx: Some(rx),
            last_word: None,
            waker: None,
        }));
        let stream = WatchStream {
            feed: feed.clone(),
            _slot: SubscriberSlot(count.clone()),
        };
        (stream, Sink { tx, feed }, count)
    }

    #[tokio::test]
    async fn a_cut_stream_frees_its_buffer_at_once_and_ends_with_its_status() {
        use tokio_stream::StreamExt as _;
        let (mut stream, sink, _) = feed();
        for seq in 1..=SUBSCRIBER_BUFFER as u64 {
            sink.send(event(seq)).await.unwrap();
        }
        // The client has read nothing; the producer cuts it off (stalled, or revoked).
        sink.cut(Status::unauthenticated("your access was revoked"));
        assert!(
            sink.tx.is_closed(),
            "the buffered events are freed without waiting for the client to read"
        );
        assert!(
            sink.send(event(999)).await.is_err(),
            "nothing more is queued"
        );
        let end = stream.next().await.unwrap().unwrap_err();
        assert_eq!(end.code(), tonic::Code::Unauthenticated);
        assert!(stream.next().await.is_none(), "no event after the status");
    }

    #[tokio::test]
    async fn a_dropped_stream_frees_its_slot_and_stops_its_producer() {
        let (stream, sink, count) = feed();
        sink.send(event(1)).await.unwrap();
        drop(stream);
        assert_eq!(count.load(std::sync::atomic::Ordering::Relaxed), 0);
        tokio::time::timeout(Duration::from_secs(5), sink.tx.closed())
            .await
            .expect("the producer learns the client has gone");
    }

    #[tokio::test]
    async fn tls_serves_the_api_and_still_checks_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
        let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let engine = Engine::new(store, BotSettings::default(), system_clock());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stop_rx) = watch::channel(false);
        let server = tokio::spawn(serve(
            engine,
            "secret".into(),
            Some((cert_path, key_path)),
            listener,
            stop_rx,
        ));
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(cert_pem))
            .domain_name("localhost");
        let channel = Channel::from_shared(format!("https://localhost:{port}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = proto::v1::support_admin_client::SupportAdminClient::new(channel);
        let mut req = Request::new(pb::ListConversationsRequest::default());
        req.metadata_mut()
            .insert("authorization", "Bearer secret".parse().unwrap());
        let list = client.list_conversations(req).await.unwrap().into_inner();
        assert!(list.conversations.is_empty());
        let refused = client
            .list_conversations(Request::new(pb::ListConversationsRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        // Plain-text clients cannot talk to a TLS listener.
        let plain = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await;
        if let Ok(ch) = plain {
            let mut c = proto::v1::support_admin_client::SupportAdminClient::new(ch);
            assert!(c
                .list_conversations(pb::ListConversationsRequest::default())
                .await
                .is_err());
        }
        stop.send(true).unwrap();
        server.await.unwrap().unwrap();
    }
}
