//! The conversation state machine: a pure function `(contact, event) -> (new state, actions)`.
//! No I/O, no clock, no randomness: the engine loads the contact, calls [`step`], persists the
//! result and the actions in one transaction, and only then performs them.

pub mod csat;
pub mod keywords;
pub mod texts;

use serde::{Deserialize, Serialize};

use crate::domain::{ContactKind, Content, EndedBy, Millis, Sender, State};

pub use csat::SurveyStage;

/// A reply button (id ≤ 256, title ≤ 20 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// What comes back in `button_reply.id` when tapped.
    pub id: String,
    /// What the user sees.
    pub title: String,
}

/// One row of an interactive list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    /// What comes back in `list_reply.id`.
    pub id: String,
    /// ≤ 24 characters.
    pub title: String,
    /// ≤ 72 characters.
    pub description: String,
}

/// A message to send to the user, independent of the wire format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outgoing {
    /// Plain text (≤ 4096 characters).
    Text {
        /// The text.
        body: String,
    },
    /// Text with 1 to 3 reply buttons (body ≤ 1024 characters).
    Buttons {
        /// The text.
        body: String,
        /// The buttons.
        buttons: Vec<Button>,
    },
    /// An approved template (the only thing WhatsApp accepts outside the 24-hour window).
    Template {
        /// What the history shows for it.
        body: String,
        /// The template.
        template: Template,
        /// Body parameters, in order.
        params: Vec<String>,
    },
    /// Text with a list of up to 10 rows behind a menu button.
    List {
        /// The text.
        body: String,
        /// The menu button's label.
        button: String,
        /// The rows.
        rows: Vec<ListRow>,
    },
}

impl Outgoing {
    /// The text stored in the history for this message.
    pub fn body(&self) -> &str {
        match self {
            Outgoing::Text { body }
            | Outgoing::Buttons { body, .. }
            | Outgoing::Template { body, .. }
            | Outgoing::List { body, .. } => body,
        }
    }
}

/// One FAQ entry from the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faq {
    /// The question (the list row shows its first 24 characters).
    pub question: String,
    /// The answer sent when the row is picked.
    pub answer: String,
}

/// What the bot's menu offers, from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotSettings {
    /// FAQ entries, at most 10 are listed.
    pub faq: Vec<Faq>,
    /// The approved template sent instead of a free-form agent message outside WhatsApp's
    /// 24-hour window; without one such messages are refused.
    pub reengagement_template: Option<Template>,
    /// The queue line added to the welcome and acknowledgements while no agent has answered
    /// (`{position}`, `{eta}`); empty turns it off.
    pub queue_text: String,
    /// Said instead of the queue line outside business hours (`{back}`, `{position}`).
    pub closed_text: String,
    /// Business hours; `None`: always open.
    pub hours: Option<crate::hours::BusinessHours>,
    /// Ask for a rating after every chat.
    pub csat: bool,
    /// How long a survey waits for its answers.
    pub csat_timeout_ms: Millis,
    /// Inactivity reminder and auto-end; `None`: off.
    pub inactivity: Option<Inactivity>,
    /// Keep acknowledging the user's chat messages after an agent has replied in the chat
    /// (`[support] ack_after_agent_reply`). Off by default: the user knows a person is there,
    /// and every non-template message in the window is billed.
    pub ack_after_agent_reply: bool,
}

impl Default for BotSettings {
    fn default() -> Self {
        BotSettings {
            faq: Vec::new(),
            reengagement_template: None,
            queue_text: texts::DEFAULT_QUEUE_TEXT.to_string(),
            closed_text: texts::DEFAULT_CLOSED_TEXT.to_string(),
            hours: None,
            csat: true,
            csat_timeout_ms: 24 * 60 * 60 * 1000,
            inactivity: None,
            ack_after_agent_reply: false,
        }
    }
}

/// The inactivity timers of an open chat (no message from the user or an agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inactivity {
    /// Remind the user after this long; `None`: no reminder.
    pub remind_after_ms: Option<Millis>,
    /// End the chat (as the system) after this long.
    pub end_after_ms: Millis,
    /// The reminder's text.
    pub remind_text: String,
    /// The closing message of an auto-ended chat.
    pub end_text: String,
}

/// Where the user stands in the queue for a first agent reply, computed by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueInfo {
    /// 1 = next. For a contact not in a chat: the place a new chat would take.
    pub position: u32,
    /// The estimated wait (median recent first response); `None` with too little data.
    pub eta_ms: Option<Millis>,
}

/// An approved WhatsApp message template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// The template's name in Meta's manager.
    pub name: String,
    /// Its language code (`en`, `en_US`, ...).
    pub language: String,
    /// Whether its body has one `{{1}}` parameter that receives the agent's text.
    #[serde(default)]
    pub with_message_param: bool,
}

