//! Read queries (lists, threads, the outbox queue, the event log) and the row mappers shared
//! with the writer. They run on read connections, off the async runtime.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::Reads;
use crate::storage::shared;
use crate::storage::{
    ContactRecord, Gauges, ListQuery, MessageRecord, OutboxItem, Page, StoreError, StoredEvent,
    Summary,
};
use crate::{
    desk::{AssignmentFilter, Priority},
    domain::{Address, ContactKind, DeliveryStatus, Millis, Sender, State},
};

pub(super) const CONTACT_COLS: &str = "id, user_id, phone, username, profile_name, registered_name, kind, state, \
    chat_support_active, chat_last_message_time, current_session_id, chat_started_at, last_inbound_at, \
    last_message_text, last_message_sender, last_message_at, message_count, unread_count, waiting_since, \
    assigned_agent_id, priority, (SELECT a.name FROM agents a WHERE a.id = contacts.assigned_agent_id), \
    (SELECT s.first_response_at FROM chat_sessions s WHERE s.id = contacts.current_session_id AND s.ended_at IS NULL)";

pub(super) const MESSAGE_COLS: &str =
    "id, contact_id, session_id, sender, kind, text, media_id, wamid, \
    timestamp, status, error_code, error_message, agent_id, \
    (SELECT a.name FROM agents a WHERE a.id = messages.agent_id)";

pub(super) fn contact_from_row(r: &Row<'_>) -> rusqlite::Result<ContactRecord> {
    Ok(ContactRecord {
        id: r.get(0)?,
        user_id: r.get(1)?,
        phone: r.get(2)?,
        username: r.get(3)?,
        profile_name: r.get(4)?,
        registered_name: r.get(5)?,
        kind: ContactKind::parse(&r.get::<_, String>(6)?),
        state: State::parse(&r.get::<_, String>(7)?),
        chat_support_active: r.get(8)?,
        chat_last_message_time: r.get(9)?,
        current_session_id: r.get(10)?,
        chat_started_at: r.get(11)?,
        last_inbound_at: r.get(12)?,
    })
}

pub(super) fn summary_from_row(r: &Row<'_>) -> rusqlite::Result<Summary> {
    let c = contact_from_row(r)?;
    let last_text: Option<String> = r.get(13)?;
    let last_sender: Option<String> = r.get(14)?;
    let last_at: Option<Millis> = r.get(15)?;
    let last_message = shared::last_message(last_text, last_sender, last_at);
    let display_name = shared::display_name(&c);
    Ok(Summary {
        contact_id: c.id,
        phone: c.phone,
        user_id: c.user_id,
        username: c.username,
        display_name,
        kind: c.kind,
        state: c.state,
        chat_active: c.chat_support_active,
        last_message,
        message_count: shared::count(r.get(16)?),
        chat_started_at: c.chat_started_at,
        waiting_since: r.get(18)?,
        unread_count: shared::count(r.get(17)?),
        chat_session_id: c.current_session_id,
        last_inbound_at: c.last_inbound_at,
        assigned_agent_id: r.get(19)?,
        priority: Priority::from_i64(r.get(20)?),
        assigned_agent: r.get(21)?,
        first_response_at: r.get(22)?,
    })
}

pub(super) fn message_from_row(r: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    Ok(MessageRecord {
        id: r.get(0)?,
        contact_id: r.get(1)?,
        session_id: r.get(2)?,
        sender: Sender::parse(&r.get::<_, String>(3)?),
        kind: r.get(4)?,
        text: r.get(5)?,
        media_id: r.get(6)?,
        wamid: r.get(7)?,
        timestamp: r.get(8)?,
        status: DeliveryStatus::parse(&r.get::<_, String>(9)?).unwrap_or(DeliveryStatus::Pending),
        error_code: r.get(10)?,
        error_message: r.get(11)?,
        agent_id: r.get(12)?,
        agent_name: r.get(13)?,
    })
}

// Sort key: active chats first, highest priority first (rank 0 urgent .. 3 low; everyone else
// 4), then longest-waiting first (answered ones after the waiting ones), then everyone else by
// most recent activity; among active chats the session id, then the id, break ties so pages
// are stable. Migration 7 indexes exactly these expressions (`contacts_list_order`): keep them identical.
pub(super) const LIST_K1: &str = "(CASE WHEN chat_support_active = 1 THEN 3 - priority ELSE 4 END)";
/// Ranks at or below this are active chats.
const LIST_ACTIVE_MAX: i64 = 3;
pub(super) const LIST_K2: &str = "(CASE WHEN chat_support_active = 1 THEN COALESCE(waiting_since, 4000000000000000 + COALESCE(chat_started_at, 0)) \
    ELSE -COALESCE(last_message_at, 0) END)";
