//! The messages into `App::update` and the commands out of it: the console's whole vocabulary
//! with the outside world (keys, mouse, clock, network).

use std::time::Duration;

use crate::model::{ChatEvent, Desk, ListPage, Priority, SentAck, Summary, ThreadPage, Time};

/// Something the user did, in the console's terms (keys map to these in `input.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Quit,
    ForceQuit,
    Help,
    Redraw,
    NextPane,
    PrevPane,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    Compose,
    EndChat,
    TabActive,
    TabAll,
    /// The stats screen (issue 9).
    Stats,
    Refresh,
    Older,
    Send,
    Newline,
    Left,
    Right,
    LineStart,
    LineEnd,
    WordLeft,
    WordRight,
    DeleteBack,
    DeleteForward,
    DeleteWord,
    KillToStart,
    KillToEnd,
    Confirm,
    Cancel,
    Yes,
    No,
    /// Flips a dialog's option (send the closing message or not).
    Toggle,
    /// Chats assigned to me.
    TabMine,
    /// Active chats nobody holds.
    TabUnassigned,
    /// Take the selected chat.
    Claim,
    /// Assign the selected chat to an agent (picker).
    Assign,
    /// Hand the selected chat to an agent with a note.
    Transfer,
    /// Add a private note.
    AddNote,
    /// Cycle the chat's priority.
    CyclePriority,
    /// Send into a chat another agent holds (taking it over).
    SendTakeover,
    /// Take round-robin chats, or stop.
    ToggleAvailable,
}

/// A region of the screen, for the mouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pane {
    List,
    Thread,
    Compose,
    Help,
}

/// Everything `update` reacts to.
// A few hundred bytes moved once through a channel at human (or webhook) rates: boxing the
// network variant would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Msg {
    Action(Action),
    /// A typed character (text fields only).
    Insert(char),
    /// Bracketed paste.
    Paste(String),
    /// Mouse wheel over a pane: lines, positive = down.
    Scroll(Pane, i32),
    /// Mouse click in a pane, at this row inside its border.
    Click(Pane, u16),
    /// The clock.
    Tick(Time),
    /// The terminal's size.
    Resize(u16, u16),
    /// The network task.
    Net(NetEvent),
}

/// Why the event stream is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No token could be found (the message says where it was looked for).
    NoToken(String),
    /// The daemon could not be reached.
    Unreachable(String),
    /// The daemon refused the token.
    TokenRefused(String),
    /// The daemon ended an established stream because this token's access was revoked (the
    /// agent was disabled or its token rotated): not retried on its own, since the same token
    /// can only be refused again.
    Revoked(String),
    /// An established stream ended.
    Lost(String),
}

/// What the network task reports.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NetEvent {
    /// Watch `gen` is established.
    Connected { gen: u64 },
    /// An item of watch `gen`.
    Event { gen: u64, event: ChatEvent },
    /// Watch `gen` is over.
    StreamEnded { gen: u64, failure: Failure },
    /// A `GetConversation` reply.
    Thread {
        address: String,
        before: i64,
        result: Result<ThreadPage, String>,
    },
    /// A `ListConversations` reply for request `req`.
    List {
        req: u64,
        append: bool,
        result: Result<ListPage, String>,
    },
    /// A `SendMessage` reply.
    Sent {
        address: String,
        local_id: u64,
        result: Result<SentAck, String>,
    },
    /// An `EndChat` reply: the template sent instead of the closing message, if any.
    Ended {
        address: String,
        result: Result<String, String>,
    },
    /// A `MarkRead` reply: whether anything was newly marked read.
    MarkedRead {
        address: String,
        result: Result<bool, String>,
    },
    /// Who this console is, the agents and the canned responses.
    Desk(Result<Desk, String>),
    /// A `SetAvailability` reply: whether this agent now takes round-robin chats.
    Availability(Result<bool, String>),
    /// A desk action's reply (claim, assign, transfer, priority, note): the conversation
    /// afterwards when the call returns it, and what to say.
    DeskDone {
        address: String,
        done: String,
        result: Result<Option<Summary>, String>,
    },
    /// A `GetStats` reply.
    Stats {
        result: Result<crate::model::Stats, String>,
    },
}

/// What the network task is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NetCmd {
    /// (Re)start the event stream after `delay`, resuming after `after_sequence`.
    Watch {
        gen: u64,
        after_sequence: u64,
        delay: Duration,
    },
    LoadThread {
        address: String,
        before: i64,
    },
    List {
        req: u64,
        query: String,
        page_token: String,
        append: bool,
    },
    Send {
        address: String,
        local_id: u64,
        text: String,
        key: String,
        /// Take the chat over from the agent who holds it.
        takeover: bool,
    },
    EndChat {
        address: String,
        message: String,
        /// End without writing to the user.
        skip_closing_message: bool,
    },
    /// Marks the user's messages read on WhatsApp (the agent is looking at them).
    MarkRead {
        address: String,
    },
    /// Loads who this console is, the agents and the canned responses.
    LoadDesk,
    SetAvailability {
        available: bool,
    },
    Claim {
        address: String,
    },
    /// Assigns to `agent` (empty: unassign).
    Assign {
        address: String,
        agent: String,
        note: String,
    },
    Transfer {
        address: String,
        agent: String,
        note: String,
    },
    SetPriority {
        address: String,
        priority: Priority,
    },
    AddNote {
        address: String,
        text: String,
    },
    /// The last `days` days' figures.
    Stats {
        days: u32,
    },
}

/// What `update` asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cmd {
    Net(NetCmd),
    /// Ring the terminal bell.
    Bell,
    /// Clear and redraw the whole screen.
    Redraw,
    Quit,
}
