//! Wrapping styled text into rows of a given display width.
//!
//! Widths are counted per grapheme cluster with the renderer's own measure, so a row never
//! ends in the middle of a wide character and CJK text and emoji fill exactly the columns
//! they are drawn in.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;

use super::links;
use crate::input::grapheme_width;

/// Wraps `spans` into lines at most `width` cells wide. Breaks after a space when the row
/// has one, otherwise between grapheme clusters. Continuation rows start with `indent`
/// spaces, unless the width is too small to afford them. A grapheme wider than the whole
/// width gets a row of its own (and is clipped when drawn): wrapping always terminates.
///
/// URLs ([`links::find`]) are underlined, which is what makes them links when the pane
/// draws them ([`links::mark_row`]). A URL that fits a row is carried to the next row
/// whole; a longer one is cut where the row ends and goes on at the very start of the
/// next row, without the indent, so that no space is ever drawn inside it.
pub fn wrap(spans: &[Span<'_>], width: usize, indent: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let indent = if indent * 2 <= width { indent } else { 0 };
    let mut rows: Vec<Vec<(&str, Style, usize)>> = vec![Vec::new()];
    let mut col = 0;
    // The indent of the current row: none for the first row, and none for a row that
    // goes on with a URL.
    let mut row_indent = 0;
    // Index in the current row just after its last space: where a word wrap would cut.
    let mut break_at: Option<usize> = None;
    let graphemes = graphemes_with_links(spans);
    for (i, &(g, style, w, in_url)) in graphemes.iter().enumerate() {
        if col + w > width && col > row_indent {
            let overflowing_space = g == " ";
            let row = rows.last_mut().expect("at least one row");
            // Carry the unfinished word to the next row, unless it would not fit there
            // either (a long URL, a run of CJK text): then cut it here and fill this row.
            let carried = match break_at {
                Some(at) if at < row.len() && !overflowing_space => {
                    let rest_of_word: usize = graphemes[i..]
                        .iter()
                        .take_while(|(g, ..)| *g != " ")
                        .map(|(_, _, w, _)| w)
                        .sum();
                    let word: usize = row[at..].iter().map(|(_, _, w)| w).sum();
                    if indent + word + rest_of_word <= width {
                        row.split_off(at)
                    } else {
                        Vec::new()
                    }
                }
                _ => Vec::new(),
            };
            row_indent = if carried.is_empty() && in_url == Url::Inside {
                0
            } else {
                indent
            };
            col = row_indent + carried.iter().map(|(_, _, w)| w).sum::<usize>();
            let mut next = Vec::with_capacity(carried.len() + 1);
            if row_indent > 0 {
                next.push(("", Style::default(), row_indent));
            }
            next.extend(carried);
            rows.push(next);
            break_at = None;
            if overflowing_space {
                // The space that caused the break is where the break is: not drawn.
                continue;
            }
        }
        let row = rows.last_mut().expect("at least one row");
        let style = if in_url == Url::Outside {
            style
        } else {
            style.add_modifier(Modifier::UNDERLINED)
        };
        row.push((g, style, w));
        col += w;
        if g == " " {
            break_at = Some(row.len());
        }
    }
    rows.into_iter().map(|row| to_line(row, indent)).collect()
}

/// Where a grapheme is with respect to the URLs of its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Url {
    Outside,
    First,
    Inside,
}

/// The graphemes of `spans` with their style, width and place in a URL.
fn graphemes_with_links<'a>(spans: &'a [Span<'_>]) -> Vec<(&'a str, Style, usize, Url)> {
    let mut out = Vec::new();
    for span in spans {
        let urls = links::find(&span.content);
        let mut next_url = urls.iter().peekable();
        for (at, g) in span.content.grapheme_indices(true) {
            while next_url.next_if(|r| r.end <= at).is_some() {}
            let url = match next_url.peek() {
                Some(r) if r.start == at => Url::First,
                Some(r) if r.start < at => Url::Inside,
                _ => Url::Outside,
            };
            out.push((g, span.style, grapheme_width(g), url));
        }
    }
    out
}