/// What the state machine knows about a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Current state.
    pub state: State,
    /// Student or lead.
    pub kind: ContactKind,
    /// The name given at registration or by import.
    pub registered_name: Option<String>,
    /// The WhatsApp profile name.
    pub profile_name: Option<String>,
    /// The bot acknowledged this user's chat messages moments ago and nothing was sent since:
    /// another acknowledgement would only flood the user (WhatsApp's pair rate limit).
    pub recently_acknowledged: bool,
    /// An agent has replied in the open chat (its first response is stored).
    pub agent_replied: bool,
    /// The queue: `None` when an agent has already answered the open chat.
    pub queue: Option<QueueInfo>,
    /// Outside business hours: when support is back ("Monday 08:00").
    pub closed_until: Option<String>,
    /// The contact's latest satisfaction survey, `None` when never asked.
    pub survey: Option<SurveyStage>,
}

impl Contact {
    /// The name to greet with: registered name, else profile name, else "there".
    pub fn greeting_name(&self) -> &str {
        [
            self.registered_name.as_deref(),
            self.profile_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|n| !n.is_empty())
        .unwrap_or("there")
    }

    fn is_student(&self) -> bool {
        self.kind == ContactKind::Student
    }

    /// Where the contact goes back to after a chat: `REGISTERED` for students, else `IDLE`.
    pub fn home(&self) -> State {
        if self.is_student() {
            State::Registered
        } else {
            State::Idle
        }
    }
}

/// What happened to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The user sent something.
    User(Content),
    /// An agent sends a message (allowed in any state; outside a chat it opens one).
    AgentMessage {
        /// The agent's text, without the prefix.
        text: String,
    },
    /// An agent ends the chat.
    AgentEnd {
        /// The closing message.
        message: String,
    },
    /// The chat has been quiet for the reminder time.
    InactivityReminder,
    /// The chat has been quiet for the end time: the system ends it.
    InactivityEnd,
}

/// Why an event was refused (the state is unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// An agent tried to end a chat that is not active.
    ChatNotActive,
}

/// What the engine must do, in order, after persisting the new state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Open a chat session (before storing the triggering message, which belongs to it).
    StartSession,
    /// Close the open chat session.
    EndSession(EndedBy),
    /// Make the contact a registered student with this name.
    Register {
        /// The full name the user gave.
        name: String,
    },
    /// Send a message to the user.
    Reply {
        /// Bot or admin.
        sender: Sender,
        /// What to send.
        message: Outgoing,
    },
    /// Nothing happens; the caller reports why.
    Reject(Rejection),
    /// Open a satisfaction survey for the session just ended.
    StartSurvey,
    /// Store the rating (1–5) on the open survey.
    RateSurvey(u8),
    /// Store the comment and close the survey.
    CommentSurvey(String),
    /// Close the open survey without (more) answers.
    CloseSurvey,
    /// Record that the inactivity reminder went out.
    MarkReminded,
}

/// The outcome of [`step`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The state after the event.
    pub state: State,
    /// What to do, in order.
    pub actions: Vec<Action>,
}

/// What a user's message asks for, outside a chat.
#[derive(Debug, Clone, PartialEq)]
enum Intent {
    StartChat,
    Menu,
    FaqList,
    FaqAnswer(usize),
    Register,
    NoChatToEnd,
    QueueStatus,
    Ignore,
}

fn bot(message: Outgoing) -> Action {
    Action::Reply {
        sender: Sender::Bot,
        message,
    }
}

