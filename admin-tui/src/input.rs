//! Every key binding, as data ([`BINDINGS`]), and the mapping of terminal input (keys, mouse,
//! paste, resize) to [`Msg`]s. The help overlay is generated from the same table, so it lists
//! exactly what works.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use crate::app::{Action, App, Dialog, Focus, Msg, Pane};
use crate::layout;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// Everywhere (after the more specific contexts).
    Global,
    /// The chat list and the thread.
    Browse,
    /// The compose box.
    Compose,
    /// Cursor movement and deletion in every text field.
    Editing,
    /// The filter line while typing in it.
    Filter,
    /// The end-chat dialog.
    EndDialog,
    /// The quit confirmation.
    QuitDialog,
    /// The assign / transfer dialog (agent picker and note).
    AssignDialog,
    /// The private-note dialog.
    NoteDialog,
    /// The help overlay.
    Help,
    /// The mouse (help text only).
    Mouse,
}

/// A key with its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    code: KeyCode,
    mods: KeyModifiers,
}

const fn key(code: KeyCode) -> Key {
    Key {
        code,
        mods: KeyModifiers::NONE,
    }
}

const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: KeyModifiers::CONTROL,
    }
}

const fn with(code: KeyCode, mods: KeyModifiers) -> Key {
    Key { code, mods }
}

/// One binding: keys, their label in the help, the action, and what it does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding {
    pub(crate) ctx: Ctx,
    pub(crate) keys: &'static [Key],
    /// How the help shows the keys; empty hides the row (it is covered by another row).
    pub(crate) label: &'static str,
    /// `None` for rows that only document (typing, the mouse).
    pub(crate) action: Option<Action>,
    pub(crate) help: &'static str,
}

const fn b(
    ctx: Ctx,
    keys: &'static [Key],
    label: &'static str,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding {
        ctx,
        keys,
        label,
        action: Some(action),
        help,
    }
}

const fn doc(ctx: Ctx, label: &'static str, help: &'static str) -> Binding {
    Binding {
        ctx,
        keys: &[],
        label,
        action: None,
        help,
    }
}

use Action as A;
use KeyCode as K;

