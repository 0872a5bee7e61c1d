//! The outbound side of a connection: a bounded byte queue of encoded frames, and the
//! [`Writer`] that the connection's task drives to write it to the socket.
//!
//! Frames are encoded once, by whoever produces them; a broadcast hands the same encoded
//! bytes to every member's queue. A frame that finds a queue empty is kept as it is,
//! shared (a reference count, no copy); the frames that follow it before the writer runs
//! are copied, with it, into one growable buffer: a short copy under an uncontended lock.
//! The writer takes everything queued since its last write in one swap and hands it to
//! the kernel in one `write`. Under load that coalesces tens or hundreds of frames per
//! system call, which is what decides how many deliveries a core can make (one small
//! `write` costs a few microseconds; one delivery here costs a fraction of one).
//!
//! Producers never wait: they use [`Outbox::push`], and a full queue means the client is not
//! reading, which the caller answers by cutting it off ([`Outbox::cut`]). Only the writer
//! ever waits on the socket, so a stuck peer stalls nothing but its own connection.
//!
//! The writer is not a task of its own: the connection's task polls it beside the socket's
//! read side (a push wakes that task), which saves every connection a second task and the
//! memory it holds while idle. Its state (the batch being written) lives in the [`Writer`],
//! not in a future, so the connection can stop polling it and come back without losing a
//! byte.
//!
//! File data takes a second, short queue, the [`FileLane`]: the writer takes from it only
//! when the chat queue is empty, so chat is never held back by a download, and downloads
//! wait for room in it (they do not count as a slow consumer).

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use serde::Serialize;
use shared::{AsVersion3, ErrorKind, ReplyTo, ServerMsg, encode_frame};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Capacity given to a queue's buffer when a second frame joins the first: a burst of
/// small frames then fills it without reallocating at every frame. It is released when the
/// writer empties the queue, so an idle connection holds no buffer at all.
const FIRST_CAPACITY: usize = 512;

/// Frames of file data queued for one connection. Each is a chunk of up to 64 KiB, and the
/// download tasks read ahead only this far, so a connection's downloads hold at most a
/// quarter of a megabyte on the server, while the writer always has the next chunk ready.
const FILE_LANE_FRAMES: usize = 4;

/// Encodes `msg` into a frame for [`Outbox::push`].
///
/// Encoding fails only for a message larger than the maximum frame (a member list of
/// thousands of long names, say). The failure is logged and the client gets an `Internal`
/// error in its place, so that it is not left waiting for an answer.
pub(crate) fn encode(msg: &impl Serialize) -> Bytes {
    encode_answer(None, msg)
}

/// Encodes `msg` as the answer to the request `reply` (wrapped in a `Reply` with its id),
/// or as itself when the request had no id. What [`encode`] says of a failure holds, and
/// the `Internal` error in its place carries the id too.
pub(crate) fn encode_answer(reply: Option<u32>, msg: &impl Serialize) -> Bytes {
    let encoded = match reply {
        Some(id) => encode_frame(&ReplyTo { id, msg }),
        None => encode_frame(msg),
    };
    encoded.unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not encode a frame");
        let fallback = ServerMsg::Error {
            kind: ErrorKind::Internal,
            text: "the server could not encode its answer".into(),
        };
        // Cannot fail: the fallback is a few bytes. An empty frame would write nothing.
        match reply {
            Some(id) => encode_frame(&ReplyTo { id, msg: &fallback }),
            None => encode_frame(&fallback),
        }
        .unwrap_or_default()
    })
}

/// A room message ([`ServerMsg::Room`]), encoded for each protocol version the first time
/// a member of that version needs it: a broadcast encodes once per version present in the
/// room, never once per member.
#[derive(Debug)]
pub(crate) struct RoomFrames<'a> {
    msg: &'a ServerMsg,
    version_3: OnceCell<Bytes>,
    version_4: OnceCell<Bytes>,
}

