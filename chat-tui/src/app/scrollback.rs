//! The app's own lines in the message pane (help, errors, notices, private messages):
//! bounded, each cut to a bounded size, each placed after the room message that was the
//! newest when it was written; and the pane's view ([`PaneState`]).

use std::collections::VecDeque;

use chat_client::clip;

use super::pane::{Key, PaneState, Scroll};

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
    /// A line of the user's on its way: shown until the server answers its request `id`.
    Sending {
        id: u32,
        from: String,
        text: String,
        action: bool,
        state: SendState,
    },
    /// Something that happened in the room or on the server.
    Notice(String),
    /// Local information (help, queued messages).
    Info(String),
    Error(String),
}

impl EntryKind {
    /// Cuts every string of the entry to its bound; see [`MAX_ENTRY_TEXT_BYTES`].
    pub(crate) fn clip(&mut self) {
        match self {
            EntryKind::Chat { from, text, .. } | EntryKind::Sending { from, text, .. } => {
                clip::bytes(from, MAX_ENTRY_NAME_BYTES);
                clip::bytes(text, MAX_ENTRY_TEXT_BYTES);
            }
            EntryKind::Private { from, to, text, .. } => {
                clip::bytes(from, MAX_ENTRY_NAME_BYTES);
                clip::bytes(to, MAX_ENTRY_NAME_BYTES);
                clip::bytes(text, MAX_ENTRY_TEXT_BYTES);
            }
            EntryKind::Notice(text) | EntryKind::Info(text) | EntryKind::Error(text) => {
                clip::bytes(text, MAX_ENTRY_TEXT_BYTES);
            }
        }
    }
}

/// Where a line of the user's stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendState {
    /// Sent; the server's answer has not come yet.
    Pending,
    /// The connection was lost before the answer, and whether the server had the line
    /// cannot be told; it was not sent again.
    Unconfirmed,
}

/// The app's own lines in the message pane, oldest first, each with its place among the
/// room's messages ([`Key`]), and the pane's view ([`PaneState`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scrollback {
    entries: VecDeque<(Key, Entry)>,
    /// Counts the lines, so that lines written after the same message keep their order.
    written: u64,
    /// Where `/clear` was typed: while the view follows the newest, nothing before this
    /// key shows.
    cleared: Key,
    state: PaneState,
    /// The request ids of the lines on their way among `entries` (a few at most): what
    /// finding a reply's buffer asks of every buffer, without reading all its lines.
    sending: Vec<u32>,
}

impl Scrollback {
    pub fn entries(&self) -> &VecDeque<(Key, Entry)> {
        &self.entries
    }

