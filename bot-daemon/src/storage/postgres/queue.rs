//! PostgreSQL's support queue and inactivity timers ([`QueueTx`]): a session waits in the
//! queue from its start until its first agent reply (`chat_sessions.first_response_at`), in the
//! desk's one order: priority, then waiting since (the start), then the session id.

use super::PgTx;
use crate::domain::Millis;
use crate::storage::{QueueTx, StoreError};

impl QueueTx for PgTx<'_> {
    fn queue_position(&self, session_id: i64, cap: u32) -> Result<Option<u32>, StoreError> {
        let Some(me) = self.query_opt(
            "SELECT priority, started_at, id FROM chat_sessions
             WHERE id = $1 AND ended_at IS NULL AND first_response_at IS NULL",
            &[&session_id],
        )?
        else {
            return Ok(None);
        };
        let (priority, started_at, id): (i64, Millis, i64) =
            (me.try_get(0)?, me.try_get(1)?, me.try_get(2)?);
        let cap = i64::from(cap);
        // Two ranges of the `chat_sessions_queue` index (priority, started_at, id): the higher
        // priorities, then mine up to me (one range each, not an `OR` of the orderings, which
        // made SQLite scan the whole queue: docs/benchmarks.md). Each stops after `cap + 1`
        // entries: bounded work per message, whatever the queue's length.
        let n: i64 = self
            .query_one(
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM chat_sessions
                         WHERE ended_at IS NULL AND first_response_at IS NULL AND priority > $1::bigint
                         LIMIT $4::bigint) AS higher)
                      + (SELECT COUNT(*) FROM (SELECT 1 FROM chat_sessions
                         WHERE ended_at IS NULL AND first_response_at IS NULL
                           AND priority = $1::bigint AND (started_at, id) <= ($2::bigint, $3::bigint)
                         LIMIT $4::bigint + 1) AS mine)",
                &[&priority, &started_at, &id, &cap],
            )?
            .try_get(0)?;
        Ok(Some(n.clamp(1, cap + 1) as u32))
    }

    fn session_answered(&self, session_id: i64) -> Result<bool, StoreError> {
        let answered: Option<bool> = self
            .query_opt(
                "SELECT first_response_at IS NOT NULL FROM chat_sessions WHERE id = $1",
                &[&session_id],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        Ok(answered.unwrap_or(false))
    }

    fn waiting_count(&self, cap: u32) -> Result<u32, StoreError> {
        let cap = i64::from(cap);
        // The queue's own index: its predicate is that partial index's, so the planner reads
        // it without being told (SQLite needed `INDEXED BY`).
        let n: i64 = self
            .query_one(
                "SELECT COUNT(*) FROM (SELECT 1 FROM chat_sessions
                 WHERE ended_at IS NULL AND first_response_at IS NULL LIMIT $1::bigint) AS waiting",
                &[&cap],
            )?
            .try_get(0)?;
        Ok(n.clamp(0, cap) as u32)
    }

    fn recent_first_responses(&self, since: Millis, limit: u32) -> Result<Vec<Millis>, StoreError> {
        let limit = i64::from(limit);
        self.query(
            "SELECT first_response_at - started_at FROM chat_sessions
             WHERE first_response_at IS NOT NULL AND first_response_at >= $1
             ORDER BY first_response_at DESC LIMIT $2",
            &[&since, &limit],
        )?
        .iter()
        .map(|r| Ok(r.try_get::<_, Millis>(0)?.max(0)))
        .collect()
    }

    fn quiet_chats(&self, quiet_since: Millis, limit: u32) -> Result<Vec<i64>, StoreError> {
        let limit = i64::from(limit);
        self.query(
            "SELECT id FROM contacts
             WHERE chat_support_active
               AND COALESCE(chat_last_message_time, chat_started_at, 0) <= $1::bigint
             ORDER BY COALESCE(chat_last_message_time, chat_started_at, 0), id LIMIT $2",
            &[&quiet_since, &limit],
        )?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }

    fn chats_to_remind(&self, quiet_since: Millis, limit: u32) -> Result<Vec<i64>, StoreError> {
        let limit = i64::from(limit);
        self.query(
            "SELECT c.id FROM contacts c JOIN chat_sessions s ON s.id = c.current_session_id
             WHERE c.chat_support_active AND s.ended_at IS NULL
               AND COALESCE(c.chat_last_message_time, c.chat_started_at, 0) <= $1::bigint
               AND (s.reminded_at IS NULL
                    OR s.reminded_at < COALESCE(c.chat_last_message_time, c.chat_started_at, 0))
             ORDER BY COALESCE(c.chat_last_message_time, c.chat_started_at, 0), c.id LIMIT $2",
            &[&quiet_since, &limit],
        )?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }

    fn mark_reminded(&self, session_id: i64, now: Millis) -> Result<(), StoreError> {
        self.execute(
            "UPDATE chat_sessions SET reminded_at = $2 WHERE id = $1",
            &[&session_id, &now],
        )?;
        Ok(())
    }
}