/// Equal waits (chats started in the same second) go by session id, as in the queue.
pub(super) const LIST_K3: &str =
    "(CASE WHEN chat_support_active = 1 THEN COALESCE(current_session_id, 0) ELSE 0 END)";

use crate::storage::shared::{decode_token, encode_token, escape_like};

fn list(conn: &Connection, q: &ListQuery) -> Result<Page, StoreError> {
    let after = if q.page_token.is_empty() {
        None
    } else {
        Some(decode_token(&q.page_token)?)
    };
    // "@uche" finds the username the console shows as @uche.k.
    let pattern = q.query.trim();
    let pattern = pattern.strip_prefix('@').unwrap_or(pattern);
    let digits: String = pattern.chars().filter(char::is_ascii_digit).collect();
    // Only the conditions that apply are in the statement, so SQLite walks `contacts_list_order`
    // in order and stops after the page (a condition like `?1 = 0 OR ...` would defeat it).
    let mut sql =
        format!("SELECT {CONTACT_COLS}, {LIST_K1}, {LIST_K2}, {LIST_K3} FROM contacts WHERE 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if q.active_only {
        sql.push_str(&format!(" AND {LIST_K1} <= {LIST_ACTIVE_MAX}"));
    }
    match q.assignment {
        AssignmentFilter::All => {}
        // Unassigned means active chats with no agent (not idle contacts), everywhere.
        AssignmentFilter::Unassigned => sql.push_str(&format!(
            " AND assigned_agent_id IS NULL AND {LIST_K1} <= {LIST_ACTIVE_MAX}"
        )),
        AssignmentFilter::Agent(id) => {
            sql.push_str(" AND assigned_agent_id = ?");
            args.push(id.into());
        }
    }
    if !pattern.is_empty() {
        sql.push_str(
            " AND (profile_name LIKE ? ESCAPE '\\' OR registered_name LIKE ? ESCAPE '\\' \
             OR username LIKE ? ESCAPE '\\' OR user_id LIKE ? ESCAPE '\\'",
        );
        let like = escape_like(pattern);
        args.extend(std::iter::repeat_n(like.into(), 4));
        if !digits.is_empty() {
            sql.push_str(" OR phone LIKE ? ESCAPE '\\'");
            args.push(escape_like(&digits).into());
        }
        sql.push(')');
    }
    if let Some((a1, a2, a3, a4)) = after {
        sql.push_str(&format!(
            " AND ({LIST_K1}, {LIST_K2}, {LIST_K3}, id) > (?, ?, ?, ?)"
        ));
        args.extend([a1.into(), a2.into(), a3.into(), a4.into()]);
    }
    sql.push_str(&format!(
        " ORDER BY {LIST_K1}, {LIST_K2}, {LIST_K3}, id LIMIT ?"
    ));
    args.push((i64::from(q.page_size) + 1).into());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut items = Vec::new();
    let mut keys = Vec::new();
    while let Some(r) = rows.next()? {
        items.push(summary_from_row(r)?);
        keys.push((
            r.get::<_, i64>(23)?,
            r.get::<_, i64>(24)?,
            r.get::<_, i64>(25)?,
        ));
    }
    let mut next_token = String::new();
    if items.len() > q.page_size as usize {
        items.truncate(q.page_size as usize);
        if let (Some(last), Some(k)) = (items.last(), keys.get(q.page_size as usize - 1)) {
            next_token = encode_token(k.0, k.1, k.2, last.contact_id);
        }
    }
    Ok(Page { items, next_token })
}

impl Reads {
    /// The addresses of the contacts whose WhatsApp username is `name` (any case): none, one,
    /// or — when Meta gave a username up and another user took it — two (never more are read).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn addresses_by_username(
        &self,
        name: &str,
    ) -> Result<Vec<Address>, StoreError> {
        let name = name.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT phone, user_id FROM contacts WHERE username = ?1 COLLATE NOCASE
                 ORDER BY last_message_at DESC LIMIT 2",
            )?;
            let rows = stmt.query_map([name], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                match row? {
                    (Some(p), _) => out.push(Address::Phone(p)),
                    (None, Some(u)) => out.push(Address::UserId(u)),
                    (None, None) => {}
                }
            }
            Ok(out)
        })
        .await
    }
}

fn find(conn: &Connection, address: &Address) -> Result<Option<Summary>, StoreError> {
    let col = match address {
        Address::Phone(_) => "phone",
        Address::UserId(_) => "user_id",
    };
    let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE {col} = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([address.as_str()], summary_from_row)
        .optional()?)
}

