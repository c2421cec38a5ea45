//! The console's own data types, converted from the `chatsupport.v1` messages at the network
//! edge. Nothing past `net.rs` sees a protobuf or tonic type; conversions never fail (a missing
//! or unknown field becomes a neutral value).

use crate::strings;
use chrono::{DateTime, Duration, Utc};
use proto::v1 as pb;

/// A point in time (UTC; rendering applies the local offset).
pub(crate) type Time = DateTime<Utc>;

/// How long after the last inbound message free-form replies are allowed.
pub(crate) const WINDOW: Duration = Duration::hours(24);

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// The WhatsApp user.
    User,
    /// A support agent (the API's `admin`).
    Agent,
    /// The bot.
    Bot,
    /// A value this build does not know.
    Unknown,
}

/// A message's delivery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    /// A value this build does not know.
    Unknown,
    /// Inbound, stored.
    Received,
    /// Outbound, committed, not yet accepted by the Cloud API.
    Pending,
    /// Accepted by the Cloud API.
    Sent,
    /// Delivered to the phone.
    Delivered,
    /// Read by the user.
    Read,
    /// Meta refused or could not deliver it.
    Failed,
}

/// A chat's priority (active chats list highest first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    /// The next one `p` cycles to: normal → high → urgent → low → normal.
    pub(crate) fn next(self) -> Priority {
        match self {
            Priority::Normal => Priority::High,
            Priority::High => Priority::Urgent,
            Priority::Urgent => Priority::Low,
            Priority::Low => Priority::Normal,
        }
    }

    /// `low`, `normal`, `high`, `urgent` (the contract's words, as `bot-daemon admin` prints).
    pub(crate) fn label(self) -> &'static str {
        proto::words::priority(self.to_pb() as i32)
    }

    /// On the wire.
    pub(crate) fn to_pb(self) -> pb::Priority {
        match self {
            Priority::Low => pb::Priority::Low,
            Priority::Normal => pb::Priority::Normal,
            Priority::High => pb::Priority::High,
            Priority::Urgent => pb::Priority::Urgent,
        }
    }
}

fn priority(v: i32) -> Priority {
    match pb::Priority::try_from(v) {
        Ok(pb::Priority::Low) => Priority::Low,
        Ok(pb::Priority::High) => Priority::High,
        Ok(pb::Priority::Urgent) => Priority::Urgent,
        _ => Priority::Normal,
    }
}

/// An agent of the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Agent {
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) available: bool,
}

/// A canned response: typed as `/shortcut` in the compose box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Canned {
    pub(crate) shortcut: String,
    pub(crate) body: String,
}

/// Who this console is and what the desk offers, loaded at connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Desk {
    /// `None` for the operator's admin token.
    pub(crate) me: Option<Agent>,
    pub(crate) agents: Vec<Agent>,
    pub(crate) canned: Vec<Canned>,
}

/// A private note (never sent to WhatsApp), or an activity line of the thread (claimed,
/// transferred, priority, rated, ...: issue 14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    /// The note's id; for activity the audit entry's id (negative for one the console built
    /// from a live event or a survey, until the next page brings the server's).
    pub(crate) id: i64,
    /// The note's text; for activity the whole line.
    pub(crate) text: String,
    /// Empty for the operator (and for activity).
    pub(crate) agent_name: String,
    pub(crate) at: Option<Time>,
    /// An activity line rather than a note.
    pub(crate) activity: bool,
}

impl Note {
    /// Where it goes among the others: by time (none: last), notes before activity at the
    /// same time, then by id.
    pub(crate) fn order(&self) -> (bool, Option<Time>, bool, i64) {
        (self.at.is_none(), self.at, self.activity, self.id)
    }

    /// An activity line at `at`.
    pub(crate) fn activity(id: i64, text: String, at: Option<Time>) -> Note {
        Note {
            id,
            text,
            agent_name: String::new(),
            at,
            activity: true,
        }
    }
}

/// Student or lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Not a registered student.
    Lead,
    /// A registered student.
    Student,
}

/// The newest message of a conversation, as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LastMessage {
    pub(crate) text: String,
    pub(crate) sender: Sender,
    pub(crate) at: Option<Time>,
}