    pub fn state(&self) -> &PaneState {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut PaneState {
        &mut self.state
    }

    /// The lines to draw and the view to move, at once.
    pub fn split(&mut self) -> (&VecDeque<(Key, Entry)>, &mut PaneState) {
        (&self.entries, &mut self.state)
    }

    /// Items before this key are hidden: what `/clear` cleared off the screen, while the
    /// view follows the newest. Scrolled up, nothing is (the history above loads as ever).
    pub fn cleared(&self) -> Key {
        if self.state.following() {
            self.cleared
        } else {
            Key::FIRST
        }
    }

    /// Adds a line after the room message `after_seq` (the newest one known), cut to its
    /// bounds, dropping the oldest beyond [`MAX_SCROLLBACK`].
    pub fn push(&mut self, after_seq: u64, mut entry: Entry) {
        entry.kind.clip();
        self.written += 1;
        // Keys only grow within a room (`after_seq` is the newest known), so the lines
        // stay in order; a line never sorts before one already written.
        let seq = match self.entries.back() {
            Some((last, _)) => after_seq.max(last.seq),
            None => after_seq,
        };
        let key = Key::local(seq, self.written);
        if self.entries.len() == MAX_SCROLLBACK
            && let Some((_, gone)) = self.entries.pop_front()
            && let EntryKind::Sending { id, .. } = gone.kind
        {
            self.sending.retain(|&mine| mine != id);
        }
        if let EntryKind::Sending { id, .. } = entry.kind {
            self.sending.push(id);
        }
        self.entries.push_back((key, entry));
    }

    /// The server has the line sent with request `id`: its pending entry goes (the
    /// message itself is shown as the room's).
    pub fn remove_sending(&mut self, id: u32) {
        if !self.sending(id) {
            return;
        }
        self.sending.retain(|&mine| mine != id);
        self.entries
            .retain(|(_, e)| !matches!(e.kind, EntryKind::Sending { id: mine, .. } if mine == id));
    }

    /// Whether the line sent with request `id` is shown here, on its way.
    pub fn sending(&self, id: u32) -> bool {
        self.sending.contains(&id)
    }

    /// Whether the server had the line sent with request `id` cannot be told.
    pub fn unconfirmed(&mut self, id: u32) {
        if !self.sending(id) {
            return;
        }
        for (_, entry) in &mut self.entries {
            if let EntryKind::Sending {
                id: mine, state, ..
            } = &mut entry.kind
                && *mine == id
            {
                *state = SendState::Unconfirmed;
            }
        }
    }

    /// Adds `older` lines (oldest first) before every line there, as the first lines of
    /// a buffer without room messages (a private conversation): every line is numbered
    /// again, in order, and the oldest beyond [`MAX_SCROLLBACK`] are dropped.
    pub fn prepend(&mut self, older: Vec<Entry>) {
        if older.is_empty() {
            return;
        }
        let room = MAX_SCROLLBACK.saturating_sub(self.entries.len());
        let skip = older.len().saturating_sub(room);
        let before = older.into_iter().skip(skip).map(|mut entry| {
            entry.kind.clip();
            (Key::FIRST, entry)
        });
        let all: VecDeque<(Key, Entry)> = before.chain(self.entries.drain(..)).collect();
        self.written = 0;
        self.entries = all
            .into_iter()
            .map(|(key, entry)| {
                self.written += 1;
                (Key::local(key.seq, self.written), entry)
            })
            .collect();
        self.cleared = Key::FIRST;
    }

    pub fn scroll(&mut self, scroll: Scroll) {
        self.state.scroll(scroll);
    }

    /// Clears the screen (`/clear`): what is there, the room's messages up to the newest
    /// (`newest_seq`) and the lines written so far, is hidden while the view follows the
    /// newest; scrolling up shows it again, and the history above it.
    pub fn clear(&mut self, newest_seq: u64) {
        self.written += 1;
        self.cleared = Key::local(newest_seq, self.written);
        self.state.to_bottom();
    }

    /// A new room: none of the old one's lines belong to it.
    pub fn new_room(&mut self) {
        self.entries.clear();
        self.sending.clear();
        self.cleared = Key::FIRST;
        self.state.to_bottom();
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
            scrollback.push(0, notice(&i.to_string()));
        }
        assert_eq!(scrollback.entries().len(), MAX_SCROLLBACK);
        assert_eq!(scrollback.entries()[0].1, notice("10"));
    }

    #[test]
    fn a_line_on_its_way_is_known_until_answered_or_pushed_out() {
        let sending = |id| Entry {
            time_ms: 0,
            kind: EntryKind::Sending {
                id,
                from: "ann".into(),
                text: "hi".into(),
                action: false,
                state: SendState::Pending,
            },
        };
        let mut scrollback = Scrollback::default();
        scrollback.push(0, sending(1));
        scrollback.push(0, sending(2));
        assert!(scrollback.sending(1) && scrollback.sending(2));
        scrollback.remove_sending(2);
        assert!(!scrollback.sending(2));
        assert_eq!(scrollback.entries().len(), 1);
        for i in 0..MAX_SCROLLBACK {
            scrollback.push(0, notice(&i.to_string()));
        }
        assert!(!scrollback.sending(1));
        scrollback.push(0, sending(3));
        scrollback.new_room();
        assert!(!scrollback.sending(3));
    }

    #[test]
    fn lines_sit_after_the_newest_message_and_keep_their_order() {
        let mut scrollback = Scrollback::default();
        scrollback.push(7, notice("a"));
        scrollback.push(7, notice("b"));
        scrollback.push(9, notice("c"));
        let keys: Vec<Key> = scrollback.entries().iter().map(|(k, _)| *k).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert!(Key::message(7) < keys[0] && keys[1] < Key::marker(8));
        assert!(Key::message(9) < keys[2]);
        // A line after an older message than the last line's still comes after it.
        scrollback.push(3, notice("d"));
        assert!(scrollback.entries()[3].0 > keys[2]);
    }

    #[test]
    fn clear_hides_what_was_there_until_the_view_scrolls_up() {
        let mut scrollback = Scrollback::default();
        scrollback.push(4, notice("a"));
        scrollback.scroll(Scroll::Up(4));
        scrollback.clear(4);
        assert!(scrollback.state().following());
        assert_eq!(scrollback.entries().len(), 1, "kept");
        assert!(scrollback.cleared() > scrollback.entries()[0].0);
        assert!(scrollback.cleared() < Key::marker(5));
        scrollback.scroll(Scroll::Up(1));
        assert_eq!(scrollback.cleared(), Key::FIRST);
        scrollback.scroll(Scroll::Bottom);
        assert!(scrollback.cleared() > Key::message(4));
    }
}
