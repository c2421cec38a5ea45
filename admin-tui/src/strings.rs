//! Every user-facing string of the console, in one place (key labels live with the key
//! bindings in `input.rs`).

/// The product name in the header and the window title.
pub(crate) const APP_NAME: &str = "chat-support";
/// The daemon's default closing message (the seed's).
pub(crate) const DEFAULT_CLOSING: &str = "Thank you for contacting support. Chat session ended.";

/// What the daemon puts before every agent message; the console shows "agent" instead.
pub(crate) const AGENT_PREFIX: &str = "🎧 Support Team: ";

pub(crate) const TAB_ACTIVE: &str = "Active chats";
pub(crate) const TAB_ALL: &str = "All conversations";
pub(crate) const NO_ACTIVE_CHATS: &str = "No active chats. New chats appear here live.";
pub(crate) const NO_MATCHES: &str = "Nothing matches the filter (Esc clears it).";
pub(crate) const NO_CONVERSATIONS: &str = "No conversations yet.";
pub(crate) const LOADING: &str = "Loading…";
pub(crate) const LOADING_OLDER: &str = "Loading older messages…";
pub(crate) const OLDER_HINT: &str = "↑ older messages: scroll up or press o";
pub(crate) const START_OF_HISTORY: &str = "start of the conversation";
pub(crate) const NO_MESSAGES: &str = "No messages yet.";
pub(crate) const PICK_A_CHAT: &str = "Select a chat in the list (j/k) and press Enter.";
pub(crate) const WAITING_SNAPSHOT: &str = "Waiting for the daemon…";
pub(crate) const FILTER_PROMPT: &str = "/";
pub(crate) const FILTER_HINT: &str = "type to filter by name or number · Enter keep · Esc clear";
pub(crate) const COMPOSE_PLACEHOLDER: &str = "Press i to reply";
pub(crate) const COMPOSE_HINT: &str = "Enter send · Ctrl-J newline · Esc back";
pub(crate) const SENDING: &str = "sending…";
pub(crate) const MORE_BELOW: &str = "↓ newer messages below (G jumps to the newest)";
pub(crate) const SELECT_FIRST: &str = "Select a chat first.";
pub(crate) const NOTHING_TO_SEND: &str = "Nothing to send: type a reply first.";
pub(crate) const REFRESHING: &str = "Refreshing…";
pub(crate) const HELP_TITLE: &str = "Keys";
pub(crate) const HELP_FOOTER: &str = "j/k scroll · Esc or ? closes";
pub(crate) const END_TITLE: &str = "End chat";
pub(crate) const END_HINT: &str = "Enter end chat · Tab message on/off · Esc cancel";
pub(crate) const END_BUSY: &str = "Ending the chat…";
pub(crate) const QUIT_TITLE: &str = "Quit?";
pub(crate) const QUIT_HINT: &str = "y quit · n / Esc stay";
// The status bar's key hints for what has the keyboard (like lazygit's), most useful first:
// as many as fit are shown, then "? help".
pub(crate) const HINT_LIST: &[&str] = &[
    "j/k move",
    "Enter open",
    "i reply",
    "c claim",
    "a assign",
    "e end",
    "/ filter",
    "q quit",
];
pub(crate) const HINT_THREAD: &[&str] = &[
    "j/k scroll",
    "i reply",
    "o older",
    "n note",
    "p priority",
    "e end",
    "Esc list",
];
pub(crate) const HINT_COMPOSE: &[&str] = &[
    "Enter send",
    "Ctrl-J newline",
    "/shortcut canned",
    "Ctrl-T take over",
    "Esc back",
];
pub(crate) const HINT_FILTER: &[&str] = &["type to filter", "Enter keep", "Esc clear"];
pub(crate) const HINT_STATS: &[&str] = &["R refresh", "Esc back"];
pub(crate) const HINT_DIALOG: &[&str] = &["Esc cancel"];
pub(crate) const HINT_HELP: &[&str] = &["j/k scroll", "Esc close"];
pub(crate) const HINT_MORE: &str = "? help";
pub(crate) const CONNECTED: &str = "connected";
pub(crate) const DRAFTS_KEPT: &str = "typed text is kept";
pub(crate) const CHAT_ACTIVE: &str = "chat active";
pub(crate) const CHAT_NOT_ACTIVE: &str = "no active chat";
pub(crate) const WINDOW_CLOSED: &str = "24h window closed";
pub(crate) const WINDOW_CLOSED_WARNING: &str =
    "24-hour window closed: WhatsApp will likely refuse a free-form reply";
