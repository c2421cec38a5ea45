//! `GetStats` (issue 9): validate the range, read the sessions' facts, compute the figures
//! ([`crate::stats`]) and convert them; plus the survey answers shown with a conversation.

use proto::v1 as pb;
use tonic::Status;

use super::convert::ts;
use crate::{
    domain::Millis,
    engine::Engine,
    stats::{self, Durations, Stats},
    storage::SurveyRecord,
};

/// The default range: the last 7 days.
pub const DEFAULT_RANGE_MS: Millis = 7 * 24 * 60 * 60 * 1000;
/// The longest range one call may ask for.
pub const MAX_RANGE_MS: Millis = 400 * 24 * 60 * 60 * 1000;

fn millis(field: &str, t: &prost_types::Timestamp) -> Result<Millis, Status> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Status::invalid_argument(format!(
            "{field} has invalid nanos"
        )));
    }
    t.seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(i64::from(t.nanos / 1_000_000)))
        .ok_or_else(|| Status::invalid_argument(format!("{field} is out of range")))
}

/// The `[from, to)` a request asks for, defaults filled in.
///
/// # Errors
/// `INVALID_ARGUMENT` for a bad timestamp, an empty or reversed range, or one over 400 days.
pub fn range(r: &pb::GetStatsRequest, now: Millis) -> Result<(Millis, Millis), Status> {
    let to = match &r.to {
        Some(t) => millis("to", t)?,
        // Up to and including now.
        None => now + 1,
    };
    let from = match &r.from {
        Some(t) => millis("from", t)?,
        None => to - DEFAULT_RANGE_MS,
    };
    if from >= to {
        return Err(Status::invalid_argument(
            "from must be before to (the range is [from, to))",
        ));
    }
    if to - from > MAX_RANGE_MS {
        return Err(Status::invalid_argument(
            "the range is longer than 400 days",
        ));
    }
    Ok((from, to))
}

fn durations(d: &Durations) -> pb::DurationStats {
    pb::DurationStats {
        count: d.count,
        median_ms: d.median_ms.unwrap_or(0),
        p90_ms: d.p90_ms.unwrap_or(0),
    }
}

/// The figures as the wire message.
pub fn response(s: &Stats, waiting_now: u32) -> pb::GetStatsResponse {
    pb::GetStatsResponse {
        from: Some(ts(s.from)),
        to: Some(ts(s.to)),
        timezone: s.timezone.clone(),
        chats_started: s.chats_started,
        chats_ended: s.chats_ended,
        ended_by_user: s.ended_by_user,
        ended_by_agent: s.ended_by_agent,
        ended_by_system: s.ended_by_system,
        unanswered: s.unanswered,
        first_response: Some(durations(&s.first_response)),
        handle_time: Some(durations(&s.handle)),
        wait_time: Some(durations(&s.wait)),
        csat_count: s.csat_count,
        csat_average: s.csat_average.unwrap_or(0.0),
        csat_distribution: s.csat_distribution.to_vec(),
        busiest_hours: s.busiest_hours.to_vec(),
        top_first_message_words: s
            .top_words
            .iter()
            .map(|(word, chats)| pb::WordCount {
                word: word.clone(),
                chats: *chats,
            })
            .collect(),
        waiting_now,
    }
}

/// Handles `GetStats`.
///
/// # Errors
/// `INVALID_ARGUMENT` for a bad range; `NOT_FOUND` for an unknown agent; storage errors.
pub(super) async fn get_stats(
    engine: &Engine,
    r: pb::GetStatsRequest,
) -> Result<pb::GetStatsResponse, Status> {
    let (from, to) = range(&r, engine.now())?;
    let agent = match r.agent.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(name) => Some(
            engine
                .store()
                .agent_named(name)
                .await?
                .map(|a| a.id)
                .ok_or_else(|| Status::not_found(format!("no agent called {name:?}")))?,
        ),
    };
    let tz = engine
        .settings()
        .hours
        .as_ref()
        .map_or(chrono_tz::UTC, |h| h.timezone());
    let facts = engine.store().session_facts(from, to, agent).await?;
    let waiting_now = engine.store().waiting_now().await?;
    Ok(response(&stats::compute(&facts, from, to, tz), waiting_now))
}

/// A survey for agents.
pub fn csat_answer(s: &SurveyRecord) -> pb::CsatAnswer {
    pb::CsatAnswer {
        chat_session_id: s.session_id,
        rating: s.rating.map_or(0, u32::from),
        comment: s.comment.clone().unwrap_or_default(),
        asked_at: Some(ts(s.asked_at)),
        rated_at: s.rated_at.map(ts),
        open: s.open,
    }
}
