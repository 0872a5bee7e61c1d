//! Where message ids and the rooms' sequence numbers come from.
//!
//! Every room message gets a server-wide id (strictly increasing across all rooms) and
//! its room's sequence number (one more than the room's previous message), so that a
//! client sees at once that it missed something. Both are handed out here and nowhere
//! else. They go on after a restart where the history says the last run stopped
//! ([`crate::history::Resume`]), and every id handed out is told to the history
//! ([`History::ids_used`]), which keeps a floor above them in its file: so neither ever
//! repeats, not even after a crash. Without history they start over with the server.

use crate::history::History;

/// Hands out message ids and sequence numbers. The registry owns it, under its lock.
#[derive(Debug)]
pub(crate) struct Sequences {
    /// The last message id handed out; ids start at 1.
    last_id: u64,
    /// Told of every id handed out.
    history: History,
}

impl Default for Sequences {
    /// Ids from 1, kept by no history.
    fn default() -> Self {
        Self::after(0, History::off())
    }
}

/// A room's counter, kept with the room while it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoomSeq {
    /// The room's latest sequence number.
    last: u64,
}

impl RoomSeq {
    /// The room's latest sequence number: what a client that enters is told, so that the
    /// next message it gets has the next one.
    pub(crate) fn last(self) -> u64 {
        self.last
    }
}

impl Sequences {
    /// Ids that go on after `last_id`, each told to `history`.
    pub(crate) fn after(last_id: u64, history: History) -> Self {
        Self { last_id, history }
    }

    /// A new message id, for a message outside any room (a private one).
    pub(crate) fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.history.ids_used(self.last_id);
        self.last_id
    }

    /// The counter of a room that comes into existence (rooms exist while they have
    /// members).
    ///
    /// It starts at the last id handed out. Every message of the room took an id as well
    /// as a sequence number, so no sequence number the room had before it last emptied can
    /// be above that: a room that comes back goes on with higher numbers and never
    /// repeats one, without this remembering every room that ever existed.
    pub(crate) fn open_room(&mut self, _key: &str) -> RoomSeq {
        RoomSeq { last: self.last_id }
    }

    /// The id and the sequence number of the next message of `room`.
    pub(crate) fn next_in(&mut self, room: &mut RoomSeq) -> (u64, u64) {
        room.last += 1;
        (self.next_id(), room.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_are_gapless_per_room_and_ids_increase_across_rooms() {
        let mut seqs = Sequences::default();
        let mut a = seqs.open_room("a");
        let mut b = seqs.open_room("b");
        let (id1, a1) = seqs.next_in(&mut a);
        let (id2, b1) = seqs.next_in(&mut b);
        let id3 = seqs.next_id();
        let (id4, a2) = seqs.next_in(&mut a);
        assert!(id1 < id2 && id2 < id3 && id3 < id4);
        assert_eq!(a2, a1 + 1);
        assert_eq!(a.last(), a2);
        assert_eq!(b.last(), b1);
    }

    #[test]
    fn ids_and_rooms_go_on_after_a_restart() {
        let mut seqs = Sequences::after(1000, History::off());
        let mut room = seqs.open_room("lobby");
        assert_eq!(room.last(), 1000, "a room opens at the last id");
        assert_eq!(seqs.next_in(&mut room), (1001, 1001));
        assert_eq!(seqs.next_id(), 1002);
    }

    #[test]
    fn a_room_that_comes_back_never_repeats_a_number() {
        let mut seqs = Sequences::default();
        let mut seen = Vec::new();
        for round in 0..5 {
            let mut room = seqs.open_room("lobby");
            // Other rooms' messages meanwhile take ids too.
            let mut other = seqs.open_room("other");
            for _ in 0..round {
                seqs.next_in(&mut other);
            }
            for _ in 0..3 {
                seen.push(seqs.next_in(&mut room).1);
            }
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    }
}
