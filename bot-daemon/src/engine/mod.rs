//! The engine glues the pure core to the store, and every business rule and permission lives in
//! it: inside one writer transaction it loads the contact, calls [`conversation::step`], stores
//! the new state, the messages and the outbox rows, and only after the commit does anything
//! leave the process (the outbound sender and the event stream are woken by the commit). The
//! shared desk's rules (claim, assign, transfer, takeover, priority, notes, canned responses,
//! agents) are in `engine/desk.rs`. The adapters above only parse, call and map errors.

mod desk;
mod error;
mod inbox;
#[cfg(test)]
mod proptests;

use std::sync::Arc;

use desk::{agent_prefix, claim, guard_assignment};
pub use desk::{IssuedToken, MAX_DISPLAY_NAME, MAX_NOTE};
pub use inbox::{BatchOutcome, InboxItem, ItemOutcome, PARK_AFTER};

use crate::{
    conversation::{
        self, texts, Action, BotSettings, Contact, Event, Outgoing, QueueInfo, Rejection,
        SurveyStage, Template, Transition,
    },
    core::payload,
    desk::{has_urgent_keyword, Caller, DeskSettings, Priority},
    domain::{Address, ContactRef, DeliveryStatus, Millis, Sender, State},
    inbound::{Delivery, InboundMessage},
    storage::{ContactRecord, MessageRecord, NewMessage, Store, Summary, Tx},
};

pub use error::EngineError;

/// The most characters WhatsApp accepts in a text body.
pub const MAX_TEXT: usize = 4096;
/// The most characters in an interactive message's body (closing messages carry a button).
pub const MAX_INTERACTIVE: usize = 1024;

/// Where the time comes from (tests inject a fixed clock); the type lives in the core.
pub use crate::domain::Clock;

/// The system clock in unix milliseconds: the one place the daemon reads the time.
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
    /// Statuses that were repeated or older than the stored one.
    pub stale_statuses: usize,
    /// Statuses for messages not stored (yet): kept for a week in case the send's response
    /// is still on its way.
    pub unknown_statuses: usize,
    /// Outbound messages queued.
    pub replies: usize,
}

/// What an agent's send did.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSent {
    /// The conversation afterwards.
    pub summary: Summary,
    /// The stored message.
    pub message: MessageRecord,
    /// The template sent instead of free text (outside the 24-hour window).
    pub template_used: Option<String>,
    /// What the agent wrote: this call's text, or the first call's when the idempotency key
    /// was used before (the two are then the same, or the call is refused).
    pub text: String,
    /// The message opened a chat session (the contact was not in one): its id.
    pub chat_started: Option<i64>,
}

/// What an agent's end did.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEnded {
    /// The conversation afterwards.
    pub summary: Summary,
    /// When the session ended.
    pub ended_at: Millis,
    /// The template sent instead of the closing message (outside the 24-hour window).
    pub template_used: Option<String>,
}

/// At most this many chats are reminded or ended per sweep (the rest on the next one).
const SWEEP_BATCH: u32 = 200;

/// What one timer sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Surveys closed for lack of an answer.
    pub surveys_closed: usize,
    /// Chats reminded.
    pub reminded: usize,
    /// Chats ended for inactivity.
    pub ended: usize,
}

/// Handles to run conversations; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    settings: Arc<BotSettings>,
    desk: Arc<DeskSettings>,
    clock: Clock,
    failpoint: inbox::Failpoint,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .finish()
    }
}

/// The contact an agent named, or `NotFound`.
fn existing_contact(tx: &dyn Tx, address: &Address) -> Result<ContactRecord, EngineError> {
    tx.contact_by_address(address)?
        .ok_or_else(|| EngineError::NotFound(address.as_str().to_string()))
}

/// WhatsApp's customer-service window: free-form messages only within 24 h of the user's last
/// message.
pub const WINDOW_MS: Millis = 24 * 60 * 60 * 1000;

/// Consecutive chat messages within this time get one acknowledgement.
pub const ACK_QUIET_MS: Millis = 60 * 1000;

