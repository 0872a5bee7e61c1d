//! Retention: old messages deleted by the writer between batches, at most
//! [`DELETE_BATCH`] rows per transaction, so that a large deletion never holds the file
//! for long and chat is never held up by it.
//!
//! By age: messages older than `max_age` go, oldest first. Ids grow with time, so the
//! oldest are the lowest ids and a step looks at the first rows only (a clock set back
//! may keep a few messages a little longer; none is deleted early).
//!
//! By count: `max_per_room` is the most talk (chats, actions, shared files) a room keeps,
//! what its users call its messages. Its joins, leaves and renames are counted apart and
//! kept up to the same number: they never push talk out, and they cannot pile up without
//! bound in a room where few talk. Each goes oldest first, through its own partial index.
//! A room's two counts are taken once per run, [`COUNT_CHUNK`] index entries per step
//! (never one long transaction, whatever the room's size), then kept up to date in
//! memory, so a step costs nothing for rooms under their limit. What a step deletes by
//! age counts against the limit in that same step.
//!
//! Search rows of deleted messages are deleted too (`fts` takes deletes by rowid), and
//! lost ranges older than a room's oldest message are forgotten.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::HistorySettings;
use super::rows::{PRESENCE, TALK, int};
use crate::common::now_ms;

/// Most rows deleted in one transaction: a few milliseconds.
pub(super) const DELETE_BATCH: usize = 500;

/// Index entries counted in one step, while a room's size is not known yet: a few
/// milliseconds.
pub(super) const COUNT_CHUNK: usize = 20_000;

/// How often retention looks for work when the last step found little.
pub(super) const RETENTION_EVERY: Duration = Duration::from_secs(5);

/// What a room's rows are counted as: each class has its own limit and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Class {
    Talk,
    Presence,
}

impl Class {
    /// Of a row that is talk or not.
    pub(super) fn of(talk: bool) -> Self {
        if talk { Class::Talk } else { Class::Presence }
    }

    /// The class in SQL, as its partial index says it.
    fn sql(self) -> &'static str {
        match self {
            Class::Talk => TALK,
            Class::Presence => PRESENCE,
        }
    }
}

/// One class of a room, being counted: `so_far` rows up to the sequence number `after`.
#[derive(Debug, Clone, Copy)]
struct Counting {
    room: i64,
    class: Class,
    after: u64,
    so_far: u64,
    /// The last chunk was short: every row is counted.
    done: bool,
}

/// A row a step deleted.
#[derive(Debug, Clone, Copy)]
struct Deleted {
    id: u64,
    room: i64,
    seq: u64,
    class: Class,
}

/// What retention keeps, and what it knows of the rooms' sizes.
#[derive(Debug)]
pub(super) struct Retention {
    max_age: Option<Duration>,
    max_per_room: Option<u64>,
    /// Rows per room and class, once counted.
    counts: HashMap<(i64, Class), u64>,
    /// Rooms and classes not counted yet (but the one being counted).
    uncounted: BTreeSet<(i64, Class)>,
    counting: Option<Counting>,
    due: Instant,
}

impl Retention {
    pub(super) fn new(settings: &HistorySettings, rooms: impl Iterator<Item = i64>) -> Self {
        let mut retention = Self {
            max_age: settings.max_age,
            max_per_room: settings.max_per_room,
            counts: HashMap::new(),
            uncounted: BTreeSet::new(),
            counting: None,
            due: Instant::now(),
        };
        for room in rooms {
            retention.inserted(room, Class::Talk, 0);
            retention.inserted(room, Class::Presence, 0);
        }
        retention
    }

    /// When the next step is due; `None` when nothing is ever deleted.
    pub(super) fn due(&self) -> Option<Instant> {
        (self.max_age.is_some() || self.max_per_room.is_some()).then_some(self.due)
    }

    /// `n` rows of `class` were stored in `room`.
    pub(super) fn inserted(&mut self, room: i64, class: Class, n: u64) {
        if self.max_per_room.is_none() {
            return;
        }
        if let Some(count) = self.counts.get_mut(&(room, class)) {
            *count += n;
        } else if self
            .counting
            .is_none_or(|c| (c.room, c.class) != (room, class))
        {
            // Counted later, these rows with the others.
            self.uncounted.insert((room, class));
        }
        // (Being counted: the count's next chunks reach the new rows, which come last.)
    }