/// The state machine. Never fails: an event that cannot apply gives the same state back with
/// an [`Action::Reject`].
pub fn step(contact: &Contact, event: &Event, settings: &BotSettings) -> Transition {
    match event {
        Event::AgentMessage { text } => {
            let reply = Action::Reply {
                sender: Sender::Admin,
                message: texts::agent_message(text),
            };
            if contact.state == State::ChatSupportActive {
                return Transition {
                    state: contact.state,
                    actions: vec![reply],
                };
            }
            // An agent writing to a contact outside a chat (one that ended, or reaching out)
            // opens one, so the user's answer reaches the desk instead of the bot's menu.
            let mut actions = Vec::new();
            if contact.survey.is_some_and(SurveyStage::is_open) {
                actions.push(Action::CloseSurvey);
            }
            actions.push(Action::StartSession);
            actions.push(reply);
            Transition {
                state: State::ChatSupportActive,
                actions,
            }
        }
        Event::AgentEnd { message } => {
            if contact.state == State::ChatSupportActive {
                let mut actions = vec![
                    Action::EndSession(EndedBy::Admin),
                    Action::Reply {
                        sender: Sender::Admin,
                        message: texts::agent_closing(message),
                    },
                ];
                actions.extend(csat::ask(settings));
                Transition {
                    state: contact.home(),
                    actions,
                }
            } else {
                Transition {
                    state: contact.state,
                    actions: vec![Action::Reject(Rejection::ChatNotActive)],
                }
            }
        }
        Event::InactivityReminder => match (&settings.inactivity, contact.state) {
            (Some(i), State::ChatSupportActive) => Transition {
                state: contact.state,
                actions: vec![
                    Action::MarkReminded,
                    bot(texts::inactivity_reminder(&i.remind_text)),
                ],
            },
            _ => Transition {
                state: contact.state,
                actions: vec![],
            },
        },
        Event::InactivityEnd => match (&settings.inactivity, contact.state) {
            (Some(i), State::ChatSupportActive) => {
                let mut actions = vec![
                    Action::EndSession(EndedBy::System),
                    bot(texts::inactivity_end(&i.end_text, contact.is_student())),
                ];
                actions.extend(csat::ask(settings));
                Transition {
                    state: contact.home(),
                    actions,
                }
            }
            _ => Transition {
                state: contact.state,
                actions: vec![],
            },
        },
        Event::User(content) => {
            if contact.state == State::ChatSupportActive {
                in_chat(contact, content, settings)
            } else {
                if let Some(t) = csat::answer(contact, content) {
                    return t;
                }
                let intent = intent(contact, content, settings);
                if let (State::AwaitingName, Some(name)) =
                    (contact.state, registration_text(content, &intent))
                {
                    return registration(contact, name);
                }
                let mut t = apply_intent(contact, intent, settings);
                // Anything but a comment while the comment is awaited closes the survey (an
                // ignored reaction changes nothing).
                if contact.survey == Some(SurveyStage::AwaitingComment)
                    && !t.actions.is_empty()
                    && !t.actions.contains(&Action::CloseSurvey)
                {
                    t.actions.insert(0, Action::CloseSurvey);
                }
                t
            }
        }
    }
}

/// The queue line for this contact: the closed-hours text outside business hours, else the
/// position and estimated wait; `None` when an agent already answered or it is turned off.
fn waiting_line(contact: &Contact, settings: &BotSettings) -> Option<String> {
    let queue = contact.queue?;
    match &contact.closed_until {
        Some(back) if !settings.closed_text.is_empty() => Some(texts::closed_line(
            &settings.closed_text,
            back,
            queue.position,
        )),
        _ if !settings.queue_text.is_empty() => Some(texts::queue_line(
            &settings.queue_text,
            queue.position,
            queue.eta_ms,
        )),
        _ => None,
    }
}

fn in_chat(contact: &Contact, content: &Content, settings: &BotSettings) -> Transition {
    let ends = match content {
        Content::Text(t) => keywords::is_end_request(t),
        Content::Button { id, .. } | Content::ListReply { id, .. } => id == texts::BTN_END_CHAT,
        Content::TemplateButton { payload, .. } => payload == texts::BTN_END_CHAT,
        _ => false,
    };
    let asks_queue = matches!(content, Content::Text(t) if keywords::is_queue_request(t));
    if ends {
        let mut actions = vec![
            Action::EndSession(EndedBy::User),
            bot(texts::user_ended(contact.is_student())),
        ];
        actions.extend(csat::ask(settings));
        Transition {
            state: contact.home(),
            actions,
        }
    } else if asks_queue {
        // An explicit question is always answered, even inside the acknowledgement's quiet time.
        Transition {
            state: State::ChatSupportActive,
            actions: vec![bot(texts::queue_answer(waiting_line(contact, settings)))],
        }
    } else if contact.recently_acknowledged
        || (contact.agent_replied && !settings.ack_after_agent_reply)
    {
        // Once a person has answered, the acknowledgement tells the user nothing new.
        Transition {
            state: State::ChatSupportActive,
            actions: vec![],
        }
    } else {
        Transition {
            state: State::ChatSupportActive,
            actions: vec![bot(texts::chat_ack(waiting_line(contact, settings)))],
        }
    }
}

