//! The console's state and its one entry point, [`App::update`]: every key, tick and network
//! reply arrives as a [`Msg`]; what must happen outside (RPCs, the bell, quitting) leaves as
//! [`Cmd`]s. Plain data: no terminal, no tonic, no clock (time comes in with `Msg::Tick`).

mod actions;
mod desk;
mod dialogs;
mod msg;
mod overlays;
mod replies;
mod stats;
mod stream;
mod thread;

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
pub(crate) mod desk_tests;
#[cfg(test)]
mod live_tests;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::FixedOffset;

use crate::editor::Editor;
use crate::layout::Shape;
use crate::model::{Desk, Summary, Time};
use crate::scroll::ListScroll;

pub(crate) use msg::{Action, Cmd, Failure, Msg, NetCmd, NetEvent, Pane};
pub(crate) use thread::{Outgoing, Thread};

/// What `SendMessage` accepts at most, in UTF-16 units (WhatsApp's 4096 less the 17 of the
/// "🎧 Support Team: " prefix).
pub(crate) const MAX_MESSAGE_UNITS: usize = 4079;
/// What `EndChat` accepts at most.
pub(crate) const MAX_CLOSING_CHARS: usize = 1024;
/// Thread page size.
pub(crate) const THREAD_PAGE: u32 = 50;
/// Conversation list page size.
pub(crate) const LIST_PAGE: u32 = 100;
/// How long a notice stays in the status bar.
const NOTICE_SECS: i64 = 6;

/// The event stream's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Conn {
    Connecting,
    Connected,
    /// Down; the next attempt is at `retry_at` (`None`: only when asked, after a revocation).
    Down {
        failure: Failure,
        retry_at: Option<Time>,
    },
}

/// The stats screen: the figures once they arrive, or why they did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StatsScreen {
    pub(crate) loading: bool,
    pub(crate) data: Option<crate::model::Stats>,
    pub(crate) error: Option<String>,
}

/// How many days the stats screen covers.
pub(crate) const STATS_DAYS: u32 = 7;

/// Which list the left pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    /// Live active chats.
    Active,
    /// Every conversation, paged from the server.
    All,
    /// Active chats assigned to this console's agent.
    Mine,
    /// Active chats nobody holds.
    Unassigned,
}

/// Where the keyboard goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Focus {
    List,
    Thread,
    Compose,
}

/// A draft reply: the editor, and the idempotency key of a failed send of exactly this text.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Draft {
    pub(crate) editor: Editor,
    pub(crate) retry: Option<(String, String)>,
}

/// A modal dialog.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Dialog {
    /// Confirm ending a chat, with the editable closing message.
    EndChat {
        address: String,
        name: String,
        editor: Editor,
        /// Send the closing message (off: end without writing to the user).
        send_closing: bool,
        busy: bool,
        error: Option<String>,
    },
    /// Quit with unsent drafts or sends in flight?
    ConfirmQuit { unsent: usize },
    /// Pick an agent to assign the chat to, or (with `transfer`) hand it over with a note.
    Assign {
        address: String,
        name: String,
        transfer: bool,
        /// The highlighted row of the agent picker (the last row is "nobody" when assigning).
        index: usize,
        /// The note (required for a transfer).
        editor: Editor,
        busy: bool,
        error: Option<String>,
    },
    /// A private note for the other agents.
    Note {
        address: String,
        name: String,
        editor: Editor,
        busy: bool,
        error: Option<String>,
    },
}

/// The "all conversations" tab.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AllList {
    pub(crate) rows: Vec<Summary>,
    pub(crate) next_token: String,
    /// The request whose answer counts (older answers are dropped).
    pub(crate) req: u64,
    pub(crate) loading: bool,
    pub(crate) loaded: bool,
    pub(crate) error: Option<String>,
}

/// The list filter (`/`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Filter {
    pub(crate) editor: Editor,
    pub(crate) editing: bool,
}

impl Filter {
    /// The query text.
    pub(crate) fn query(&self) -> String {
        self.editor.text().trim().to_string()
    }
}

/// A short message in the status bar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notice {
    pub(crate) text: String,
    pub(crate) error: bool,
    pub(crate) until: Time,
    /// About the daemon being unreachable: gone as soon as the stream connects again.
    pub(crate) until_connected: bool,
}

