//! The stats screen (issue 9): the last week's figures from `GetStats` — chats, resolution,
//! first response / wait / handle time (median and p90), CSAT with a bar per rating, and a bar
//! chart of the chats started per hour of the day.

use ratatui::{
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::{Bar, BarChart, BarGroup, Block, Clear, Paragraph, Sparkline},
    Frame,
};

use super::style;
use crate::app::{StatsScreen, STATS_DAYS};
use crate::model::{Durations, Stats};
use crate::strings;

/// `4m 05s`, `1h 02m`, `12s`; `–` without data.
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

fn row(name: &str, d: &Durations) -> Line<'static> {
    Line::from(format!(
        " {name:<15}{:>9}{:>9}{:>7}",
        duration(d.median_ms, d.count),
        duration(d.p90_ms, d.count),
        d.count
    ))
}

fn figures(s: &Stats) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from(vec![
            Span::styled(" Chats ", style::bold()),
            Span::raw(format!(
                "started {} · ended {} · waiting now {}",
                s.chats_started, s.chats_ended, s.waiting_now
            )),
        ]),
        Line::from(format!(
            " Ended by user {} · agent {} · system {} · unanswered {}",
            s.ended_by[0], s.ended_by[1], s.ended_by[2], s.unanswered
        )),
        Line::from(Span::styled(
            format!(" {:<15}{:>9}{:>9}{:>7}", "", "median", "p90", "chats"),
            style::dim(),
        )),
        row("First response", &s.first_response),
        row("Wait", &s.wait),
        row("Handle time", &s.handle),
    ];
    let csat = if s.csat_count > 0 {
        format!("{:.2} / 5 from {} rating(s)", s.csat_average, s.csat_count)
    } else {
        "no ratings yet".to_string()
    };
    lines.push(Line::from(vec![
        Span::styled(" CSAT ", style::bold()),
        Span::raw(csat),
    ]));
    if !s.top_words.is_empty() {
        let words: Vec<String> = s
            .top_words
            .iter()
            .take(5)
            .map(|(w, n)| format!("{w} ({n})"))
            .collect();
        lines.push(Line::from(vec![
            Span::styled(" Issues ", style::bold()),
            Span::raw(words.join(", ")),
        ]));
    }
    lines
}

fn csat_chart(s: &Stats) -> BarChart<'static> {
    let bars: Vec<Bar<'static>> = (1..=5)
        .map(|n| {
            Bar::default()
                .value(u64::from(
                    s.csat_distribution.get(n - 1).copied().unwrap_or(0),
                ))
                .label(Line::from(format!("{n}★")))
        })
        .collect();
    BarChart::default()
        .block(Block::bordered().title(" Ratings "))
        .data(BarGroup::default().bars(&bars))
        .bar_width(3)
        .bar_gap(1)
}

/// The hourly chart's bar width: the 24 bars and their gaps spread over `width` columns.
fn hour_bar_width(width: u16) -> u16 {
    ((width.saturating_sub(2) + 1) / 24)
        .saturating_sub(1)
        .max(1)
}

fn hours_chart(s: &Stats, width: u16) -> BarChart<'static> {
    let bars: Vec<Bar<'static>> = (0..24)
        .map(|h| {
            let n = u64::from(s.busiest_hours.get(h).copied().unwrap_or(0));
            Bar::default()
                .value(n)
                .text_value(if n == 0 { String::new() } else { n.to_string() })
                .label(Line::from(format!("{h:02}")))
        })
        .collect();
    BarChart::default()
        .block(Block::bordered().title(format!(
            " Chats started by hour ({}) ",
            if s.timezone.is_empty() {
                "UTC"
            } else {
                &s.timezone
            }
        )))
        .data(BarGroup::default().bars(&bars))
        .bar_width(hour_bar_width(width))
        .bar_gap(1)
}

/// Draws the stats screen over `area`.
pub(super) fn render(screen: &StatsScreen, frame: &mut Frame, area: Rect) {
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(Span::styled(
            format!(" {} ", strings::stats_title(STATS_DAYS)),
            style::bold(),
        ))
        .title_bottom(Line::from(Span::styled(strings::STATS_KEYS, style::dim())).right_aligned())
        .border_style(style::focused_border());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(s) = &screen.data else {
        let text = match (&screen.error, screen.loading) {
            (Some(e), _) => Span::styled(format!(" {e}"), style::error()),
            (None, true) => Span::styled(format!(" {}", strings::LOADING), style::dim()),
            (None, false) => Span::raw(""),
        };
        frame.render_widget(Paragraph::new(Line::from(text)), inner);
        return;
    };
    let [top, spark, bottom] = Layout::vertical([
        Constraint::Length(9),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    let [left, right] =
        Layout::horizontal([Constraint::Min(50), Constraint::Length(22)]).areas(top);
    frame.render_widget(Paragraph::new(figures(s)), left);
    frame.render_widget(csat_chart(s), right);
    let hours: Vec<u64> = s.busiest_hours.iter().map(|&n| u64::from(n)).collect();
    let [label, line] =
        Layout::horizontal([Constraint::Length(18), Constraint::Min(0)]).areas(spark);
    frame.render_widget(
        Paragraph::new(Span::styled(" 24 h at a glance", style::dim())),
        label,
    );
    frame.render_widget(Sparkline::default().data(&hours), line);
    if bottom.height >= 4 {
        frame.render_widget(hours_chart(s, bottom.width), bottom);
    }
    if let Some(e) = &screen.error {
        let r = Rect {
            y: inner.y + inner.height.saturating_sub(1),
            height: 1,
            ..inner
        };
        frame.render_widget(Paragraph::new(Span::styled(e.clone(), style::error())), r);
    }
}
