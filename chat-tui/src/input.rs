//! The input line: text being typed, edited by grapheme cluster and measured in terminal
//! cells.
//!
//! The cursor is a byte offset that always sits on a grapheme boundary, so one keypress moves
//! over one user-perceived character (`é` written as `e` + accent, `👨‍👩‍👧`, `❤️`) and
//! never into the middle of one. Widths are the renderer's own
//! ([`ratatui::buffer::CellWidth`]), so the cursor lands on the cell where the character is
//! drawn.

use ratatui::buffer::CellWidth;
use unicode_segmentation::UnicodeSegmentation;

/// Width of a string in terminal cells, as the renderer measures it.
pub fn display_width(s: &str) -> usize {
    s.graphemes(true).map(grapheme_width).sum()
}

/// Width of one grapheme cluster in terminal cells.
pub fn grapheme_width(g: &str) -> usize {
    usize::from(g.cell_width())
}

/// One change to the input line, as a key asks for it ([`crate::app::keys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Insert(char),
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    Backspace,
    Delete,
    /// Deletes the word before the cursor.
    DeleteWordBack,
    /// Deletes from the start of the line to the cursor.
    DeleteToStart,
    /// Deletes from the cursor to the end of the line.
    DeleteToEnd,
}

/// An editable line of text with a cursor.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InputLine {
    text: String,
    /// Byte offset into `text`, always on a grapheme boundary.
    cursor: usize,
}

impl InputLine {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Byte offset of the cursor.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the text and puts the cursor at its end.
    pub fn set(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.cursor = self.text.len();
    }

    /// Empties the line and returns what it held.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    /// Inserts text at the cursor. Control characters are dropped (tabs become a space):
    /// the line is drawn as is, so nothing in it may be interpreted by the terminal.
    pub fn insert(&mut self, s: &str) {
        let clean: String = s
            .chars()
            .filter_map(|c| match c {
                '\t' => Some(' '),
                c if c.is_control() => None,
                c => Some(c),
            })
            .collect();
        self.text.insert_str(self.cursor, &clean);
        self.cursor += clean.len();
        // An inserted combining mark joins the grapheme before it; keep the cursor on a
        // boundary.
        self.cursor = self.next_boundary_at_or_after(self.cursor);
    }

    /// Makes one [`Edit`].
    pub fn apply(&mut self, edit: Edit) {
        match edit {
            Edit::Insert(c) => self.insert_char(c),
            Edit::Left => self.left(),
            Edit::Right => self.right(),
            Edit::WordLeft => self.word_left(),
            Edit::WordRight => self.word_right(),
            Edit::Home => self.home(),
            Edit::End => self.end(),
            Edit::Backspace => self.backspace(),
            Edit::Delete => self.delete(),
            Edit::DeleteWordBack => self.kill_word_back(),
            Edit::DeleteToStart => self.kill_to_start(),
            Edit::DeleteToEnd => self.kill_to_end(),
        }
    }

    pub fn insert_char(&mut self, c: char) {
        self.insert(c.encode_utf8(&mut [0; 4]));
    }

    /// Moves one grapheme left.
    pub fn left(&mut self) {
        self.cursor = self.prev_boundary(self.cursor);
    }