/// One conversation as the list knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    /// The key of every request: the phone number, else the BSUID.
    pub(crate) address: String,
    /// Digits only; empty for a username-only user.
    pub(crate) phone_number: String,
    pub(crate) display_name: String,
    pub(crate) kind: Kind,
    pub(crate) state: String,
    pub(crate) chat_active: bool,
    pub(crate) last_message: Option<LastMessage>,
    pub(crate) message_count: u32,
    pub(crate) chat_started_at: Option<Time>,
    /// Oldest unanswered user message; `None` when nothing is waiting.
    pub(crate) waiting_since: Option<Time>,
    pub(crate) unread_count: u32,
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) chat_session_id: i64,
    pub(crate) last_inbound_at: Option<Time>,
    /// The agent the chat is assigned to; empty when unassigned.
    pub(crate) assigned_agent: String,
    pub(crate) priority: Priority,
    /// An agent has replied in the open chat (it has left the queue).
    pub(crate) answered: bool,
}

impl Summary {
    /// A minimal active summary (tests, placeholders and the render benchmark).
    pub(crate) fn new(address: &str, name: &str) -> Summary {
        Summary {
            address: address.to_string(),
            phone_number: address.to_string(),
            display_name: name.to_string(),
            kind: Kind::Lead,
            state: "CHAT_SUPPORT_ACTIVE".to_string(),
            chat_active: true,
            last_message: None,
            message_count: 0,
            chat_started_at: None,
            waiting_since: None,
            unread_count: 0,
            user_id: String::new(),
            username: String::new(),
            chat_session_id: 1,
            last_inbound_at: None,
            assigned_agent: String::new(),
            priority: Priority::Normal,
            answered: false,
        }
    }

    /// The name to show: display name, else username, else the address.
    pub(crate) fn name(&self) -> &str {
        [&self.display_name, &self.username, &self.address]
            .into_iter()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
            .unwrap_or("?")
    }

    /// `+234…` for a phone number, else `@username` or the BSUID.
    pub(crate) fn contact_line(&self) -> String {
        if !self.phone_number.is_empty() {
            format!("+{}", self.phone_number)
        } else if !self.username.is_empty() {
            format!("@{}", self.username)
        } else {
            self.address.clone()
        }
    }

    /// Time left in the 24-hour window at `now`; `None` when closed or never opened.
    pub(crate) fn window_left(&self, now: Time) -> Option<Duration> {
        let left = self.last_inbound_at? + WINDOW - now;
        (left > Duration::zero()).then_some(left)
    }

    /// Whether `query` (lower case) matches name, username, number or BSUID.
    pub(crate) fn matches(&self, query: &str) -> bool {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return true;
        }
        let compact: String = q
            .chars()
            .filter(|c| !matches!(c, '+' | ' ' | '-'))
            .collect();
        [
            &self.display_name,
            &self.username,
            &self.address,
            &self.user_id,
            &self.phone_number,
        ]
        .iter()
        .any(|f| f.to_lowercase().contains(&q))
            || (!compact.is_empty()
                && compact.chars().all(|c| c.is_ascii_digit())
                && self.phone_number.contains(&compact))
    }
}

/// One message of a thread.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub(crate) id: i64,
    pub(crate) sender: Sender,
    pub(crate) text: String,
    pub(crate) at: Option<Time>,
    pub(crate) status: Status,
    /// 0 outside a chat session.
    pub(crate) session_id: i64,
    /// `text`, `image`, … (the daemon already renders placeholders into `text`).
    pub(crate) kind: String,
    pub(crate) error_code: i32,
    pub(crate) error_message: String,
    /// The agent who sent it; empty for the operator, the bot and the user.
    pub(crate) agent_name: String,
}

/// One page of a thread, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ThreadPage {
    pub(crate) summary: Option<Summary>,
    pub(crate) messages: Vec<Message>,
    /// Pass as `before` for the next older page; 0 when there is none.
    pub(crate) next_before: i64,
    /// The private notes and activity lines, by time (with the newest page only).
    pub(crate) notes: Vec<Note>,
    /// The latest satisfaction survey, in a few words (issue 9).
    pub(crate) csat: Option<String>,
}

/// One page of the conversation list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListPage {
    pub(crate) conversations: Vec<Summary>,
    pub(crate) next_page_token: String,
}

/// What `SendMessage` answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SentAck {
    pub(crate) message_id: i64,
    pub(crate) at: Option<Time>,
    /// Outside the 24-hour window the daemon sends this template instead of the text.
    pub(crate) template_used: String,
    /// The contact was not in a chat: this message opened one.
    pub(crate) chat_started: bool,
}

