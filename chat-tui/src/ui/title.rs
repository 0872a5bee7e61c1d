//! The title line, above the message pane: the buffer shown (a room and its topic, or the
//! private conversation and who it is with).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::app::{App, Target};
use chat_client::sanitize;

#[derive(Debug)]
pub struct TitleLine<'a> {
    app: &'a App,
}

impl<'a> TitleLine<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }
}

impl Widget for TitleLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        let bar: Style = super::theme::theme().bar;
        let name = bar.add_modifier(Modifier::BOLD);
        let quiet = bar.fg(Color::Gray);
        let spans = match app.target() {
            Target::Room(room) => {
                let mut spans = vec![Span::styled(format!(" #{}", sanitize::nick(room)), name)];
                match (&app.topic, app.joined) {
                    (_, false) => spans.push(Span::styled(" — you left this room", quiet)),
                    (Some(topic), true) => {
                        spans.push(Span::styled(format!(" — {}", topic.text), bar));
                    }
                    (None, true) => spans.push(Span::styled(" — no topic", quiet)),
                }
                spans
            }
            Target::Query(nick) => vec![
                Span::styled(" private conversation with ", quiet),
                Span::styled(sanitize::nick(nick).into_owned(), name),
            ],
        };
        buf.set_style(area, bar);
        Line::from(spans).render(area, buf);
    }
}