/// Whether free-form messages may be sent now.
pub fn within_window(last_inbound_at: Option<Millis>, now: Millis) -> bool {
    matches!(last_inbound_at, Some(t) if now - t < WINDOW_MS)
}

/// The ETA uses the first responses of the last week…
pub const ETA_WINDOW_MS: Millis = 7 * 24 * 60 * 60 * 1000;
/// …at most this many of the most recent ones…
pub const ETA_SAMPLES: u32 = 20;
/// …and says "a few minutes" with fewer than this.
pub const ETA_MIN_SAMPLES: usize = 5;

/// Runs the state machine for a stored contact. Its queue place is counted (a range of an
/// index as long as the queue) only when the transition, computed first without it, has the
/// bot say something the queue line belongs to.
fn step_stored(
    tx: &dyn Tx,
    c: &ContactRecord,
    event: &Event,
    settings: &BotSettings,
    now: Millis,
) -> Result<Transition, EngineError> {
    let mut machine = machine_contact(tx, c, settings, now)?;
    let t = conversation::step(&machine, event, settings);
    if !needs_queue(c.state, &t) {
        return Ok(t);
    }
    machine.queue = queue_info(tx, c, now)?;
    Ok(conversation::step(&machine, event, settings))
}

/// Where the contact stands in the queue (or would, starting a chat now), with the estimated
/// wait; `None` once an agent answered.
fn queue_info(
    tx: &dyn Tx,
    c: &ContactRecord,
    now: Millis,
) -> Result<Option<QueueInfo>, EngineError> {
    let in_chat = c.state == State::ChatSupportActive;
    let position = match (in_chat, c.current_session_id) {
        (true, Some(session)) => tx.queue_position(session, texts::QUEUE_EXACT_UP_TO)?,
        (true, None) => None,
        (false, _) => Some(
            tx.waiting_count(texts::QUEUE_EXACT_UP_TO)?
                .saturating_add(1),
        ),
    };
    Ok(match position {
        Some(position) => Some(QueueInfo {
            position,
            eta_ms: crate::stats::eta(
                &tx.recent_first_responses(now - ETA_WINDOW_MS, ETA_SAMPLES)?,
                ETA_MIN_SAMPLES,
            ),
        }),
        None => None,
    })
}

/// Whether a transition computed without the queue has the bot say something the queue line
/// belongs to: a chat start's welcome, or a bot reply inside a chat that goes on (the
/// acknowledgement, the answer to "queue").
fn needs_queue(before: State, t: &Transition) -> bool {
    let replies = t.actions.iter().any(|a| {
        matches!(
            a,
            Action::Reply {
                sender: Sender::Bot,
                ..
            }
        )
    });
    t.actions.contains(&Action::StartSession)
        || (before == State::ChatSupportActive && t.state == State::ChatSupportActive && replies)
}

/// What the state machine needs about a contact, without its queue place (`queue: None`).
fn machine_contact(
    tx: &dyn Tx,
    c: &ContactRecord,
    settings: &BotSettings,
    now: Millis,
) -> Result<Contact, EngineError> {
    let in_chat = c.state == State::ChatSupportActive;
    // An ack still waiting in the outbox (Meta down) counts as recent however old it is. The
    // queue line after the seed's text does not make it another message.
    let recently_acknowledged = in_chat
        && matches!(tx.last_outbound(c.id)?,
            Some((Sender::Bot, text, at, pending))
                if text.starts_with(texts::CHAT_ACK) && (pending || now - at < ACK_QUIET_MS));
    let agent_replied = match (in_chat, c.current_session_id) {
        (true, Some(session)) => tx.session_answered(session)?,
        _ => false,
    };
    let survey = match tx.latest_survey(c.id)? {
        // A survey past its time is closed here too (the timer task may not have run yet).
        Some((_, asked_at, stage))
            if stage.is_open() && asked_at + settings.csat_timeout_ms <= now =>
        {
            tx.close_survey(c.id, now)?;
            Some(if stage == SurveyStage::AwaitingComment {
                SurveyStage::Rated
            } else {
                SurveyStage::Closed
            })
        }
        Some((_, _, stage)) => Some(stage),
        None => None,
    };
    Ok(Contact {
        state: c.state,
        kind: c.kind,
        registered_name: c.registered_name.clone(),
        profile_name: c.profile_name.clone(),
        recently_acknowledged,
        agent_replied,
        queue: None,
        closed_until: settings.hours.as_ref().and_then(|h| h.back_text(now)),
        survey,
    })
}

