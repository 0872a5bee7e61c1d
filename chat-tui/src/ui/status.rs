//! The status line: connection state, nick, room, members, server, running transfers,
//! messages waiting to be sent.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::app::{App, ConnState, members_count};
use chat_client::sanitize;

#[derive(Debug)]
pub struct StatusLine<'a> {
    app: &'a App,
}

impl<'a> StatusLine<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }
}

impl Widget for StatusLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        let bar: Style = super::theme::theme().bar;
        let (state, state_style) = match &app.conn {
            ConnState::Connected => ("connected".to_owned(), bar.fg(Color::LightGreen)),
            ConnState::Disconnected { reason } => (
                format!("disconnected: {}", sanitize::text(reason)),
                bar.fg(Color::White).bg(Color::Red),
            ),
            ConnState::Reconnecting {
                attempt,
                delay,
                error,
            } => (
                format!(
                    "reconnecting in {:.1}s (attempt {attempt}): {}",
                    delay.as_secs_f32(),
                    sanitize::text(error)
                ),
                bar.fg(Color::Black).bg(Color::Yellow),
            ),
        };
        let sep = || Span::styled(" | ", bar);
        let mut spans = vec![
            Span::styled(
                format!(" {state} "),
                state_style.add_modifier(Modifier::BOLD),
            ),
            Span::styled(" ", bar),
            Span::styled(
                sanitize::nick(&app.nick).into_owned(),
                bar.add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" in #{}", sanitize::nick(&app.room)), bar),
            sep(),
            Span::styled(members_count(app.member_total), bar),
            sep(),
            Span::styled(
                match &app.settings.hosting {
                    Some(addr) => format!("hosting on {addr}"),
                    None => app.settings.server.clone(),
                },
                bar,
            ),
        ];
        if !app.transfers.is_empty() {
            spans.push(sep());
            spans.push(Span::styled(
                match app.transfers.len() {
                    1 => "1 transfer".to_owned(),
                    n => format!("{n} transfers"),
                },
                bar.fg(Color::LightCyan),
            ));
        }
        if app.waiting > 0 {
            spans.push(sep());
            spans.push(Span::styled(
                format!("{} to send", app.waiting),
                bar.fg(Color::Yellow),
            ));
        }
        if app.queued > 0 {
            spans.push(sep());
            spans.push(Span::styled(
                format!("{} queued", app.queued),
                bar.fg(Color::Yellow),
            ));
        }
        buf.set_style(area, bar);
        Line::from(spans).render(area, buf);
    }
}
