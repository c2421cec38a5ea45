//! The help overlay, generated from the key binding table: every key, by context.

use ratatui::{
    layout::Rect,
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph},
    Frame,
};

use super::{dialog::centered, fit, style};
use crate::input::{BINDINGS, HELP_SECTIONS};
use crate::strings;

/// Label column width.
const LABEL: usize = 11;

/// The help's lines for one column of `width` cells.
fn sections(width: usize) -> Vec<Vec<Line<'static>>> {
    HELP_SECTIONS
        .iter()
        .map(|(ctx, title)| {
            let mut lines = vec![Line::from(Span::styled(*title, style::bold()))];
            for b in BINDINGS
                .iter()
                .filter(|b| b.ctx == *ctx && !b.label.is_empty())
            {
                lines.push(fit(
                    vec![
                        Span::styled(format!(" {:<LABEL$}", b.label), style::bold()),
                        Span::raw(b.help),
                    ],
                    Vec::new(),
                    width,
                ));
            }
            lines
        })
        .collect()
}

pub(super) fn render(frame: &mut Frame, area: Rect, scroll: usize) {
    let outer_w = area.width.min(110);
    let two = outer_w >= 78;
    let col_w = if two {
        (outer_w.saturating_sub(3)) / 2
    } else {
        outer_w.saturating_sub(2)
    };
    let secs = sections(usize::from(col_w));
    let columns: Vec<Vec<Line<'static>>> = if two {
        // Split the sections, in order, where the taller column is shortest.
        let heights: Vec<usize> = secs.iter().map(|s| s.len() + 1).collect();
        let total: usize = heights.iter().sum();
        let split = (0..=secs.len())
            .min_by_key(|&k| {
                let left: usize = heights.iter().take(k).sum();
                left.max(total - left)
            })
            .unwrap_or(secs.len());
        let mut left = Vec::new();
        let mut right = Vec::new();
        for (i, mut s) in secs.into_iter().enumerate() {
            s.push(Line::default());
            if i < split {
                left.extend(s);
            } else {
                right.extend(s);
            }
        }
        vec![left, right]
    } else {
        vec![secs
            .into_iter()
            .flat_map(|mut s| {
                s.push(Line::default());
                s
            })
            .collect()]
    };
    let longest = columns.iter().map(Vec::len).max().unwrap_or(0);
    let height = u16::try_from(longest + 1).unwrap_or(u16::MAX);
    let rect = centered(area, outer_w, height.min(area.height.saturating_sub(2)));
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .border_style(style::focused_border())
        .title(Span::styled(
            format!(" {} ", strings::HELP_TITLE),
            style::bold(),
        ))
        .title_bottom(
            Line::from(Span::styled(
                format!(" {} ", strings::HELP_FOOTER),
                style::dim(),
            ))
            .right_aligned(),
        );
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let scroll = scroll.min(longest.saturating_sub(usize::from(inner.height)));
    for (i, col) in columns.into_iter().enumerate() {
        let x = inner.x + (col_w + 1) * u16::try_from(i).unwrap_or(0);
        let r = Rect {
            x,
            width: col_w,
            ..inner
        }
        .intersection(inner);
        let shown: Vec<Line<'static>> = col.into_iter().skip(scroll).collect();
        frame.render_widget(Paragraph::new(shown), r);
    }
}
