//! The event log's rows on PostgreSQL: what an event row holds, and reading the log after a
//! number (replays, and the follower that publishes other daemons' commits).

use std::collections::HashMap;

use super::conn::Conn;
use super::rows::summary_by_id;
use crate::storage::shared::replay_event;
use crate::storage::{StoreError, StoredEvent, Summary};

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
        out.push(replay_event(
            (seq, at, payload, contact),
            &mut current,
            |id| summary_by_id(conn, id),
        )?);
    }
    Ok(out)
}