impl<'a> RoomFrames<'a> {
    pub(crate) fn new(msg: &'a ServerMsg) -> Self {
        Self {
            msg,
            version_3: OnceCell::new(),
            version_4: OnceCell::new(),
        }
    }

    /// The frame for a client that speaks `version`.
    pub(crate) fn for_version(&self, version: u16) -> &Bytes {
        if version >= 4 {
            self.version_4.get_or_init(|| encode(self.msg))
        } else {
            self.version_3.get_or_init(|| encode(&AsVersion3(self.msg)))
        }
    }
}

/// State shared by the producers of one connection and its writer.
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// When the client last completed a frame (milliseconds on the registry's clock),
    /// with [`PINGED`] set once the keepalive pinged it since. Written by the connection
    /// at every frame, read by the keepalive sweep: an atomic, not the queue's lock.
    heard: AtomicU64,
    /// Wakes file senders and [`Outbox::closed`]: the file lane has room, or the queue
    /// closed. Made by the first to wait: most connections never do, and this state is
    /// one allocation per connection (128 bytes with these fields; see the benchmarks).
    room: OnceLock<Box<Notify>>,
}

#[derive(Debug)]
struct Queue {
    chat: Chat,
    /// The file lane: frames of file data, written only when `chat` is empty. Lives here
    /// rather than in a channel of its own, boxed and only while it holds frames, so that
    /// a connection that is not downloading holds nothing for it.
    #[allow(
        clippy::box_collection,
        reason = "8 bytes in every queue instead of 32"
    )]
    files: Option<Box<VecDeque<Bytes>>>,
    /// Most bytes the queue may hold (`u32`, with the flags below, keeps the queue's
    /// shared state in a 128-byte allocation).
    limit: u32,
    /// The connection's task, when its writer found nothing to write; the next push wakes
    /// it.
    writer: Option<Waker>,
    /// Nothing pushed will be written any more: the writer is gone, or the client was cut
    /// off.
    closed: bool,
    /// Why the connection should end, once told (see [`Stopped`]).
    stop: Option<Stop>,
    /// The protocol version the client speaks, once logged in: which frame of a room
    /// message it gets ([`Outbox::push_room`]). Kept here, beside the flags, where it
    /// costs a connection no memory.
    speaks: u16,
}

/// Why a connection is told to end through its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Cut off as a slow consumer: nothing more is written.
    Cut,
    /// The client sent nothing for the idle timeout.
    TimedOut,
    /// The server is shutting down.
    ShuttingDown,
}

/// The bit of [`Shared::heard`] that says the client was pinged since it was last heard.
const PINGED: u64 = 1 << 63;

/// The chat frames queued for one connection, in order.
#[derive(Debug, Default)]
enum Chat {
    #[default]
    Empty,
    /// The only frame queued, shared with every member it went to: a frame that finds the
    /// queue empty (the usual case when traffic is light) is queued without an allocation
    /// or a copy, and the writer writes the shared bytes.
    Single(Bytes),
    /// Two frames or more, copied into one buffer for one write.
    Batch(BytesMut),
}

impl Chat {
    fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::Single(frame) => frame.len(),
            Self::Batch(batch) => batch.len(),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    fn push(&mut self, frame: &Bytes) {
        match self {
            Self::Empty => *self = Self::Single(frame.clone()),
            Self::Single(single) => {
                let mut batch =
                    BytesMut::with_capacity((single.len() + frame.len()).max(FIRST_CAPACITY));
                batch.extend_from_slice(single);
                batch.extend_from_slice(frame);
                *self = Self::Batch(batch);
            }
            Self::Batch(batch) => batch.extend_from_slice(frame),
        }
    }

    /// Everything queued, leaving the queue empty and holding no buffer.
    fn take(&mut self) -> Bytes {
        match std::mem::take(self) {
            Self::Empty => Bytes::new(),
            Self::Single(frame) => frame,
            Self::Batch(batch) => batch.freeze(),
        }
    }
}