/// Removes the survey (its start and the list sent right after it): when the closing message is
/// skipped, or outside WhatsApp's 24-hour window where a free-form list would be refused.
fn drop_survey(actions: &mut Vec<Action>) {
    if let Some(i) = actions.iter().position(|a| *a == Action::StartSurvey) {
        actions.remove(i);
        if matches!(actions.get(i), Some(Action::Reply { .. })) {
            actions.remove(i);
        }
    }
}

/// Outside the 24-hour window an agent's free-form messages become the re-engagement template
/// when one is configured (its name is returned), and are refused otherwise.
fn window_guard(
    t: &mut Transition,
    contact: &ContactRecord,
    now: Millis,
    template: Option<&Template>,
    agent_text: &str,
) -> Result<Option<String>, EngineError> {
    let sends = t.actions.iter().any(|a| {
        matches!(
            a,
            Action::Reply {
                sender: Sender::Admin,
                ..
            }
        )
    });
    if !sends || within_window(contact.last_inbound_at, now) {
        return Ok(None);
    }
    let Some(template) = template else {
        let last = match contact.last_inbound_at {
            Some(t) => format!(
                "the user last wrote {} hours ago",
                (now - t) / (60 * 60 * 1000)
            ),
            None => "the user has never written".to_string(),
        };
        return Err(EngineError::FailedPrecondition(format!(
            "outside WhatsApp's 24-hour customer-service window ({last}): only approved template messages can be sent. \
             Configure [whatsapp.reengagement_template] to re-engage the user, or wait until they write again."
        )));
    };
    for action in &mut t.actions {
        if let Action::Reply {
            sender: Sender::Admin,
            message,
        } = action
        {
            let params = if template.with_message_param {
                vec![agent_text.to_string()]
            } else {
                Vec::new()
            };
            *message = Outgoing::Template {
                body: format!("[template {}] {}", template.name, message.body()),
                template: template.clone(),
                params,
            };
        }
    }
    Ok(Some(template.name.clone()))
}

/// Who is acting and how their replies are stored.
struct Ctx<'a> {
    /// The agent's idempotency key.
    key: Option<&'a str>,
    /// Who is acting (the operator for webhooks: nobody).
    caller: &'a Caller,
    /// The prefix of agents' messages on WhatsApp (stripped from the stored history).
    prefix: &'a str,
    /// The desk's settings.
    desk: &'a DeskSettings,
}

/// The Cloud API body of a mark-as-read call, as the outbox stores it.
fn read_body(wamid: &str) -> String {
    payload::mark_read_body(wamid).to_string()
}

/// What applying a transition produced.
struct Applied {
    replies: Vec<MessageRecord>,
    ended_at: Option<Millis>,
}

