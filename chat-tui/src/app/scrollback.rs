//! The message pane's content and view: the entries (bounded, each cut to a bounded size)
//! and [`PaneState`], how far the pane is scrolled and what arrived meanwhile.
//!
//! The app moves the view by rows, by pages or to the bottom ([`Scroll`]) and never
//! measures anything: how many rows an entry wraps to is known only where the pane is
//! drawn, so the pane ([`crate::ui::messages::MessagePane`], a ratatui `StatefulWidget`
//! over [`PaneState`]) clamps the view when it draws.

use std::collections::VecDeque;

/// Entries kept in the message pane; older ones are dropped.
pub const MAX_SCROLLBACK: usize = 5000;

/// Most bytes of an entry's text kept in the scrollback: the protocol's longest text with
/// room for every character to have been replaced by a wider visible symbol. A peer that
/// sends more (a hostile server is not held to the protocol's limits) is cut here, so the
/// scrollback's memory stays bounded.
pub const MAX_ENTRY_TEXT_BYTES: usize = 4 * shared::limits::MAX_TEXT_BYTES;

/// Most bytes of a nick in an entry: the longest nick with every character shown as a
/// `<U+XXXXX>` code point.
pub const MAX_ENTRY_NAME_BYTES: usize = 10 * shared::limits::MAX_NICK_CHARS;

/// One entry of the message pane. All text is already sanitised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub time_ms: u64,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Chat {
        from: String,
        text: String,
        action: bool,
        own: bool,
        mention: bool,
    },
    Private {
        from: String,
        to: String,
        text: String,
        own: bool,
    },
    /// Something that happened in the room or on the server.
    Notice(String),
    /// Local information (help, queued messages).
    Info(String),
    Error(String),
}

impl EntryKind {
    /// Cuts every string of the entry to its bound; see [`MAX_ENTRY_TEXT_BYTES`].
    fn clip(&mut self) {
        match self {
            EntryKind::Chat { from, text, .. } => {
                clip(from, MAX_ENTRY_NAME_BYTES);
                clip(text, MAX_ENTRY_TEXT_BYTES);
            }
            EntryKind::Private { from, to, text, .. } => {
                clip(from, MAX_ENTRY_NAME_BYTES);
                clip(to, MAX_ENTRY_NAME_BYTES);
                clip(text, MAX_ENTRY_TEXT_BYTES);
            }
            EntryKind::Notice(text) | EntryKind::Info(text) | EntryKind::Error(text) => {
                clip(text, MAX_ENTRY_TEXT_BYTES);
            }
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
fn clip(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

/// Where the app asks the view to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    /// Up by this many rows (towards older entries).
    Up(usize),
    /// Down by this many rows.
    Down(usize),
    /// Up by the pane's height, less one row of overlap.
    PageUp,
    PageDown,
    /// Back to the newest entry, following new ones again.
    Bottom,
}

/// The message pane's state: how far it is scrolled up, in wrapped rows from the bottom.
///
/// Moving it never needs the pane's geometry: it may point past the oldest row until the
/// pane is next drawn, which clamps it ([`PaneState::settle`]). While it is scrolled up,
/// new entries do not move the view: the pane adds their rows to the offset when it draws
/// them, and counts them for the "new messages" bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneState {
    /// Rows the view is scrolled up from the bottom; 0 follows new text.
    offset: usize,
    /// The newest entries that arrived while scrolled up and that the pane has not yet
    /// measured: the next draw moves the offset up by their rows.
    arrived: usize,
    /// Entries that arrived while scrolled up, for the bar; 0 again at the bottom.
    unseen: usize,
    /// Height of the pane when it was last drawn: what a page is. 0 before the first draw.
    rows: usize,
}

impl PaneState {
    /// Rows the view is scrolled up from the bottom, as of the last draw and the moves
    /// since.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Entries that arrived while scrolled up.
    pub fn unseen(&self) -> usize {
        self.unseen
    }

    pub fn scroll(&mut self, scroll: Scroll) {
        match scroll {
            Scroll::Up(rows) => self.offset = self.offset.saturating_add(rows),
            Scroll::Down(rows) => self.down(rows),
            Scroll::PageUp => self.offset = self.offset.saturating_add(self.page()),
            Scroll::PageDown => self.down(self.page()),
            Scroll::Bottom => self.down(usize::MAX),
        }
    }

    /// The pane's height less one row of overlap; one row before the pane was ever drawn.
    fn page(&self) -> usize {
        self.rows.saturating_sub(1).max(1)
    }

    fn down(&mut self, rows: usize) {
        self.offset = self.offset.saturating_sub(rows);
        if self.offset == 0 {
            self.at_bottom();
        }
    }

    fn at_bottom(&mut self) {
        self.arrived = 0;
        self.unseen = 0;
    }

    /// An entry was added at the bottom.
    fn entry_added(&mut self) {
        if self.offset > 0 {
            self.arrived += 1;
            self.unseen += 1;
        }
    }

    /// The pane's side, when it starts drawing: it is `rows` high. Returns how many of the
    /// newest entries arrived while scrolled up: the pane measures them and passes their
    /// rows to [`PaneState::settle`].
    pub fn begin_draw(&mut self, rows: usize) -> usize {
        self.rows = rows;
        std::mem::take(&mut self.arrived)
    }

    /// The pane's side, once it has measured: `arrived_rows` rows arrived below the view,
    /// which moves up by as much to stay put, and the view can be at most `max` rows up
    /// (the oldest row at the top of the pane).
    pub fn settle(&mut self, arrived_rows: usize, max: usize) {
        self.offset = self.offset.saturating_add(arrived_rows).min(max);
        if self.offset == 0 {
            self.at_bottom();
        }
    }
}

/// The entries of the message pane, oldest first, and the pane's view of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrollback {
    entries: VecDeque<Entry>,
    state: PaneState,
}

impl Scrollback {
    pub fn entries(&self) -> &VecDeque<Entry> {
        &self.entries
    }