impl Queue {
    /// Why the writer should stop writing, if it should; only a cut once the connection
    /// is no longer `serving` (while it flushes its last frames).
    fn stopped(&self, serving: bool) -> Option<Stopped> {
        match self.stop? {
            Stop::Cut => Some(Stopped::Cut),
            _ if !serving => None,
            Stop::TimedOut => Some(Stopped::TimedOut),
            Stop::ShuttingDown => Some(Stopped::ShuttingDown),
        }
    }

    /// Drops what can no longer be written and says so to everyone waiting.
    fn close(&mut self) -> Option<Waker> {
        self.closed = true;
        self.chat = Chat::default();
        self.files = None;
        self.writer.take()
    }
}

impl Shared {
    /// Waits until `ready` returns something, checking it under the lock each time `room`
    /// is notified.
    async fn wait_for_room<T>(&self, mut ready: impl FnMut(&mut Queue) -> Option<T>) -> T {
        loop {
            // Registered before the check, so a notification between the check and the
            // wait is not lost (`notify_waiters` stores no permit).
            let notified = self.room.get_or_init(Box::default).notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(done) = ready(&mut self.lock()) {
                return done;
            }
            notified.await;
        }
    }

    /// Closes the queue (see [`Queue::close`]), for `stop` if given, and wakes everyone
    /// who waits on it: the file senders and the connection's task.
    fn close(&self, stop: Option<Stop>) {
        let mut queue = self.lock();
        if stop.is_some() {
            queue.stop = stop;
        }
        let writer = queue.close();
        drop(queue);
        self.notify_room();
        if let Some(writer) = writer {
            writer.wake();
        }
    }