    /// Moves one grapheme right.
    pub fn right(&mut self) {
        self.cursor = self.next_boundary(self.cursor);
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Moves to the start of the word before the cursor.
    pub fn word_left(&mut self) {
        self.cursor = self.word_start_before(self.cursor);
    }

    /// Moves to the end of the word after the cursor.
    pub fn word_right(&mut self) {
        let rest = &self.text[self.cursor..];
        let skipped_space = rest.len() - rest.trim_start().len();
        let word = rest[skipped_space..]
            .find(char::is_whitespace)
            .unwrap_or(rest.len() - skipped_space);
        self.cursor += skipped_space + word;
    }

    /// Deletes the grapheme before the cursor.
    pub fn backspace(&mut self) {
        let start = self.prev_boundary(self.cursor);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Deletes the grapheme under the cursor.
    pub fn delete(&mut self) {
        let end = self.next_boundary(self.cursor);
        self.text.replace_range(self.cursor..end, "");
    }

    /// Ctrl-U: deletes from the start of the line to the cursor.
    pub fn kill_to_start(&mut self) {
        self.text.replace_range(..self.cursor, "");
        self.cursor = 0;
    }

    /// Ctrl-K: deletes from the cursor to the end of the line.
    pub fn kill_to_end(&mut self) {
        self.text.truncate(self.cursor);
    }

    /// Ctrl-W: deletes the word before the cursor (and the spaces after it).
    pub fn kill_word_back(&mut self) {
        let start = self.word_start_before(self.cursor);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Replaces the byte range `range` (on grapheme boundaries) and puts the cursor after
    /// the replacement. Used by completion.
    pub fn replace_range(&mut self, range: std::ops::Range<usize>, with: &str) {
        let start = range.start;
        self.text.replace_range(range, with);
        self.cursor = start + with.len();
    }

    /// Display column of the cursor, counted from the start of the text.
    pub fn cursor_column(&self) -> usize {
        display_width(&self.text[..self.cursor])
    }

    /// What to show in a field `width` cells wide: the visible part of the text and the
    /// cursor's column in it. Scrolls horizontally so that the cursor is always visible,
    /// keeping as much text before it as fits.
    pub fn view(&self, width: usize) -> (&str, usize) {
        if width == 0 {
            return ("", 0);
        }
        let cursor_col = self.cursor_column();
        // The cursor needs a cell of its own at the end of the field.
        let mut skip_cols = 0;
        let mut start = 0;
        if cursor_col >= width {
            for (i, g) in self.text.grapheme_indices(true) {
                if cursor_col - skip_cols < width {
                    break;
                }
                skip_cols += grapheme_width(g);
                start = i + g.len();
            }
        }
        let mut end = start;
        let mut used = 0;
        for (i, g) in self.text[start..].grapheme_indices(true) {
            let w = grapheme_width(g);
            if used + w > width {
                break;
            }
            used += w;
            end = start + i + g.len();
        }
        (&self.text[start..end], cursor_col - skip_cols)
    }

    fn prev_boundary(&self, at: usize) -> usize {
        self.text[..at]
            .grapheme_indices(true)
            .next_back()
            .map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self, at: usize) -> usize {
        self.text[at..]
            .graphemes(true)
            .next()
            .map_or(at, |g| at + g.len())
    }

    fn next_boundary_at_or_after(&self, at: usize) -> usize {
        let mut pos = 0;
        for g in self.text.graphemes(true) {
            if pos >= at {
                break;
            }
            pos += g.len();
        }
        pos
    }

    fn word_start_before(&self, at: usize) -> usize {
        let before = self.text[..at].trim_end();
        before.rfind(char::is_whitespace).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> InputLine {
        let mut l = InputLine::default();
        l.insert(text);
        l
    }

    #[test]
    fn widths_of_wide_characters() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("你好"), 4);
        assert_eq!(display_width("日本語"), 6);
        assert_eq!(display_width("😀"), 2);
        assert_eq!(display_width("❤\u{fe0f}"), 2);
        assert_eq!(display_width("👨\u{200d}👩\u{200d}👧"), 2);
        assert_eq!(display_width("e\u{301}"), 1);
    }

    #[test]
    fn cursor_column_counts_cells() {
        let mut l = line("a你😀b");
        assert_eq!(l.cursor_column(), 6);
        l.left();
        assert_eq!(l.cursor_column(), 5);
        l.left();
        assert_eq!(l.cursor_column(), 3);
        l.left();
        assert_eq!(l.cursor_column(), 1);
        l.left();
        assert_eq!(l.cursor_column(), 0);
        l.left();
        assert_eq!(l.cursor_column(), 0);
    }

    #[test]
    fn moves_over_whole_grapheme_clusters() {
        let family = "👨\u{200d}👩\u{200d}👧";
        let mut l = line(&format!("x{family}❤\u{fe0f}e\u{301}"));
        l.left();
        assert_eq!(&l.text()[l.cursor()..], "e\u{301}");
        l.left();
        assert_eq!(&l.text()[l.cursor()..], "❤\u{fe0f}e\u{301}");
        l.left();
        assert_eq!(l.cursor(), 1);
        l.right();
        assert_eq!(l.cursor(), 1 + family.len());
        l.backspace();
        assert_eq!(l.text(), "x❤\u{fe0f}e\u{301}");
        l.delete();
        assert_eq!(l.text(), "xe\u{301}");
        l.end();
        l.backspace();
        assert_eq!(l.text(), "x");
    }

    #[test]
    fn combining_mark_joins_previous_character() {
        let mut l = line("e");
        l.insert("\u{301}");
        assert_eq!(l.cursor(), l.text().len());
        l.backspace();
        assert_eq!(l.text(), "");
    }

    #[test]
    fn control_characters_are_not_inserted() {
        assert_eq!(line("a\x1b[2J\tb\u{9b}").text(), "a[2J b");
    }

    #[test]
    fn word_motion() {
        let mut l = line("hello  big 世界 ");
        l.word_left();
        assert_eq!(&l.text()[l.cursor()..], "世界 ");
        l.word_left();
        assert_eq!(&l.text()[l.cursor()..], "big 世界 ");
        l.word_left();
        l.word_left();
        assert_eq!(l.cursor(), 0);
        l.word_right();
        assert_eq!(&l.text()[l.cursor()..], "  big 世界 ");
        l.word_right();
        assert_eq!(&l.text()[l.cursor()..], " 世界 ");
    }

    #[test]
    fn kills() {
        let mut l = line("one two three");
        l.kill_word_back();
        assert_eq!(l.text(), "one two ");
        l.word_left();
        l.kill_to_end();
        assert_eq!(l.text(), "one ");
        l.left();
        l.kill_to_start();
        assert_eq!((l.text(), l.cursor()), (" ", 0));
    }

    #[test]
    fn view_scrolls_to_keep_cursor_visible() {
        let l = line("abcdefghij");
        assert_eq!(l.view(20), ("abcdefghij", 10));
        // 10 chars + cursor cell need 11 cells; in 8 the start scrolls away.
        assert_eq!(l.view(8), ("defghij", 7));
        let mut l = line("你好世界");
        assert_eq!(l.view(5), ("世界", 4));
        l.home();
        assert_eq!(l.view(5), ("你好", 0));
        assert_eq!(l.view(0), ("", 0));
        assert_eq!(line("😀").view(1), ("", 0));
    }
}
