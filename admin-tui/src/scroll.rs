//! Scroll state, kept where gitui keeps it: the offset belongs to the state (`app` moves it on
//! keys), the geometry — how much shows, how far the content goes — is written by the renderer
//! while it draws (through `Cell`s, so drawing still takes `&App`). The state never measures
//! what it would draw: it reads what the last frame measured.
//!
//! Depends on nothing else in the crate.

use std::cell::Cell;

/// A list of fixed-height rows with a selection (the chat list).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ListScroll {
    /// The first visible row.
    top: Cell<usize>,
    /// Rows that fit, as last drawn (0 before the first frame).
    visible: Cell<usize>,
}

impl ListScroll {
    /// The first visible row, as last drawn.
    pub(crate) fn top(&self) -> usize {
        self.top.get()
    }

    /// Rows that fit, as last drawn (at least 1).
    pub(crate) fn page(&self) -> usize {
        self.visible.get().max(1)
    }

    /// Back to the first row (a new tab or filter).
    pub(crate) fn reset(&mut self) {
        self.top.set(0);
    }

    /// While drawing: `visible` rows fit, `count` rows exist and row `selected` is selected.
    /// Keeps the selection in view, moving as little as possible, and never leaves empty rows
    /// below the last one while rows above are hidden. Returns the first row to draw.
    pub(crate) fn update(&self, selected: usize, count: usize, visible: usize) -> usize {
        let visible = visible.max(1);
        let mut top = self.top.get();
        if selected < top {
            top = selected;
        } else if selected >= top + visible {
            top = selected + 1 - visible;
        }
        if top > 0 && top + visible > count {
            top = count.saturating_sub(visible).min(selected);
        }
        self.top.set(top);
        self.visible.set(visible);
        top
    }
}

/// A bottom-anchored text view (the thread): the offset counts lines up from the newest one, so
/// 0 follows new messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ThreadScroll {
    offset: Cell<usize>,
    /// Lines that fit, as last drawn.
    height: Cell<usize>,
    /// Lines the last frame built (a frame builds only what the view can reach).
    built: Cell<usize>,
    /// The last frame built every line: `built` is the whole thread.
    complete: Cell<bool>,
    /// Messages newer than this id arrived while the reader was scrolled up: the next frame
    /// moves the offset up by their lines so the view stays on what the reader was reading.
    newer_than: Cell<Option<i64>>,
}

/// What scrolling asked for beyond the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Within the loaded lines.
    Within,
    /// Past the oldest loaded line: the older page is wanted.
    PastTop,
}

impl ThreadScroll {
    /// Lines scrolled up from the newest one.
    #[cfg(test)]
    pub(crate) fn offset(&self) -> usize {
        self.offset.get()
    }

    /// Back to the newest line.
    pub(crate) fn follow_newest(&mut self) {
        self.offset.set(0);
        self.newer_than.set(None);
    }

    /// Lines that fit, as last drawn (at least 1).
    pub(crate) fn height(&self) -> usize {
        self.height.get().max(1)
    }

    /// Scrolls `delta` lines towards older ones (negative: newer), as far as the last frame
    /// says the thread goes.
    pub(crate) fn scroll(&mut self, delta: isize) -> Reach {
        let wanted = self.offset.get().saturating_add_signed(delta);
        // Exact when the frame built the whole thread, else a lower bound.
        let max = self.built.get().saturating_sub(self.height.get());
        if self.complete.get() {
            self.offset.set(wanted.min(max));
            return if delta > 0 && wanted > max {
                Reach::PastTop
            } else {
                Reach::Within
            };
        }
        // Only part of the thread was built: beyond it lies more of the thread, and the next
        // frame clamps. A frame builds a page more than it shows, so only a jump (Top) gets
        // here; it reaches the oldest loaded line whatever the thread's length.
        self.offset.set(wanted);
        if delta > 0 && wanted > max && self.built.get() > 0 {
            Reach::PastTop
        } else {
            Reach::Within
        }
    }

    /// A message newer than `newest` (the newest before it) arrived: a reader scrolled up keeps
    /// their place once the next frame has measured it.
    pub(crate) fn grew_below(&mut self, newest: i64) {
        if self.offset.get() > 0 && self.newer_than.get().is_none() {
            self.newer_than.set(Some(newest));
        }
    }

    /// While drawing: the id above which lines count as arrived-below (see
    /// [`ThreadScroll::grew_below`]).
    pub(crate) fn newer_than(&self) -> Option<i64> {
        self.newer_than.get()
    }

    /// How many lines a frame `height` lines high must build (a page more than it shows, so
    /// the next scroll step knows whether it stays within the thread).
    pub(crate) fn need(&self, height: usize) -> usize {
        self.offset.get().saturating_add(height.saturating_mul(2))
    }

    /// While drawing: the view is `height` lines; the frame built `built` lines (all of them
    /// when `complete`), `newer` of them below the reader's place. Returns the offset to draw.
    pub(crate) fn update(
        &self,
        height: usize,
        built: usize,
        complete: bool,
        newer: usize,
    ) -> usize {
        let mut offset = self.offset.get();
        if self.newer_than.take().is_some() {
            offset = offset.saturating_add(newer);
        }
        if complete {
            offset = offset.min(built.saturating_sub(height));
        }
        self.offset.set(offset);
        self.height.set(height);
        self.built.set(built);
        self.complete.set(complete);
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_keeps_the_selection_in_view() {
        let s = ListScroll::default();
        assert_eq!(s.update(0, 30, 10), 0);
        assert_eq!(s.update(12, 30, 10), 3);
        assert_eq!(s.update(5, 30, 10), 3);
        assert_eq!(s.update(2, 30, 10), 2);
        // Rows left: no empty space below while rows above hide.
        assert_eq!(s.update(2, 5, 10), 0);
        assert_eq!(s.page(), 10);
    }

    #[test]
    fn a_thread_scrolls_within_what_the_frame_measured() {
        let mut s = ThreadScroll::default();
        s.update(10, 25, true, 0);
        assert_eq!(s.scroll(3), Reach::Within);
        assert_eq!(s.offset(), 3);
        assert_eq!(s.scroll(100), Reach::PastTop);
        assert_eq!(s.offset(), 15);
        assert_eq!(s.scroll(-100), Reach::Within);
        assert_eq!(s.offset(), 0);
        // A new message of 2 lines while scrolled up: the next frame keeps the place.
        s.scroll(4);
        s.grew_below(7);
        assert_eq!(s.update(10, 27, true, 2), 6);
    }
}
