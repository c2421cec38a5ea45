//! The overlays' share of `update`: the help, opening the end-chat dialog (its keys are in
//! `dialogs.rs` with the other dialogs'), and the filter line while it is being typed in.

use super::actions::edit;
use super::{Action, App, Cmd, Dialog, Focus, Tab};
use crate::editor::Editor;
use crate::strings;

impl App {
    /// Keys while the help shows: scroll or close.
    pub(super) fn help_action(&mut self, a: Action) -> Vec<Cmd> {
        let scroll = self.help.unwrap_or(0);
        self.help = match a {
            Action::ForceQuit => {
                self.help = None;
                return self.quit();
            }
            Action::Down => Some(scroll + 1),
            Action::Up => Some(scroll.saturating_sub(1)),
            Action::PageDown => Some(scroll + 10),
            Action::PageUp => Some(scroll.saturating_sub(10)),
            Action::Top => Some(0),
            Action::Help | Action::Back | Action::Cancel | Action::Quit | Action::Confirm => None,
            _ => Some(scroll),
        };
        Vec::new()
    }

    /// Keys while typing in the filter line.
    pub(super) fn filter_action(&mut self, a: Action) -> Vec<Cmd> {
        match a {
            Action::ForceQuit => self.quit(),
            Action::Confirm | Action::Send | Action::Open => {
                self.filter.editing = false;
                Vec::new()
            }
            Action::Cancel | Action::Back => {
                self.filter.editing = false;
                self.clear_filter()
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => self.list_action(a),
            other => {
                if edit(&mut self.filter.editor, other) {
                    self.filter_changed()
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Empties the filter.
    pub(super) fn clear_filter(&mut self) -> Vec<Cmd> {
        if self.filter.editor.is_blank() {
            return Vec::new();
        }
        self.filter.editor.clear();
        self.filter_changed()
    }

    /// The filter changed: back to the first row; the "all" tab asks the server again.
    pub(super) fn filter_changed(&mut self) -> Vec<Cmd> {
        self.sel_index = 0;
        self.selected = None;
        self.list.reset();
        if self.tab == Tab::All {
            vec![self.list_request(false)]
        } else {
            Vec::new()
        }
    }

    /// Opens the end-chat dialog for the selected (list) or open (thread) conversation.
    pub(super) fn open_end_dialog(&mut self) -> Vec<Cmd> {
        let target = if self.focus == Focus::List {
            self.selected.clone()
        } else {
            self.open.clone()
        };
        let Some(address) = target else {
            self.notify(strings::SELECT_FIRST, true);
            return Vec::new();
        };
        let Some(s) = self.summary(&address) else {
            return Vec::new();
        };
        let name = s.name().to_string();
        if !s.chat_active {
            self.notify(strings::no_active_chat(&name), true);
            return Vec::new();
        }
        self.dialog = Some(Dialog::EndChat {
            address,
            name,
            editor: Editor::with_text(strings::DEFAULT_CLOSING),
            send_closing: true,
            busy: false,
            error: None,
        });
        Vec::new()
    }
}
