//! Queries: pages, catch-up, search and read markers, on read-only connections.
//!
//! Each query runs in one read transaction, so its rows and its `more_*` flags describe
//! one state of the file. Answers are cut to [`FRAME_BUDGET`] bytes so that they always
//! fit a frame, whatever the texts; what is cut is reported through the exact `more_*`
//! flags (or the catch-up's gap), never guessed from a short page.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use shared::{Anchor, Gap, PrivateLine, SeqRange, ServerMsg, Stamped};

use super::lost::{self, Pending};
use super::rows::{self, COLUMNS, TALK, int, talk_unless};
use super::schema;

/// Read connections kept open between queries: as many as queries may run at once.
const POOL_SIZE: usize = super::QUERIES_AT_ONCE;

/// Bytes of messages in one answer: a frame less 32 KiB for everything else an answer
/// holds (the reply wrapper, the room's name, the gap, up to [`lost::MAX_RANGES`] lost
/// ranges of 20 bytes at most).
pub(super) const FRAME_BUDGET: usize = shared::limits::MAX_FRAME_LEN - 32 * 1024;

/// Most words of a search; more are ignored.
pub(super) const MAX_SEARCH_WORDS: usize = 16;

/// How long a search may look before it answers with what it found (`complete: false`).
pub(super) const SEARCH_DEADLINE: Duration = Duration::from_millis(50);

/// The read-only connections.
#[derive(Debug)]
pub(super) struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    pub(super) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a read connection, in one read transaction.
    pub(super) fn with<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> rusqlite::Result<R> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        let result = (|| {
            let tx = conn.unchecked_transaction()?;
            let answer = f(&tx)?;
            tx.finish()?;
            Ok(answer)
        })();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOL_SIZE {
            idle.push(conn);
        }
        result
    }
}

/// What every query of one room needs.
pub(super) struct Room<'a> {
    pub(super) conn: &'a Connection,
    pub(super) lost: &'a Pending,
    pub(super) key: &'a str,
    pub(super) name: &'a str,
    /// The room's id in the file; `None` when it never had a message stored.
    id: Option<i64>,
}

impl<'a> Room<'a> {
    pub(super) fn new(
        conn: &'a Connection,
        lost: &'a Pending,
        key: &'a str,
        name: &'a str,
    ) -> rusqlite::Result<Self> {
        let id = conn
            .prepare_cached("SELECT id FROM rooms WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        Ok(Self {
            conn,
            lost,
            key,
            name,
            id,
        })
    }

    /// The messages of `sql` (a query of [`COLUMNS`] from `messages`, its first parameter
    /// the room).
    fn select(&self, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<Stamped>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            if let Some(msg) = rows::stamped(row, self.name)? {
                out.push(msg);
            }
        }
        Ok(out)
    }

    /// Whether the room has a message (talk only unless `presence`) matching `cond`
    /// (on `seq`, parameter 2).
    fn exists(&self, presence: bool, cond: &str, seq: u64) -> rusqlite::Result<bool> {
        let Some(room) = self.id else {
            return Ok(false);
        };
        let talk = talk_unless(presence);
        let sql = format!(
            "SELECT EXISTS(SELECT 1 FROM messages WHERE room = ?1{talk} AND seq {cond} ?2)"
        );
        self.conn
            .prepare_cached(&sql)?
            .query_row(params![room, int(seq)], |r| r.get(0))
    }

    /// The lost ranges (written or pending) that overlap `from..=to`.
    fn lost(&self, from: u64, to: u64) -> rusqlite::Result<Vec<SeqRange>> {
        if from > to {
            return Ok(Vec::new());
        }
        // Pending first: the writer clears them only after they are committed, so a
        // range is in one or the other whenever this looks.
        let mut ranges = self.lost.overlapping(self.key, from, to);
        if let Some(room) = self.id {
            let mut stmt = self.conn.prepare_cached(
                "SELECT from_seq, to_seq FROM gaps
                 WHERE room = ?1 AND to_seq >= ?2 AND from_seq <= ?3
                 ORDER BY from_seq LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![room, int(from), int(to), lost::MAX_RANGES as i64],
                |r| {
                    Ok(SeqRange {
                        from: r.get(0)?,
                        to: r.get(1)?,
                    })
                },
            )?;
            for r in rows {
                ranges.push(r?);
            }
        }
        Ok(lost::merge(ranges))
    }
}

