//! What the user's actions do to the state: navigation, panes, composing and sending, typing
//! and pasting, the mouse. (The dialogs are in `dialogs.rs`; help and the filter in
//! `overlays.rs`.)

use std::time::Duration;

use super::{Action, App, Cmd, Focus, NetCmd, Outgoing, Pane, Tab, MAX_MESSAGE_UNITS};
use crate::editor::Editor;
use crate::layout;
use crate::scroll::Reach;
use crate::strings;

/// Applies an editing action to `editor`; false when `a` is not an editing action.
pub(super) fn edit(editor: &mut Editor, a: Action) -> bool {
    match a {
        Action::Newline => editor.newline(),
        Action::Left => editor.left(),
        Action::Right => editor.right(),
        Action::Up => {
            editor.up();
        }
        Action::Down => {
            editor.down();
        }
        Action::LineStart => editor.home(),
        Action::LineEnd => editor.end(),
        Action::WordLeft => editor.word_left(),
        Action::WordRight => editor.word_right(),
        Action::DeleteBack => editor.backspace(),
        Action::DeleteForward => editor.delete(),
        Action::DeleteWord => editor.delete_word_back(),
        Action::KillToStart => editor.kill_to_line_start(),
        Action::KillToEnd => editor.kill_to_line_end(),
        _ => return false,
    }
    true
}

impl App {
    pub(super) fn on_action(&mut self, a: Action) -> Vec<Cmd> {
        if self.help.is_some() {
            return self.help_action(a);
        }
        if self.stats.is_some() && self.dialog.is_none() {
            return self.stats_action(a);
        }
        if self.dialog.is_some() {
            return self.dialog_action(a);
        }
        if self.filter.editing {
            return self.filter_action(a);
        }
        match a {
            Action::Quit | Action::ForceQuit => self.quit(),
            Action::Help => {
                self.help = Some(0);
                Vec::new()
            }
            Action::Redraw => vec![Cmd::Redraw],
            Action::NextPane
                if self.focus == Focus::Compose && !self.picker_matches().is_empty() =>
            {
                self.picker_action(a).unwrap_or_default()
            }
            Action::NextPane => self.cycle(true),
            Action::PrevPane => self.cycle(false),
            Action::TabActive => self.switch_tab(Tab::Active),
            Action::TabAll => self.switch_tab(Tab::All),
            Action::Stats => self.open_stats(),
            Action::Filter => {
                self.focus = Focus::List;
                self.filter.editing = true;
                Vec::new()
            }
            Action::Refresh => self.refresh(),
            Action::TabMine
            | Action::TabUnassigned
            | Action::Claim
            | Action::Assign
            | Action::Transfer
            | Action::AddNote
            | Action::CyclePriority
            | Action::ToggleAvailable => self.desk_action(a),
            Action::Compose => self.compose(),
            Action::EndChat => self.open_end_dialog(),
            Action::Older => self.load_older(),
            _ => match self.focus {
                Focus::List => self.list_action(a),
                Focus::Thread => self.thread_action(a),
                Focus::Compose => self.compose_action(a),
            },
        }
    }

    pub(super) fn switch_tab(&mut self, tab: Tab) -> Vec<Cmd> {
        self.focus = Focus::List;
        if self.tab == tab {
            return Vec::new();
        }
        self.tab = tab;
        self.selected = None;
        self.sel_index = 0;
        self.list.reset();
        if tab == Tab::All && !self.all.loaded && !self.all.loading {
            vec![self.list_request(false)]
        } else {
            Vec::new()
        }
    }

    fn refresh(&mut self) -> Vec<Cmd> {
        let mut cmds = vec![Cmd::Net(NetCmd::LoadDesk)];
        if matches!(self.conn, super::Conn::Down { .. }) {
            // Retry now rather than at the end of the backoff.
            cmds.push(self.watch(Duration::ZERO));
        }
        if self.tab == Tab::All {
            cmds.push(self.list_request(false));
        }
        if let Some(t) = self.open.as_ref().and_then(|a| self.threads.get_mut(a)) {
            t.loaded = false;
            t.loading = false;
        }
        cmds.extend(self.ensure_loaded());
        self.notify(strings::REFRESHING, false);
        cmds
    }

