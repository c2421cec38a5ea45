//! The thread pane: the open conversation's messages with time, sender (user / agent / bot) and
//! delivery marks (✓ sent, ✓✓ delivered, ✓✓ read, ✗ failed with Meta's reason), date and chat
//! session dividers, the agent's unconfirmed messages, and scrolling from the newest line up.

use chrono::NaiveDate;
use ratatui::{
    layout::Rect,
    text::{Line, Span},
    widgets::{Block, Paragraph},
    Frame,
};

use super::{clean, clock, date, fit, hours_minutes, short_duration, style, width, wrap};
use crate::app::{App, Focus, Thread};
use crate::layout;
use crate::model::{Kind, Message, Sender, Status, Summary};
use crate::strings;

/// Columns before a message's text: `HH:MM agent `.
const PREFIX: usize = 12;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Thread && app.dialog.is_none() && app.help.is_none();
    let summary = app.open_summary();
    let mut block = Block::bordered().border_style(if focused {
        style::focused_border()
    } else {
        style::border()
    });
    let inner_w = usize::from(area.width.saturating_sub(2));
    if let Some(s) = summary {
        block = block
            .title(title(s, inner_w))
            .title_bottom(footer(app, s, inner_w));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let all = lines(app, usize::from(inner.width));
    let height = usize::from(inner.height);
    let scroll = app
        .open
        .as_ref()
        .and_then(|a| app.threads.get(a))
        .map_or(0, |t| t.scroll)
        .min(all.len().saturating_sub(height));
    let end = all.len() - scroll;
    let start = end.saturating_sub(height);
    // Bottom-anchored, like a chat: the newest line sits just above the compose box.
    let mut shown: Vec<Line<'static>> = vec![Line::default(); height.saturating_sub(end - start)];
    shown.extend(all.get(start..end).unwrap_or(&[]).iter().cloned());
    if scroll > 0 {
        if let Some(last) = shown.last_mut() {
            *last = Line::from(Span::styled(strings::MORE_BELOW, style::dim())).centered();
        }
    }
    frame.render_widget(Paragraph::new(shown), inner);
}

/// How far the open thread can scroll up (lines above the view).
pub(crate) fn max_scroll(app: &App) -> usize {
    let (w, h) = layout::thread_inner(app);
    lines(app, w).len().saturating_sub(h)
}

fn title(s: &Summary, width: usize) -> Line<'static> {
    let kind = match s.kind {
        Kind::Student => strings::STUDENT,
        Kind::Lead => strings::LEAD,
    };
    fit(
        vec![
            Span::raw(" "),
            Span::styled(clean(s.name()), style::bold()),
            Span::raw(format!(" · {} · {kind} ", clean(&s.contact_line()))),
        ],
        Vec::new(),
        width,
    )
}

fn footer(app: &App, s: &Summary, width: usize) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    if s.chat_active {
        spans.push(Span::styled(strings::CHAT_ACTIVE, style::ok()));
        if let Some(since) = s.chat_started_at {
            spans.push(Span::raw(format!(" {}", short_duration(app.now - since))));
        }
        if let Some(since) = s.waiting_since {
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(
                strings::waiting_for(&short_duration(app.now - since)),
                style::bold(),
            ));
        }
    } else {
        spans.push(Span::styled(strings::CHAT_NOT_ACTIVE, style::dim()));
    }
    match s.window_left(app.now) {
        Some(left) => spans.push(Span::raw(format!(
            " · {}",
            strings::window_left(&hours_minutes(left))
        ))),
        None => {
            spans.push(Span::raw(" · "));
            spans.push(Span::styled(strings::WINDOW_CLOSED, style::error()));
        }
    }
    if s.unread_count > 0 {
        spans.push(Span::raw(format!(" · {}", strings::unread(s.unread_count))));
    }
    if let Some(csat) = app
        .open
        .as_ref()
        .and_then(|a| app.threads.get(a))
        .and_then(|t| t.csat.as_ref())
    {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(clean(csat), style::bold()));
    }
    spans.push(Span::raw(" "));
    fit(spans, Vec::new(), width.saturating_sub(2))
}

fn divider(text: &str, width: usize) -> Line<'static> {
    let label = format!(" {text} ");
    let side = width.saturating_sub(width_of(&label)) / 2;
    Line::from(Span::styled(
        format!("{}{label}{}", "─".repeat(side), "─".repeat(side)),
        style::dim(),
    ))
}

fn width_of(s: &str) -> usize {
    width(s)
}

fn sender_label(s: Sender) -> (&'static str, ratatui::style::Style) {
    match s {
        Sender::User => (strings::SENDER_USER, style::user()),
        Sender::Agent => (strings::SENDER_AGENT, style::agent()),
        Sender::Bot => (strings::SENDER_BOT, style::bot()),
        Sender::Unknown => (strings::SENDER_UNKNOWN, style::dim()),
    }
}