pub(crate) const NEW_BADGE: &str = "NEW";
pub(crate) const STUDENT: &str = "student";
pub(crate) const LEAD: &str = "lead";
pub(crate) const SENDER_USER: &str = "user";
pub(crate) const SENDER_AGENT: &str = "agent";
pub(crate) const SENDER_BOT: &str = "bot";
pub(crate) const SENDER_UNKNOWN: &str = "?";

pub(crate) fn connecting(server: &str) -> String {
    format!("connecting to {server}…")
}

pub(crate) fn reconnecting_in(secs: i64) -> String {
    format!("reconnecting in {secs}s…")
}

/// How a call that could not reach the daemon fails.
pub(crate) const UNREACHABLE: &str = "daemon unreachable";

pub(crate) fn unreachable(server: &str) -> String {
    format!("daemon unreachable at {server}")
}

pub(crate) const TOKEN_REFUSED: &str =
    "token refused: check --token / CHAT_SUPPORT_ADMIN_TOKEN or the token file";

pub(crate) const NO_TOKEN: &str = "no admin token";

pub(crate) const ACCESS_REVOKED: &str = "access revoked: ask your lead for a new token";

pub(crate) const NOT_RECONNECTING: &str = "not reconnecting (R to try again)";

pub(crate) const CONNECTION_LOST: &str = "connection lost";

pub(crate) fn more_rows_count(n: usize) -> String {
    format!(" ↓ {n} more ")
}

pub(crate) fn window_title(waiting: usize) -> String {
    if waiting == 0 {
        APP_NAME.to_string()
    } else {
        format!("({waiting}) {APP_NAME}")
    }
}

pub(crate) fn waiting_count(waiting: usize, active: usize) -> String {
    format!("{waiting} waiting · {active} active")
}

pub(crate) fn waiting_only(waiting: usize) -> String {
    format!("{waiting} waiting")
}

/// The header's waiting alarm on a narrow screen: "oldest 6m".
pub(crate) fn oldest_short(d: &str) -> String {
    format!("oldest {d}")
}

/// The header's waiting alarm: "oldest waiting 6m".
pub(crate) fn oldest_waiting(d: &str) -> String {
    format!("oldest waiting {d}")
}

/// A chat someone else (or round-robin) gave to this console's agent.
pub(crate) fn assigned_to_me(name: &str, action: &str) -> String {
    match action {
        "transferred" => format!("{name} was transferred to you"),
        _ => format!("{name} was assigned to you"),
    }
}

/// A poor satisfaction rating on a chat this agent handled.
pub(crate) fn low_rating(name: &str, rating: i32) -> String {
    format!("{name} rated your chat {rating}/5")
}

/// A user wrote in one of this agent's chats that the agent is not looking at.
pub(crate) fn new_message_in_mine(name: &str) -> String {
    format!("New message from {name}")
}

pub(crate) fn new_chat(name: &str) -> String {
    format!("New chat: {name}")
}

pub(crate) fn chat_ended_by(name: &str, by: &str) -> String {
    let by = match by {
        "user" => "by the user",
        "system" => "by the system",
        "admin" => "by an agent",
        _ => "",
    };
    format!("Chat with {name} ended {by}")
        .trim_end()
        .to_string()
}

pub(crate) fn chat_ended_by_you(name: &str) -> String {
    format!("Chat with {name} ended.")
}

pub(crate) fn end_failed(name: &str, error: &str) -> String {
    format!("Could not end the chat with {name}: {error}")
}

pub(crate) fn no_active_chat(name: &str) -> String {
    format!("{name} has no active chat to end.")
}

