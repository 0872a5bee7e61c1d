//! History: every room message kept in one SQLite file, so that a room remembers across
//! restarts, a reconnecting client learns what it missed, and older pages load on demand.
//!
//! # Shape
//!
//! - One writer thread ([`writer`]) owns the only write connection. The registry hands it
//!   each stamped message through [`History::record`], under the registry's lock and so in
//!   stamp order, without ever waiting: fan-out never waits for the disk. From a batch's
//!   first message the writer gathers for up to [`writer::CORK`] (5 ms; less when a query
//!   waits for the batch), takes everything queued (up to [`BATCH_CAP`]) and commits it in
//!   one transaction (group commit), then publishes the highest message id it has dealt
//!   with (stored, or recorded as lost) as its *watermark*.
//! - Backpressure: a connection takes a [`Permit`] ([`History::admit`]) before it handles a
//!   chat or an action; the permit rides with the message and is released when its batch
//!   is committed. With [`PERMITS`] out, the next sender waits, so a writer that falls
//!   behind slows the senders (they stop being read, as with the rate limit) instead of
//!   the queue growing without bound or history being dropped. Joins, leaves, renames and
//!   offers go without a permit: the connection limits bound them.
//! - Reads ([`read`]) run on a small pool of read-only connections in `spawn_blocking`:
//!   WAL readers never block the writer nor each other. At most [`QUERIES_AT_ONCE`] run
//!   at once on the whole server ([`turns`]), whatever the number of clients; a query
//!   that waits longer than [`QUERY_WAIT`] for its turn answers that the server is
//!   crowded. A page or a catch-up first
//!   *settles*: it waits until the watermark reaches the last id recorded when it was
//!   asked, so an answer holds everything stamped before the request was read.
//! - Search reads an FTS5 index that the writer fills *behind* the writes, in chunks,
//!   when it has a moment, so that a burst is never slowed by the index.
//! - Topics ([`topics`]): the writer keeps each room's topic in the `topics` table with
//!   its next commit; all of them (at most [`MAX_KEPT_TOPICS`]) are read into memory at
//!   open, so that the registry reads a room's topic without waiting ([`History::topic`]).
//! - Retention ([`retention`]) deletes old messages between batches, a few hundred rows per
//!   transaction, never in one long one.
//! - A commit that fails (a full disk) loses its batch: the messages' ranges are kept in
//!   memory ([`lost`]) and written to the `gaps` table once a commit succeeds again, so
//!   that answers say where history is incomplete. Chat goes on live meanwhile.
//! - Ids never repeat ([`schema`]): the file keeps a floor above every id handed out,
//!   reserved ahead in blocks of [`ID_BLOCK`]; a clean stop writes the exact last id. It
//!   keeps the highest file id offered in a room too, stored or lost (the members saw
//!   it), so that file ids go on above it even once the file is gone from the disk.
//!
//! # Durability
//!
//! WAL with `synchronous=NORMAL`: a commit survives a crash of the process (not
//! necessarily a power cut). After a clean stop ([`History::close`]) everything recorded is
//! stored. After `kill -9`, what the writer had not committed is missing:
//!
//! - In count: at most [`PERMITS`] (4,096) chats and actions. A permit is held from before
//!   the message is handled until its batch is committed, so the permits cover the queue
//!   and the batch being committed together; [`BATCH_CAP`] adds nothing to the bound. With
//!   them go the joins, leaves, renames and file offers recorded meanwhile (they take no
//!   permit; the connection limits bound them) and the read markers not yet committed.
//! - In time: normally what came during the last [`writer::CORK`] (5 ms, the writer
//!   gathering a batch) and the commit under way, plus an indexing or retention step if
//!   one was running (a few milliseconds each). A writer that is behind has at most the
//!   4,096 chats and actions ahead of it, some 15 ms at its pace (about 300,000 a second,
//!   docs/BENCHMARKS.md). Well under 100 ms in all, unless the disk itself stalls.
//!
//! Ids never repeat but in one case. The id floor on disk is at least [`ID_BLOCK`]` / 2`
//! (500,000) above every id handed out whenever the file has taken the latest reservation.
//! While storing fails, ids go on being handed out (chat goes on live), and the floors are
//! tried alone, in a one-row transaction, after every failed commit (at least every 5 s
//! while anything waits to be stored) and as soon as a new reservation comes: a file that
//! refuses a batch but takes a small write keeps the floor above the ids. A disk that is
//! really full takes not even that (SQLite can neither grow its log nor fold it into the
//! file; seen on a full tmpfs). So ids repeat only if the file takes no write at all while
//! more than 500,000 ids are handed out, and the server then stops without its clean-stop
//! mark (`kill -9`, a crash, or a clean stop whose last write fails too): the ids handed
//! out above the floor on disk are handed out again after the restart, and the rooms'
//! sequence numbers above it with them.