fn status_mark(m: &Message) -> Option<Span<'static>> {
    if m.sender == Sender::User {
        return None;
    }
    Some(match m.status {
        Status::Pending => Span::styled(" …", style::dim()),
        Status::Sent => Span::raw(" ✓"),
        Status::Delivered => Span::raw(" ✓✓"),
        Status::Read => Span::styled(" ✓✓ read", style::read()),
        Status::Failed => Span::styled(" ✗", style::error()),
        Status::Received | Status::Unknown => return None,
    })
}

/// One message: prefix on the first line, the text wrapped under itself, the mark at the end.
fn message_lines(
    time: &str,
    sender: Sender,
    text: &str,
    mark: Option<Span<'static>>,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let (label, label_style) = sender_label(sender);
    let text_w = width.saturating_sub(PREFIX).max(8);
    let mark_w = mark.as_ref().map_or(0, |m| width_of(&m.content));
    let mut pieces = wrap(text, text_w);
    // Room for the mark on the last line, else it gets its own.
    if mark_w > 0 && pieces.last().is_some_and(|l| width_of(l) + mark_w > text_w) {
        pieces.push(String::new());
    }
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.into_iter().enumerate() {
        let mut spans = if i == 0 {
            vec![
                Span::styled(format!("{time:<5} "), style::dim()),
                Span::styled(format!("{label:<5} "), label_style),
            ]
        } else {
            vec![Span::raw(" ".repeat(PREFIX))]
        };
        let text_style = if sender == Sender::Bot {
            style::bot()
        } else {
            style::base()
        };
        spans.push(Span::styled(piece, text_style));
        if i == last {
            if let Some(m) = &mark {
                spans.push(m.clone());
            }
        }
        out.push(Line::from(spans));
    }
}

fn note(text: String, st: ratatui::style::Style, width: usize) -> Vec<Line<'static>> {
    wrap(&text, width.saturating_sub(PREFIX).max(8))
        .into_iter()
        .map(|l| Line::from(vec![Span::raw(" ".repeat(PREFIX)), Span::styled(l, st)]))
        .collect()
}

/// Every line of the open thread, oldest first.
pub(crate) fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let Some(address) = &app.open else {
        return vec![Line::from(Span::styled(strings::PICK_A_CHAT, style::dim()))];
    };
    let empty = Thread::default();
    let t = app.threads.get(address).unwrap_or(&empty);
    let mut out = Vec::new();
    if !t.loaded {
        if let Some(e) = &t.error {
            out.push(Line::from(Span::styled(
                strings::load_error(e),
                style::error(),
            )));
        } else {
            out.push(Line::from(Span::styled(strings::LOADING, style::dim())));
        }
        return out;
    }
    if t.loading {
        out.push(Line::from(Span::styled(strings::LOADING_OLDER, style::dim())).centered());
    } else if let Some(e) = &t.error {
        out.push(Line::from(Span::styled(
            strings::load_error(e),
            style::error(),
        )));
    } else if t.next_before != 0 {
        out.push(Line::from(Span::styled(strings::OLDER_HINT, style::dim())).centered());
    } else if !t.messages.is_empty() {
        out.push(divider(strings::START_OF_HISTORY, width));
    }
    if t.messages.is_empty() && t.outgoing.is_empty() {
        out.push(Line::from(Span::styled(strings::NO_MESSAGES, style::dim())));
    }
    let tz = app.settings.utc_offset;
    let mut day: Option<NaiveDate> = None;
    let mut session: Option<i64> = None;
    for m in &t.messages {
        if let Some(at) = m.at {
            let d = at.with_timezone(&tz).date_naive();
            if day != Some(d) {
                out.push(divider(&date(app, at), width));
                day = Some(d);
            }
        }
        if session != Some(m.session_id) {
            // Session boundaries: the first message of a session, or leaving one.
            if m.session_id != 0 || session.is_some() {
                out.push(divider(&strings::session_divider(m.session_id), width));
            }
            session = Some(m.session_id);
        }
        let time = m.at.map(|t| clock(app, t)).unwrap_or_default();
        let text = super::shown_text(m.sender, &m.text);
        message_lines(&time, m.sender, text, status_mark(m), width, &mut out);
        if m.status == Status::Failed {
            out.extend(note(
                strings::failed_inline(m.error_code, &clean(&m.error_message)),
                style::error(),
                width,
            ));
        }
    }
    for o in &t.outgoing {
        let time = clock(app, o.at);
        let mark = match &o.error {
            None => Span::styled(format!(" {}", strings::SENDING), style::dim()),
            Some(_) => Span::styled(" ✗", style::error()),
        };
        message_lines(&time, Sender::Agent, &o.text, Some(mark), width, &mut out);
        if let Some(e) = &o.error {
            out.extend(note(
                strings::not_sent_inline(&clean(e)),
                style::error(),
                width,
            ));
        }
    }
    out
}
