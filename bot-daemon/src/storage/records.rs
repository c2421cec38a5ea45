//! The store's records in domain terms, whatever the backend: contacts and their summaries,
//! messages, the event log, the desk's agents, notes, canned responses and audit rows, surveys,
//! list pages, the outbox queue and the metrics' gauges.

use serde::{Deserialize, Serialize};

use crate::{
    desk::{AgentRef, AssignmentFilter, Priority},
    domain::{Address, ContactKind, DeliveryStatus, EndedBy, Millis, Sender, State},
};

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRecord {
    /// Row id.
    pub id: i64,
    /// BSUID.
    pub user_id: Option<String>,
    /// Digits.
    pub phone: Option<String>,
    /// WhatsApp username.
    pub username: Option<String>,
    /// WhatsApp profile name.
    pub profile_name: Option<String>,
    /// Name given at registration or import.
    pub registered_name: Option<String>,
    /// Student or lead.
    pub kind: ContactKind,
    /// Conversation state.
    pub state: State,
    /// The seed's `chat_support_active`.
    pub chat_support_active: bool,
    /// The seed's `chat_last_message_time`.
    pub chat_last_message_time: Option<Millis>,
    /// The open (or last) chat session.
    pub current_session_id: Option<i64>,
    /// When the open chat session started.
    pub chat_started_at: Option<Millis>,
    /// Last inbound message (Meta's time).
    pub last_inbound_at: Option<Millis>,
}

impl ContactRecord {
    /// Phone when known, else BSUID.
    pub fn address(&self) -> Address {
        match (&self.phone, &self.user_id) {
            (Some(p), _) => Address::Phone(p.clone()),
            (None, Some(u)) => Address::UserId(u.clone()),
            (None, None) => Address::Phone(String::new()),
        }
    }
}

/// The last message of a conversation, for lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastMessage {
    /// Text or placeholder.
    pub text: String,
    /// Who wrote it.
    pub sender: Sender,
    /// When.
    pub timestamp: Millis,
}

/// One row of the conversations list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Row id of the contact.
    pub contact_id: i64,
    /// Phone digits, when known.
    pub phone: Option<String>,
    /// BSUID, when known.
    pub user_id: Option<String>,
    /// Username, when known.
    pub username: Option<String>,
    /// Registered name, else profile name, else username, else address.
    pub display_name: String,
    /// Student or lead.
    pub kind: ContactKind,
    /// Conversation state.
    pub state: State,
    /// In a chat with support.
    pub chat_active: bool,
    /// Last message.
    pub last_message: Option<LastMessage>,
    /// Messages in the history.
    pub message_count: u32,
    /// Start of the open chat session.
    pub chat_started_at: Option<Millis>,
    /// Oldest user message not yet answered by an agent.
    pub waiting_since: Option<Millis>,
    /// User messages since the last agent message.
    pub unread_count: u32,
    /// Open or last chat session.
    pub chat_session_id: Option<i64>,
    /// Last inbound message time.
    pub last_inbound_at: Option<Millis>,
    /// The agent the chat is assigned to.
    #[serde(default)]
    pub assigned_agent_id: Option<i64>,
    /// Its name.
    #[serde(default)]
    pub assigned_agent: Option<String>,
    /// The chat's priority.
    #[serde(default)]
    pub priority: Priority,
    /// The first agent reply of the open chat; `None` while it waits in the queue.
    #[serde(default)]
    pub first_response_at: Option<Millis>,
}

