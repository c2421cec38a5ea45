//! SQLite's support queue and inactivity timers ([`QueueTx`]): a session waits in the
//! queue from its start until its first agent reply (`chat_sessions.first_response_at`), in the
//! desk's one order: priority, then waiting since (the start), then the session id.

use rusqlite::{params, OptionalExtension};

use super::SqliteTx;
use crate::domain::Millis;
use crate::storage::{QueueTx, StoreError};

impl QueueTx for SqliteTx<'_> {
    fn queue_position(&self, session_id: i64, cap: u32) -> Result<Option<u32>, StoreError> {
        let me: Option<(i64, Millis, i64)> = self
            .conn()
            .prepare_cached(
                "SELECT priority, started_at, id FROM chat_sessions
                 WHERE id = ?1 AND ended_at IS NULL AND first_response_at IS NULL",
            )?
            .query_row([session_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((priority, started_at, id)) = me else {
            return Ok(None);
        };
        // Two ranges of the `chat_sessions_queue` index (priority, started_at, id), counted
        // without touching the table: the higher priorities, then mine up to me (an `OR` of
        // the orderings made SQLite scan the whole queue: docs/benchmarks.md). Each stops
        // after `cap + 1` entries: bounded work per message, whatever the queue's length.
        let n: i64 = self
            .conn()
            .prepare_cached(
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM chat_sessions
                         WHERE ended_at IS NULL AND first_response_at IS NULL AND priority > ?1
                         LIMIT ?4))
                      + (SELECT COUNT(*) FROM (SELECT 1 FROM chat_sessions
                         WHERE ended_at IS NULL AND first_response_at IS NULL
                           AND priority = ?1 AND (started_at, id) <= (?2, ?3)
                         LIMIT ?4 + 1))",
            )?
            .query_row(params![priority, started_at, id, i64::from(cap)], |r| {
                r.get(0)
            })?;
        Ok(Some(n.clamp(1, i64::from(cap) + 1) as u32))
    }

    fn session_answered(&self, session_id: i64) -> Result<bool, StoreError> {
        let answered: Option<bool> = self
            .conn()
            .prepare_cached(
                "SELECT first_response_at IS NOT NULL FROM chat_sessions WHERE id = ?1",
            )?
            .query_row([session_id], |r| r.get(0))
            .optional()?;
        Ok(answered.unwrap_or(false))
    }

    fn waiting_count(&self, cap: u32) -> Result<u32, StoreError> {
        let n: i64 = self
            .conn()
            .prepare_cached(
                // The queue's own index, read alone: left to itself the planner walks the open
                // sessions' index and reads each session's row to test `first_response_at`.
                "SELECT COUNT(*) FROM (SELECT 1 FROM chat_sessions INDEXED BY chat_sessions_queue
                 WHERE ended_at IS NULL AND first_response_at IS NULL LIMIT ?1)",
            )?
            .query_row([i64::from(cap)], |r| r.get(0))?;
        Ok(n.clamp(0, i64::from(cap)) as u32)
    }

    fn recent_first_responses(&self, since: Millis, limit: u32) -> Result<Vec<Millis>, StoreError> {
        let rows = self
            .conn()
            .prepare_cached(
                "SELECT first_response_at - started_at FROM chat_sessions
                 WHERE first_response_at IS NOT NULL AND first_response_at >= ?1
                 ORDER BY first_response_at DESC LIMIT ?2",
            )?
            .query_map(params![since, limit], |r| r.get::<_, Millis>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows.into_iter().map(|d| d.max(0)).collect())
    }

    fn quiet_chats(&self, quiet_since: Millis, limit: u32) -> Result<Vec<i64>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id FROM contacts
                 WHERE chat_support_active = 1 AND COALESCE(chat_last_message_time, chat_started_at, 0) <= ?1
                 ORDER BY COALESCE(chat_last_message_time, chat_started_at, 0) LIMIT ?2",
            )?
            .query_map(params![quiet_since, limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }

    fn chats_to_remind(&self, quiet_since: Millis, limit: u32) -> Result<Vec<i64>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT c.id FROM contacts c JOIN chat_sessions s ON s.id = c.current_session_id
                 WHERE c.chat_support_active = 1 AND s.ended_at IS NULL
                   AND COALESCE(c.chat_last_message_time, c.chat_started_at, 0) <= ?1
                   AND (s.reminded_at IS NULL OR s.reminded_at < COALESCE(c.chat_last_message_time, c.chat_started_at, 0))
                 ORDER BY COALESCE(c.chat_last_message_time, c.chat_started_at, 0) LIMIT ?2",
            )?
            .query_map(params![quiet_since, limit], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }

    fn mark_reminded(&self, session_id: i64, now: Millis) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("UPDATE chat_sessions SET reminded_at = ?2 WHERE id = ?1")?
            .execute(params![session_id, now])?;
        Ok(())
    }
}