    /// Wakes whoever waits in [`Shared::wait_for_room`]; no one does if no one ever made
    /// the `Notify` (a connection that never downloads never does).
    fn notify_room(&self) {
        if let Some(room) = self.room.get() {
            room.notify_waiters();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue holds plain bytes; a panic elsewhere cannot leave it inconsistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wakes the connection's task, if its writer left its waker (see [`Writer`]), once the
/// lock is released.
fn wake_writer(mut queue: MutexGuard<'_, Queue>) {
    let writer = queue.writer.take();
    drop(queue);
    if let Some(writer) = writer {
        writer.wake();
    }
}

/// The producing end of a connection's queue. Cloning it is cheap (a reference count).
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue is full: the client does not read fast enough.
    Full,
    /// The queue is closed (the socket failed, the connection is closing, or the client
    /// was cut off).
    Closed,
}

impl Outbox {
    /// Appends an encoded `frame` without waiting. A frame is queued whole or not at all.
    pub(crate) fn push(&self, frame: &Bytes) -> Result<(), PushError> {
        Self::push_locked(self.shared.lock(), frame)
    }

    /// Appends the frame of a room message for the version the client speaks.
    pub(crate) fn push_room(&self, frames: &RoomFrames<'_>) -> Result<(), PushError> {
        let queue = self.shared.lock();
        let frame = frames.for_version(queue.speaks);
        Self::push_locked(queue, frame)
    }

    /// Records the protocol version the client speaks, before it enters a room.
    pub(crate) fn set_speaks(&self, version: u16) {
        self.shared.lock().speaks = version;
    }

    /// The protocol version the client speaks (the oldest served until it logs in).
    pub(crate) fn speaks(&self) -> u16 {
        self.shared.lock().speaks
    }

    fn push_locked(mut queue: MutexGuard<'_, Queue>, frame: &Bytes) -> Result<(), PushError> {
        if queue.closed {
            return Err(PushError::Closed);
        }
        if queue.chat.len() + frame.len() > queue.limit as usize {
            return Err(PushError::Full);
        }
        let was_empty = queue.chat.is_empty();
        queue.chat.push(frame);
        // Frames pushed onto a non-empty queue go out with the first one's write.
        if was_empty {
            wake_writer(queue);
        }
        Ok(())
    }

    /// Cuts the client off: drops what is queued, refuses everything from now on, and
    /// wakes the connection, whose writer then stops with [`Stopped::Cut`].
    pub(crate) fn cut(&self) {
        self.shared.close(Some(Stop::Cut));
    }

    /// Tells the connection that the server is shutting down: its writer stops with
    /// [`Stopped::ShuttingDown`] (what is queued stays, for the connection to flush). One
    /// wake-up per connection at shutdown, instead of every connection watching a shared
    /// token at every event.
    pub(crate) fn shut_down(&self) {
        self.tell(Stop::ShuttingDown);
    }

    /// Tells the connection that its client has been silent for the idle timeout: its
    /// writer stops with [`Stopped::TimedOut`].
    pub(crate) fn time_out(&self) {
        self.tell(Stop::TimedOut);
    }

    /// Asks the connection to end (unless it was told already), keeping what is queued.
    fn tell(&self, stop: Stop) {
        let mut queue = self.shared.lock();
        queue.stop.get_or_insert(stop);
        wake_writer(queue);
    }

    /// Records that the client completed a frame at `now_ms` (the registry's clock).
    pub(crate) fn heard(&self, now_ms: u64) {
        self.shared.heard.store(now_ms & !PINGED, Ordering::Relaxed);
    }

    /// When the client was last heard from, and whether it was pinged since.
    pub(crate) fn last_heard(&self) -> (u64, bool) {
        let heard = self.shared.heard.load(Ordering::Relaxed);
        (heard & !PINGED, heard & PINGED != 0)
    }

    /// Marks the client as pinged, unless it was heard from meanwhile (then there is no
    /// need); `heard_ms` is what [`Outbox::last_heard`] returned.
    pub(crate) fn mark_pinged(&self, heard_ms: u64) -> bool {
        self.shared
            .heard
            .compare_exchange(
                heard_ms,
                heard_ms | PINGED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Completes when the queue has closed: the connection is ending or ended.
    pub(crate) async fn closed(&self) {
        self.shared
            .wait_for_room(|queue| queue.closed.then_some(()))
            .await;
    }

    /// A handle on this connection's file lane.
    pub(crate) fn file_lane(&self) -> FileLane {
        FileLane {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The sending end of a connection's file lane: frames of file data that wait for room
/// instead of failing when the lane is full.
#[derive(Debug, Clone)]
pub(crate) struct FileLane {
    shared: Arc<Shared>,
}

impl FileLane {
    /// Queues `frame`, waiting for room. An error means the queue has closed.
    pub(crate) async fn send(&self, frame: Bytes) -> Result<(), PushError> {
        let mut frame = Some(frame);
        self.shared
            .wait_for_room(|queue| {
                if queue.closed {
                    return Some(Err(PushError::Closed));
                }
                let files = queue.files.get_or_insert_default();
                if files.len() >= FILE_LANE_FRAMES {
                    return None;
                }
                files.extend(frame.take());
                Some(Ok(()))
            })
            .await?;
        wake_writer(self.shared.lock());
        Ok(())
    }
}

/// Creates an empty queue that holds at most `limit_bytes` of chat frames. Its
/// [`Writer`] is made with [`Writer::new`].
pub(crate) fn queue(limit_bytes: usize) -> Outbox {
    Outbox {
        shared: Arc::new(Shared {
            queue: Mutex::new(Queue {
                chat: Chat::default(),
                files: None,
                limit: u32::try_from(limit_bytes).unwrap_or(u32::MAX),
                writer: None,
                closed: false,
                stop: None,
                speaks: shared::OLDEST_VERSION,
            }),
            heard: AtomicU64::new(0),
            room: OnceLock::new(),
        }),
    }
}

/// Why a [`Writer`] stopped.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// Writing to the socket failed.
    Failed(io::Error),
    /// The client was cut off ([`Outbox::cut`]).
    Cut,
    /// The client was silent for the idle timeout ([`Outbox::time_out`]).
    TimedOut,
    /// The server is shutting down ([`Outbox::shut_down`]).
    ShuttingDown,
}

/// Writes a connection's queue to its socket, driven by the connection's task.
///
/// Everything queued while the previous write was in progress goes out in the next single
/// write. A frame of the file lane is written only when no chat frame is queued, one at a
/// time, so that a chat frame waits behind at most one chunk. Dropping the writer closes
/// the queue.
#[derive(Debug)]
pub(crate) struct Writer<W = OwnedWriteHalf> {
    shared: Arc<Shared>,
    socket: W,
    /// What is being written (a batch of chat frames or one frame of file data) and not
    /// yet accepted by the socket; empty when the writer is idle.
    current: Bytes,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// The writer of `outbox`'s queue, to `socket`. Make one per queue.
    pub(crate) fn new(outbox: &Outbox, socket: W) -> Self {
        Self {
            shared: Arc::clone(&outbox.shared),
            socket,
            current: Bytes::new(),
        }
    }

    /// Writes until nothing is queued; stops at a cut, and at a shutdown if `serving`.
    /// Whenever this returns `Pending` or `Ready(Ok)`, the
    /// queue holds the task's waker, so that a push onto the empty queue, or a cut, wakes
    /// the task (the socket wakes it too when it has room again).
    fn poll_drain(&mut self, cx: &mut Context<'_>, serving: bool) -> Poll<Result<(), Stopped>> {
        loop {
            while !self.current.is_empty() {
                match Pin::new(&mut self.socket).poll_write(cx, &self.current) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(Stopped::Failed(io::ErrorKind::WriteZero.into())));
                    }
                    Poll::Ready(Ok(written)) => self.current.advance(written),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Stopped::Failed(e))),
                    Poll::Pending => {
                        // The peer does not read: stay reachable for a cut or a shutdown.
                        let mut queue = self.shared.lock();
                        if let Some(stopped) = queue.stopped(serving) {
                            return Poll::Ready(Err(stopped));
                        }
                        register(&mut queue, cx);
                        return Poll::Pending;
                    }
                }
            }
            // Frees the written batch before the next one is taken.
            self.current = Bytes::new();
            let mut queue = self.shared.lock();
            if let Some(stopped) = queue.stopped(serving) {
                return Poll::Ready(Err(stopped));
            }
            if !queue.chat.is_empty() {
                self.current = queue.chat.take();
                continue;
            }
            let Some(frame) = queue.files.as_mut().and_then(|files| files.pop_front()) else {
                register(&mut queue, cx);
                return Poll::Ready(Ok(()));
            };
            if queue.files.as_ref().is_some_and(|files| files.is_empty()) {
                queue.files = None;
            }
            drop(queue);
            self.shared.notify_room();
            self.current = frame;
        }
    }

    /// Writes what is queued, as it comes. Completes only when the writer stops; until
    /// then it can be dropped and called again without losing anything, as a branch of a
    /// `select!`.
    pub(crate) async fn run(&mut self) -> Stopped {
        poll_fn(|cx| self.poll_run(cx)).await
    }

    /// [`Writer::run`] for a hand-written poll.
    pub(crate) fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Stopped> {
        match self.poll_drain(cx, true) {
            Poll::Ready(Err(stopped)) => Poll::Ready(stopped),
            // Nothing to write: the queue holds the waker.
            Poll::Ready(Ok(())) | Poll::Pending => Poll::Pending,
        }
    }

    /// Writes everything queued, then closes the sending direction so that the peer reads
    /// end of stream.
    pub(crate) async fn finish(&mut self) -> Result<(), Stopped> {
        poll_fn(|cx| self.poll_drain(cx, false)).await?;
        self.socket.shutdown().await.map_err(Stopped::Failed)
    }
}

/// Leaves the task's waker in the queue, for the next push onto an empty queue or a cut.
fn register(queue: &mut Queue, cx: &Context<'_>) {
    if !queue
        .writer
        .as_ref()
        .is_some_and(|w| w.will_wake(cx.waker()))
    {
        queue.writer = Some(cx.waker().clone());
    }
}

impl<W> Drop for Writer<W> {
    fn drop(&mut self) {
        self.shared.close(None);
    }
}

#[cfg(test)]
impl Outbox {
    /// Whatever is queued now, taken without a writer.
    pub(crate) fn take_now(&self) -> Bytes {
        self.shared.lock().chat.take()
    }

