//! Modal dialogs: ending a chat (with its editable closing message) and quitting with unsent
//! text.

use ratatui::{
    layout::{Position, Rect},
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph},
    Frame,
};

use super::{clean, style, wrap};
use crate::app::{App, Dialog};
use crate::strings;

/// A `width`×`height` rectangle centred in `area` (clipped to it).
pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// The assign / transfer dialog: the agent picker, then the note.
fn assign(app: &App, frame: &mut Frame, area: Rect, dialog: &Dialog) {
    let Dialog::Assign {
        name,
        transfer,
        index,
        editor,
        error,
        ..
    } = dialog
    else {
        return;
    };
    let (transfer, index, error) = (*transfer, *index, error.as_deref());
    let w = area.width.saturating_sub(4).min(60);
    let inner_w = usize::from(w.saturating_sub(4));
    let mut rows: Vec<Line<'static>> = app
        .desk
        .agents
        .iter()
        .map(|a| {
            let mut spans = vec![Span::styled(clean(&a.name), style::bold())];
            if a.display_name != a.name {
                spans.push(Span::styled(
                    format!(" ({})", clean(&a.display_name)),
                    style::dim(),
                ));
            }
            if a.available {
                spans.push(Span::styled(
                    format!(" · {}", strings::AVAILABLE),
                    style::ok(),
                ));
            }
            spans.push(Span::styled(
                format!(" · {}", strings::open_chats(app.open_chats_of(&a.name))),
                style::dim(),
            ));
            Line::from(spans)
        })
        .collect();
    if !transfer {
        rows.push(Line::from(Span::styled(strings::NOBODY, style::dim())));
    }
    for (i, row) in rows.iter_mut().enumerate() {
        let marker = if i == index { "▌" } else { " " };
        row.spans.insert(0, Span::styled(marker, style::bold()));
        if i == index {
            row.style = style::selected();
        }
    }
    let (text, (row, col)) = editor.layout(inner_w.saturating_sub(1).max(1));
    let note_line = text.get(row).cloned().unwrap_or_default();
    let mut lines = vec![Line::from(Span::styled(
        strings::dialog_for(&clean(name)),
        style::bold(),
    ))];
    lines.push(Line::default());
    lines.extend(rows);
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled(format!("{} ", strings::NOTE_FIELD), style::bold()),
        Span::raw(clean(&note_line)),
    ]));
    if let Some(e) = error {
        lines.push(Line::from(Span::styled(clean(e), style::error())));
    }
    let h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, w, h);
    frame.render_widget(Clear, rect);
    let title = if transfer {
        strings::TRANSFER_TITLE
    } else {
        strings::ASSIGN_TITLE
    };
    let block = Block::bordered()
        .border_style(style::focused_border())
        .title(Span::styled(title, style::bold()))
        .title_bottom(
            Line::from(Span::styled(
                format!(" {} ", strings::ASSIGN_HINT),
                style::dim(),
            ))
            .right_aligned(),
        );
    let inner = block.inner(rect).inner(ratatui::layout::Margin::new(1, 0));
    frame.render_widget(block, rect);
    let note_y = inner.y
        + u16::try_from(lines.len().saturating_sub(1 + usize::from(error.is_some()))).unwrap_or(0);
    frame.render_widget(Paragraph::new(lines), inner);
    if app.help.is_none() {
        let label = u16::try_from(strings::NOTE_FIELD.chars().count() + 1).unwrap_or(0);
        let x = inner.x + label + u16::try_from(col).unwrap_or(0);
        frame.set_cursor_position(Position::new(
            x.min(inner.right().saturating_sub(1)),
            note_y.min(inner.bottom().saturating_sub(1)),
        ));
    }
}

/// The private-note dialog.
fn note(
    app: &App,
    frame: &mut Frame,
    area: Rect,
    name: &str,
    editor: &crate::editor::Editor,
    error: Option<&str>,
) {
    let w = area.width.saturating_sub(4).min(64);
    let inner_w = usize::from(w.saturating_sub(4));
    let (text, (row, col)) = editor.layout(inner_w.max(1));
    let text_h = text.len().clamp(1, 6);
    let top = (row + 1).saturating_sub(text_h);
    let mut lines = vec![
        Line::from(Span::styled(
            strings::dialog_for(&clean(name)),
            style::bold(),
        )),
        Line::default(),
    ];
    lines.extend(
        text.iter()
            .skip(top)
            .take(text_h)
            .map(|l| Line::from(Span::styled(clean(l), style::note()))),
    );
    if let Some(e) = error {
        lines.push(Line::from(Span::styled(clean(e), style::error())));
    }
    let h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = centered(area, w, h);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_style(style::note_head())
        .title(Span::styled(strings::NOTE_TITLE, style::note_head()))
        .title_bottom(
            Line::from(Span::styled(
                format!(" {} ", strings::NOTE_HINT),
                style::dim(),
            ))
            .right_aligned(),
        );
    let inner = block.inner(rect).inner(ratatui::layout::Margin::new(1, 0));
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(lines), inner);
    if app.help.is_none() {
        let x = inner.x + u16::try_from(col).unwrap_or(0);
        let y = inner.y + 2 + u16::try_from(row - top).unwrap_or(0);
        frame.set_cursor_position(Position::new(
            x.min(inner.right().saturating_sub(1)),
            y.min(inner.bottom().saturating_sub(1)),
        ));
    }
}

