//! The member list, shown on the right of the message pane with F2.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use super::nick_color;
use crate::app::App;
use chat_client::sanitize;

#[derive(Debug)]
pub struct MemberList<'a> {
    app: &'a App,
}

impl<'a> MemberList<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }
}

impl Widget for MemberList<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let title = format!("{} members", self.app.members.len());
        let block = Block::new()
            .borders(Borders::LEFT)
            .border_style(Style::new().fg(Color::DarkGray))
            .title(Span::styled(
                title,
                Style::new().add_modifier(Modifier::BOLD),
            ));
        let lines: Vec<Line<'_>> = self
            .app
            .members
            .iter()
            // Only as many as the pane shows: a room can have thousands of members.
            .take(usize::from(area.height))
            .map(|m| {
                let mut style = Style::new().fg(nick_color(m));
                if *m == self.app.nick {
                    style = style.add_modifier(Modifier::BOLD);
                }
                Line::from(Span::styled(sanitize::nick(m).into_owned(), style))
            })
            .collect();
        Paragraph::new(lines).block(block).render(area, buf);
    }
}
