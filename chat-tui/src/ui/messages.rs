//! The message pane: items with time, coloured nick and text, wrapped to the pane's width,
//! with a date line where a day begins, the unread line, and the markers of history.
//!
//! It is a `StatefulWidget` over [`PaneState`]: the app moves the view by rows and pages
//! without knowing how items wrap; here, where the width is known, the moves are carried
//! out from the item that holds the view's bottom row, clamped to the list's ends, and the
//! view is anchored again to an item, so that what is loaded or dropped around it never
//! moves it. Only the items near the view are wrapped: a draw measures a few screens,
//! whatever the length of the list.

use std::collections::HashMap;

use chat_client::sanitize;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::StatefulWidget;

use super::marks::{self, RuleStyle};
use super::{links, nick_color, theme, wrap};
use crate::app::pane::{Anchor, Item, ItemKind, Key, PaneState, Seen};
use crate::app::room::message_entry;
use crate::app::scrollback::{Entry, EntryKind, SendState};
use crate::app::transfers::Shares;

/// Screens measured beyond each edge of the view, to tell the app what it will soon need.
const NEAR_SCREENS: usize = 2;

/// How an entry looks in a pane `width` cells wide, one line per row.
pub fn entry_lines(entry: &Entry, width: usize, utc_offset_secs: i32) -> Vec<Line<'static>> {
    let (spans, indent) = entry_spans(entry, utc_offset_secs);
    wrap::wrap(&spans, width, indent)
}

/// The spans of one entry before wrapping, and the indent of its continuation rows.
pub fn entry_spans(entry: &Entry, utc_offset_secs: i32) -> (Vec<Span<'static>>, usize) {
    let theme = theme::theme();
    // Continuation rows are indented by the time's width, so text lines up under text.
    let (time, indent) = timestamp(entry.time_ms, utc_offset_secs);
    let time = Span::styled(time, Style::new().fg(theme.dim));
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
                theme.mention
            } else if *own {
                Style::new().fg(theme.own_text)
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
                spans.push(Span::styled("<", Style::new().fg(theme.dim)));
                spans.push(Span::styled(from.clone(), nick(from, *own)));
                spans.push(Span::styled("> ", Style::new().fg(theme.dim)));
                spans.push(Span::styled(text.clone(), text_style));
            }
        }
        EntryKind::Sending {
            from,
            text,
            action,
            state,
            ..
        } => {
            // Dimmed until the server has it, with a word that says why.
            let dim = Style::new().fg(theme.dim);
            if *action {
                spans.push(Span::styled(format!("* {from} "), dim));
            } else {
                spans.push(Span::styled(format!("<{from}> "), dim));
            }
            spans.push(Span::styled(text.clone(), dim));
            spans.push(match state {
                SendState::Pending => Span::styled(" (sending…)", dim),
                SendState::Unconfirmed => {
                    Span::styled(" (not confirmed)", Style::new().fg(theme.error))
                }
            });
        }
        EntryKind::Private {
            from,
            to,
            text,
            own,
        } => {
            let magenta = Style::new().fg(theme.private);
            let (dir, who) = if *own { ("to", to) } else { ("from", from) };
            spans.push(Span::styled(format!("[msg {dir} "), magenta));
            spans.push(Span::styled(who.clone(), nick(who, false)));
            spans.push(Span::styled("] ", magenta));
            spans.push(Span::styled(text.clone(), magenta));
        }
        EntryKind::Notice(text) => {
            spans.push(Span::styled(
                format!("-!- {text}"),
                Style::new().fg(theme.notice),
            ));
        }
        EntryKind::Info(text) => {
            spans.push(Span::styled(
                format!("-- {text}"),
                Style::new().fg(theme.info),
            ));
        }
        EntryKind::Error(text) => {
            spans.push(Span::styled(
                format!("!! {text}"),
                Style::new().fg(theme.error).add_modifier(Modifier::BOLD),
            ));
        }
    }
    (spans, indent)
}

/// The time in front of an entry, with its space, as the run's format writes it
/// ([`crate::prefs`]), and its width in cells.
fn timestamp(time_ms: u64, utc_offset_secs: i32) -> (String, usize) {
    let format = &crate::prefs::current().timestamp;
    if format.is_empty() {
        return (String::new(), 0);
    }
    let time = format!("{} ", format.format(time_ms, utc_offset_secs));
    let width = crate::input::display_width(&time);
    (time, width)
}

