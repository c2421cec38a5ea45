//! A small multi-line text editor (the compose box, the closing message, the filter): lines of
//! text, a cursor, the usual movements and deletions, paste, and a soft-wrapped layout for
//! rendering. Pure data; no terminal.

use unicode_width::UnicodeWidthChar;

/// Lines of text and a cursor (row, column in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Editor {
    lines: Vec<String>,
    row: usize,
    col: usize,
}

impl Default for Editor {
    fn default() -> Editor {
        Editor {
            lines: vec![String::new()],
            row: 0,
            col: 0,
        }
    }
}

/// Character count of `s`.
fn len(s: &str) -> usize {
    s.chars().count()
}

/// Byte offset of character `col` in `s` (its end when past it).
fn byte_at(s: &str, col: usize) -> usize {
    s.char_indices().nth(col).map_or(s.len(), |(i, _)| i)
}

/// Display width of a character (control characters count as one cell: they are shown as `?`).
pub(crate) fn char_width(c: char) -> usize {
    c.width().unwrap_or(1)
}

impl Editor {
    /// An editor holding `text`, cursor at its end.
    pub(crate) fn with_text(text: &str) -> Editor {
        let mut e = Editor::default();
        e.insert_str(text);
        e
    }

    /// The whole text, lines joined with `\n`.
    pub(crate) fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The lines.
    pub(crate) fn lines(&self) -> &[String] {
        &self.lines
    }

    /// True when there is nothing but whitespace.
    pub(crate) fn is_blank(&self) -> bool {
        self.lines.iter().all(|l| l.trim().is_empty())
    }

    /// The cursor as (row, column in characters).
    #[cfg(test)]
    pub(crate) fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    /// Empties the editor.
    pub(crate) fn clear(&mut self) {
        *self = Editor::default();
    }

    fn line(&self) -> &str {
        self.lines.get(self.row).map_or("", String::as_str)
    }

    fn line_mut(&mut self) -> &mut String {
        if self.lines.is_empty() {
            self.lines.push(String::new());
            self.row = 0;
        }
        let last = self.lines.len() - 1;
        let row = self.row.min(last);
        &mut self.lines[row]
    }

    /// Inserts one character at the cursor (`\n` splits the line; other controls are dropped,
    /// except a tab, which becomes spaces).
    pub(crate) fn insert_char(&mut self, c: char) {
        match c {
            '\n' => self.newline(),
            '\t' => {
                for _ in 0..4 {
                    self.insert_char(' ');
                }
            }
            c if c.is_control() => {}
            c => {
                let col = self.col;
                let line = self.line_mut();
                let at = byte_at(line, col);
                line.insert(at, c);
                self.col += 1;
            }
        }
    }

    /// Inserts text (a paste): `\r\n` and `\r` count as newlines.
    pub(crate) fn insert_str(&mut self, text: &str) {
        let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        for c in normalized.chars() {
            self.insert_char(c);
        }
    }

    /// Splits the line at the cursor.
    pub(crate) fn newline(&mut self) {
        let col = self.col;
        let line = self.line_mut();
        let at = byte_at(line, col);
        let rest = line.split_off(at);
        self.row += 1;
        self.lines.insert(self.row, rest);
        self.col = 0;
    }

    /// Deletes the character before the cursor (joining lines at a line start).
    pub(crate) fn backspace(&mut self) {
        if self.col > 0 {
            let col = self.col;
            let line = self.line_mut();
            let start = byte_at(line, col - 1);
            let end = byte_at(line, col);
            line.replace_range(start..end, "");
            self.col -= 1;
        } else if self.row > 0 {
            let current = self.lines.remove(self.row);
            self.row -= 1;
            self.col = len(self.line());
            self.line_mut().push_str(&current);
        }
    }

    /// Deletes the character under the cursor (joining the next line at a line end).
    pub(crate) fn delete(&mut self) {
        if self.col < len(self.line()) {
            let col = self.col;
            let line = self.line_mut();
            let start = byte_at(line, col);
            let end = byte_at(line, col + 1);
            line.replace_range(start..end, "");
        } else if self.row + 1 < self.lines.len() {
            let next = self.lines.remove(self.row + 1);
            self.line_mut().push_str(&next);
        }
    }