/// Start-up settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The daemon's address, as shown to the user.
    pub(crate) server: String,
    /// Ring the bell when a chat starts.
    pub(crate) bell: bool,
    /// Makes idempotency keys unique across runs.
    pub(crate) nonce: String,
    /// Local time offset for display.
    pub(crate) utc_offset: FixedOffset,
    /// Waiting alarms: a chat in the queue this long is amber, then red.
    pub(crate) alarms: Alarms,
}

/// How long a chat may wait for its first agent reply before it is shown amber, then red.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Alarms {
    pub(crate) amber: chrono::Duration,
    pub(crate) red: chrono::Duration,
}

impl Default for Alarms {
    /// Amber after 2 minutes, red after 5.
    fn default() -> Alarms {
        Alarms {
            amber: chrono::Duration::minutes(2),
            red: chrono::Duration::minutes(5),
        }
    }
}

/// How alarming a wait is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Alarm {
    Calm,
    Amber,
    Red,
}

/// The whole console state.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) settings: Settings,
    pub(crate) now: Time,
    /// Terminal size (columns, rows).
    pub(crate) size: (u16, u16),
    pub(crate) conn: Conn,
    /// Failed attempts since the last success (for the backoff).
    pub(crate) attempts: u32,
    /// The last stream sequence applied.
    pub(crate) last_seq: u64,
    /// A snapshot has been applied.
    pub(crate) synced: bool,
    /// The current watch generation; items of other generations are stale.
    pub(crate) watch_gen: u64,
    /// Active chats by address (live from the stream).
    pub(crate) chats: HashMap<String, Summary>,
    pub(crate) all: AllList,
    pub(crate) tab: Tab,
    pub(crate) focus: Focus,
    /// The selected row's address and index (the index keeps the place when the row leaves).
    pub(crate) selected: Option<String>,
    pub(crate) sel_index: usize,
    /// The list's scroll (its first visible row and page, as last drawn).
    pub(crate) list: ListScroll,
    /// The conversation in the thread pane.
    pub(crate) open: Option<String>,
    pub(crate) threads: HashMap<String, Thread>,
    pub(crate) drafts: HashMap<String, Draft>,
    pub(crate) filter: Filter,
    /// Chats started since the agent last looked at them.
    pub(crate) fresh: HashSet<String>,
    /// The newest user message seen per conversation (message id, text): the list previews it
    /// when the summary's last message is only the bot's acknowledgement.
    pub(crate) last_user: HashMap<String, (i64, String)>,
    /// The message count at which each conversation was last marked read (asked once per
    /// new message while the agent looks at it).
    pub(crate) read_marks: HashMap<String, u32>,
    pub(crate) dialog: Option<Dialog>,
    /// The help overlay and its scroll.
    pub(crate) help: Option<usize>,
    /// The stats screen, when open.
    pub(crate) stats: Option<StatsScreen>,
    pub(crate) notice: Option<Notice>,
    /// Who this console is, the agents and the canned responses.
    pub(crate) desk: Desk,
    /// The highlighted canned response in the compose box's picker.
    pub(crate) picker: usize,
    next_id: u64,
}

impl App {
    /// A console that has not connected yet.
    pub(crate) fn new(settings: Settings, now: Time, size: (u16, u16)) -> App {
        App {
            settings,
            now,
            size,
            conn: Conn::Connecting,
            attempts: 0,
            last_seq: 0,
            synced: false,
            watch_gen: 0,
            chats: HashMap::new(),
            all: AllList::default(),
            tab: Tab::Active,
            focus: Focus::List,
            selected: None,
            sel_index: 0,
            list: ListScroll::default(),
            open: None,
            threads: HashMap::new(),
            drafts: HashMap::new(),
            filter: Filter::default(),
            fresh: HashSet::new(),
            last_user: HashMap::new(),
            read_marks: HashMap::new(),
            dialog: None,
            help: None,
            stats: None,
            notice: None,
            desk: Desk::default(),
            picker: 0,
            next_id: 0,
        }
    }

    /// Where an active chat stands in the queue for a first agent reply (1 = next): the active
    /// chats no agent has answered, in the daemon's one order (higher priority first, then the
    /// oldest start, then the session id). `None` once answered.
    #[cfg(test)]
    pub(crate) fn queue_position(&self, s: &Summary) -> Option<usize> {
        self.queue_positions().get(s.address.as_str()).copied()
    }