/// Every key binding of the console.
pub(crate) const BINDINGS: &[Binding] = &[
    // Chat list and thread.
    b(
        Ctx::Browse,
        &[ch('j'), key(K::Down)],
        "j ↓",
        A::Down,
        "next chat · scroll down",
    ),
    b(
        Ctx::Browse,
        &[ch('k'), key(K::Up)],
        "k ↑",
        A::Up,
        "previous chat · scroll up",
    ),
    b(
        Ctx::Browse,
        &[key(K::PageDown), ctrl('d')],
        "PgDn ^D",
        A::PageDown,
        "page down",
    ),
    b(
        Ctx::Browse,
        &[key(K::PageUp), ctrl('u')],
        "PgUp ^U",
        A::PageUp,
        "page up",
    ),
    b(
        Ctx::Browse,
        &[ch('g'), key(K::Home)],
        "g Home",
        A::Top,
        "top · oldest message",
    ),
    b(
        Ctx::Browse,
        &[ch('G'), key(K::End)],
        "G End",
        A::Bottom,
        "bottom · newest message",
    ),
    b(
        Ctx::Browse,
        &[key(K::Enter), ch('l')],
        "Enter l",
        A::Open,
        "open the chat / reply",
    ),
    b(
        Ctx::Browse,
        &[key(K::Esc), ch('h')],
        "Esc h",
        A::Back,
        "back · clear the filter",
    ),
    b(
        Ctx::Browse,
        &[ch('i'), ch('r')],
        "i r",
        A::Compose,
        "reply (compose)",
    ),
    b(
        Ctx::Browse,
        &[ch('e')],
        "e",
        A::EndChat,
        "end the chat (asks first)",
    ),
    b(
        Ctx::Browse,
        &[ch('/')],
        "/",
        A::Filter,
        "filter by name or number",
    ),
    b(
        Ctx::Browse,
        &[ch('1')],
        "1",
        A::TabActive,
        "active chats (live)",
    ),
    b(Ctx::Browse, &[ch('2')], "2", A::TabAll, "all conversations"),
    b(
        Ctx::Browse,
        &[ch('3')],
        "3",
        A::TabMine,
        "chats assigned to me",
    ),
    b(
        Ctx::Browse,
        &[ch('4')],
        "4",
        A::TabUnassigned,
        "active chats nobody holds",
    ),
    b(Ctx::Browse, &[ch('c')], "c", A::Claim, "claim the chat"),
    b(
        Ctx::Browse,
        &[ch('v')],
        "v",
        A::ToggleAvailable,
        "available / away (round-robin)",
    ),
    b(
        Ctx::Browse,
        &[ch('a')],
        "a",
        A::Assign,
        "assign to an agent (or nobody)",
    ),
    b(
        Ctx::Browse,
        &[ch('t')],
        "t",
        A::Transfer,
        "transfer to an agent with a note",
    ),
    b(
        Ctx::Browse,
        &[ch('n')],
        "n",
        A::AddNote,
        "private note (never sent)",
    ),
    b(
        Ctx::Browse,
        &[ch('p')],
        "p",
        A::CyclePriority,
        "priority: normal→high→urgent→low",
    ),
    b(
        Ctx::Browse,
        &[ch('5')],
        "5",
        A::Stats,
        "stats: times, CSAT, hours",
    ),
    b(
        Ctx::Browse,
        &[ch('o')],
        "o",
        A::Older,
        "load older messages",
    ),
    b(
        Ctx::Browse,
        &[ch('R'), key(K::F(5))],
        "R F5",
        A::Refresh,
        "refresh · reconnect now",
    ),
    b(Ctx::Browse, &[ch('?')], "?", A::Help, "this help"),
    b(Ctx::Browse, &[ch('q')], "q", A::Quit, "quit"),
    // Everywhere.
    b(
        Ctx::Global,
        &[key(K::Tab)],
        "Tab",
        A::NextPane,
        "list → thread → compose",
    ),
    b(
        Ctx::Global,
        &[with(K::BackTab, KeyModifiers::NONE)],
        "S-Tab",
        A::PrevPane,
        "previous pane",
    ),
    b(
        Ctx::Global,
        &[key(K::F(1))],
        "F1",
        A::Help,
        "help, even while typing",
    ),
    b(
        Ctx::Global,
        &[ctrl('l')],
        "^L",
        A::Redraw,
        "redraw the screen",
    ),
    b(
        Ctx::Global,
        &[ctrl('c')],
        "^C",
        A::ForceQuit,
        "quit (asks if unsent)",
    ),
    // The compose box.
    b(
        Ctx::Compose,
        &[key(K::Enter), ctrl('s')],
        "Enter ^S",
        A::Send,
        "send the reply",
    ),
    b(
        Ctx::Compose,
        &[
            ctrl('j'),
            with(K::Enter, KeyModifiers::ALT),
            with(K::Enter, KeyModifiers::SHIFT),
        ],
        "^J M-Enter",
        A::Newline,
        "new line (also S-Enter)",
    ),
    b(
        Ctx::Compose,
        &[ctrl('t')],
        "^T",
        A::SendTakeover,
        "send, taking over another's chat",
    ),
    b(
        Ctx::Compose,
        &[key(K::Esc)],
        "Esc",
        A::Back,
        "back; the draft is kept",
    ),
    doc(Ctx::Compose, "/name", "canned reply: ↑↓ pick, Enter"),
    doc(Ctx::Compose, "paste", "paste text, newlines too"),
    // Text fields.
    doc(Ctx::Editing, "← → ↑ ↓", "move the cursor"),
    b(Ctx::Editing, &[key(K::Left)], "", A::Left, ""),
    b(Ctx::Editing, &[key(K::Right)], "", A::Right, ""),
    b(Ctx::Editing, &[key(K::Up)], "", A::Up, ""),
    b(Ctx::Editing, &[key(K::Down)], "", A::Down, ""),
    b(
        Ctx::Editing,
        &[key(K::Home), ctrl('a')],
        "Home ^A",
        A::LineStart,
        "start of line",
    ),
    b(
        Ctx::Editing,
        &[key(K::End), ctrl('e')],
        "End ^E",
        A::LineEnd,
        "end of line",
    ),
    b(
        Ctx::Editing,
        &[
            with(K::Left, KeyModifiers::CONTROL),
            with(K::Char('b'), KeyModifiers::ALT),
        ],
        "^← M-b",
        A::WordLeft,
        "previous word",
    ),
    b(
        Ctx::Editing,
        &[
            with(K::Right, KeyModifiers::CONTROL),
            with(K::Char('f'), KeyModifiers::ALT),
        ],
        "^→ M-f",
        A::WordRight,
        "next word",
    ),
    b(
        Ctx::Editing,
        &[key(K::Backspace), ctrl('h')],
        "",
        A::DeleteBack,
        "",
    ),
    b(Ctx::Editing, &[key(K::Delete)], "", A::DeleteForward, ""),
    b(
        Ctx::Editing,
        &[ctrl('w'), with(K::Backspace, KeyModifiers::ALT)],
        "^W",
        A::DeleteWord,
        "delete the previous word",
    ),
    b(
        Ctx::Editing,
        &[ctrl('u')],
        "^U ^K",
        A::KillToStart,
        "delete to line start / end",
    ),
    b(Ctx::Editing, &[ctrl('k')], "", A::KillToEnd, ""),
    // The filter line.
    b(
        Ctx::Filter,
        &[key(K::Enter)],
        "Enter",
        A::Confirm,
        "keep the filter",
    ),
    b(
        Ctx::Filter,
        &[key(K::Esc)],
        "Esc",
        A::Cancel,
        "clear the filter",
    ),
    b(Ctx::Filter, &[key(K::Down)], "", A::Down, ""),
    b(Ctx::Filter, &[key(K::Up)], "", A::Up, ""),
    // The end-chat dialog.
    b(
        Ctx::EndDialog,
        &[key(K::Enter), ctrl('s')],
        "Enter",
        A::Confirm,
        "end chat, send message",
    ),
    b(
        Ctx::EndDialog,
        &[
            ctrl('j'),
            with(K::Enter, KeyModifiers::ALT),
            with(K::Enter, KeyModifiers::SHIFT),
        ],
        "^J",
        A::Newline,
        "new line in the message",
    ),
    b(
        Ctx::EndDialog,
        &[key(K::Tab)],
        "Tab",
        A::Toggle,
        "closing message on / off",
    ),
    b(Ctx::EndDialog, &[key(K::Esc)], "Esc", A::Cancel, "cancel"),
    // The assign / transfer dialog.
    b(
        Ctx::AssignDialog,
        &[key(K::Enter), ctrl('s')],
        "Enter",
        A::Confirm,
        "assign / transfer",
    ),
    b(
        Ctx::AssignDialog,
        &[key(K::Up)],
        "↑ ↓",
        A::Up,
        "choose the agent",
    ),
    b(Ctx::AssignDialog, &[key(K::Down)], "", A::Down, ""),
    b(
        Ctx::AssignDialog,
        &[key(K::Esc)],
        "Esc",
        A::Cancel,
        "cancel",
    ),
    // The private-note dialog.
    b(
        Ctx::NoteDialog,
        &[key(K::Enter), ctrl('s')],
        "Enter",
        A::Confirm,
        "save the note",
    ),
    b(
        Ctx::NoteDialog,
        &[
            ctrl('j'),
            with(K::Enter, KeyModifiers::ALT),
            with(K::Enter, KeyModifiers::SHIFT),
        ],
        "^J",
        A::Newline,
        "new line",
    ),
    b(Ctx::NoteDialog, &[key(K::Esc)], "Esc", A::Cancel, "cancel"),
    // The quit confirmation.
    b(
        Ctx::QuitDialog,
        &[ch('y'), key(K::Enter)],
        "y",
        A::Yes,
        "quit anyway",
    ),
    b(
        Ctx::QuitDialog,
        &[ch('n'), key(K::Esc)],
        "n Esc",
        A::No,
        "stay",
    ),
    // The help overlay.
    b(
        Ctx::Help,
        &[key(K::Esc), ch('?'), ch('q'), key(K::F(1))],
        "Esc ?",
        A::Help,
        "close the help",
    ),
    b(Ctx::Help, &[ch('j'), key(K::Down)], "", A::Down, ""),
    b(Ctx::Help, &[ch('k'), key(K::Up)], "", A::Up, ""),
    b(Ctx::Help, &[key(K::PageDown)], "", A::PageDown, ""),
    b(Ctx::Help, &[key(K::PageUp)], "", A::PageUp, ""),
    b(Ctx::Help, &[ch('g'), key(K::Home)], "", A::Top, ""),
    // The mouse.
    doc(Ctx::Mouse, "wheel", "scroll list or thread"),
    doc(Ctx::Mouse, "click", "select chat, focus pane"),
];