/// The first row of `spans`, at most `width` cells wide, ending in `…` when something was
/// cut. Never cuts a wide character in two.
pub fn clip(spans: &[Span<'_>], width: usize) -> Line<'static> {
    let graphemes: Vec<(&str, Style, usize)> = spans
        .iter()
        .flat_map(|span| {
            span.content
                .graphemes(true)
                .map(move |g| (g, span.style, grapheme_width(g)))
        })
        .collect();
    let total: usize = graphemes.iter().map(|(_, _, w)| w).sum();
    if total <= width {
        return to_line(graphemes, 0);
    }
    let mut row = Vec::new();
    let mut col = 0;
    let room = width.saturating_sub(1);
    for (g, style, w) in graphemes {
        if col + w > room {
            row.push(("…", style, 1));
            break;
        }
        row.push((g, style, w));
        col += w;
    }
    if width == 0 {
        row.clear();
    }
    to_line(row, 0)
}

/// Joins a row's graphemes into spans, one per run of equal style.
fn to_line(row: Vec<(&str, Style, usize)>, indent: usize) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut current = String::new();
    let mut current_style = None;
    for (g, style, _) in row {
        // The indent placeholder is the only empty grapheme.
        let g = if g.is_empty() { &" ".repeat(indent) } else { g };
        if current_style != Some(style) {
            if let Some(s) = current_style {
                spans.push(Span::styled(std::mem::take(&mut current), s));
            }
            current_style = Some(style);
        }
        current.push_str(g);
    }
    if let Some(s) = current_style {
        spans.push(Span::styled(current, s));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::display_width;

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    fn plain(s: &str, width: usize, indent: usize) -> Vec<String> {
        texts(&wrap(&[Span::raw(s.to_owned())], width, indent))
    }

    #[test]
    fn short_text_is_one_line() {
        assert_eq!(plain("hello", 10, 2), ["hello"]);
        assert_eq!(plain("", 10, 2), [""]);
    }

    #[test]
    fn breaks_after_spaces_with_indent() {
        assert_eq!(plain("aaa bbb ccc ddd", 9, 2), ["aaa bbb ", "  ccc ddd"]);
    }

    #[test]
    fn long_word_is_cut() {
        assert_eq!(plain("abcdefghij", 4, 0), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn wide_characters_never_split_or_overflow() {
        let lines = plain("你好世界你好", 5, 0);
        assert_eq!(lines, ["你好", "世界", "你好"]);
        let lines = plain("a😀😀😀 ❤\u{fe0f}👨\u{200d}👩\u{200d}👧x", 5, 1);
        for line in &lines {
            assert!(display_width(line) <= 5, "{lines:?}");
        }
        assert_eq!(
            lines.concat().replace(' ', ""),
            "a😀😀😀❤\u{fe0f}👨\u{200d}👩\u{200d}👧x"
        );
    }

    #[test]
    fn word_longer_than_a_row_fills_the_row_first() {
        assert_eq!(plain("ab 你好世界你好", 7, 0), ["ab 你好", "世界你", "好"]);
        assert_eq!(plain("ab cd", 4, 0), ["ab ", "cd"]);
    }

    #[test]
    fn tiny_widths_terminate() {
        assert_eq!(plain("你好", 1, 6), ["你", "好"]);
        assert_eq!(plain("ab", 0, 0), ["a", "b"]);
    }

    #[test]
    fn clipping_ends_in_an_ellipsis_and_never_splits_a_wide_character() {
        let clipped = |s: &str, width| clip(&[Span::raw(s.to_owned())], width).to_string();
        assert_eq!(clipped("hello", 5), "hello");
        assert_eq!(clipped("hello world", 8), "hello w…");
        assert_eq!(clipped("你好世界", 6), "你好…");
        assert_eq!(clipped("你好世界", 5), "你好…");
        assert_eq!(clipped("a😀b", 3), "a…");
        assert_eq!(clipped("abc", 0), "");
    }

    #[test]
    fn styles_survive_wrapping() {
        let red = Style::new().fg(ratatui::style::Color::Red);
        let lines = wrap(&[Span::raw("ab "), Span::styled("cd ef", red)], 5, 0);
        assert_eq!(texts(&lines), ["ab cd", "ef"]);
        assert_eq!(lines[0].spans[1], Span::styled("cd", red));
    }
}