/// Where the user stopped reading: the unread line goes above the item `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unread {
    pub before: Key,
    /// Room messages after the last one read.
    pub count: u64,
    /// When the last one read was said, if it is known.
    pub since_ms: Option<u64>,
}

/// What the pane needs besides the items to draw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look<'a> {
    /// This client's nick: its own lines are bold, lines naming it stand out.
    pub nick: &'a str,
    /// The room, as the markers name it (not yet sanitised).
    pub room: &'a str,
    pub utc_offset_secs: i32,
    pub unread: Option<Unread>,
    /// An item to show highlighted (a search hit jumped to).
    pub highlight: Option<Key>,
    /// Whether the list's last item is the newest the room has: at the bottom, the view
    /// then follows new items. Otherwise it stays on what it shows while newer pages load.
    pub live_end: bool,
    /// How many have fetched this client's files, for its offer lines.
    pub shares: &'a Shares,
}

/// The message pane widget: the items, in the order of their keys, and how to show them.
#[derive(Debug)]
pub struct MessagePane<'a> {
    items: &'a [Item<'a>],
    look: Look<'a>,
}

impl<'a> MessagePane<'a> {
    pub fn new(items: &'a [Item<'a>], look: Look<'a>) -> Self {
        Self { items, look }
    }
}

/// A row of the list: item `item`, `below` rows of it under this row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    item: usize,
    below: usize,
}

/// The items' rows at one width, wrapped once per draw and only where needed.
struct Rows<'p> {
    items: &'p [Item<'p>],
    look: Look<'p>,
    width: usize,
    /// The local days of the list's first and last items with a time: a date line goes
    /// above the first one only when history spans days.
    spans_days: bool,
    cache: HashMap<usize, Vec<Line<'static>>>,
}