    /// How long a chat in the queue (active, no agent reply yet — the queue labels' and
    /// `GetStats.waiting_now`'s definition) has waited since it started; `None` otherwise.
    pub(crate) fn queue_wait(&self, s: &Summary) -> Option<chrono::Duration> {
        if !s.chat_active || s.answered {
            return None;
        }
        s.chat_started_at
            .map(|t| (self.now - t).max(chrono::Duration::zero()))
    }

    /// The longest [`App::queue_wait`] among the active chats.
    pub(crate) fn oldest_wait(&self) -> Option<chrono::Duration> {
        self.chats.values().filter_map(|s| self.queue_wait(s)).max()
    }

    /// The alarm level of a wait, by the console's thresholds.
    pub(crate) fn alarm(&self, waited: chrono::Duration) -> Alarm {
        let a = self.settings.alarms;
        if waited >= a.red {
            Alarm::Red
        } else if waited >= a.amber {
            Alarm::Amber
        } else {
            Alarm::Calm
        }
    }

    /// [`App::queue_position`] of every waiting chat at once, by address.
    pub(crate) fn queue_positions(&self) -> std::collections::HashMap<&str, usize> {
        let mut waiting: Vec<&Summary> = self
            .chats
            .values()
            .filter(|c| c.chat_active && !c.answered)
            .collect();
        waiting.sort_by(|a, b| {
            b.priority.cmp(&a.priority).then_with(|| {
                (a.chat_started_at, a.chat_session_id, &a.address).cmp(&(
                    b.chat_started_at,
                    b.chat_session_id,
                    &b.address,
                ))
            })
        });
        waiting
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c.address.as_str(), i + 1))
            .collect()
    }

    /// The commands to run at start-up: open the event stream (once connected, the desk —
    /// who we are, the agents, the canned responses — is loaded).
    pub(crate) fn start(&mut self) -> Vec<Cmd> {
        vec![self.watch(Duration::ZERO)]
    }

    /// Applies one message; returns what must happen outside.
    pub(crate) fn update(&mut self, msg: Msg) -> Vec<Cmd> {
        let cmds = match msg {
            Msg::Action(a) => self.on_action(a),
            Msg::Insert(c) => self.on_insert(c),
            Msg::Paste(s) => self.on_paste(&s),
            Msg::Scroll(pane, n) => self.on_scroll(pane, n),
            Msg::Click(pane, row) => self.on_click(pane, row),
            Msg::Tick(now) => {
                self.now = now;
                Vec::new()
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Msg::Net(e) => self.on_net(e),
        };
        let mut cmds = cmds;
        cmds.extend(self.reselect());
        cmds.extend(self.mark_read_if_looking());
        cmds
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A new watch generation starting after `delay`.
    fn watch(&mut self, delay: Duration) -> Cmd {
        self.watch_gen += 1;
        Cmd::Net(NetCmd::Watch {
            gen: self.watch_gen,
            after_sequence: self.last_seq,
            delay,
        })
    }

    /// Shows `text` in the status bar for a few seconds.
    pub(crate) fn notify(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
            until: self.now + chrono::Duration::seconds(NOTICE_SECS),
            until_connected: false,
        });
    }

    /// An error caused by the daemon being out of reach: shown like [`App::notify`]'s, and
    /// cleared once the stream is connected again (it is no longer true).
    pub(crate) fn notify_until_connected(&mut self, text: impl Into<String>) {
        self.notify(text, true);
        if let Some(n) = &mut self.notice {
            n.until_connected = true;
        }
    }

    /// How many active chats are assigned to the agent `name` (live, from the stream).
    pub(crate) fn open_chats_of(&self, name: &str) -> usize {
        self.chats
            .values()
            .filter(|s| s.chat_active && s.assigned_agent.eq_ignore_ascii_case(name))
            .count()
    }

    /// Whether `name` is this console's agent (never for the operator's token).
    pub(crate) fn is_me(&self, name: &str) -> bool {
        self.desk
            .me
            .as_ref()
            .is_some_and(|m| !name.is_empty() && m.name.eq_ignore_ascii_case(name))
    }

    /// Rows of the list pane, in display order.
    pub(crate) fn rows(&self) -> Vec<&Summary> {
        let me = self.desk.me.as_ref().map(|a| a.name.as_str());
        let keep = |s: &Summary| match self.tab {
            Tab::Mine => me.is_some_and(|m| s.assigned_agent.eq_ignore_ascii_case(m)),
            Tab::Unassigned => s.assigned_agent.is_empty(),
            Tab::Active | Tab::All => true,
        };
        match self.tab {
            Tab::Active | Tab::Mine | Tab::Unassigned => {
                let q = self.filter.query();
                let mut rows: Vec<&Summary> = self
                    .chats
                    .values()
                    .filter(|s| s.matches(&q) && keep(s))
                    .collect();
                rows.sort_by(|a, b| active_order(a, b));
                rows
            }
            // Filtered and ordered by the server.
            Tab::All => self.all.rows.iter().collect(),
        }
    }

    /// Remembers `m` when it is the newest user message seen for `address`.
    pub(crate) fn note_user_message(&mut self, address: &str, m: &crate::model::Message) {
        if m.sender != crate::model::Sender::User {
            return;
        }
        let newer = self.last_user.get(address).is_none_or(|(id, _)| m.id > *id);
        if newer {
            self.last_user
                .insert(address.to_string(), (m.id, m.text.clone()));
        }
    }

    /// The list's preview of a conversation: (sender, text).
    pub(crate) fn preview<'a>(&'a self, s: &'a Summary) -> Option<(crate::model::Sender, &'a str)> {
        use crate::model::Sender;
        let last = s.last_message.as_ref()?;
        match (last.sender, self.last_user.get(&s.address)) {
            (Sender::Bot, Some((_, text))) => Some((Sender::User, text.as_str())),
            _ => Some((last.sender, last.text.as_str())),
        }
    }

    /// Active chats no agent has answered yet (as `GetStats.waiting_now` counts them).
    pub(crate) fn waiting_count(&self) -> usize {
        self.chats
            .values()
            .filter(|s| s.chat_active && !s.answered)
            .count()
    }

    /// The freshest summary known for `address`.
    pub(crate) fn summary(&self, address: &str) -> Option<&Summary> {
        self.chats
            .get(address)
            .or_else(|| self.threads.get(address).and_then(|t| t.summary.as_ref()))
            .or_else(|| self.all.rows.iter().find(|s| s.address == address))
    }

    /// What in the state moves panes (for [`crate::layout::areas`]).
    pub(crate) fn shape(&self) -> Shape<'_> {
        Shape {
            banner: matches!(self.conn, Conn::Down { .. }),
            open: self.open.is_some(),
            list_focused: self.focus == Focus::List,
            draft: self.open_draft().map(|d| &d.editor),
        }
    }

    /// Whether the list shows its filter line.
    pub(crate) fn filter_shown(&self) -> bool {
        self.filter.editing || !self.filter.editor.is_blank()
    }

    /// The open conversation's thread, when loaded or loading.
    pub(crate) fn open_thread(&self) -> Option<&Thread> {
        self.open.as_deref().and_then(|a| self.threads.get(a))
    }

    /// The conversation shown in the thread pane.
    pub(crate) fn open_summary(&self) -> Option<&Summary> {
        self.open.as_deref().and_then(|a| self.summary(a))
    }

    /// The draft of the open conversation.
    pub(crate) fn open_draft(&self) -> Option<&Draft> {
        self.open.as_deref().and_then(|a| self.drafts.get(a))
    }

    /// Drafts with text plus sends in flight (what quitting would lose).
    pub(crate) fn unsent(&self) -> usize {
        let drafts = self
            .drafts
            .values()
            .filter(|d| !d.editor.is_blank())
            .count();
        let flying = self
            .threads
            .values()
            .flat_map(|t| &t.outgoing)
            .filter(|o| o.error.is_none())
            .count();
        drafts + flying
    }

    /// Keeps the selection on the same conversation when rows move, on the same place when it
    /// leaves; lets the thread pane follow the selection while the list has the focus.
    fn reselect(&mut self) -> Vec<Cmd> {
        let (index, address) = {
            let rows = self.rows();
            let found = self
                .selected
                .as_deref()
                .and_then(|a| rows.iter().position(|s| s.address == a));
            let index = found.unwrap_or(self.sel_index.min(rows.len().saturating_sub(1)));
            (index, rows.get(index).map(|s| s.address.clone()))
        };
        self.sel_index = index;
        self.selected = address;
        // The list's first visible row follows the selection when it is drawn.
        let count = self.rows().len();
        let mut cmds = Vec::new();
        if self.focus == Focus::List && self.selected.is_some() && self.open != self.selected {
            self.open.clone_from(&self.selected);
            cmds.extend(self.ensure_loaded());
        }
        if self.open.is_none() && self.focus != Focus::List {
            self.focus = Focus::List;
        }
        // Paging the "all" tab: load more when the selection nears the end.
        if self.tab == Tab::All
            && !self.all.loading
            && !self.all.next_token.is_empty()
            && self.sel_index + 5 >= count
        {
            cmds.push(self.list_request(true));
        }
        cmds
    }

    /// Marks the open conversation read while the agent looks at it (thread or compose focused)
    /// and it has unread messages: once per new message.
    fn mark_read_if_looking(&mut self) -> Vec<Cmd> {
        if self.focus == Focus::List || self.dialog.is_some() || self.help.is_some() {
            return Vec::new();
        }
        let Some(s) = self.open_summary() else {
            return Vec::new();
        };
        if s.unread_count == 0 || self.read_marks.get(&s.address) == Some(&s.message_count) {
            return Vec::new();
        }
        let (address, count) = (s.address.clone(), s.message_count);
        self.read_marks.insert(address.clone(), count);
        vec![Cmd::Net(NetCmd::MarkRead { address })]
    }

    /// Loads the open conversation's newest page unless it is loaded or loading.
    fn ensure_loaded(&mut self) -> Vec<Cmd> {
        match self.open.clone() {
            Some(address) => self.load_thread(address),
            None => Vec::new(),
        }
    }

    /// Loads `address`'s newest page unless it is loaded or loading.
    fn load_thread(&mut self, address: String) -> Vec<Cmd> {
        let summary = self.summary(&address).cloned();
        let thread = self.threads.entry(address.clone()).or_default();
        if thread.summary.is_none() {
            thread.summary = summary;
        }
        if thread.loaded || thread.loading {
            return Vec::new();
        }
        thread.loading = true;
        vec![Cmd::Net(NetCmd::LoadThread { address, before: 0 })]
    }

    /// A `ListConversations` request for the "all" tab (a next page when `append`).
    fn list_request(&mut self, append: bool) -> Cmd {
        let req = self.id();
        self.all.req = req;
        self.all.loading = true;
        Cmd::Net(NetCmd::List {
            req,
            query: self.filter.query(),
            page_token: if append {
                self.all.next_token.clone()
            } else {
                String::new()
            },
            append,
        })
    }
}

