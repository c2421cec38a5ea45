//! The figures a support lead asks for, computed from the stored sessions of a time range
//! `[from, to)` ([`SessionFacts`], which the store reads). Pure: the facts and the time zone
//! come in, a [`Stats`] goes out.
//!
//! Definitions (each figure's population):
//! - *started*: sessions whose start is in the range; *ended*: sessions whose end is.
//! - *first response*: started and answered sessions, first agent reply − start.
//! - *wait*: started sessions that were answered or ended: time until the first agent reply, or
//!   until the end for a chat nobody answered (so abandoned waits count too).
//! - *handle time*: ended sessions, end − start (the whole chat).
//! - *unanswered*: ended sessions that never had an agent reply.
//! - *resolution*: ended sessions by who ended them; *CSAT*: ratings of ended sessions.
//! - *busiest hours*: starts per hour of the day in the business time zone (UTC without one).
//! - *first-message words*: each started session's first text message, every word counted once
//!   per session, without stop words and the support keywords, top 10.
//! - Median: the middle value, or the mean of the two middle values (rounded down); p90: the
//!   nearest-rank value (the ⌈0.9·n⌉-th smallest).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Timelike};
use chrono_tz::Tz;
use serde::Serialize;

use crate::{
    conversation::keywords,
    domain::{EndedBy, Millis},
};

/// One chat session, as the stats see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    /// When it started.
    pub started_at: Millis,
    /// When it ended, if it did.
    pub ended_at: Option<Millis>,
    /// Who ended it.
    pub ended_by: Option<EndedBy>,
    /// The first agent reply.
    pub first_response_at: Option<Millis>,
    /// The survey's rating.
    pub rating: Option<u8>,
    /// The session's first text message from the user.
    pub first_text: Option<String>,
}

/// How many first-message words are listed.
pub const TOP_WORDS: usize = 10;

/// Median and p90 of a set of durations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Durations {
    /// How many durations.
    pub count: u32,
    /// Median, ms (`None` without data).
    pub median_ms: Option<Millis>,
    /// 90th percentile, ms (`None` without data).
    pub p90_ms: Option<Millis>,
}

impl Durations {
    /// From unsorted samples.
    pub fn of(mut v: Vec<Millis>) -> Durations {
        v.sort_unstable();
        Durations {
            count: v.len().min(u32::MAX as usize) as u32,
            median_ms: median_sorted(&v),
            p90_ms: percentile_sorted(&v, 90),
        }
    }
}

/// The median of sorted values (mean of the middle two, rounded down, for an even count).
pub fn median_sorted(v: &[Millis]) -> Option<Millis> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    if n % 2 == 1 {
        v.get(n / 2).copied()
    } else {
        let (a, b) = (v.get(n / 2 - 1)?, v.get(n / 2)?);
        Some((a + b).div_euclid(2))
    }
}

/// The nearest-rank `p`th percentile of sorted values.
pub fn percentile_sorted(v: &[Millis], p: usize) -> Option<Millis> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).max(1);
    v.get(rank - 1).copied()
}

/// Everything `GetStats` returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Range start (inclusive), unix ms.
    pub from: Millis,
    /// Range end (exclusive), unix ms.
    pub to: Millis,
    /// The zone the busiest hours are in.
    pub timezone: String,
    /// Sessions started in the range.
    pub chats_started: u32,
    /// Sessions ended in the range.
    pub chats_ended: u32,
    /// Of those, ended by the user.
    pub ended_by_user: u32,
    /// Ended by an agent.
    pub ended_by_agent: u32,
    /// Ended by the system (inactivity).
    pub ended_by_system: u32,
    /// Ended without any agent reply.
    pub unanswered: u32,
    /// Start → first agent reply.
    pub first_response: Durations,
    /// Start → end.
    pub handle: Durations,
    /// Start → first agent reply, or → end when never answered.
    pub wait: Durations,
    /// Ratings received.
    pub csat_count: u32,
    /// Their mean.
    pub csat_average: Option<f64>,
    /// How many of each rating, 1 to 5.
    pub csat_distribution: [u32; 5],
    /// Chats started per hour of the day (local), 0 to 23.
    pub busiest_hours: [u32; 24],
    /// The most common first-message words with the number of chats using them.
    pub top_words: Vec<(String, u32)>,
}

/// Words that say nothing about the issue.
const STOP_WORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "you",
    "your",
    "are",
    "was",
    "were",
    "with",
    "this",
    "that",
    "have",
    "has",
    "had",
    "not",
    "but",
    "can",
    "cant",
    "can't",
    "could",
    "would",
    "should",
    "will",
    "from",
    "about",
    "what",
    "when",
    "where",
    "how",
    "who",
    "why",
    "there",
    "their",
    "they",
    "them",
    "our",
    "out",
    "all",
    "any",
    "get",
    "got",
    "just",
    "some",
    "want",
    "need",
    "i'm",
    "im",
    "it's",
    "its",
    "don't",
    "dont",
    "did",
    "does",
    "been",
    "being",
    "into",
    "too",
    "very",
    "please",
    "hello",
    "hey",
    "good",
    "morning",
    "afternoon",
    "evening",
    "thanks",
    "thank",
    "help",
    "support",
    "chat",
    "agent",
    "human",
    "talk",
    "someone",
    "speak",
    "still",
    "yet",
    "also",
    "one",
    "now",
    "here",
    "than",
    "then",
    "which",
    "able",
    "my",
    "me",
    "is",
    "it",
    "to",
    "of",
];

