//! A connection's bounded queue of encoded frames: [`Outbox`], its producing end, which
//! never waits, and the state it shares with the connection's [`Writer`](super::Writer).
//!
//! The queue also carries what the rest of the server tells a connection without waiting
//! for it: a cut, a timeout, the shutdown ([`Stop`]), and the protocol version the client
//! speaks. How long the client has been silent is its [`Liveness`], beside the queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use super::encode::RoomFrames;
use super::file_lane::FileLane;
use super::liveness::Liveness;
use super::writer::Stopped;

/// Capacity given to a queue's buffer when a second frame joins the first: a burst of
/// small frames then fills it without reallocating at every frame. It is released when the
/// writer empties the queue, so an idle connection holds no buffer at all.
const FIRST_CAPACITY: usize = 512;

/// State shared by the producers of one connection and its writer.
#[derive(Debug)]
pub(super) struct Shared {
    queue: Mutex<Queue>,
    /// When the client was last heard from: written by the connection at every frame,
    /// read by the keepalive sweep.
    liveness: Liveness,
    /// Wakes file senders and [`Outbox::closed`]: the file lane has room, or the queue
    /// closed. Made by the first to wait: most connections never do, and this state is
    /// one allocation per connection (128 bytes with these fields; see the benchmarks).
    room: OnceLock<Box<Notify>>,
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) chat: Chat,
    /// The file lane: frames of file data, written only when `chat` is empty. Lives here
    /// rather than in a channel of its own, boxed and only while it holds frames, so that
    /// a connection that is not downloading holds nothing for it.
    #[allow(
        clippy::box_collection,
        reason = "8 bytes in every queue instead of 32"
    )]
    pub(super) files: Option<Box<VecDeque<Bytes>>>,
    /// Most bytes the queue may hold (`u32`, with the flags below, keeps the queue's
    /// shared state in a 128-byte allocation).
    limit: u32,
    /// The connection's task, when its writer found nothing to write; the next push wakes
    /// it.
    pub(super) writer: Option<Waker>,
    /// Nothing pushed will be written any more: the writer is gone, or the client was cut
    /// off.
    pub(super) closed: bool,
    /// Why the connection should end, once told (see [`Stopped`]).
    stop: Option<Stop>,
    /// The protocol version the client speaks, once logged in: which frame of a room
    /// message it gets ([`Outbox::push_room`]). Kept here, beside the flags, where it
    /// costs a connection no memory.
    speaks: u16,
    /// Whether the client was granted the feature "auth", whose errors only such a client
    /// can read (what a kick tells it). In the same padding as `speaks`.
    auth: bool,
}

/// Why a connection is told to end through its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Cut off as a slow consumer: nothing more is written.
    Cut,
    /// The client sent nothing for the idle timeout.
    TimedOut,
    /// The server is shutting down.
    ShuttingDown,
    /// An operator removed the client (a kick, a ban): it is out of the registry, and
    /// its last frame is queued.
    Removed,
}

/// The chat frames queued for one connection, in order.
#[derive(Debug, Default)]
pub(super) enum Chat {
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

    pub(super) fn is_empty(&self) -> bool {
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
    pub(super) fn take(&mut self) -> Bytes {
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
    pub(super) fn stopped(&self, serving: bool) -> Option<Stopped> {
        match self.stop? {
            Stop::Cut => Some(Stopped::Cut),
            _ if !serving => None,
            Stop::TimedOut => Some(Stopped::TimedOut),
            Stop::ShuttingDown => Some(Stopped::ShuttingDown),
            Stop::Removed => Some(Stopped::Removed),
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
    pub(super) async fn wait_for_room<T>(
        &self,
        mut ready: impl FnMut(&mut Queue) -> Option<T>,
    ) -> T {
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
    pub(super) fn close(&self, stop: Option<Stop>) {
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
    pub(super) fn notify_room(&self) {
        if let Some(room) = self.room.get() {
            room.notify_waiters();
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue holds plain bytes; a panic elsewhere cannot leave it inconsistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wakes the connection's task, if its writer left its waker (see [`Writer`](super::Writer)), once the
/// lock is released.
pub(super) fn wake_writer(mut queue: MutexGuard<'_, Queue>) {
    let writer = queue.writer.take();
    drop(queue);
    if let Some(writer) = writer {
        writer.wake();
    }
}

/// The producing end of a connection's queue. Cloning it is cheap (a reference count).
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    pub(super) shared: Arc<Shared>,
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

    /// Records that the client was granted the feature "auth".
    pub(crate) fn grant_auth(&self) {
        self.shared.lock().auth = true;
    }

    /// Whether the client was granted the feature "auth".
    pub(crate) fn has_auth(&self) -> bool {
        self.shared.lock().auth
    }

    /// Tells the connection that an operator removed its client: its writer stops with
    /// [`Stopped::Removed`], and what is queued (the reason) is flushed before it closes.
    pub(crate) fn remove(&self) {
        self.tell(Stop::Removed);
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

    /// Completes when the queue has closed: the connection is ending or ended.
    pub(crate) async fn closed(&self) {
        self.shared
            .wait_for_room(|queue| queue.closed.then_some(()))
            .await;
    }

    /// A handle on this connection's file lane.
    pub(crate) fn file_lane(&self) -> FileLane {
        FileLane::new(Arc::clone(&self.shared))
    }

    /// When the client was last heard from, for the keepalive.
    pub(crate) fn liveness(&self) -> &Liveness {
        &self.shared.liveness
    }
}

/// Creates an empty queue that holds at most `limit_bytes` of chat frames. Its
/// [`Writer`](super::Writer) is made with [`Writer::new`](super::Writer::new).
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
                auth: false,
            }),
            liveness: Liveness::default(),
            room: OnceLock::new(),
        }),
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
}