mod error;
mod lost;
mod read;
mod retention;
mod rows;
mod schema;
#[cfg(test)]
mod tests;
mod topics;
mod turns;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::auth::PublicKey;
use shared::{Anchor, PrivateLine, ServerMsg, Stamped};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use error::{HistoryError, OpenError};
pub use topics::{MAX_KEPT_TOPICS, Topic};

/// Most messages in one writer transaction. Large enough that a burst commits in few
/// transactions (a commit costs about as much as a hundred inserts), small enough that
/// one batch commits in a few milliseconds.
pub const BATCH_CAP: usize = 1024;

/// Chats and actions that may wait for the writer at once; the next sender waits for a
/// permit. About a twentieth of a second of the writer's pace under load.
pub const PERMITS: usize = 4096;

/// Ids reserved ahead in the file: after a crash, ids go on above the reservation, so
/// none handed out before it repeats. A new block is asked for when half of this one
/// is used (the writer stores it long before the ids run out).
pub const ID_BLOCK: u64 = 1_000_000;

/// Most messages in one page, by default (and the most a client can ask for).
pub const DEFAULT_PAGE_CAP: u32 = 200;
/// Most messages in one catch-up, by default.
pub const DEFAULT_CATCH_UP_CAP: u32 = 500;
/// Most hits in one search answer, by default.
pub const DEFAULT_SEARCH_CAP: u32 = 100;
/// Messages a first join gets, by default.
pub const DEFAULT_BACKLOG: u32 = 50;

/// History queries that run at once on the whole server, whatever the number of clients:
/// each takes a thread of the blocking pool and a read connection, and a search up to
/// [`read::SEARCH_DEADLINE`] of a core, so this is what all clients together can take of
/// the machine for history. Pages and catch-ups take a millisecond or two: two at a time
/// answer a whole LAN reconnecting at once within a fraction of a second. The pool of
/// read connections keeps as many.
pub const QUERIES_AT_ONCE: usize = 2;

/// How long a query waits for its turn ([`QUERIES_AT_ONCE`]) before it answers
/// [`HistoryError::Crowded`] instead of queueing on.
pub const QUERY_WAIT: Duration = Duration::from_secs(3);
/// Messages older than this are deleted, by default: 90 days, a season of a LAN's talk.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(90 * 24 * 3600);
/// Most messages (chats, actions, shared files) kept per room, by default, and as many
/// joins, leaves and renames apart: a busy room's several months, about 20 MB.
pub const DEFAULT_MAX_PER_ROOM: u64 = 100_000;

/// What the history keeps and how much it gives at once.
#[derive(Debug, Clone)]
pub struct HistorySettings {
    /// The database file (created when missing).
    pub path: PathBuf,
    /// Messages older than this are deleted; `None`: kept whatever their age.
    pub max_age: Option<Duration>,
    /// Most messages (chats, actions, shared files) kept per room; its joins, leaves and
    /// renames are counted apart, up to the same number. `None`: no limit.
    pub max_per_room: Option<u64>,
    /// Messages a first join gets (a catch-up with `after` 0), at most `catch_up_cap`.
    pub backlog: u32,
    /// Most messages in one page.
    pub page_cap: u32,
    /// Most messages in one catch-up.
    pub catch_up_cap: u32,
    /// Most hits in one search answer.
    pub search_cap: u32,
}

impl HistorySettings {
    /// The defaults above, for the file `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_age: Some(DEFAULT_MAX_AGE),
            max_per_room: Some(DEFAULT_MAX_PER_ROOM),
            backlog: DEFAULT_BACKLOG,
            page_cap: DEFAULT_PAGE_CAP,
            catch_up_cap: DEFAULT_CATCH_UP_CAP,
            search_cap: DEFAULT_SEARCH_CAP,
        }
    }

    /// Messages a first join gets: `backlog`, at most `catch_up_cap`.
    pub fn join_backlog(&self) -> u32 {
        self.backlog.min(self.catch_up_cap)
    }
}