/// Stores a transition's effects: sessions, the inbound message, state, replies and outbox.
fn apply_transition(
    tx: &dyn Tx,
    contact: &ContactRecord,
    t: &Transition,
    inbound: Option<&InboundMessage>,
    ctx: &Ctx<'_>,
    now: Millis,
) -> Result<Applied, EngineError> {
    if let Some(Action::Reject(Rejection::ChatNotActive)) = t.actions.first() {
        return Err(EngineError::FailedPrecondition(format!(
            "{} has no active chat session",
            contact.address().as_str()
        )));
    }
    // The new state first, so every event logged below carries the conversation as it ends up.
    if t.state != contact.state {
        tx.set_state(contact.id, t.state, now)?;
    }
    let mut session = if contact.state == State::ChatSupportActive {
        contact.current_session_id
    } else {
        None
    };
    let mut ended_session = None;
    if t.actions.contains(&Action::StartSession) {
        let at = inbound.map_or(now, |m| m.timestamp_ms);
        session = Some(tx.start_session(contact.id, at)?);
        if inbound.is_none() {
            tx.audit(contact.id, ctx.caller, "chat_opened", "", now)?;
        }
        match ctx.caller.agent() {
            // An agent who opens a chat (writing to a contact outside one) holds it.
            Some(me) if inbound.is_none() => {
                claim(tx, contact.id, me, now)?;
            }
            _ if ctx.desk.round_robin => {
                tx.auto_assign(contact.id, now)?;
            }
            _ => {}
        }
    }
    if let Some(m) = inbound {
        let text = m.content.display_text();
        // Urgent keywords raise a chat to high, never lower what an agent set.
        if session.is_some()
            && has_urgent_keyword(&text, &ctx.desk.urgent_keywords)
            && tx.priority(contact.id)? < Priority::High
        {
            tx.set_priority(contact.id, Priority::High, None, now)?;
        }
        tx.insert_message(
            &NewMessage {
                contact_id: contact.id,
                session_id: session,
                sender: Sender::User,
                kind: m.content.kind_str().to_string(),
                text,
                media_id: m.content.media_id().map(str::to_string),
                wamid: Some(m.wamid.clone()),
                timestamp: m.timestamp_ms,
                status: DeliveryStatus::Received,
                idempotency_key: None,
                agent_id: None,
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
                ended_session = tx.end_session_by(contact.id, *by, ctx.caller.agent_id(), now)?;
                applied.ended_at = Some(now);
            }
            Action::StartSurvey => {
                if let Some(s) = ended_session {
                    tx.open_survey(contact.id, s, now)?;
                }
            }
            Action::RateSurvey(n) => {
                tx.rate_survey(contact.id, *n, now)?;
            }
            Action::CommentSurvey(text) => {
                tx.comment_survey(contact.id, text, now)?;
            }
            Action::CloseSurvey => tx.close_survey(contact.id, now)?,
            Action::MarkReminded => {
                if let Some(s) = session {
                    tx.mark_reminded(s, now)?;
                }
            }
            Action::Register { name } => tx.register(contact.id, name, now)?,
            Action::Reply { sender, message } => {
                let record = queue_reply(
                    tx, contact.id, session, &address, *sender, message, ctx, now,
                )?;
                applied.replies.push(record);
            }
        }
    }
    Ok(applied)
}

