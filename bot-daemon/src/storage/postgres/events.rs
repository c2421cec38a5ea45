//! The event log's rows on PostgreSQL: what an event row holds, and reading the log after a
//! number (replays, and the follower that publishes other daemons' commits).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::conn::Conn;
use super::rows::summary_by_id;
use crate::storage::{EventKind, StoreError, StoredEvent, Summary};

/// An event row's payload: what happened (the conversation is read from the contact).
#[derive(Serialize)]
pub(crate) struct EventPayload<'a> {
    pub(crate) kind: &'a EventKind,
}

/// An event row's payload as read back. Rows copied from a SQLite desk written before issue 15
/// carry the conversation's summary as it was then.
#[derive(Deserialize)]
struct EventPayloadOwned {
    #[serde(default)]
    summary: Option<Summary>,
    kind: EventKind,
}

/// Committed events after `after`, oldest first, at most `limit`, each with its conversation
/// as it is now (read once per contact in the page).
pub(crate) fn events_after(
    conn: &mut Conn,
    after: i64,
    limit: u32,
) -> Result<Vec<StoredEvent>, StoreError> {
    let limit = i64::from(limit);
    let rows = conn.query(
        "SELECT seq, at, payload, contact_id FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&after, &limit],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    let mut current: HashMap<i64, Option<Summary>> = HashMap::new();
    for r in rows {
        let (seq, at, payload, contact): (i64, i64, &str, Option<i64>) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let p: EventPayloadOwned = serde_json::from_str(payload)?;
        let summary = match (p.summary, contact) {
            (Some(s), _) => Some(s),
            (None, None) => None,
            (None, Some(id)) => match current.get(&id) {
                Some(s) => s.clone(),
                None => {
                    let s = summary_by_id(conn, id)?;
                    current.insert(id, s.clone());
                    s
                }
            },
        };
        out.push(StoredEvent {
            seq,
            at,
            summary,
            kind: p.kind,
        });
    }
    Ok(out)
}