/// Where ids go on after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// Message ids go on after this one (and rooms' sequence numbers open above it).
    pub last_id: u64,
    /// File ids go on after this one (or after the highest file on disk, if higher).
    pub last_file_id: u64,
    /// Whether the last run stopped cleanly ([`History::close`]); after a crash, the ids
    /// go on above the reservation, up to a batch of messages may be missing, and the file
    /// was checked whole before use (after a clean stop it is not: see [`schema`]).
    pub clean: bool,
}

/// The history handle: cheap to clone, shared by the registry and every connection.
/// Either on (a database and its writer) or off (`--no-history`).
#[derive(Clone, Debug)]
pub struct History {
    inner: Option<Arc<Inner>>,
}

/// Leave to send a chat or an action to the writer: see [`History::admit`].
#[derive(Debug)]
pub struct Permit {
    /// Released when dropped: when the message's batch is dealt with.
    _held: Option<OwnedSemaphorePermit>,
}

/// What every clone of an open history shares.
#[derive(Debug)]
struct Inner {
    settings: HistorySettings,
    /// Bounds the chats and actions queued for the writer.
    permits: Arc<Semaphore>,
    /// Jobs for the writer, in stamp order.
    queue: std::sync::mpsc::Sender<writer::Job>,
    /// The highest message id given to `record`.
    last_recorded: AtomicU64,
    /// The highest id known to be handed out (recorded or not, private messages too).
    last_used: AtomicU64,
    /// The id up to which a floor reservation has been asked for.
    reserved: AtomicU64,
    /// The writer's watermark: every message up to this id is stored or recorded lost.
    committed: tokio::sync::watch::Receiver<writer::Progress>,
    /// `MarkRead` jobs queued so far (see [`writer::Progress::marks`]).
    marks_sent: AtomicU64,
    /// `Private` jobs queued so far (see [`writer::Progress::privates`]).
    privates_sent: AtomicU64,
    /// Lost ranges not yet written to the file, shared with the readers.
    lost: Arc<lost::Pending>,
    /// Read-only connections.
    readers: read::Pool,
    /// Turns to run a query ([`QUERIES_AT_ONCE`]).
    turns: turns::Turns,
    /// The rooms' topics, as the file has them once the writer has caught up.
    topics: topics::Kept,
    /// The writer thread, to hurry it along when a query waits for its batch.
    writer: std::thread::Thread,
    /// The writer thread, joined by `close`.
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// How long a page or a catch-up waits for the writer to store what it must hold. The
/// writer deals with a batch in milliseconds (and records it lost at once when the disk
/// fails), so this is reached only by a writer stuck in the file system.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

impl History {
    /// Opens (or creates) the database of `settings` and starts the writer thread.
    ///
    /// Fails with one clear line when the file cannot be used (not a database, another
    /// program's database, a newer schema, corrupt, unwritable); the file is then left
    /// exactly as it was.
    pub fn open(settings: HistorySettings) -> Result<(History, Resume), OpenError> {
        let opened = schema::open(&settings.path)?;
        let kept = topics::load(&opened.conn).map_err(|e| OpenError::Unusable {
            path: settings.path.clone(),
            detail: schema::Sqlite(&e).to_string(),
        })?;
        let (queue, jobs) = std::sync::mpsc::channel();
        let (committed_tx, committed) = tokio::sync::watch::channel(writer::Progress::default());
        let lost = Arc::new(lost::Pending::default());
        let writer = writer::Writer::new(
            opened.conn,
            jobs,
            committed_tx,
            Arc::clone(&lost),
            opened.indexed_to,
            &settings,
        )
        .map_err(|e| OpenError::Unusable {
            path: settings.path.clone(),
            detail: schema::Sqlite(&e).to_string(),
        })?;
        let thread = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| OpenError::Unwritable {
                path: settings.path.clone(),
                detail: format!("its writer thread could not start: {e}"),
            })?;
        let resume = opened.resume;
        let inner = Inner {
            writer: thread.thread().clone(),
            readers: read::Pool::new(settings.path.clone()),
            turns: turns::Turns::new(QUERIES_AT_ONCE, QUERY_WAIT),
            settings,
            permits: Arc::new(Semaphore::new(PERMITS)),
            queue,
            last_recorded: AtomicU64::new(0),
            last_used: AtomicU64::new(resume.last_id),
            reserved: AtomicU64::new(opened.reserved),
            committed,
            marks_sent: AtomicU64::new(0),
            privates_sent: AtomicU64::new(0),
            lost,
            topics: topics::Kept::new(kept),
            thread: std::sync::Mutex::new(Some(thread)),
        };
        let history = History {
            inner: Some(Arc::new(inner)),
        };
        Ok((history, resume))
    }

