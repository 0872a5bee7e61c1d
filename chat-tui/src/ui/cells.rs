//! The last step of every frame: each cell holds a grapheme cluster whose width every
//! terminal agrees on.
//!
//! The renderer measures a cluster once (Unicode's widths, [`CellWidth`]) and assumes the
//! terminal moves its cursor by as much. Terminals disagree on some clusters: a flag (two
//! regional indicators) is 2 cells in one terminal and 1 + 1 or 2 + 2 in another; a
//! skin-tone emoji is 2 where the terminal joins the modifier and 4 where it does not; a
//! ZWJ family is 2 or 6; `❤` with VS16 is 2 or 1; a noncharacter is 1 or nothing. Where
//! the terminal moves further or less than the renderer thinks, the rest of the row is
//! drawn shifted, and cells that the next frame does not change stay on the screen with
//! what they held: cells left behind that belong to no message.
//!
//! So a cluster is drawn as it is only when its width is certain: one code point that is
//! not a regional indicator, a noncharacter or an invisible character, followed by
//! nothing but combining marks (zero-width, visible), and measured by the renderer as the
//! sum of its code points (no width that depends on how the terminal joins them). Every
//! other cluster is drawn as a stand-in of exactly the width the renderer gave it, made of
//! certain clusters, so that the layout (wrapping, the input line's cursor) is unchanged:
//!
//! - a flag shows its two letters (`🇺🇸` as `US`), a lone regional indicator its letter;
//! - a keycap shows its key (`1️⃣` as `1`, padded);
//! - an emoji sequence (ZWJ sequences, skin tones, tag flags, variation selectors) shows
//!   the first of its emoji that has the sequence's width, else its first, padded with
//!   spaces (`👍🏽` as `👍`, `👨‍👩‍👧` as `👨`, `❤️` as `❤ `);
//! - a noncharacter or an invisible character that the renderer gives a width shows
//!   `U+FFFD` (`�`), padded.
//!
//! Clusters of no width (a zero-width space, a word joiner, a lone variation selector)
//! are never drawn by the renderer at all. This pass runs over the whole frame after every
//! widget has drawn ([`settle`]): it is the one place where text becomes what the terminal
//! receives, so the message pane, the input line, nicks, the member list and the status
//! line all follow the same rule.

use std::borrow::Cow;

use ratatui::buffer::{Buffer, CellDiffOption, CellWidth};
use ratatui::layout::Rect;
use shared::names::is_invisible;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthChar;

/// Makes every cell of `buf` certain (see the module's documentation).
pub fn settle(buf: &mut Buffer) {
    let area = buf.area;
    settle_area(buf, area);
}

/// [`settle`] for the cells of `area` only.
pub fn settle_area(buf: &mut Buffer, area: Rect) {
    let area = area.intersection(buf.area);
    for y in area.top()..area.bottom() {
        let mut x = area.left();
        while x < area.right() {
            let cell = &buf[(x, y)];
            // A cell drawn by an escape sequence of ours (a link) is settled already.
            if cell.diff_option != CellDiffOption::None || cell.symbol().is_ascii() {
                x += 1;
                continue;
            }
            let width = cell.symbol().cell_width().max(1);
            if let Some(stand_in) = stand_in(cell.symbol(), usize::from(width)) {
                // The cells a wide cluster covered were reset: the stand-in's later
                // clusters take the style of its first.
                let style = cell.style();
                let mut col = x;
                for g in stand_in.graphemes(true) {
                    if col >= area.right() {
                        break;
                    }
                    buf[(col, y)].set_symbol(g).set_style(style);
                    col += g.cell_width().max(1);
                }
            }
            x = x.saturating_add(width);
        }
    }
}

/// The form in which the cluster `g` is drawn: `None` when it is certain and drawn as
/// it is, else a stand-in `width` cells wide made of certain clusters.
pub fn stand_in(g: &str, width: usize) -> Option<String> {
    if is_certain(g) {
        return None;
    }
    let parts: Vec<String> = if g.chars().all(is_regional_indicator) {
        vec![g.chars().map(regional_letter).collect()]
    } else if g.contains('\u{20e3}') {
        vec![g.chars().take(1).collect()]
    } else {
        g.split('\u{200d}').filter_map(base_of).collect()
    };
    let measure =
        |s: &str| -> usize { s.graphemes(true).map(|g| usize::from(g.cell_width())).sum() };
    let joined = parts.concat();
    let chosen = if measure(&joined) == width {
        joined
    } else if let Some(part) = parts.iter().find(|p| measure(p) == width) {
        part.clone()
    } else {
        match parts.into_iter().next() {
            Some(part) if measure(&part) <= width => part,
            _ => "\u{fffd}".to_owned(),
        }
    };
    Some(pad(chosen, width, measure))
}