/// The end dialog's question: what the user receives depends on the closing message toggle.
pub(crate) fn end_question(name: &str, contact: &str, send_closing: bool) -> String {
    if send_closing {
        format!("End the chat with {name} ({contact})? They receive this message with the 🏠 Main Menu button:")
    } else {
        format!(
            "End the chat with {name} ({contact})? Nothing is sent to them: the chat just ends."
        )
    }
}

pub(crate) fn quit_question(unsent: usize) -> String {
    let s = if unsent == 1 { "" } else { "s" };
    format!("{unsent} unsent message{s} or draft{s} will be lost.")
}

pub(crate) fn not_sent_restored(error: &str) -> String {
    format!("Not sent: {error}. The text is back in the compose box; Enter retries.")
}

pub(crate) fn not_sent_kept(error: &str) -> String {
    format!("Not sent: {error}. The text stays in the thread.")
}

pub(crate) fn not_sent_inline(error: &str) -> String {
    format!("✗ not sent: {error}")
}

pub(crate) fn failed_inline(code: i32, error: &str) -> String {
    match (code, error.is_empty()) {
        (0, true) => "✗ failed".to_string(),
        (0, false) => format!("✗ failed: {error}"),
        (c, true) => format!("✗ failed ({c})"),
        (c, false) => format!("✗ failed: {error} ({c})"),
    }
}

pub(crate) fn template_sent(template: &str) -> String {
    format!("Outside the 24-hour window: WhatsApp only allows templates, so “{template}” was sent instead.")
}

/// An agent's message to a contact outside a chat opened one.
pub(crate) fn chat_opened(name: &str, assigned_to_me: bool) -> String {
    if assigned_to_me {
        format!("Opened a chat with {name}, assigned to you: their answer comes here.")
    } else {
        format!("Opened a chat with {name}: their answer comes to the desk.")
    }
}

pub(crate) fn ended_with_template(name: &str, template: &str) -> String {
    format!("Chat with {name} ended; outside the 24-hour window “{template}” was sent instead of the closing message.")
}

pub(crate) fn mark_read_failed(error: &str) -> String {
    format!("Could not mark the messages read: {error}")
}

pub(crate) const SEND_CLOSING_ON: &str = "[x] send this closing message (Tab: end silently)";
pub(crate) const SEND_CLOSING_OFF: &str =
    "[ ] end without writing to the user (Tab: send the closing message)";

pub(crate) fn too_long(n: usize, max: usize) -> String {
    format!("Too long: {n} characters, at most {max}.")
}

pub(crate) fn reply_to(name: &str) -> String {
    format!("Reply to {name}")
}

pub(crate) fn waiting_for(d: &str) -> String {
    format!("waiting {d}")
}

pub(crate) fn window_left(d: &str) -> String {
    format!("{d} left")
}

pub(crate) fn unread(n: u32) -> String {
    format!("{n} unread")
}

pub(crate) fn session_divider(id: i64) -> String {
    if id == 0 {
        "outside a chat".to_string()
    } else {
        format!("chat session {id}")
    }
}

pub(crate) fn load_error(error: &str) -> String {
    format!("Could not load: {error} (R retries)")
}

// The shared desk (issue 8).
pub(crate) const TAB_MINE: &str = "Mine";
pub(crate) const TAB_UNASSIGNED: &str = "Unassigned";
pub(crate) const NO_MINE: &str = "No chats assigned to you. c claims the selected chat.";
pub(crate) const NO_UNASSIGNED: &str = "Every active chat has an agent.";
/// How an agent's messages are signed when no agent name is known.
pub(crate) const TEAM_NAME: &str = "Support Team";
pub(crate) const NO_AGENT_IDENTITY: &str =
    "This console uses the operator's admin token: start it with an agent's token to claim chats.";
pub(crate) const NO_AGENTS: &str =
    "No agents yet: the operator adds them with `bot-daemon admin agents add`.";