    /// One step: deletes at most [`DELETE_BATCH`] rows, and counts at most [`COUNT_CHUNK`]
    /// of a room not counted yet, in one transaction. Returns how many rows it deleted;
    /// the next step is due at once when it found a full batch or is counting.
    pub(super) fn step(&mut self, conn: &Connection, indexed_to: u64) -> rusqlite::Result<usize> {
        let tx = conn.unchecked_transaction()?;
        let mut deleted = Vec::new();
        self.delete_old(&tx, &mut deleted)?;
        let private = self.delete_old_private(&tx)?;
        let counting = self.count_chunk(&tx, &deleted)?;
        self.delete_surplus(&tx, &mut deleted)?;
        let mut rooms = HashSet::new();
        for d in &deleted {
            rooms.insert(d.room);
            if d.class == Class::Talk && d.id <= indexed_to {
                tx.prepare_cached("DELETE FROM fts WHERE rowid = ?1")?
                    .execute([int(d.id)])?;
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
        // Committed: what this step learnt holds.
        for d in &deleted {
            if let Some(count) = self.counts.get_mut(&(d.room, d.class)) {
                *count = count.saturating_sub(1);
            }
        }
        if let Some(c) = counting {
            self.uncounted.remove(&(c.room, c.class));
            if c.done {
                self.counts.insert((c.room, c.class), c.so_far);
                self.counting = None;
            } else {
                self.counting = Some(c);
            }
        }
        let counting = self.counting.is_some() || !self.uncounted.is_empty();
        self.due = if deleted.len() >= DELETE_BATCH || private >= DELETE_BATCH || counting {
            Instant::now()
        } else {
            Instant::now() + RETENTION_EVERY
        };
        Ok(deleted.len() + private)
    }

    /// By age, private messages: the oldest past `max_age`, at most [`DELETE_BATCH`].
    /// They are kept no longer than the rooms' messages, and have no count limit: a
    /// conversation's two owners are its only writers and readers.
    fn delete_old_private(&self, tx: &Connection) -> rusqlite::Result<usize> {
        let Some(max_age) = self.max_age else {
            return Ok(0);
        };
        let cut = now_ms().saturating_sub(u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX));
        tx.prepare_cached(
            // Ids grow with time: the oldest are the first rows, and a step reads no
            // more than a batch of them.
            "DELETE FROM private WHERE id IN (SELECT id FROM
             (SELECT id, time_ms FROM private ORDER BY id LIMIT ?2) WHERE time_ms < ?1)",
        )?
        .execute(params![int(cut), DELETE_BATCH as i64])
    }

