//! The row mappers and column lists shared by the writer's transaction and the reads, in the
//! same column order as the SQLite backend's (`sqlite/read.rs`).

use postgres::Row;

use super::conn::Conn;
use crate::storage::shared;
use crate::storage::{ContactRecord, MessageRecord, StoreError, Summary};
use crate::{
    desk::Priority,
    domain::{ContactKind, DeliveryStatus, Millis, Sender, State},
};

/// A conversation's columns (the 13 of [`contact_from_row`], then the summary's).
macro_rules! contact_cols {
    () => {
        "id, user_id, phone, username, profile_name, registered_name, kind, state, \
         chat_support_active, chat_last_message_time, current_session_id, chat_started_at, last_inbound_at, \
         last_message_text, last_message_sender, last_message_at, message_count, unread_count, waiting_since, \
         assigned_agent_id, priority, (SELECT a.name FROM agents a WHERE a.id = contacts.assigned_agent_id), \
         (SELECT s.first_response_at FROM chat_sessions s WHERE s.id = contacts.current_session_id AND s.ended_at IS NULL)"
    };
}
pub(crate) use contact_cols;

/// A message's columns, for [`message_from_row`].
macro_rules! message_cols {
    () => {
        "id, contact_id, session_id, sender, kind, text, media_id, wamid, \
         timestamp, status, error_code, error_message, agent_id, \
         (SELECT a.name FROM agents a WHERE a.id = messages.agent_id)"
    };
}
pub(crate) use message_cols;

/// The contact columns the writer's logic reads: the 13 of [`contact_from_row`], then
/// `parent_user_id`, without the summary's subqueries.
macro_rules! contact_core_cols {
    () => {
        "id, user_id, phone, username, profile_name, registered_name, kind, state, \
         chat_support_active, chat_last_message_time, current_session_id, chat_started_at, last_inbound_at, \
         parent_user_id"
    };
}
pub(crate) use contact_core_cols;

/// Marks an escape in text stored on PostgreSQL (a noncharacter, never in real text).
const ESCAPE: char = '\u{FFFE}';

/// Text as PostgreSQL can store it: its `text` cannot hold U+0000, which users can send and
/// which is kept exactly as written (as on SQLite). U+0000 is stored as [`ESCAPE`] `0`, and
/// [`ESCAPE`] itself doubled; [`from_pg`] undoes it. Text without either is passed as is.
pub(crate) fn to_pg(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['\0', ESCAPE]) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '\0' => {
                out.push(ESCAPE);
                out.push('0');
            }
            ESCAPE => {
                out.push(ESCAPE);
                out.push(ESCAPE);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`to_pg`] undone.
pub(crate) fn from_pg(s: String) -> String {
    if !s.contains(ESCAPE) {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != ESCAPE {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('\0'),
            Some(ESCAPE) => out.push(ESCAPE),
            Some(other) => {
                out.push(ESCAPE);
                out.push(other);
            }
            None => out.push(ESCAPE),
        }
    }
    out
}

/// [`to_pg`] of an optional text.
pub(crate) fn to_pg_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(|s| to_pg(s).into_owned())
}

/// [`from_pg`] of an optional text.
pub(crate) fn from_pg_opt(s: Option<String>) -> Option<String> {
    s.map(from_pg)
}

pub(crate) fn contact_from_row(r: &Row) -> Result<ContactRecord, StoreError> {
    Ok(ContactRecord {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        phone: r.try_get(2)?,
        username: r.try_get(3)?,
        profile_name: from_pg_opt(r.try_get(4)?),
        registered_name: from_pg_opt(r.try_get(5)?),
        kind: ContactKind::parse(r.try_get::<_, &str>(6)?),
        state: State::parse(r.try_get::<_, &str>(7)?),
        chat_support_active: r.try_get(8)?,
        chat_last_message_time: r.try_get(9)?,
        current_session_id: r.try_get(10)?,
        chat_started_at: r.try_get(11)?,
        last_inbound_at: r.try_get(12)?,
    })
}

pub(crate) fn summary_from_row(r: &Row) -> Result<Summary, StoreError> {
    let c = contact_from_row(r)?;
    let last_text: Option<String> = from_pg_opt(r.try_get(13)?);
    let last_sender: Option<String> = r.try_get(14)?;
    let last_at: Option<Millis> = r.try_get(15)?;
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
        message_count: shared::count(r.try_get(16)?),
        chat_started_at: c.chat_started_at,
        waiting_since: r.try_get(18)?,
        unread_count: shared::count(r.try_get(17)?),
        chat_session_id: c.current_session_id,
        last_inbound_at: c.last_inbound_at,
        assigned_agent_id: r.try_get(19)?,
        priority: Priority::from_i64(r.try_get(20)?),
        assigned_agent: r.try_get(21)?,
        first_response_at: r.try_get(22)?,
    })
}

pub(crate) fn message_from_row(r: &Row) -> Result<MessageRecord, StoreError> {
    Ok(MessageRecord {
        id: r.try_get(0)?,
        contact_id: r.try_get(1)?,
        session_id: r.try_get(2)?,
        sender: Sender::parse(r.try_get::<_, &str>(3)?),
        kind: r.try_get(4)?,
        text: from_pg(r.try_get(5)?),
        media_id: r.try_get(6)?,
        wamid: r.try_get(7)?,
        timestamp: r.try_get(8)?,
        status: DeliveryStatus::parse(r.try_get::<_, &str>(9)?).unwrap_or(DeliveryStatus::Pending),
        error_code: r.try_get(10)?,
        error_message: r.try_get(11)?,
        agent_id: r.try_get(12)?,
        agent_name: r.try_get(13)?,
    })
}

/// The conversation of contact `id` (None once it was merged away), on the writer's
/// transaction or a read connection.
pub(crate) fn summary_by_id(conn: &mut Conn, id: i64) -> Result<Option<Summary>, StoreError> {
    conn.query_opt(
        concat!("SELECT ", contact_cols!(), " FROM contacts WHERE id = $1"),
        &[&id],
    )?
    .map(|r| summary_from_row(&r))
    .transpose()
}