fn intent(contact: &Contact, content: &Content, settings: &BotSettings) -> Intent {
    let by_id = |id: &str| -> Option<Intent> {
        Some(match id {
            texts::BTN_CHAT_SUPPORT => Intent::StartChat,
            texts::BTN_END_CHAT => Intent::NoChatToEnd,
            texts::BTN_MAIN_MENU => Intent::Menu,
            texts::BTN_FAQ => Intent::FaqList,
            texts::BTN_REGISTER => Intent::Register,
            _ => {
                let n: usize = id.strip_prefix(texts::FAQ_ROW_PREFIX)?.parse().ok()?;
                Intent::FaqAnswer(n)
            }
        })
    };
    match content {
        Content::Button { id, .. } | Content::ListReply { id, .. } => {
            by_id(id).unwrap_or(Intent::Menu)
        }
        Content::TemplateButton { payload, text } => by_id(payload).unwrap_or_else(|| {
            if keywords::is_support_request(payload) || keywords::is_support_request(text) {
                Intent::StartChat
            } else {
                Intent::Menu
            }
        }),
        Content::Text(t) => {
            if keywords::is_support_request(t) {
                Intent::StartChat
            } else if keywords::is_queue_request(t) {
                Intent::QueueStatus
            } else if contact.state == State::Faq {
                match keywords::normalized(t).parse::<usize>() {
                    Ok(n) if n >= 1 && n <= settings.faq.len() => Intent::FaqAnswer(n),
                    _ => Intent::Menu,
                }
            } else {
                Intent::Menu
            }
        }
        Content::Reaction { .. } => Intent::Ignore,
        _ => Intent::Menu,
    }
}

/// The text to take as a name while registration waits for one: plain text that is not a
/// request for support, the menu, or a cancel.
fn registration_text<'a>(content: &'a Content, intent: &Intent) -> Option<&'a str> {
    match (content, intent) {
        (Content::Text(t), Intent::Menu)
            if !keywords::is_menu_request(t) && !keywords::is_cancel(t) =>
        {
            Some(t.trim())
        }
        _ => None,
    }
}

/// A plausible full name: 2 to 80 characters, letters with spaces, hyphens, dots or apostrophes.
fn valid_name(name: &str) -> bool {
    let count = name.chars().count();
    (2..=80).contains(&count)
        && name.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && name
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '.' | '\'' | '’'))
}

fn registration(contact: &Contact, name: &str) -> Transition {
    if valid_name(name) {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        Transition {
            state: State::Registered,
            actions: vec![
                Action::Register { name: name.clone() },
                bot(texts::registered(&name)),
            ],
        }
    } else {
        Transition {
            state: contact.state,
            actions: vec![bot(texts::bad_name())],
        }
    }
}

fn faq_list(settings: &BotSettings) -> Outgoing {
    if settings.faq.is_empty() {
        return Outgoing::Buttons {
            body: texts::FAQ_EMPTY.to_string(),
            buttons: vec![texts::chat_support_button(), texts::main_menu_button()],
        };
    }
    let rows = settings
        .faq
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, f)| {
            let title: String = f.question.chars().take(24).collect();
            let rest: String = f.question.chars().skip(24).collect();
            let description = if rest.is_empty() {
                String::new()
            } else {
                let mut d: String = format!("…{rest}").chars().take(72).collect();
                if rest.chars().count() > 71 {
                    d.pop();
                    d.push('…');
                }
                d
            };
            ListRow {
                id: format!("{}{}", texts::FAQ_ROW_PREFIX, i + 1),
                title,
                description,
            }
        })
        .collect();
    Outgoing::List {
        body: texts::FAQ_BODY.to_string(),
        button: texts::FAQ_BUTTON.to_string(),
        rows,
    }
}

fn apply_intent(contact: &Contact, intent: Intent, settings: &BotSettings) -> Transition {
    let home = contact.home();
    let name = contact.greeting_name();
    let student = contact.is_student();
    let (state, actions) = match intent {
        Intent::StartChat => {
            let mut actions = Vec::new();
            if contact.survey.is_some_and(SurveyStage::is_open) {
                // A new chat wins over the last one's survey.
                actions.push(Action::CloseSurvey);
            }
            actions.push(Action::StartSession);
            actions.push(bot(texts::chat_welcome(
                name,
                waiting_line(contact, settings),
            )));
            (State::ChatSupportActive, actions)
        }
        Intent::QueueStatus => (home, vec![bot(texts::not_in_queue(student))]),
        Intent::Menu => (home, vec![bot(texts::main_menu(name, student))]),
        Intent::FaqList => (State::Faq, vec![bot(faq_list(settings))]),
        Intent::FaqAnswer(n) => match n.checked_sub(1).and_then(|i| settings.faq.get(i)) {
            Some(f) => (State::Faq, vec![bot(texts::faq_answer(&f.answer))]),
            None => (State::Faq, vec![bot(faq_list(settings))]),
        },
        Intent::Register => {
            if student {
                (home, vec![bot(texts::already_registered(name))])
            } else {
                (State::AwaitingName, vec![bot(texts::ask_name())])
            }
        }
        Intent::NoChatToEnd => (home, vec![bot(texts::no_active_chat(student))]),
        Intent::Ignore => (contact.state, vec![]),
    };
    Transition { state, actions }
}

#[cfg(test)]
pub(crate) mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod waiting_tests;