    /// By age: the oldest rows past `max_age`, at most [`DELETE_BATCH`].
    fn delete_old(&self, tx: &Connection, deleted: &mut Vec<Deleted>) -> rusqlite::Result<()> {
        let Some(max_age) = self.max_age else {
            return Ok(());
        };
        let cut = now_ms().saturating_sub(u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX));
        let mut stmt =
            tx.prepare_cached("SELECT id, time_ms FROM messages ORDER BY id LIMIT ?1")?;
        let rows = stmt.query_map([DELETE_BATCH as i64], |r| {
            Ok((r.get::<_, u64>(0)?, r.get::<_, u64>(1)?))
        })?;
        let mut range = None;
        for row in rows {
            let (id, time_ms) = row?;
            if time_ms >= cut {
                break;
            }
            range = Some((range.map_or(id, |(first, _)| first), id));
        }
        match range {
            Some((first, last)) => delete(
                tx,
                "id BETWEEN ?1 AND ?2",
                params![int(first), int(last)],
                deleted,
            ),
            None => Ok(()),
        }
    }

    /// The next chunk of the count under way, or of the next room and class to count,
    /// less what `deleted` took of the rows it had counted. `None` when nothing is to be
    /// counted.
    fn count_chunk(
        &self,
        tx: &Connection,
        deleted: &[Deleted],
    ) -> rusqlite::Result<Option<Counting>> {
        if self.max_per_room.is_none() {
            return Ok(None);
        }
        let next = || {
            self.uncounted.first().map(|&(room, class)| Counting {
                room,
                class,
                after: 0,
                so_far: 0,
                done: false,
            })
        };
        let Some(mut c) = self.counting.or_else(next) else {
            return Ok(None);
        };
        let gone = deleted
            .iter()
            .filter(|d| (d.room, d.class) == (c.room, c.class) && d.seq <= c.after)
            .count();
        c.so_far = c.so_far.saturating_sub(gone as u64);
        let (n, last): (u64, Option<u64>) = tx
            .prepare_cached(&format!(
                "SELECT count(*), max(seq) FROM (SELECT seq FROM messages
                 WHERE room = ?1 AND {} AND seq > ?2 ORDER BY seq LIMIT ?3)",
                c.class.sql()
            ))?
            .query_row(params![c.room, int(c.after), COUNT_CHUNK as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        c.so_far += n;
        c.after = last.unwrap_or(c.after);
        c.done = n < COUNT_CHUNK as u64;
        Ok(Some(c))
    }

    /// By count: the oldest of each counted room and class past `max_per_room`, once what
    /// `deleted` holds already is subtracted, within what is left of [`DELETE_BATCH`].
    fn delete_surplus(&self, tx: &Connection, deleted: &mut Vec<Deleted>) -> rusqlite::Result<()> {
        let Some(max) = self.max_per_room else {
            return Ok(());
        };
        let mut gone: HashMap<(i64, Class), u64> = HashMap::new();
        for d in deleted.iter() {
            *gone.entry((d.room, d.class)).or_default() += 1;
        }
        let over: Vec<((i64, Class), u64)> = self
            .counts
            .iter()
            .filter_map(|(&key, &n)| {
                let left = n.saturating_sub(gone.get(&key).copied().unwrap_or(0));
                (left > max).then(|| (key, left - max))
            })
            .collect();
        for ((room, class), excess) in over {
            let budget = DELETE_BATCH.saturating_sub(deleted.len());
            if budget == 0 {
                break;
            }
            let n = excess.min(budget as u64);
            // The n oldest of the room's class.
            let last: Option<u64> = tx
                .prepare_cached(&format!(
                    "SELECT seq FROM messages WHERE room = ?1 AND {}
                     ORDER BY seq LIMIT 1 OFFSET ?2",
                    class.sql()
                ))?
                .query_row(params![room, int(n - 1)], |r| r.get(0))
                .optional()?;
            if let Some(last) = last {
                delete(
                    tx,
                    &format!("room = ?1 AND {} AND seq <= ?2", class.sql()),
                    params![room, int(last)],
                    deleted,
                )?;
            }
        }
        Ok(())
    }
}

/// Deletes the messages matching `filter`, adding them to `deleted`.
fn delete(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
    deleted: &mut Vec<Deleted>,
) -> rusqlite::Result<()> {
    let sql = format!("DELETE FROM messages WHERE {filter} RETURNING id, room, seq, {TALK}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params, |r| {
        Ok(Deleted {
            id: r.get(0)?,
            room: r.get(1)?,
            seq: r.get(2)?,
            class: Class::of(r.get(3)?),
        })
    })?;
    for row in rows {
        deleted.push(row?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite takes a partial index only for a query that says the index's own term: each
    /// query of a class must go through that class's index, or a step reads the room.
    #[test]
    fn each_class_is_counted_and_trimmed_through_its_own_index() {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(&super::super::schema::schema_sql())
            .unwrap();
        for (class, index) in [
            (Class::Talk, "messages_talk"),
            (Class::Presence, "messages_presence"),
        ] {
            let c = class.sql();
            for sql in [
                format!(
                    "SELECT count(*), max(seq) FROM (SELECT seq FROM messages
                     WHERE room = 1 AND {c} AND seq > 2 ORDER BY seq LIMIT 3)"
                ),
                format!(
                    "SELECT seq FROM messages WHERE room = 1 AND {c} ORDER BY seq LIMIT 1 OFFSET 2"
                ),
                format!("DELETE FROM messages WHERE room = 1 AND {c} AND seq <= 2"),
            ] {
                let mut stmt = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                let plan: Vec<String> = stmt
                    .query_map([], |r| r.get(3))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap();
                assert!(
                    plan.iter().any(|step| step.contains(index)),
                    "{sql}: {plan:?}"
                );
            }
        }
    }
}
