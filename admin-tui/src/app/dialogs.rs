//! The modal dialogs' share of `update`, in one place: ending a chat, quitting with unsent
//! text, assigning / transferring, and private notes. Every dialog with a text field shares
//! the same handling — Esc cancels, Ctrl-C quits, typing edits the field unless a request is
//! in flight, Enter submits once — and the answers come back through
//! [`App::dialog_answered`].

use super::actions::edit;
use super::{Action, App, Cmd, Dialog, NetCmd, MAX_CLOSING_CHARS};
use crate::editor::Editor;
use crate::strings;

/// The most characters in a note.
const MAX_NOTE_CHARS: usize = 4096;

impl Dialog {
    /// The conversation the dialog acts on (none for quitting).
    pub(crate) fn address(&self) -> Option<&str> {
        match self {
            Dialog::EndChat { address, .. }
            | Dialog::Assign { address, .. }
            | Dialog::Note { address, .. } => Some(address),
            Dialog::ConfirmQuit { .. } => None,
        }
    }

    /// The text field and whether a request is in flight.
    fn field(&mut self) -> Option<(&mut Editor, bool)> {
        match self {
            Dialog::EndChat { editor, busy, .. }
            | Dialog::Assign { editor, busy, .. }
            | Dialog::Note { editor, busy, .. } => Some((editor, *busy)),
            Dialog::ConfirmQuit { .. } => None,
        }
    }

    /// The request in flight and the error line.
    fn progress(&mut self) -> Option<(&mut bool, &mut Option<String>)> {
        match self {
            Dialog::EndChat { busy, error, .. }
            | Dialog::Assign { busy, error, .. }
            | Dialog::Note { busy, error, .. } => Some((busy, error)),
            Dialog::ConfirmQuit { .. } => None,
        }
    }

    /// What Enter asks the daemon to do, or why it cannot yet.
    fn submit(&self, agents: &[crate::model::Agent]) -> Result<NetCmd, String> {
        match self {
            Dialog::EndChat {
                address,
                editor,
                send_closing,
                ..
            } => {
                let message = editor.text().trim().to_string();
                let n = message.chars().count();
                if n > MAX_CLOSING_CHARS {
                    return Err(strings::too_long(n, MAX_CLOSING_CHARS));
                }
                Ok(NetCmd::EndChat {
                    address: address.clone(),
                    message: if *send_closing {
                        message
                    } else {
                        String::new()
                    },
                    skip_closing_message: !*send_closing,
                })
            }
            Dialog::Assign {
                address,
                transfer,
                index,
                editor,
                ..
            } => {
                let agent = agents
                    .get(*index)
                    .map(|a| a.name.clone())
                    .unwrap_or_default();
                let note = editor.text().trim().to_string();
                if *transfer && note.is_empty() {
                    return Err(strings::TRANSFER_NEEDS_NOTE.to_string());
                }
                let address = address.clone();
                Ok(if *transfer {
                    NetCmd::Transfer {
                        address,
                        agent,
                        note,
                    }
                } else {
                    NetCmd::Assign {
                        address,
                        agent,
                        note,
                    }
                })
            }
            Dialog::Note {
                address, editor, ..
            } => {
                let text = editor.text().trim().to_string();
                let n = text.chars().count();
                if n == 0 {
                    return Err(strings::NOTHING_TO_SEND.to_string());
                }
                if n > MAX_NOTE_CHARS {
                    return Err(strings::too_long(n, MAX_NOTE_CHARS));
                }
                Ok(NetCmd::AddNote {
                    address: address.clone(),
                    text,
                })
            }
            Dialog::ConfirmQuit { .. } => Err(String::new()),
        }
    }
}

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

    /// Keys while a dialog shows.
    pub(super) fn dialog_action(&mut self, a: Action) -> Vec<Cmd> {
        let agents = self.desk.agents.len();
        let Some(dialog) = &mut self.dialog else {
            return Vec::new();
        };
        if let Dialog::ConfirmQuit { .. } = dialog {
            return match a {
                Action::Help => {
                    self.help = Some(0);
                    Vec::new()
                }
                Action::Yes | Action::Confirm | Action::ForceQuit => vec![Cmd::Quit],
                Action::No | Action::Cancel | Action::Back => {
                    self.dialog = None;
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        match a {
            Action::Help => {
                self.help = Some(0);
                Vec::new()
            }
            Action::Cancel | Action::Back => {
                self.dialog = None;
                Vec::new()
            }
            Action::ForceQuit => self.quit(),
            Action::Confirm | Action::Send => {
                if dialog.progress().is_some_and(|(busy, _)| *busy) {
                    return Vec::new();
                }
                let result = dialog.submit(&self.desk.agents);
                let Some((busy, error)) = dialog.progress() else {
                    return Vec::new();
                };
                match result {
                    Ok(cmd) => {
                        *busy = true;
                        *error = None;
                        vec![Cmd::Net(cmd)]
                    }
                    Err(e) => {
                        *error = Some(e);
                        Vec::new()
                    }
                }
            }
            other => {
                match dialog {
                    Dialog::EndChat {
                        send_closing, busy, ..
                    } if other == Action::Toggle => {
                        if !*busy {
                            *send_closing = !*send_closing;
                        }
                    }
                    Dialog::Assign {
                        transfer, index, ..
                    } if matches!(other, Action::Up | Action::Down) => {
                        // Assigning offers "nobody" after the agents.
                        let rows = agents + usize::from(!*transfer);
                        *index = if other == Action::Up {
                            index.saturating_sub(1)
                        } else {
                            (*index + 1).min(rows.saturating_sub(1))
                        };
                    }
                    _ => {
                        if let Some((editor, false)) = dialog.field() {
                            edit(editor, other);
                        }
                    }
                }
                Vec::new()
            }
        }
    }

    /// Typed or pasted text while a dialog shows: into its field. False when no dialog shows.
    pub(super) fn dialog_insert(&mut self, text: &str) -> bool {
        let Some(dialog) = &mut self.dialog else {
            return false;
        };
        if let Some((editor, false)) = dialog.field() {
            editor.insert_str(text);
        }
        true
    }

    /// A dialog's request was answered: on success the dialog for `address` closes; on
    /// failure it shows the error and may be retried. False when no dialog of `kind` for
    /// `address` shows (the caller tells the agent another way).
    pub(super) fn dialog_answered(
        &mut self,
        address: &str,
        kind: fn(&Dialog) -> bool,
        result: Result<(), String>,
    ) -> bool {
        let ours = self
            .dialog
            .as_ref()
            .is_some_and(|d| kind(d) && d.address() == Some(address));
        if !ours {
            return false;
        }
        match result {
            Ok(()) => self.dialog = None,
            Err(e) => {
                if let Some((busy, error)) = self.dialog.as_mut().and_then(Dialog::progress) {
                    *busy = false;
                    *error = Some(e);
                }
            }
        }
        true
    }
}
