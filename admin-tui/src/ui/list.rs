//! The chat list: two lines per conversation — name, NEW badge, waiting time and unread count;
//! then number, student/lead, the 24-hour window and the last message.

use ratatui::{
    layout::{Position, Rect},
    text::{Line, Span},
    widgets::{Block, Paragraph},
    Frame,
};

use super::{clean, fit, hours_minutes, short_duration, style, when};
use crate::app::{App, Focus, Tab};
use crate::layout::{self, ROW_HEIGHT};
use crate::model::{Kind, Priority, Sender, Summary};
use crate::strings;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    // Once per frame: every waiting chat's place in the queue (O(n log n), not O(n) per row).
    let positions = app.queue_positions();
    let focused = app.focus == Focus::List && app.dialog.is_none() && app.help.is_none();
    let rows = app.rows();
    let title = match app.tab {
        Tab::Active => format!(" {} ({}) ", strings::TAB_ACTIVE, app.chats.len()),
        Tab::All => format!(" {} ", strings::TAB_ALL),
        Tab::Mine => format!(" {} ({}) ", strings::TAB_MINE, rows.len()),
        Tab::Unassigned => format!(" {} ({}) ", strings::TAB_UNASSIGNED, rows.len()),
    };
    let capacity = layout::list_capacity(area, app.filter_shown()).max(1);
    // The first visible row keeps the selection in view; the state reads it back (paging and
    // the mouse use what was drawn).
    let offset = app.list.update(app.sel_index, rows.len(), capacity);
    let below = rows.len().saturating_sub(offset + capacity);
    let mut block = Block::bordered()
        .title(Span::styled(title, style::bold()))
        .border_style(if focused {
            style::focused_border()
        } else {
            style::border()
        });
    if below > 0 {
        block = block.title_bottom(
            Line::from(Span::styled(strings::more_rows_count(below), style::dim())).right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines: Vec<Line<'static>> = Vec::new();
    if app.filter_shown() {
        let query = clean(&app.filter.editor.text());
        let mut left = vec![
            Span::styled(strings::FILTER_PROMPT, style::bold()),
            Span::styled(query.clone(), style::bold()),
        ];
        if app.filter.editing && query.is_empty() {
            left.push(Span::styled(
                format!(" {}", strings::FILTER_HINT),
                style::dim(),
            ));
        }
        lines.push(fit(left, Vec::new(), width));
        if app.filter.editing {
            let x = inner.x + 1 + u16::try_from(super::width(&query)).unwrap_or(0);
            frame.set_cursor_position(Position::new(
                x.min(inner.right().saturating_sub(1)),
                inner.y,
            ));
        }
    }
    if rows.is_empty() {
        let empty = match (app.tab, app.synced, app.filter_shown()) {
            (Tab::Active, false, _) => strings::WAITING_SNAPSHOT,
            (_, _, true) => strings::NO_MATCHES,
            (Tab::Active, true, false) => strings::NO_ACTIVE_CHATS,
            (Tab::Mine, _, false) if app.me().is_none() => strings::NO_AGENT_IDENTITY,
            (Tab::Mine, _, false) => strings::NO_MINE,
            (Tab::Unassigned, _, false) => strings::NO_UNASSIGNED,
            (Tab::All, _, false) if app.all.loading => strings::LOADING,
            (Tab::All, _, false) => strings::NO_CONVERSATIONS,
        };
        lines.push(Line::from(Span::styled(format!(" {empty}"), style::dim())));
    }
    for (i, s) in rows.iter().enumerate().skip(offset).take(capacity) {
        let selected = i == app.sel_index;
        let row = row_lines(
            app,
            s,
            positions.get(s.address.as_str()).copied(),
            selected,
            focused,
            width,
        );
        lines.extend(row);
    }
    if app.tab == Tab::All {
        if let Some(e) = &app.all.error {
            lines.push(Line::from(Span::styled(
                strings::load_error(e),
                style::error(),
            )));
        } else if app.all.loading && !rows.is_empty() {
            lines.push(Line::from(Span::styled(
                format!(" {}", strings::LOADING),
                style::dim(),
            )));
        }
    }
    lines.truncate(usize::from(inner.height));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The fewest cells a name is cut to so the badges beside it still show.
const MIN_NAME: usize = 8;

/// ` ‼ urgent`, ` ▲ high`, ` ▽ low`; nothing for normal.
pub(super) fn priority_badge(p: Priority) -> Option<Span<'static>> {
    match p {
        Priority::Normal => None,
        Priority::Urgent => Some(Span::styled(" ‼ urgent", style::urgent())),
        Priority::High => Some(Span::styled(" ▲ high", style::high())),
        Priority::Low => Some(Span::styled(" ▽ low", style::dim())),
    }
}

/// The two lines of one conversation.
fn row_lines(
    app: &App,
    s: &Summary,
    queue_position: Option<usize>,
    selected: bool,
    focused: bool,
    width: usize,
) -> [Line<'static>; ROW_HEIGHT] {
    let marker = if selected { "▌" } else { " " };
    let mut left = vec![Span::styled(marker, style::bold())];
    if app.fresh.contains(&s.address) {
        left.push(Span::styled(
            format!(" {} ", strings::NEW_BADGE),
            style::new_badge(),
        ));
        left.push(Span::raw(" "));
    }
    let name_at = left.len();
    left.push(Span::styled(clean(s.name()), style::bold()));
    if s.chat_active {
        if let Some(badge) = priority_badge(s.priority) {
            left.push(badge);
        }
        if !s.assigned_agent.is_empty() {
            let mine = app
                .me()
                .is_some_and(|m| m.eq_ignore_ascii_case(&s.assigned_agent));
            left.push(Span::styled(
                format!(" {}", strings::assigned_to(&clean(&s.assigned_agent))),
                if mine { style::ok() } else { style::dim() },
            ));
        }
    }
    let mut right = Vec::new();
    // The waiting alarm: a chat in the queue past the thresholds is amber, then red.
    let queue_style = app
        .queue_wait(s)
        .map_or(style::bold(), |w| style::alarm(app.alarm(w)));
    if let Some(n) = queue_position {
        right.push(Span::styled(strings::queue_position(n), queue_style));
    }
    if s.chat_active {
        if let Some(since) = s.waiting_since {
            let waited = app.now - since;
            let st = if app.queue_wait(s).is_some() {
                queue_style
            } else if waited.num_minutes() >= 10 {
                style::urgent()
            } else {
                style::bold()
            };
            if !right.is_empty() {
                right.push(Span::raw(" · "));
            }
            right.push(Span::styled(
                strings::waiting_for(&short_duration(waited)),
                st,
            ));
        }
    } else if let Some(at) = s.last_message.as_ref().and_then(|m| m.at) {
        right.push(Span::styled(when(app, at), style::dim()));
    }
    if s.unread_count > 0 {
        if !right.is_empty() {
            right.push(Span::raw(" · "));
        }
        right.push(Span::styled(strings::unread(s.unread_count), style::bold()));
    }
    // When the row is too narrow for everything, the queue label shrinks to "#n" before the
    // name or the assignee are cut.
    let spans_w = |v: &[Span<'_>]| v.iter().map(|x| super::width(&x.content)).sum::<usize>();
    if let Some(n) = queue_position {
        if spans_w(&left) + spans_w(&right) > width {
            right[0] = Span::styled(strings::queue_position_short(n), queue_style);
        }
    }
    // Still too narrow: the name gives way (down to a few letters) before the priority badge
    // and the assignee after it are cut.
    let over = (spans_w(&left) + spans_w(&right) + 1).saturating_sub(width);
    if over > 0 && !right.is_empty() {
        if let Some(name) = left.get_mut(name_at) {
            let w = super::width(&name.content);
            let keep = w.saturating_sub(over).max(MIN_NAME.min(w));
            *name = Span::styled(super::truncate(&name.content, keep), name.style);
        }
    }
    let first = fit(left, right, width);

    let kind = match s.kind {
        Kind::Student => strings::STUDENT,
        Kind::Lead => strings::LEAD,
    };
    let mut second = vec![
        Span::raw("  "),
        Span::raw(clean(&s.contact_line())),
        Span::styled(format!(" · {kind}"), style::dim()),
    ];
    match s.window_left(app.now) {
        Some(left) => {
            let st = if left.num_minutes() < 60 {
                style::urgent()
            } else {
                style::base()
            };
            second.push(Span::raw(" · "));
            second.push(Span::styled(strings::window_left(&hours_minutes(left)), st));
        }
        None if s.last_inbound_at.is_some() => {
            second.push(Span::raw(" · "));
            second.push(Span::styled(strings::WINDOW_CLOSED, style::error()));
        }
        None => {}
    }
    if let Some((sender, text)) = app.preview(s) {
        let who = match sender {
            Sender::User => strings::SENDER_USER,
            Sender::Agent => strings::SENDER_AGENT,
            Sender::Bot => strings::SENDER_BOT,
            Sender::Unknown => strings::SENDER_UNKNOWN,
        };
        second.push(Span::styled(format!(" · {who}: "), style::dim()));
        second.push(Span::raw(clean(super::shown_text(sender, text))));
    }
    let second = fit(second, Vec::new(), width);
    let mut out = [first, second];
    if selected && focused {
        for line in &mut out {
            // Pad so the highlight spans the whole row.
            let w: usize = line.spans.iter().map(|s| super::width(&s.content)).sum();
            if w < width {
                line.spans.push(Span::raw(" ".repeat(width - w)));
            }
            line.style = style::selected();
        }
    }
    out
}