    /// Moves one character left (to the previous line's end at a line start).
    pub(crate) fn left(&mut self) {
        if self.col > 0 {
            self.col -= 1;
        } else if self.row > 0 {
            self.row -= 1;
            self.col = len(self.line());
        }
    }

    /// Moves one character right (to the next line's start at a line end).
    pub(crate) fn right(&mut self) {
        if self.col < len(self.line()) {
            self.col += 1;
        } else if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.col = 0;
        }
    }

    /// Moves one line up; returns false when already on the first line.
    pub(crate) fn up(&mut self) -> bool {
        if self.row == 0 {
            return false;
        }
        self.row -= 1;
        self.col = self.col.min(len(self.line()));
        true
    }

    /// Moves one line down; returns false when already on the last line.
    pub(crate) fn down(&mut self) -> bool {
        if self.row + 1 >= self.lines.len() {
            return false;
        }
        self.row += 1;
        self.col = self.col.min(len(self.line()));
        true
    }

    /// Moves to the start of the line.
    pub(crate) fn home(&mut self) {
        self.col = 0;
    }

    /// Moves to the end of the line.
    pub(crate) fn end(&mut self) {
        self.col = len(self.line());
    }

    /// Moves to the start of the previous word.
    pub(crate) fn word_left(&mut self) {
        if self.col == 0 {
            self.left();
            return;
        }
        let chars: Vec<char> = self.line().chars().collect();
        let mut col = self.col.min(chars.len());
        while col > 0 && chars.get(col - 1).is_some_and(|c| c.is_whitespace()) {
            col -= 1;
        }
        while col > 0 && chars.get(col - 1).is_some_and(|c| !c.is_whitespace()) {
            col -= 1;
        }
        self.col = col;
    }

    /// Moves past the end of the next word.
    pub(crate) fn word_right(&mut self) {
        let chars: Vec<char> = self.line().chars().collect();
        if self.col >= chars.len() {
            self.right();
            return;
        }
        let mut col = self.col;
        while col < chars.len() && chars.get(col).is_some_and(|c| c.is_whitespace()) {
            col += 1;
        }
        while col < chars.len() && chars.get(col).is_some_and(|c| !c.is_whitespace()) {
            col += 1;
        }
        self.col = col;
    }

    /// Deletes the word before the cursor (Ctrl-W).
    pub(crate) fn delete_word_back(&mut self) {
        if self.col == 0 {
            self.backspace();
            return;
        }
        let end = self.col;
        self.word_left();
        let start = self.col;
        let line = self.line_mut();
        let (a, b) = (byte_at(line, start), byte_at(line, end));
        line.replace_range(a..b, "");
    }

    /// Deletes from the line start to the cursor (Ctrl-U).
    pub(crate) fn kill_to_line_start(&mut self) {
        let col = self.col;
        let line = self.line_mut();
        let at = byte_at(line, col);
        line.replace_range(..at, "");
        self.col = 0;
    }

    /// Deletes from the cursor to the line end (Ctrl-K).
    pub(crate) fn kill_to_line_end(&mut self) {
        let col = self.col;
        let line = self.line_mut();
        let at = byte_at(line, col);
        line.truncate(at);
    }

    /// The text soft-wrapped to `width` cells, and the cursor's (row, column) in that layout.
    /// Long lines break at the last space that fits, else mid-word.
    pub(crate) fn layout(&self, width: usize) -> (Vec<String>, (usize, usize)) {
        let width = width.max(2);
        let mut out = Vec::new();
        let mut cursor = (0, 0);
        for (row, line) in self.lines.iter().enumerate() {
            let chars: Vec<char> = line.chars().collect();
            let mut start = 0;
            loop {
                let (end, next) = wrap_point(&chars, start, width);
                let piece: String = chars.get(start..end).unwrap_or(&[]).iter().collect();
                let is_last = next >= chars.len();
                if row == self.row && self.col >= start && (self.col < next || is_last) {
                    let before: usize = chars
                        .get(start..self.col.min(chars.len()))
                        .unwrap_or(&[])
                        .iter()
                        .map(|c| char_width(*c))
                        .sum();
                    cursor = (out.len(), before);
                }
                out.push(piece);
                if is_last {
                    break;
                }
                start = next;
            }
        }
        // A cursor at the very end of a full-width line goes to the start of the next row.
        if cursor.1 >= width {
            cursor = (cursor.0 + 1, 0);
            if cursor.0 >= out.len() {
                out.push(String::new());
            }
        }
        (out, cursor)
    }
}

