//! Reads for a program beside the daemon (the simulator) on its own short connection, as
//! `sqlite/read.rs` reads a SQLite desk's file directly: whether a delivery is processed, the
//! replies to a message, the recent bodies sent to a user.

use super::conn::Conn;
use super::rows::{message_cols, message_from_row};
use crate::domain::Sender;
use crate::storage::{MessageRecord, StoreError};

/// Whether inbox delivery `inbox_id` is processed, and its error when it was parked instead.
///
/// # Errors
/// The database cannot be reached or read.
pub(crate) fn inbox_delivery_done(
    url: &str,
    inbox_id: i64,
) -> Result<(bool, Option<String>), StoreError> {
    let mut c = Conn::connect(url)?;
    let through: i64 = c
        .query_one(
            "SELECT processed_through FROM inbox_state WHERE id = 1",
            &[],
        )?
        .try_get(0)?;
    let parked: Option<String> = c
        .query_opt(
            "SELECT error FROM inbox_parked WHERE inbox_id = $1",
            &[&inbox_id],
        )?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok((through >= inbox_id, parked))
}

/// The messages the bot or an agent sent after the inbound message `wamid`, up to the user's
/// next message, with their Cloud API bodies.
///
/// # Errors
/// The database cannot be reached or read.
pub(crate) fn replies_after_wamid(
    url: &str,
    wamid: &str,
) -> Result<Vec<(MessageRecord, Option<String>)>, StoreError> {
    let mut c = Conn::connect(url)?;
    let Some(anchor) = c.query_opt(
        "SELECT id, contact_id FROM messages WHERE wamid = $1",
        &[&wamid],
    )?
    else {
        return Ok(Vec::new());
    };
    let (id, contact_id): (i64, i64) = (anchor.try_get(0)?, anchor.try_get(1)?);
    let rows = c.query(
        concat!(
            "SELECT ",
            message_cols!(),
            ", (SELECT payload FROM outbox WHERE outbox.message_id = messages.id)
             FROM messages WHERE contact_id = $1 AND id > $2 ORDER BY id"
        ),
        &[&contact_id, &id],
    )?;
    let mut out = Vec::new();
    for r in rows {
        let m = message_from_row(&r)?;
        if m.sender == Sender::User {
            break;
        }
        out.push((m, r.try_get(14)?));
    }
    Ok(out)
}

/// The Cloud API bodies most recently queued for the user with this phone or BSUID, newest
/// first.
///
/// # Errors
/// The database cannot be reached or read.
pub(crate) fn recent_outbound_payloads(
    url: &str,
    phone: Option<&str>,
    user_id: Option<&str>,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let mut c = Conn::connect(url)?;
    let rows = c.query(
        "SELECT o.payload FROM outbox o JOIN contacts c ON c.id = o.contact_id
         WHERE o.kind = 'message' AND (c.phone = $1::text OR c.user_id = $2::text)
         ORDER BY o.id DESC LIMIT $3",
        &[&phone, &user_id, &i64::from(limit)],
    )?;
    rows.iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect::<Result<Vec<String>, StoreError>>()
}
