//! Applying `WatchChats` items: a snapshot replaces the active chats, live events update
//! summaries and loaded threads. The stream is in commit order, so an item whose sequence is
//! not newer than the last one applied is a replay (after a reconnect) and is skipped.
//!
//! Whether a chat is active comes from the snapshot and the `chat_started` / `chat_ended`
//! events themselves, not from the summaries they carry: the daemon builds an event's summary
//! inside the transaction before it stores the conversation's new state, so `chat_started`
//! says `chat_active: false` and `chat_ended` (and the closing message after it) still say
//! `true`. Every other field of those summaries is current.

use std::collections::HashSet;

use super::{App, Cmd, Dialog, Focus};
use crate::model::{Canned, ChatEvent, EventBody, Message, Sender, Summary};
use crate::strings;

/// How many active chats' threads a snapshot prefetches.
const PREFETCH: usize = 20;

/// The daemon's state name for a conversation in a chat.
const CHAT_STATE: &str = "CHAT_SUPPORT_ACTIVE";

impl App {
    pub(super) fn apply_event(&mut self, event: ChatEvent) -> Vec<Cmd> {
        let body = match event.body {
            EventBody::Snapshot(chats) => return self.apply_snapshot(event.sequence, chats),
            body => body,
        };
        if event.sequence != 0 && event.sequence <= self.last_seq {
            return Vec::new();
        }
        self.last_seq = self.last_seq.max(event.sequence);
        if let (Some(n), Some(address)) = (event.activity, activity_address(&body)) {
            if let Some(t) = self.threads.get_mut(address) {
                t.add_note(n);
            }
        }
        let mut cmds = Vec::new();
        match body {
            EventBody::Snapshot(_) | EventBody::Unknown => {}
            EventBody::ChatStarted(mut s, session) => {
                s.chat_active = true;
                s.state = CHAT_STATE.to_string();
                if session != 0 {
                    s.chat_session_id = session;
                }
                let address = s.address.clone();
                let name = s.name().to_string();
                self.apply_summary(s);
                let looking =
                    self.open.as_deref() == Some(address.as_str()) && self.focus != Focus::List;
                if !looking {
                    self.fresh.insert(address);
                }
                self.notify(strings::new_chat(&name), false);
                if self.settings.bell {
                    cmds.push(Cmd::Bell);
                }
            }
            EventBody::MessageAdded(s, m) => {
                let address = s.address.clone();
                let s = self.corrected(s);
                let looking =
                    self.open.as_deref() == Some(address.as_str()) && self.focus != Focus::List;
                if m.sender == Sender::User && self.is_me(&s.assigned_agent) && !looking {
                    self.notify(strings::new_message_in_mine(s.name()), false);
                    if self.settings.bell {
                        cmds.push(Cmd::Bell);
                    }
                }
                self.apply_summary(s);
                self.note_user_message(&address, &m);
                self.add_message(&address, m);
            }
            EventBody::ChatEnded(mut s, ended_by) => {
                s.chat_active = false;
                if s.state == CHAT_STATE {
                    s.state.clear();
                }
                self.fresh.remove(&s.address);
                // The end-chat dialog for it has nothing left to do (whoever ended it).
                if matches!(&self.dialog, Some(Dialog::EndChat { address, .. }) if *address == s.address)
                {
                    self.dialog = None;
                }
                let name = s.name().to_string();
                self.apply_summary(s);
                if ended_by != "admin" {
                    self.notify(strings::chat_ended_by(&name, &ended_by), false);
                }
            }
            EventBody::Delivery {
                address,
                message_id,
                status,
                error_code,
                error_message,
            } => {
                if let Some(t) = self.threads.get_mut(&address) {
                    t.set_status(message_id, status, error_code, &error_message);
                }
            }
            EventBody::ContactUpdated(s) => {
                let s = self.corrected(s);
                self.apply_summary(s);
            }
            EventBody::AssignmentChanged(s, agent, action, by) => {
                let s = self.corrected(s);
                let name = s.name().to_string();
                self.apply_summary(s);
                // Someone else (or round-robin) gave me this chat: say so.
                if self.is_me(&agent) && !self.is_me(&by) {
                    self.notify(strings::assigned_to_me(&name, &action), false);
                    if self.settings.bell {
                        cmds.push(Cmd::Bell);
                    }
                }
            }
            EventBody::CsatRated(s, rating, agent) => {
                let s = self.corrected(s);
                let name = s.name().to_string();
                self.apply_summary(s);
                // A poor rating (1 or 2) on a chat I handled.
                if (1..=2).contains(&rating) && self.is_me(&agent) {
                    self.notify(strings::low_rating(&name, rating), true);
                    if self.settings.bell {
                        cmds.push(Cmd::Bell);
                    }
                }
            }
            EventBody::CannedChanged(shortcut, body) => {
                let canned = &mut self.desk.canned;
                canned.retain(|c| c.shortcut != shortcut);
                if let Some(body) = body {
                    canned.push(Canned { shortcut, body });
                    canned.sort_by_key(|c| c.shortcut.to_lowercase());
                }
                self.picker = 0;
            }
            EventBody::NoteAdded(s, n) => {
                let address = s.address.clone();
                let s = self.corrected(s);
                self.apply_summary(s);
                if let Some(t) = self.threads.get_mut(&address) {
                    t.add_note(n);
                }
            }
        }
        cmds
    }

