//! PostgreSQL's [`ConversationTx`]: contacts, sessions, messages, the outbox, delivery statuses
//! and the event log inside the writer's transaction, as `sqlite/tx.rs` does on SQLite. Every
//! method keeps the contact's summary columns and the event log in step with what it writes.
//!
//! Several daemons write one desk: a contact read for a write is locked (`FOR UPDATE`) until
//! the commit, so two daemons' changes to one conversation happen one after the other, in the
//! order they took the lock (the user's order of messages, one closing message for two agents
//! ending a chat at once).

use std::sync::atomic::{AtomicI64, Ordering};

use super::rows::{
    contact_core_cols, contact_from_row, message_cols, message_from_row, summary_by_id, to_pg,
    to_pg_opt,
};
use super::store::PgTx;
use crate::domain::{Address, DeliveryStatus, EndedBy, Identity, Millis, Sender, State};
use crate::storage::{
    ContactRecord, ConversationTx, EventKind, MessageRecord, NewMessage, StoreError, StoredEvent,
    Summary, EARLY_STATUSES_CAP, EARLY_STATUSES_PRUNE_EVERY,
};

/// How long an outbox row claimed by a daemon stays its own: after it, another daemon may take
/// it (its sender died mid-request). Longer than any request's timeout.
pub(crate) const OUTBOX_LEASE_MS: Millis = 60_000;

/// Early statuses kept by this process since its last pruning.
static EARLY_KEPT: AtomicI64 = AtomicI64::new(0);

/// The contact columns looked up by value.
#[derive(Clone, Copy)]
enum Col {
    UserId,
    Phone,
}

