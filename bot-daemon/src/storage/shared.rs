//! What both backends do alike without SQL: the conversations list's page tokens and search
//! patterns, an event row's payload and its replay, a survey's stage from its row, the summary's
//! derived fields, a stored message's record, and a panic's message. Each backend keeps only its
//! SQL and its driver's types.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{
    ContactRecord, EventKind, LastMessage, MessageRecord, NewMessage, StoreError, StoredEvent,
    Summary,
};
use crate::domain::{Millis, Sender, SurveyStage};

/// A conversations list's page token: the last row's sort keys and id, the same on both
/// backends (a console's token means the same position on either).
pub(super) fn encode_token(k1: i64, k2: i64, k3: i64, id: i64) -> String {
    hex::encode(format!("v3:{k1}:{k2}:{k3}:{id}"))
}

/// [`encode_token`] read back.
///
/// # Errors
/// `BadToken` for a token this server did not issue.
pub(super) fn decode_token(token: &str) -> Result<(i64, i64, i64, i64), StoreError> {
    let bad = || {
        StoreError::BadToken(format!(
            "page_token {token:?} is not a token this server issued"
        ))
    };
    let raw = hex::decode(token).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let mut it = s.split(':');
    if it.next() != Some("v3") {
        return Err(bad());
    }
    let mut num =
        || -> Result<i64, StoreError> { it.next().and_then(|p| p.parse().ok()).ok_or_else(bad) };
    Ok((num()?, num()?, num()?, num()?))
}

/// `%q%` for `LIKE … ESCAPE '\'`, with `%`, `_` and `\` in `q` taken literally.
pub(super) fn escape_like(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// An event row's payload: what happened. The conversation's summary is not stored with it
/// (it was, until issue 15: ~half of every event row); a replay reads it from the contact.
#[derive(Serialize)]
pub(super) struct EventPayload<'a> {
    pub(super) kind: &'a EventKind,
}

/// An event row's payload as read back. Rows written before issue 15 (or copied from such a
/// desk) carry the conversation's summary as it was then.
#[derive(Deserialize)]
struct EventPayloadOwned {
    #[serde(default)]
    summary: Option<Summary>,
    kind: EventKind,
}

/// Replays one event row: its payload, with the conversation as it is now for a row that
/// stored none (`summary_of`, read once per contact through `current`).
///
/// # Errors
/// A corrupt payload, or `summary_of`'s.
pub(super) fn replay_event(
    (seq, at, payload, contact): (i64, Millis, &str, Option<i64>),
    current: &mut HashMap<i64, Option<Summary>>,
    mut summary_of: impl FnMut(i64) -> Result<Option<Summary>, StoreError>,
) -> Result<StoredEvent, StoreError> {
    let p: EventPayloadOwned = serde_json::from_str(payload)?;
    let summary = match (p.summary, contact) {
        (Some(s), _) => Some(s),
        (None, None) => None,
        (None, Some(id)) => match current.get(&id) {
            Some(s) => s.clone(),
            None => {
                let s = summary_of(id)?;
                current.insert(id, s.clone());
                s
            }
        },
    };
    Ok(StoredEvent {
        seq,
        at,
        summary,
        kind: p.kind,
    })
}

/// A survey's stage from its row's `state` and `rating`.
pub(super) fn survey_stage(state: &str, rating: Option<i64>) -> SurveyStage {
    match (state, rating) {
        ("asked", _) => SurveyStage::AwaitingRating,
        ("rated", _) => SurveyStage::AwaitingComment,
        (_, Some(_)) => SurveyStage::Rated,
        _ => SurveyStage::Closed,
    }
}

/// The conversation's last message from its summary columns (none until all three are set).
pub(super) fn last_message(
    text: Option<String>,
    sender: Option<String>,
    at: Option<Millis>,
) -> Option<LastMessage> {
    match (text, sender, at) {
        (Some(text), Some(sender), Some(timestamp)) => Some(LastMessage {
            text,
            sender: Sender::parse(&sender),
            timestamp,
        }),
        _ => None,
    }
}

/// The name a conversation shows: the registered name, else WhatsApp's profile name, else the
/// username, else the phone or BSUID.
pub(super) fn display_name(c: &ContactRecord) -> String {
    [&c.registered_name, &c.profile_name, &c.username]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| c.address().as_str().to_string())
}

/// A count column as the summary holds it.
pub(super) fn count(n: i64) -> u32 {
    n.clamp(0, i64::from(u32::MAX)) as u32
}

/// The record of a message just stored with row id `id`, from the values written (no re-read;
/// an agent's message is read back instead, for the agent's name).
pub(super) fn inserted_message(m: &NewMessage, id: i64) -> MessageRecord {
    MessageRecord {
        id,
        contact_id: m.contact_id,
        session_id: m.session_id,
        sender: m.sender,
        kind: m.kind.clone(),
        text: m.text.clone(),
        media_id: m.media_id.clone(),
        wamid: m.wamid.clone(),
        timestamp: m.timestamp,
        status: m.status,
        error_code: None,
        error_message: None,
        agent_id: None,
        agent_name: None,
    }
}

/// What a caught panic says, for the delivery's error.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