/// The help's sections, in display order.
pub(crate) const HELP_SECTIONS: &[(Ctx, &str)] = &[
    (Ctx::Browse, "Chat list and thread"),
    (Ctx::Compose, "Compose"),
    (Ctx::Editing, "Text fields"),
    (Ctx::EndDialog, "End-chat dialog"),
    (Ctx::AssignDialog, "Assign / transfer dialog"),
    (Ctx::NoteDialog, "Note dialog"),
    (Ctx::Filter, "Filter"),
    (Ctx::Global, "Everywhere"),
    (Ctx::Mouse, "Mouse"),
];

/// The contexts that apply now, most specific first, and whether typing inserts text.
fn contexts(app: &App) -> (&'static [Ctx], bool) {
    if app.help.is_some() {
        return (&[Ctx::Help, Ctx::Global], false);
    }
    match &app.dialog {
        Some(Dialog::EndChat { .. }) => {
            return (&[Ctx::EndDialog, Ctx::Editing, Ctx::Global], true)
        }
        Some(Dialog::ConfirmQuit { .. }) => return (&[Ctx::QuitDialog, Ctx::Global], false),
        Some(Dialog::Assign { .. }) => {
            return (&[Ctx::AssignDialog, Ctx::Editing, Ctx::Global], true)
        }
        Some(Dialog::Note { .. }) => return (&[Ctx::NoteDialog, Ctx::Editing, Ctx::Global], true),
        None => {}
    }
    if app.filter.editing {
        return (&[Ctx::Filter, Ctx::Editing, Ctx::Global], true);
    }
    match app.focus {
        Focus::Compose => (&[Ctx::Compose, Ctx::Editing, Ctx::Global], true),
        Focus::List | Focus::Thread => (&[Ctx::Browse, Ctx::Global], false),
    }
}

