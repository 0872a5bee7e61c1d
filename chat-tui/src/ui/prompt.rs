//! The input line, or the question a multi-line paste asks.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Widget;

use crate::app::App;
use crate::input::display_width;

const PROMPT: &str = "> ";

#[derive(Debug)]
pub struct Prompt<'a> {
    app: &'a App,
}

impl<'a> Prompt<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }

    /// The text before the editable part.
    fn prefix(&self) -> String {
        match &self.app.pending_paste {
            Some(paste) => format!("send {} lines? y/n ", paste.lines.len()),
            None => PROMPT.to_owned(),
        }
    }

    /// Where the terminal cursor goes when the prompt is drawn in `area`.
    pub fn cursor(&self, area: Rect) -> Option<Position> {
        if area.is_empty() {
            return None;
        }
        let prefix = display_width(&self.prefix());
        let col = if self.app.pending_paste.is_some() {
            prefix
        } else {
            let field = usize::from(area.width).saturating_sub(prefix);
            prefix + self.app.input.view(field).1
        };
        let x = area.x + u16::try_from(col).unwrap_or(u16::MAX).min(area.width - 1);
        Some(Position::new(x, area.y))
    }
}

impl Widget for Prompt<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let prefix = self.prefix();
        let prefix_style = if self.app.pending_paste.is_some() {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::DarkGray)
        };
        let (x, _) = buf.set_stringn(area.x, area.y, &prefix, area.width.into(), prefix_style);
        if self.app.pending_paste.is_some() {
            return;
        }
        let field = usize::from(area.right() - x);
        let (visible, _) = self.app.input.view(field);
        buf.set_stringn(x, area.y, visible, field, Style::new());
    }
}