    fn apply_snapshot(&mut self, sequence: u64, chats: Vec<Summary>) -> Vec<Cmd> {
        let first = !self.synced;
        let before: HashSet<String> = self.chats.keys().cloned().collect();
        self.chats = chats.into_iter().map(|s| (s.address.clone(), s)).collect();
        self.last_seq = sequence;
        self.synced = true;
        let mut cmds = Vec::new();
        if !first {
            // A resync after a long outage: chats that appeared meanwhile are new to the agent.
            let new: Vec<String> = self
                .chats
                .keys()
                .filter(|a| !before.contains(*a))
                .cloned()
                .collect();
            if !new.is_empty() && self.settings.bell {
                cmds.push(Cmd::Bell);
            }
            self.fresh.extend(new);
        }
        self.fresh.retain(|a| self.chats.contains_key(a));
        for (address, t) in &mut self.threads {
            if let Some(s) = self.chats.get(address) {
                t.summary = Some(s.clone());
            }
            if !first {
                // Events may have been missed: reload a thread when it is next shown.
                t.loaded = false;
                t.loading = false;
            }
        }
        for row in &mut self.all.rows {
            if let Some(s) = self.chats.get(&row.address) {
                *row = s.clone();
            }
        }
        cmds.extend(self.ensure_loaded());
        // Prefetch the top of the list: switching is instant and the previews show what the
        // users last said.
        let top: Vec<String> = self
            .rows()
            .iter()
            .take(PREFETCH)
            .map(|s| s.address.clone())
            .collect();
        for address in top {
            cmds.extend(self.load_thread(address));
        }
        cmds
    }

    /// Adds a live message to a loaded thread; a reader scrolled up keeps their place (the
    /// next frame measures the new lines and moves the view up by them).
    fn add_message(&mut self, address: &str, m: Message) {
        let Some(t) = self.threads.get_mut(address) else {
            return;
        };
        if let Some(newest) = t.messages.last().map(|n| n.id) {
            if m.id > newest {
                t.scroll.grew_below(newest);
            }
        }
        t.upsert(m);
    }

    /// `s` with the chat activity the console knows (see the module comment).
    pub(super) fn corrected(&self, mut s: Summary) -> Summary {
        if self.synced {
            s.chat_active = self.chats.contains_key(&s.address);
        }
        s
    }

    /// The newest summary of a conversation: the active list, the "all" rows, its thread.
    pub(super) fn apply_summary(&mut self, s: Summary) {
        if let Some(row) = self.all.rows.iter_mut().find(|r| r.address == s.address) {
            *row = s.clone();
        }
        if let Some(t) = self.threads.get_mut(&s.address) {
            t.summary = Some(s.clone());
        }
        if s.chat_active {
            self.chats.insert(s.address.clone(), s);
        } else {
            self.chats.remove(&s.address);
        }
    }
}

/// The conversation an event's activity line belongs to.
fn activity_address(body: &EventBody) -> Option<&str> {
    match body {
        EventBody::AssignmentChanged(s, ..)
        | EventBody::ContactUpdated(s)
        | EventBody::CsatRated(s, ..) => Some(&s.address),
        _ => None,
    }
}