impl ConversationTx for PgTx<'_> {
    fn mark_processed(&self, wamid: &str, now: Millis) -> Result<bool, StoreError> {
        let n = self.execute(
            "INSERT INTO processed_updates (wamid, processed_at) VALUES ($1, $2)
             ON CONFLICT (wamid) DO NOTHING",
            &[&wamid, &now],
        )?;
        Ok(n == 1)
    }

    fn contact(&self, id: i64) -> Result<ContactRecord, StoreError> {
        let r = self.query_one(
            concat!(
                "SELECT ",
                contact_core_cols!(),
                " FROM contacts WHERE id = $1 FOR UPDATE"
            ),
            &[&id],
        )?;
        contact_from_row(&r)
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
            // Two daemons may meet a new user at once: the second finds the first's row.
            let inserted = self.query_opt(
                "INSERT INTO contacts (user_id, phone, username, parent_user_id, profile_name, created_at, updated_at, last_message_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $6)
                 ON CONFLICT DO NOTHING RETURNING id",
                &[&who.user_id, &who.phone, &who.username, &who.parent_user_id, &to_pg_opt(&who.profile_name), &now],
            )?;
            return match inserted {
                Some(r) => self.contact(r.try_get(0)?),
                None => {
                    let by_user = match &who.user_id {
                        Some(u) => self.contact_where(Col::UserId, u)?,
                        None => None,
                    };
                    let again = match (by_user, &who.phone) {
                        (Some(c), _) => Some(c),
                        (None, Some(p)) => self.contact_where(Col::Phone, p)?,
                        (None, None) => None,
                    };
                    again.ok_or_else(|| {
                        StoreError::Internal("a new contact's identifiers are taken".into())
                    })
                }
            };
        };
        let mut changed = false;
        // Link an identifier the contact lacked, unless another contact already holds it.
        if let (None, Some(u)) = (&c.user_id, &who.user_id) {
            if self.contact_where(Col::UserId, u)?.is_none() {
                self.execute(
                    "UPDATE contacts SET user_id = $2 WHERE id = $1",
                    &[&c.id, u],
                )?;
                changed = true;
            }
        }
        if let (None, Some(p)) = (&c.phone, &who.phone) {
            if self.contact_where(Col::Phone, p)?.is_none() {
                self.execute("UPDATE contacts SET phone = $2 WHERE id = $1", &[&c.id, p])?;
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
        let n = self.execute(
            "UPDATE contacts SET
                profile_name = COALESCE($2::text, profile_name),
                username = COALESCE($3::text, username),
                parent_user_id = COALESCE($4::text, parent_user_id),
                updated_at = $5
             WHERE id = $1 AND (
                ($2::text IS NOT NULL AND profile_name IS DISTINCT FROM $2::text) OR
                ($3::text IS NOT NULL AND username IS DISTINCT FROM $3::text) OR
                ($4::text IS NOT NULL AND parent_user_id IS DISTINCT FROM $4::text))",
            &[
                &c.id,
                &to_pg_opt(&who.profile_name),
                &who.username,
                &who.parent_user_id,
                &now,
            ],
        )?;
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
                    .query_one(
                        "SELECT COUNT(*) FROM messages WHERE contact_id = $1",
                        &[&other.id],
                    )?
                    .try_get(0)?;
                if other.user_id.is_some() {
                    // Another WhatsApp user held the number before: it is ours now.
                    self.execute(
                        "UPDATE contacts SET phone = NULL WHERE id = $1",
                        &[&other.id],
                    )?;
                } else if other_messages == 0 {
                    // An imported record of this number that never chatted: fold it in,
                    // keeping its registration.
                    self.execute(
                        "UPDATE contacts SET
                            kind = CASE WHEN $2::text = 'student' THEN 'student' ELSE kind END,
                            registered_name = COALESCE(registered_name, $3::text)
                         WHERE id = $1",
                        &[&contact_id, &other.kind.as_str(), &other.registered_name],
                    )?;
                    self.execute("DELETE FROM events WHERE contact_id = $1", &[&other.id])?;
                    self.events
                        .borrow_mut()
                        .retain(|(c, _)| *c != Some(other.id));
                    self.move_desk_rows(other.id, contact_id)?;
                    self.execute("DELETE FROM contacts WHERE id = $1", &[&other.id])?;
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
        self.execute(
            "UPDATE contacts SET phone = $2, updated_at = $3 WHERE id = $1",
            &[&contact_id, &new_phone, &now],
        )?;
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
        self.execute(
            "UPDATE contacts SET user_id = $2, updated_at = $3 WHERE id = $1",
            &[&contact_id, &new_user_id, &now],
        )?;
        self.emit(contact_id, EventKind::ContactUpdated, now)
    }

    fn set_state(&self, contact_id: i64, state: State, now: Millis) -> Result<(), StoreError> {
        self.execute(
            "UPDATE contacts SET state = $2, chat_support_active = $3, updated_at = $4 WHERE id = $1",
            &[
                &contact_id,
                &state.as_str(),
                &(state == State::ChatSupportActive),
                &now,
            ],
        )?;
        Ok(())
    }

    fn start_session(&self, contact_id: i64, at: Millis) -> Result<i64, StoreError> {
        // Meta's timestamp can lag the server clock that ended the previous session: never
        // start before that end. The contact's latest session ended last.
        let last_end: Option<Millis> = self
            .query_opt(
                "SELECT ended_at FROM chat_sessions WHERE contact_id = $1 ORDER BY id DESC LIMIT 1",
                &[&contact_id],
            )?
            .map(|r| r.try_get::<_, Option<Millis>>(0))
            .transpose()?
            .flatten();
        let at = last_end.map_or(at, |end| at.max(end));
        let id: i64 = self
            .query_one(
                "INSERT INTO chat_sessions (contact_id, started_at, priority)
                 VALUES ($1, $2, (SELECT priority FROM contacts WHERE id = $1)) RETURNING id",
                &[&contact_id, &at],
            )?
            .try_get(0)?;
        self.execute(
            "UPDATE contacts SET current_session_id = $2, chat_started_at = $3, waiting_since = $3,
                 unread_count = 0, chat_last_message_time = $3 WHERE id = $1",
            &[&contact_id, &id, &at],
        )?;
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
        // The open session, locked: of two daemons ending it at once, the second finds none.
        let open: Option<i64> = self
            .query_opt(
                "SELECT id FROM chat_sessions WHERE contact_id = $1 AND ended_at IS NULL FOR UPDATE",
                &[&contact_id],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        let Some(id) = open else { return Ok(None) };
        self.execute(
            "UPDATE chat_sessions SET ended_at = $2, ended_by = $3, agent_id = $4 WHERE id = $1",
            &[&id, &at, &by.as_str(), &agent_id],
        )?;
        self.execute(
            "UPDATE contacts SET chat_started_at = NULL, waiting_since = NULL, unread_count = 0,
                 assigned_agent_id = NULL, priority = 1 WHERE id = $1",
            &[&contact_id],
        )?;
        let agent: Option<String> = match agent_id {
            Some(a) => self
                .query_opt("SELECT name FROM agents WHERE id = $1", &[&a])?
                .map(|r| r.try_get(0))
                .transpose()?,
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
        self.execute(
            "UPDATE contacts SET kind = 'student', registered_name = $2, updated_at = $3 WHERE id = $1",
            &[&contact_id, &to_pg(name), &now],
        )?;
        self.emit(contact_id, EventKind::ContactUpdated, now)
    }

    fn import_student(&self, phone: &str, name: &str, now: Millis) -> Result<bool, StoreError> {
        let existing = self.contact_where(Col::Phone, phone)?;
        let id: i64 = match &existing {
            Some(c) => c.id,
            None => self
                .query_one(
                    "INSERT INTO contacts (phone, created_at, updated_at, last_message_at) VALUES ($1, $2, $2, $2)
                     RETURNING id",
                    &[&phone, &now],
                )?
                .try_get(0)?,
        };
        self.execute(
            "UPDATE contacts SET kind = 'student', registered_name = $2, updated_at = $3,
                 state = CASE state WHEN 'IDLE' THEN 'REGISTERED' ELSE state END
             WHERE id = $1",
            &[&id, &to_pg(name), &now],
        )?;
        self.emit(id, EventKind::ContactUpdated, now)?;
        Ok(existing.is_none())
    }

    fn insert_message(&self, m: &NewMessage, now: Millis) -> Result<MessageRecord, StoreError> {
        let direction = if m.sender == Sender::User {
            "in"
        } else {
            "out"
        };
        let text = to_pg(&m.text);
        let id: i64 = self
            .query_one(
                "INSERT INTO messages (contact_id, session_id, direction, sender, kind, text, media_id, wamid,
                                       timestamp, status, idempotency_key, created_at, agent_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                &[
                    &m.contact_id,
                    &m.session_id,
                    &direction,
                    &m.sender.as_str(),
                    &m.kind,
                    &text,
                    &m.media_id,
                    &m.wamid,
                    &m.timestamp,
                    &m.status.as_str(),
                    &m.idempotency_key,
                    &now,
                    &m.agent_id,
                ],
            )?
            .try_get(0)?;
        let in_session = m.session_id.is_some();
        if let (Some(session), Sender::Admin) = (m.session_id, m.sender) {
            // The queue: a session is waiting until its first agent reply.
            self.execute(
                "UPDATE chat_sessions SET first_response_at = $2 WHERE id = $1 AND first_response_at IS NULL",
                &[&session, &m.timestamp],
            )?;
        }
        if m.sender == Sender::Bot {
            // The bot's messages only count (they are a conversation's last message only when
            // it has no other).
            self.execute(
                "UPDATE contacts SET message_count = message_count + 1,
                     last_message_id = COALESCE(last_message_id, $2),
                     last_message_text = CASE WHEN last_message_id IS NULL THEN $3 ELSE last_message_text END,
                     last_message_sender = CASE WHEN last_message_id IS NULL THEN 'bot' ELSE last_message_sender END,
                     last_message_at = CASE WHEN last_message_id IS NULL THEN $4 ELSE last_message_at END
                 WHERE id = $1",
                &[&m.contact_id, &id, &text, &m.timestamp],
            )?;
        } else {
            // A user's or an agent's message is the conversation's last.
            self.execute(
                "UPDATE contacts SET
                    message_count = message_count + 1,
                    last_message_id = $2, last_message_text = $3, last_message_sender = $4::text, last_message_at = $5,
                    last_inbound_at = CASE WHEN $4::text = 'user' THEN GREATEST(COALESCE(last_inbound_at, 0), $5) ELSE last_inbound_at END,
                    chat_last_message_time = CASE WHEN $6 THEN $5 ELSE chat_last_message_time END,
                    unread_count = CASE WHEN $6 AND $4::text = 'user' THEN unread_count + 1
                                        WHEN $4::text = 'admin' THEN 0 ELSE unread_count END,
                    waiting_since = CASE WHEN $6 AND $4::text = 'user' THEN COALESCE(waiting_since, $5)
                                         WHEN $4::text = 'admin' THEN NULL ELSE waiting_since END
                 WHERE id = $1",
                &[
                    &m.contact_id,
                    &id,
                    &text,
                    &m.sender.as_str(),
                    &m.timestamp,
                    &in_session,
                ],
            )?;
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
        let r = self.query_one(
            concat!("SELECT ", message_cols!(), " FROM messages WHERE id = $1"),
            &[&id],
        )?;
        message_from_row(&r)
    }

    fn message_by_idempotency_key(&self, key: &str) -> Result<Option<MessageRecord>, StoreError> {
        self.query_opt(
            concat!(
                "SELECT ",
                message_cols!(),
                " FROM messages WHERE idempotency_key = $1"
            ),
            &[&key],
        )?
        .map(|r| message_from_row(&r))
        .transpose()
    }

    fn enqueue(
        &self,
        message_id: i64,
        contact_id: i64,
        payload: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO outbox (message_id, contact_id, payload, state, next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, $3, 'pending', $4, $4, $4)",
            &[&message_id, &contact_id, &payload, &now],
        )?;
        self.outbox_dirty.set(true);
        Ok(())
    }

    fn outbox_inflight(&self, outbox_id: i64, now: Millis) -> Result<(), StoreError> {
        // A claim: the row is this daemon's until the lease ends (it is not due meanwhile, so
        // no other daemon sends it). Taken with SKIP LOCKED: a row another daemon is claiming
        // right now is not waited for, and not ours.
        let lease = now + OUTBOX_LEASE_MS;
        let claimed = self.query_opt(
            "UPDATE outbox SET state = 'inflight', attempts = attempts + 1, updated_at = $2,
                 lease_until = $3, next_attempt_at = $3
             WHERE id = (SELECT id FROM outbox WHERE id = $1 AND state IN ('pending', 'inflight')
                           AND next_attempt_at <= $2 FOR UPDATE SKIP LOCKED)
             RETURNING id",
            &[&outbox_id, &now, &lease],
        )?;
        match claimed {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict(format!(
                "outbox row {outbox_id} is being sent by another daemon"
            ))),
        }
    }

    fn outbox_take_over(&self, now: Millis) -> Result<u64, StoreError> {
        let n = self.execute(
            "UPDATE outbox SET next_attempt_at = $1, lease_until = NULL, updated_at = $1
             WHERE state = 'inflight'",
            &[&now],
        )?;
        if n > 0 {
            self.outbox_dirty.set(true);
        }
        Ok(n)
    }

    fn outbox_sent(
        &self,
        outbox_id: i64,
        wamid: Option<&str>,
        now: Millis,
    ) -> Result<(), StoreError> {
        let (message_id, contact_id) = self.outbox_target(outbox_id)?;
        self.execute(
            "UPDATE outbox SET state = 'done', last_error = NULL, lease_until = NULL, updated_at = $2 WHERE id = $1",
            &[&outbox_id, &now],
        )?;
        let (Some(message_id), Some(wamid)) = (message_id, wamid) else {
            return Ok(());
        };
        self.execute(
            "UPDATE messages SET wamid = $2 WHERE id = $1",
            &[&message_id, &wamid],
        )?;
        self.advance_status(
            message_id,
            contact_id,
            DeliveryStatus::Sent,
            None,
            None,
            now,
        )?;
        let early = self.query(
            "SELECT status, error_code, error_message FROM early_statuses WHERE wamid = $1 ORDER BY at, status",
            &[&wamid],
        )?;
        for r in early {
            let (status, code, error): (String, Option<i64>, Option<String>) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some(status) = DeliveryStatus::parse(&status) {
                self.advance_status(message_id, contact_id, status, code, error.as_deref(), now)?;
            }
        }
        self.execute("DELETE FROM early_statuses WHERE wamid = $1", &[&wamid])?;
        Ok(())
    }

    fn outbox_retry(
        &self,
        outbox_id: i64,
        next_attempt_at: Millis,
        error: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $2, last_error = $3, lease_until = NULL,
                 updated_at = $4 WHERE id = $1",
            &[&outbox_id, &next_attempt_at, &error, &now],
        )?;
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
        self.execute(
            "UPDATE outbox SET state = 'failed', last_error = $2, lease_until = NULL, updated_at = $3 WHERE id = $1",
            &[&outbox_id, &error, &now],
        )?;
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
        let found = self.query_opt(
            "SELECT id, contact_id FROM messages WHERE wamid = $1 AND direction = 'out' FOR UPDATE",
            &[&wamid],
        )?;
        let Some(r) = found else {
            self.keep_early_status(wamid, status, code, error, now, EARLY_STATUSES_CAP)?;
            return Ok(None);
        };
        let (message_id, contact_id): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
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
        let newest = self.query_opt(
            "SELECT m.id, m.wamid FROM messages m JOIN contacts c ON c.id = m.contact_id
             WHERE m.contact_id = $1 AND m.direction = 'in' AND m.wamid IS NOT NULL
               AND m.id > COALESCE(c.read_upto_message_id, 0)
             ORDER BY m.id DESC LIMIT 1",
            &[&contact_id],
        )?;
        let Some(r) = newest else {
            return Ok(false);
        };
        let (id, wamid): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
        self.execute(
            "UPDATE contacts SET read_upto_message_id = $2, unread_count = 0 WHERE id = $1",
            &[&contact_id, &id],
        )?;
        let payload = body(&wamid);
        self.execute(
            "INSERT INTO outbox (kind, message_id, contact_id, payload, state, next_attempt_at, created_at, updated_at)
             VALUES ('read', NULL, $1, $2, 'pending', $3, $3, $3)",
            &[&contact_id, &payload, &now],
        )?;
        self.outbox_dirty.set(true);
        self.emit(contact_id, EventKind::ContactUpdated, now)?;
        Ok(true)
    }

    fn last_outbound(
        &self,
        contact_id: i64,
    ) -> Result<Option<(Sender, String, Millis, bool)>, StoreError> {
        self.query_opt(
            "SELECT sender, text, created_at, status = 'pending' FROM messages WHERE contact_id = $1 AND direction = 'out'
             ORDER BY id DESC LIMIT 1",
            &[&contact_id],
        )?
        .map(|r| {
            Ok((
                Sender::parse(r.try_get::<_, &str>(0)?),
                super::rows::from_pg(r.try_get(1)?),
                r.try_get(2)?,
                r.try_get(3)?,
            ))
        })
        .transpose()
    }

    fn set_size_limit(&self, _max_bytes: Option<u64>) -> Result<(), StoreError> {
        Err(StoreError::Internal(
            "a size cap is a SQLite setting; on PostgreSQL the server's disk and quotas apply"
                .into(),
        ))
    }

    fn prune_events(&self, before: Millis) -> Result<usize, StoreError> {
        // By sequence: `at` only grows with `seq` (numbers are taken at commit).
        let n = self.execute(
            "DELETE FROM events WHERE seq < COALESCE(
                 (SELECT seq FROM events WHERE at >= $1 ORDER BY seq LIMIT 1),
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM events))",
            &[&before],
        )?;
        Ok(n as usize)
    }

    fn summary(&self, contact_id: i64) -> Result<Summary, StoreError> {
        self.with(|c| summary_by_id(c, contact_id))?
            .ok_or_else(|| StoreError::NotFound(format!("no contact {contact_id}")))
    }

    fn emit(&self, contact_id: i64, kind: EventKind, now: Millis) -> Result<(), StoreError> {
        // Numbered, given its conversation and inserted just before the commit.
        self.events.borrow_mut().push((
            Some(contact_id),
            StoredEvent {
                seq: 0,
                at: now,
                summary: None,
                kind,
            },
        ));
        Ok(())
    }

    fn emit_desk(&self, kind: EventKind, now: Millis) -> Result<(), StoreError> {
        self.events.borrow_mut().push((
            None,
            StoredEvent {
                seq: 0,
                at: now,
                summary: None,
                kind,
            },
        ));
        Ok(())
    }
}

