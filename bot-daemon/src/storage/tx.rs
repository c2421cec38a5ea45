//! The transaction interface: what a write job may do inside the writer's transaction, in
//! domain terms, whatever the backend. [`Tx`] gathers five traits by area (conversations, the
//! desk, surveys, the queue, the inbox) so each backend implements them in a file per area; the engine and
//! the outbound sender take `&dyn Tx`. The traits are object-safe: one job type runs on any
//! backend. Methods return [`StoreError`] only for what the store itself can say; the engine
//! words the business refusals.

use super::{
    AgentRecord, CannedResponse, Claim, ContactRecord, EventKind, MessageRecord, NoteRecord,
    ParkedDelivery, StoreError, Summary,
};
use crate::{
    desk::{AgentRef, Caller, Priority},
    domain::{Address, DeliveryStatus, EndedBy, Identity, Millis, Sender, State, SurveyStage},
};

/// A message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Whose conversation.
    pub contact_id: i64,
    /// The open chat session, if any.
    pub session_id: Option<i64>,
    /// Who wrote it.
    pub sender: Sender,
    /// Cloud API type.
    pub kind: String,
    /// Text or placeholder.
    pub text: String,
    /// Media id.
    pub media_id: Option<String>,
    /// Inbound wamid.
    pub wamid: Option<String>,
    /// Meta's time (inbound) or now (outbound).
    pub timestamp: Millis,
    /// Received (inbound) or pending (outbound).
    pub status: DeliveryStatus,
    /// The agent's idempotency key.
    pub idempotency_key: Option<String>,
    /// The agent who sent it (`None`: the operator, the bot or the user).
    pub agent_id: Option<i64>,
}

/// At most this many statuses for wamids not stored yet are kept (the newest); a flood of
/// statuses for messages this daemon never sent cannot grow the table past it.
pub const EARLY_STATUSES_CAP: i64 = 100_000;

/// Early statuses are pruned once per this many new rows, never per status.
pub const EARLY_STATUSES_PRUNE_EVERY: i64 = 1_000;

/// Everything a write job may do: the four areas together (implemented for every type that
/// implements them).
pub trait Tx: ConversationTx + DeskTx + SurveyTx + QueueTx + InboxTx {}

impl<T: ConversationTx + DeskTx + SurveyTx + QueueTx + InboxTx + ?Sized> Tx for T {}

/// The durable inbox's side in the main database: the watermark of processed inbox rows
/// (moved in the same transaction as their effects), the parked deliveries, and a savepoint
/// per delivery so one that fails is undone alone.
pub trait InboxTx {
    /// Runs `f` in a savepoint of its own: when it returns false (or panics), what it wrote is
    /// undone and the rest of the transaction goes on.
    ///
    /// # Errors
    /// The savepoint itself failed (the database), or `f` panicked (`Internal`).
    fn isolated(&self, f: &mut dyn FnMut(&dyn Tx) -> bool) -> Result<(), StoreError>;

    /// The last inbox row whose effects are stored.
    fn inbox_processed_through(&self) -> Result<i64, StoreError>;

    /// Moves the watermark forward to `id` (never back).
    fn set_inbox_processed_through(&self, id: i64) -> Result<(), StoreError>;

    /// Sets a delivery aside (or updates one already parked: a failed retry).
    fn park_delivery(&self, p: &ParkedDelivery) -> Result<(), StoreError>;

    /// Forgets a parked delivery; false when there was none.
    fn remove_parked(&self, inbox_id: i64) -> Result<bool, StoreError>;
}

/// Contacts, chat sessions, messages, the outbox and delivery statuses, and the event log.
/// Every write keeps the contact's summary and the event log in step with what it writes.
pub trait ConversationTx {
    /// Records an update id; false when it was already processed (a redelivery).
    fn mark_processed(&self, wamid: &str, now: Millis) -> Result<bool, StoreError>;

    /// A contact by row id.
    fn contact(&self, id: i64) -> Result<ContactRecord, StoreError>;

    /// The contact an agent named, by phone or BSUID.
    fn contact_by_address(&self, address: &Address) -> Result<Option<ContactRecord>, StoreError>;

    /// Finds the contact by BSUID, else by phone, linking whichever identifier it lacked and
    /// refreshing name and username; creates it when unknown.
    fn upsert_contact(&self, who: &Identity, now: Millis) -> Result<ContactRecord, StoreError>;

