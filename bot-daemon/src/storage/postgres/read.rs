//! Read queries on PostgreSQL (lists, threads, the outbox queue, the event log), the
//! counterpart of the SQLite backend's `sqlite/read.rs`. They run on the read pool's
//! connections, off the async runtime; the row mappers they share with the writer are in
//! `rows.rs`, the event log's reading in `events.rs`.

use postgres::types::ToSql;

use super::conn::Conn;
use super::rows::{contact_cols, message_cols, message_from_row, summary_from_row};
use super::store::Reads;
use crate::storage::{
    Gauges, ListQuery, MessageRecord, OutboxItem, Page, StoreError, StoredEvent, Summary,
};
use crate::{
    desk::AssignmentFilter,
    domain::{Address, Millis},
};

// Sort key: active chats first, highest priority first (rank 0 urgent .. 3 low; everyone else
// 4), then longest-waiting first (answered ones after the waiting ones), then everyone else by
// most recent activity; among active chats the session id, then the id, break ties so pages
// are stable. The schema indexes exactly these expressions (`contacts_list_order` in
// schema.rs): keep them identical.
pub(super) const LIST_K1: &str = "(CASE WHEN chat_support_active THEN 3 - priority ELSE 4 END)";
/// Ranks at or below this are active chats.
const LIST_ACTIVE_MAX: i64 = 3;
pub(super) const LIST_K2: &str = "(CASE WHEN chat_support_active THEN COALESCE(waiting_since, 4000000000000000 + COALESCE(chat_started_at, 0)) \
    ELSE -COALESCE(last_message_at, 0) END)";
/// Equal waits (chats started in the same second) go by session id, as in the queue.
pub(super) const LIST_K3: &str =
    "(CASE WHEN chat_support_active THEN COALESCE(current_session_id, 0) ELSE 0 END)";

use crate::storage::shared::{decode_token, encode_token, escape_like};

/// A statement's parameters built at run time, numbered `$1`, `$2`, … in push order.
#[derive(Default)]
struct Args(Vec<Box<dyn ToSql + Sync + Send>>);

