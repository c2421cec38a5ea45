//! The engine glues the pure state machine to the store: inside one writer transaction it
//! loads the contact, calls [`conversation::step`], stores the new state, the messages and the
//! outbox rows, and only after the commit does anything leave the process (the outbound sender
//! and the event stream are woken by the commit).

use std::sync::Arc;

use crate::{
    conversation::{
        self, texts, Action, BotSettings, Contact, Event, Outgoing, Rejection, Transition,
    },
    domain::{Address, DeliveryStatus, Millis, Sender, State},
    outbound::payload,
    storage::{ContactRecord, Identity, MessageRecord, NewMessage, Store, StoreError, Summary, Tx},
    webhook::{Delivery, InboundMessage, UserRef},
};

fn storage_identity(u: &UserRef) -> Identity {
    Identity {
        user_id: u.user_id.clone(),
        phone: u.phone.clone(),
        username: u.username.clone(),
        profile_name: u.profile_name.clone(),
        parent_user_id: u.parent_user_id.clone(),
    }
}

/// Engine errors are the store's: `NotFound`, `FailedPrecondition`, `Invalid`, or storage.
pub type EngineError = StoreError;

/// The most characters WhatsApp accepts in a text body.
pub const MAX_TEXT: usize = 4096;
/// The most characters in an interactive message's body (closing messages carry a button).
pub const MAX_INTERACTIVE: usize = 1024;

/// Where the time comes from (tests inject a fixed clock).
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// The system clock in unix milliseconds.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// What one webhook delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// Messages applied.
    pub applied: usize,
    /// Messages skipped as already processed (redelivery).
    pub duplicates: usize,
    /// Statuses applied.
    pub statuses: usize,
    /// Statuses for messages this daemon does not know.
    pub unknown_statuses: usize,
    /// Outbound messages queued.
    pub replies: usize,
}

/// Handles to run conversations; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    settings: Arc<BotSettings>,
    clock: Clock,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .finish()
    }
}

fn machine_contact(c: &ContactRecord) -> Contact {
    Contact {
        state: c.state,
        kind: c.kind,
        registered_name: c.registered_name.clone(),
        profile_name: c.profile_name.clone(),
    }
}

/// What applying a transition produced.
struct Applied {
    replies: Vec<MessageRecord>,
    ended_at: Option<Millis>,
}

/// Stores a transition's effects: sessions, the inbound message, state, replies and outbox.
fn apply_transition(
    tx: &Tx<'_>,
    contact: &ContactRecord,
    t: &Transition,
    inbound: Option<&InboundMessage>,
    reply_key: Option<&str>,
    now: Millis,
) -> Result<Applied, StoreError> {
    if let Some(Action::Reject(Rejection::ChatNotActive)) = t.actions.first() {
        return Err(StoreError::FailedPrecondition(format!(
            "{} has no active chat session",
            contact.address().as_str()
        )));
    }
    let mut session = if contact.state == State::ChatSupportActive {
        contact.current_session_id
    } else {
        None
    };
    if t.actions.contains(&Action::StartSession) {
        let at = inbound.map_or(now, |m| m.timestamp_ms);
        session = Some(tx.start_session(contact.id, at)?);
    }
    if let Some(m) = inbound {
        tx.insert_message(
            &NewMessage {
                contact_id: contact.id,
                session_id: session,
                sender: Sender::User,
                kind: m.content.kind_str().to_string(),
                text: m.content.display_text(),
                media_id: m.content.media_id().map(str::to_string),
                wamid: Some(m.wamid.clone()),
                timestamp: m.timestamp_ms,
                status: DeliveryStatus::Received,
                idempotency_key: None,
            },
            now,
        )?;
    }
    let mut applied = Applied {
        replies: Vec::new(),
        ended_at: None,
    };
    let address = contact.address();
    for action in &t.actions {
        match action {
            Action::StartSession | Action::Reject(_) => {}
            Action::EndSession(by) => {
                tx.end_session(contact.id, *by, now)?;
                applied.ended_at = Some(now);
            }
            Action::Register { name } => tx.register(contact.id, name, now)?,
            Action::Reply { sender, message } => {
                let record = queue_reply(
                    tx, contact.id, session, &address, *sender, message, reply_key, now,
                )?;
                applied.replies.push(record);
            }
        }
    }
    if t.state != contact.state {
        tx.set_state(contact.id, t.state, now)?;
    }
    Ok(applied)
}

