//! SQLite's satisfaction surveys ([`SurveyTx`]): one survey per ended session, `asked` → `rated`
//! (the comment is awaited) → `closed`. A rating is never overwritten.

use super::{Reads, SqliteTx};
use crate::domain::{Millis, SurveyStage};
use crate::storage::{ConversationTx, EventKind, StoreError, SurveyRecord, SurveyTx};
use rusqlite::{params, OptionalExtension};

use crate::storage::shared::survey_stage as stage;

impl SurveyTx for SqliteTx<'_> {
    fn latest_survey(
        &self,
        contact_id: i64,
    ) -> Result<Option<(i64, Millis, SurveyStage)>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, asked_at, state, rating FROM csat_surveys WHERE contact_id = ?1 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([contact_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    stage(&r.get::<_, String>(2)?, r.get(3)?),
                ))
            })
            .optional()?)
    }

    fn open_survey(&self, contact_id: i64, session_id: i64, now: Millis) -> Result<(), StoreError> {
        self.close_survey(contact_id, now)?;
        self.conn()
            .prepare_cached(
                "INSERT OR IGNORE INTO csat_surveys (session_id, contact_id, asked_at, state) VALUES (?1, ?2, ?3, 'asked')",
            )?
            .execute(params![session_id, contact_id, now])?;
        Ok(())
    }

    fn rate_survey(&self, contact_id: i64, rating: u8, now: Millis) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .prepare_cached(
                "UPDATE csat_surveys SET state = 'rated', rating = ?2, rated_at = ?3
                 WHERE contact_id = ?1 AND state = 'asked'",
            )?
            .execute(params![contact_id, rating, now])?;
        if n > 0 {
            let (session_id, agent): (i64, Option<String>) = self
                .conn()
                .prepare_cached(
                    "SELECT s.id, a.name FROM csat_surveys v JOIN chat_sessions s ON s.id = v.session_id
                     LEFT JOIN agents a ON a.id = s.agent_id
                     WHERE v.contact_id = ?1 AND v.state = 'rated' ORDER BY v.id DESC LIMIT 1",
                )?
                .query_row([contact_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            self.emit(
                contact_id,
                EventKind::CsatRated {
                    session_id,
                    rating,
                    agent,
                },
                now,
            )?;
        }
        Ok(n > 0)
    }

    fn comment_survey(
        &self,
        contact_id: i64,
        comment: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .prepare_cached(
                "UPDATE csat_surveys SET state = 'closed', comment = ?2, closed_at = ?3
                 WHERE contact_id = ?1 AND state = 'rated'",
            )?
            .execute(params![contact_id, comment, now])?;
        Ok(n > 0)
    }

    fn close_survey(&self, contact_id: i64, now: Millis) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE csat_surveys SET state = 'closed', closed_at = ?2
                 WHERE contact_id = ?1 AND state IN ('asked', 'rated')",
            )?
            .execute(params![contact_id, now])?;
        Ok(())
    }

    fn close_expired_surveys(
        &self,
        asked_before: Millis,
        now: Millis,
    ) -> Result<usize, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "UPDATE csat_surveys SET state = 'closed', closed_at = ?2
                 WHERE state IN ('asked', 'rated') AND asked_at < ?1",
            )?
            .execute(params![asked_before, now])?)
    }
}

impl Reads {
    /// A contact's surveys, newest first (at most `limit`).
    ///
    /// # Errors
    /// The database.
    pub(crate) async fn surveys(
        &self,
        contact_id: i64,
        limit: u32,
    ) -> Result<Vec<SurveyRecord>, StoreError> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT session_id, asked_at, rating, rated_at, comment, state IN ('asked', 'rated')
                 FROM csat_surveys WHERE contact_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?
            .query_map(params![contact_id, limit], |r| {
                Ok(SurveyRecord {
                    session_id: r.get(0)?,
                    asked_at: r.get(1)?,
                    rating: r.get::<_, Option<i64>>(2)?.map(|n| n.clamp(1, 5) as u8),
                    rated_at: r.get(3)?,
                    comment: r.get(4)?,
                    open: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?)
        })
        .await
    }
}
