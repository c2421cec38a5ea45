//! The overlays' share of `update`: the help, the end-chat and quit dialogs, and the filter
//! line while it is being typed in.

use super::actions::edit;
use super::{Action, App, Cmd, Dialog, Focus, NetCmd, Tab, MAX_CLOSING_CHARS};
use crate::editor::Editor;
use crate::strings;

impl App {
    /// Quits, or asks first when typed text would be lost.
    pub(super) fn quit(&mut self) -> Vec<Cmd> {
        let unsent = self.unsent();
        if unsent == 0 {
            vec![Cmd::Quit]
        } else {
            self.dialog = Some(Dialog::ConfirmQuit { unsent });
            Vec::new()
        }
    }

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

    /// Keys while a dialog shows.
    pub(super) fn dialog_action(&mut self, a: Action) -> Vec<Cmd> {
        if a == Action::Help {
            self.help = Some(0);
            return Vec::new();
        }
        if matches!(
            self.dialog,
            Some(Dialog::Assign { .. } | Dialog::Note { .. })
        ) {
            return self.desk_dialog_action(a);
        }
        match &mut self.dialog {
            Some(Dialog::ConfirmQuit { .. }) => match a {
                Action::Yes | Action::Confirm | Action::ForceQuit => vec![Cmd::Quit],
                Action::No | Action::Cancel | Action::Back => {
                    self.dialog = None;
                    Vec::new()
                }
                _ => Vec::new(),
            },
            Some(Dialog::EndChat {
                address,
                editor,
                send_closing,
                busy,
                error,
                ..
            }) => match a {
                Action::Toggle => {
                    if !*busy {
                        *send_closing = !*send_closing;
                    }
                    Vec::new()
                }
                Action::Cancel | Action::Back => {
                    self.dialog = None;
                    Vec::new()
                }
                Action::ForceQuit => self.quit(),
                Action::Confirm | Action::Send => {
                    if *busy {
                        return Vec::new();
                    }
                    let message = editor.text().trim().to_string();
                    let n = message.chars().count();
                    if n > MAX_CLOSING_CHARS {
                        *error = Some(strings::too_long(n, MAX_CLOSING_CHARS));
                        return Vec::new();
                    }
                    *busy = true;
                    *error = None;
                    vec![Cmd::Net(NetCmd::EndChat {
                        address: address.clone(),
                        message: if *send_closing {
                            message
                        } else {
                            String::new()
                        },
                        skip_closing_message: !*send_closing,
                    })]
                }
                other => {
                    if !*busy {
                        edit(editor, other);
                    }
                    Vec::new()
                }
            },
            Some(Dialog::Assign { .. } | Dialog::Note { .. }) | None => Vec::new(),
        }
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
        self.list_offset = 0;
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