fn thread(
    conn: &Connection,
    contact_id: i64,
    page_size: u32,
    before: i64,
) -> Result<(Vec<MessageRecord>, i64), StoreError> {
    let sql = format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE contact_id = ?1 AND (?2 = 0 OR id < ?2) ORDER BY id DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut msgs = stmt
        .query_map(
            params![contact_id, before, i64::from(page_size) + 1],
            message_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let more = msgs.len() > page_size as usize;
    msgs.truncate(page_size as usize);
    msgs.reverse();
    let next_before = if more {
        msgs.first().map_or(0, |m| m.id)
    } else {
        0
    };
    Ok((msgs, next_before))
}

/// The conversation of contact `id` (None once it was merged away), on the writer's
/// transaction or a read connection.
pub(super) fn summary_by_id(conn: &Connection, id: i64) -> Result<Option<Summary>, StoreError> {
    let sql = format!("SELECT {CONTACT_COLS} FROM contacts WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], summary_from_row)
        .optional()?)
}

fn events_after(conn: &Connection, after: i64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, payload, contact_id FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    let mut current: HashMap<i64, Option<Summary>> = HashMap::new();
    for row in rows {
        let (seq, at, payload, contact) = row?;
        out.push(shared::replay_event(
            (seq, at, &payload, contact),
            &mut current,
            |id| summary_by_id(conn, id),
        )?);
    }
    Ok(out)
}

impl Reads {
    /// A page of conversations.
    ///
    /// # Errors
    /// An invalid page token, or the database.
    pub(crate) async fn list_conversations(&self, q: ListQuery) -> Result<Page, StoreError> {
        self.read(move |c| list(c, &q)).await
    }

    /// A conversation's summary by phone or BSUID.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn find_conversation(
        &self,
        address: Address,
    ) -> Result<Option<Summary>, StoreError> {
        self.read(move |c| find(c, &address)).await
    }

    /// A conversation and one page of its thread (oldest first within the page), with the id
    /// to pass as `before` for the next older page (0 when there is none).
    ///
    /// # Errors
    /// `NotFound` for an unknown contact, or the database.
    pub(crate) async fn get_conversation(
        &self,
        address: Address,
        page_size: u32,
        before: i64,
    ) -> Result<(Summary, Vec<MessageRecord>, i64), StoreError> {
        self.read(move |c| {
            let summary = find(c, &address)?
                .ok_or_else(|| StoreError::NotFound(address.as_str().to_string()))?;
            let (msgs, next) = thread(c, summary.contact_id, page_size, before)?;
            Ok((summary, msgs, next))
        })
        .await
    }

    /// Messages of a contact with ids above `after_id`, oldest first.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn messages_after(
        &self,
        contact_id: i64,
        after_id: i64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {MESSAGE_COLS} FROM messages WHERE contact_id = ?1 AND id > ?2 ORDER BY id"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![contact_id, after_id], message_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Committed events after `seq`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The database, or a corrupt payload.
    pub(crate) async fn events_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(move |c| events_after(c, seq, limit)).await
    }

    /// The oldest sequence number still in the event log, and the newest (0, 0 when empty).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn event_bounds(&self) -> Result<(i64, i64), StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
    }

    /// The outbox rows that may be attempted now: for each recipient only its oldest open row
    /// (so a user's messages go out in order), oldest first.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn due_outbox(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.read(move |c| {
            // Walks the open rows oldest first (`outbox_open_id`), keeping each recipient's
            // oldest (`outbox_open` answers "is there an older one?"), and stops at `limit`:
            // the cost follows the page, not the backlog.
            let mut stmt = c.prepare_cached(
                "SELECT o.id, o.message_id, o.contact_id, o.payload, o.attempts FROM outbox o
                 WHERE o.state IN ('pending', 'inflight') AND o.next_attempt_at <= ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.contact_id = o.contact_id
                                   AND p.state IN ('pending', 'inflight') AND p.id < o.id)
                 ORDER BY o.id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now, limit], |r| {
                Ok(OutboxItem {
                    id: r.get(0)?,
                    message_id: r.get(1)?,
                    contact_id: r.get(2)?,
                    payload: r.get(3)?,
                    attempts: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// When the next row that [`due_outbox`](Self::due_outbox) can return becomes due, if any:
    /// only each recipient's oldest open row counts, and only while it waits (a row in flight,
    /// or a later row queued behind one, is not due; counting them made the sender poll).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn next_outbox_due(&self) -> Result<Option<Millis>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT MIN(o.next_attempt_at) FROM outbox o
                 WHERE o.state = 'pending'
                   AND o.id IN (SELECT MIN(id) FROM outbox WHERE state IN ('pending', 'inflight') GROUP BY contact_id)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// Gauges for metrics, read at scrape time (`agents_connected` is the store handle's).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn gauges(&self, now: Millis) -> Result<Gauges, StoreError> {
        self.read(move |c| {
            let active_chats = c.query_row("SELECT COUNT(*) FROM contacts WHERE chat_support_active = 1", [], |r| r.get(0))?;
            let (queued, in_flight, oldest): (i64, i64, Option<Millis>) = c.query_row(
                "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'inflight'), 0), MIN(created_at)
                 FROM outbox WHERE state IN ('pending', 'inflight')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let failed = c.query_row("SELECT COUNT(*) FROM outbox WHERE state = 'failed'", [], |r| r.get(0))?;
            let (waiting, oldest_wait): (i64, Option<Millis>) = c.query_row(
                "SELECT COUNT(*), MIN(started_at) FROM chat_sessions WHERE ended_at IS NULL AND first_response_at IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let agents_available = c.query_row("SELECT COUNT(*) FROM agents WHERE enabled = 1 AND available = 1", [], |r| r.get(0))?;
            let inbox_parked = c.query_row("SELECT COUNT(*) FROM inbox_parked", [], |r| r.get(0))?;
            Ok(Gauges {
                waiting,
                oldest_wait_ms: oldest_wait.map_or(0, |t| (now - t).max(0)),
                agents_available,
                agents_connected: 0,
                active_chats,
                outbox_queued: queued,
                outbox_in_flight: in_flight,
                outbox_failed: failed,
                outbox_oldest_age_ms: oldest.map_or(0, |t| (now - t).max(0)),
                inbox_pending: 0,
                inbox_oldest_age_ms: 0,
                inbox_parked,
                leader: 0,
            })
        })
        .await
    }
}

/// Whether inbox delivery `inbox_id` is processed, and its error when it was parked instead;
/// read from the file directly (the simulator, which waits for its delivery's replies).
///
/// # Errors
/// The database cannot be opened or read.
pub(crate) fn inbox_delivery_done(
    db: &std::path::Path,
    inbox_id: i64,
) -> Result<(bool, Option<String>), StoreError> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let through: i64 = conn.query_row(
        "SELECT processed_through FROM inbox_state WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    let parked: Option<String> = conn
        .query_row(
            "SELECT error FROM inbox_parked WHERE inbox_id = ?1",
            [inbox_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok((through >= inbox_id, parked))
}

/// The messages the bot or an agent sent after the inbound message `wamid`, up to the user's
/// next message, with their Cloud API bodies; read from the file directly (the simulator).
///
/// # Errors
/// The database cannot be opened or read.
pub(crate) fn replies_after_wamid(
    db: &std::path::Path,
    wamid: &str,
) -> Result<Vec<(MessageRecord, Option<String>)>, StoreError> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let anchor: Option<(i64, i64)> = conn
        .query_row(
            "SELECT id, contact_id FROM messages WHERE wamid = ?1",
            [wamid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((id, contact_id)) = anchor else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {MESSAGE_COLS}, (SELECT payload FROM outbox WHERE outbox.message_id = messages.id)
         FROM messages WHERE contact_id = ?1 AND id > ?2 ORDER BY id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![contact_id, id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let m = message_from_row(r)?;
        if m.sender == Sender::User {
            break;
        }
        out.push((m, r.get(14)?));
    }
    Ok(out)
}

impl Reads {
    /// Every active chat (ordered as the list) and the last event sequence they reflect, read
    /// in one snapshot so a stream can continue exactly after it.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn active_snapshot(&self) -> Result<(Vec<Summary>, i64), StoreError> {
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let result = (|| {
                let seq: i64 =
                    c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
                let mut items = Vec::new();
                let mut q = ListQuery {
                    active_only: true,
                    page_size: 500,
                    ..Default::default()
                };
                loop {
                    let page = list(c, &q)?;
                    items.extend(page.items);
                    if page.next_token.is_empty() {
                        break;
                    }
                    q.page_token = page.next_token;
                }
                Ok((items, seq))
            })();
            let _ = c.execute_batch("COMMIT");
            result
        })
        .await
    }
}

/// The Cloud API bodies of the last `limit` messages sent to the contact with this phone number
/// or BSUID, newest first; read from the file directly (the simulator, to pick a list row by the
/// title the bot sent). No such contact: none.
///
/// # Errors
/// The database cannot be opened or read.
pub(crate) fn recent_outbound_payloads(
    db: &std::path::Path,
    phone: Option<&str>,
    user_id: Option<&str>,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let mut stmt = conn.prepare(
        "SELECT o.payload FROM outbox o JOIN contacts c ON c.id = o.contact_id
         WHERE o.kind = 'message' AND (c.phone = ?1 OR c.user_id = ?2)
         ORDER BY o.id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![phone, user_id, limit], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<String>, _>>()?)
}