/// `s` padded with spaces to `width` cells, or `U+FFFD` padded when it is wider.
fn pad(mut s: String, width: usize, measure: impl Fn(&str) -> usize) -> String {
    if measure(&s) > width {
        s = "\u{fffd}".to_owned();
    }
    let w = measure(&s);
    s.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
    s
}

/// The certain part of one piece of an emoji sequence: its first code point (a letter for
/// a regional indicator, `U+FFFD` for a noncharacter or an invisible character) and the
/// combining marks after it; `None` when nothing of it draws.
fn base_of(piece: &str) -> Option<String> {
    let mut chars = piece.chars();
    let first = chars.next()?;
    let mut out = String::new();
    if is_regional_indicator(first) {
        out.push(regional_letter(first));
    } else if is_noncharacter(first) || is_hidden(first) {
        if first.width().unwrap_or(0) == 0 {
            return None;
        }
        out.push('\u{fffd}');
    } else {
        out.push(first);
    }
    out.extend(chars.filter(|&c| is_mark(c)));
    Some(out)
}

/// Whether every terminal gives `g` the width the renderer gives it.
pub fn is_certain(g: &str) -> bool {
    let mut chars = g.chars();
    let Some(first) = chars.next() else {
        return true;
    };
    if is_regional_indicator(first) || is_noncharacter(first) || is_hidden(first) {
        return false;
    }
    if !chars.all(is_mark) {
        return false;
    }
    let sum: usize = g.chars().map(|c| c.width().unwrap_or(0)).sum();
    sum == usize::from(g.cell_width())
}

/// A combining mark: drawn on the character before it, taking no cell of its own, in
/// every terminal.
fn is_mark(c: char) -> bool {
    c.width() == Some(0) && !is_hidden(c) && c != '\u{20e3}'
}

/// Characters that draw nothing of their own (joiners, variation selectors, tags, format
/// characters, ...): the set the server refuses in nicks. The blank Braille pattern is
/// in that set for nicks only: in text it is an ordinary blank character.
fn is_hidden(c: char) -> bool {
    c != '\u{2800}' && is_invisible(c)
}

fn is_regional_indicator(c: char) -> bool {
    ('\u{1f1e6}'..='\u{1f1ff}').contains(&c)
}

/// The letter a regional indicator stands for (`🇺` is `U`).
fn regional_letter(c: char) -> char {
    char::from_u32(u32::from(c) - 0x1f1e6 + u32::from(b'A')).unwrap_or('?')
}

/// The code points Unicode reserves as never to be characters: terminals draw them as
/// nothing, a box or a replacement character.
fn is_noncharacter(c: char) -> bool {
    let n = u32::from(c);
    (0xfdd0..=0xfdef).contains(&n) || n & 0xfffe == 0xfffe
}