impl Summary {
    /// Phone when known, else BSUID.
    pub fn address(&self) -> String {
        self.phone
            .clone()
            .or_else(|| self.user_id.clone())
            .unwrap_or_default()
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Row id.
    pub id: i64,
    /// Whose conversation.
    pub contact_id: i64,
    /// The chat session it belongs to, if it was sent during one.
    pub session_id: Option<i64>,
    /// Who wrote it.
    pub sender: Sender,
    /// Cloud API type (`text`, `interactive`, `image`, ...).
    pub kind: String,
    /// Text or placeholder, exactly as sent.
    pub text: String,
    /// Media id for media messages.
    pub media_id: Option<String>,
    /// WhatsApp message id, once known.
    pub wamid: Option<String>,
    /// Meta's time for inbound messages; commit time for outbound ones.
    pub timestamp: Millis,
    /// Delivery status.
    pub status: DeliveryStatus,
    /// Meta's error code when failed.
    pub error_code: Option<i64>,
    /// Meta's error message when failed.
    pub error_message: Option<String>,
    /// The agent who sent it (`None`: the operator, the bot or the user).
    #[serde(default)]
    pub agent_id: Option<i64>,
    /// Its name.
    #[serde(default)]
    pub agent_name: Option<String>,
}

/// What happened, as written to the event log in commit order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// A chat session opened.
    ChatStarted {
        /// The session.
        session_id: i64,
    },
    /// A message from anyone was stored.
    MessageAdded {
        /// The message.
        message: MessageRecord,
    },
    /// A chat session closed.
    ChatEnded {
        /// The session.
        session_id: i64,
        /// Who closed it.
        ended_by: EndedBy,
        /// The agent who closed it, if an agent did.
        #[serde(default)]
        agent: Option<String>,
    },
    /// An outbound message's delivery status moved forward.
    DeliveryStatusChanged {
        /// The message.
        message_id: i64,
        /// The new status.
        status: DeliveryStatus,
        /// Meta's error code when failed.
        error_code: Option<i64>,
        /// Meta's error message when failed.
        error_message: Option<String>,
    },
    /// Name, identity or registration changed.
    ContactUpdated,
    /// The chat was claimed, assigned, unassigned, transferred or taken over.
    AssignmentChanged {
        /// The new assignee's name (`None`: unassigned).
        agent: Option<String>,
        /// The previous one's.
        previous: Option<String>,
        /// `claimed`, `assigned`, `unassigned`, `transferred`, `takeover`, `auto_assigned`.
        action: String,
        /// An agent's name, `operator` or `system`.
        by: String,
    },
    /// A private note was added.
    NoteAdded {
        /// The note.
        note: NoteRecord,
    },
    /// The chat's priority changed.
    PriorityChanged {
        /// The new priority.
        priority: Priority,
        /// An agent's name, `operator` or `system`.
        by: String,
    },
    /// A user rated an ended chat session.
    CsatRated {
        /// The rated session.
        session_id: i64,
        /// 1–5.
        rating: u8,
        /// The agent who handled the session.
        agent: Option<String>,
    },
    /// A canned response was saved or deleted (a desk-wide event: no conversation).
    CannedChanged {
        /// The shortcut.
        shortcut: String,
        /// The body as saved; `None` when it was deleted.
        body: Option<String>,
        /// When it was saved.
        updated_at: Millis,
    },
}

/// One committed event with its sequence number and the conversation's summary at that point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Commit order, from 1.
    pub seq: i64,
    /// When it was committed.
    pub at: Millis,
    /// The conversation after the event.
    pub summary: Option<Summary>,
    /// What happened.
    pub kind: EventKind,
}

/// A stored agent (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Row id.
    pub id: i64,
    /// Login name (unique, case-insensitive).
    pub name: String,
    /// The first name users may see.
    pub display_name: String,
    /// Disabled agents' calls are refused.
    pub enabled: bool,
    /// Takes round-robin chats.
    pub available: bool,
    /// When it was created.
    pub created_at: Millis,
    /// When it was last given a chat.
    pub last_assigned_at: Option<Millis>,
}

impl AgentRecord {
    /// The agent as calls are attributed to it.
    pub fn to_ref(&self) -> AgentRef {
        AgentRef {
            id: self.id,
            name: self.name.clone(),
            display_name: self.display_name.clone(),
        }
    }
}

/// A private note on a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteRecord {
    /// Row id.
    pub id: i64,
    /// Whose conversation.
    pub contact_id: i64,
    /// The chat session it was written in.
    pub session_id: Option<i64>,
    /// The author; `None` for the operator.
    pub agent_id: Option<i64>,
    /// The author's name.
    pub agent_name: Option<String>,
    /// The note.
    pub text: String,
    /// When.
    pub created_at: Millis,
}

/// A named reply template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedResponse {
    /// What follows `/` in the compose box.
    pub shortcut: String,
    /// The text, with `{name}` and `{agent}` placeholders.
    pub body: String,
    /// Last change.
    pub updated_at: Millis,
}

/// One row of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Row id.
    pub id: i64,
    /// When.
    pub at: Millis,
    /// `agent`, `operator` or `system`.
    pub actor: String,
    /// The acting agent.
    pub agent_id: Option<i64>,
    /// Its name.
    pub agent_name: Option<String>,
    /// What was done.
    pub action: String,
    /// Details (who to, the priority, a note's text…).
    pub detail: String,
}

/// What the auth check needs about an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCredential {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The agent.
    pub agent: AgentRef,
    /// Whether it may call.
    pub enabled: bool,
}

