//! Drawing. Every widget here only reads the [`App`]. The one thing drawing changes is the
//! message pane's own state ([`crate::app::pane::PaneState`], where it is scrolled), which
//! the pane moves and clamps to what it can show: only it knows how many rows the items
//! wrap to.
//!
//! - [`layout`]: where the message pane, member list, transfer bars, status line and input
//!   line go.
//! - [`messages`]: the message pane (a `StatefulWidget`), and how one entry looks and
//!   wraps.
//! - [`marks`]: the lines between messages: the date line, the unread line, and the
//!   markers of history (loading, not loaded, lost, the beginning).
//! - [`search`]: the search view, in the message pane's place while it is open.
//! - [`title`]: the buffer's title line (the room and its topic), above the pane.
//! - [`status`], [`prompt`], [`members`]: the other three parts of the screen.
//! - [`transfers`]: the progress bars of running transfers, above the status line.
//! - [`wrap`]: wrapping styled text by display width.
//! - [`links`]: URLs found in messages and drawn as terminal hyperlinks (OSC 8).
//! - [`theme`]: colours by role, a dark and a light theme, nick colours.
//! - [`cells`]: the last step of every frame: each cell a cluster whose width every
//!   terminal agrees on.
//! - [`picker`]: the server picker's screen, shown before the chat screen when the client
//!   looked for servers on the LAN.

pub mod cells;
pub mod links;
pub mod marks;
pub mod members;
pub mod messages;
pub mod picker;
pub mod prompt;
pub mod search;
pub mod status;
pub mod theme;
pub mod title;
pub mod transfers;
pub mod wrap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;

use crate::app::App;

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    /// The title line; no rows on a screen of fewer than [`MIN_HEIGHT_FOR_TITLE`].
    pub title: Rect,
    pub messages: Rect,
    pub members: Option<Rect>,
    /// One row per running transfer (up to [`transfers::MAX_ROWS`]); empty when none run.
    pub transfers: Rect,
    pub status: Rect,
    pub input: Rect,
}

/// Lowest screen that shows the title line: below it, the rows go to the messages.
pub const MIN_HEIGHT_FOR_TITLE: u16 = 5;

/// Narrowest screen that still shows the member list when it is switched on.
const MIN_WIDTH_FOR_MEMBERS: u16 = 30;

/// Splits the screen: the input line at the bottom, the status line above it, a row per
/// running transfer above that, the title line at the top, and the message pane (and the
/// member list on its right) between. Rows go to the input line first, so that on a screen of one row one can still
/// type, and the transfers leave the message pane at least one row.
pub fn layout(area: Rect, show_members: bool, transfers: usize) -> Areas {
    let row = |y: u16, height: u16| Rect::new(area.x, y, area.width, height);
    let bottom = area.y + area.height;
    let input = row(bottom.saturating_sub(1).max(area.y), area.height.min(1));
    let status = row(
        bottom.saturating_sub(2).max(area.y),
        area.height.saturating_sub(1).min(1),
    );
    let strip = u16::try_from(transfers)
        .unwrap_or(u16::MAX)
        .min(transfers::MAX_ROWS)
        .min(area.height.saturating_sub(3));
    let transfers = row(status.y.saturating_sub(strip), strip);
    let title = row(area.y, u16::from(area.height >= MIN_HEIGHT_FOR_TITLE));
    let mut messages = row(
        title.bottom(),
        area.height.saturating_sub(2 + strip + title.height),
    );
    let members = (show_members && area.width >= MIN_WIDTH_FOR_MEMBERS).then(|| {
        let width = (area.width / 4).clamp(10, 24);
        messages.width -= width;
        Rect::new(messages.right(), messages.y, width, messages.height)
    });
    Areas {
        title,
        messages,
        members,
        transfers,
        status,
        input,
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &mut App) {
    // A private conversation has no member list.
    let members = app.show_members && app.query.is_none();
    let areas = layout(frame.area(), members, app.transfers.len());
    if app.search.is_none() {
        let (items, look, pane) = app.pane();
        frame.render_stateful_widget(
            messages::MessagePane::new(&items, look),
            areas.messages,
            pane,
        );
    }
    let app = &*app;
    if let Some(search) = &app.search {
        frame.render_widget(search::SearchView::new(search, app), areas.messages);
    }
    if let Some(area) = areas.members {
        frame.render_widget(members::MemberList::new(app), area);
    }
    frame.render_widget(title::TitleLine::new(app), areas.title);
    frame.render_widget(transfers::TransferStrip::new(app), areas.transfers);
    frame.render_widget(status::StatusLine::new(app), areas.status);
    let prompt = prompt::Prompt::new(app);
    if let Some(cursor) = prompt.cursor(areas.input) {
        frame.set_cursor_position(cursor);
    }
    frame.render_widget(prompt, areas.input);
    cells::settle(frame.buffer_mut());
}

/// The colour of a nick in the theme of the run ([`theme::Theme::nick_color`]).
pub fn nick_color(nick: &str) -> Color {
    theme::theme().nick_color(nick)
}

#[cfg(test)]
pub(crate) mod tests;