impl<'p> Rows<'p> {
    fn new(items: &'p [Item<'p>], look: Look<'p>, width: usize) -> Self {
        let day = |t| marks::day(t, look.utc_offset_secs);
        let first = items.iter().find_map(|i| i.kind.time_ms()).map(day);
        let last = items.iter().rev().find_map(|i| i.kind.time_ms()).map(day);
        Self {
            items,
            look,
            width,
            spans_days: first != last,
            cache: HashMap::new(),
        }
    }

    fn last(&self) -> usize {
        self.items.len() - 1
    }

    fn count(&mut self, i: usize) -> usize {
        self.lines(i).len().max(1)
    }

    fn lines(&mut self, i: usize) -> &[Line<'static>] {
        if !self.cache.contains_key(&i) {
            let lines = self.wrap(i);
            self.cache.insert(i, lines);
        }
        &self.cache[&i]
    }

    /// The rows of item `i`: its date line and the unread line if they go above it, then
    /// the item itself.
    fn wrap(&self, i: usize) -> Vec<Line<'static>> {
        let item = &self.items[i];
        let look = &self.look;
        let mut lines = Vec::new();
        if let Some(time) = item.kind.time_ms() {
            let day = |t| marks::day(t, look.utc_offset_secs);
            let before = self.items[..i].iter().rev().find_map(|i| i.kind.time_ms());
            let new_day = match before {
                Some(t) => day(t) != day(time),
                None => self.spans_days,
            };
            if new_day {
                let date = marks::long_date(time, look.utc_offset_secs);
                lines.extend(marks::rule(&date, RuleStyle::Date, self.width));
            }
        }
        if let Some(unread) = look.unread.filter(|u| u.before == item.key) {
            let text = marks::unread_text(unread.count, unread.since_ms, look.utc_offset_secs);
            lines.extend(marks::rule(&text, RuleStyle::Unread, self.width));
        }
        let body = match item.kind {
            ItemKind::Message(message) => {
                let entry = message_entry(message, look.room, look.nick, look.shares);
                entry_lines(&entry, self.width, look.utc_offset_secs)
            }
            ItemKind::Local(entry) => entry_lines(entry, self.width, look.utc_offset_secs),
            ItemKind::Marker(marker) => {
                let room = sanitize::nick(look.room);
                let text = marks::marker_text(marker, &room);
                marks::rule(&text, marks::marker_style(marker), self.width)
            }
        };
        if look.highlight == Some(item.key) {
            let reversed = Style::new().add_modifier(Modifier::REVERSED);
            lines.extend(body.into_iter().map(|l| l.patch_style(reversed)));
        } else {
            lines.extend(body);
        }
        lines
    }

    /// `pos` moved up by `n` rows, stopping at the first row.
    fn up(&mut self, mut pos: Pos, n: usize) -> Pos {
        pos.below = pos.below.saturating_add(n);
        while pos.below >= self.count(pos.item) {
            if pos.item == 0 {
                pos.below = self.count(0) - 1;
                break;
            }
            pos.below -= self.count(pos.item);
            pos.item -= 1;
        }
        pos
    }

    /// `pos` moved down by `n` rows, stopping at the last row.
    fn down(&mut self, mut pos: Pos, mut n: usize) -> Pos {
        while n > pos.below {
            if pos.item == self.last() {
                pos.below = 0;
                return pos;
            }
            n -= pos.below + 1;
            pos.item += 1;
            pos.below = self.count(pos.item) - 1;
        }
        pos.below -= n;
        pos
    }

    fn moved(&mut self, pos: Pos, up: isize) -> Pos {
        if up >= 0 {
            self.up(pos, up.unsigned_abs())
        } else {
            self.down(pos, up.unsigned_abs())
        }
    }

    /// Rows from the list's first row down to `pos`, counted up to `enough`.
    fn rows_to(&mut self, pos: Pos, enough: usize) -> usize {
        let mut rows = self.count(pos.item) - pos.below;
        let mut i = pos.item;
        while rows < enough && i > 0 {
            i -= 1;
            rows += self.count(i);
        }
        rows
    }

    /// Rows below `pos` down to the list's last row, counted up to `enough`.
    fn rows_after(&mut self, pos: Pos, enough: usize) -> usize {
        let mut rows = pos.below;
        let mut i = pos.item;
        while rows < enough && i < self.last() {
            i += 1;
            rows += self.count(i);
        }
        rows
    }

    /// Where the anchor puts the view's bottom row.
    fn resolve(&mut self, anchor: Anchor) -> Pos {
        let found = self.items.partition_point(|i| i.key < anchor.key);
        if found > self.last() {
            return Pos {
                item: self.last(),
                below: 0,
            };
        }
        let at_end = Pos {
            item: found,
            below: 0,
        };
        if self.items[found].key != anchor.key {
            // The item went away: the view holds on to the one that took its place.
            return at_end;
        }
        if anchor.rows_below >= 0 {
            self.down(at_end, anchor.rows_below.unsigned_abs())
        } else {
            self.up(at_end, anchor.rows_below.unsigned_abs())
        }
    }

    /// The anchor of a view whose bottom row is `bottom` and top row `top`: the lowest
    /// item on screen that is not a marker (markers come and go as pages load), and how
    /// far below its last row the view's bottom is.
    fn anchor(&mut self, top: Pos, bottom: Pos) -> Anchor {
        let mut rows_below = -isize::try_from(bottom.below).unwrap_or(isize::MAX);
        let mut i = bottom.item;
        loop {
            if !matches!(self.items[i].kind, ItemKind::Marker(_)) || i == top.item {
                break;
            }
            rows_below += isize::try_from(self.count(i)).unwrap_or(isize::MAX);
            i -= 1;
        }
        if matches!(self.items[i].kind, ItemKind::Marker(_)) {
            // Only markers on screen: hold on to the bottom one.
            return Anchor {
                key: self.items[bottom.item].key,
                rows_below: -isize::try_from(bottom.below).unwrap_or(isize::MAX),
            };
        }
        Anchor {
            key: self.items[i].key,
            rows_below,
        }
    }

    /// The key of the item `n` rows above `pos`, or the first.
    fn key_above(&mut self, pos: Pos, n: usize) -> Key {
        let pos = self.up(pos, n);
        self.items[pos.item].key
    }

    fn key_below(&mut self, pos: Pos, n: usize) -> Key {
        let pos = self.down(pos, n);
        self.items[pos.item].key
    }
}

