//! Applying the network task's answers: the stream's state, thread pages, list pages, and the
//! results of sending and ending.

use super::{backoff, App, Cmd, Conn, Dialog, NetEvent};
use crate::editor::Editor;
use crate::model::SentAck;
use crate::strings;

impl App {
    pub(super) fn on_net(&mut self, e: NetEvent) -> Vec<Cmd> {
        match e {
            NetEvent::Stats { result } => self.on_stats(result),
            NetEvent::Connected { gen } => {
                if gen != self.watch_gen {
                    return Vec::new();
                }
                self.conn = Conn::Connected;
                self.attempts = 0;
                if self.notice.as_ref().is_some_and(|n| n.until_connected) {
                    self.notice = None;
                }
                // Who we are and what the desk offers, fresh on every (re)connect.
                vec![Cmd::Net(super::NetCmd::LoadDesk)]
            }
            NetEvent::Event { gen, event } => {
                if gen == self.watch_gen {
                    self.apply_event(event)
                } else {
                    Vec::new()
                }
            }
            NetEvent::StreamEnded { gen, failure } => {
                if gen != self.watch_gen {
                    return Vec::new();
                }
                self.attempts = self.attempts.saturating_add(1);
                let delay = backoff(&failure, self.attempts);
                self.conn = Conn::Down {
                    failure,
                    retry_at: delay.map(|d| {
                        self.now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
                    }),
                };
                delay.map(|d| self.watch(d)).into_iter().collect()
            }
            NetEvent::Thread {
                address,
                before,
                result,
            } => {
                self.threads.entry(address.clone()).or_default().loading = false;
                match result {
                    Ok(mut page) => {
                        page.summary = page.summary.map(|s| self.corrected(s));
                        for m in &page.messages {
                            self.note_user_message(&address, m);
                        }
                        if let Some(t) = self.threads.get_mut(&address) {
                            t.merge_page(before, page);
                        }
                    }
                    Err(e) => {
                        if let Some(t) = self.threads.get_mut(&address) {
                            t.error = Some(e);
                        }
                    }
                }
                Vec::new()
            }
            NetEvent::List {
                req,
                append,
                result,
            } => {
                if req != self.all.req {
                    return Vec::new();
                }
                self.all.loading = false;
                match result {
                    Ok(page) => {
                        if !append {
                            self.all.rows.clear();
                        }
                        for s in page.conversations {
                            // Live data may be newer than the page.
                            let s = match self.chats.get(&s.address) {
                                Some(live) => live.clone(),
                                None => self.corrected(s),
                            };
                            if !self.all.rows.iter().any(|r| r.address == s.address) {
                                self.all.rows.push(s);
                            }
                        }
                        self.all.next_token = page.next_page_token;
                        self.all.loaded = true;
                        self.all.error = None;
                    }
                    Err(e) => self.all.error = Some(e),
                }
                Vec::new()
            }
            NetEvent::Sent {
                address,
                local_id,
                result,
            } => self.on_sent(&address, local_id, result),
            NetEvent::Ended { address, result } => self.on_ended(&address, result),
            e @ (NetEvent::Desk(_) | NetEvent::DeskDone { .. } | NetEvent::Availability(_)) => {
                self.on_desk_net(e)
            }
            NetEvent::MarkedRead { address, result } => {
                if let Err(e) = result {
                    // Not fatal: the unread count stays and the next message asks again.
                    self.read_marks.remove(&address);
                    self.notify(strings::mark_read_failed(&e), true);
                }
                Vec::new()
            }
        }
    }

    fn on_sent(
        &mut self,
        address: &str,
        local_id: u64,
        result: Result<SentAck, String>,
    ) -> Vec<Cmd> {
        let Some(thread) = self.threads.get_mut(address) else {
            return Vec::new();
        };
        match result {
            Ok(ack) => {
                thread.confirm(local_id, &ack);
                let name = thread
                    .summary
                    .as_ref()
                    .map_or_else(|| address.to_string(), |s| s.name().to_string());
                if !ack.template_used.is_empty() {
                    self.notify(strings::template_sent(&ack.template_used), false);
                } else if ack.chat_started {
                    self.notify(strings::chat_opened(&name, self.desk.me.is_some()), false);
                }
            }
            Err(mut e) => {
                if e.contains("takeover") {
                    e.push_str(strings::TAKEOVER_HINT);
                }
                let Some(o) = thread.refuse(local_id, e.clone()) else {
                    return Vec::new();
                };
                let draft = self.drafts.entry(address.to_string()).or_default();
                let text = if draft.editor.is_blank() {
                    // The text goes back where it was typed; a retry reuses its key.
                    draft.editor = Editor::with_text(&o.text);
                    draft.retry = Some((o.text.clone(), o.key.clone()));
                    strings::not_sent_restored(&e)
                } else {
                    strings::not_sent_kept(&e)
                };
                // "daemon unreachable" stops being true once the stream is back.
                if self.conn != Conn::Connected || e.contains(strings::UNREACHABLE) {
                    self.notify_until_connected(text);
                } else {
                    self.notify(text, true);
                }
            }
        }
        Vec::new()
    }

    fn on_ended(&mut self, address: &str, result: Result<String, String>) -> Vec<Cmd> {
        let name = self
            .summary(address)
            .map_or_else(|| address.to_string(), |s| s.name().to_string());
        let is_end = |d: &Dialog| matches!(d, Dialog::EndChat { .. });
        let answer = result.as_ref().map(|_| ()).map_err(Clone::clone);
        let shown = self.dialog_answered(address, is_end, answer);
        match result {
            Ok(template) if template.is_empty() => {
                self.notify(strings::chat_ended_by_you(&name), false);
            }
            Ok(template) => self.notify(strings::ended_with_template(&name, &template), false),
            Err(e) if !shown => self.notify(strings::end_failed(&name, &e), true),
            Err(_) => {}
        }
        Vec::new()
    }
}