impl Args {
    /// Adds `v`; its placeholder (`$n`).
    fn push(&mut self, v: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(v));
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|b| b.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

fn list(conn: &mut Conn, q: &ListQuery) -> Result<Page, StoreError> {
    let after = if q.page_token.is_empty() {
        None
    } else {
        Some(decode_token(&q.page_token)?)
    };
    // "@uche" finds the username the console shows as @uche.k.
    let pattern = q.query.trim();
    let pattern = pattern.strip_prefix('@').unwrap_or(pattern);
    let digits: String = pattern.chars().filter(char::is_ascii_digit).collect();
    // Only the conditions that apply are in the statement, so PostgreSQL walks
    // `contacts_list_order` in order and stops after the page (a condition like
    // `$1 = 0 OR ...` would defeat it).
    let mut sql = format!(
        "SELECT {}, {LIST_K1}, {LIST_K2}, {LIST_K3} FROM contacts WHERE TRUE",
        contact_cols!()
    );
    let mut args = Args::default();
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
            let p = args.push(id);
            sql.push_str(&format!(" AND assigned_agent_id = {p}::bigint"));
        }
    }
    if !pattern.is_empty() {
        // SQLite's LIKE ignores case: ILIKE here (the phone's digits have none).
        let like = escape_like(pattern);
        let p = args.push(like);
        sql.push_str(&format!(
            " AND (profile_name ILIKE {p}::text ESCAPE '\\' OR registered_name ILIKE {p}::text ESCAPE '\\' \
             OR username ILIKE {p}::text ESCAPE '\\' OR user_id ILIKE {p}::text ESCAPE '\\'"
        ));
        if !digits.is_empty() {
            let d = args.push(escape_like(&digits));
            sql.push_str(&format!(" OR phone LIKE {d}::text ESCAPE '\\'"));
        }
        sql.push(')');
    }
    if let Some((a1, a2, a3, a4)) = after {
        let (p1, p2, p3, p4) = (args.push(a1), args.push(a2), args.push(a3), args.push(a4));
        sql.push_str(&format!(
            " AND ({LIST_K1}, {LIST_K2}, {LIST_K3}, id) > ({p1}::bigint, {p2}::bigint, {p3}::bigint, {p4}::bigint)"
        ));
    }
    let limit = args.push(i64::from(q.page_size) + 1);
    sql.push_str(&format!(
        " ORDER BY {LIST_K1}, {LIST_K2}, {LIST_K3}, id LIMIT {limit}::bigint"
    ));
    let rows = conn.query_dynamic(&sql, &args.refs())?;
    let mut items = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(summary_from_row(r)?);
        keys.push((
            r.try_get::<_, i64>(23)?,
            r.try_get::<_, i64>(24)?,
            r.try_get::<_, i64>(25)?,
        ));
    }
    let mut next_token = String::new();
    let page_size = q.page_size as usize;
    if items.len() > page_size {
        items.truncate(page_size);
        let key = page_size.checked_sub(1).and_then(|i| keys.get(i));
        if let (Some(last), Some(k)) = (items.last(), key) {
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
        self.read(move |c: &mut Conn| {
            // NULLS LAST: SQLite's DESC order puts contacts without messages last.
            let rows = c.query(
                "SELECT phone, user_id FROM contacts
                 WHERE username IS NOT NULL AND lower(username) = lower($1::text)
                 ORDER BY last_message_at DESC NULLS LAST LIMIT 2",
                &[&name],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let phone: Option<String> = r.try_get(0)?;
                let user_id: Option<String> = r.try_get(1)?;
                match (phone, user_id) {
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

fn find(conn: &mut Conn, address: &Address) -> Result<Option<Summary>, StoreError> {
    let sql = match address {
        Address::Phone(_) => concat!(
            "SELECT ",
            contact_cols!(),
            " FROM contacts WHERE phone = $1"
        ),
        Address::UserId(_) => {
            concat!(
                "SELECT ",
                contact_cols!(),
                " FROM contacts WHERE user_id = $1"
            )
        }
    };
    let key = address.as_str();
    conn.query_opt(sql, &[&key])?
        .map(|r| summary_from_row(&r))
        .transpose()
}

fn thread(
    conn: &mut Conn,
    contact_id: i64,
    page_size: u32,
    before: i64,
) -> Result<(Vec<MessageRecord>, i64), StoreError> {
    let limit = i64::from(page_size) + 1;
    // Two statements rather than `($2 = 0 OR id < $2)`, which a generic plan cannot turn
    // into a range on `messages_contact`.
    let rows = if before == 0 {
        conn.query(
            concat!(
                "SELECT ",
                message_cols!(),
                " FROM messages WHERE contact_id = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[&contact_id, &limit],
        )?
    } else {
        conn.query(
            concat!(
                "SELECT ",
                message_cols!(),
                " FROM messages WHERE contact_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
            ),
            &[&contact_id, &before, &limit],
        )?
    };
    let mut msgs = rows
        .iter()
        .map(message_from_row)
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

impl Reads {
    /// A page of conversations.
    ///
    /// # Errors
    /// An invalid page token, or the database.
    pub(crate) async fn list_conversations(&self, q: ListQuery) -> Result<Page, StoreError> {
        self.read(move |c: &mut Conn| list(c, &q)).await
    }

    /// A conversation's summary by phone or BSUID.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn find_conversation(
        &self,
        address: Address,
    ) -> Result<Option<Summary>, StoreError> {
        self.read(move |c: &mut Conn| find(c, &address)).await
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
        self.read(move |c: &mut Conn| {
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
        self.read(move |c: &mut Conn| {
            let rows = c.query(
                concat!(
                    "SELECT ",
                    message_cols!(),
                    " FROM messages WHERE contact_id = $1 AND id > $2 ORDER BY id"
                ),
                &[&contact_id, &after_id],
            )?;
            rows.iter().map(message_from_row).collect()
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
        self.read(move |c: &mut Conn| super::events::events_after(c, seq, limit))
            .await
    }

    /// The oldest sequence number still in the event log, and the newest (0, 0 when empty).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn event_bounds(&self) -> Result<(i64, i64), StoreError> {
        self.read(|c: &mut Conn| {
            let r = c.query_one(
                "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM events",
                &[],
            )?;
            Ok((r.try_get(0)?, r.try_get(1)?))
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
        let limit = i64::from(limit);
        self.read(move |c: &mut Conn| {
            // Walks the open rows oldest first (`outbox_open_id`), keeping each recipient's
            // oldest (`outbox_open` answers "is there an older one?"), and stops at `limit`:
            // the cost follows the page, not the backlog.
            let rows = c.query(
                "SELECT o.id, o.message_id, o.contact_id, o.payload, o.attempts FROM outbox o
                 WHERE o.state IN ('pending', 'inflight') AND o.next_attempt_at <= $1
                   AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.contact_id = o.contact_id
                                   AND p.state IN ('pending', 'inflight') AND p.id < o.id)
                 ORDER BY o.id LIMIT $2",
                &[&now, &limit],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(OutboxItem {
                        id: r.try_get(0)?,
                        message_id: r.try_get(1)?,
                        contact_id: r.try_get(2)?,
                        payload: r.try_get(3)?,
                        attempts: r.try_get(4)?,
                    })
                })
                .collect()
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
        self.read(|c: &mut Conn| {
            let r = c.query_one(
                "SELECT MIN(o.next_attempt_at) FROM outbox o
                 WHERE o.state = 'pending'
                   AND o.id IN (SELECT MIN(id) FROM outbox WHERE state IN ('pending', 'inflight') GROUP BY contact_id)",
                &[],
            )?;
            Ok(r.try_get(0)?)
        })
        .await
    }

    /// Gauges for metrics, read at scrape time (`agents_connected` is the store handle's).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn gauges(&self, now: Millis) -> Result<Gauges, StoreError> {
        self.read(move |c: &mut Conn| {
            // One statement (one round trip, one snapshot) for what SQLite reads in six.
            let r = c.query_one(
                "SELECT (SELECT COUNT(*) FROM contacts WHERE chat_support_active),
                        o.queued, o.in_flight, o.oldest,
                        (SELECT COUNT(*) FROM outbox WHERE state = 'failed'),
                        w.waiting, w.oldest_wait,
                        (SELECT COUNT(*) FROM agents WHERE enabled AND available),
                        (SELECT COUNT(*) FROM inbox_parked)
                 FROM (SELECT COUNT(*) FILTER (WHERE state = 'pending') AS queued,
                              COUNT(*) FILTER (WHERE state = 'inflight') AS in_flight,
                              MIN(created_at) AS oldest
                       FROM outbox WHERE state IN ('pending', 'inflight')) o,
                      (SELECT COUNT(*) AS waiting, MIN(started_at) AS oldest_wait
                       FROM chat_sessions WHERE ended_at IS NULL AND first_response_at IS NULL) w",
                &[],
            )?;
            let active_chats: i64 = r.try_get(0)?;
            let queued: i64 = r.try_get(1)?;
            let in_flight: i64 = r.try_get(2)?;
            let oldest: Option<Millis> = r.try_get(3)?;
            let failed: i64 = r.try_get(4)?;
            let waiting: i64 = r.try_get(5)?;
            let oldest_wait: Option<Millis> = r.try_get(6)?;
            let agents_available: i64 = r.try_get(7)?;
            let inbox_parked: i64 = r.try_get(8)?;
            Ok(Gauges {
                waiting,
                oldest_wait_ms: oldest_wait.map_or(0, |t| now.saturating_sub(t).max(0)),
                agents_available,
                agents_connected: 0,
                active_chats,
                outbox_queued: queued,
                outbox_in_flight: in_flight,
                outbox_failed: failed,
                outbox_oldest_age_ms: oldest.map_or(0, |t| now.saturating_sub(t).max(0)),
                inbox_pending: 0,
                inbox_oldest_age_ms: 0,
                inbox_parked,
                leader: 0,
            })
        })
        .await
    }

    /// Every active chat (ordered as the list) and the last event sequence they reflect, read
    /// in one snapshot so a stream can continue exactly after it.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn active_snapshot(&self) -> Result<(Vec<Summary>, i64), StoreError> {
        self.read(|c: &mut Conn| {
            c.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let result = (|| {
                // The sequencer's last number: every event up to it is committed and visible
                // in this snapshot, and none after it is (numbers are taken at commit).
                let seq: i64 = c
                    .query_one("SELECT last FROM event_seq WHERE id = 1", &[])?
                    .try_get(0)?;
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
            match result {
                Ok(v) => {
                    c.batch("COMMIT")?;
                    Ok(v)
                }
                Err(e) => {
                    let _ = c.batch("ROLLBACK");
                    Err(e)
                }
            }
        })
        .await
    }
}