fn count(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

/// Computes the figures for `[from, to)`; busiest hours in `tz`.
pub fn compute(facts: &[SessionFacts], from: Millis, to: Millis, tz: Tz) -> Stats {
    let in_range = |t: Millis| from <= t && t < to;
    let started: Vec<&SessionFacts> = facts.iter().filter(|f| in_range(f.started_at)).collect();
    let ended: Vec<&SessionFacts> = facts
        .iter()
        .filter(|f| f.ended_at.is_some_and(in_range))
        .collect();
    let by = |who: EndedBy| count(ended.iter().filter(|f| f.ended_by == Some(who)).count());
    let first_response = Durations::of(
        started
            .iter()
            .filter_map(|f| Some((f.first_response_at? - f.started_at).max(0)))
            .collect(),
    );
    let wait = Durations::of(
        started
            .iter()
            .filter_map(|f| Some((f.first_response_at.or(f.ended_at)? - f.started_at).max(0)))
            .collect(),
    );
    let handle = Durations::of(
        ended
            .iter()
            .filter_map(|f| Some((f.ended_at? - f.started_at).max(0)))
            .collect(),
    );
    let ratings: Vec<u8> = ended.iter().filter_map(|f| f.rating).collect();
    let mut csat_distribution = [0u32; 5];
    for r in &ratings {
        if let Some(slot) = csat_distribution.get_mut(usize::from(r.saturating_sub(1))) {
            *slot += 1;
        }
    }
    let csat_average = (!ratings.is_empty())
        .then(|| ratings.iter().map(|&r| f64::from(r)).sum::<f64>() / ratings.len() as f64);
    let mut busiest_hours = [0u32; 24];
    for f in &started {
        if let Some(t) = tz.timestamp_millis_opt(f.started_at).single() {
            if let Some(slot) = busiest_hours.get_mut(t.hour() as usize) {
                *slot += 1;
            }
        }
    }
    let mut words: BTreeMap<String, u32> = BTreeMap::new();
    for f in &started {
        let Some(text) = &f.first_text else { continue };
        let unique: BTreeSet<String> = keywords::words(text)
            .into_iter()
            .filter(|w| w.chars().count() >= 3 && !w.chars().all(|c| c.is_ascii_digit()))
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .collect();
        for w in unique {
            *words.entry(w).or_default() += 1;
        }
    }
    let mut top_words: Vec<(String, u32)> = words.into_iter().collect();
    // Most chats first, then alphabetical (the map's order, kept by the stable sort).
    top_words.sort_by_key(|w| std::cmp::Reverse(w.1));
    top_words.truncate(TOP_WORDS);
    Stats {
        from,
        to,
        timezone: tz.name().to_string(),
        chats_started: count(started.len()),
        chats_ended: count(ended.len()),
        ended_by_user: by(EndedBy::User),
        ended_by_agent: by(EndedBy::Admin),
        ended_by_system: by(EndedBy::System),
        unanswered: count(
            ended
                .iter()
                .filter(|f| f.first_response_at.is_none())
                .count(),
        ),
        first_response,
        handle,
        wait,
        csat_count: count(ratings.len()),
        csat_average,
        csat_distribution,
        busiest_hours,
        top_words,
    }
}

/// The estimated wait for a new chat: the median of the recent first-response times, `None`
/// with fewer than `min_samples` of them.
pub fn eta(recent_first_responses: &[Millis], min_samples: usize) -> Option<Millis> {
    if recent_first_responses.len() < min_samples {
        return None;
    }
    let mut v = recent_first_responses.to_vec();
    v.sort_unstable();
    median_sorted(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;
    /// 2026-11-23 00:00 UTC, a Monday.
    const DAY: Millis = 1_795_392_000_000;

    fn s(
        start_min: i64,
        end_min: Option<i64>,
        by: Option<EndedBy>,
        fr_min: Option<i64>,
        rating: Option<u8>,
        text: Option<&str>,
    ) -> SessionFacts {
        SessionFacts {
            started_at: DAY + start_min * MIN,
            ended_at: end_min.map(|m| DAY + m * MIN),
            ended_by: by,
            first_response_at: fr_min.map(|m| DAY + m * MIN),
            rating,
            first_text: text.map(str::to_string),
        }
    }

    #[test]
    fn percentiles_by_hand() {
        assert_eq!(median_sorted(&[]), None);
        assert_eq!(median_sorted(&[5]), Some(5));
        assert_eq!(median_sorted(&[1, 2, 3, 10]), Some(2)); // (2+3)/2 rounded down
        assert_eq!(percentile_sorted(&[1, 2, 3, 10], 90), Some(10)); // rank ⌈3.6⌉ = 4
        let ten: Vec<Millis> = (1..=10).collect();
        assert_eq!(percentile_sorted(&ten, 90), Some(9)); // rank 9
        assert_eq!(percentile_sorted(&[7], 90), Some(7));
        assert_eq!(eta(&[1, 2, 3, 4], 5), None);
        assert_eq!(eta(&[9, 1, 5, 3, 7], 5), Some(5));
    }

    /// The fixture: the range is Monday 08:00–12:00 UTC (480..720 minutes after midnight).
    /// Lagos is UTC+1, so local hours are one later.
    fn fixture() -> Vec<SessionFacts> {
        use EndedBy::*;
        vec![
            // A: started before the range, ended inside it by an agent, rated 5.
            s(
                470,
                Some(500),
                Some(Admin),
                Some(475),
                Some(5),
                Some("old fees question"),
            ),
            // B: 08:10, answered after 4 min, user ended at 08:30, rated 4.
            s(
                490,
                Some(510),
                Some(User),
                Some(494),
                Some(4),
                Some("I can't upload my homework"),
            ),
            // C: 08:20, answered after 10 min, agent ended at 09:00, rated 2.
            s(
                500,
                Some(540),
                Some(Admin),
                Some(510),
                Some(2),
                Some("Fees payment failed"),
            ),
            // D: 09:05, never answered, system ended at 09:35.
            s(
                545,
                Some(575),
                Some(System),
                None,
                None,
                Some("homework portal down"),
            ),
            // E: 09:10, answered after 2 min, still open.
            s(
                550,
                None,
                None,
                Some(552),
                None,
                Some("support: my fees receipt"),
            ),
            // F: 10:00, answered after 6 min, ends after the range (12:30), rated 1 (not counted).
            s(600, Some(750), Some(Admin), Some(606), Some(1), None),
            // G: 11:59, open and unanswered: started, no wait yet.
            s(719, None, None, None, None, Some("💬 Chat Support")),
        ]
    }

    #[test]
    fn every_figure_against_the_hand_computed_fixture() {
        let tz: Tz = "Africa/Lagos".parse().unwrap();
        let st = compute(&fixture(), DAY + 480 * MIN, DAY + 720 * MIN, tz);
        // Started in range: B C D E F G.
        assert_eq!(st.chats_started, 6);
        // Ended in range: A B C D (F ends after the range).
        assert_eq!(st.chats_ended, 4);
        assert_eq!(
            (st.ended_by_user, st.ended_by_agent, st.ended_by_system),
            (1, 2, 1)
        );
        assert_eq!(st.unanswered, 1); // D
                                      // First response (started + answered): B 4, C 10, E 2, F 6 → sorted 2 4 6 10.
        assert_eq!(
            st.first_response,
            Durations {
                count: 4,
                median_ms: Some(5 * MIN), // (4 + 6) / 2
                p90_ms: Some(10 * MIN),   // rank ⌈3.6⌉ = 4
            }
        );
        // Wait: B 4, C 10, D 30 (abandoned), E 2, F 6 → 2 4 6 10 30.
        assert_eq!(
            st.wait,
            Durations {
                count: 5,
                median_ms: Some(6 * MIN),
                p90_ms: Some(30 * MIN), // rank ⌈4.5⌉ = 5
            }
        );
        // Handle (ended in range): A 30, B 20, C 40, D 30 → 20 30 30 40.
        assert_eq!(
            st.handle,
            Durations {
                count: 4,
                median_ms: Some(30 * MIN),
                p90_ms: Some(40 * MIN),
            }
        );
        // CSAT of ended sessions: A 5, B 4, C 2 → 11/3.
        assert_eq!(st.csat_count, 3);
        assert!((st.csat_average.unwrap() - 11.0 / 3.0).abs() < 1e-9);
        assert_eq!(st.csat_distribution, [0, 1, 0, 1, 1]);
        // Busiest hours, Lagos time: B 09:10, C 09:20 → 9; D 10:05, E 10:10 → 10; F 11:00 → 11;
        // G 12:59 → 12.
        let mut hours = [0u32; 24];
        hours[9] = 2;
        hours[10] = 2;
        hours[11] = 1;
        hours[12] = 1;
        assert_eq!(st.busiest_hours, hours);
        assert_eq!(st.timezone, "Africa/Lagos");
        // Words of started sessions' first texts: homework (B, D) 2, fees (C, E) 2, then one
        // each alphabetically: failed, payment, portal, down, receipt, upload.
        assert_eq!(
            st.top_words,
            vec![
                ("fees".to_string(), 2),
                ("homework".to_string(), 2),
                ("down".to_string(), 1),
                ("failed".to_string(), 1),
                ("payment".to_string(), 1),
                ("portal".to_string(), 1),
                ("receipt".to_string(), 1),
                ("upload".to_string(), 1),
            ]
        );
    }

    #[test]
    fn an_empty_range_has_no_figures() {
        let st = compute(&fixture(), DAY, DAY + MIN, chrono_tz::UTC);
        assert_eq!(st.chats_started, 0);
        assert_eq!(st.first_response, Durations::default());
        assert_eq!(st.csat_average, None);
        assert!(st.top_words.is_empty());
    }
}