pub(crate) const NOT_ACTIVE: &str = "That conversation has no active chat.";
pub(crate) const TRANSFER_NEEDS_NOTE: &str = "A transfer needs a note for the next agent.";
pub(crate) const ASSIGN_TITLE: &str = " Assign chat ";
pub(crate) const TRANSFER_TITLE: &str = " Transfer chat ";
pub(crate) const NOTE_TITLE: &str = " Private note (never sent to WhatsApp) ";
pub(crate) const NOBODY: &str = "nobody (unassign)";
pub(crate) const NOTE_FIELD: &str = "Note:";
pub(crate) const NOTE_HINT: &str = "Enter saves · Esc cancels";
pub(crate) const ASSIGN_HINT: &str = "↑↓ agent · type a note · Enter confirms · Esc cancels";
pub(crate) const NO_CANNED_TITLE: &str = " Canned responses ";
pub(crate) const NO_CANNED: &str = "No canned responses yet. The operator adds one with\n  bot-daemon admin canned add SHORTCUT \"BODY\"\n({name} and {agent} are filled in when it is inserted).";
pub(crate) const PICKER_TITLE: &str = " Canned responses: ↑↓ choose · Enter inserts ";
pub(crate) const AVAILABLE: &str = "available";

/// An agent's load in the assign picker: "no open chats", "1 open chat", "3 open chats".
pub(crate) fn open_chats(n: usize) -> String {
    match n {
        0 => "no open chats".to_string(),
        1 => "1 open chat".to_string(),
        n => format!("{n} open chats"),
    }
}
pub(crate) const TAKEOVER_HINT: &str = " Ctrl-T sends and takes the chat over.";

pub(crate) fn desk_load_failed(error: &str) -> String {
    format!("Could not load agents and canned responses: {error}")
}

pub(crate) fn note_by(agent: &str) -> String {
    if agent.is_empty() {
        "📝 note by the operator".to_string()
    } else {
        format!("📝 note by {agent}")
    }
}

pub(crate) fn assigned_to(agent: &str) -> String {
    format!("@{agent}")
}

pub(crate) fn claimed(name: &str) -> String {
    format!("{name}'s chat is yours.")
}

pub(crate) fn assigned(name: &str, agent: &str) -> String {
    if agent.is_empty() {
        format!("{name}'s chat is unassigned.")
    } else {
        format!("{name}'s chat assigned to {agent}.")
    }
}

pub(crate) fn transferred(name: &str, agent: &str) -> String {
    format!("{name}'s chat handed to {agent}.")
}

pub(crate) fn priority_set(name: &str, priority: &str) -> String {
    format!("{name}'s chat is now {priority} priority.")
}

pub(crate) fn note_added(name: &str) -> String {
    format!("Note added to {name}'s chat.")
}

pub(crate) fn dialog_for(name: &str) -> String {
    format!("Chat with {name}")
}
/// The header's short tab names.
pub(crate) const HDR_ACTIVE: &str = "Active";
pub(crate) const HDR_ALL: &str = "All";

/// The `v` notice. The console cannot know whether the desk's round-robin is on (`GetDesk`
/// does not say), so the words hold either way.
pub(crate) fn availability(available: bool) -> &'static str {
    if available {
        "You are available: new chats can come to you, but only when the desk has round-robin on."
    } else {
        "You are away: round-robin will not give you new chats."
    }
}
/// The stats screen's title.
pub(crate) fn stats_title(days: u32) -> String {
    format!("Stats · last {days} days")
}
/// The stats screen's keys.
pub(crate) const STATS_KEYS: &str = " R refresh · Esc back ";
/// The queue label of an unanswered chat (1 = next).
pub(crate) fn queue_position(n: usize) -> String {
    format!("#{n} in queue")
}
/// The same where the row is narrow.
pub(crate) fn queue_position_short(n: usize) -> String {
    format!("#{n}")
}
/// A survey still waiting for its answer.
pub(crate) const CSAT_OPEN: &str = "CSAT asked";
/// A survey that closed without a rating.
pub(crate) const CSAT_UNANSWERED: &str = "CSAT unanswered";
/// A rating, with the comment when there is one.
pub(crate) fn csat_rated(n: u32, comment: Option<&str>) -> String {
    match comment {
        Some(c) => format!("CSAT {n}/5 “{c}”"),
        None => format!("CSAT {n}/5"),
    }
}
