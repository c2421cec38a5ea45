//! Where each pane goes for a given terminal area. One pure function of a [`Rect`] and a
//! [`Shape`] (the few facts about the state that move panes), shared by the renderer and the
//! mouse mapping, so they always agree. It knows nothing of the console's state.
//!
//! Wide terminals (≥ [`NARROW_WIDTH`] columns): the chat list on the left, the thread and the
//! compose box on the right. Narrow ones (80×24): one pane at a time — the list, or the thread
//! with its compose box once a chat is opened (Esc goes back).

use ratatui::layout::Rect;

use crate::editor::Editor;

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
    /// Between the header (and banner) and the status bar: the panes, or the stats screen.
    pub(crate) main: Rect,
    pub(crate) list: Option<Rect>,
    pub(crate) thread: Option<Rect>,
    pub(crate) compose: Option<Rect>,
    pub(crate) status: Rect,
}

/// What in the state moves panes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shape<'a> {
    /// The disconnected banner shows.
    pub(crate) banner: bool,
    /// A conversation is open (the thread and its compose box show).
    pub(crate) open: bool,
    /// The list has the keyboard (a narrow screen shows the list alone).
    pub(crate) list_focused: bool,
    /// The open conversation's draft (the compose box grows with it).
    pub(crate) draft: Option<&'a Editor>,
}

/// The regions for `area`.
pub(crate) fn areas(area: Rect, shape: &Shape<'_>) -> Areas {
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
    let banner = if shape.banner && area.height > 6 {
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
        if shape.list_focused || !shape.open {
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
        Some(r) if shape.open => {
            let h = compose_height(shape.draft, r.width).min(r.height / 2);
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
        main,
        list,
        thread,
        compose,
        status,
    }
}

/// The compose box's height for a pane `width` wide: the draft's wrapped lines plus borders.
fn compose_height(draft: Option<&Editor>, width: u16) -> u16 {
    let lines = draft.map_or(1, |d| {
        d.layout(usize::from(width.saturating_sub(2))).0.len()
    });
    let lines = u16::try_from(lines).unwrap_or(u16::MAX);
    lines.saturating_add(2).clamp(3, COMPOSE_MAX)
}

/// How many rows of [`ROW_HEIGHT`] lines fit in the list pane `list` (borders and the filter
/// line taken off).
pub(crate) fn list_capacity(list: Rect, filter: bool) -> usize {
    let inner = usize::from(list.height.saturating_sub(2));
    inner.saturating_sub(usize::from(filter)) / ROW_HEIGHT
}
