//! PostgreSQL's satisfaction surveys ([`SurveyTx`]): one survey per ended session, `asked` →
//! `rated` (the comment is awaited) → `closed`. A rating is never overwritten.
//!
//! Several daemons write one desk: each step is one `UPDATE` whose condition names the stage
//! it leaves, so the row it locks is checked again once another daemon's change is committed
//! and only one of two answers moves a survey on.

use super::{PgTx, Reads};
use crate::domain::{Millis, SurveyStage};
use crate::storage::{ConversationTx, EventKind, StoreError, SurveyRecord, SurveyTx};

use crate::storage::shared::survey_stage as stage;

impl SurveyTx for PgTx<'_> {
    fn latest_survey(
        &self,
        contact_id: i64,
    ) -> Result<Option<(i64, Millis, SurveyStage)>, StoreError> {
        self.query_opt(
            "SELECT id, asked_at, state, rating FROM csat_surveys WHERE contact_id = $1
             ORDER BY id DESC LIMIT 1",
            &[&contact_id],
        )?
        .map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                stage(r.try_get::<_, &str>(2)?, r.try_get(3)?),
            ))
        })
        .transpose()
    }

    fn open_survey(&self, contact_id: i64, session_id: i64, now: Millis) -> Result<(), StoreError> {
        self.close_survey(contact_id, now)?;
        self.execute(
            "INSERT INTO csat_surveys (session_id, contact_id, asked_at, state) VALUES ($1, $2, $3, 'asked')
             ON CONFLICT DO NOTHING",
            &[&session_id, &contact_id, &now],
        )?;
        Ok(())
    }

    fn rate_survey(&self, contact_id: i64, rating: u8, now: Millis) -> Result<bool, StoreError> {
        // The UPDATE locks the survey it rates and checks `state = 'asked'` again after any
        // other daemon's rating commits: of two ratings, one is stored, the other finds none.
        let rating_value = i64::from(rating);
        let rows = self.query(
            "UPDATE csat_surveys v SET state = 'rated', rating = $2, rated_at = $3
             WHERE v.contact_id = $1 AND v.state = 'asked'
             RETURNING v.id, v.session_id,
                 (SELECT a.name FROM chat_sessions s JOIN agents a ON a.id = s.agent_id
                   WHERE s.id = v.session_id)",
            &[&contact_id, &rating_value, &now],
        )?;
        // The newest survey rated, as when read back.
        let mut newest: Option<(i64, i64, Option<String>)> = None;
        for r in &rows {
            let row: (i64, i64, Option<String>) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            match &newest {
                Some(n) if n.0 >= row.0 => {}
                _ => newest = Some(row),
            }
        }
        if let Some((_, session_id, agent)) = newest {
            self.emit(
                contact_id,
                EventKind::CsatRated {
                    session_id,
                    rating,
                    agent,
                },
                now,
            )?;
            return Ok(true);
        }
        Ok(false)
    }

    fn comment_survey(
        &self,
        contact_id: i64,
        comment: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE csat_surveys SET state = 'closed', comment = $2, closed_at = $3
             WHERE contact_id = $1 AND state = 'rated'",
            &[&contact_id, &super::rows::to_pg(comment), &now],
        )?;
        Ok(n > 0)
    }

    fn close_survey(&self, contact_id: i64, now: Millis) -> Result<(), StoreError> {
        self.execute(
            "UPDATE csat_surveys SET state = 'closed', closed_at = $2
             WHERE contact_id = $1 AND state IN ('asked', 'rated')",
            &[&contact_id, &now],
        )?;
        Ok(())
    }

    fn close_expired_surveys(
        &self,
        asked_before: Millis,
        now: Millis,
    ) -> Result<usize, StoreError> {
        let n = self.execute(
            "UPDATE csat_surveys SET state = 'closed', closed_at = $2
             WHERE state IN ('asked', 'rated') AND asked_at < $1",
            &[&asked_before, &now],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
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
        let limit = i64::from(limit);
        self.read(move |c| {
            c.query(
                "SELECT session_id, asked_at, rating, rated_at, comment, state IN ('asked', 'rated')
                 FROM csat_surveys WHERE contact_id = $1 ORDER BY id DESC LIMIT $2",
                &[&contact_id, &limit],
            )?
            .iter()
            .map(|r| {
                Ok(SurveyRecord {
                    session_id: r.try_get(0)?,
                    asked_at: r.try_get(1)?,
                    rating: r
                        .try_get::<_, Option<i64>>(2)?
                        .map(|n| n.clamp(1, 5) as u8),
                    rated_at: r.try_get(3)?,
                    comment: super::rows::from_pg_opt(r.try_get(4)?),
                    open: r.try_get(5)?,
                })
            })
            .collect()
        })
        .await
    }
}
