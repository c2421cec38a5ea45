//! SQLite's [`ConversationTx`]: contacts, sessions, messages, the outbox, delivery statuses and
//! the event log inside the writer's transaction. Every method keeps the contact's denormalised
//! summary columns and the event log in step with what it writes.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
};

use rusqlite::{params, Connection, OptionalExtension};

use super::read::{contact_from_row, message_from_row, summary_by_id, MESSAGE_COLS};
use crate::domain::{Address, DeliveryStatus, EndedBy, Identity, Millis, Sender, State};
use crate::storage::shared::EventPayload;
use crate::storage::{
    ContactRecord, ConversationTx, EventKind, MessageRecord, NewMessage, StoreError, StoredEvent,
    Summary, EARLY_STATUSES_CAP, EARLY_STATUSES_PRUNE_EVERY,
};

/// The writer's open transaction: the SQLite implementation of [`crate::storage::Tx`].
pub(crate) struct SqliteTx<'c> {
    conn: &'c Connection,
    events: RefCell<Vec<StoredEvent>>,
    /// The contact of each of `events` (None for a desk event).
    event_contacts: RefCell<Vec<Option<i64>>>,
    outbox_dirty: Cell<bool>,
}

/// The contact columns looked up by value.
#[derive(Clone, Copy)]
enum Col {
    UserId,
    Phone,
}

/// The contact columns the writer's logic reads: the 13 of [`contact_from_row`], then
/// `parent_user_id`, without the summary's subqueries (the assigned agent's name, the session's
/// first response).
macro_rules! contact_core_cols {
    () => {
        "id, user_id, phone, username, profile_name, registered_name, kind, state, \
         chat_support_active, chat_last_message_time, current_session_id, chat_started_at, last_inbound_at, \
         parent_user_id"
    };
}

