//! What could not be stored: ranges of sequence numbers per room.
//!
//! A commit that fails (a full disk, an unwritable file) loses its batch. Its messages
//! reached the members live; history only learns that it is incomplete there. The ranges
//! stay in memory ([`Pending`]) until a commit succeeds again, which writes them to the
//! `gaps` table first; answers report the ranges of both that overlap their span.

use std::collections::HashMap;
use std::sync::Mutex;

use shared::SeqRange;

/// Most lost ranges in one answer: a day of a disk failing now and then is a few; a
/// thousand would still fit a frame (18 bytes each) but tell nothing more.
pub(super) const MAX_RANGES: usize = 256;

/// Lost ranges not yet in the `gaps` table, by room key. Only the writer adds and clears;
/// readers look.
#[derive(Debug, Default)]
pub(super) struct Pending {
    rooms: Mutex<HashMap<String, Room>>,
}

/// One room's pending ranges, and its name for the `rooms` table.
#[derive(Debug, Clone)]
pub(super) struct Room {
    pub(super) name: String,
    pub(super) ranges: Vec<SeqRange>,
}

impl Pending {
    /// Records that the message `seq` of the room `key` was not stored. Consecutive
    /// numbers extend the room's last range.
    pub(super) fn add(&self, key: &str, name: &str, seq: u64) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let room = rooms.entry(key.to_owned()).or_insert_with(|| Room {
            name: name.to_owned(),
            ranges: Vec::new(),
        });
        match room.ranges.last_mut() {
            Some(last) if last.to + 1 == seq => last.to = seq,
            Some(last) if (last.from..=last.to).contains(&seq) => {}
            _ => room.ranges.push(SeqRange { from: seq, to: seq }),
        }
    }

    /// Everything pending, to write.
    pub(super) fn snapshot(&self) -> Vec<(String, Room)> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.iter().map(|(k, r)| (k.clone(), r.clone())).collect()
    }

    /// Whether nothing is pending.
    pub(super) fn is_empty(&self) -> bool {
        self.rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Forgets everything: it has been committed to `gaps`. Only the writer adds, so
    /// nothing can have been added since its snapshot.
    pub(super) fn clear(&self) {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The pending ranges of room `key` that overlap `from..=to`.
    pub(super) fn overlapping(&self, key: &str, from: u64, to: u64) -> Vec<SeqRange> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.get(key).map_or_else(Vec::new, |room| {
            room.ranges
                .iter()
                .filter(|r| r.to >= from && r.from <= to)
                .copied()
                .collect()
        })
    }
}

/// `ranges` sorted, with overlapping and adjacent ranges merged, at most [`MAX_RANGES`].
pub(super) fn merge(mut ranges: Vec<SeqRange>) -> Vec<SeqRange> {
    ranges.sort_by_key(|r| (r.from, r.to));
    let mut merged: Vec<SeqRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.from <= last.to.saturating_add(1) => last.to = last.to.max(r.to),
            _ => merged.push(r),
        }
    }
    merged.truncate(MAX_RANGES);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(from: u64, to: u64) -> SeqRange {
        SeqRange { from, to }
    }

    #[test]
    fn consecutive_losses_make_one_range_per_stretch() {
        let pending = Pending::default();
        for seq in [5, 6, 7, 9, 10] {
            pending.add("lobby", "Lobby", seq);
        }
        pending.add("other", "other", 1);
        assert_eq!(
            pending.overlapping("lobby", 0, u64::MAX),
            [r(5, 7), r(9, 10)]
        );
        assert_eq!(pending.overlapping("lobby", 8, 9), [r(9, 10)]);
        assert_eq!(pending.overlapping("lobby", 11, 20), []);
        assert_eq!(pending.overlapping("nowhere", 0, 9), []);
        assert_eq!(pending.snapshot().len(), 2);
        pending.clear();
        assert!(pending.is_empty());
    }

    #[test]
    fn merging_joins_overlaps_and_neighbours() {
        let merged = merge(vec![r(9, 12), r(1, 3), r(4, 4), r(11, 20), r(30, 31)]);
        assert_eq!(merged, [r(1, 4), r(9, 20), r(30, 31)]);
    }
}