/// The key as the table spells it: a shifted letter is the capital, Shift-Tab is BackTab.
fn normalize(k: KeyEvent) -> Key {
    let mut mods = k.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
    let code = match k.code {
        KeyCode::Char(c) => {
            let shifted = mods.contains(KeyModifiers::SHIFT);
            mods.remove(KeyModifiers::SHIFT);
            if shifted && c.is_ascii_lowercase() {
                KeyCode::Char(c.to_ascii_uppercase())
            } else {
                KeyCode::Char(c)
            }
        }
        KeyCode::BackTab => {
            mods.remove(KeyModifiers::SHIFT);
            KeyCode::BackTab
        }
        other => other,
    };
    Key { code, mods }
}

/// The message for a key press, if any.
pub(crate) fn map_key(app: &App, k: KeyEvent) -> Option<Msg> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let key = normalize(k);
    let (ctxs, text) = contexts(app);
    for ctx in ctxs {
        let found = BINDINGS
            .iter()
            .filter(|b| b.ctx == *ctx)
            .find(|b| b.keys.contains(&key))
            .and_then(|b| b.action);
        if let Some(action) = found {
            return Some(Msg::Action(action));
        }
    }
    match key.code {
        KeyCode::Char(c) if text && key.mods.is_empty() => Some(Msg::Insert(c)),
        _ => None,
    }
}

/// A legacy terminal sends Esc followed quickly by a key as one "Alt+key" (ESC prefix): when
/// such a key means nothing, it is split back into Esc and the plain key.
pub(crate) fn split_alt(k: KeyEvent) -> Option<(KeyEvent, KeyEvent)> {
    let KeyCode::Char(_) = k.code else {
        return None;
    };
    if k.kind == KeyEventKind::Release || !k.modifiers.contains(KeyModifiers::ALT) {
        return None;
    }
    let mut plain = k;
    plain.modifiers.remove(KeyModifiers::ALT);
    Some((KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE), plain))
}

fn pane_at(app: &App, column: u16, row: u16) -> Option<(Pane, u16)> {
    let a = layout::areas(Rect::new(0, 0, app.size.0, app.size.1), &app.shape());
    let p = Position::new(column, row);
    let inner_row = |r: Rect| row.saturating_sub(r.y + 1);
    [
        (a.list, Pane::List),
        (a.thread, Pane::Thread),
        (a.compose, Pane::Compose),
    ]
    .into_iter()
    .find_map(|(r, pane)| r.filter(|r| r.contains(p)).map(|r| (pane, inner_row(r))))
}

/// The message for a mouse event, if any.
pub(crate) fn map_mouse(app: &App, m: MouseEvent) -> Option<Msg> {
    let wheel = match m.kind {
        MouseEventKind::ScrollDown => Some(1),
        MouseEventKind::ScrollUp => Some(-1),
        _ => None,
    };
    if app.help.is_some() {
        return wheel.map(|n| Msg::Scroll(Pane::Help, n));
    }
    let (pane, row) = pane_at(app, m.column, m.row)?;
    match (wheel, m.kind) {
        (Some(n), _) => Some(Msg::Scroll(
            pane,
            if pane == Pane::Thread { n * 3 } else { n },
        )),
        (None, MouseEventKind::Down(MouseButton::Left)) => Some(Msg::Click(pane, row)),
        _ => None,
    }
}

/// The message for any terminal event, if any.
pub(crate) fn map_event(app: &App, e: Event) -> Option<Msg> {
    match e {
        Event::Key(k) => map_key(app, k),
        Event::Mouse(m) => map_mouse(app, m),
        Event::Paste(s) => Some(Msg::Paste(s)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        Event::FocusGained | Event::FocusLost => None,
    }
}

#[cfg(test)]
mod tests;