/// Where the visual line that starts at `start` ends (exclusive) and where the next begins.
pub(crate) fn wrap_point(chars: &[char], start: usize, width: usize) -> (usize, usize) {
    let mut used = 0;
    let mut i = start;
    while i < chars.len() {
        let w = chars.get(i).map_or(1, |c| char_width(*c));
        if used + w > width {
            break;
        }
        used += w;
        i += 1;
    }
    if i >= chars.len() {
        return (chars.len(), chars.len());
    }
    if i == start {
        // A character wider than the whole line: show it alone.
        return (start + 1, start + 1);
    }
    // Break after the last space inside the piece, when there is one.
    if let Some(space) = (start + 1..=i)
        .rev()
        .find(|&j| chars.get(j - 1).is_some_and(|c| *c == ' '))
    {
        if space > start {
            return (space, space);
        }
    }
    (i, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_moving_and_deleting() {
        let mut e = Editor::default();
        e.insert_str("helo");
        e.left();
        e.insert_char('l');
        assert_eq!(e.text(), "hello");
        e.end();
        e.newline();
        e.insert_str("wörld");
        assert_eq!(e.text(), "hello\nwörld");
        assert_eq!(e.cursor(), (1, 5));
        e.home();
        e.backspace();
        assert_eq!(e.text(), "hellowörld");
        assert_eq!(e.cursor(), (0, 5));
        e.delete();
        assert_eq!(e.text(), "helloörld");
        e.kill_to_line_end();
        assert_eq!(e.text(), "hello");
        e.kill_to_line_start();
        assert!(e.is_blank());
    }

    #[test]
    fn words_and_lines() {
        let mut e = Editor::with_text("one two  three");
        e.word_left();
        assert_eq!(e.cursor(), (0, 9));
        e.word_left();
        assert_eq!(e.cursor(), (0, 4));
        e.word_right();
        assert_eq!(e.cursor(), (0, 7));
        e.end();
        e.delete_word_back();
        assert_eq!(e.text(), "one two  ");
        let mut e = Editor::with_text("abc\nd");
        assert!(e.up());
        assert_eq!(e.cursor(), (0, 1));
        assert!(!e.up());
        assert!(e.down());
        assert!(!e.down());
    }

    #[test]
    fn paste_normalizes_newlines_and_drops_controls() {
        let mut e = Editor::default();
        e.insert_str("a\r\nb\rc\u{7}d\te");
        assert_eq!(e.text(), "a\nb\ncd    e");
    }

    #[test]
    fn layout_wraps_at_spaces_and_places_the_cursor() {
        let e = Editor::with_text("hello brave new world");
        let (lines, cursor) = e.layout(10);
        assert_eq!(lines, vec!["hello ", "brave new ", "world"]);
        assert_eq!(cursor, (2, 5));
        let e = Editor::with_text("abcdefghij");
        let (lines, cursor) = e.layout(5);
        assert_eq!(lines, vec!["abcde", "fghij", ""]);
        assert_eq!(cursor, (2, 0));
        let (lines, cursor) = Editor::default().layout(5);
        assert_eq!((lines, cursor), (vec![String::new()], (0, 0)));
    }

    #[test]
    fn wide_characters_count_two_cells() {
        let e = Editor::with_text("😀😀😀");
        let (lines, cursor) = e.layout(4);
        assert_eq!(lines, vec!["😀😀", "😀"]);
        assert_eq!(cursor, (1, 2));
    }
}