    /// Moves a contact to a new phone number (Meta's `user_changed_number`).
    fn change_phone(&self, contact_id: i64, new_phone: &str, now: Millis)
        -> Result<(), StoreError>;

    /// Records a new BSUID for a contact (Meta's `user_changed_user_id`).
    fn change_user_id(
        &self,
        contact_id: i64,
        new_user_id: &str,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Stores the state and the seed's `chat_support_active` flag with it.
    fn set_state(&self, contact_id: i64, state: State, now: Millis) -> Result<(), StoreError>;

    /// Opens a chat session; fails if one is open (sessions never overlap). The chat waits
    /// from its start (`waiting_since`), so its place in the list never moves when it writes.
    fn start_session(&self, contact_id: i64, at: Millis) -> Result<i64, StoreError>;

    /// Closes the open chat session, if any, and returns its id.
    fn end_session(
        &self,
        contact_id: i64,
        by: EndedBy,
        at: Millis,
    ) -> Result<Option<i64>, StoreError>;

    /// Closes the open chat session, recording the agent who ended it (`None`: the operator,
    /// the user or the system). Assignment and priority belong to a chat: they are cleared.
    fn end_session_by(
        &self,
        contact_id: i64,
        by: EndedBy,
        agent_id: Option<i64>,
        at: Millis,
    ) -> Result<Option<i64>, StoreError>;

    /// Makes the contact a registered student.
    fn register(&self, contact_id: i64, name: &str, now: Millis) -> Result<(), StoreError>;

    /// Creates or updates a student from an operator's import; returns true when created.
    fn import_student(&self, phone: &str, name: &str, now: Millis) -> Result<bool, StoreError>;

    /// Stores a message and updates the conversation's summary columns.
    fn insert_message(&self, m: &NewMessage, now: Millis) -> Result<MessageRecord, StoreError>;

    /// A message by row id.
    fn message(&self, id: i64) -> Result<MessageRecord, StoreError>;

    /// The agent message sent earlier with this idempotency key, if any.
    fn message_by_idempotency_key(&self, key: &str) -> Result<Option<MessageRecord>, StoreError>;

    /// Queues an outbound message's Cloud API body for the sender.
    fn enqueue(
        &self,
        message_id: i64,
        contact_id: i64,
        payload: &str,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Marks an outbox row as being sent now (its outcome is unknown until recorded).
    fn outbox_inflight(&self, outbox_id: i64, now: Millis) -> Result<(), StoreError>;

    /// Records the Cloud API's acceptance: the wamid, status sent, and any status that arrived
    /// for that wamid before this response was stored.
    fn outbox_sent(
        &self,
        outbox_id: i64,
        wamid: Option<&str>,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// This daemon has just become the desk's sender: rows a previous sender left in flight
    /// (a daemon killed mid-request, or one that lost the lead) are due now; their outcome is
    /// unknown, so they are sent again (at least once). Returns how many. On SQLite, where one
    /// daemon is the only sender and rows in flight are due at start anyway, none.
    fn outbox_take_over(&self, now: Millis) -> Result<u64, StoreError>;

    /// Schedules another attempt.
    fn outbox_retry(
        &self,
        outbox_id: i64,
        next_attempt_at: Millis,
        error: &str,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Gives up on an outbox row with Meta's error.
    fn outbox_failed(
        &self,
        outbox_id: i64,
        code: Option<i64>,
        error: &str,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Applies a status webhook to the outbound message with this wamid, forward only: `Some(true)`
    /// when it moved the status, `Some(false)` for a repeated or older status. A status for a wamid
    /// not stored yet (the send's response is still on its way) is kept and applied when it is
    /// (`None`), once per (wamid, status); kept statuses older than a week, and the oldest beyond
    /// [`EARLY_STATUSES_CAP`], are dropped.
    fn apply_status(
        &self,
        wamid: &str,
        status: DeliveryStatus,
        code: Option<i64>,
        error: Option<&str>,
        now: Millis,
    ) -> Result<Option<bool>, StoreError>;

    /// Queues a mark-as-read call for the newest inbound message not yet marked, and clears
    /// the unread count. Returns false when everything was already marked. `body` builds the
    /// call's wire body from the message's wamid (the outbound adapter knows the format; the
    /// store keeps it as given).
    fn queue_mark_read(
        &self,
        contact_id: i64,
        body: &dyn Fn(&str) -> String,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// The last message the bot or an agent queued for this contact: (sender, text, created_at,
    /// still pending in the outbox).
    fn last_outbound(
        &self,
        contact_id: i64,
    ) -> Result<Option<(Sender, String, Millis, bool)>, StoreError>;

    /// Caps the database at about `max_bytes` (whole pages; never below its current size);
    /// `None` lifts the cap.
    fn set_size_limit(&self, max_bytes: Option<u64>) -> Result<(), StoreError>;

    /// Deletes event-log rows committed before `before`.
    fn prune_events(&self, before: Millis) -> Result<usize, StoreError>;

    /// The conversation's summary as of now in this transaction.
    fn summary(&self, contact_id: i64) -> Result<Summary, StoreError>;

    /// Appends an event (with the conversation's current summary) to the log; it is published
    /// to subscribers after the commit.
    fn emit(&self, contact_id: i64, kind: EventKind, now: Millis) -> Result<(), StoreError>;

    /// Appends a desk-wide event (no conversation, e.g. a canned response changed) to the log;
    /// it is published to subscribers after the commit.
    fn emit_desk(&self, kind: EventKind, now: Millis) -> Result<(), StoreError>;
}

/// The shared desk (issue 8): agents, assignment, priority, notes, canned responses and the
/// audit trail; each action writes its audit row and event in the same transaction.
pub trait DeskTx {
    /// Creates an agent with its token's hash.
    ///
    /// # Errors
    /// `Conflict` for a taken name.
    fn add_agent(
        &self,
        name: &str,
        display_name: &str,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> Result<AgentRecord, StoreError>;

    /// An agent by name (case-insensitive).
    ///
    /// # Errors
    /// The database.
    fn agent_by_name(&self, name: &str) -> Result<Option<AgentRecord>, StoreError>;

    /// Enables or disables an agent. Disabling also makes it unavailable for round-robin.
    /// `None` when there is no agent of that name.
    ///
    /// # Errors
    /// The database.
    fn set_agent_enabled(
        &self,
        name: &str,
        enabled: bool,
        now: Millis,
    ) -> Result<Option<AgentRecord>, StoreError>;

    /// Replaces an agent's token hash (the old token stops working). `None` when there is no
    /// agent of that name.
    ///
    /// # Errors
    /// The database.
    fn set_agent_token(
        &self,
        name: &str,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<AgentRecord>, StoreError>;

    /// Marks an agent available (takes round-robin chats) or away.
    ///
    /// # Errors
    /// The database.
    fn set_availability(
        &self,
        agent_id: i64,
        available: bool,
        now: Millis,
    ) -> Result<AgentRecord, StoreError>;

    /// Appends to the audit trail.
    ///
    /// # Errors
    /// The database.
    fn audit(
        &self,
        contact_id: i64,
        actor: &Caller,
        action: &str,
        detail: &str,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Appends a row written by the daemon itself (round-robin, urgent keywords).
    ///
    /// # Errors
    /// The database.
    fn audit_system(
        &self,
        contact_id: i64,
        action: &str,
        detail: &str,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// The agent a contact's chat is assigned to.
    ///
    /// # Errors
    /// The database.
    fn assignee(&self, contact_id: i64) -> Result<Option<AgentRecord>, StoreError>;

    /// Takes an unassigned chat for `agent` atomically: the loser of two claims learns who
    /// holds it. Claiming one's own chat changes nothing.
    ///
    /// # Errors
    /// The database.
    fn claim(&self, contact_id: i64, agent: &AgentRef, now: Millis) -> Result<Claim, StoreError>;

    /// Sets (or clears) the assignee, with an audit row (`action`, `detail`) and an event.
    /// Returns the previous assignee.
    ///
    /// # Errors
    /// The database.
    fn reassign(
        &self,
        contact_id: i64,
        to: Option<&AgentRef>,
        by: &Caller,
        action: &str,
        detail: &str,
        now: Millis,
    ) -> Result<Option<AgentRecord>, StoreError>;

    /// Round-robin: gives a new chat to the enabled, available agent assigned least recently
    /// (never assigned first, then by id). Returns the agent, or `None` when nobody is available.
    ///
    /// # Errors
    /// The database.
    fn auto_assign(&self, contact_id: i64, now: Millis) -> Result<Option<AgentRef>, StoreError>;

    /// The chat's priority.
    ///
    /// # Errors
    /// The database.
    fn priority(&self, contact_id: i64) -> Result<Priority, StoreError>;

    /// Sets the chat's priority with an audit row and an event; `by` None is the system.
    ///
    /// # Errors
    /// The database.
    fn set_priority(
        &self,
        contact_id: i64,
        priority: Priority,
        by: Option<&Caller>,
        now: Millis,
    ) -> Result<(), StoreError>;

    /// Adds a private note (never sent to WhatsApp) with an audit row and an event.
    ///
    /// # Errors
    /// The database.
    fn add_note(
        &self,
        contact_id: i64,
        session_id: Option<i64>,
        by: &Caller,
        text: &str,
        now: Millis,
    ) -> Result<NoteRecord, StoreError>;

    /// Creates or replaces a canned response.
    ///
    /// # Errors
    /// The database.
    fn put_canned(
        &self,
        shortcut: &str,
        body: &str,
        now: Millis,
    ) -> Result<CannedResponse, StoreError>;

    /// Deletes a canned response; false when there was none.
    ///
    /// # Errors
    /// The database.
    fn delete_canned(&self, shortcut: &str, now: Millis) -> Result<bool, StoreError>;
}

/// Satisfaction surveys: one per ended session, `asked` → `rated` (the comment is awaited) →
/// `closed`. A rating is never overwritten.
pub trait SurveyTx {
    /// The contact's latest survey: (id, asked_at, stage).
    fn latest_survey(
        &self,
        contact_id: i64,
    ) -> Result<Option<(i64, Millis, SurveyStage)>, StoreError>;

    /// Opens a survey for an ended session (closing any older open one of the contact).
    fn open_survey(&self, contact_id: i64, session_id: i64, now: Millis) -> Result<(), StoreError>;

    /// Stores the rating of the contact's survey awaiting one; false when none is.
    fn rate_survey(&self, contact_id: i64, rating: u8, now: Millis) -> Result<bool, StoreError>;

    /// Stores the comment of the contact's rated survey and closes it.
    fn comment_survey(
        &self,
        contact_id: i64,
        comment: &str,
        now: Millis,
    ) -> Result<bool, StoreError>;

    /// Closes the contact's open survey, keeping any rating.
    fn close_survey(&self, contact_id: i64, now: Millis) -> Result<(), StoreError>;

    /// Closes every survey asked before `asked_before`; returns how many.
    fn close_expired_surveys(&self, asked_before: Millis, now: Millis)
        -> Result<usize, StoreError>;
}

/// The support queue and the inactivity timers: a session waits in the queue from its start
/// until its first agent reply, in the desk's one order (priority, waiting since, session id).
pub trait QueueTx {
    /// The session's place in the queue (1 = next), `None` once an agent answered or it ended.
    /// The desk's one order of waiting chats: higher priority first, then the longest waiting
    /// (a waiting chat waits from its start), then the session id.
    /// Counts at most `cap` sessions ahead (the answer is then at most `cap + 1`), so the work
    /// is bounded whatever the queue's length.
    fn queue_position(&self, session_id: i64, cap: u32) -> Result<Option<u32>, StoreError>;

    /// Whether an agent has replied in the session (its first response is stored).
    fn session_answered(&self, session_id: i64) -> Result<bool, StoreError>;

    /// How many open chats wait for their first agent reply.
    /// At most `cap`: the count stops there.
    fn waiting_count(&self, cap: u32) -> Result<u32, StoreError>;

    /// First-response times (ms) of the `limit` most recently answered sessions answered at or
    /// after `since`, newest first.
    fn recent_first_responses(&self, since: Millis, limit: u32) -> Result<Vec<Millis>, StoreError>;

    /// Contacts whose open chat had no user or agent message since `quiet_since` (at most
    /// `limit`, quietest first).
    fn quiet_chats(&self, quiet_since: Millis, limit: u32) -> Result<Vec<i64>, StoreError>;

    /// Like [`Tx::quiet_chats`], leaving out chats already reminded since their last message.
    fn chats_to_remind(&self, quiet_since: Millis, limit: u32) -> Result<Vec<i64>, StoreError>;

    /// Records that the open session's inactivity reminder went out.
    fn mark_reminded(&self, session_id: i64, now: Millis) -> Result<(), StoreError>;
}
