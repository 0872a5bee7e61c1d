//! The writer thread: the only connection that writes, fed by a channel in stamp order.
//!
//! Group commit: from the first job it gathers for [`CORK`] (less when a query is waiting
//! for the batch), then takes everything queued (up to [`BATCH_CAP`]) and stores it in one
//! transaction, and publishes its watermark. Every commit writes whole pages to the log,
//! so under a steady stream the cork turns thousands of small commits a second into a
//! few hundred larger ones, for a delay of at most [`CORK`]. When the queue is idle (or at least every
//! [`BACKGROUND_EVERY`] under sustained load), it indexes the next rows for search and
//! applies retention: not after every batch, which would double the commits.
//!
//! A commit of messages that fails (a full disk, an unwritable file) is rolled back and its
//! messages recorded as lost; the watermark moves on all the same, so that nobody waits for
//! them. The operator gets one line when storing stops and one when it resumes; meanwhile
//! batches are not even tried until a backoff (doubling up to [`MAX_BACKOFF`]) has passed,
//! so a full disk costs nothing per message.
//!
//! Indexing and retention are [`Chore`]s: each that fails waits out a backoff of its own and
//! says so in a line of its own, and no message is ever lost for it: a message commit is
//! the only thing that marks messages lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use shared::{PrivateLine, Stamped};
use tokio::sync::{oneshot, watch};

use super::lost::Pending;
use super::retention::{Class, Retention};
use super::rows::{self, TALK, int};
use super::schema::{self, Sqlite, key};
use super::topics::Topic;
use super::{BATCH_CAP, HistorySettings, Permit};

/// How long the writer gathers after the first job of a batch. Measured with scenario A
/// (ten senders, about 29,000 messages a second): without it, a commit (and an indexing
/// transaction) for every few messages took a quarter of the server's CPU.
pub(super) const CORK: Duration = Duration::from_millis(5);

/// Rows looked at per indexing transaction: a few milliseconds of work, so a message
/// that arrives meanwhile waits little.
const INDEX_CHUNK: usize = 2000;

/// Under sustained load the queue is never empty; indexing and retention still get a
/// turn this often, so search lags by seconds, not by the length of the burst.
const BACKGROUND_EVERY: Duration = Duration::from_millis(100);

/// The first wait before storing is tried again after a failed commit.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The longest wait between two tries while storing fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the writer sleeps with nothing to do before looking at retention again.
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// How far the writer has got, published after every commit for the queries that must
/// see what was queued before them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Progress {
    /// Every message up to this id is stored or recorded lost.
    pub(super) id: u64,
    /// How many `MarkRead` jobs have been taken into a commit (counted as they are queued
    /// by [`super::History::mark_read`]): a catch-up asked right after a `MarkRead` says
    /// the new marker.
    pub(super) marks: u64,
    /// How many `Private` jobs have been taken into a commit, likewise: a page of private
    /// messages asked right after one was sent holds it.
    pub(super) privates: u64,
}

/// A job for the writer.
#[derive(Debug)]
pub(super) enum Job {
    /// A stamped room message to store.
    Message(Box<Record>),
    /// Keep the id floor at least this high.
    Floor(u64),
    /// The nick (fold) has read the room (key) up to `seq`.
    MarkRead {
        nick: String,
        room_key: String,
        seq: u64,
    },
    /// A private message between two owners, to keep.
    Private(Box<PrivateRecord>),
    /// The room (key, spelt `room_name`) has this topic now (`None`: none).
    Topic {
        room_key: String,
        room_name: String,
        topic: Option<Topic>,
    },
    /// Store what is queued, write the exact last id and the clean-stop mark, and stop.
    Close {
        last_id: u64,
        done: oneshot::Sender<()>,
    },
}

/// A message to store, with the permit it holds until it is committed.
#[derive(Debug)]
pub(super) struct Record {
    pub(super) room_key: String,
    pub(super) room_name: String,
    pub(super) msg: Stamped,
    /// Held until the batch is dealt with, then dropped with it.
    pub(super) _permit: Option<Permit>,
}

/// A private message to keep, under its conversation: the two keys, the lower first.
#[derive(Debug)]
pub(super) struct PrivateRecord {
    pub(super) pair: [u8; 64],
    pub(super) line: PrivateLine,
}

