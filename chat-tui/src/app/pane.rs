//! What the message pane shows and where it is scrolled: [`Item`]s in the order of their
//! [`Key`]s, and [`PaneState`], the view over them.
//!
//! The pane's list is the room's history as the timeline holds it (messages ordered by
//! sequence number, with markers where something is loading, missing or begins) with the
//! app's own lines (help, errors, private messages) slotted in after the newest message
//! that was known when they were written.
//!
//! The view is anchored to an item, not counted from the bottom: loading older pages above
//! it, new messages below it, or pages dropped far from it never move what is on screen.
//! The app moves the view by rows and pages without measuring anything; the pane, which
//! alone knows how items wrap, carries the moves out when it draws
//! ([`crate::ui::messages::MessagePane`]) and reports what it showed ([`Seen`]), which
//! the app reads to fetch what the view is about to need.

use shared::Stamped;

use super::scrollback::Entry;

/// Where an item sits in the pane: items are drawn in the order of their keys.
///
/// A room message is at its sequence number (`sub` 1); a marker just before the first
/// sequence number it stands for (`sub` 0); a line of the app's own just after the newest
/// message the app knew when it was written (`sub` 2 and up, counting the lines). So an
/// item can be found again whatever was loaded or dropped around it, and an item that went
/// away is replaced by the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Key {
    pub seq: u64,
    pub sub: u64,
}

impl Key {
    /// Before everything: the "beginning" marker.
    pub const FIRST: Key = Key { seq: 0, sub: 0 };
    /// After everything: what loads at the bottom.
    pub const LAST: Key = Key {
        seq: u64::MAX,
        sub: u64::MAX,
    };

    /// The room message with sequence number `seq`.
    pub fn message(seq: u64) -> Key {
        Key { seq, sub: 1 }
    }

    /// A marker of the messages from sequence number `seq` on.
    pub fn marker(seq: u64) -> Key {
        Key { seq, sub: 0 }
    }

    /// The `n`th line of the app's own (from 1) written after the message `seq`.
    pub fn local(seq: u64, n: u64) -> Key {
        Key {
            seq,
            sub: n.saturating_add(1),
        }
    }
}

/// One thing in the message pane's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    pub key: Key,
    pub kind: ItemKind<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind<'a> {
    /// A room message, from history or live: not yet sanitised.
    Message(&'a Stamped),
    /// A line of the app's own (sanitised when it was made).
    Local(&'a Entry),
    /// Where history is loading, missing or begins.
    Marker(Marker),
}

impl ItemKind<'_> {
    /// The server time of the item, when it has one (markers have none).
    pub fn time_ms(&self) -> Option<u64> {
        match self {
            ItemKind::Message(m) => Some(m.time_ms),
            ItemKind::Local(e) => Some(e.time_ms),
            ItemKind::Marker(_) => None,
        }
    }

    /// The sequence number of a room message.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ItemKind::Message(m) => Some(m.seq),
            _ => None,
        }
    }
}

/// A line that stands for history rather than being part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// Nothing is older: the room's history begins here.
    Beginning,
    /// Messages here are not loaded; they are when the view comes near. `count` when
    /// the server said how many; `loading` while they are on their way.
    NotLoaded { count: Option<u64>, loading: bool },
    /// The server failed to store the messages `from` to `to`: history is incomplete here
    /// for good.
    Lost { from: u64, to: u64 },
}

/// Where the app asks the view to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    /// Up by this many rows (towards older items).
    Up(usize),
    /// Down by this many rows.
    Down(usize),
    /// Up by the pane's height, less two rows: one row of what was on screen stays, above
    /// the bar that says there is more below.
    PageUp,
    PageDown,
    /// Back to the newest item, following new ones again.
    Bottom,
}

/// The view's bottom row, held by an item: `rows_below` rows below the item's last row
/// (negative: that many rows of the item hang below the view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub key: Key,
    pub rows_below: isize,
}

/// What the last draw showed, for the app to fetch what the view is about to need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The first and last items (partly) on screen.
    pub top: Key,
    pub bottom: Key,
    /// The items two screens above the top and below the bottom (or the list's ends):
    /// what lies between is what the view will soon need.
    pub near_top: Key,
    pub near_bottom: Key,
    /// The highest sequence number of a room message on screen.
    pub newest_seq: Option<u64>,
    /// Whether the view follows the newest item.
    pub following: bool,
}

/// The message pane's view: which item holds its bottom row, the moves asked for since
/// the last draw, and what arrived meanwhile.
///
/// Moving it never needs the pane's geometry; the pane carries the moves out when it
/// draws ([`PaneState::begin_draw`], [`PaneState::settle`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneState {
    /// `None`: the view follows the newest item.
    anchor: Option<Anchor>,
    /// Rows to move up (negative: down) at the next draw.
    pending: isize,
    /// An item to bring to the middle of the view once it is in the list.
    target: Option<Key>,
    /// Room messages that arrived while the view did not follow, for the bar; 0 again at
    /// the bottom.
    unseen: usize,
    /// Height of the pane when it was last drawn: what a page is. 0 before the first draw.
    rows: usize,
    /// What the last draw showed.
    seen: Option<Seen>,
}