/// The text `s` as it is drawn: each cluster as itself or its stand-in (for tests and for
/// widths measured outside a buffer).
pub fn drawn(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for g in s.graphemes(true) {
        let width = usize::from(g.cell_width());
        if width == 0 {
            continue;
        }
        match stand_in(g, width) {
            Some(stand_in) => out.push_str(&stand_in),
            None => out.push_str(g),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use ratatui::text::Line;
    use ratatui::widgets::Widget;

    use super::*;

    /// Strings whose clusters terminals disagree on, each with what is drawn for it.
    const HARD: &[(&str, &str)] = &[
        ("🇺🇸", "US"),
        ("🇺", "U"),
        ("👍🏽", "👍"),
        ("👨\u{200d}👩\u{200d}👧", "👨"),
        ("🏳\u{fe0f}\u{200d}🌈", "🌈"),
        ("❤\u{fe0f}", "❤ "),
        ("1\u{fe0f}\u{20e3}", "1 "),
        (
            "🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}",
            "🏴",
        ),
        ("😀\u{fe0e}", "😀"),
        ("a\u{200c}", "a"),
        ("\u{fdd0}", "\u{fffd}"),
        ("\u{ffff}", "\u{fffd}"),
        ("\u{2028}", "\u{fffd}"),
        // A skin tone after something that takes none joins it all the same.
        ("x🏽", "x  "),
    ];

    /// Strings drawn exactly as they are.
    const EASY: &[&str] = &["abc", "你好", "e\u{301}", "😀", "각", "\u{2800}"];

    #[test]
    fn uncertain_clusters_get_stand_ins_of_their_width() {
        for (input, expected) in HARD {
            assert_eq!(drawn(input), *expected, "{input:?}");
            assert_eq!(
                crate::input::display_width(expected),
                crate::input::display_width(input),
                "{input:?}"
            );
        }
        for input in EASY {
            assert_eq!(drawn(input), *input);
        }
    }

    /// The width of `g` in a terminal that measures every code point on its own, the way
    /// `wcwidth` does (xterm, tmux, most terminals without emoji sequences).
    fn per_code_point(g: &str) -> usize {
        g.chars().map(|c| c.width().unwrap_or(0)).sum()
    }

    /// Draws `text` on a row of `width` cells and settles it.
    fn drawn_row(text: &str, width: u16) -> Buffer {
        let mut buf = Buffer::empty(Rect::new(0, 0, width, 1));
        Line::raw(text).render(buf.area, &mut buf);
        settle(&mut buf);
        buf
    }

    /// What a terminal shows after receiving the row's cells one after the other, the way
    /// the renderer sends them (wide characters' trailing cells skipped): each cluster
    /// moves the cursor by its own width in that terminal.
    fn terminal_row(buf: &Buffer, measure: impl Fn(&str) -> usize) -> Vec<String> {
        let width = usize::from(buf.area.width);
        let mut screen = vec![" ".to_owned(); width];
        let mut col = 0;
        let mut x = 0;
        while x < width {
            let symbol = buf[(u16::try_from(x).unwrap(), 0)].symbol();
            let renderer = usize::from(symbol.cell_width()).max(1);
            let moved = measure(symbol);
            if col < width {
                screen[col] = symbol.to_owned();
            }
            // The cells a wide glyph covers show nothing of their own.
            for covered in screen
                .iter_mut()
                .skip(col + 1)
                .take(moved.saturating_sub(1))
            {
                covered.clear();
            }
            col += moved;
            x += renderer;
            // The renderer moves the cursor only when a cell is skipped; a terminal that
            // moved differently draws the next cell in the wrong place.
        }
        screen
    }

    #[test]
    fn every_cell_is_drawn_alike_by_every_terminal() {
        let mut all: Vec<&str> = HARD.iter().map(|(s, _)| *s).collect();
        all.extend(EASY);
        let text = format!("x{}y", all.join("|"));
        let buf = drawn_row(&text, 120);
        for cell in buf.content() {
            assert!(
                is_certain(cell.symbol()),
                "{:?} left as it is",
                cell.symbol()
            );
        }
        // A terminal that joins nothing and one that measures as the renderer does agree.
        let joining = terminal_row(&buf, |g| usize::from(g.cell_width()));
        let separate = terminal_row(&buf, per_code_point);
        assert_eq!(joining, separate);
        let shown: String = joining.concat();
        let expected = "xUS|U|👍|👨|🌈|❤ |1 |🏴|😀|a|\u{fffd}|\u{fffd}|\u{fffd}|x  |abc|你好|e\u{301}|😀|각|\u{2800}y";
        assert_eq!(shown.trim_end(), expected);
    }

    #[test]
    fn zero_width_characters_draw_nothing() {
        let buf = drawn_row("a\u{200b}b\u{2060}c\u{fe0f}d\u{200e}e", 8);
        let row: String = buf.content().iter().map(|c| c.symbol()).collect();
        assert_eq!(row, "abcde   ");
    }

    #[test]
    fn a_stand_in_keeps_its_cells_style() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 4, 1));
        let red = ratatui::style::Style::new().fg(ratatui::style::Color::Red);
        buf.set_string(0, 0, "🇺🇸", red);
        settle(&mut buf);
        assert_eq!(buf[(0, 0)].symbol(), "U");
        assert_eq!(buf[(1, 0)].symbol(), "S");
        assert_eq!(buf[(1, 0)].fg, ratatui::style::Color::Red);
    }

    #[test]
    fn a_flag_cut_at_the_edge_leaves_nothing_half_drawn() {
        // One cell left for a two-cell flag: the renderer does not draw it at all.
        let buf = drawn_row("abc🇺🇸", 4);
        let row: String = buf.content().iter().map(|c| c.symbol()).collect();
        assert_eq!(row, "abc ");
    }
}
