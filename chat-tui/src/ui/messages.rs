//! The message pane: entries with time, coloured nick and text, wrapped to the pane's width
//! and scrolled from the bottom.
//!
//! It is a `StatefulWidget` over [`PaneState`]: the app moves the view by rows and pages
//! without knowing how entries wrap; here, where the width is known, the view is clamped
//! to the oldest row, and entries that arrived while scrolled up move it up by their rows
//! so that what is on screen stays put.

use std::collections::VecDeque;

use chat_client::clock::hh_mm;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::StatefulWidget;

use super::{nick_color, wrap};
use crate::app::scrollback::{Entry, EntryKind, PaneState};

/// Width of `HH:MM `: continuation rows are indented by it, so text lines up under text.
const TIME_WIDTH: usize = 6;

/// How an entry looks in a pane `width` cells wide, one line per row.
pub fn entry_lines(entry: &Entry, width: usize, utc_offset_secs: i32) -> Vec<Line<'static>> {
    let (spans, indent) = entry_spans(entry, utc_offset_secs);
    wrap::wrap(&spans, width, indent)
}

/// The spans of one entry before wrapping, and the indent of its continuation rows.
pub fn entry_spans(entry: &Entry, utc_offset_secs: i32) -> (Vec<Span<'static>>, usize) {
    let time = Span::styled(
        format!("{} ", hh_mm(entry.time_ms, utc_offset_secs)),
        Style::new().fg(Color::DarkGray),
    );
    let nick = |nick: &str, own: bool| {
        let style = Style::new().fg(nick_color(nick));
        if own {
            style.add_modifier(Modifier::BOLD)
        } else {
            style
        }
    };
    let mut spans = vec![time];
    match &entry.kind {
        EntryKind::Chat {
            from,
            text,
            action,
            own,
            mention,
        } => {
            let text_style = if *mention {
                Style::new().fg(Color::Black).bg(Color::Yellow)
            } else if *own {
                Style::new().fg(Color::Gray)
            } else {
                Style::new()
            };
            if *action {
                let italic = Style::new().add_modifier(Modifier::ITALIC);
                spans.push(Span::styled("* ", italic));
                spans.push(Span::styled(from.clone(), nick(from, *own).patch(italic)));
                spans.push(Span::styled(" ", italic));
                spans.push(Span::styled(text.clone(), text_style.patch(italic)));
            } else {
                spans.push(Span::styled("<", Style::new().fg(Color::DarkGray)));
                spans.push(Span::styled(from.clone(), nick(from, *own)));
                spans.push(Span::styled("> ", Style::new().fg(Color::DarkGray)));
                spans.push(Span::styled(text.clone(), text_style));
            }
        }
        EntryKind::Private {
            from,
            to,
            text,
            own,
        } => {
            let magenta = Style::new().fg(Color::Magenta);
            let (dir, who) = if *own { ("to", to) } else { ("from", from) };
            spans.push(Span::styled(format!("[msg {dir} "), magenta));
            spans.push(Span::styled(who.clone(), nick(who, false)));
            spans.push(Span::styled("] ", magenta));
            spans.push(Span::styled(text.clone(), magenta));
        }
        EntryKind::Notice(text) => {
            spans.push(Span::styled(
                format!("-!- {text}"),
                Style::new().fg(Color::Cyan),
            ));
        }
        EntryKind::Info(text) => {
            spans.push(Span::styled(
                format!("-- {text}"),
                Style::new().fg(Color::Blue),
            ));
        }
        EntryKind::Error(text) => {
            spans.push(Span::styled(
                format!("!! {text}"),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
        }
    }
    (spans, TIME_WIDTH)
}

/// The message pane widget: the entries, oldest first, and how to show their times.
#[derive(Debug)]
pub struct MessagePane<'a> {
    entries: &'a VecDeque<Entry>,
    utc_offset_secs: i32,
}

impl<'a> MessagePane<'a> {
    pub fn new(entries: &'a VecDeque<Entry>, utc_offset_secs: i32) -> Self {
        Self {
            entries,
            utc_offset_secs,
        }
    }
}

impl StatefulWidget for MessagePane<'_> {
    type State = PaneState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut PaneState) {
        if area.is_empty() {
            return;
        }
        let height = usize::from(area.height);
        let width = usize::from(area.width);
        let arrived = state.begin_draw(height).min(self.entries.len());
        // Wrap only what is needed: the entries that arrived while scrolled up (their rows
        // move the view), and from the newest back until the top of the view is reached.
        let mut arrived_rows = 0;
        let mut rows_bottom_up: Vec<Line<'static>> = Vec::new();
        for (i, entry) in self.entries.iter().rev().enumerate() {
            let lines = entry_lines(entry, width, self.utc_offset_secs);
            if i < arrived {
                arrived_rows += lines.len();
            }
            rows_bottom_up.extend(lines.into_iter().rev());
            let needed = state.offset().saturating_add(arrived_rows + height);
            if i + 1 >= arrived && rows_bottom_up.len() >= needed {
                break;
            }
        }
        // Stopping early leaves more rows than the view needs, so only running out of
        // entries clamps: the oldest row then sits at the top of the pane.
        state.settle(arrived_rows, rows_bottom_up.len().saturating_sub(height));
        let offset = state.offset();
        let end = (offset + height).min(rows_bottom_up.len());
        let visible = rows_bottom_up[offset..end].iter().rev();
        for (y, line) in (area.y..).zip(visible) {
            buf.set_line(area.x, y, line, area.width);
        }
        if offset > 0 {
            let marker = match state.unseen() {
                0 => " ↓ more below (PageDown) ".to_owned(),
                1 => " ↓ 1 new message (PageDown) ".to_owned(),
                n => format!(" ↓ {n} new messages (PageDown) "),
            };
            let y = area.bottom() - 1;
            let style = Style::new().fg(Color::Black).bg(Color::Yellow);
            buf.set_style(Rect::new(area.x, y, area.width, 1), style);
            for x in area.left()..area.right() {
                buf[(x, y)].set_symbol(" ");
            }
            buf.set_stringn(area.x, y, marker, width, style);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::scrollback::{Scroll, Scrollback};

    fn notice(text: &str) -> Entry {
        Entry {
            time_ms: 0,
            kind: EntryKind::Notice(text.into()),
        }
    }

    /// A scrollback of `n` one-row notices, `n0` oldest.
    fn numbered(n: usize) -> Scrollback {
        let mut scrollback = Scrollback::default();
        for i in 0..n {
            scrollback.push(notice(&format!("n{i}")));
        }
        scrollback
    }

    /// Draws the pane `width` by `height` and returns its rows as text.
    fn draw(scrollback: &mut Scrollback, width: u16, height: u16) -> Vec<String> {
        let area = Rect::new(0, 0, width, height);
        let mut buf = Buffer::empty(area);
        let (entries, state) = scrollback.pane();
        MessagePane::new(entries, 0).render(area, &mut buf, state);
        (0..height)
            .map(|y| {
                let row: String = (0..width).map(|x| buf[(x, y)].symbol()).collect();
                row.trim_end().to_owned()
            })
            .collect()
    }

    #[test]
    fn the_newest_entries_fill_the_pane_from_the_bottom() {
        let mut scrollback = numbered(10);
        assert_eq!(
            draw(&mut scrollback, 30, 3),
            ["00:00 -!- n7", "00:00 -!- n8", "00:00 -!- n9"]
        );
    }

    #[test]
    fn scrolling_past_the_top_stops_at_the_first_line() {
        let mut scrollback = numbered(10);
        draw(&mut scrollback, 30, 4);
        scrollback.scroll(Scroll::Up(100));
        assert_eq!(
            draw(&mut scrollback, 30, 4),
            [
                "00:00 -!- n0",
                "00:00 -!- n1",
                "00:00 -!- n2",
                " ↓ more below (PageDown)"
            ]
        );
        assert_eq!(scrollback.state().offset(), 6, "clamped when drawn");
        // So one row down moves at once, however far up the app asked to go.
        scrollback.scroll(Scroll::Down(1));
        assert_eq!(draw(&mut scrollback, 30, 4)[0], "00:00 -!- n1");
        // A page is the pane's height less one row.
        scrollback.scroll(Scroll::PageDown);
        assert_eq!(scrollback.state().offset(), 2);
        scrollback.scroll(Scroll::PageUp);
        scrollback.scroll(Scroll::PageUp);
        assert_eq!(draw(&mut scrollback, 30, 4)[0], "00:00 -!- n0");
    }

    #[test]
    fn new_entries_while_scrolled_up_do_not_move_the_view_and_are_counted() {
        let mut scrollback = numbered(10);
        draw(&mut scrollback, 30, 4);
        scrollback.scroll(Scroll::Up(2));
        let view = ["00:00 -!- n4", "00:00 -!- n5", "00:00 -!- n6"];
        assert_eq!(draw(&mut scrollback, 30, 4)[..3], view);
        scrollback.push(notice("new"));
        // Three rows at this width.
        scrollback.push(notice(&"long ".repeat(10)));
        let rows = draw(&mut scrollback, 30, 4);
        assert_eq!(rows[..3], view);
        assert_eq!(rows[3], " ↓ 2 new messages (PageDown)");
        assert_eq!(scrollback.state().offset(), 2 + 1 + 3);
        // Back at the bottom, the newest show and the count is gone.
        scrollback.scroll(Scroll::Bottom);
        let rows = draw(&mut scrollback, 30, 4);
        assert_eq!(rows[0], "00:00 -!- new");
        assert!(rows[3].starts_with("      long"), "{rows:?}");
        assert_eq!(scrollback.state().unseen(), 0);
    }

    #[test]
    fn a_view_scrolled_to_the_bottom_by_the_wheel_forgets_the_count() {
        let mut scrollback = numbered(10);
        draw(&mut scrollback, 30, 4);
        scrollback.scroll(Scroll::Up(1));
        scrollback.push(notice("new"));
        draw(&mut scrollback, 30, 4);
        assert_eq!(scrollback.state().offset(), 2);
        scrollback.scroll(Scroll::Down(3));
        let rows = draw(&mut scrollback, 30, 4);
        assert_eq!(rows[3], "00:00 -!- new");
        assert_eq!(scrollback.state().unseen(), 0);
    }

    #[test]
    fn a_resize_clamps_the_view() {
        let mut scrollback = Scrollback::default();
        for i in 0..5 {
            scrollback.push(notice(&format!("{i} {}", "word ".repeat(6))));
        }
        // Narrow, each entry wraps to several rows; at the top, the first one shows.
        draw(&mut scrollback, 20, 3);
        scrollback.scroll(Scroll::Up(1000));
        let narrow = draw(&mut scrollback, 20, 3);
        assert!(narrow[0].starts_with("00:00 -!- 0 word"), "{narrow:?}");
        let narrow_offset = scrollback.state().offset();
        // Wide, each entry is one row: the view can only be two rows up.
        let wide = draw(&mut scrollback, 60, 3);
        assert_eq!(scrollback.state().offset(), 2);
        assert!(narrow_offset > 2);
        assert!(wide[0].starts_with("00:00 -!- 0 word"), "{wide:?}");
        // High enough for all: back at the bottom, no bar.
        let tall = draw(&mut scrollback, 60, 8);
        assert_eq!(scrollback.state().offset(), 0);
        assert!(tall[4].starts_with("00:00 -!- 4 word"), "{tall:?}");
        assert_eq!(tall[7], "");
    }

    #[test]
    fn an_empty_pane_draws_nothing_and_keeps_the_view() {
        let mut scrollback = numbered(10);
        draw(&mut scrollback, 30, 4);
        scrollback.scroll(Scroll::Up(2));
        draw(&mut scrollback, 30, 0);
        assert_eq!(scrollback.state().offset(), 2);
    }
}