    pub fn state(&self) -> &PaneState {
        &self.state
    }

    /// What the pane draws: the entries, and its state to clamp.
    pub fn pane(&mut self) -> (&VecDeque<Entry>, &mut PaneState) {
        (&self.entries, &mut self.state)
    }

    /// Adds an entry at the bottom, cut to its bounds, dropping the oldest beyond
    /// [`MAX_SCROLLBACK`].
    pub fn push(&mut self, mut entry: Entry) {
        entry.kind.clip();
        self.state.entry_added();
        if self.entries.len() == MAX_SCROLLBACK {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub fn scroll(&mut self, scroll: Scroll) {
        self.state.scroll(scroll);
    }

    /// Empties the pane (`/clear`).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.state.scroll(Scroll::Bottom);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(text: &str) -> Entry {
        Entry {
            time_ms: 0,
            kind: EntryKind::Notice(text.into()),
        }
    }

    #[test]
    fn scrollback_is_bounded() {
        let mut scrollback = Scrollback::default();
        for i in 0..MAX_SCROLLBACK + 10 {
            scrollback.push(notice(&i.to_string()));
        }
        assert_eq!(scrollback.entries().len(), MAX_SCROLLBACK);
        assert_eq!(scrollback.entries()[0], notice("10"));
    }

    #[test]
    fn only_entries_that_arrive_while_scrolled_up_are_unseen() {
        let mut scrollback = Scrollback::default();
        scrollback.push(notice("at the bottom"));
        scrollback.scroll(Scroll::Up(3));
        scrollback.push(notice("one"));
        scrollback.push(notice("two"));
        assert_eq!(scrollback.state().unseen(), 2);
        let (_, state) = scrollback.pane();
        assert_eq!(state.begin_draw(10), 2, "the pane measures the two");
        assert_eq!(state.begin_draw(10), 0, "and only once");
        scrollback.scroll(Scroll::Bottom);
        assert_eq!(scrollback.state().unseen(), 0);
        scrollback.push(notice("seen"));
        assert_eq!(scrollback.state().unseen(), 0);
    }

    #[test]
    fn a_page_is_the_height_drawn_less_one_row() {
        let mut state = PaneState::default();
        state.scroll(Scroll::PageUp);
        assert_eq!(state.offset(), 1, "never drawn: one row");
        state.begin_draw(22);
        state.scroll(Scroll::PageUp);
        assert_eq!(state.offset(), 22);
        state.scroll(Scroll::PageDown);
        state.scroll(Scroll::Down(5));
        assert_eq!(state.offset(), 0);
    }

    #[test]
    fn drawing_clamps_and_the_bottom_forgets_the_unseen() {
        let mut scrollback = Scrollback::default();
        scrollback.push(notice("a"));
        scrollback.scroll(Scroll::Up(100));
        scrollback.push(notice("b"));
        let (_, state) = scrollback.pane();
        let arrived = state.begin_draw(5);
        state.settle(arrived, 7);
        assert_eq!((state.offset(), state.unseen()), (7, 1));
        state.settle(0, 0);
        assert_eq!((state.offset(), state.unseen()), (0, 0));
    }

    #[test]
    fn clear_goes_back_to_the_bottom() {
        let mut scrollback = Scrollback::default();
        scrollback.push(notice("a"));
        scrollback.scroll(Scroll::Up(4));
        scrollback.clear();
        assert!(scrollback.entries().is_empty());
        assert_eq!(scrollback.state(), &PaneState::default());
    }
}
