//! Links: URLs in messages, shown as terminal hyperlinks (OSC 8) over their plain text.
//!
//! The text of a URL stays in the cells as it is, so a terminal without OSC 8 shows it
//! and lets it be selected; a terminal with OSC 8 also opens it on a click. Three steps:
//!
//! - [`find`] says where URLs are in a text: `http://` or `https://` and what follows up
//!   to a space, without the punctuation that ends a sentence around it.
//! - [`super::wrap`] draws them underlined and never puts the continuation rows' indent
//!   inside one: a URL longer than a row goes on at the start of the next row.
//! - [`mark_row`], called by the message pane for each row it draws, finds the underlined
//!   runs of the row (joined with the rows before and after when a run goes on across the
//!   row's end) and writes each of their cells as `ESC ] 8 ; id=ID ; URL ESC \`, the
//!   cell's text, and `ESC ] 8 ; ; ESC \`. Every cell carries the whole sequence, so the
//!   renderer may redraw any of them alone; its width is forced to the text's, since the
//!   escape sequence takes no cell. The `id` lets a terminal underline the whole link on
//!   hover, across rows.
//!
//! The target written in the sequence holds printable ASCII only (anything else is
//! percent-encoded): nothing from a message can end the sequence early or inject another
//! one. A URL longer than [`MAX_URL_BYTES`] is shown, underlined, but not linked.

use std::fmt::Write as _;
use std::num::NonZeroU16;
use std::ops::Range;

use ratatui::buffer::{Buffer, CellDiffOption, CellWidth};
use ratatui::style::Modifier;
use ratatui::text::Line;
use unicode_segmentation::UnicodeSegmentation;

use super::cells;

/// Longest URL made a link, in bytes: terminals refuse longer targets (VTE: 2083 bytes).
pub const MAX_URL_BYTES: usize = 2000;

/// Schemes that make a link.
const SCHEMES: [&str; 2] = ["https://", "http://"];

/// Where the URLs of `text` are, as byte ranges.
pub fn find(text: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some((start, scheme)) = SCHEMES
        .iter()
        .filter_map(|s| lower[from..].find(s).map(|i| (from + i, s.len())))
        .min()
    {
        let rest = &text[start..];
        let mut end = start + rest.find(ends_url).unwrap_or(rest.len());
        end = start + trim_end(&text[start..end]);
        // A scheme glued to a word before it ("xhttp://") is not a URL; nor is a scheme
        // with nothing after it.
        let word_start = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if word_start && end > start + scheme {
            found.push(start..end);
            from = end;
        } else {
            from = start + scheme;
        }
    }
    found
}

/// What ends a URL: a space, or a character that quotes one.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`' | '{' | '}' | '|' | '\\' | '^')
}

/// The length of `url` without what ends the sentence around it: `.`, `,`, `!`, ... and
/// a closing bracket that has no opening one in the URL.
fn trim_end(url: &str) -> usize {
    let mut end = url.len();
    loop {
        let Some(last) = url[..end].chars().next_back() else {
            return end;
        };
        let unbalanced = |open: char, close: char| {
            last == close && url[..end].matches(close).count() > url[..end].matches(open).count()
        };
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*')
            || unbalanced('(', ')')
            || unbalanced('[', ']')
        {
            end -= last.len_utf8();
        } else {
            return end;
        }
    }
}

/// The target of a link as written in the escape sequence: printable ASCII, the rest
/// percent-encoded.
pub fn target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        if (0x21..0x7f).contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A short id for a link, the same for the same URL (FNV-1a).
fn id(url: &str) -> String {
    let hash = url.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// Whether a cell drawn with `modifier` is part of a link (see [`super::wrap`]).
fn is_link(modifier: Modifier) -> bool {
    modifier.contains(Modifier::UNDERLINED)
}

/// One grapheme of a row: its column, text and whether it belongs to a link.
struct Cell<'a> {
    col: u16,
    text: &'a str,
    link: bool,
}

fn cells_of<'a>(line: &'a Line<'_>) -> Vec<Cell<'a>> {
    let mut out = Vec::new();
    let mut col = 0u16;
    for span in &line.spans {
        let link = is_link(line.style.patch(span.style).add_modifier);
        for g in span.content.graphemes(true) {
            let w = g.cell_width();
            if w == 0 {
                continue;
            }
            out.push(Cell { col, text: g, link });
            col = col.saturating_add(w);
        }
    }
    out
}