impl ConversationTx for SqliteTx<'_> {
    fn mark_processed(&self, wamid: &str, now: Millis) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO processed_updates (wamid, processed_at) VALUES (?1, ?2)",
            )?
            .execute(params![wamid, now])?;
        Ok(n == 1)
    }

    fn contact(&self, id: i64) -> Result<ContactRecord, StoreError> {
        Ok(self
            .conn
            .prepare_cached(concat!(
                "SELECT ",
                contact_core_cols!(),
                " FROM contacts WHERE id = ?1"
            ))?
            .query_row([id], contact_from_row)?)
    }

    fn contact_by_address(&self, address: &Address) -> Result<Option<ContactRecord>, StoreError> {
        match address {
            Address::Phone(p) => self.contact_where(Col::Phone, p),
            Address::UserId(u) => self.contact_where(Col::UserId, u),
        }
    }

    fn upsert_contact(&self, who: &Identity, now: Millis) -> Result<ContactRecord, StoreError> {
        let by_user = match &who.user_id {
            Some(u) => self.find(Col::UserId, u)?,
            None => None,
        };
        let found = match by_user {
            Some(c) => Some(c),
            None => match &who.phone {
                Some(p) => self.find(Col::Phone, p)?,
                None => None,
            },
        };
        let Some((c, parent_user_id)) = found else {
            self.conn
                .prepare_cached(
                    "INSERT INTO contacts (user_id, phone, username, parent_user_id, profile_name, created_at, updated_at, last_message_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
                )?
                .execute(params![who.user_id, who.phone, who.username, who.parent_user_id, who.profile_name, now])?;
            return self.contact(self.conn.last_insert_rowid());
        };
        let mut changed = false;
        // Link an identifier the contact lacked, unless another contact already holds it.
        if let (None, Some(u)) = (&c.user_id, &who.user_id) {
            if self.contact_where(Col::UserId, u)?.is_none() {
                self.conn
                    .prepare_cached("UPDATE contacts SET user_id = ?2 WHERE id = ?1")?
                    .execute(params![c.id, u])?;
                changed = true;
            }
        }
        if let (None, Some(p)) = (&c.phone, &who.phone) {
            if self.contact_where(Col::Phone, p)?.is_none() {
                self.conn
                    .prepare_cached("UPDATE contacts SET phone = ?2 WHERE id = ?1")?
                    .execute(params![c.id, p])?;
                changed = true;
            }
        }
        // What the webhook says of the user usually is what is stored: no statement then.
        let same = |new: &Option<String>, old: &Option<String>| new.is_none() || new == old;
        if !changed
            && same(&who.profile_name, &c.profile_name)
            && same(&who.username, &c.username)
            && same(&who.parent_user_id, &parent_user_id)
        {
            return Ok(c);
        }
        let n = self
            .conn
            .prepare_cached(
                "UPDATE contacts SET
                    profile_name = COALESCE(?2, profile_name),
                    username = COALESCE(?3, username),
                    parent_user_id = COALESCE(?4, parent_user_id),
                    updated_at = ?5
                 WHERE id = ?1 AND (
                    (?2 IS NOT NULL AND profile_name IS NOT ?2) OR
                    (?3 IS NOT NULL AND username IS NOT ?3) OR
                    (?4 IS NOT NULL AND parent_user_id IS NOT ?4))",
            )?
            .execute(params![
                c.id,
                who.profile_name,
                who.username,
                who.parent_user_id,
                now
            ])?;
        if changed || n > 0 {
            self.emit(c.id, EventKind::ContactUpdated, now)?;
            return self.contact(c.id);
        }
        Ok(c)
    }

    fn change_phone(
        &self,
        contact_id: i64,
        new_phone: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        if let Some(other) = self.contact_where(Col::Phone, new_phone)? {
            if other.id != contact_id {
                let other_messages: i64 = self
                    .conn
                    .prepare_cached("SELECT COUNT(*) FROM messages WHERE contact_id = ?1")?
                    .query_row([other.id], |r| r.get(0))?;
                if other.user_id.is_some() {
                    // Another WhatsApp user held the number before: it is ours now.
                    self.conn
                        .prepare_cached("UPDATE contacts SET phone = NULL WHERE id = ?1")?
                        .execute([other.id])?;
                } else if other_messages == 0 {
                    // An imported record of this number that never chatted: fold it in,
                    // keeping its registration.
                    self.conn
                        .prepare_cached(
                            "UPDATE contacts SET
                                kind = CASE WHEN ?2 = 'student' THEN 'student' ELSE kind END,
                                registered_name = COALESCE(registered_name, ?3)
                             WHERE id = ?1",
                        )?
                        .execute(params![
                            contact_id,
                            other.kind.as_str(),
                            other.registered_name
                        ])?;
                    self.conn
                        .prepare_cached("DELETE FROM events WHERE contact_id = ?1")?
                        .execute([other.id])?;
                    self.move_desk_rows(other.id, contact_id)?;
                    self.conn
                        .prepare_cached("DELETE FROM contacts WHERE id = ?1")?
                        .execute([other.id])?;
                } else {
                    // Two conversations claim the number; keep both as they are rather than
                    // lose either history (an operator can reconcile them).
                    tracing::warn!(
                        contact_id,
                        other_id = other.id,
                        "number change onto a number another conversation holds; not applied"
                    );
                    return Ok(());
                }
            }
        }
        self.conn
            .prepare_cached("UPDATE contacts SET phone = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![contact_id, new_phone, now])?;
        self.emit(contact_id, EventKind::ContactUpdated, now)
    }

    fn change_user_id(
        &self,
        contact_id: i64,
        new_user_id: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        if self.contact_where(Col::UserId, new_user_id)?.is_some() {
            return Ok(());
        }
        self.conn
            .prepare_cached("UPDATE contacts SET user_id = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![contact_id, new_user_id, now])?;
        self.emit(contact_id, EventKind::ContactUpdated, now)
    }

    fn set_state(&self, contact_id: i64, state: State, now: Millis) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE contacts SET state = ?2, chat_support_active = ?3, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![contact_id, state.as_str(), state == State::ChatSupportActive, now])?;
        Ok(())
    }

    fn start_session(&self, contact_id: i64, at: Millis) -> Result<i64, StoreError> {
        // Meta's timestamp can lag the server clock that ended the previous session (a retried
        // webhook, or "done" then "support" in one batch): never start before that end.
        // The contact's latest session ended last (one open at a time, ended by the server's
        // clock): one index entry read, whatever the contact's history.
        let last_end: Option<Millis> = self
            .conn
            .prepare_cached(
                "SELECT ended_at FROM chat_sessions WHERE contact_id = ?1 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([contact_id], |r| r.get(0))
            .optional()?
            .flatten();
        let at = last_end.map_or(at, |end| at.max(end));
        self.conn
            .prepare_cached(
                "INSERT INTO chat_sessions (contact_id, started_at, priority)
                 VALUES (?1, ?2, (SELECT priority FROM contacts WHERE id = ?1))",
            )?
            .execute(params![contact_id, at])?;
        let id = self.conn.last_insert_rowid();
        self.conn
            .prepare_cached(
                "UPDATE contacts SET current_session_id = ?2, chat_started_at = ?3, waiting_since = ?3,
                     unread_count = 0, chat_last_message_time = ?3 WHERE id = ?1",
            )?
            .execute(params![contact_id, id, at])?;
        self.emit(contact_id, EventKind::ChatStarted { session_id: id }, at)?;
        Ok(id)
    }

    fn end_session(
        &self,
        contact_id: i64,
        by: EndedBy,
        at: Millis,
    ) -> Result<Option<i64>, StoreError> {
        self.end_session_by(contact_id, by, None, at)
    }

    fn end_session_by(
        &self,
        contact_id: i64,
        by: EndedBy,
        agent_id: Option<i64>,
        at: Millis,
    ) -> Result<Option<i64>, StoreError> {
        let open: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT id FROM chat_sessions WHERE contact_id = ?1 AND ended_at IS NULL",
            )?
            .query_row([contact_id], |r| r.get(0))
            .optional()?;
        let Some(id) = open else { return Ok(None) };
        self.conn
            .prepare_cached("UPDATE chat_sessions SET ended_at = ?2, ended_by = ?3, agent_id = ?4 WHERE id = ?1")?
            .execute(params![id, at, by.as_str(), agent_id])?;
        self.conn
            .prepare_cached(
                "UPDATE contacts SET chat_started_at = NULL, waiting_since = NULL, unread_count = 0,
                     assigned_agent_id = NULL, priority = 1 WHERE id = ?1",
            )?
            .execute([contact_id])?;
        let agent: Option<String> = match agent_id {
            Some(a) => self
                .conn
                .prepare_cached("SELECT name FROM agents WHERE id = ?1")?
                .query_row([a], |r| r.get(0))
                .optional()?,
            None => None,
        };
        self.emit(
            contact_id,
            EventKind::ChatEnded {
                session_id: id,
                ended_by: by,
                agent,
            },
            at,
        )?;
        Ok(Some(id))
    }

    fn register(&self, contact_id: i64, name: &str, now: Millis) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE contacts SET kind = 'student', registered_name = ?2, updated_at = ?3 WHERE id = ?1",
            )?
            .execute(params![contact_id, name, now])?;
        self.emit(contact_id, EventKind::ContactUpdated, now)
    }

    fn import_student(&self, phone: &str, name: &str, now: Millis) -> Result<bool, StoreError> {
        let existing = self.contact_where(Col::Phone, phone)?;
        let id = match &existing {
            Some(c) => c.id,
            None => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO contacts (phone, created_at, updated_at, last_message_at) VALUES (?1, ?2, ?2, ?2)",
                    )?
                    .execute(params![phone, now])?;
                self.conn.last_insert_rowid()
            }
        };
        self.conn
            .prepare_cached(
                "UPDATE contacts SET kind = 'student', registered_name = ?2, updated_at = ?3,
                     state = CASE state WHEN 'IDLE' THEN 'REGISTERED' ELSE state END
                 WHERE id = ?1",
            )?
            .execute(params![id, name, now])?;
        self.emit(id, EventKind::ContactUpdated, now)?;
        Ok(existing.is_none())
    }

    fn insert_message(&self, m: &NewMessage, now: Millis) -> Result<MessageRecord, StoreError> {
        let direction = if m.sender == Sender::User {
            "in"
        } else {
            "out"
        };
        self.conn
            .prepare_cached(
                "INSERT INTO messages (contact_id, session_id, direction, sender, kind, text, media_id, wamid,
                                       timestamp, status, idempotency_key, created_at, agent_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                m.contact_id,
                m.session_id,
                direction,
                m.sender.as_str(),
                m.kind,
                m.text,
                m.media_id,
                m.wamid,
                m.timestamp,
                m.status.as_str(),
                m.idempotency_key,
                now,
                m.agent_id
            ])?;
        let id = self.conn.last_insert_rowid();
        let in_session = m.session_id.is_some();
        if let (Some(session), Sender::Admin) = (m.session_id, m.sender) {
            // The queue: a session is waiting until its first agent reply.
            self.conn
                .prepare_cached(
                    "UPDATE chat_sessions SET first_response_at = ?2 WHERE id = ?1 AND first_response_at IS NULL",
                )?
                .execute(params![session, m.timestamp])?;
        }
        if m.sender == Sender::Bot {
            // The bot's messages only count (they are a conversation's last message only when
            // it has no other): statements that leave the list's indexes alone.
            self.conn
                .prepare_cached(
                    "UPDATE contacts SET message_count = message_count + 1 WHERE id = ?1",
                )?
                .execute([m.contact_id])?;
            self.conn
                .prepare_cached(
                    "UPDATE contacts SET last_message_id = ?2, last_message_text = ?3,
                        last_message_sender = 'bot', last_message_at = ?4
                     WHERE id = ?1 AND last_message_id IS NULL",
                )?
                .execute(params![m.contact_id, id, m.text, m.timestamp])?;
        } else {
            // A user's or an agent's message is the conversation's last.
            self.conn
                .prepare_cached(
                    "UPDATE contacts SET
                        message_count = message_count + 1,
                        last_message_id = ?2, last_message_text = ?3, last_message_sender = ?4, last_message_at = ?5,
                        last_inbound_at = CASE WHEN ?4 = 'user' THEN MAX(COALESCE(last_inbound_at, 0), ?5) ELSE last_inbound_at END,
                        chat_last_message_time = CASE WHEN ?6 THEN ?5 ELSE chat_last_message_time END,
                        unread_count = CASE WHEN ?6 AND ?4 = 'user' THEN unread_count + 1
                                            WHEN ?4 = 'admin' THEN 0 ELSE unread_count END,
                        waiting_since = CASE WHEN ?6 AND ?4 = 'user' THEN COALESCE(waiting_since, ?5)
                                             WHEN ?4 = 'admin' THEN NULL ELSE waiting_since END
                     WHERE id = ?1",
                )?
                .execute(params![m.contact_id, id, m.text, m.sender.as_str(), m.timestamp, in_session])?;
        }
        // The record from the values just written (no re-read), except for an agent's
        // message, whose record carries the agent's name.
        let record = match m.agent_id {
            Some(_) => self.message(id)?,
            None => crate::storage::shared::inserted_message(m, id),
        };
        self.emit(
            m.contact_id,
            EventKind::MessageAdded {
                message: record.clone(),
            },
            now,
        )?;
        Ok(record)
    }

    fn message(&self, id: i64) -> Result<MessageRecord, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id], message_from_row)?)
    }

    fn message_by_idempotency_key(&self, key: &str) -> Result<Option<MessageRecord>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE idempotency_key = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([key], message_from_row)
            .optional()?)
    }

    fn enqueue(
        &self,
        message_id: i64,
        contact_id: i64,
        payload: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (message_id, contact_id, payload, state, next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?4)",
            )?
            .execute(params![message_id, contact_id, payload, now])?;
        self.outbox_dirty.set(true);
        Ok(())
    }

    fn outbox_inflight(&self, outbox_id: i64, now: Millis) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET state = 'inflight', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![outbox_id, now])?;
        Ok(())
    }

    fn outbox_take_over(&self, _now: Millis) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn outbox_sent(
        &self,
        outbox_id: i64,
        wamid: Option<&str>,
        now: Millis,
    ) -> Result<(), StoreError> {
        let (message_id, contact_id) = self.outbox_target(outbox_id)?;
        self.conn
            .prepare_cached("UPDATE outbox SET state = 'done', last_error = NULL, updated_at = ?2 WHERE id = ?1")?
            .execute(params![outbox_id, now])?;
        let (Some(message_id), Some(wamid)) = (message_id, wamid) else {
            return Ok(());
        };
        self.conn
            .prepare_cached("UPDATE messages SET wamid = ?2 WHERE id = ?1")?
            .execute(params![message_id, wamid])?;
        self.advance_status(
            message_id,
            contact_id,
            DeliveryStatus::Sent,
            None,
            None,
            now,
        )?;
        let early: Vec<(String, Option<i64>, Option<String>)> = self
            .conn
            .prepare_cached("SELECT status, error_code, error_message FROM early_statuses WHERE wamid = ?1 ORDER BY rowid")?
            .query_map([wamid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (status, code, error) in early {
            if let Some(status) = DeliveryStatus::parse(&status) {
                self.advance_status(message_id, contact_id, status, code, error.as_deref(), now)?;
            }
        }
        self.conn
            .prepare_cached("DELETE FROM early_statuses WHERE wamid = ?1")?
            .execute([wamid])?;
        Ok(())
    }

    fn outbox_retry(
        &self,
        outbox_id: i64,
        next_attempt_at: Millis,
        error: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![outbox_id, next_attempt_at, error, now])?;
        Ok(())
    }

    fn outbox_failed(
        &self,
        outbox_id: i64,
        code: Option<i64>,
        error: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let (message_id, contact_id) = self.outbox_target(outbox_id)?;
        self.conn
            .prepare_cached("UPDATE outbox SET state = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1")?
            .execute(params![outbox_id, error, now])?;
        if let Some(id) = message_id {
            self.advance_status(
                id,
                contact_id,
                DeliveryStatus::Failed,
                code,
                Some(error),
                now,
            )?;
        }
        Ok(())
    }

    fn apply_status(
        &self,
        wamid: &str,
        status: DeliveryStatus,
        code: Option<i64>,
        error: Option<&str>,
        now: Millis,
    ) -> Result<Option<bool>, StoreError> {
        let found: Option<(i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT id, contact_id FROM messages WHERE wamid = ?1 AND direction = 'out'",
            )?
            .query_row([wamid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((message_id, contact_id)) = found else {
            self.keep_early_status(wamid, status, code, error, now, EARLY_STATUSES_CAP)?;
            return Ok(None);
        };
        Ok(Some(self.advance_status(
            message_id, contact_id, status, code, error, now,
        )?))
    }

    fn queue_mark_read(
        &self,
        contact_id: i64,
        body: &dyn Fn(&str) -> String,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let newest: Option<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT m.id, m.wamid FROM messages m JOIN contacts c ON c.id = m.contact_id
                 WHERE m.contact_id = ?1 AND m.direction = 'in' AND m.wamid IS NOT NULL
                   AND m.id > COALESCE(c.read_upto_message_id, 0)
                 ORDER BY m.id DESC LIMIT 1",
            )?
            .query_row([contact_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((id, wamid)) = newest else {
            return Ok(false);
        };
        self.conn
            .prepare_cached(
                "UPDATE contacts SET read_upto_message_id = ?2, unread_count = 0 WHERE id = ?1",
            )?
            .execute(params![contact_id, id])?;
        let payload = body(&wamid);
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (kind, message_id, contact_id, payload, state, next_attempt_at, created_at, updated_at)
                 VALUES ('read', NULL, ?1, ?2, 'pending', ?3, ?3, ?3)",
            )?
            .execute(params![contact_id, payload, now])?;
        self.outbox_dirty.set(true);
        self.emit(contact_id, EventKind::ContactUpdated, now)?;
        Ok(true)
    }

    fn last_outbound(
        &self,
        contact_id: i64,
    ) -> Result<Option<(Sender, String, Millis, bool)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT sender, text, created_at, status = 'pending' FROM messages WHERE contact_id = ?1 AND direction = 'out'
                 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([contact_id], |r| {
                Ok((Sender::parse(&r.get::<_, String>(0)?), r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?)
    }

    fn set_size_limit(&self, max_bytes: Option<u64>) -> Result<(), StoreError> {
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let pages = match max_bytes {
            Some(b) => (b / page_size.max(1) as u64).max(1) as i64,
            None => 4_294_967_294,
        };
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
        Ok(())
    }

    fn prune_events(&self, before: Millis) -> Result<usize, StoreError> {
        Ok(self
            .conn
            // By sequence: walk the log from its oldest row to the first one to keep (O(deleted),
            // no index on `at` to maintain on every event); `at` only grows with `seq`.
            .prepare_cached(
                "DELETE FROM events WHERE seq < COALESCE(
                     (SELECT seq FROM events WHERE at >= ?1 ORDER BY seq LIMIT 1),
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))",
            )?
            .execute([before])?)
    }

    fn summary(&self, contact_id: i64) -> Result<Summary, StoreError> {
        summary_by_id(self.conn, contact_id)?
            .ok_or_else(|| StoreError::NotFound(format!("no contact {contact_id}")))
    }

    fn emit(&self, contact_id: i64, kind: EventKind, now: Millis) -> Result<(), StoreError> {
        // The summary is filled in once per contact before the commit (`fill_summaries`).
        let payload = serde_json::to_string(&EventPayload { kind: &kind })?;
        self.conn
            .prepare_cached("INSERT INTO events (at, contact_id, payload) VALUES (?1, ?2, ?3)")?
            .execute(params![now, contact_id, payload])?;
        let seq = self.conn.last_insert_rowid();
        self.events.borrow_mut().push(StoredEvent {
            seq,
            at: now,
            summary: None,
            kind,
        });
        self.event_contacts.borrow_mut().push(Some(contact_id));
        Ok(())
    }

    fn emit_desk(&self, kind: EventKind, now: Millis) -> Result<(), StoreError> {
        let payload = serde_json::to_string(&EventPayload { kind: &kind })?;
        self.conn
            .prepare_cached("INSERT INTO events (at, contact_id, payload) VALUES (?1, NULL, ?2)")?
            .execute(params![now, payload])?;
        let seq = self.conn.last_insert_rowid();
        self.events.borrow_mut().push(StoredEvent {
            seq,
            at: now,
            summary: None,
            kind,
        });
        self.event_contacts.borrow_mut().push(None);
        Ok(())
    }
}

impl<'c> SqliteTx<'c> {
    pub(super) fn new(conn: &'c Connection) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            events: RefCell::new(Vec::new()),
            event_contacts: RefCell::new(Vec::new()),
            outbox_dirty: Cell::new(false),
        }
    }

    pub(super) fn conn(&self) -> &'c Connection {
        self.conn
    }

    pub(super) fn mark(&self) -> (usize, bool) {
        (self.events.borrow().len(), self.outbox_dirty.get())
    }

    pub(super) fn reset_to(&self, mark: (usize, bool)) {
        self.events.borrow_mut().truncate(mark.0);
        self.event_contacts.borrow_mut().truncate(mark.0);
        self.outbox_dirty.set(mark.1);
    }

    pub(super) fn finish(self) -> (Vec<StoredEvent>, bool) {
        (self.events.into_inner(), self.outbox_dirty.get())
    }

    fn contact_where(&self, col: Col, value: &str) -> Result<Option<ContactRecord>, StoreError> {
        Ok(self.find(col, value)?.map(|(c, _)| c))
    }

    /// The contact whose `col` is `value`, with its parent's BSUID.
    fn find(
        &self,
        col: Col,
        value: &str,
    ) -> Result<Option<(ContactRecord, Option<String>)>, StoreError> {
        let sql = match col {
            Col::UserId => concat!(
                "SELECT ",
                contact_core_cols!(),
                " FROM contacts WHERE user_id = ?1"
            ),
            Col::Phone => concat!(
                "SELECT ",
                contact_core_cols!(),
                " FROM contacts WHERE phone = ?1"
            ),
        };
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row([value], |r| Ok((contact_from_row(r)?, r.get(13)?)))
            .optional()?)
    }

    /// Fills in the summary of every event this transaction logged about a conversation: its
    /// state as the transaction leaves it, read once per contact. A contact merged away in
    /// the same transaction has none.
    pub(super) fn fill_summaries(&self) -> Result<(), StoreError> {
        let mut events = self.events.borrow_mut();
        let contacts = self.event_contacts.borrow();
        let mut read: HashMap<i64, Option<Summary>> = HashMap::new();
        for (e, contact) in events.iter_mut().zip(contacts.iter()) {
            let Some(id) = *contact else { continue };
            if e.summary.is_some() {
                continue;
            }
            let summary = match read.get(&id) {
                Some(s) => s.clone(),
                None => {
                    let s = summary_by_id(self.conn, id)?;
                    read.insert(id, s.clone());
                    s
                }
            };
            e.summary = summary;
        }
        Ok(())
    }

    /// The outbox row's message (None for a mark-as-read call) and recipient.
    fn outbox_target(&self, outbox_id: i64) -> Result<(Option<i64>, i64), StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT message_id, contact_id FROM outbox WHERE id = ?1")?
            .query_row([outbox_id], |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    /// Keeps a status for a wamid not stored yet: once per (wamid, status), the first copy wins.
    /// Every [`EARLY_STATUSES_PRUNE_EVERY`]th new row prunes, through indexes only: rows more
    /// than a week old (oldest first, at most one chunk) and the oldest insertions beyond
    /// `cap - PRUNE_EVERY` (a rowid range), so the table never holds more than `cap` rows.
    pub(super) fn keep_early_status(
        &self,
        wamid: &str,
        status: DeliveryStatus,
        code: Option<i64>,
        error: Option<&str>,
        now: Millis,
        cap: i64,
    ) -> Result<(), StoreError> {
        const WEEK_MS: Millis = 7 * 24 * 60 * 60 * 1000;
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO early_statuses (wamid, status, error_code, error_message, at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![wamid, status.as_str(), code, error, now])?;
        let rowid = self.conn.last_insert_rowid();
        if inserted == 0 || rowid % EARLY_STATUSES_PRUNE_EVERY != 0 {
            return Ok(());
        }
        self.conn
            .prepare_cached(
                "DELETE FROM early_statuses WHERE rowid IN (
                     SELECT rowid FROM early_statuses WHERE at < ?1 ORDER BY at LIMIT ?2)",
            )?
            .execute(params![now - WEEK_MS, EARLY_STATUSES_PRUNE_EVERY])?;
        self.conn
            .prepare_cached("DELETE FROM early_statuses WHERE rowid <= ?1")?
            .execute([rowid - cap.max(EARLY_STATUSES_PRUNE_EVERY) + EARLY_STATUSES_PRUNE_EVERY])?;
        Ok(())
    }

    fn advance_status(
        &self,
        message_id: i64,
        contact_id: i64,
        status: DeliveryStatus,
        code: Option<i64>,
        error: Option<&str>,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let current: String = self
            .conn
            .prepare_cached("SELECT status FROM messages WHERE id = ?1")?
            .query_row([message_id], |r| r.get(0))?;
        let current = DeliveryStatus::parse(&current).unwrap_or(DeliveryStatus::Pending);
        if !current.can_advance_to(status) {
            return Ok(false);
        }
        self.conn
            .prepare_cached("UPDATE messages SET status = ?2, error_code = ?3, error_message = ?4 WHERE id = ?1")?
            .execute(params![message_id, status.as_str(), code, error])?;
        self.emit(
            contact_id,
            EventKind::DeliveryStatusChanged {
                message_id,
                status,
                error_code: code,
                error_message: error.map(str::to_string),
            },
            now,
        )?;
        Ok(true)
    }
}