/// One item of the `WatchChats` stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatEvent {
    pub(crate) sequence: u64,
    pub(crate) body: EventBody,
    /// The activity line the event adds to its thread (assignment, priority, rating).
    pub(crate) activity: Option<Note>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EventBody {
    /// The active chats; replaces everything known.
    Snapshot(Vec<Summary>),
    /// A user asked for a person (with the new session's id).
    ChatStarted(Summary, i64),
    /// A message from anyone, with the conversation after it.
    MessageAdded(Summary, Message),
    /// The chat ended (`ended_by`: user, admin or system).
    ChatEnded(Summary, String),

    /// An outbound message's status changed.
    Delivery {
        address: String,
        message_id: i64,
        status: Status,
        error_code: i32,
        error_message: String,
    },
    /// Name, kind or identity changed (also assignment and priority).
    ContactUpdated(Summary),
    /// A private note was added.
    NoteAdded(Summary, Note),
    /// The chat's assignee changed: the new assignee (empty: nobody), the action
    /// (`claimed`, `assigned`, `transferred`, `takeover`, `auto_assigned`, …) and who did it.
    AssignmentChanged(Summary, String, String, String),
    /// A user rated a chat: the rating and the agent who handled it.
    CsatRated(Summary, i32, String),
    /// A canned response was saved (`Some(body)`) or deleted (`None`).
    CannedChanged(String, Option<String>),
    /// Something this build cannot read; only its sequence counts.
    Unknown,
}

pub(crate) fn time(t: Option<&prost_types::Timestamp>) -> Option<Time> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
}

fn sender(v: i32) -> Sender {
    match pb::Sender::try_from(v) {
        Ok(pb::Sender::User) => Sender::User,
        Ok(pb::Sender::Admin) => Sender::Agent,
        Ok(pb::Sender::Bot) => Sender::Bot,
        _ => Sender::Unknown,
    }
}

pub(crate) fn status(v: i32) -> Status {
    match pb::DeliveryStatus::try_from(v) {
        Ok(pb::DeliveryStatus::Received) => Status::Received,
        Ok(pb::DeliveryStatus::Pending) => Status::Pending,
        Ok(pb::DeliveryStatus::Sent) => Status::Sent,
        Ok(pb::DeliveryStatus::Delivered) => Status::Delivered,
        Ok(pb::DeliveryStatus::Read) => Status::Read,
        Ok(pb::DeliveryStatus::Failed) => Status::Failed,
        _ => Status::Unknown,
    }
}

pub(crate) fn summary(s: pb::ConversationSummary) -> Summary {
    let address = if s.address.is_empty() {
        // Older daemons: fall back to what the address is made of.
        if s.phone_number.is_empty() {
            s.user_id.clone()
        } else {
            s.phone_number.clone()
        }
    } else {
        s.address
    };
    Summary {
        address,
        phone_number: s.phone_number,
        display_name: s.display_name,
        kind: match pb::ContactKind::try_from(s.kind) {
            Ok(pb::ContactKind::Student) => Kind::Student,
            _ => Kind::Lead,
        },
        state: s.state,
        chat_active: s.chat_active,
        last_message: s.last_message.map(|m| LastMessage {
            sender: sender(m.sender),
            at: time(m.timestamp.as_ref()),
            text: m.text,
        }),
        message_count: s.message_count,
        chat_started_at: time(s.chat_started_at.as_ref()),
        waiting_since: time(s.waiting_since.as_ref()),
        unread_count: s.unread_count,
        user_id: s.user_id,
        username: s.username,
        chat_session_id: s.chat_session_id,
        last_inbound_at: time(s.last_inbound_at.as_ref()),
        assigned_agent: s.assigned_agent,
        priority: priority(s.priority),
        answered: s.first_response_at.is_some(),
    }
}

pub(crate) fn note(n: pb::Note) -> Note {
    Note {
        id: n.id,
        agent_name: n.agent_name,
        at: time(n.timestamp.as_ref()),
        text: n.text,
        activity: false,
    }
}

/// An audit entry as an activity line.
pub(crate) fn activity(a: &pb::AuditEntry) -> Note {
    let who = proto::activity::actor(&a.agent_name, &a.actor);
    Note::activity(
        a.id,
        proto::activity::describe(&who, &a.action, &a.detail),
        time(a.at.as_ref()),
    )
}

/// A rated survey as an activity line (its id: minus the chat session's).
fn rated(c: &pb::CsatAnswer) -> Option<Note> {
    (c.rating > 0).then(|| {
        Note::activity(
            -c.chat_session_id,
            proto::activity::rated(c.rating, &c.comment),
            time(c.rated_at.as_ref()),
        )
    })
}

