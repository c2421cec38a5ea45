//! What the stats need from the store: the facts of every chat session that started or ended in
//! a time range (one indexed query) as the core's [`SessionFacts`]; the figures are computed in
//! [`crate::stats`].

use super::Reads;
use crate::domain::{EndedBy, Millis};
use crate::stats::SessionFacts;
use crate::storage::StoreError;

impl Reads {
    /// Sessions that started or ended in `[from, to)`, oldest start first; with `agent`, only
    /// the sessions that agent took part in (wrote in, or ended).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn session_facts(
        &self,
        from: Millis,
        to: Millis,
        agent: Option<i64>,
    ) -> Result<Vec<SessionFacts>, StoreError> {
        self.read(move |c| {
            c.query(
                "SELECT s.started_at, s.ended_at, s.ended_by, s.first_response_at, v.rating,
                        (SELECT m.text FROM messages m
                          WHERE m.contact_id = s.contact_id AND m.session_id = s.id
                            AND m.sender = 'user' AND m.kind = 'text'
                          ORDER BY m.id LIMIT 1)
                 FROM chat_sessions s LEFT JOIN csat_surveys v ON v.session_id = s.id
                 WHERE ((s.started_at >= $1 AND s.started_at < $2)
                        OR (s.ended_at >= $1 AND s.ended_at < $2))
                   AND ($3::bigint IS NULL OR s.agent_id = $3
                        OR EXISTS (SELECT 1 FROM messages m
                                    WHERE m.contact_id = s.contact_id AND m.session_id = s.id
                                      AND m.agent_id = $3))
                 ORDER BY s.started_at, s.id",
                &[&from, &to, &agent],
            )?
            .iter()
            .map(|r| {
                Ok(SessionFacts {
                    started_at: r.try_get(0)?,
                    ended_at: r.try_get(1)?,
                    ended_by: r
                        .try_get::<_, Option<String>>(2)?
                        .map(|s| EndedBy::parse(&s)),
                    first_response_at: r.try_get(3)?,
                    rating: r.try_get::<_, Option<i64>>(4)?.map(|n| n.clamp(1, 5) as u8),
                    first_text: super::rows::from_pg_opt(r.try_get(5)?),
                })
            })
            .collect()
        })
        .await
    }
}

impl Reads {
    /// Open chats waiting for their first agent reply, now.
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn waiting_now(&self) -> Result<u32, StoreError> {
        self.read(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM chat_sessions WHERE ended_at IS NULL AND first_response_at IS NULL",
                    &[],
                )?
                .try_get(0)?;
            Ok(n.clamp(0, i64::from(u32::MAX)) as u32)
        })
        .await
    }
}