/// Private messages waiting for a commit, at most: while storing fails they wait (a chat
/// is then recorded lost instead); beyond this, the newest are dropped, and said once.
const MAX_PENDING_PRIVATE: usize = 10_000;

/// Work failing again and again: since when, and when to try it again.
#[derive(Debug)]
struct Backoff {
    since: Instant,
    delay: Duration,
    retry_at: Instant,
}

impl Backoff {
    /// The first failure: try again after [`FIRST_BACKOFF`].
    fn start(now: Instant) -> Self {
        Self {
            since: now,
            delay: FIRST_BACKOFF,
            retry_at: now + FIRST_BACKOFF,
        }
    }

    /// One more failure: wait twice as long, up to [`MAX_BACKOFF`].
    fn again(&mut self, now: Instant) {
        self.delay = (self.delay * 2).min(MAX_BACKOFF);
        self.retry_at = now + self.delay;
    }

    fn waiting(&self, now: Instant) -> bool {
        now < self.retry_at
    }
}

/// Storing messages is failing: its backoff, and how many messages were lost meanwhile.
#[derive(Debug)]
struct Failing {
    backoff: Backoff,
    lost: u64,
}

/// Work the writer does between batches (indexing for search, retention). When it fails,
/// it waits out a backoff of its own, and the operator gets one line when it stops working
/// and one when it works again; messages go on being stored meanwhile.
#[derive(Debug)]
struct Chore {
    /// Its name in the line that says it works again.
    name: &'static str,
    /// What cannot be done, and what that means meanwhile, for the line that says it fails.
    cannot: &'static str,
    meanwhile: &'static str,
    failing: Option<Backoff>,
}

impl Chore {
    const fn new(name: &'static str, cannot: &'static str, meanwhile: &'static str) -> Self {
        Self {
            name,
            cannot,
            meanwhile,
            failing: None,
        }
    }

    /// When it may run again after failing; `None` when it is not failing.
    fn retry_at(&self) -> Option<Instant> {
        self.failing.as_ref().map(|b| b.retry_at)
    }

    /// Whether it may run now: it is not waiting out a backoff.
    fn ready(&self, now: Instant) -> bool {
        self.failing.as_ref().is_none_or(|b| !b.waiting(now))
    }

    /// Takes the outcome of one run: the first failure and the recovery are logged.
    fn outcome<T>(&mut self, result: rusqlite::Result<T>, conn: &Connection) {
        let now = Instant::now();
        match (result, &mut self.failing) {
            (Ok(_), failing) => {
                if let Some(backoff) = failing.take() {
                    tracing::warn!(
                        "history: {} works again after {}",
                        self.name,
                        shared::units::duration(backoff.since.elapsed().as_secs())
                    );
                }
            }
            (Err(_), Some(backoff)) => backoff.again(now),
            (Err(e), None) => {
                tracing::warn!(
                    "history: {} in {} ({}); {}; retrying",
                    self.cannot,
                    conn.path().unwrap_or("the database"),
                    Sqlite(&e),
                    self.meanwhile
                );
                self.failing = Some(Backoff::start(now));
            }
        }
    }
}

