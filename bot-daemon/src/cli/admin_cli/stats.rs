//! `bot-daemon admin stats`: the `GetStats` figures as a table for people or JSON for scripts,
//! and the range flags (`--from`, `--to` as dates or RFC 3339 times, `--days`).

use chrono::{DateTime, NaiveDate, Utc};
use proto::{client::Client, v1 as pb};
use serde_json::{json, Value};

use super::output::{ts_json, Output};
use crate::cli_output::CliError;

/// `admin stats`: the figures for the range the flags give, of `agent`'s chats if given.
pub(crate) async fn stats(
    c: &mut Client,
    from: Option<&str>,
    to: Option<&str>,
    days: Option<u32>,
    agent: Option<&str>,
    json: bool,
) -> Result<Output, CliError> {
    let req = request(from, to, days, agent).map_err(CliError::Usage)?;
    let r = c
        .get_stats(req)
        .await
        .map_err(CliError::from_status)?
        .into_inner();
    Ok(render_stats(&r, agent, json))
}

/// `admin stats`'s answer: [`to_table`] or [`to_json`].
pub(crate) fn render_stats(r: &pb::GetStatsResponse, agent: Option<&str>, json: bool) -> Output {
    if json {
        Output::Json(to_json(r))
    } else {
        Output::line(to_table(r, agent))
    }
}