impl PgTx<'_> {
    fn contact_where(&self, col: Col, value: &str) -> Result<Option<ContactRecord>, StoreError> {
        Ok(self.find(col, value)?.map(|(c, _)| c))
    }

    /// The contact whose `col` is `value`, with its parent's BSUID, locked until the commit.
    fn find(
        &self,
        col: Col,
        value: &str,
    ) -> Result<Option<(ContactRecord, Option<String>)>, StoreError> {
        let sql = match col {
            Col::UserId => concat!(
                "SELECT ",
                contact_core_cols!(),
                " FROM contacts WHERE user_id = $1 FOR UPDATE"
            ),
            Col::Phone => concat!(
                "SELECT ",
                contact_core_cols!(),
                " FROM contacts WHERE phone = $1 FOR UPDATE"
            ),
        };
        self.query_opt(sql, &[&value])?
            .map(|r| Ok((contact_from_row(&r)?, r.try_get(13)?)))
            .transpose()
    }

    /// The outbox row's message (None for a mark-as-read call) and recipient.
    fn outbox_target(&self, outbox_id: i64) -> Result<(Option<i64>, i64), StoreError> {
        let r = self.query_one(
            "SELECT message_id, contact_id FROM outbox WHERE id = $1",
            &[&outbox_id],
        )?;
        Ok((r.try_get(0)?, r.try_get(1)?))
    }

    /// Keeps a status for a wamid not stored yet: once per (wamid, status), the first copy wins.
    /// Once per [`EARLY_STATUSES_PRUNE_EVERY`] rows this process kept, prunes rows more than a
    /// week old and the oldest beyond `cap`.
    fn keep_early_status(
        &self,
        wamid: &str,
        status: DeliveryStatus,
        code: Option<i64>,
        error: Option<&str>,
        now: Millis,
        cap: i64,
    ) -> Result<(), StoreError> {
        const WEEK_MS: Millis = 7 * 24 * 60 * 60 * 1000;
        let inserted = self.execute(
            "INSERT INTO early_statuses (wamid, status, error_code, error_message, at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&wamid, &status.as_str(), &code, &error, &now],
        )?;
        if inserted == 0
            || EARLY_KEPT.fetch_add(1, Ordering::Relaxed) % EARLY_STATUSES_PRUNE_EVERY
                != EARLY_STATUSES_PRUNE_EVERY - 1
        {
            return Ok(());
        }
        self.execute(
            "DELETE FROM early_statuses WHERE at < $1",
            &[&(now - WEEK_MS)],
        )?;
        self.execute(
            "DELETE FROM early_statuses WHERE (wamid, status) IN (
                 SELECT wamid, status FROM early_statuses ORDER BY at DESC, wamid DESC OFFSET $1)",
            &[&cap],
        )?;
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
            .query_one("SELECT status FROM messages WHERE id = $1", &[&message_id])?
            .try_get(0)?;
        let current = DeliveryStatus::parse(&current).unwrap_or(DeliveryStatus::Pending);
        if !current.can_advance_to(status) {
            return Ok(false);
        }
        self.execute(
            "UPDATE messages SET status = $2, error_code = $3, error_message = $4 WHERE id = $1",
            &[&message_id, &status.as_str(), &code, &error],
        )?;
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
