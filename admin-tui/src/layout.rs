//! Where each pane goes for a given terminal size and state. One pure function shared by the
//! renderer, the mouse mapping and the scrolling logic, so they always agree.
//!
//! Wide terminals (≥ [`NARROW_WIDTH`] columns): the chat list on the left, the thread and the
//! compose box on the right. Narrow ones (80×24): one pane at a time — the list, or the thread
//! with its compose box once a chat is opened (Esc goes back).

use ratatui::layout::Rect;

use crate::app::{App, Conn, Focus};

/// Below this width the console shows one pane at a time.
pub(crate) const NARROW_WIDTH: u16 = 100;
/// Lines per chat in the list.
pub(crate) const ROW_HEIGHT: usize = 2;
/// The compose box's largest height (borders included).
const COMPOSE_MAX: u16 = 10;

/// The screen's regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Areas {
    pub(crate) header: Rect,
    /// The disconnected banner.
    pub(crate) banner: Option<Rect>,
    pub(crate) list: Option<Rect>,
    pub(crate) thread: Option<Rect>,
    pub(crate) compose: Option<Rect>,
    pub(crate) status: Rect,
}

/// Whether the banner shows (the stream is down).
pub(crate) fn banner_shown(app: &App) -> bool {
    matches!(app.conn, Conn::Down { .. })
}

/// Whether the list shows its filter line.
pub(crate) fn filter_shown(app: &App) -> bool {
    app.filter.editing || !app.filter.editor.is_blank()
}

/// The regions for `area`.
pub(crate) fn areas(app: &App, area: Rect) -> Areas {
    areas_with(app, area, app.focus)
}

/// The regions for `area` as if the focus were `focus`.
fn areas_with(app: &App, area: Rect, focus: Focus) -> Areas {
    let header = Rect {
        height: area.height.min(1),
        ..area
    };
    let status = Rect {
        y: area.bottom().saturating_sub(1),
        height: area.height.saturating_sub(1).min(1),
        ..area
    };
    let mut top = header.bottom();
    let banner = if banner_shown(app) && area.height > 6 {
        top += 1;
        Some(Rect {
            y: header.bottom(),
            height: 1,
            ..area
        })
    } else {
        None
    };
    let main = Rect {
        x: area.x,
        y: top,
        width: area.width,
        height: status.y.saturating_sub(top),
    };
    let narrow = area.width < NARROW_WIDTH;
    let (list, right) = if narrow {
        if focus == Focus::List || app.open.is_none() {
            (Some(main), None)
        } else {
            (None, Some(main))
        }
    } else {
        let list_width = (main.width * 2 / 5).clamp(38, 64).min(main.width);
        let list = Rect {
            width: list_width,
            ..main
        };
        let right = Rect {
            x: main.x + list_width,
            width: main.width - list_width,
            ..main
        };
        (Some(list), Some(right))
    };
    let (thread, compose) = match right {
        Some(r) if app.open.is_some() => {
            let h = compose_height(app, r.width).min(r.height / 2);
            let thread = Rect {
                height: r.height - h,
                ..r
            };
            let compose = Rect {
                y: thread.bottom(),
                height: h,
                ..r
            };
            (Some(thread), Some(compose))
        }
        Some(r) => (Some(r), None),
        None => (None, None),
    };
    Areas {
        header,
        banner,
        list,
        thread,
        compose,
        status,
    }
}

/// The compose box's height for a pane `width` wide: the draft's wrapped lines plus borders.
fn compose_height(app: &App, width: u16) -> u16 {
    let lines = app.open_draft().map_or(1, |d| {
        d.editor
            .layout(usize::from(width.saturating_sub(2)))
            .0
            .len()
    });
    let lines = u16::try_from(lines).unwrap_or(u16::MAX);
    lines.saturating_add(2).clamp(3, COMPOSE_MAX)
}

fn screen(app: &App) -> Rect {
    Rect::new(0, 0, app.size.0, app.size.1)
}

/// How many chats fit in the list pane.
pub(crate) fn list_capacity(app: &App) -> usize {
    let Some(list) = areas(app, screen(app)).list else {
        return 0;
    };
    let inner = usize::from(list.height.saturating_sub(2));
    let filter = usize::from(filter_shown(app));
    inner.saturating_sub(filter) / ROW_HEIGHT
}

/// The thread pane's inner size (columns, lines) when it shows.
pub(crate) fn thread_inner(app: &App) -> (usize, usize) {
    // Scrolling is only asked for when the thread shows; measure it as it would show.
    let focus = if app.focus == Focus::List {
        Focus::Thread
    } else {
        app.focus
    };
    areas_with(app, screen(app), focus)
        .thread
        .map_or((0, 0), |t| {
            (
                usize::from(t.width.saturating_sub(2)),
                usize::from(t.height.saturating_sub(2)),
            )
        })
}

/// The thread pane's inner height.
pub(crate) fn thread_height(app: &App) -> usize {
    thread_inner(app).1
}