impl PaneState {
    /// Whether the view follows the newest item (and no move is waiting).
    pub fn following(&self) -> bool {
        self.anchor.is_none() && self.pending <= 0 && self.target.is_none()
    }

    /// Room messages that arrived while the view did not follow.
    pub fn unseen(&self) -> usize {
        self.unseen
    }

    /// What the last draw showed; `None` before the first.
    pub fn seen(&self) -> Option<&Seen> {
        self.seen.as_ref()
    }

    /// Height of the pane at the last draw.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The item the view waits to show, if any.
    pub fn target(&self) -> Option<Key> {
        self.target
    }

    pub fn scroll(&mut self, scroll: Scroll) {
        let page = isize::try_from(self.page()).unwrap_or(isize::MAX);
        let rows = |n: usize| isize::try_from(n).unwrap_or(isize::MAX);
        match scroll {
            Scroll::Up(n) => self.pending = self.pending.saturating_add(rows(n)),
            Scroll::Down(n) => self.pending = self.pending.saturating_sub(rows(n)),
            Scroll::PageUp => self.pending = self.pending.saturating_add(page),
            Scroll::PageDown => self.pending = self.pending.saturating_sub(page),
            Scroll::Bottom => self.to_bottom(),
        }
        // Down while following stays at the bottom.
        if self.anchor.is_none() && self.target.is_none() && self.pending < 0 {
            self.pending = 0;
        }
    }

    /// Back to following the newest item.
    pub fn to_bottom(&mut self) {
        self.anchor = None;
        self.pending = 0;
        self.target = None;
        self.unseen = 0;
    }

    /// Brings the item `key` to the middle of the view as soon as it is in the list.
    pub fn show(&mut self, key: Key) {
        self.target = Some(key);
        self.pending = 0;
    }

    /// Gives up waiting for the target (it could not be loaded).
    pub fn forget_target(&mut self) {
        self.target = None;
    }

    /// The pane's height less the bar's row and one row of overlap; one row before the
    /// pane was ever drawn.
    fn page(&self) -> usize {
        self.rows.saturating_sub(2).max(1)
    }

    /// A room message arrived at the bottom.
    pub fn arrived(&mut self) {
        if !self.following() {
            self.unseen += 1;
        }
    }

    /// The pane's side, when it starts drawing `rows` high: where the view was, the rows
    /// to move it by (positive: up), and the item to bring to the middle.
    pub fn begin_draw(&mut self, rows: usize) -> (Option<Anchor>, isize, Option<Key>) {
        self.rows = rows;
        (self.anchor, std::mem::take(&mut self.pending), self.target)
    }

    /// The pane's side, once it has drawn: where the view now is (`None`: at the newest,
    /// following), whether the target was shown, and what was on screen.
    pub fn settle(&mut self, anchor: Option<Anchor>, target_shown: bool, seen: Option<Seen>) {
        self.anchor = anchor;
        if target_shown {
            self.target = None;
        }
        if self.anchor.is_none() {
            self.unseen = 0;
        }
        self.seen = seen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_messages_then_the_lines_written_after_them() {
        let local = Key::local(5, 1);
        assert!(Key::FIRST < Key::marker(1) && Key::marker(1) < Key::message(1));
        assert!(Key::message(5) < local && local < Key::local(5, 2));
        assert!(Key::local(5, u64::MAX) < Key::marker(6));
        assert!(Key::message(u64::MAX - 1) < Key::LAST);
    }

    #[test]
    fn moves_wait_for_the_draw_and_a_page_is_the_height_less_two_rows() {
        let mut state = PaneState::default();
        state.scroll(Scroll::PageUp);
        assert_eq!(
            state.begin_draw(22),
            (None, 1, None),
            "never drawn: one row"
        );
        state.scroll(Scroll::PageUp);
        state.scroll(Scroll::Down(5));
        assert_eq!(state.begin_draw(22).1, 20 - 5);
        assert!(state.following(), "nothing waits once drawn");
    }

    #[test]
    fn down_while_following_is_nothing_and_the_bottom_forgets_the_unseen() {
        let mut state = PaneState::default();
        state.scroll(Scroll::PageDown);
        assert!(state.following());
        state.scroll(Scroll::Up(3));
        state.arrived();
        state.arrived();
        assert_eq!(state.unseen(), 2);
        state.scroll(Scroll::Bottom);
        assert_eq!((state.unseen(), state.following()), (0, true));
        state.arrived();
        assert_eq!(state.unseen(), 0);
    }

    #[test]
    fn a_target_waits_until_shown() {
        let mut state = PaneState::default();
        state.show(Key::message(7));
        assert!(!state.following());
        assert_eq!(state.begin_draw(10).2, Some(Key::message(7)));
        state.settle(None, false, None);
        assert_eq!(state.target(), Some(Key::message(7)));
        state.settle(None, true, None);
        assert_eq!(state.target(), None);
    }
}