/// The writer's state; [`Writer::run`] is the thread's body.
pub(super) struct Writer {
    conn: Connection,
    jobs: Receiver<Job>,
    committed: watch::Sender<Progress>,
    /// `MarkRead` jobs received so far.
    marks_taken: u64,
    /// Private messages waiting for a commit, and `Private` jobs received so far.
    privates: Vec<PrivateRecord>,
    privates_taken: u64,
    /// Whether private messages were dropped since the last commit (said once).
    privates_dropped: bool,
    lost: Arc<Pending>,
    /// The rooms committed to the file, by key.
    rooms: HashMap<String, Room>,
    /// The highest message id in the file.
    stored_to: u64,
    /// Every talk message up to this id is in `fts`.
    indexed_to: u64,
    /// Writes that ride with the next commit (and are kept when it fails): the id floor,
    /// the file-id floor, the read markers, the topics.
    floor: Option<u64>,
    file_floor: Option<u64>,
    marks: HashMap<(String, String), u64>,
    /// Topics to write, by room key: the room's spelling and its topic (`None`: delete).
    topics: HashMap<String, (String, Option<Topic>)>,
    /// A floor came (or rose) since the floors were last tried on their own.
    floors_untried: bool,
    /// Storing messages is failing.
    failing: Option<Failing>,
    retention: Retention,
    indexing: Chore,
    pruning: Chore,
    last_background: Instant,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("stored_to", &self.stored_to)
            .field("indexed_to", &self.indexed_to)
            .finish_non_exhaustive()
    }
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        jobs: Receiver<Job>,
        committed: watch::Sender<Progress>,
        lost: Arc<Pending>,
        indexed_to: u64,
        settings: &HistorySettings,
    ) -> rusqlite::Result<Self> {
        let stored_to: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| {
                r.get(0)
            })?;
        let rooms = {
            let mut stmt = conn.prepare("SELECT key, id, name FROM rooms")?;
            stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    Room {
                        id: r.get(1)?,
                        name: r.get(2)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<HashMap<String, Room>>>()?
        };
        let retention = Retention::new(settings, rooms.values().map(|r| r.id));
        Ok(Self {
            conn,
            jobs,
            committed,
            marks_taken: 0,
            privates: Vec::new(),
            privates_taken: 0,
            privates_dropped: false,
            lost,
            rooms,
            stored_to: u64::try_from(stored_to).unwrap_or(0),
            indexed_to,
            floor: None,
            file_floor: None,
            marks: HashMap::new(),
            topics: HashMap::new(),
            floors_untried: false,
            failing: None,
            retention,
            indexing: Chore::new(
                "indexing for search",
                "cannot index new messages for search",
                "they are stored, and search finds them once indexing works again",
            ),
            pruning: Chore::new(
                "retention",
                "cannot delete old messages",
                "they are kept until retention works again",
            ),
            last_background: Instant::now(),
        })
    }

    /// The thread's body: batches until `Close` (or until every handle is gone, which is
    /// not a clean stop: the clean-stop mark is not written).
    pub(super) fn run(mut self) {
        // Whether the last batch was cut at the cap: more is waiting, no need to gather.
        let mut behind = false;
        loop {
            let first = match self.jobs.recv_timeout(self.wait()) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let idle = first.is_none();
            if !idle && !behind {
                // Parked, not waiting on the channel: senders do not wake the thread for
                // every message. A query that needs the batch stored unparks it
                // (`History::settle`).
                std::thread::park_timeout(CORK);
            }
            let mut batch = Vec::new();
            let mut close = None;
            let mut next = first;
            while let Some(job) = next.take() {
                match job {
                    Job::Message(record) => batch.push(*record),
                    Job::Floor(id) => {
                        self.floor = self.floor.max(Some(id));
                        self.floors_untried = true;
                    }
                    Job::MarkRead {
                        nick,
                        room_key,
                        seq,
                    } => {
                        let mark = self.marks.entry((nick, room_key)).or_default();
                        *mark = (*mark).max(seq);
                        self.marks_taken += 1;
                    }
                    Job::Private(record) => {
                        if self.privates.len() < MAX_PENDING_PRIVATE {
                            self.privates.push(*record);
                        } else if !self.privates_dropped {
                            self.privates_dropped = true;
                            tracing::warn!(
                                "history: {MAX_PENDING_PRIVATE} private messages wait to be \
                                 stored; later ones are not kept until storing resumes"
                            );
                        }
                        self.privates_taken += 1;
                    }
                    Job::Topic {
                        room_key,
                        room_name,
                        topic,
                    } => {
                        self.topics.insert(room_key, (room_name, topic));
                    }
                    Job::Close { last_id, done } => {
                        close = Some((last_id, done));
                        break;
                    }
                }
                if batch.len() >= BATCH_CAP {
                    break;
                }
                next = self.jobs.try_recv().ok();
            }
            behind = batch.len() >= BATCH_CAP;
            // At close, lost ranges still pending get one last try too.
            let last_try = close.is_some() && !self.lost.is_empty();
            if !batch.is_empty() || self.has_side_writes() || last_try {
                self.commit(batch, close.is_some());
            }
            if let Some((last_id, done)) = close {
                self.finish(last_id);
                let _ = done.send(());
                return;
            }
            if idle || self.last_background.elapsed() >= BACKGROUND_EVERY {
                self.background();
            }
        }
    }

    /// How long to wait for a job: until the next retry of a failing store (if anything
    /// waits to be stored: else the next batch is the retry), else until indexing (at once
    /// while it lags, unless it waits out a backoff) or the next retention step; at most
    /// [`IDLE_WAIT`].
    fn wait(&self) -> Duration {
        let now = Instant::now();
        let next = match &self.failing {
            Some(failing) if self.has_pending() => Some(failing.backoff.retry_at),
            Some(_) => None,
            None => {
                let index = (self.indexed_to < self.stored_to)
                    .then(|| self.indexing.retry_at().unwrap_or(now));
                let retention = self
                    .retention
                    .due()
                    .map(|due| self.pruning.retry_at().map_or(due, |retry| retry.max(due)));
                index.into_iter().chain(retention).min()
            }
        };
        next.map_or(IDLE_WAIT, |at| at.saturating_duration_since(now))
            .min(IDLE_WAIT)
    }

    fn has_side_writes(&self) -> bool {
        self.floor.is_some()
            || self.file_floor.is_some()
            || !self.marks.is_empty()
            || !self.topics.is_empty()
            || !self.privates.is_empty()
    }

    /// Whether anything waits for a commit with no batch: lost ranges or side writes.
    fn has_pending(&self) -> bool {
        !self.lost.is_empty() || self.has_side_writes()
    }

    /// Stores `batch` (or records it lost), publishes the watermark and releases the
    /// batch's permits. `force` tries even while backing off (the last batch at close).
    fn commit(&mut self, batch: Vec<Record>, force: bool) {
        let highest = batch.last().map(|r| r.msg.id);
        // The members have seen the file ids of the batch's offers, stored or not: the
        // file-id floor keeps them from reuse, and stays pending until a commit takes it.
        let files = batch
            .iter()
            .filter_map(|r| rows::file_id(&r.msg.event))
            .max();
        if files > self.file_floor {
            self.file_floor = files;
            self.floors_untried = true;
        }
        let backing_off = self
            .failing
            .as_ref()
            .is_some_and(|f| f.backoff.waiting(Instant::now()));
        if backing_off && !force {
            self.lose(&batch);
        } else {
            match self.write(&batch) {
                Ok(new_rooms) => self.stored(&batch, new_rooms),
                Err(e) => {
                    self.store_failed(&e);
                    self.lose(&batch);
                    self.floors_untried = true;
                }
            }
        }
        let floors = self.floor.is_some() || self.file_floor.is_some();
        if self.failing.is_some() && self.floors_untried && floors {
            self.write_floors();
        }
        let marks = self.marks_taken;
        let privates = self.privates_taken;
        self.committed.send_if_modified(|p| {
            let before = *p;
            p.id = p.id.max(highest.unwrap_or(0));
            // Markers that failed to commit stay pending and are retried; a query then
            // reads the file without them rather than wait for the disk. So do private
            // messages.
            p.marks = marks;
            p.privates = privates;
            *p != before
        });
        // The permits go with the batch, now that it is dealt with.
        drop(batch);
    }

    /// One transaction: the pending lost ranges first, then the messages, the read
    /// markers, the topics and the floors. Returns the rooms it added or spelt anew.
    fn write(&self, batch: &[Record]) -> rusqlite::Result<HashMap<String, Room>> {
        let tx = self.conn.unchecked_transaction()?;
        let mut new_rooms = HashMap::new();
        for (room_key, room) in self.lost.snapshot() {
            let id = room_id(
                &tx,
                &self.rooms,
                &mut new_rooms,
                &room_key,
                Some(&room.name),
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO gaps(room, from_seq, to_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT(room, from_seq) DO UPDATE SET to_seq = max(to_seq, excluded.to_seq)",
            )?;
            for r in room.ranges {
                insert.execute(params![id, int(r.from), int(r.to)])?;
            }
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages(id, room, seq, time_ms, kind, nick, text, file)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for r in batch {
                let room = room_id(
                    &tx,
                    &self.rooms,
                    &mut new_rooms,
                    &r.room_key,
                    Some(&r.room_name),
                )?;
                let c = rows::columns(&r.msg.event);
                insert.execute(params![
                    int(r.msg.id),
                    room,
                    int(r.msg.seq),
                    int(r.msg.time_ms),
                    c.kind,
                    c.nick,
                    c.text,
                    c.file
                ])?;
            }
        }
        for ((nick, room_key), seq) in &self.marks {
            let room = room_id(&tx, &self.rooms, &mut new_rooms, room_key, None)?;
            tx.prepare_cached(
                "INSERT INTO read_markers(nick, room, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT(nick, room) DO UPDATE SET seq = max(seq, excluded.seq)",
            )?
            .execute(params![nick, room, int(*seq)])?;
        }
        for r in &self.privates {
            let l = &r.line;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO private(id, pair, time_ms, sender, recipient, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                int(l.id),
                &r.pair[..],
                int(l.time_ms),
                l.from,
                l.to,
                l.text
            ])?;
        }
        for (room_key, (name, topic)) in &self.topics {
            // A deletion leaves the room's spelling as it is.
            let spelt = topic.as_ref().map(|_| name.as_str());
            let room = room_id(&tx, &self.rooms, &mut new_rooms, room_key, spelt)?;
            match topic {
                Some(t) => tx
                    .prepare_cached(
                        "INSERT INTO topics(room, text, nick, time_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(room) DO UPDATE SET text = excluded.text,
                             nick = excluded.nick, time_ms = excluded.time_ms",
                    )?
                    .execute(params![room, t.text, t.by, int(t.time_ms)])?,
                None => tx
                    .prepare_cached("DELETE FROM topics WHERE room = ?1")?
                    .execute([room])?,
            };
        }
        self.raise_floors(&tx)?;
        tx.commit()?;
        Ok(new_rooms)
    }

    /// Writes the pending id and file-id floors in `tx`.
    fn raise_floors(&self, tx: &Connection) -> rusqlite::Result<()> {
        if let Some(floor) = self.floor {
            raise_meta(tx, key::ID_FLOOR, floor)?;
        }
        if let Some(floor) = self.file_floor {
            raise_meta(tx, key::FILE_FLOOR, floor)?;
        }
        Ok(())
    }

    /// While storing fails: the floors alone, in a transaction of one or two rows, which a
    /// disk that refuses a batch may still take. Ids go on being handed out while storing
    /// fails; once the reservation on disk is below them, a crash would let them repeat.
    /// Tried after every failed write and whenever a floor comes, not on every batch.
    fn write_floors(&mut self) {
        self.floors_untried = false;
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            self.raise_floors(&tx)?;
            tx.commit()
        })();
        if result.is_ok() {
            self.floor = None;
            self.file_floor = None;
        }
    }

    /// A commit succeeded: the writer's state follows the file.
    fn stored(&mut self, batch: &[Record], new_rooms: HashMap<String, Room>) {
        self.rooms.extend(new_rooms);
        if let Some(last) = batch.last() {
            self.stored_to = self.stored_to.max(last.msg.id);
        }
        let mut per_room: HashMap<(i64, Class), u64> = HashMap::new();
        for r in batch {
            if let Some(room) = self.rooms.get(&r.room_key) {
                let class = Class::of(r.msg.event.is_talk());
                *per_room.entry((room.id, class)).or_default() += 1;
            }
        }
        for ((room, class), n) in per_room {
            self.retention.inserted(room, class, n);
        }
        self.floor = None;
        self.file_floor = None;
        self.floors_untried = false;
        self.marks.clear();
        self.topics.clear();
        self.privates.clear();
        self.privates_dropped = false;
        self.lost.clear();
        if let Some(failing) = self.failing.take() {
            tracing::warn!(
                "history: storing again after {}; {} messages of that time are not in history \
                 (clients are told where)",
                shared::units::duration(failing.backoff.since.elapsed().as_secs()),
                failing.lost
            );
        }
    }

    /// Records `batch` as lost (storing is failing).
    fn lose(&mut self, batch: &[Record]) {
        for r in batch {
            self.lost.add(&r.room_key, &r.room_name, r.msg.seq);
        }
        if let Some(failing) = &mut self.failing {
            failing.lost += batch.len() as u64;
        }
    }

    /// A commit of messages failed: say so once, and back off.
    fn store_failed(&mut self, e: &rusqlite::Error) {
        let now = Instant::now();
        match &mut self.failing {
            Some(failing) => failing.backoff.again(now),
            None => {
                tracing::warn!(
                    "history: cannot store messages in {} ({}); chat goes on live, the missing \
                     stretch is recorded for clients, retrying",
                    self.conn.path().unwrap_or("the database"),
                    Sqlite(e)
                );
                self.failing = Some(Failing {
                    backoff: Backoff::start(now),
                    lost: 0,
                });
            }
        }
    }

    /// Between batches: retry a failing store; else index behind the writes and apply
    /// retention, each unless it waits out a backoff of its own.
    fn background(&mut self) {
        let now = Instant::now();
        self.last_background = now;
        if let Some(failing) = &self.failing {
            // With nothing queued, the lost ranges and side writes still need a commit.
            if !failing.backoff.waiting(now) && self.has_pending() {
                self.commit(Vec::new(), false);
            }
            return;
        }
        if self.indexed_to < self.stored_to && self.indexing.ready(now) {
            let result = self.index_chunk();
            self.indexing.outcome(result, &self.conn);
        }
        if self.retention.due().is_some_and(|due| now >= due) && self.pruning.ready(now) {
            let result = self.retention.step(&self.conn, self.indexed_to);
            self.pruning.outcome(result, &self.conn);
        }
    }

    /// Indexes the next rows after `indexed_to` for search, in one transaction.
    fn index_chunk(&mut self) -> rusqlite::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let mut last = self.indexed_to;
        let mut seen = 0;
        {
            let mut select = tx.prepare_cached(&format!(
                "SELECT id, {TALK}, text FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let mut insert = tx.prepare_cached("INSERT INTO fts(rowid, text) VALUES (?1, ?2)")?;
            let mut rows = select.query(params![int(last), INDEX_CHUNK as i64])?;
            while let Some(row) = rows.next()? {
                let id: u64 = row.get(0)?;
                let talk: bool = row.get(1)?;
                seen += 1;
                last = id;
                if talk {
                    let text: String = row.get(2)?;
                    insert.execute(params![int(id), text])?;
                }
            }
        }
        // A short chunk has seen every row: the index is level with the file.
        let to = if seen < INDEX_CHUNK {
            self.stored_to.max(last)
        } else {
            last
        };
        schema::set_meta(&tx, key::INDEXED_TO, int(to))?;
        tx.commit()?;
        self.indexed_to = to;
        Ok(())
    }

    /// The clean stop: everything before `Close` is committed (or recorded lost); now the
    /// exact last id replaces the reservation, and the clean mark is set.
    fn finish(&mut self, last_id: u64) {
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            schema::set_meta(&tx, key::ID_FLOOR, int(last_id.max(self.stored_to)))?;
            if let Some(floor) = self.file_floor {
                raise_meta(&tx, key::FILE_FLOOR, floor)?;
            }
            schema::set_meta(&tx, key::CLEAN, 1)?;
            tx.commit()?;
            // Leave one tidy file: the WAL folded in and emptied.
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(
                "history: could not write the clean-stop mark ({}); the next start goes on \
                 above the reserved ids",
                Sqlite(&e)
            );
        }
        if !self.lost.is_empty() {
            tracing::warn!(
                "history: stopping while storing fails; the messages since then are not in \
                 history and their stretch is not recorded"
            );
        }
    }
}