#[allow(clippy::too_many_arguments)]
fn queue_reply(
    tx: &Tx<'_>,
    contact_id: i64,
    session: Option<i64>,
    address: &Address,
    sender: Sender,
    message: &Outgoing,
    key: Option<&str>,
    now: Millis,
) -> Result<MessageRecord, StoreError> {
    let kind = match message {
        Outgoing::Text { .. } => "text",
        Outgoing::Buttons { .. } | Outgoing::List { .. } => "interactive",
    };
    let record = tx.insert_message(
        &NewMessage {
            contact_id,
            session_id: session,
            sender,
            kind: kind.to_string(),
            text: message.body().to_string(),
            media_id: None,
            wamid: None,
            timestamp: now,
            status: DeliveryStatus::Pending,
            idempotency_key: if sender == Sender::Admin {
                key.map(str::to_string)
            } else {
                None
            },
        },
        now,
    )?;
    let body = payload::cloud_body(address, message).to_string();
    tx.enqueue(record.id, contact_id, &body, now)?;
    Ok(record)
}

fn apply_delivery(
    tx: &Tx<'_>,
    d: &Delivery,
    settings: &BotSettings,
    now: Millis,
) -> Result<DeliveryOutcome, StoreError> {
    let mut out = DeliveryOutcome::default();
    // A user's messages in one delivery are applied in Meta's timestamp order.
    let mut order: Vec<&InboundMessage> = d.messages.iter().collect();
    order.sort_by_key(|m| m.timestamp_ms);
    for m in order {
        if !tx.mark_processed(&m.wamid, now)? {
            out.duplicates += 1;
            continue;
        }
        let contact = tx.upsert_contact(&storage_identity(&m.user), now)?;
        let t = conversation::step(
            &machine_contact(&contact),
            &Event::User(m.content.clone()),
            settings,
        );
        let applied = apply_transition(tx, &contact, &t, Some(m), None, now)?;
        out.applied += 1;
        out.replies += applied.replies.len();
    }
    for change in &d.identity_changes {
        if !tx.mark_processed(&change.wamid, now)? {
            out.duplicates += 1;
            continue;
        }
        let old = match (&change.old_user_id, &change.old_phone) {
            (Some(u), _) => tx.contact_by_address(&Address::UserId(u.clone()))?,
            (None, Some(p)) => tx.contact_by_address(&Address::Phone(p.clone()))?,
            _ => None,
        };
        if let Some(c) = old {
            if let Some(p) = &change.new_phone {
                tx.change_phone(c.id, p, now)?;
            }
            if let Some(u) = &change.new_user_id {
                tx.change_user_id(c.id, u, now)?;
            }
        }
        out.applied += 1;
    }
    for s in &d.statuses {
        let (code, msg) = match &s.error {
            Some(e) => {
                let text = match &e.details {
                    Some(d) if !d.is_empty() => format!("{}: {d}", e.message),
                    _ => e.message.clone(),
                };
                (Some(e.code), Some(text))
            }
            None => (None, None),
        };
        if tx.apply_status(&s.wamid, s.status, code, msg.as_deref(), now)? {
            out.statuses += 1;
        } else {
            out.unknown_statuses += 1;
        }
    }
    Ok(out)
}

/// Checks an agent's text: not empty or blank, and within WhatsApp's limit once prefixed.
/// Lengths are counted in UTF-16 code units, as WhatsApp does (an emoji counts 2).
///
/// # Errors
/// `Invalid` naming the field and the limit.
pub fn validate_agent_text(field: &str, text: &str, limit: usize) -> Result<(), EngineError> {
    if text.trim().is_empty() {
        return Err(StoreError::Invalid(format!("{field} is empty")));
    }
    let n = text.encode_utf16().count();
    if n > limit {
        return Err(StoreError::Invalid(format!(
            "{field} is {n} characters long (UTF-16 units); at most {limit} fit in one WhatsApp message"
        )));
    }
    Ok(())
}

