//! The shared desk's share of `update` (issue 8): the "mine" and "unassigned" tabs, claiming,
//! assigning and transferring (opening the agent picker dialog), private notes, priority, sending
//! with a takeover, and the canned-response picker in the compose box.

use super::{Action, App, Cmd, Dialog, Focus, NetCmd, NetEvent, Tab};
use crate::editor::Editor;
use crate::model::Canned;
use crate::strings;

/// `{name}` and `{agent}` filled in, as the daemon's `ExpandCannedResponse` does.
pub(crate) fn expand(body: &str, name: &str, agent: &str) -> String {
    body.replace("{name}", name).replace("{agent}", agent)
}

impl App {
    /// The agent's own name; `None` for the operator (or before the desk has loaded).
    pub(crate) fn me(&self) -> Option<&str> {
        self.desk.me.as_ref().map(|a| a.name.as_str())
    }

    /// The chat the desk actions apply to: the open one, else the selected one.
    fn target(&self) -> Option<(String, String)> {
        let address = match self.focus {
            Focus::List => self.selected.clone().or_else(|| self.open.clone()),
            _ => self.open.clone().or_else(|| self.selected.clone()),
        }?;
        let name = self
            .summary(&address)
            .map_or_else(|| address.clone(), |s| s.name().to_string());
        Some((address, name))
    }

    /// The canned responses the compose box offers now: while the draft is `/` and a (partial)
    /// shortcut, those starting with it.
    pub(crate) fn picker_matches(&self) -> Vec<&Canned> {
        let Some(typed) = self.picker_typed() else {
            return Vec::new();
        };
        self.desk
            .canned
            .iter()
            .filter(|c| c.shortcut.to_lowercase().starts_with(&typed))
            .collect()
    }

    /// The (partial) shortcut typed after `/` while the compose box has the keyboard and the
    /// draft is nothing else: the picker is asked for.
    pub(crate) fn picker_typed(&self) -> Option<String> {
        if self.focus != Focus::Compose {
            return None;
        }
        let text = self.open_draft()?.editor.text();
        let typed = text.strip_prefix('/')?;
        if typed.chars().any(char::is_whitespace) {
            return None;
        }
        Some(typed.to_lowercase())
    }

    /// Keys for the picker while it shows; `None` when the key is not the picker's.
    pub(super) fn picker_action(&mut self, a: Action) -> Option<Vec<Cmd>> {
        let matches = self.picker_matches();
        if matches.is_empty() {
            self.picker = 0;
            return None;
        }
        let last = matches.len() - 1;
        match a {
            Action::Up => {
                self.picker = self.picker.min(last).saturating_sub(1);
                Some(Vec::new())
            }
            Action::Down => {
                self.picker = (self.picker + 1).min(last);
                Some(Vec::new())
            }
            Action::Send | Action::Confirm | Action::NextPane => {
                let body = matches.get(self.picker.min(last))?.body.clone();
                let name = self
                    .open_summary()
                    .map(|s| s.name().to_string())
                    .unwrap_or_default();
                let agent = self
                    .desk
                    .me
                    .as_ref()
                    .and_then(|a| a.display_name.split_whitespace().next())
                    .unwrap_or(strings::TEAM_NAME)
                    .to_string();
                let text = expand(&body, &name, &agent);
                if let Some(address) = self.open.clone() {
                    let draft = self.drafts.entry(address).or_default();
                    draft.editor = Editor::with_text(&text);
                }
                self.picker = 0;
                Some(Vec::new())
            }
            _ => None,
        }
    }

    /// The desk's actions from the list or the thread.
    pub(super) fn desk_action(&mut self, a: Action) -> Vec<Cmd> {
        match a {
            Action::TabMine => {
                if self.me().is_none() {
                    self.notify(strings::NO_AGENT_IDENTITY, true);
                }
                self.switch_tab(Tab::Mine)
            }
            Action::TabUnassigned => self.switch_tab(Tab::Unassigned),
            Action::ToggleAvailable => match &self.desk.me {
                Some(me) => vec![Cmd::Net(NetCmd::SetAvailability {
                    available: !me.available,
                })],
                None => {
                    self.notify(strings::NO_AGENT_IDENTITY, true);
                    Vec::new()
                }
            },
            Action::Claim => match self.target() {
                Some((address, _)) if self.me().is_some() => {
                    vec![Cmd::Net(NetCmd::Claim { address })]
                }
                Some(_) => {
                    self.notify(strings::NO_AGENT_IDENTITY, true);
                    Vec::new()
                }
                None => self.select_first(),
            },
            Action::Assign | Action::Transfer => {
                let Some((address, name)) = self.target() else {
                    return self.select_first();
                };
                if self.desk.agents.is_empty() {
                    self.notify(strings::NO_AGENTS, true);
                    return Vec::new();
                }
                self.dialog = Some(Dialog::Assign {
                    address,
                    name,
                    transfer: a == Action::Transfer,
                    index: 0,
                    editor: Editor::default(),
                    busy: false,
                    error: None,
                });
                Vec::new()
            }
            Action::AddNote => {
                let Some((address, name)) = self.target() else {
                    return self.select_first();
                };
                self.dialog = Some(Dialog::Note {
                    address,
                    name,
                    editor: Editor::default(),
                    busy: false,
                    error: None,
                });
                Vec::new()
            }
            Action::CyclePriority => {
                let Some((address, _)) = self.target() else {
                    return self.select_first();
                };
                let Some(s) = self.summary(&address) else {
                    return Vec::new();
                };
                if !s.chat_active {
                    self.notify(strings::NOT_ACTIVE, true);
                    return Vec::new();
                }
                vec![Cmd::Net(NetCmd::SetPriority {
                    priority: s.priority.next(),
                    address,
                })]
            }
            _ => Vec::new(),
        }
    }

    fn select_first(&mut self) -> Vec<Cmd> {
        self.notify(strings::SELECT_FIRST, true);
        Vec::new()
    }

    /// The desk's network answers.
    pub(super) fn on_desk_net(&mut self, e: NetEvent) -> Vec<Cmd> {
        match e {
            NetEvent::Desk(Ok(desk)) => self.desk = desk,
            NetEvent::Desk(Err(e)) => self.notify(strings::desk_load_failed(&e), true),
            NetEvent::Availability(Ok(available)) => {
                if let Some(me) = &mut self.desk.me {
                    me.available = available;
                }
                self.notify(strings::availability(available), false);
            }
            NetEvent::Availability(Err(e)) => self.notify(e, true),
            NetEvent::DeskDone {
                address,
                done,
                result,
            } => {
                let is_desk = |d: &Dialog| matches!(d, Dialog::Assign { .. } | Dialog::Note { .. });
                let answer = result.as_ref().map(|_| ()).map_err(Clone::clone);
                let shown = self.dialog_answered(&address, is_desk, answer);
                match result {
                    Ok(summary) => {
                        if let Some(s) = summary {
                            let s = self.corrected(s);
                            self.apply_summary(s);
                        }
                        self.notify(done, false);
                    }
                    Err(e) if !shown => self.notify(e, true),
                    Err(_) => {}
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// Replaces the desk (tests and the network task).
    #[cfg(test)]
    pub(crate) fn set_desk(&mut self, desk: crate::model::Desk) {
        self.desk = desk;
    }
}