/// Makes hyperlinks of the links in row `row` of `lines` (the rows of one item), drawn at
/// `(x, y)` in `buf` no wider than `width`.
pub fn mark_row(buf: &mut Buffer, x: u16, y: u16, width: u16, lines: &[Line<'_>], row: usize) {
    let Some(line) = lines.get(row) else { return };
    if !line
        .spans
        .iter()
        .any(|s| is_link(line.style.patch(s.style).add_modifier))
    {
        return;
    }
    let rows: Vec<Vec<Cell<'_>>> = lines.iter().map(cells_of).collect();
    let this = &rows[row];
    let mut i = 0;
    while i < this.len() {
        if !this[i].link {
            i += 1;
            continue;
        }
        let start = i;
        while i < this.len() && this[i].link {
            i += 1;
        }
        let url = run_text(&rows, row, start, i);
        if url.len() > MAX_URL_BYTES
            || find(&url).as_slice() != std::slice::from_ref(&(0..url.len()))
        {
            continue;
        }
        let open = format!("\x1b]8;id={};{}\x1b\\", id(&url), target(&url));
        for cell in &this[start..i] {
            let cx = x.saturating_add(cell.col);
            if cell.col >= width || !buf.area.contains((cx, y).into()) {
                continue;
            }
            let w = cell.text.cell_width().max(1);
            // What the cell shows is settled first, as every other cell is.
            cells::settle_area(buf, ratatui::layout::Rect::new(cx, y, w, 1));
            let shown = buf[(cx, y)].symbol().to_owned();
            let symbol = format!("{open}{shown}\x1b]8;;\x1b\\");
            let forced = NonZeroU16::new(w).unwrap_or(NonZeroU16::MIN);
            buf[(cx, y)]
                .set_symbol(&symbol)
                .set_diff_option(CellDiffOption::ForcedWidth(forced));
        }
    }
}

/// The whole text of the link run `start..end` of row `row`: with the end of the row
/// before when the run starts the row and that row ends in a link, and with the start of
/// the row after when the run ends the row and that row starts with one.
fn run_text(rows: &[Vec<Cell<'_>>], row: usize, start: usize, end: usize) -> String {
    let mut text = String::new();
    if start == 0 {
        let mut before = Vec::new();
        for cells in rows[..row].iter().rev() {
            let tail = cells.iter().rev().take_while(|c| c.link).count();
            if tail == 0 {
                break;
            }
            before.push(&cells[cells.len() - tail..]);
            if tail < cells.len() {
                break;
            }
        }
        for part in before.into_iter().rev() {
            text.extend(part.iter().map(|c| c.text));
        }
    }
    text.extend(rows[row][start..end].iter().map(|c| c.text));
    if end == rows[row].len() {
        for cells in &rows[row + 1..] {
            let head = cells.iter().take_while(|c| c.link).count();
            text.extend(cells[..head].iter().map(|c| c.text));
            if head < cells.len() || head == 0 {
                break;
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use ratatui::layout::Rect;
    use ratatui::text::Span;

    use super::*;
    use crate::ui::wrap::wrap;

    fn urls(text: &str) -> Vec<&str> {
        find(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn urls_are_found_without_the_sentence_around_them() {
        assert_eq!(
            urls("see https://example.com/a?b=1, and (http://x.org/wiki/A_(b)) now."),
            ["https://example.com/a?b=1", "http://x.org/wiki/A_(b)"]
        );
        assert_eq!(urls("HTTPS://EXAMPLE.COM."), ["HTTPS://EXAMPLE.COM"]);
        assert_eq!(urls("<https://a.b/c>"), ["https://a.b/c"]);
        assert!(urls("https:// nothing, xhttp://glued, ftp://other").is_empty());
        assert_eq!(urls("https://你好.cn/路径"), ["https://你好.cn/路径"]);
    }

    #[test]
    fn targets_hold_printable_ascii_only() {
        assert_eq!(target("https://a.b/é"), "https://a.b/%C3%A9");
        let evil = "https://a.b/\u{1b}]8;;x\u{7}\u{9c}";
        assert!(target(evil).bytes().all(|b| (0x21..0x7f).contains(&b)));
    }

    fn marked(text: &str, width: u16) -> (Buffer, Vec<String>) {
        let lines = wrap(&[Span::raw(text.to_owned())], usize::from(width), 6);
        let mut buf = Buffer::empty(Rect::new(0, 0, width, lines.len() as u16));
        for (row, line) in lines.iter().enumerate() {
            let y = row as u16;
            buf.set_line(0, y, line, width);
            mark_row(&mut buf, 0, y, width, &lines, row);
        }
        (buf, lines.iter().map(|l| l.to_string()).collect())
    }

    #[test]
    fn a_long_url_wraps_without_the_indent_and_every_cell_links_to_all_of_it() {
        let url = "https://example.com/a/very/long/path";
        let (buf, rows) = marked(&format!("look {url} ok"), 20);
        // Too long for a row even alone: it fills the first row, and goes on at the start
        // of the next ones, without the indent.
        assert_eq!(
            rows,
            ["look https://example", ".com/a/very/long/pat", "h ok"]
        );
        let open = format!("\x1b]8;id={};{url}\x1b\\", id(url));
        for (x, y) in [(5, 0), (19, 0), (0, 1), (19, 1), (0, 2)] {
            let symbol = buf[(x, y)].symbol();
            assert!(symbol.starts_with(&open), "({x}, {y}): {symbol:?}");
            assert!(symbol.ends_with("\x1b]8;;\x1b\\"), "{symbol:?}");
        }
        assert_eq!(
            buf[(2, 2)].symbol(),
            "o",
            "the text after the link is plain"
        );
        assert_eq!(buf[(4, 0)].symbol(), " ");
        assert_eq!(buf[(0, 0)].symbol(), "l");
    }

    #[test]
    fn a_url_that_fits_a_row_is_kept_whole() {
        let (buf, rows) = marked("aaaa bbbb https://a.io/x", 20);
        assert_eq!(rows, ["aaaa bbbb ", "      https://a.io/x"]);
        assert!(buf[(6, 1)].symbol().contains("https://a.io/x\x1b\\h"));
    }

    /// What a backend wrote, readable while the terminal holds the backend.
    #[derive(Clone, Default)]
    struct Written(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The whole screen, drawn through the backend the client uses, into bytes.
    #[test]
    fn the_terminal_receives_the_link_around_the_plain_text() {
        use crate::app::{App, Event, Settings};
        use crate::terminal::backend::QuietBackend;
        use ratatui::{Terminal, TerminalOptions, Viewport};
        use shared::{ChatKind, RoomEvent, ServerMsg};

        let settings = Settings {
            server: "127.0.0.1:7878".into(),
            hosting: None,
            hosting_key: None,
            bell: false,
            utc_offset_secs: 0,
            download_dir: "/tmp/downloads".into(),
            choices: crate::app::Choices::default(),
            key: None,
        };
        let welcome = chat_client::Welcome {
            nick: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into(), "bob".into()],
            total: 2,
            seq: 0,
            rooms: false,
        };
        let mut app = App::new(settings, welcome, 1_700_000_000_000);
        let evil = "https://example.com/x?q=\u{1b}]0;pwned\u{7}";
        app.update(Event::Server(ServerMsg::Room {
            id: 1,
            seq: 1,
            time_ms: 1_700_000_000_000,
            room: "lobby".into(),
            event: RoomEvent::Said {
                from: "bob".into(),
                kind: ChatKind::Say,
                text: format!("docs at https://example.com/docs. and {evil}"),
            },
        }));
        let written = Written::default();
        let options = TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, 60, 8)),
        };
        let mut terminal =
            Terminal::with_options(QuietBackend::new(written.clone()), options).unwrap();
        terminal
            .draw(|frame| crate::ui::draw(frame, &mut app))
            .unwrap();
        let bytes = String::from_utf8(written.0.borrow().clone()).unwrap();
        let url = "https://example.com/docs";
        let open = format!("\x1b]8;id={};{url}\x1b\\", id(url));
        // Every cell of the link, its text plain between the two sequences.
        for c in url.chars() {
            assert!(
                bytes.contains(&format!("{open}{c}\x1b]8;;\x1b\\")),
                "{c:?} not linked in {bytes:?}"
            );
        }
        // The sanitised text of the other URL is linked with a target that cannot end
        // the sequence: no ESC or BEL of the message reaches the terminal.
        assert!(
            bytes.contains("https://example.com/x?q=%E2%90%9B]0;pwned%E2%90%87"),
            "{bytes:?}"
        );
        assert!(!bytes.contains('\u{7}'));
        assert_eq!(bytes.matches("\x1b]8;").count() % 2, 0);
    }
}
