//! The compose box: the open conversation's draft, soft-wrapped, with the cursor; a warning
//! in its title when the 24-hour window is closed.

use ratatui::{
    layout::{Position, Rect},
    text::{Line, Span},
    widgets::{Block, Paragraph},
    Frame,
};

use super::{clean, fit, style};
use crate::app::{App, Focus};
use crate::strings;

pub(super) fn render(app: &App, frame: &mut Frame, area: Rect) {
    let focused = app.focus == Focus::Compose && app.dialog.is_none() && app.help.is_none();
    let name = app
        .open_summary()
        .map_or_else(String::new, |s| clean(s.name()));
    let closed = app
        .open_summary()
        .is_some_and(|s| s.window_left(app.now).is_none());
    let inner_w = usize::from(area.width.saturating_sub(2));
    let mut block = Block::bordered()
        .border_style(if focused {
            style::focused_border()
        } else {
            style::border()
        })
        .title(fit(
            vec![Span::styled(
                format!(" {} ", strings::reply_to(&name)),
                style::bold(),
            )],
            Vec::new(),
            inner_w,
        ));
    if closed {
        block = block.title_bottom(fit(
            vec![Span::styled(
                format!(" {} ", strings::WINDOW_CLOSED_WARNING),
                style::error(),
            )],
            Vec::new(),
            inner_w,
        ));
    } else if focused {
        block = block.title_bottom(
            Line::from(Span::styled(
                format!(" {} ", strings::COMPOSE_HINT),
                style::dim(),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let draft = app.open_draft();
    let blank = draft.is_none_or(|d| d.editor.is_blank() && d.editor.lines().len() == 1);
    if blank && !focused {
        frame.render_widget(
            Paragraph::new(Span::styled(strings::COMPOSE_PLACEHOLDER, style::dim())),
            inner,
        );
        return;
    }
    let (lines, (row, col)) = draft.map_or_else(
        || (vec![String::new()], (0, 0)),
        |d| d.editor.layout(usize::from(inner.width)),
    );
    let height = usize::from(inner.height).max(1);
    // Keep the cursor's line in view.
    let top = (row + 1).saturating_sub(height);
    let shown: Vec<Line<'static>> = lines
        .iter()
        .skip(top)
        .take(height)
        .map(|l| Line::from(clean(l)))
        .collect();
    frame.render_widget(Paragraph::new(shown), inner);
    if focused {
        let x = inner.x + u16::try_from(col).unwrap_or(0);
        let y = inner.y + u16::try_from(row - top).unwrap_or(0);
        frame.set_cursor_position(Position::new(
            x.min(inner.right().saturating_sub(1)),
            y.min(inner.bottom().saturating_sub(1)),
        ));
    }
}

/// The canned-response picker, just above the compose box, while the draft is `/shortcut`.
pub(super) fn picker(app: &App, frame: &mut Frame, compose: Rect) {
    if app.dialog.is_some() || app.help.is_some() {
        return;
    }
    let matches = app.picker_matches();
    if matches.is_empty() {
        if app.desk.canned.is_empty() && app.picker_typed().is_some() {
            no_canned(frame, compose);
        }
        return;
    }
    const SHOWN: usize = 6;
    let selected = app.picker.min(matches.len() - 1);
    let first = (selected + 1).saturating_sub(SHOWN);
    let rows = matches.len().min(SHOWN);
    let height = u16::try_from(rows + 2).unwrap_or(8).min(compose.y);
    let width = compose.width.min(72);
    if height < 3 {
        return;
    }
    let rect = Rect::new(compose.x, compose.y - height, width, height);
    frame.render_widget(ratatui::widgets::Clear, rect);
    let block = Block::bordered()
        .border_style(style::focused_border())
        .title(Span::styled(strings::PICKER_TITLE, style::bold()));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let w = usize::from(inner.width);
    let lines: Vec<Line<'static>> = matches
        .iter()
        .enumerate()
        .skip(first)
        .take(SHOWN)
        .map(|(i, c)| {
            let mut line = fit(
                vec![
                    Span::styled(format!("/{:<10} ", clean(&c.shortcut)), style::bold()),
                    Span::styled(clean(&c.body), style::dim()),
                ],
                Vec::new(),
                w,
            );
            if i == selected {
                let used: usize = line.spans.iter().map(|s| super::width(&s.content)).sum();
                line.spans
                    .push(Span::raw(" ".repeat(w.saturating_sub(used))));
                line.style = style::selected();
            }
            line
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Where the picker would be, when the desk has no canned responses: how to add one.
fn no_canned(frame: &mut Frame, compose: Rect) {
    let width = compose.width.min(72);
    let inner_w = usize::from(width.saturating_sub(2));
    let lines: Vec<Line<'static>> = super::wrap(strings::NO_CANNED, inner_w)
        .into_iter()
        .map(|l| Line::from(Span::styled(l, style::dim())))
        .collect();
    let height = u16::try_from(lines.len() + 2)
        .unwrap_or(u16::MAX)
        .min(compose.y);
    if height < 3 {
        return;
    }
    let rect = Rect::new(compose.x, compose.y - height, width, height);
    frame.render_widget(ratatui::widgets::Clear, rect);
    let block = Block::bordered()
        .border_style(style::focused_border())
        .title(Span::styled(strings::NO_CANNED_TITLE, style::bold()));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(lines), inner);
}