/// A page of history: see [`super::History::page`].
pub(super) fn page(
    room: &Room<'_>,
    anchor: Anchor,
    limit: u32,
    presence: bool,
) -> rusqlite::Result<ServerMsg> {
    let talk = talk_unless(presence);
    let limit = i64::from(limit);
    let newest_first = |cond: &str, seq: u64| -> rusqlite::Result<Vec<Stamped>> {
        let Some(id) = room.id else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM messages WHERE room = ?1{talk} AND seq {cond} ?3
             ORDER BY seq DESC LIMIT ?2"
        );
        room.select(&sql, params![id, limit, int(seq)])
    };
    let oldest_first = |cond: &str, seq: u64| -> rusqlite::Result<Vec<Stamped>> {
        let Some(id) = room.id else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM messages WHERE room = ?1{talk} AND seq {cond} ?3
             ORDER BY seq LIMIT ?2"
        );
        room.select(&sql, params![id, limit, int(seq)])
    };
    // The page, ascending, and how many of it are before the anchor (`Around`), which
    // decides which end a cut takes from.
    let (mut messages, mut before_anchor): (VecDeque<Stamped>, usize) = match anchor {
        Anchor::Latest => {
            let v = newest_first("<=", i64::MAX as u64)?;
            let n = v.len();
            (v.into_iter().rev().collect(), n)
        }
        Anchor::Before(s) => {
            let v = newest_first("<", s)?;
            let n = v.len();
            (v.into_iter().rev().collect(), n)
        }
        Anchor::After(s) => (oldest_first(">", s)?.into(), 0),
        Anchor::Around(s) => {
            let after = oldest_first(">=", s)?;
            let before = newest_first("<", s)?;
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let n_after = after
                .len()
                .min(limit.div_ceil(2).max(limit.saturating_sub(before.len())));
            let n_before = before.len().min(limit - n_after);
            let mut page: VecDeque<Stamped> = before.into_iter().take(n_before).rev().collect();
            page.extend(after.into_iter().take(n_after));
            (page, n_before)
        }
    };
    // Cut to fit a frame: the end far from the anchor goes first.
    fit_frame(&mut messages, |len| {
        if before_anchor > len - before_anchor {
            before_anchor -= 1;
            End::Front
        } else {
            End::Back
        }
    });
    let first = messages.front().map(|m| m.seq);
    let last = messages.back().map(|m| m.seq);
    let (more_before, more_after) = match (first, last) {
        (Some(first), Some(last)) => (
            room.exists(presence, "<", first)?,
            room.exists(presence, ">", last)?,
        ),
        // Empty (a limit of 0, or nothing there): relative to the anchor.
        _ => match anchor {
            Anchor::Latest => (room.exists(presence, "<=", i64::MAX as u64)?, false),
            Anchor::Before(s) | Anchor::Around(s) => (
                room.exists(presence, "<", s)?,
                room.exists(presence, ">=", s)?,
            ),
            Anchor::After(s) => (
                room.exists(presence, "<=", s)?,
                room.exists(presence, ">", s)?,
            ),
        },
    };
    // The span the page speaks for: to the ends of history when there is nothing more,
    // and from the anchor to the page's first (or last) message.
    let from = if !more_before {
        0
    } else {
        match (anchor, first) {
            (Anchor::After(s), Some(f)) => f.min(s.saturating_add(1)),
            (Anchor::After(s), None) => s.saturating_add(1),
            (Anchor::Before(s) | Anchor::Around(s), None) => s,
            (_, f) => f.unwrap_or(0),
        }
    };
    let to = if !more_after {
        u64::MAX
    } else {
        match (anchor, last) {
            (Anchor::Before(s), Some(l)) => l.max(s.saturating_sub(1)),
            (Anchor::Before(s) | Anchor::Around(s), None) => s.saturating_sub(1),
            (Anchor::After(s), None) => s,
            (_, l) => l.unwrap_or(u64::MAX),
        }
    };
    Ok(ServerMsg::HistoryPage {
        room: room.name.to_owned(),
        messages: messages.into(),
        more_before,
        more_after,
        lost: room.lost(from, to)?,
    })
}