/// A `--from`/`--to` value: `2026-11-01` (midnight UTC) or an RFC 3339 time.
///
/// # Errors
/// Neither form.
pub(crate) fn parse_time(s: &str) -> Result<prost_types::Timestamp, String> {
    let t = match DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("{s:?} is neither YYYY-MM-DD nor an RFC 3339 time"))?
            .and_hms_opt(0, 0, 0)
            .ok_or_else(|| format!("{s:?} is not a valid date"))?
            .and_utc(),
    };
    Ok(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// The request for `--from`/`--to`/`--days`/`--agent`.
///
/// # Errors
/// A time that does not parse.
pub(crate) fn request(
    from: Option<&str>,
    to: Option<&str>,
    days: Option<u32>,
    agent: Option<&str>,
) -> Result<pb::GetStatsRequest, String> {
    let to = to.map(parse_time).transpose()?;
    let from = match (from, days) {
        (Some(f), _) => Some(parse_time(f)?),
        (None, Some(d)) => {
            let end = to
                .as_ref()
                .map_or_else(|| Utc::now().timestamp(), |t| t.seconds);
            Some(prost_types::Timestamp {
                seconds: end - i64::from(d) * 86_400,
                nanos: 0,
            })
        }
        (None, None) => None,
    };
    Ok(pb::GetStatsRequest {
        from,
        to,
        agent: agent.map(str::to_string),
    })
}

fn time(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// "4m 05s", "1h 02m", "12s"; "–" without data.
pub(crate) fn duration(ms: i64, count: u32) -> String {
    if count == 0 {
        return "–".into();
    }
    let s = ms.max(0) / 1000;
    match (s / 3600, (s / 60) % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

fn durations_json(d: &Option<pb::DurationStats>) -> Value {
    let d = d.unwrap_or_default();
    json!({"count": d.count, "median_ms": (d.count > 0).then_some(d.median_ms), "p90_ms": (d.count > 0).then_some(d.p90_ms)})
}

/// The figures as one JSON document: the `GetStatsResponse` fields, RFC 3339 UTC times, and
/// `null` for a median, p90 or average without data.
pub(crate) fn to_json(r: &pb::GetStatsResponse) -> Value {
    json!({
        "from": ts_json(&r.from), "to": ts_json(&r.to),
        "timezone": r.timezone,
        "chats_started": r.chats_started, "chats_ended": r.chats_ended,
        "ended_by_user": r.ended_by_user, "ended_by_agent": r.ended_by_agent,
        "ended_by_system": r.ended_by_system,
        "unanswered": r.unanswered,
        "first_response": durations_json(&r.first_response),
        "handle_time": durations_json(&r.handle_time),
        "wait_time": durations_json(&r.wait_time),
        "csat_count": r.csat_count,
        "csat_average": (r.csat_count > 0).then_some(r.csat_average),
        "csat_distribution": r.csat_distribution,
        "busiest_hours": r.busiest_hours,
        "top_first_message_words": r.top_first_message_words.iter().map(|w| json!({"word": w.word, "chats": w.chats})).collect::<Vec<_>>(),
        "waiting_now": r.waiting_now,
    })
}

/// The figures as a table; `agent` names the filter in the title.
pub(crate) fn to_table(r: &pb::GetStatsResponse, agent: Option<&str>) -> String {
    let mut out = Vec::new();
    let whose = agent.map_or_else(String::new, |a| format!(" · chats of agent {a}"));
    out.push(format!(
        "Support stats {} → {}{whose}",
        time(&r.from),
        time(&r.to)
    ));
    let row = |k: &str, v: String| format!("  {k:<26} {v}");
    out.push(row("chats started", r.chats_started.to_string()));
    out.push(row("chats ended", r.chats_ended.to_string()));
    out.push(row(
        "  by user / agent / system",
        format!(
            "{} / {} / {}",
            r.ended_by_user, r.ended_by_agent, r.ended_by_system
        ),
    ));
    out.push(row("  never answered", r.unanswered.to_string()));
    out.push(row("waiting now", r.waiting_now.to_string()));
    out.push(format!(
        "  {:<26} {:>9} {:>9} {:>6}",
        "", "median", "p90", "chats"
    ));
    for (name, d) in [
        ("first response", &r.first_response),
        ("wait time", &r.wait_time),
        ("handle time", &r.handle_time),
    ] {
        let d = d.unwrap_or_default();
        out.push(format!(
            "  {name:<26} {:>9} {:>9} {:>6}",
            duration(d.median_ms, d.count),
            duration(d.p90_ms, d.count),
            d.count
        ));
    }
    let avg = if r.csat_count > 0 {
        format!("{:.2} / 5 from {} rating(s)", r.csat_average, r.csat_count)
    } else {
        "no ratings".into()
    };
    out.push(row("CSAT", avg));
    if r.csat_count > 0 {
        let dist: Vec<String> = r
            .csat_distribution
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{}★ {n}", i + 1))
            .collect();
        out.push(row("", dist.join("  ")));
    }
    let max = r.busiest_hours.iter().copied().max().unwrap_or(0);
    if max > 0 {
        let mut top: Vec<(usize, u32)> = r.busiest_hours.iter().copied().enumerate().collect();
        top.sort_by_key(|&(h, n)| (std::cmp::Reverse(n), h));
        let busiest: Vec<String> = top
            .iter()
            .take(3)
            .filter(|(_, n)| *n > 0)
            .map(|(h, n)| format!("{h:02}:00 ({n})"))
            .collect();
        out.push(row(
            &format!("busiest hours ({})", r.timezone),
            busiest.join(", "),
        ));
        const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let spark: String = r
            .busiest_hours
            .iter()
            .map(|&n| {
                if n == 0 {
                    ' '
                } else {
                    BARS[((n as usize * 8).div_ceil(max as usize)).clamp(1, 8) - 1]
                }
            })
            .collect();
        out.push(row("  00h … 23h", format!("|{spark}|")));
    }
    if !r.top_first_message_words.is_empty() {
        let words: Vec<String> = r
            .top_first_message_words
            .iter()
            .map(|w| format!("{} ({})", w.word, w.chats))
            .collect();
        out.push(row("first-message words", words.join(", ")));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_durations_and_the_table() {
        assert_eq!(parse_time("2026-11-01").unwrap().seconds, 1_793_491_200);
        assert_eq!(
            parse_time("2026-11-01T01:00:00+01:00").unwrap().seconds,
            1_793_491_200
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(duration(245_000, 3), "4m 05s");
        assert_eq!(duration(3_720_000, 1), "1h 02m");
        assert_eq!(duration(0, 0), "–");
        let mut hours = vec![0; 24];
        hours[9] = 4;
        hours[10] = 1;
        let r = pb::GetStatsResponse {
            chats_started: 5,
            csat_count: 2,
            csat_average: 4.5,
            csat_distribution: vec![0, 0, 0, 1, 1],
            busiest_hours: hours,
            timezone: "UTC".into(),
            first_response: Some(pb::DurationStats {
                count: 2,
                median_ms: 60_000,
                p90_ms: 120_000,
            }),
            ..Default::default()
        };
        let t = to_table(&r, None);
        assert!(to_table(&r, Some("ada")).starts_with("Support stats"));
        assert!(to_table(&r, Some("ada"))
            .lines()
            .next()
            .is_some_and(|l| l.ends_with("· chats of agent ada")));
        assert!(t.contains("4.50 / 5 from 2 rating(s)"), "{t}");
        assert!(t.contains("09:00 (4), 10:00 (1)"), "{t}");
        assert!(t.contains("1m 00s"), "{t}");
        let j = to_json(&r);
        assert_eq!(j["csat_average"], 4.5);
        assert_eq!(j["csat_count"], 2);
        assert_eq!(j["wait_time"]["median_ms"], Value::Null);
    }
}

#[cfg(test)]
mod render_tests {
    use super::super::output::at;
    use super::*;

    #[test]
    fn the_stats_table_is_what_a_support_lead_reads() {
        let mut hours = vec![0; 24];
        hours[9] = 4;
        let r = pb::GetStatsResponse {
            from: at(1_793_491_200, 0),
            to: at(1_793_491_200 + 7 * 86_400, 0),
            timezone: "UTC".into(),
            chats_started: 5,
            chats_ended: 4,
            ended_by_user: 2,
            ended_by_agent: 1,
            ended_by_system: 1,
            unanswered: 1,
            waiting_now: 1,
            first_response: Some(pb::DurationStats {
                count: 2,
                median_ms: 60_000,
                p90_ms: 245_000,
            }),
            csat_count: 1,
            csat_average: 4.0,
            csat_distribution: vec![0, 0, 0, 1, 0],
            busiest_hours: hours,
            top_first_message_words: vec![pb::WordCount {
                word: "homework".into(),
                chats: 3,
            }],
            ..Default::default()
        };
        let expected = [
            "Support stats 2026-11-01 00:00 UTC → 2026-11-08 00:00 UTC · chats of agent ada",
            "  chats started              5",
            "  chats ended                4",
            "    by user / agent / system 2 / 1 / 1",
            "    never answered           1",
            "  waiting now                1",
            "                                median       p90  chats",
            "  first response                1m 00s    4m 05s      2",
            "  wait time                          –         –      0",
            "  handle time                        –         –      0",
            "  CSAT                       4.00 / 5 from 1 rating(s)",
            "                             1★ 0  2★ 0  3★ 0  4★ 1  5★ 0",
            "  busiest hours (UTC)        09:00 (4)",
            "    00h … 23h                |         █              |",
            "  first-message words        homework (3)",
            "",
        ]
        .join("\n");
        assert_eq!(render_stats(&r, Some("ada"), false).text(), expected);
        let j = match render_stats(&r, None, true) {
            Output::Json(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!(j["from"], "2026-11-01T00:00:00Z");
        assert_eq!(j["first_response"]["p90_ms"], 245_000);
        assert_eq!(j["handle_time"]["median_ms"], Value::Null);
    }
}