/// Active chats first, highest priority first, longest-waiting first, then by session id, then
/// by latest activity (the daemon's order).
pub(crate) fn active_order(a: &Summary, b: &Summary) -> std::cmp::Ordering {
    let last = |s: &Summary| s.last_message.as_ref().and_then(|m| m.at);
    b.chat_active
        .cmp(&a.chat_active)
        .then_with(|| {
            if a.chat_active && b.chat_active {
                b.priority.cmp(&a.priority)
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .then_with(|| match (a.waiting_since, b.waiting_since) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        })
        // Chats that started in the same second keep their order (the session id, as the
        // daemon's list and queue break ties).
        .then_with(|| {
            if a.chat_active && b.chat_active {
                a.chat_session_id.cmp(&b.chat_session_id)
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .then_with(|| last(b).cmp(&last(a)))
        .then_with(|| a.address.cmp(&b.address))
}

/// How long to wait before the next attempt; `None`: do not retry on its own.
pub(crate) fn backoff(failure: &Failure, attempts: u32) -> Option<Duration> {
    match failure {
        // A refused or missing token needs a person; do not hammer the daemon meanwhile.
        Failure::NoToken(_) | Failure::TokenRefused(_) => Some(Duration::from_secs(10)),
        // Revoked: the same token can only be refused again (R reconnects when asked).
        Failure::Revoked(_) => None,
        Failure::Unreachable(_) | Failure::Lost(_) => {
            let exp = attempts.saturating_sub(1).min(4);
            Some(Duration::from_secs(1u64 << exp).min(Duration::from_secs(15)))
        }
    }
}