    /// A history that keeps nothing (`--no-history`): [`History::record`] does nothing and
    /// every query answers [`HistoryError::Off`].
    pub fn off() -> History {
        History { inner: None }
    }

    /// Whether history is kept.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// The [`ServerMsg::HistoryInfo`] frame a client that was granted the feature gets
    /// (all zeros when history is off: then the feature is not granted and it is not
    /// sent).
    pub fn info(&self) -> ServerMsg {
        let Some(inner) = &self.inner else {
            return ServerMsg::HistoryInfo {
                page: 0,
                catch_up: 0,
                backlog: 0,
                search: 0,
                max_age_secs: 0,
                max_per_room: 0,
            };
        };
        let s = &inner.settings;
        ServerMsg::HistoryInfo {
            page: s.page_cap,
            catch_up: s.catch_up_cap,
            backlog: s.join_backlog(),
            search: s.search_cap,
            max_age_secs: s.max_age.map_or(0, |a| a.as_secs()),
            max_per_room: s.max_per_room.unwrap_or(0),
        }
    }

    /// Waits for leave to queue one chat or action for the writer (immediate when history
    /// is off). Take it before handling the message, so that a writer that is behind stops
    /// the sender from being read.
    pub async fn admit(&self) -> Permit {
        let Some(inner) = &self.inner else {
            return Permit { _held: None };
        };
        Permit {
            _held: Arc::clone(&inner.permits).acquire_owned().await.ok(),
        }
    }

    /// Queues `msg`, stamped in the room `room_key` (its fold) spelt `room_name`, for the
    /// writer; never waits. Call it under the registry's lock, right after stamping, so
    /// that the queue is in stamp order. `permit` is the one taken for a chat or an action;
    /// presence and offers come without.
    ///
    /// It takes the message and the room's name by value: the registry has owned copies
    /// that it would drop right after, and this runs for every message under its lock.
    pub fn record(&self, room_key: &str, room_name: String, msg: Stamped, permit: Option<Permit>) {
        let Some(inner) = &self.inner else {
            return;
        };
        inner.last_recorded.fetch_max(msg.id, Ordering::AcqRel);
        inner.used(msg.id);
        // After `close` the writer is gone and the message is dropped: nothing records
        // then, once the server is stopping.
        let _ = inner
            .queue
            .send(writer::Job::Message(Box::new(writer::Record {
                room_key: room_key.to_owned(),
                room_name,
                msg,
                _permit: permit,
            })));
    }

    /// The topic kept for the room `room_key`, if any: what the registry gives a room that
    /// opens. Never waits for the disk. `None` when history is off.
    pub fn topic(&self, room_key: &str) -> Option<Topic> {
        self.inner.as_ref()?.topics.get(room_key)
    }

    /// Keeps `topic` as the topic of the room `room_key` spelt `room_name` (`None`: it has
    /// none any more): at once for [`History::topic`], in the file with the writer's next
    /// commit. Never waits. Nothing when history is off.
    pub fn set_topic(&self, room_key: &str, room_name: &str, topic: Option<Topic>) {
        let Some(inner) = &self.inner else {
            return;
        };
        let forgotten = inner.topics.set(room_key, topic.clone());
        let job = |room_key: &str, room_name: &str, topic| writer::Job::Topic {
            room_key: room_key.to_owned(),
            room_name: room_name.to_owned(),
            topic,
        };
        let _ = inner.queue.send(job(room_key, room_name, topic));
        if let Some(old) = forgotten {
            // A deletion keeps the spelling the file has.
            let _ = inner.queue.send(job(&old, "", None));
        }
    }

    /// Says that ids up to `last_id` have been handed out (private messages take ids too).
    /// Cheap; queues a new floor reservation when half of the current one is used.
    pub fn ids_used(&self, last_id: u64) {
        if let Some(inner) = &self.inner {
            inner.used(last_id);
        }
    }