    /// Whether the connection was told its client timed out.
    pub(crate) fn timed_out(&self) -> bool {
        self.shared.lock().stop == Some(Stop::TimedOut)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;
    use tokio::net::tcp::OwnedReadHalf;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::oneshot;

    use super::*;

    /// Every connection holds one of these (behind an `Arc`, whose counts add 16 bytes):
    /// 128 bytes in all, one small allocation. A change that makes it larger should be a
    /// choice, made here.
    #[test]
    fn the_shared_state_of_a_queue_stays_small() {
        let size = std::mem::size_of::<Shared>();
        assert!(
            size + 16 <= 128,
            "the queue's shared state grew to {size} bytes"
        );
    }

    /// A room message encoded for each version on first need, once.
    #[test]
    fn room_frames_encode_once_per_version() {
        let msg = ServerMsg::Room {
            id: 7,
            seq: 3,
            time_ms: 1,
            room: "lobby".into(),
            event: shared::RoomEvent::Joined { nick: "ann".into() },
        };
        let frames = RoomFrames::new(&msg);
        let v4 = frames.for_version(4).clone();
        assert_eq!(v4, encode(&msg));
        assert_eq!(
            frames.for_version(4).as_ptr(),
            v4.as_ptr(),
            "not encoded again"
        );
        assert_eq!(frames.for_version(3), &encode(&AsVersion3(&msg)));
        let old = queue(1024);
        let new = queue(1024);
        new.set_speaks(4);
        old.push_room(&frames).unwrap();
        new.push_room(&frames).unwrap();
        assert_eq!(old.take_now(), encode(&AsVersion3(&msg)));
        assert_eq!(new.take_now(), v4);
    }

    /// A connected pair on loopback: the client end, and the server's halves.
    async fn sockets() -> (TcpStream, OwnedReadHalf, OwnedWriteHalf) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        let (read, write) = accepted.unwrap().0.into_split();
        (client.unwrap(), read, write)
    }