pub(super) fn render(app: &App, dialog: &Dialog, frame: &mut Frame, area: Rect) {
    match dialog {
        Dialog::Assign { .. } => assign(app, frame, area, dialog),
        Dialog::Note {
            name,
            editor,
            error,
            ..
        } => note(app, frame, area, name, editor, error.as_deref()),
        Dialog::EndChat {
            address,
            name,
            editor,
            send_closing,
            busy,
            error,
        } => {
            let w = area.width.saturating_sub(4).min(72);
            let inner_w = usize::from(w.saturating_sub(4));
            let contact = app
                .summary(address)
                .map_or_else(|| address.clone(), |s| s.contact_line());
            let question = wrap(
                &strings::end_question(&clean(name), &clean(&contact), *send_closing),
                inner_w,
            );
            let (text, (row, col)) = editor.layout(inner_w.saturating_sub(2));
            let text_h = text.len().clamp(1, 6);
            let status = match (busy, error) {
                (true, _) => Some(Line::from(Span::styled(strings::END_BUSY, style::dim()))),
                (false, Some(e)) => Some(Line::from(Span::styled(clean(e), style::error()))),
                (false, None) => None,
            };
            let toggle = if *send_closing {
                Line::from(Span::styled(strings::SEND_CLOSING_ON, style::base()))
            } else {
                Line::from(Span::styled(strings::SEND_CLOSING_OFF, style::bold()))
            };
            let h = question.len() + 1 + text_h + 2 + 1 + usize::from(status.is_some()) + 1 + 2;
            let rect = centered(area, w, u16::try_from(h).unwrap_or(u16::MAX));
            frame.render_widget(Clear, rect);
            let block = Block::bordered()
                .border_style(style::focused_border())
                .title(Span::styled(
                    format!(" {} ", strings::END_TITLE),
                    style::bold(),
                ))
                .title_bottom(
                    Line::from(Span::styled(
                        format!(" {} ", strings::END_HINT),
                        style::dim(),
                    ))
                    .right_aligned(),
                );
            let inner = block.inner(rect).inner(ratatui::layout::Margin::new(1, 0));
            frame.render_widget(block, rect);
            let mut y = inner.y;
            for q in &question {
                frame.render_widget(
                    Paragraph::new(q.clone()),
                    Rect {
                        y,
                        height: 1,
                        ..inner
                    },
                );
                y += 1;
            }
            y += 1;
            let boxed = Rect {
                y,
                height: u16::try_from(text_h + 2).unwrap_or(3),
                ..inner
            }
            .intersection(inner);
            let editor_block = Block::bordered().border_style(if *send_closing {
                style::bold()
            } else {
                style::dim()
            });
            let text_area = editor_block.inner(boxed);
            frame.render_widget(editor_block, boxed);
            let top = (row + 1).saturating_sub(text_h);
            let shown: Vec<Line<'static>> = text
                .iter()
                .skip(top)
                .take(text_h)
                .map(|l| Line::from(clean(l)))
                .collect();
            let text_style = if *send_closing {
                style::base()
            } else {
                style::dim()
            };
            frame.render_widget(Paragraph::new(shown).style(text_style), text_area);
            y = boxed.bottom();
            frame.render_widget(
                Paragraph::new(toggle),
                Rect {
                    y,
                    height: 1,
                    ..inner
                }
                .intersection(inner),
            );
            y += 1;
            if let Some(s) = status {
                frame.render_widget(
                    Paragraph::new(s),
                    Rect {
                        y,
                        height: 1,
                        ..inner
                    }
                    .intersection(inner),
                );
            }
            if !busy && *send_closing && app.help.is_none() {
                let cx = text_area.x + u16::try_from(col).unwrap_or(0);
                let cy = text_area.y + u16::try_from(row - top).unwrap_or(0);
                frame.set_cursor_position(Position::new(
                    cx.min(text_area.right().saturating_sub(1)),
                    cy.min(text_area.bottom().saturating_sub(1)),
                ));
            }
        }
        Dialog::ConfirmQuit { unsent } => {
            let rect = centered(area, 52, 5);
            frame.render_widget(Clear, rect);
            let block = Block::bordered()
                .border_style(style::focused_border())
                .title(Span::styled(
                    format!(" {} ", strings::QUIT_TITLE),
                    style::bold(),
                ));
            let lines = vec![
                Line::from(strings::quit_question(*unsent)),
                Line::default(),
                Line::from(Span::styled(strings::QUIT_HINT, style::bold())),
            ];
            frame.render_widget(Paragraph::new(lines).block(block).centered(), rect);
        }
    }
}