#[allow(clippy::too_many_arguments)]
fn queue_reply(
    tx: &dyn Tx,
    contact_id: i64,
    session: Option<i64>,
    address: &Address,
    sender: Sender,
    message: &Outgoing,
    ctx: &Ctx<'_>,
    now: Millis,
) -> Result<MessageRecord, EngineError> {
    let kind = match message {
        Outgoing::Text { .. } => "text",
        Outgoing::Buttons { .. } | Outgoing::List { .. } => "interactive",
        Outgoing::Template { .. } => "template",
    };
    let record = tx.insert_message(
        &NewMessage {
            contact_id,
            session_id: session,
            sender,
            kind: kind.to_string(),
            // The history keeps what the agent wrote (the seed's chat_messages); the prefix is
            // part of what WhatsApp delivers, in the outbox body.
            text: match (sender, message) {
                (Sender::Admin, Outgoing::Text { body }) => {
                    body.strip_prefix(ctx.prefix).unwrap_or(body).to_string()
                }
                _ => message.body().to_string(),
            },
            media_id: None,
            wamid: None,
            timestamp: now,
            status: DeliveryStatus::Pending,
            idempotency_key: if sender == Sender::Admin {
                ctx.key.map(str::to_string)
            } else {
                None
            },
            agent_id: if sender == Sender::Admin {
                ctx.caller.agent_id()
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
    tx: &dyn Tx,
    d: &Delivery,
    settings: &BotSettings,
    desk: &DeskSettings,
    now: Millis,
) -> Result<DeliveryOutcome, EngineError> {
    let ctx = Ctx {
        key: None,
        caller: &Caller::Operator,
        prefix: texts::AGENT_PREFIX,
        desk,
    };
    let mut out = DeliveryOutcome::default();
    // A user's messages in one delivery are applied in Meta's timestamp order.
    let mut order: Vec<&InboundMessage> = d.messages.iter().collect();
    order.sort_by_key(|m| m.timestamp_ms);
    for m in order {
        if !tx.mark_processed(&m.wamid, now)? {
            out.duplicates += 1;
            continue;
        }
        let contact = tx.upsert_contact(&m.user, now)?;
        let t = step_stored(tx, &contact, &Event::User(m.content.clone()), settings, now)?;
        let applied = apply_transition(tx, &contact, &t, Some(m), &ctx, now)?;
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
        match tx.apply_status(&s.wamid, s.status, code, msg.as_deref(), now)? {
            Some(true) => out.statuses += 1,
            Some(false) => out.stale_statuses += 1,
            None => out.unknown_statuses += 1,
        }
    }
    Ok(out)
}

/// The earliest webhook `timestamp` taken as Meta's: 2009-01-01T00:00:00Z (WhatsApp's launch).
pub const EARLIEST_TIMESTAMP_MS: Millis = 1_230_768_000_000;

/// How far past the receive time a webhook `timestamp` may be (clock skew) and still be kept.
pub const MAX_FUTURE_TIMESTAMP_MS: Millis = 24 * 60 * 60 * 1000;

/// A webhook `timestamp` outside [`EARLIEST_TIMESTAMP_MS`] ..= now + [`MAX_FUTURE_TIMESTAMP_MS`]
/// becomes the receive time, logged. Refusing the body instead (400) would make Meta redeliver
/// it for days and hold up every other message in it; keeping it would sort the contact first
/// forever and hand clients timestamps they cannot decode.
fn sane_timestamp(ts: Millis, now: Millis, what: &str, wamid: &str) -> Millis {
    if (EARLIEST_TIMESTAMP_MS..=now.saturating_add(MAX_FUTURE_TIMESTAMP_MS)).contains(&ts) {
        return ts;
    }
    tracing::warn!(
        wamid,
        timestamp_ms = ts,
        received_ms = now,
        "{what} timestamp out of range (before 2009 or more than a day ahead): using the receive time"
    );
    now
}

/// Applies [`sane_timestamp`] to everything a delivery carries.
fn clamp_timestamps(d: &mut Delivery, now: Millis) {
    for m in &mut d.messages {
        m.timestamp_ms = sane_timestamp(m.timestamp_ms, now, "message", &m.wamid);
    }
    for c in &mut d.identity_changes {
        c.timestamp_ms = sane_timestamp(c.timestamp_ms, now, "system message", &c.wamid);
    }
    for s in &mut d.statuses {
        s.timestamp_ms = sane_timestamp(s.timestamp_ms, now, "status", &s.wamid);
    }
}

/// Whether `text` from an agent whose messages carry `prefix` is what `previous` (sent earlier
/// with the same idempotency key) stored: the text itself, or the re-engagement template that
/// carried it (`[template NAME] {prefix}{text}`).
fn same_request(previous: &MessageRecord, prefix: &str, text: &str) -> bool {
    if previous.kind == "template" {
        previous.text.starts_with("[template ")
            && previous.text.ends_with(&format!("] {prefix}{text}"))
    } else {
        previous.text == text
    }
}

/// Checks an agent's text: not empty or blank, and within WhatsApp's limit once prefixed.
/// Lengths are counted in UTF-16 code units, as WhatsApp does (an emoji counts 2).
///
/// # Errors
/// `Invalid` naming the field and the limit.
pub fn validate_agent_text(field: &str, text: &str, limit: usize) -> Result<(), EngineError> {
    if text.trim().is_empty() {
        return Err(EngineError::Invalid(format!("{field} is empty")));
    }
    let n = text.encode_utf16().count();
    if n > limit {
        return Err(EngineError::Invalid(format!(
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
            desk: Arc::new(DeskSettings::default()),
            clock,
            failpoint: inbox::Failpoint::default(),
        }
    }

    /// The same engine with the desk's settings (agent names, urgent keywords, round-robin,
    /// and whether the bot still acknowledges messages once an agent has replied, which the
    /// state machine reads from its [`BotSettings`]).
    pub fn with_desk(mut self, desk: DeskSettings) -> Engine {
        Arc::make_mut(&mut self.settings).ack_after_agent_reply = desk.ack_after_agent_reply;
        self.desk = Arc::new(desk);
        self
    }

    /// The desk's settings.
    pub fn desk(&self) -> &DeskSettings {
        &self.desk
    }

    /// The bot's settings.
    pub fn settings(&self) -> &BotSettings {
        &self.settings
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
    pub async fn apply_delivery(
        &self,
        mut delivery: Delivery,
    ) -> Result<DeliveryOutcome, EngineError> {
        let settings = self.settings.clone();
        let desk = self.desk.clone();
        let now = self.now();
        clamp_timestamps(&mut delivery, now);
        self.store
            .write(move |tx| apply_delivery(tx, &delivery, &settings, &desk, now))
            .await
    }

    /// An agent's message: "🎧 Support Team: {text}" to the user, stored with sender admin, and
    /// the user's messages marked read on WhatsApp. A repeated idempotency key returns the first
    /// call's message without sending again. Outside the 24-hour window the configured
    /// re-engagement template goes instead (its name is returned), or the call is refused.
    /// Sent as the operator (no agent); see [`Engine::agent_send_as`].
    ///
    /// # Errors
    /// `Invalid` text, `NotFound` contact, `FailedPrecondition` outside the window, or storage.
    pub async fn agent_send(
        &self,
        address: Address,
        text: String,
        idempotency_key: Option<String>,
    ) -> Result<AgentSent, EngineError> {
        self.agent_send_as(Caller::Operator, address, text, idempotency_key, false)
            .await
    }

    /// The contact a request names: an address as it is, a `@username` looked up (the one
    /// place usernames are resolved, for gRPC, REST and the command line).
    ///
    /// # Errors
    /// `NotFound` when no contact has the username; `FailedPrecondition` when two do (a
    /// username given up and taken by another user): the phone number or BSUID is needed.
    pub async fn resolve_contact(&self, who: ContactRef) -> Result<Address, EngineError> {
        let name = match who {
            ContactRef::Address(a) => return Ok(a),
            ContactRef::Username(name) => name,
        };
        let mut found = self.store.addresses_by_username(&name).await?;
        match (found.pop(), found.is_empty()) {
            (None, _) => Err(EngineError::NotFound(format!("@{name}"))),
            (Some(a), true) => Ok(a),
            (Some(_), false) => Err(EngineError::FailedPrecondition(format!(
                "more than one contact has had the username @{name}; name them by phone number or WhatsApp user id"
            ))),
        }
    }

    /// [`Engine::agent_send`] attributed to `caller`. An agent sending into a chat assigned to
    /// another agent needs `takeover` (the chat becomes theirs, audited); into an unassigned
    /// active chat, the reply claims it. The operator may send anywhere.
    ///
    /// # Errors
    /// As [`Engine::agent_send`], and `FailedPrecondition` for another agent's chat without
    /// `takeover`.
    pub async fn agent_send_as(
        &self,
        caller: Caller,
        address: Address,
        text: String,
        idempotency_key: Option<String>,
        takeover: bool,
    ) -> Result<AgentSent, EngineError> {
        let prefix = agent_prefix(&self.desk, &caller);
        let limit = MAX_TEXT.saturating_sub(prefix.encode_utf16().count());
        validate_agent_text("message", &text, limit)?;
        let settings = self.settings.clone();
        let desk = self.desk.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let contact = existing_contact(tx, &address)?;
                if let Some(key) = idempotency_key.as_deref() {
                    if let Some(previous) = tx.message_by_idempotency_key(key)? {
                        if previous.contact_id != contact.id {
                            return Err(EngineError::Invalid(format!(
                                "idempotency_key {key:?} was already used for another conversation"
                            )));
                        }
                        if !same_request(&previous, &prefix, &text) {
                            return Err(EngineError::FailedPrecondition(format!(
                                "idempotency_key {key:?} was already used for a different message \
                                 (message {}); use a new key for a new message",
                                previous.id
                            )));
                        }
                        let template_used = (previous.kind == "template")
                            .then(|| {
                                settings
                                    .reengagement_template
                                    .as_ref()
                                    .map(|t| t.name.clone())
                            })
                            .flatten();
                        return Ok(AgentSent {
                            summary: tx.summary(contact.id)?,
                            message: previous,
                            template_used,
                            text,
                            // A replay reports the message, not whether it opened the chat.
                            chat_started: None,
                        });
                    }
                }
                guard_assignment(tx, &contact, &caller, takeover, true, now)?;
                let mut t = step_stored(
                    tx,
                    &contact,
                    &Event::AgentMessage { text: text.clone() },
                    &settings,
                    now,
                )?;
                if prefix != texts::AGENT_PREFIX {
                    for action in &mut t.actions {
                        if let Action::Reply {
                            sender: Sender::Admin,
                            message: Outgoing::Text { body },
                        } = action
                        {
                            *body = format!("{prefix}{text}");
                        }
                    }
                }
                let template_used = window_guard(
                    &mut t,
                    &contact,
                    now,
                    settings.reengagement_template.as_ref(),
                    &text,
                )?;
                let ctx = Ctx {
                    key: idempotency_key.as_deref(),
                    caller: &caller,
                    prefix: &prefix,
                    desk: &desk,
                };
                let applied = apply_transition(tx, &contact, &t, None, &ctx, now)?;
                tx.queue_mark_read(contact.id, &read_body, now)?;
                let message = applied
                    .replies
                    .into_iter()
                    .next()
                    .ok_or_else(|| EngineError::Invalid("nothing to send".into()))?;
                let chat_started = t
                    .actions
                    .contains(&Action::StartSession)
                    .then_some(message.session_id)
                    .flatten();
                tx.audit(
                    contact.id,
                    &caller,
                    "message_sent",
                    &format!("message {}", message.id),
                    now,
                )?;
                Ok(AgentSent {
                    summary: tx.summary(contact.id)?,
                    message,
                    template_used,
                    text,
                    chat_started,
                })
            })
            .await
    }

    /// An agent ends the chat: the closing message with the Main Menu button (none with
    /// `skip_closing_message`), state back home. A second end of the same chat fails with
    /// `FailedPrecondition` and sends nothing. Outside the 24-hour window the closing message
    /// becomes the re-engagement template, or the call is refused unless the message is skipped.
    /// Ended as the operator; see [`Engine::agent_end_as`].
    ///
    /// # Errors
    /// `Invalid` message, `NotFound` contact, `FailedPrecondition` without an active chat or
    /// outside the window.
    pub async fn agent_end(
        &self,
        address: Address,
        message: Option<String>,
        skip_closing_message: bool,
    ) -> Result<AgentEnded, EngineError> {
        self.agent_end_as(
            Caller::Operator,
            address,
            message,
            skip_closing_message,
            false,
        )
        .await
    }

    /// [`Engine::agent_end`] attributed to `caller`; another agent's chat needs `takeover`.
    ///
    /// # Errors
    /// As [`Engine::agent_end`], and `FailedPrecondition` for another agent's chat without
    /// `takeover`.
    pub async fn agent_end_as(
        &self,
        caller: Caller,
        address: Address,
        message: Option<String>,
        skip_closing_message: bool,
        takeover: bool,
    ) -> Result<AgentEnded, EngineError> {
        let message = match message {
            Some(m) if !m.trim().is_empty() => m,
            _ => texts::DEFAULT_CLOSING.to_string(),
        };
        validate_agent_text("message", &message, MAX_INTERACTIVE)?;
        let settings = self.settings.clone();
        let desk = self.desk.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let contact = existing_contact(tx, &address)?;
                guard_assignment(tx, &contact, &caller, takeover, false, now)?;
                let mut t = step_stored(
                    tx,
                    &contact,
                    &Event::AgentEnd {
                        message: message.clone(),
                    },
                    &settings,
                    now,
                )?;
                if skip_closing_message || !within_window(contact.last_inbound_at, now) {
                    drop_survey(&mut t.actions);
                }
                if skip_closing_message {
                    t.actions.retain(|a| !matches!(a, Action::Reply { .. }));
                }
                let template_used = window_guard(
                    &mut t,
                    &contact,
                    now,
                    settings.reengagement_template.as_ref(),
                    &message,
                )?;
                let ctx = Ctx {
                    key: None,
                    caller: &caller,
                    prefix: texts::AGENT_PREFIX,
                    desk: &desk,
                };
                let applied = apply_transition(tx, &contact, &t, None, &ctx, now)?;
                tx.audit(contact.id, &caller, "chat_ended", "", now)?;
                Ok(AgentEnded {
                    summary: tx.summary(contact.id)?,
                    ended_at: applied.ended_at.unwrap_or(now),
                    template_used,
                })
            })
            .await
    }

    /// Marks the user's messages read on WhatsApp (once: only messages not marked before) and
    /// clears the unread count. Returns whether a read call was queued.
    ///
    /// # Errors
    /// `NotFound` contact, or storage.
    pub async fn mark_read(&self, address: Address) -> Result<(Summary, bool), EngineError> {
        let now = self.now();
        self.store
            .write(move |tx| {
                let contact = existing_contact(tx, &address)?;
                let marked = tx.queue_mark_read(contact.id, &read_body, now)?;
                Ok((tx.summary(contact.id)?, marked))
            })
            .await
    }

    /// The timers, run by the daemon's timer task: closes surveys past their time, reminds
    /// quiet chats and ends the ones quiet for too long (as the system). Driven by the
    /// engine's clock, so tests move time instead of waiting.
    ///
    /// # Errors
    /// Storage; nothing of the sweep is stored then.
    pub async fn sweep_timers(&self) -> Result<Swept, EngineError> {
        let settings = self.settings.clone();
        let desk = self.desk.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                // The system acts: no agent (ends are recorded as ended by the system).
                let ctx = Ctx {
                    key: None,
                    caller: &Caller::Operator,
                    prefix: texts::AGENT_PREFIX,
                    desk: &desk,
                };
                let mut swept = Swept {
                    surveys_closed: tx
                        .close_expired_surveys(now - settings.csat_timeout_ms, now)?,
                    ..Swept::default()
                };
                let Some(inactivity) = settings.inactivity.clone() else {
                    return Ok(swept);
                };
                let timed = |tx: &dyn Tx, id: i64, event: Event| -> Result<(), EngineError> {
                    let contact = tx.contact(id)?;
                    let mut t = step_stored(tx, &contact, &event, &settings, now)?;
                    if !within_window(contact.last_inbound_at, now) {
                        // WhatsApp would refuse free-form text: act without writing.
                        drop_survey(&mut t.actions);
                        t.actions.retain(|a| !matches!(a, Action::Reply { .. }));
                    }
                    apply_transition(tx, &contact, &t, None, &ctx, now)?;
                    Ok(())
                };
                for id in tx.quiet_chats(now - inactivity.end_after_ms, SWEEP_BATCH)? {
                    timed(tx, id, Event::InactivityEnd)?;
                    swept.ended += 1;
                }
                if let Some(remind) = inactivity.remind_after_ms {
                    for id in tx.chats_to_remind(now - remind, SWEEP_BATCH)? {
                        timed(tx, id, Event::InactivityReminder)?;
                        swept.reminded += 1;
                    }
                }
                Ok(swept)
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
