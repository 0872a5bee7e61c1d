//! The message pane: entries with time, coloured nick and text, wrapped to the pane's width
//! and scrolled from the bottom.

use chat_client::clock::hh_mm;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{entry_lines, nick_color, pane_width};
use crate::app::{App, Entry, EntryKind};

/// Width of `HH:MM `: continuation rows are indented by it, so text lines up under text.
const TIME_WIDTH: usize = 6;

/// How many rows `entry` takes in the message pane at the app's current size.
pub fn entry_height(app: &App, entry: &Entry) -> usize {
    entry_lines(app, entry, pane_width(app)).len()
}

/// The spans of one entry before wrapping, and the indent of its continuation rows.
pub fn entry_spans(app: &App, entry: &Entry) -> (Vec<Span<'static>>, usize) {
    let time = Span::styled(
        format!("{} ", hh_mm(entry.time_ms, app.settings.utc_offset_secs)),
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

/// The message pane widget.
#[derive(Debug)]
pub struct MessagePane<'a> {
    app: &'a App,
}

impl<'a> MessagePane<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }
}

impl Widget for MessagePane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let height = usize::from(area.height);
        let width = usize::from(area.width);
        // Wrap only what can be seen: entries from the newest back, until the rows above the
        // scroll offset fill the pane.
        let needed = self.app.scroll() + height;
        let mut rows_bottom_up: Vec<Line<'static>> = Vec::with_capacity(needed);
        for entry in self.app.messages().iter().rev() {
            rows_bottom_up.extend(entry_lines(self.app, entry, width).into_iter().rev());
            if rows_bottom_up.len() >= needed {
                break;
            }
        }
        let scroll = self
            .app
            .scroll()
            .min(rows_bottom_up.len().saturating_sub(height));
        let end = (scroll + height).min(rows_bottom_up.len());
        let visible = rows_bottom_up[scroll..end].iter().rev();
        for (y, line) in (area.y..).zip(visible) {
            buf.set_line(area.x, y, line, area.width);
        }
        if self.app.scroll() > 0 {
            let marker = match self.app.unseen() {
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