/// A room of the `rooms` table.
#[derive(Debug, Clone)]
pub(super) struct Room {
    id: i64,
    /// As its latest stored message spells it (the key until one is stored). Only the key
    /// is read back; the name is for whoever reads the file.
    name: String,
}

/// The id of the room `key`, added to the file if it is not there yet, and spelt `name`
/// (a read marker has no spelling: `None`). `added` takes the rooms added or spelt anew,
/// for the writer to know once the transaction is committed.
fn room_id(
    tx: &Connection,
    known: &HashMap<String, Room>,
    added: &mut HashMap<String, Room>,
    key: &str,
    name: Option<&str>,
) -> rusqlite::Result<i64> {
    if let Some(room) = added.get(key).or_else(|| known.get(key)) {
        let id = room.id;
        if let Some(name) = name.filter(|&n| n != room.name) {
            tx.prepare_cached("UPDATE rooms SET name = ?2 WHERE id = ?1")?
                .execute(params![id, name])?;
            let name = name.to_owned();
            added.insert(key.to_owned(), Room { id, name });
        }
        return Ok(id);
    }
    // The update lets RETURNING give the row of a room already there.
    let (id, name) = tx
        .prepare_cached(
            "INSERT INTO rooms(key, name) VALUES (?1, coalesce(?2, ?1))
             ON CONFLICT(key) DO UPDATE SET name = coalesce(?2, name) RETURNING id, name",
        )?
        .query_row(params![key, name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    added.insert(key.to_owned(), Room { id, name });
    Ok(id)
}

/// Raises a value of `meta` to at least `value`.
fn raise_meta(conn: &Connection, name: &str, value: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
    )?
    .execute(params![name, int(value)])?;
    Ok(())
}