    /// Drives `writer` as a connection does, until told to finish; returns how it ended.
    fn drive(
        mut writer: Writer,
    ) -> (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), Stopped>>,
    ) {
        let (finish, finishing) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tokio::select! {
                stopped = writer.run() => Err(stopped),
                _ = finishing => writer.finish().await,
            }
        });
        (finish, task)
    }

    async fn read_all(mut client: TcpStream) -> Vec<u8> {
        let mut all = Vec::new();
        client.read_to_end(&mut all).await.unwrap();
        all
    }

    #[tokio::test]
    async fn writer_sends_every_frame_in_order_then_closes() {
        let (client, _read, write) = sockets().await;
        let reader = tokio::spawn(read_all(client));
        let outbox = queue(1024);
        let (finish, writer) = drive(Writer::new(&outbox, write));
        for i in 0..10u8 {
            outbox
                .push(&Bytes::from(vec![i; usize::from(i) + 1]))
                .unwrap();
            tokio::task::yield_now().await;
        }
        outbox.push(&Bytes::from_static(b"end")).unwrap();
        finish.send(()).unwrap();
        writer.await.unwrap().unwrap();
        let mut expected: Vec<u8> = (0..10u8)
            .flat_map(|i| std::iter::repeat_n(i, usize::from(i) + 1))
            .collect();
        expected.extend_from_slice(b"end");
        assert_eq!(reader.await.unwrap(), expected);
        // The writer is gone: nothing more is accepted.
        assert_eq!(
            outbox.push(&Bytes::from_static(b"late")),
            Err(PushError::Closed)
        );
    }

    #[tokio::test]
    async fn chat_frames_go_before_queued_file_frames() {
        let (client, _read, write) = sockets().await;
        let reader = tokio::spawn(read_all(client));
        let outbox = queue(1024);
        let lane = outbox.file_lane();
        // Both queues hold frames before the writer starts: the chat frames win.
        lane.send(Bytes::from_static(b"F1")).await.unwrap();
        lane.send(Bytes::from_static(b"F2")).await.unwrap();
        outbox.push(&Bytes::from_static(b"c1")).unwrap();
        outbox.push(&Bytes::from_static(b"c2")).unwrap();
        let (finish, writer) = drive(Writer::new(&outbox, write));
        // Once the file lane is drained, the writer still serves chat.
        tokio::time::sleep(Duration::from_millis(50)).await;
        outbox.push(&Bytes::from_static(b"c3")).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        finish.send(()).unwrap();
        writer.await.unwrap().unwrap();
        assert_eq!(reader.await.unwrap(), b"c1c2F1F2c3");
    }

    #[tokio::test]
    async fn closed_completes_when_the_writer_is_dropped() {
        let (_client, _read, write) = sockets().await;
        let outbox = queue(16);
        let writer = Writer::new(&outbox, write);
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.closed().await }
        });
        drop(writer);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("closed() completes")
            .unwrap();
    }

    #[test]
    fn a_full_queue_refuses_whole_frames_and_a_cut_one_everything() {
        let outbox = queue(4);
        assert_eq!(outbox.push(&Bytes::from_static(b"abc")), Ok(()));
        assert_eq!(
            outbox.push(&Bytes::from_static(b"de")),
            Err(PushError::Full)
        );
        assert_eq!(outbox.push(&Bytes::from_static(b"f")), Ok(()));
        outbox.cut();
        assert_eq!(
            outbox.push(&Bytes::from_static(b"")),
            Err(PushError::Closed)
        );
        assert!(outbox.take_now().is_empty(), "a cut drops what was queued");
    }

    #[tokio::test]
    async fn a_cut_stops_a_writer_stuck_on_a_peer_that_does_not_read() {
        let (_client, _read, write) = sockets().await;
        let outbox = queue(64 << 20);
        let (_finish, writer) = drive(Writer::new(&outbox, write));
        // Far more than the two sockets' buffers hold: the writer blocks in `write`.
        for _ in 0..256 {
            outbox.push(&Bytes::from(vec![7; 64 * 1024])).unwrap();
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!writer.is_finished(), "the writer is waiting for the peer");
        outbox.cut();
        let stopped = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the cut wakes the writer")
            .unwrap();
        assert!(matches!(stopped, Err(Stopped::Cut)), "{stopped:?}");
    }

    #[test]
    fn a_lone_frame_is_shared_and_later_ones_are_batched_in_order() {
        let outbox = queue(1024);
        let first = Bytes::from(vec![1u8; 10]);
        outbox.push(&first).unwrap();
        let taken = outbox.take_now();
        assert_eq!(taken.as_ptr(), first.as_ptr(), "queued without a copy");
        for frame in [
            &first,
            &Bytes::from_static(b"two"),
            &Bytes::from_static(b"three"),
        ] {
            outbox.push(frame).unwrap();
        }
        let mut expected = first.to_vec();
        expected.extend_from_slice(b"twothree");
        assert_eq!(outbox.take_now(), expected);
        assert!(outbox.take_now().is_empty());
    }

    #[tokio::test]
    async fn an_emptied_queue_holds_no_buffer() {
        let (client, _read, write) = sockets().await;
        let outbox = queue(1 << 20);
        let mut writer = Writer::new(&outbox, write);
        outbox.push(&Bytes::from(vec![1; 100])).unwrap();
        writer.finish().await.unwrap();
        assert!(matches!(outbox.shared.lock().chat, Chat::Empty));
        assert!(writer.current.is_empty());
        assert_eq!(read_all(client).await.len(), 100);
    }
}