/// How a claim went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The chat was unassigned and is now the agent's.
    Claimed,
    /// It was the agent's already: nothing changed.
    AlreadyTheirs,
    /// Another agent holds it.
    HeldBy(AgentRecord),
    /// It was neither assigned nor assignable (no such contact): nothing changed.
    Failed,
}

/// A survey's answers, for agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyRecord {
    /// The chat session it rates.
    pub session_id: i64,
    /// When it was sent.
    pub asked_at: Millis,
    /// 1–5, when rated.
    pub rating: Option<u8>,
    /// When rated.
    pub rated_at: Option<Millis>,
    /// The optional comment.
    pub comment: Option<String>,
    /// Whether it still waits for an answer.
    pub open: bool,
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only contacts in an active chat.
    pub active_only: bool,
    /// Rows per page (already validated).
    pub page_size: u32,
    /// Opaque token from a previous page.
    pub page_token: String,
    /// Substring of name, username, phone or BSUID.
    pub query: String,
    /// Whose chats.
    pub assignment: AssignmentFilter,
}

/// One page of conversations.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The rows.
    pub items: Vec<Summary>,
    /// Token for the next page; empty at the end.
    pub next_token: String,
}

/// Point-in-time figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Contacts in an active chat.
    pub active_chats: i64,
    /// Outbox rows waiting for an attempt.
    pub outbox_queued: i64,
    /// Outbox rows being sent (or whose outcome is unknown after a crash).
    pub outbox_in_flight: i64,
    /// Outbox rows given up.
    pub outbox_failed: i64,
    /// Age of the oldest open outbox row, 0 when empty.
    pub outbox_oldest_age_ms: i64,
    /// Open chats waiting for their first agent reply (the same count as `GetStats.waiting_now`).
    pub waiting: i64,
    /// How long the longest of those has waited (since the chat started), 0 when none.
    pub oldest_wait_ms: i64,
    /// Enabled agents marked available.
    pub agents_available: i64,
    /// Agents with at least one open `WatchChats` stream (a console or `admin watch`).
    pub agents_connected: i64,
    /// Inbox rows acknowledged and not processed yet.
    pub inbox_pending: i64,
    /// How long the oldest of those has waited, 0 when none.
    pub inbox_oldest_age_ms: i64,
    /// Deliveries set aside after failing again and again.
    pub inbox_parked: i64,
    /// 1 when this daemon leads the desk (processes the inbox, sends, runs the timers): always
    /// on SQLite; on PostgreSQL, the one daemon holding the leader's lock.
    pub leader: i64,
}

/// A delivery set aside after failing again and again: kept with its body until the operator
/// retries or drops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedDelivery {
    /// Its inbox id (arrival order).
    pub inbox_id: i64,
    /// When the webhook arrived.
    pub received_at: Millis,
    /// The verified body, byte for byte.
    pub body: Vec<u8>,
    /// The last failure.
    pub error: String,
    /// How many times it was tried.
    pub attempts: u32,
    /// When it was set aside.
    pub parked_at: Millis,
}

/// One delivery in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRow {
    /// Arrival order, from 1, never reused.
    pub id: i64,
    /// When the daemon received it.
    pub received_at: Millis,
    /// The verified body, byte for byte.
    pub body: Vec<u8>,
}

/// A queued outbound message, due for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Outbox row id.
    pub id: i64,
    /// The message row; `None` for a mark-as-read call.
    pub message_id: Option<i64>,
    /// The recipient.
    pub contact_id: i64,
    /// The Cloud API JSON body.
    pub payload: String,
    /// Attempts made so far.
    pub attempts: i64,
}

/// One value of a stored row, in neutral terms: what copying a desk from one backend to another
/// (`bot-daemon migrate`) carries between them.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value.
    Null,
    /// An integer (ids, times in milliseconds, counts, flags as 0/1).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes (webhook bodies, token hashes).
    Bytes(Vec<u8>),
}

/// Some rows of one table, with its column names, in the order the copy writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRows {
    /// The table.
    pub table: String,
    /// Its columns, in the order of each row's cells.
    pub columns: Vec<String>,
    /// The rows (at most a chunk's worth).
    pub rows: Vec<Vec<Cell>>,
}

/// What the reading side of a copy hands the writing side: rows, then `Done` once everything
/// was read. A copy whose reader stops without `Done` is rolled back whole.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyItem {
    /// Some rows of a table.
    Rows(TableRows),
    /// Everything was read.
    Done,
}
