//! One conversation's thread as the console holds it: the server's messages (merged by id, so
//! pages, live events and send replies may arrive in any order), the agent's own messages still
//! on their way, and the scroll position.

use crate::model::{Message, Note, Sender, SentAck, Status, Summary, ThreadPage, Time};
use crate::scroll::ThreadScroll;

/// A message the agent sent that the server has not confirmed yet (or refused).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    /// The console's own id for it.
    pub(crate) local_id: u64,
    pub(crate) text: String,
    /// The idempotency key; a retry of the same text reuses it.
    pub(crate) key: String,
    pub(crate) at: Time,
    /// `None` while in flight; the reason when the server refused or could not be reached.
    pub(crate) error: Option<String>,
}

/// A conversation's loaded thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Thread {
    /// The latest summary seen for this conversation.
    pub(crate) summary: Option<Summary>,
    /// The latest satisfaction survey, in a few words.
    pub(crate) csat: Option<String>,
    /// Server messages, ordered by id (= commit order).
    pub(crate) messages: Vec<Message>,
    /// The next older page's `before`; 0 when the oldest page is loaded.
    pub(crate) next_before: i64,
    /// The newest page has arrived.
    pub(crate) loaded: bool,
    /// A page request is in flight.
    pub(crate) loading: bool,
    /// The last page request's error.
    pub(crate) error: Option<String>,
    /// The agent's messages not yet confirmed (or refused).
    pub(crate) outgoing: Vec<Outgoing>,
    /// Lines scrolled up from the newest message (0 follows new messages).
    pub(crate) scroll: ThreadScroll,
    /// Private notes and activity lines, in time order (shown among the messages by time).
    pub(crate) notes: Vec<Note>,
}

impl Thread {
    /// Adds or replaces a message by id, keeping id order.
    pub(crate) fn upsert(&mut self, m: Message) {
        match self.messages.binary_search_by_key(&m.id, |x| x.id) {
            Ok(i) => {
                if let Some(slot) = self.messages.get_mut(i) {
                    // A later status never goes back to an earlier one (a page read before a
                    // status event may arrive after it), except that anything may fail.
                    let status = if m.status == Status::Failed || m.status >= slot.status {
                        m.status
                    } else {
                        slot.status
                    };
                    let keep_error = m.status != Status::Failed && slot.status == Status::Failed;
                    let (code, error) = (slot.error_code, slot.error_message.clone());
                    *slot = m;
                    slot.status = status;
                    if keep_error || status == Status::Failed && slot.error_message.is_empty() {
                        slot.error_code = code;
                        slot.error_message = error;
                    }
                }
            }
            Err(i) => self.messages.insert(i, m),
        }
    }

    /// Adds a note or activity line unless it is known, keeping time order (a thread holds
    /// at most a few hundred of them).
    pub(crate) fn add_note(&mut self, n: Note) {
        if self
            .notes
            .iter()
            .any(|x| x.id == n.id && x.activity == n.activity)
        {
            return;
        }
        let i = self.notes.partition_point(|x| x.order() <= n.order());
        self.notes.insert(i, n);
    }

    /// Merges a page: newest page (`before == 0`) or an older one.
    pub(crate) fn merge_page(&mut self, before: i64, page: ThreadPage) {
        if page.summary.is_some() {
            self.summary = page.summary;
        }
        if before == 0 {
            // The newest page carries the whole recent activity: it replaces what live events
            // added meanwhile (which has no server id).
            self.notes.retain(|n| !n.activity);
        }
        for n in page.notes {
            self.add_note(n);
        }
        if before == 0 {
            self.csat = page.csat;
        }
        for m in page.messages {
            self.upsert(m);
        }
        if before == 0 {
            if !self.loaded {
                self.next_before = page.next_before;
            }
            self.loaded = true;
        } else {
            self.next_before = page.next_before;
        }
        self.loading = false;
        self.error = None;
    }

    /// Applies a delivery status; false when the message is not loaded.
    pub(crate) fn set_status(&mut self, id: i64, status: Status, code: i32, error: &str) -> bool {
        let Ok(i) = self.messages.binary_search_by_key(&id, |x| x.id) else {
            return false;
        };
        let Some(m) = self.messages.get_mut(i) else {
            return false;
        };
        // Meta's statuses can arrive out of order (read before delivered): never go back.
        if status == Status::Failed || status >= m.status {
            m.status = status;
        }
        if status == Status::Failed {
            m.error_code = code;
            m.error_message = error.to_string();
        }
        true
    }

    /// The server accepted outgoing `local_id` as message `ack.message_id`.
    pub(crate) fn confirm(&mut self, local_id: u64, ack: &SentAck) {
        let Some(pos) = self.outgoing.iter().position(|o| o.local_id == local_id) else {
            return;
        };
        let o = self.outgoing.remove(pos);
        // The stream's message_added may have come first (and a status after it): keep it.
        if self.messages.iter().all(|m| m.id != ack.message_id) {
            let session_id =
                self.summary.as_ref().map_or(
                    0,
                    |s| {
                        if s.chat_active {
                            s.chat_session_id
                        } else {
                            0
                        }
                    },
                );
            self.upsert(Message {
                id: ack.message_id,
                sender: Sender::Agent,
                text: o.text,
                at: ack.at.or(Some(o.at)),
                status: Status::Pending,
                session_id,
                kind: "text".into(),
                error_code: 0,
                error_message: String::new(),
                agent_name: String::new(),
            });
        }
    }

    /// The server refused outgoing `local_id` (or could not be reached); returns it.
    pub(crate) fn refuse(&mut self, local_id: u64, error: String) -> Option<Outgoing> {
        let o = self.outgoing.iter_mut().find(|o| o.local_id == local_id)?;
        o.error = Some(error);
        Some(o.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: i64, status: Status) -> Message {
        Message {
            id,
            sender: Sender::Agent,
            text: format!("m{id}"),
            at: None,
            status,
            session_id: 1,
            kind: "text".into(),
            error_code: 0,
            error_message: String::new(),
            agent_name: String::new(),
        }
    }

    #[test]
    fn upsert_keeps_id_order_and_never_regresses_status() {
        let mut t = Thread::default();
        t.upsert(msg(3, Status::Pending));
        t.upsert(msg(1, Status::Received));
        t.upsert(msg(2, Status::Received));
        assert_eq!(
            t.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(t.set_status(3, Status::Read, 0, ""));
        t.upsert(msg(3, Status::Sent));
        assert_eq!(t.messages[2].status, Status::Read);
        assert!(t.set_status(3, Status::Failed, 131_047, "Re-engagement message"));
        t.upsert(msg(3, Status::Sent));
        assert_eq!(t.messages[2].status, Status::Failed);
        assert_eq!(t.messages[2].error_message, "Re-engagement message");
        assert!(!t.set_status(9, Status::Sent, 0, ""));
    }
}