impl Engine {
    /// An engine over `store` with the bot's menu settings and a clock.
    pub fn new(store: Store, settings: BotSettings, clock: Clock) -> Engine {
        Engine {
            store,
            settings: Arc::new(settings),
            clock,
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Now, from the engine's clock.
    pub fn now(&self) -> Millis {
        (self.clock)()
    }

    /// Applies a whole webhook delivery in one transaction (group-committed with others) and
    /// returns once it is durable. Redelivered message ids change nothing.
    ///
    /// # Errors
    /// Storage failures; nothing of the delivery is stored then.
    pub async fn apply_delivery(&self, delivery: Delivery) -> Result<DeliveryOutcome, EngineError> {
        let settings = self.settings.clone();
        let now = self.now();
        self.store
            .write(move |tx| apply_delivery(tx, &delivery, &settings, now))
            .await
    }

    /// An agent's message: "🎧 Support Team: {text}" to the user, stored with sender admin.
    /// A repeated idempotency key returns the first call's message without sending again.
    ///
    /// # Errors
    /// `Invalid` text, `NotFound` contact, or storage.
    pub async fn agent_send(
        &self,
        address: Address,
        text: String,
        idempotency_key: Option<String>,
    ) -> Result<(Summary, MessageRecord), EngineError> {
        let limit = MAX_TEXT - texts::AGENT_PREFIX.encode_utf16().count();
        validate_agent_text("message", &text, limit)?;
        let settings = self.settings.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let contact = tx
                    .contact_by_address(&address)?
                    .ok_or_else(|| StoreError::NotFound(address.as_str().to_string()))?;
                if let Some(key) = idempotency_key.as_deref() {
                    if let Some(previous) = tx.message_by_idempotency_key(key)? {
                        if previous.contact_id != contact.id {
                            return Err(StoreError::Invalid(format!(
                                "idempotency_key {key:?} was already used for another conversation"
                            )));
                        }
                        return Ok((tx.summary(contact.id)?, previous));
                    }
                }
                let t = conversation::step(
                    &machine_contact(&contact),
                    &Event::AgentMessage { text },
                    &settings,
                );
                let applied =
                    apply_transition(tx, &contact, &t, None, idempotency_key.as_deref(), now)?;
                let record = applied
                    .replies
                    .into_iter()
                    .next()
                    .ok_or_else(|| StoreError::Invalid("nothing to send".into()))?;
                Ok((tx.summary(contact.id)?, record))
            })
            .await
    }

    /// An agent ends the chat: the closing message with the Main Menu button, state back home.
    /// A second end of the same chat fails with `FailedPrecondition` and sends nothing.
    ///
    /// # Errors
    /// `Invalid` message, `NotFound` contact, `FailedPrecondition` without an active chat.
    pub async fn agent_end(
        &self,
        address: Address,
        message: Option<String>,
    ) -> Result<(Summary, Millis), EngineError> {
        let message = match message {
            Some(m) if !m.trim().is_empty() => m,
            _ => texts::DEFAULT_CLOSING.to_string(),
        };
        validate_agent_text("message", &message, MAX_INTERACTIVE)?;
        let settings = self.settings.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let contact = tx
                    .contact_by_address(&address)?
                    .ok_or_else(|| StoreError::NotFound(address.as_str().to_string()))?;
                let t = conversation::step(
                    &machine_contact(&contact),
                    &Event::AgentEnd { message },
                    &settings,
                );
                let applied = apply_transition(tx, &contact, &t, None, None, now)?;
                Ok((tx.summary(contact.id)?, applied.ended_at.unwrap_or(now)))
            })
            .await
    }

    /// Imports students (phone digits, name); returns (created, updated).
    ///
    /// # Errors
    /// Storage; the whole import is one transaction.
    pub async fn import_students(
        &self,
        rows: Vec<(String, String)>,
    ) -> Result<(usize, usize), EngineError> {
        let now = self.now();
        self.store
            .write(move |tx| {
                let (mut created, mut updated) = (0, 0);
                for (phone, name) in &rows {
                    if tx.import_student(phone, name, now)? {
                        created += 1;
                    } else {
                        updated += 1;
                    }
                }
                Ok((created, updated))
            })
            .await
    }
}