/// A catch-up: see [`super::History::catch_up`]. `cap` is the most messages to send.
pub(super) fn catch_up(
    room: &Room<'_>,
    after: u64,
    cap: u32,
    nick_key: &str,
) -> rusqlite::Result<ServerMsg> {
    let mut messages: VecDeque<Stamped> = match room.id {
        Some(id) => room
            .select(
                &format!(
                    "SELECT {COLUMNS} FROM messages WHERE room = ?1 AND {TALK} AND seq > ?2
                     ORDER BY seq DESC LIMIT ?3"
                ),
                params![id, int(after), i64::from(cap)],
            )?
            .into_iter()
            .rev()
            .collect(),
        None => VecDeque::new(),
    };
    // Cut to fit a frame: the newest stay, the rest joins the gap.
    fit_frame(&mut messages, |_| End::Front);
    let first = messages.front().map(|m| m.seq);
    // What was missed and not sent: between `after` and the first message sent. A first
    // join (`after` 0) missed nothing; older messages are only `more_before`.
    let gap = match (room.id, first) {
        (Some(id), Some(first)) if after > 0 => {
            let (from, to, count): (Option<u64>, Option<u64>, u64) = room
                .conn
                .prepare_cached(&format!(
                    "SELECT min(seq), max(seq), count(*) FROM messages
                     WHERE room = ?1 AND {TALK} AND seq > ?2 AND seq < ?3"
                ))?
                .query_row(params![id, int(after), int(first)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            match (from, to) {
                (Some(from), Some(to)) if count > 0 => Some(Gap { from, to, count }),
                _ => None,
            }
        }
        _ => None,
    };
    let more_before = match (gap, first) {
        (Some(gap), _) => room.exists(false, "<", gap.from)?,
        (None, Some(first)) => room.exists(false, "<", first)?,
        // Nothing sent: after a reconnect, whatever is at or before `after`; at a first
        // join with a backlog of 0, anything at all.
        (None, None) => room.exists(false, "<=", if after > 0 { after } else { u64::MAX })?,
    };
    let read = match room.id {
        Some(id) => room
            .conn
            .prepare_cached("SELECT seq FROM read_markers WHERE nick = ?1 AND room = ?2")?
            .query_row(params![nick_key, id], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
        None => 0,
    };
    Ok(ServerMsg::CaughtUp {
        room: room.name.to_owned(),
        messages: messages.into(),
        gap,
        more_before,
        read,
        lost: room.lost(after.saturating_add(1), u64::MAX)?,
    })
}

/// A search: see [`super::History::search`].
pub(super) fn search(
    room: &Room<'_>,
    words: &str,
    before: u64,
    limit: u32,
    deadline: Duration,
) -> rusqlite::Result<ServerMsg> {
    let answer = |hits: Vec<Stamped>, more: bool, complete: bool| ServerMsg::SearchHits {
        room: room.name.to_owned(),
        hits,
        more,
        complete,
    };
    let (Some(id), Some(query)) = (room.id, fts_query(words)) else {
        return Ok(answer(Vec::new(), false, true));
    };
    // Within a room, ids grow with sequence numbers: "older than `before`" is a bound on
    // the index's rowid, which it seeks to instead of filtering.
    let bound: i64 = if before == 0 {
        i64::MAX
    } else {
        let newest_older: Option<i64> = room
            .conn
            .prepare_cached(
                "SELECT id FROM messages WHERE room = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row(params![id, int(before)], |r| r.get(0))
            .optional()?;
        match newest_older {
            Some(bound) => bound,
            None => return Ok(answer(Vec::new(), false, true)),
        }
    };
    let stop = Instant::now() + deadline;
    room.conn
        .progress_handler(1000, Some(move || Instant::now() >= stop))?;
    let found = (|| {
        let mut stmt = room.conn.prepare_cached(&format!(
            "SELECT {} FROM fts JOIN messages m ON m.id = fts.rowid
             WHERE fts MATCH ?1 AND fts.rowid <= ?2 AND m.room = ?3
             ORDER BY fts.rowid DESC LIMIT ?4",
            COLUMNS
                .split(", ")
                .map(|c| format!("m.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        let mut rows = stmt.query(params![query, bound, id, i64::from(limit) + 1])?;
        let mut hits = Vec::new();
        loop {
            match rows.next() {
                Ok(Some(row)) => {
                    if let Some(msg) = rows::stamped(row, room.name)? {
                        hits.push(msg);
                    }
                }
                Ok(None) => return Ok((hits, true)),
                Err(e) if interrupted(&e) => return Ok((hits, false)),
                Err(e) => return Err(e),
            }
        }
    })();
    room.conn.progress_handler(0, None::<fn() -> bool>)?;
    let (hits, complete) = found?;
    let mut more = !complete || hits.len() > limit as usize;
    let mut hits: VecDeque<Stamped> = hits.into_iter().take(limit as usize).collect();
    // Cut to fit a frame: the newest stay.
    more |= fit_frame(&mut hits, |_| End::Back);
    Ok(answer(hits.into(), more, complete))
}

/// An end of an answer, where [`fit_frame`] cuts.
enum End {
    Front,
    Back,
}

/// Drops messages from `messages` until the rest fit [`FRAME_BUDGET`], each from the end
/// `end` names (told how many are left). Returns whether any was dropped.
fn fit_frame(messages: &mut VecDeque<Stamped>, mut end: impl FnMut(usize) -> End) -> bool {
    let mut size: usize = messages.iter().map(rows::encoded_bound).sum();
    let mut cut = false;
    while size > FRAME_BUDGET {
        let dropped = match end(messages.len()) {
            End::Front => messages.pop_front(),
            End::Back => messages.pop_back(),
        };
        let Some(dropped) = dropped else {
            break;
        };
        size -= rows::encoded_bound(&dropped);
        cut = true;
    }
    cut
}

/// The private messages of the conversation `pair` (two keys, the lower first) older
/// than the id `before` (0: from the newest), at most `limit`, oldest first, cut to fit a
/// frame from the oldest end; and whether older ones are kept too.
pub(super) fn private_page(
    conn: &Connection,
    pair: &[u8; 64],
    before: u64,
    limit: u32,
) -> rusqlite::Result<(Vec<PrivateLine>, bool)> {
    let before = if before == 0 { i64::MAX } else { int(before) };
    // One more than asked: whether there are more.
    let mut stmt = conn.prepare_cached(
        "SELECT id, time_ms, sender, recipient, text FROM private
         WHERE pair = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![&pair[..], before, i64::from(limit) + 1], |r| {
        Ok(PrivateLine {
            id: r.get(0)?,
            time_ms: r.get(1)?,
            from: r.get(2)?,
            to: r.get(3)?,
            text: r.get(4)?,
        })
    })?;
    let mut lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut more = lines.len() > limit as usize;
    lines.truncate(limit as usize);
    // Newest first here: the oldest, at the back, go first when cut.
    let mut size: usize = lines.iter().map(private_bound).sum();
    while size > FRAME_BUDGET {
        let Some(dropped) = lines.pop() else { break };
        size -= private_bound(&dropped);
        more = true;
    }
    lines.reverse();
    Ok((lines, more))
}

/// At most the bytes `line` takes in an answer: its texts with their length prefixes
/// (9 bytes at most each) and its numbers.
fn private_bound(line: &PrivateLine) -> usize {
    line.from.len() + line.to.len() + line.text.len() + 5 * 9
}

/// The FTS5 query of a user's words: each word a quoted string (a quote doubled inside),
/// so no word is ever FTS5 syntax (`AND`, `NEAR(`, `*`, `"`, a column filter); the
/// strings one after the other mean every word must appear. `None` without words.
pub(super) fn fts_query(words: &str) -> Option<String> {
    // Control characters separate words too: FTS5 reads a NUL as the end of the query.
    let quoted: Vec<String> = words
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .take(MAX_SEARCH_WORDS)
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!quoted.is_empty()).then(|| quoted.join(" "))
}

/// Whether `e` is the progress handler stopping a statement.
fn interrupted(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::OperationInterrupted)
}
