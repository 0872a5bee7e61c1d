//! Retention: old messages deleted by the writer between batches, at most
//! [`DELETE_BATCH`] rows per transaction, so that a large deletion never holds the file
//! for long and chat is never held up by it.
//!
//! By age: messages older than `max_age` go, oldest first. Ids grow with time, so the
//! oldest are the lowest ids and a step looks at the first rows only (a clock set back
//! may keep a few messages a little longer; none is deleted early).
//!
//! By count: a room with more than `max_per_room` messages loses its oldest. Each room's
//! count is taken once per run (an index range count) and then kept up to date in
//! memory, so a step costs nothing for rooms under their limit.
//!
//! Search rows of deleted messages are deleted too (`fts` takes deletes by rowid), and
//! lost ranges older than a room's oldest message are forgotten.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::HistorySettings;
use super::rows::{TALK, int};
use crate::common::now_ms;

/// Most rows deleted in one transaction: a few milliseconds.
pub(super) const DELETE_BATCH: usize = 500;

/// How often retention looks for work when the last step found little.
pub(super) const RETENTION_EVERY: Duration = Duration::from_secs(5);

/// What retention keeps, and what it knows of the rooms' sizes.
#[derive(Debug)]
pub(super) struct Retention {
    max_age: Option<Duration>,
    max_per_room: Option<u64>,
    /// Rows per room, for rooms counted.
    counts: HashMap<i64, u64>,
    /// Rooms not counted yet.
    uncounted: HashSet<i64>,
    due: Instant,
}

impl Retention {
    pub(super) fn new(settings: &HistorySettings, rooms: impl Iterator<Item = i64>) -> Self {
        Self {
            max_age: settings.max_age,
            max_per_room: settings.max_per_room,
            counts: HashMap::new(),
            uncounted: rooms.collect(),
            due: Instant::now(),
        }
    }

    /// When the next step is due; `None` when nothing is ever deleted.
    pub(super) fn due(&self) -> Option<Instant> {
        (self.max_age.is_some() || self.max_per_room.is_some()).then_some(self.due)
    }

    /// `n` messages of `room` were stored.
    pub(super) fn inserted(&mut self, room: i64, n: u64) {
        match self.counts.get_mut(&room) {
            Some(count) => *count += n,
            None => {
                self.uncounted.insert(room);
            }
        }
    }

    /// One step: deletes at most [`DELETE_BATCH`] rows in one transaction. Returns how
    /// many; the next step is due at once when it found a full batch.
    pub(super) fn step(&mut self, conn: &Connection, indexed_to: u64) -> rusqlite::Result<usize> {
        let tx = conn.unchecked_transaction()?;
        let mut deleted: Vec<(u64, i64, bool)> = Vec::new();
        // Counted before anything is deleted: the deletions are subtracted below.
        if self.max_per_room.is_some() {
            self.count_rooms(&tx)?;
        }
        if let Some(max_age) = self.max_age {
            let cut =
                now_ms().saturating_sub(u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX));
            let ids: Vec<u64> = {
                let mut stmt =
                    tx.prepare_cached("SELECT id, time_ms FROM messages ORDER BY id LIMIT ?1")?;
                let rows = stmt.query_map([DELETE_BATCH as i64], |r| {
                    Ok((r.get::<_, u64>(0)?, r.get::<_, u64>(1)?))
                })?;
                let mut ids = Vec::new();
                for row in rows {
                    let (id, time_ms) = row?;
                    if time_ms >= cut {
                        break;
                    }
                    ids.push(id);
                }
                ids
            };
            if let (Some(&first), Some(&last)) = (ids.first(), ids.last()) {
                delete(
                    &tx,
                    "id BETWEEN ?1 AND ?2",
                    params![int(first), int(last)],
                    &mut deleted,
                )?;
            }
        }
        if let Some(max) = self.max_per_room {
            let over: Vec<(i64, u64)> = self
                .counts
                .iter()
                .filter(|&(_, &n)| n > max)
                .map(|(&room, &n)| (room, n - max))
                .collect();
            for (room, excess) in over {
                let room_budget = DELETE_BATCH.saturating_sub(deleted.len());
                if room_budget == 0 {
                    break;
                }
                let n = excess.min(room_budget as u64);
                // The n oldest of the room.
                let last: Option<u64> = tx
                    .prepare_cached(
                        "SELECT seq FROM messages WHERE room = ?1 ORDER BY seq LIMIT 1 OFFSET ?2",
                    )?
                    .query_row(params![room, int(n - 1)], |r| r.get(0))
                    .ok();
                if let Some(last) = last {
                    delete(
                        &tx,
                        "room = ?1 AND seq <= ?2",
                        params![room, int(last)],
                        &mut deleted,
                    )?;
                }
            }
        }
        let mut rooms = HashSet::new();
        for &(id, room, talk) in &deleted {
            rooms.insert(room);
            if talk && id <= indexed_to {
                tx.prepare_cached("DELETE FROM fts WHERE rowid = ?1")?
                    .execute([int(id)])?;
            }
        }
        for &room in &rooms {
            tx.prepare_cached(
                "DELETE FROM gaps WHERE room = ?1
                 AND to_seq < coalesce((SELECT min(seq) FROM messages WHERE room = ?1), 0)",
            )?
            .execute([room])?;
        }
        tx.commit()?;
        for &(_, room, _) in &deleted {
            if let Some(count) = self.counts.get_mut(&room) {
                *count = count.saturating_sub(1);
            }
        }
        self.due = if deleted.len() >= DELETE_BATCH {
            Instant::now()
        } else {
            Instant::now() + RETENTION_EVERY
        };
        Ok(deleted.len())
    }

    /// Counts the rooms not counted yet.
    fn count_rooms(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        for room in std::mem::take(&mut self.uncounted) {
            let n: u64 = conn
                .prepare_cached("SELECT count(*) FROM messages WHERE room = ?1")?
                .query_row([room], |r| r.get(0))?;
            self.counts.insert(room, n);
        }
        Ok(())
    }
}

/// Deletes the messages matching `filter`, adding their id, room and whether they are
/// talk to `deleted`.
fn delete(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
    deleted: &mut Vec<(u64, i64, bool)>,
) -> rusqlite::Result<()> {
    let sql = format!("DELETE FROM messages WHERE {filter} RETURNING id, room, {TALK}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    for row in rows {
        deleted.push(row?);
    }
    Ok(())
}
