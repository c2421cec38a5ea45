//! Rendering: [`render`] draws the whole screen from the state, and nothing else — no I/O, no
//! clock (the state carries "now"); the only thing it writes back is the geometry it measured
//! (the panes' scroll state, see `crate::scroll`). Colours are the terminal's own (default
//! foreground and background, the named ANSI colours, bold/reverse/dim), so the console reads
//! on light and dark themes alike.

mod compose;
mod dialog;
mod help;
mod list;
mod stats;
mod status;
pub(crate) mod thread;

#[cfg(test)]
mod tests;

use chrono::Duration;
use ratatui::{
    style::{Color, Modifier, Style},
    text::{Line, Span},
    Frame,
};
use unicode_width::UnicodeWidthStr;

use crate::app::App;
use crate::editor::char_width;
use crate::layout;
use crate::model::Time;
use crate::strings;

/// Draws the whole console.
pub(crate) fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let a = layout::areas(area, &app.shape());
    status::header(app, frame, a.header);
    if let Some(r) = a.banner {
        status::banner(app, frame, r);
    }
    if let Some(r) = a.list {
        list::render(app, frame, r);
    }
    if let Some(r) = a.thread {
        thread::render(app, frame, r);
    }
    if let Some(r) = a.compose {
        compose::render(app, frame, r);
        compose::picker(app, frame, r);
    }
    status::status_bar(app, frame, a.status);
    if let Some(screen) = &app.stats {
        // Over the panes only: the tabs and the connection line stay.
        stats::render(screen, frame, a.main);
    }
    if let Some(d) = &app.dialog {
        dialog::render(app, d, frame, area);
    }
    if let Some(scroll) = app.help {
        help::render(frame, area, scroll);
    }
}

/// The terminal window's title: the count of waiting chats first, so it shows in a tab bar.
pub(crate) fn window_title(app: &App) -> String {
    strings::window_title(app.waiting_count())
}

/// The styles, in one place.
pub(crate) mod style {
    use super::{Color, Modifier, Style};

    pub(crate) fn base() -> Style {
        Style::default()
    }
    pub(crate) fn bold() -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
    pub(crate) fn dim() -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }
    pub(crate) fn selected() -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub(crate) fn focused_border() -> Style {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    }
    pub(crate) fn border() -> Style {
        Style::default()
    }
    pub(crate) fn error() -> Style {
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub(crate) fn ok() -> Style {
        Style::default().fg(Color::Green)
    }
    pub(crate) fn new_badge() -> Style {
        Style::default()
            .fg(Color::Magenta)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
    pub(crate) fn banner() -> Style {
        Style::default()
            .fg(Color::Red)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
    pub(crate) fn tab_active() -> Style {
        Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
    pub(crate) fn user() -> Style {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    }
    pub(crate) fn agent() -> Style {
        Style::default()
            .fg(Color::Green)
            .add_modifier(Modifier::BOLD)
    }
    pub(crate) fn bot() -> Style {
        Style::default().add_modifier(Modifier::DIM | Modifier::ITALIC)
    }
    pub(crate) fn read() -> Style {
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD)
    }
    pub(crate) fn urgent() -> Style {
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub(crate) fn note() -> Style {
        Style::default().fg(Color::Yellow)
    }
    /// An activity line of the thread (claimed, transferred, rated, ...).
    pub(crate) fn activity() -> Style {
        Style::default()
            .fg(Color::Magenta)
            .add_modifier(Modifier::ITALIC)
    }
    pub(crate) fn note_head() -> Style {
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
    }
    /// A chat waiting past the amber threshold.
    pub(crate) fn amber() -> Style {
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
    }
    /// The style of a wait at `alarm`: bold, amber or red.
    pub(crate) fn alarm(alarm: crate::app::Alarm) -> Style {
        match alarm {
            crate::app::Alarm::Calm => bold(),
            crate::app::Alarm::Amber => amber(),
            crate::app::Alarm::Red => urgent(),
        }
    }
    pub(crate) fn high() -> Style {
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
    }
}

/// `s` made safe for one cell row: control characters (escape sequences included) become
/// spaces, so nothing a user sends can drive the terminal.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Display width of `s`.
pub(crate) fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to `max` cells, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// A line `width` cells wide: `left` (cut when needed), then `right` flush right.
pub(crate) fn fit(
    left: Vec<Span<'static>>,
    right: Vec<Span<'static>>,
    width: usize,
) -> Line<'static> {
    let right_w: usize = right.iter().map(|s| self::width(&s.content)).sum();
    let room = width.saturating_sub(right_w + usize::from(right_w > 0));
    let mut spans = Vec::new();
    let mut used = 0;
    for s in left {
        let w = self::width(&s.content);
        if used + w <= room {
            used += w;
            spans.push(s);
        } else {
            let cut = truncate(&s.content, room - used);
            used += self::width(&cut);
            spans.push(Span::styled(cut, s.style));
            break;
        }
    }
    if right_w > 0 && right_w <= width {
        spans.push(Span::raw(" ".repeat(width - used - right_w)));
        spans.extend(right);
    }
    Line::from(spans)
}

/// Soft-wraps `text` (newlines kept) to `width` cells.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let chars: Vec<char> = clean(raw).chars().collect();
        let mut start = 0;
        loop {
            let (end, next) = crate::editor::wrap_point(&chars, start, width);
            let piece: String = chars.get(start..end).unwrap_or(&[]).iter().collect();
            out.push(piece.trim_end().to_string());
            if next >= chars.len() {
                break;
            }
            start = next;
        }
    }
    out
}

/// A message's text as shown: an agent's without the prefix every agent message carries.
pub(crate) fn shown_text(sender: crate::model::Sender, text: &str) -> &str {
    match sender {
        crate::model::Sender::Agent => text.strip_prefix(strings::AGENT_PREFIX).unwrap_or(text),
        _ => text,
    }
}

/// `4m`, `1h05m`, `2d`: a compact duration (never negative).
pub(crate) fn short_duration(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86_400),
    }
}

/// `23:41`: hours and minutes.
pub(crate) fn hours_minutes(d: Duration) -> String {
    let m = d.num_minutes().max(0);
    format!("{}:{:02}", m / 60, m % 60)
}

/// A time of day in the console's time zone.
pub(crate) fn clock(app: &App, t: Time) -> String {
    t.with_timezone(&app.settings.utc_offset)
        .format("%H:%M")
        .to_string()
}

/// A date in the console's time zone.
pub(crate) fn date(app: &App, t: Time) -> String {
    t.with_timezone(&app.settings.utc_offset)
        .format("%a %-d %b %Y")
        .to_string()
}

/// When something happened, compactly: the time today, else the date.
pub(crate) fn when(app: &App, t: Time) -> String {
    let tz = app.settings.utc_offset;
    if t.with_timezone(&tz).date_naive() == app.now.with_timezone(&tz).date_naive() {
        clock(app, t)
    } else {
        t.with_timezone(&tz).format("%-d %b").to_string()
    }
}