pub(crate) fn agent(a: pb::Agent) -> Agent {
    Agent {
        name: a.name,
        display_name: a.display_name,
        available: a.available,
    }
}

pub(crate) fn canned(c: pb::CannedResponse) -> Canned {
    Canned {
        shortcut: c.shortcut,
        body: c.body,
    }
}

/// Median and p90 of a set of durations (ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Durations {
    pub(crate) count: u32,
    pub(crate) median_ms: i64,
    pub(crate) p90_ms: i64,
}

/// The `GetStats` figures the stats screen shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stats {
    pub(crate) timezone: String,
    pub(crate) chats_started: u32,
    pub(crate) chats_ended: u32,
    /// Ended by user, agent, system.
    pub(crate) ended_by: [u32; 3],
    pub(crate) unanswered: u32,
    pub(crate) waiting_now: u32,
    pub(crate) first_response: Durations,
    pub(crate) wait: Durations,
    pub(crate) handle: Durations,
    pub(crate) csat_count: u32,
    pub(crate) csat_average: f64,
    /// Ratings 1 to 5.
    pub(crate) csat_distribution: Vec<u32>,
    /// 24 hours.
    pub(crate) busiest_hours: Vec<u32>,
    pub(crate) top_words: Vec<(String, u32)>,
}

pub(crate) fn stats(r: pb::GetStatsResponse) -> Stats {
    let d = |d: Option<pb::DurationStats>| {
        let d = d.unwrap_or_default();
        Durations {
            count: d.count,
            median_ms: d.median_ms,
            p90_ms: d.p90_ms,
        }
    };
    Stats {
        timezone: r.timezone,
        chats_started: r.chats_started,
        chats_ended: r.chats_ended,
        ended_by: [r.ended_by_user, r.ended_by_agent, r.ended_by_system],
        unanswered: r.unanswered,
        waiting_now: r.waiting_now,
        first_response: d(r.first_response),
        wait: d(r.wait_time),
        handle: d(r.handle_time),
        csat_count: r.csat_count,
        csat_average: r.csat_average,
        csat_distribution: r.csat_distribution,
        busiest_hours: r.busiest_hours,
        top_words: r
            .top_first_message_words
            .into_iter()
            .map(|w| (w.word, w.chats))
            .collect(),
    }
}

pub(crate) fn message(m: pb::ChatMessage) -> Message {
    Message {
        id: m.id,
        sender: sender(m.sender),
        at: time(m.timestamp.as_ref()),
        status: status(m.status),
        session_id: m.chat_session_id,
        kind: m.kind,
        error_code: m.error_code,
        error_message: m.error_message,
        agent_name: m.agent_name,
        text: m.text,
    }
}

pub(crate) fn thread_page(c: pb::Conversation) -> ThreadPage {
    ThreadPage {
        summary: c.summary.map(summary),
        messages: c.messages.into_iter().map(message).collect(),
        next_before: c.next_before,
        notes: {
            let mut notes: Vec<Note> = c.notes.into_iter().map(note).collect();
            notes.extend(c.activity.iter().map(activity));
            notes.extend(c.csat.iter().filter_map(rated));
            notes.sort_by_key(Note::order);
            notes
        },
        csat: c.csat.first().map(csat_line),
    }
}

/// "rated 4/5 “Quick and kind”", "survey open", "survey unanswered".
pub(crate) fn csat_line(c: &pb::CsatAnswer) -> String {
    match (c.rating, c.open) {
        (0, true) => strings::CSAT_OPEN.to_string(),
        (0, false) => strings::CSAT_UNANSWERED.to_string(),
        (n, _) if c.comment.is_empty() => strings::csat_rated(n, None),
        (n, _) => strings::csat_rated(n, Some(&c.comment)),
    }
}

pub(crate) fn list_page(r: pb::ListConversationsResponse) -> ListPage {
    ListPage {
        conversations: r.conversations.into_iter().map(summary).collect(),
        next_page_token: r.next_page_token,
    }
}