    /// The highest message id given to [`History::record`].
    pub fn last_recorded(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.last_recorded.load(Ordering::Acquire))
    }

    /// A page of the room's history around `anchor`, at most `limit` messages (capped),
    /// in ascending order; joins, leaves and renames only with `presence`. Answers
    /// [`ServerMsg::HistoryPage`].
    pub async fn page(
        &self,
        room_key: &str,
        room_name: &str,
        anchor: Anchor,
        limit: u32,
        presence: bool,
    ) -> Result<ServerMsg, HistoryError> {
        let limit = limit.min(self.settings()?.page_cap);
        self.settle().await?;
        self.query(room_key, room_name, move |room| {
            read::page(room, anchor, limit, presence)
        })
        .await
    }

    /// What followed the sequence number `after` in the room (the newest `backlog` when
    /// `after` is 0), with the gap when more was missed than the cap and the nick's read
    /// marker. Answers [`ServerMsg::CaughtUp`].
    pub async fn catch_up(
        &self,
        room_key: &str,
        room_name: &str,
        after: u64,
        nick_key: &str,
    ) -> Result<ServerMsg, HistoryError> {
        let settings = self.settings()?;
        let cap = if after == 0 {
            settings.join_backlog()
        } else {
            settings.catch_up_cap
        };
        self.settle().await?;
        let nick_key = nick_key.to_owned();
        self.query(room_key, room_name, move |room| {
            read::catch_up(room, after, cap, &nick_key)
        })
        .await
    }

    /// The room's messages that hold every word of `words`, newest first, older than the
    /// sequence number `before` (0: from the newest). Answers [`ServerMsg::SearchHits`].
    ///
    /// Words are matched whole (case and accents aside), at most
    /// [`read::MAX_SEARCH_WORDS`] of them; a run of Chinese or Japanese without spaces is
    /// one word. The newest messages become searchable a moment after they are stored
    /// (the index follows the writes). The search stops after
    /// [`read::SEARCH_DEADLINE`] and answers what it found, `complete` false.
    pub async fn search(
        &self,
        room_key: &str,
        room_name: &str,
        words: &str,
        before: u64,
        limit: u32,
    ) -> Result<ServerMsg, HistoryError> {
        let limit = limit.min(self.settings()?.search_cap);
        let words = words.to_owned();
        self.query(room_key, room_name, move |room| {
            read::search(room, &words, before, limit, read::SEARCH_DEADLINE)
        })
        .await
    }

    /// Keeps the private message `line` for the conversation of the keys `a` and `b`
    /// (the two owners, in any order). Queued to the writer; never waits. Nothing when
    /// history is off.
    pub fn record_private(&self, a: &PublicKey, b: &PublicKey, line: PrivateLine) {
        let Some(inner) = &self.inner else {
            return;
        };
        inner.used(line.id);
        inner.privates_sent.fetch_add(1, Ordering::AcqRel);
        let pair = conversation(a, b);
        let _ = inner
            .queue
            .send(writer::Job::Private(Box::new(writer::PrivateRecord {
                pair,
                line,
            })));
    }

    /// The private messages kept between the keys `a` and `b` older than the id `before`
    /// (0: from the newest), at most `limit` (capped at the page size). Answers
    /// [`ServerMsg::PrivateHistory`], `with` as the asker named the other.
    pub async fn private_page(
        &self,
        a: &PublicKey,
        b: &PublicKey,
        with: String,
        before: u64,
        limit: u32,
    ) -> Result<ServerMsg, HistoryError> {
        let limit = limit.min(self.settings()?.page_cap);
        self.settle().await?;
        let pair = conversation(a, b);
        let (messages, more) = self
            .read(move |conn| read::private_page(conn, &pair, before, limit))
            .await?;
        Ok(ServerMsg::PrivateHistory {
            with,
            messages,
            more,
        })
    }

    /// Keeps that the nick `nick_key` (its fold) has read the room up to `seq` (a lower
    /// number than the one kept is ignored). Queued to the writer; never waits.
    pub fn mark_read(&self, nick_key: &str, room_key: &str, seq: u64) {
        if let Some(inner) = &self.inner {
            inner.marks_sent.fetch_add(1, Ordering::AcqRel);
            let _ = inner.queue.send(writer::Job::MarkRead {
                nick: nick_key.to_owned(),
                room_key: room_key.to_owned(),
                seq,
            });
        }
    }

    /// Stops the writer cleanly: everything queued is committed, the exact last id and
    /// the clean-stop mark are written, the thread is joined. Call it once nothing records
    /// any more (after the registry has closed); later records are dropped.
    pub async fn close(self) {
        let Some(inner) = self.inner else {
            return;
        };
        let last_id = inner
            .last_used
            .load(Ordering::Acquire)
            .max(inner.last_recorded.load(Ordering::Acquire));
        let (done, stopped) = tokio::sync::oneshot::channel();
        if inner
            .queue
            .send(writer::Job::Close { last_id, done })
            .is_ok()
        {
            let _ = stopped.await;
        }
        let thread = inner
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    fn settings(&self) -> Result<&HistorySettings, HistoryError> {
        self.inner
            .as_ref()
            .map(|i| &i.settings)
            .ok_or(HistoryError::Off)
    }

    /// Waits until the writer has dealt with everything recorded, and every read marker
    /// kept, so far.
    async fn settle(&self) -> Result<(), HistoryError> {
        let Some(inner) = &self.inner else {
            return Err(HistoryError::Off);
        };
        let marks = inner.marks_sent.load(Ordering::Acquire);
        let privates = inner.privates_sent.load(Ordering::Acquire);
        let target = inner.last_recorded.load(Ordering::Acquire);
        let mut committed = inner.committed.clone();
        let ready =
            |p: &writer::Progress| p.id >= target && p.marks >= marks && p.privates >= privates;
        if !ready(&committed.borrow()) {
            // The writer may be gathering a batch: this one is wanted now.
            inner.writer.unpark();
        }
        let done = committed.wait_for(ready);
        match tokio::time::timeout(SETTLE_TIMEOUT, done).await {
            // A writer that has stopped has stored all it ever will.
            Ok(_) => Ok(()),
            Err(_) => Err(HistoryError::Busy),
        }
    }

    /// Runs `f` on a read connection, off the runtime's threads, in its turn (at most
    /// [`QUERIES_AT_ONCE`] at once; [`HistoryError::Crowded`] after [`QUERY_WAIT`]).
    async fn query<R: Send + 'static>(
        &self,
        room_key: &str,
        room_name: &str,
        f: impl FnOnce(&read::Room<'_>) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, HistoryError> {
        let inner = Arc::clone(self.inner.as_ref().ok_or(HistoryError::Off)?);
        let (key, name) = (room_key.to_owned(), room_name.to_owned());
        self.read(move |conn| {
            let room = read::Room::new(conn, &inner.lost, &key, &name)?;
            f(&room)
        })
        .await
    }

    /// Runs `f` on a read connection, in one read transaction, off the runtime's threads,
    /// in its turn, as [`History::query`] says.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, HistoryError> {
        let inner = Arc::clone(self.inner.as_ref().ok_or(HistoryError::Off)?);
        let turn = inner.turns.take().await?;
        let result = tokio::task::spawn_blocking(move || {
            // Held by the work itself: a query whose asker stopped waiting still counts
            // until it is done.
            let _turn = turn;
            inner.readers.with(f)
        })
        .await;
        // Not logged here: the connection that asked logs it, once in a while.
        match result {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(HistoryError::Unreadable(schema::Sqlite(&e).to_string())),
            Err(_) => Err(HistoryError::Unreadable("the query stopped".into())),
        }
    }
}

/// A conversation's key in the file: the two keys, the lower first, so that both owners
/// name the same one.
fn conversation(a: &PublicKey, b: &PublicKey) -> [u8; 64] {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut pair = [0; 64];
    pair[..32].copy_from_slice(low.as_bytes());
    pair[32..].copy_from_slice(high.as_bytes());
    pair
}

impl Inner {
    /// Ids up to `id` are handed out: reserve the next block once half of this one is
    /// used, long before the ids reach it.
    fn used(&self, id: u64) {
        self.last_used.fetch_max(id, Ordering::AcqRel);
        let reserved = self.reserved.load(Ordering::Acquire);
        if id + ID_BLOCK / 2 > reserved
            && self
                .reserved
                .compare_exchange(reserved, id + ID_BLOCK, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let _ = self.queue.send(writer::Job::Floor(id + ID_BLOCK));
        }
    }
}
