//! The search view: in the message pane's place while `/search` is open, a header with
//! the words and where the search is, one row per hit (date, time, nick and text, newest
//! first, the chosen one highlighted), and the keys at the bottom.

use chat_client::sanitize;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{marks, messages, wrap};
use crate::app::App;
use crate::app::room::message_entry;
use crate::app::search::{Search, SearchState};

/// The keys, at the bottom of the view.
const KEYS: &str = "Up/Down choose · Enter show it where it was said · Esc back";

#[derive(Debug)]
pub struct SearchView<'a> {
    search: &'a Search,
    app: &'a App,
}

impl<'a> SearchView<'a> {
    pub fn new(search: &'a Search, app: &'a App) -> Self {
        Self { search, app }
    }

    /// The header: what is searched, and where the search is.
    fn header(&self) -> (String, Style) {
        let search = self.search;
        let room = sanitize::nick(&search.room);
        let words = sanitize::text(&search.words);
        let hits = match search.hits.len() {
            1 => "1 hit".to_owned(),
            n => format!("{n} hits"),
        };
        let bar = Style::new().fg(Color::Black).bg(Color::Cyan);
        let (state, style) = match &search.state {
            SearchState::Searching if search.hits.is_empty() => ("searching…".to_owned(), bar),
            SearchState::Searching => (format!("{hits}, looking for older ones…"), bar),
            SearchState::Done { .. } if search.hits.is_empty() => (
                format!("no message of #{room} holds all of these words"),
                bar,
            ),
            SearchState::Done { more, complete } => {
                let mut state = hits;
                if *more {
                    state.push_str(", more further down");
                }
                if !complete {
                    state.push_str(", incomplete: the server's time ran out");
                }
                (state, bar)
            }
            SearchState::Failed(why) => (why.clone(), Style::new().fg(Color::White).bg(Color::Red)),
        };
        (
            format!(" \"{words}\" in #{room}: {state} "),
            style.add_modifier(Modifier::BOLD),
        )
    }

    /// The row of one hit: local date and time, then the message as the pane shows it.
    fn hit_line(&self, i: usize, width: usize) -> Line<'static> {
        let hit = &self.search.hits[i];
        let offset = self.app.settings.utc_offset_secs;
        let entry = message_entry(hit, &self.search.room, &self.app.nick, &self.app.shares);
        let (mut spans, _) = messages::entry_spans(&entry, offset);
        // The pane's `HH:MM ` becomes the date and time: hits come from any day.
        spans[0] = Span::styled(
            format!("{} ", marks::short_date(hit.time_ms, offset)),
            Style::new().fg(Color::DarkGray),
        );
        let line = wrap::clip(&spans, width);
        if i == self.search.selected {
            line.patch_style(Style::new().add_modifier(Modifier::REVERSED))
        } else {
            line
        }
    }
}

impl Widget for SearchView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let width = usize::from(area.width);
        let (header, style) = self.header();
        buf.set_style(Rect::new(area.x, area.y, area.width, 1), style);
        buf.set_line(
            area.x,
            area.y,
            &wrap::clip(&[Span::styled(header, style)], width),
            area.width,
        );
        let footer = area.height >= 3;
        let list = Rect::new(
            area.x,
            area.y + 1,
            area.width,
            area.height - 1 - u16::from(footer),
        );
        if footer {
            let keys = Span::styled(format!(" {KEYS}"), Style::new().fg(Color::DarkGray));
            buf.set_line(
                area.x,
                area.bottom() - 1,
                &wrap::clip(&[keys], width),
                area.width,
            );
        }
        let rows = usize::from(list.height);
        let hits = self.search.hits.len();
        // The chosen hit in the middle, once there are hits above it to show.
        let top = self
            .search
            .selected
            .saturating_sub(rows / 2)
            .min(hits.saturating_sub(rows));
        for (y, i) in (list.top()..list.bottom()).zip(top..hits) {
            buf.set_line(list.x, y, &self.hit_line(i, width), list.width);
        }
    }
}