pub(crate) fn event(e: pb::ChatEvent) -> ChatEvent {
    use pb::chat_event::Event;
    let at = time(e.timestamp.as_ref());
    // Built with the same words as the page's audit entries; the id only has to be unique
    // until the next page replaces it.
    let line = |text: String| Some(Note::activity(-(e.sequence as i64), text, at));
    let activity = match &e.event {
        Some(Event::AssignmentChanged(a)) => {
            let detail = match a.action.as_str() {
                "takeover" => format!("from {}", a.previous_agent),
                "auto_assigned" => a.agent.clone(),
                "unassigned" | "claimed" => String::new(),
                _ => format!("to {}", a.agent),
            };
            line(proto::activity::describe(&a.by, &a.action, &detail))
        }
        Some(Event::PriorityChanged(p)) => {
            let level = priority(p.priority).label();
            let action = if p.by == "system" {
                "priority_raised"
            } else {
                "priority"
            };
            line(proto::activity::describe(&p.by, action, level))
        }
        Some(Event::CsatRated(c)) => u32::try_from(c.rating)
            .ok()
            .filter(|r| *r > 0)
            .and_then(|r| line(proto::activity::rated(r, ""))),
        _ => None,
    };
    let body = match e.event {
        Some(Event::Snapshot(s)) => {
            EventBody::Snapshot(s.active_chats.into_iter().map(summary).collect())
        }
        Some(Event::ChatStarted(c)) => c.conversation.map_or(EventBody::Unknown, |s| {
            EventBody::ChatStarted(summary(s), c.chat_session_id)
        }),
        Some(Event::MessageAdded(m)) => match (m.conversation, m.message) {
            (Some(s), Some(msg)) => EventBody::MessageAdded(summary(s), message(msg)),
            _ => EventBody::Unknown,
        },
        Some(Event::ChatEnded(c)) => c.conversation.map_or(EventBody::Unknown, |s| {
            EventBody::ChatEnded(summary(s), c.ended_by)
        }),
        Some(Event::DeliveryStatusChanged(d)) => EventBody::Delivery {
            address: d.address,
            message_id: d.message_id,
            status: status(d.status),
            error_code: d.error_code,
            error_message: d.error_message,
        },
        Some(Event::ContactUpdated(c)) => c.conversation.map_or(EventBody::Unknown, |s| {
            EventBody::ContactUpdated(summary(s))
        }),
        // Assignment and priority changes carry the conversation as it now is.
        Some(Event::AssignmentChanged(a)) => a.conversation.map_or(EventBody::Unknown, |s| {
            EventBody::AssignmentChanged(summary(s), a.agent, a.action, a.by)
        }),
        Some(Event::PriorityChanged(p)) => p.conversation.map_or(EventBody::Unknown, |s| {
            EventBody::ContactUpdated(summary(s))
        }),
        Some(Event::NoteAdded(n)) => match (n.conversation, n.note) {
            (Some(s), Some(note_)) => EventBody::NoteAdded(summary(s), note(note_)),
            _ => EventBody::Unknown,
        },
        Some(Event::CsatRated(c)) => c.conversation.map_or(EventBody::Unknown, |s| {
            EventBody::CsatRated(summary(s), c.rating, c.agent)
        }),
        Some(Event::CannedResponseChanged(c)) => EventBody::CannedChanged(
            c.shortcut,
            c.response.filter(|_| !c.deleted).map(|r| r.body),
        ),
        None => EventBody::Unknown,
    };
    ChatEvent {
        sequence: e.sequence,
        body,
        activity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_fall_back_to_phone_or_user_id_for_the_address() {
        let s = summary(pb::ConversationSummary {
            user_id: "NG.1".into(),
            ..Default::default()
        });
        assert_eq!(s.address, "NG.1");
        assert_eq!(s.name(), "NG.1");
        assert_eq!(s.contact_line(), "NG.1");
    }

    #[test]
    fn filters_match_names_numbers_and_formatted_numbers() {
        let mut s = Summary::new("2348011111111", "Ada Okafor");
        s.username = "ada_o".into();
        assert!(s.matches("ada"));
        assert!(s.matches("OKAF"));
        assert!(s.matches("+234 801"));
        assert!(s.matches("ada_o"));
        assert!(!s.matches("bola"));
        assert!(!s.matches("999"));
    }

    #[test]
    fn window_closes_24_hours_after_the_last_inbound_message() {
        let t0 = DateTime::from_timestamp(1_767_262_500, 0).unwrap();
        let mut s = Summary::new("1", "A");
        assert_eq!(s.window_left(t0), None);
        s.last_inbound_at = Some(t0);
        assert_eq!(s.window_left(t0), Some(Duration::hours(24)));
        assert_eq!(s.window_left(t0 + Duration::hours(24)), None);
    }

    #[test]
    fn unknown_events_keep_their_sequence() {
        let e = event(pb::ChatEvent {
            sequence: 9,
            timestamp: None,
            event: None,
        });
        assert_eq!(e.sequence, 9);
        assert_eq!(e.body, EventBody::Unknown);
    }
}