    fn cycle(&mut self, forward: bool) -> Vec<Cmd> {
        if self.open.is_none() {
            self.focus = Focus::List;
            return Vec::new();
        }
        self.focus = match (self.focus, forward) {
            (Focus::List, true) | (Focus::Compose, false) => Focus::Thread,
            (Focus::Thread, true) | (Focus::List, false) => Focus::Compose,
            (Focus::Compose, true) | (Focus::Thread, false) => Focus::List,
        };
        self.seen();
        self.ensure_loaded()
    }

    /// The agent is looking at the open conversation: it is no longer "new".
    fn seen(&mut self) {
        if self.focus != Focus::List {
            if let Some(a) = &self.open {
                self.fresh.remove(a);
            }
        }
    }

    fn move_selection(&mut self, delta: isize) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let last = rows.len() - 1;
        let index = self.sel_index.saturating_add_signed(delta).min(last);
        let address = rows.get(index).map(|s| s.address.clone());
        self.sel_index = index;
        self.selected = address;
    }

    pub(super) fn list_action(&mut self, a: Action) -> Vec<Cmd> {
        let page = self.list.page() as isize;
        match a {
            Action::Down => self.move_selection(1),
            Action::Up => self.move_selection(-1),
            Action::PageDown => self.move_selection(page),
            Action::PageUp => self.move_selection(-page),
            Action::Top => self.move_selection(isize::MIN / 2),
            Action::Bottom => self.move_selection(isize::MAX / 2),
            Action::Open | Action::Confirm if self.selected.is_some() => {
                self.open.clone_from(&self.selected);
                self.focus = Focus::Thread;
                self.seen();
                return self.ensure_loaded();
            }
            Action::Back | Action::Cancel => return self.clear_filter(),
            _ => {}
        }
        Vec::new()
    }

    fn thread_action(&mut self, a: Action) -> Vec<Cmd> {
        let height = self.open_thread().map_or(1, |t| t.scroll.height());
        let page = height.saturating_sub(2).max(1) as isize;
        match a {
            Action::Up => self.scroll_thread(1),
            Action::Down => self.scroll_thread(-1),
            Action::PageUp => self.scroll_thread(page),
            Action::PageDown => self.scroll_thread(-page),
            Action::Top => self.scroll_thread(isize::MAX / 2),
            Action::Bottom => self.scroll_thread(isize::MIN / 2),
            Action::Open | Action::Confirm => self.compose(),
            Action::Back | Action::Cancel => {
                self.focus = Focus::List;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Scrolls the thread `delta` lines towards older messages (negative: newer); past the
    /// oldest loaded line, asks for the older page.
    fn scroll_thread(&mut self, delta: isize) -> Vec<Cmd> {
        let Some(t) = self.open.as_ref().and_then(|a| self.threads.get_mut(a)) else {
            return Vec::new();
        };
        match t.scroll.scroll(delta) {
            Reach::PastTop => self.load_older(),
            Reach::Within => Vec::new(),
        }
    }

    fn load_older(&mut self) -> Vec<Cmd> {
        let Some(address) = self.open.clone() else {
            return Vec::new();
        };
        let Some(t) = self.threads.get_mut(&address) else {
            return Vec::new();
        };
        if t.next_before == 0 || t.loading || !t.loaded {
            return Vec::new();
        }
        t.loading = true;
        vec![Cmd::Net(NetCmd::LoadThread {
            address,
            before: t.next_before,
        })]
    }

    fn compose(&mut self) -> Vec<Cmd> {
        if self.focus == Focus::List && self.selected.is_some() {
            self.open.clone_from(&self.selected);
        }
        if self.open.is_none() {
            self.notify(strings::SELECT_FIRST, true);
            return Vec::new();
        }
        self.focus = Focus::Compose;
        self.seen();
        self.ensure_loaded()
    }

    fn compose_action(&mut self, a: Action) -> Vec<Cmd> {
        if let Some(cmds) = self.picker_action(a) {
            return cmds;
        }
        match a {
            Action::Send | Action::Confirm => self.send(false),
            Action::SendTakeover => self.send(true),
            Action::Back | Action::Cancel => {
                self.focus = Focus::Thread;
                Vec::new()
            }
            other => {
                if let Some(address) = self.open.clone() {
                    let draft = self.drafts.entry(address).or_default();
                    edit(&mut draft.editor, other);
                }
                Vec::new()
            }
        }
    }

    fn send(&mut self, takeover: bool) -> Vec<Cmd> {
        let Some(address) = self.open.clone() else {
            return Vec::new();
        };
        let local_id = self.id();
        let nonce = self.settings.nonce.clone();
        let now = self.now;
        let draft = self.drafts.entry(address.clone()).or_default();
        let text = draft.editor.text().trim().to_string();
        if text.is_empty() {
            self.notify(strings::NOTHING_TO_SEND, true);
            return Vec::new();
        }
        // WhatsApp counts UTF-16 units (an emoji is two).
        let n = text.encode_utf16().count();
        if n > MAX_MESSAGE_UNITS {
            self.notify(strings::too_long(n, MAX_MESSAGE_UNITS), true);
            return Vec::new();
        }
        // Retrying the exact text of a failed send reuses its key: the daemon sends it once.
        let key = match draft.retry.take() {
            Some((t, k)) if t == text => k,
            _ => format!("tui-{nonce}-{local_id}"),
        };
        draft.editor.clear();
        let thread = self.threads.entry(address.clone()).or_default();
        thread.outgoing.retain(|o| o.key != key);
        thread.outgoing.push(Outgoing {
            local_id,
            text: text.clone(),
            key: key.clone(),
            at: now,
            error: None,
        });
        thread.scroll.follow_newest();
        vec![Cmd::Net(NetCmd::Send {
            address,
            local_id,
            text,
            key,
            takeover,
        })]
    }

    pub(super) fn on_insert(&mut self, c: char) -> Vec<Cmd> {
        if self.help.is_some() {
            return Vec::new();
        }
        if self.dialog_insert(&c.to_string()) {
            return Vec::new();
        }
        if self.filter.editing {
            self.filter.editor.insert_char(c);
            return self.filter_changed();
        }
        if self.focus == Focus::Compose {
            if let Some(address) = self.open.clone() {
                self.drafts
                    .entry(address)
                    .or_default()
                    .editor
                    .insert_char(c);
            }
        }
        Vec::new()
    }

    pub(super) fn on_paste(&mut self, text: &str) -> Vec<Cmd> {
        if self.help.is_some() {
            return Vec::new();
        }
        if self.dialog_insert(text) {
            return Vec::new();
        }
        if self.filter.editing {
            let flat = text.replace(['\r', '\n'], " ");
            self.filter.editor.insert_str(&flat);
            return self.filter_changed();
        }
        let Some(address) = self.open.clone() else {
            return Vec::new();
        };
        // Pasting while reading a thread starts a reply with it.
        let mut cmds = Vec::new();
        if self.focus != Focus::Compose {
            cmds = self.compose();
        }
        self.drafts
            .entry(address)
            .or_default()
            .editor
            .insert_str(text);
        cmds
    }

    pub(super) fn on_scroll(&mut self, pane: Pane, lines: i32) -> Vec<Cmd> {
        let delta = lines as isize;
        match pane {
            Pane::Help => {
                let scroll = self.help.unwrap_or(0);
                self.help = Some(scroll.saturating_add_signed(delta));
                Vec::new()
            }
            _ if self.dialog.is_some() => Vec::new(),
            Pane::List => {
                self.move_selection(delta.signum());
                Vec::new()
            }
            Pane::Thread => self.scroll_thread(-delta),
            Pane::Compose => Vec::new(),
        }
    }

    pub(super) fn on_click(&mut self, pane: Pane, row: u16) -> Vec<Cmd> {
        if self.help.is_some() || self.dialog.is_some() {
            return Vec::new();
        }
        match pane {
            Pane::List => {
                self.focus = Focus::List;
                let index = self.list.top() + usize::from(row) / layout::ROW_HEIGHT;
                let address = self.rows().get(index).map(|s| s.address.clone());
                if address.is_some() {
                    self.sel_index = index;
                    self.selected = address;
                }
                Vec::new()
            }
            Pane::Thread if self.open.is_some() => {
                self.focus = Focus::Thread;
                self.seen();
                Vec::new()
            }
            Pane::Compose if self.open.is_some() => self.compose(),
            _ => Vec::new(),
        }
    }
}