impl StatefulWidget for MessagePane<'_> {
    type State = PaneState;

    fn render(self, area: Rect, buf: &mut Buffer, state: &mut PaneState) {
        if area.is_empty() {
            // Nothing to measure against: the view and its moves wait for a real draw.
            return;
        }
        let height = usize::from(area.height);
        let (anchor, moves, target) = state.begin_draw(height);
        if self.items.is_empty() {
            state.settle(None, false, None);
            return;
        }
        let mut rows = Rows::new(self.items, self.look, usize::from(area.width));
        let last = Pos {
            item: rows.last(),
            below: 0,
        };
        let target_at = target.and_then(|key| {
            let i = self.items.partition_point(|i| i.key < key);
            (i < self.items.len() && self.items[i].key == key).then_some(i)
        });
        let mut bottom = match (target_at, anchor) {
            // The target's first row a third of the way down the view (its context above
            // it), or the whole target on screen when it is taller than that leaves.
            (Some(i), _) => {
                let item_rows = rows.count(i);
                let start = Pos {
                    item: i,
                    below: item_rows - 1,
                };
                let under = height.saturating_sub(height / 3).max(item_rows);
                rows.down(start, under.saturating_sub(1))
            }
            (None, Some(anchor)) => {
                let pos = rows.resolve(anchor);
                rows.moved(pos, moves)
            }
            (None, None) => rows.moved(last, moves),
        };
        // The view never shows blank rows above the first row while there is more below.
        let above = rows.rows_to(bottom, height);
        if above < height {
            bottom = rows.down(bottom, height - above);
        }
        let following = bottom == last && self.look.live_end;
        let top = rows.up(bottom, height - 1);
        // Draw from the top row: a list shorter than the pane starts at its top.
        let mut y = area.y;
        let mut pos = top;
        loop {
            let row = rows.count(pos.item) - 1 - pos.below;
            let lines = rows.lines(pos.item);
            if let Some(line) = lines.get(row) {
                buf.set_line(area.x, y, line, area.width);
                links::mark_row(buf, area.x, y, area.width, lines, row);
            }
            y += 1;
            if pos == bottom || y >= area.bottom() {
                break;
            }
            pos = rows.down(pos, 1);
        }
        let near = NEAR_SCREENS * height;
        let newest_seq = self.items[top.item..=bottom.item]
            .iter()
            .filter_map(|i| i.kind.seq())
            .max();
        let seen = Seen {
            top: self.items[top.item].key,
            bottom: self.items[bottom.item].key,
            near_top: rows.key_above(top, near),
            near_bottom: rows.key_below(bottom, near),
            newest_seq,
            following,
        };
        let anchor = (!following).then(|| rows.anchor(top, bottom));
        // The bar says there is more below; at the end of the list, what is there (a
        // marker of what loads) says it, and the bar would hide it.
        let more_below = rows.rows_after(bottom, 1) > 0;
        state.settle(anchor, target_at.is_some(), Some(seen));
        if !following && more_below {
            let marker = unseen_bar(unseen_below(
                self.items,
                bottom.item,
                state.unseen(),
                self.look.nick,
            ));
            let y = area.bottom() - 1;
            let style = Style::new().fg(Color::Black).bg(Color::Yellow);
            buf.set_style(Rect::new(area.x, y, area.width, 1), style);
            for x in area.left()..area.right() {
                buf[(x, y)].set_symbol(" ");
            }
            buf.set_stringn(area.x, y, marker, usize::from(area.width), style);
        }
    }
}

/// What arrived while the view did not follow and is still below it: of the `unseen`
/// newest items, those after item `bottom` that are messages; how many name `nick`; how
/// many are private. Paging down through them counts them down.
fn unseen_below(items: &[Item<'_>], bottom: usize, unseen: usize, nick: &str) -> Unseen {
    let mut below = Unseen::default();
    let mut news = 0;
    for item in items.iter().skip(bottom + 1).rev() {
        if news == unseen {
            break;
        }
        let (mention, private) = match item.kind {
            ItemKind::Message(m) => match &m.event {
                shared::RoomEvent::Said { from, text, .. } => (
                    from != nick && crate::app::room::mentions(text, nick),
                    false,
                ),
                // Counted as it arrived; not a message to read.
                _ => {
                    news += 1;
                    continue;
                }
            },
            ItemKind::Local(entry) => match &entry.kind {
                EntryKind::Chat { mention, .. } => (*mention, false),
                EntryKind::Private { own, .. } => (false, !own),
                _ => continue,
            },
            ItemKind::Marker(_) => continue,
        };
        news += 1;
        below.messages += 1;
        below.mentions += usize::from(mention);
        below.private += usize::from(private);
    }
    below
}

/// New messages below the view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Unseen {
    messages: usize,
    mentions: usize,
    private: usize,
}

/// The bar at the bottom of a pane scrolled up.
fn unseen_bar(unseen: Unseen) -> String {
    let Unseen {
        messages,
        mentions,
        private,
    } = unseen;
    let mut text = match messages {
        0 => return " ↓ more below (PageDown) ".to_owned(),
        1 => "1 new message".to_owned(),
        n => format!("{n} new messages"),
    };
    if mentions > 0 {
        text.push_str(&format!(", {mentions} naming you"));
    }
    if private > 0 {
        text.push_str(&format!(", {private} private"));
    }
    format!(" ↓ {text} (PageDown) ")
}

#[cfg(test)]
mod tests;
