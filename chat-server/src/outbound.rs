//! The outbound side of a connection: a bounded byte queue of encoded frames and the task
//! that writes it to the socket.
//!
//! Frames are encoded once, by whoever produces them; a broadcast appends the same encoded
//! bytes to every member's queue. A queue is one growable buffer, not a list of frames:
//! appending a 100-byte frame is a short copy under an uncontended lock, and the writer
//! takes everything queued since its last write in one swap and hands it to the kernel in
//! one `write`. Under load that coalesces tens or hundreds of frames per system call, which
//! is what decides how many deliveries a core can make (one small `write` costs a few
//! microseconds; one delivery here costs a fraction of one).
//!
//! Producers never wait: they use [`Outbox::push`], and a full queue means the client is not
//! reading, which the caller answers by disconnecting it. Only the writer task ever waits on
//! the socket, so a stuck peer stalls nothing but its own writer.
//!
//! File data takes a second, short queue, the [`FileLane`]: the writer takes from it only
//! when the chat queue is empty, so chat is never held back by a download, and downloads
//! wait for room in it (they do not count as a slow consumer).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use shared::{ErrorKind, ServerMsg, encode_frame};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// Capacity given to an empty queue on its first push: a burst of small frames then fills
/// it without reallocating at every frame. It is released when the writer empties the
/// queue, so an idle connection holds no buffer at all.
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
pub(crate) fn encode(msg: &ServerMsg) -> Bytes {
    encode_frame(msg).unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not encode a frame");
        let fallback = ServerMsg::Error {
            kind: ErrorKind::Internal,
            text: "the server could not encode its answer".into(),
        };
        // Cannot fail: the fallback is a few bytes. An empty frame would write nothing.
        encode_frame(&fallback).unwrap_or_default()
    })
}

/// State shared by the producers of one connection and its writer.
#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer: a frame was queued, or the last producer left.
    wake: Notify,
    /// Wakes file senders and [`Outbox::closed`]: the file lane has room, or the writer
    /// stopped.
    room: Notify,
    /// Live [`Outbox`] handles; when it drops to zero the writer finishes and closes.
    producers: AtomicUsize,
}

#[derive(Debug)]
struct Queue {
    bytes: BytesMut,
    /// The file lane: frames of file data, written only when `bytes` is empty. Lives here
    /// rather than in a channel of its own so that a connection that never downloads
    /// allocates nothing for it.
    files: VecDeque<Bytes>,
    /// Most bytes the queue may hold.
    limit: usize,
    /// The writer has stopped: nothing pushed will ever be written.
    writer_gone: bool,
    /// Every [`Outbox`] is gone: the writer ends once the queue is empty.
    producers_gone: bool,
}

impl Shared {
    /// Waits until `ready` returns something, checking it under the lock each time `room`
    /// is notified.
    async fn wait_for_room<T>(&self, mut ready: impl FnMut(&mut Queue) -> Option<T>) -> T {
        loop {
            // Registered before the check, so a notification between the check and the
            // wait is not lost (`notify_waiters` stores no permit).
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(done) = ready(&mut self.lock()) {
                return done;
            }
            notified.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue holds plain bytes; a panic elsewhere cannot leave it inconsistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The producing end of a connection's queue. Cloning it is cheap (a reference count).
#[derive(Debug)]
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The queue is full: the client does not read fast enough.
    Full,
    /// The writer has stopped (the socket failed or the connection is closing).
    Closed,
}

impl Outbox {
    /// Appends an encoded `frame` without waiting. A frame is queued whole or not at all.
    pub(crate) fn push(&self, frame: &[u8]) -> Result<(), PushError> {
        let mut queue = self.shared.lock();
        if queue.writer_gone {
            return Err(PushError::Closed);
        }
        if queue.bytes.len() + frame.len() > queue.limit {
            return Err(PushError::Full);
        }
        let was_empty = queue.bytes.is_empty();
        if queue.bytes.capacity() == 0 {
            let first = frame.len().max(FIRST_CAPACITY).min(queue.limit);
            queue.bytes.reserve(first);
        }
        queue.bytes.extend_from_slice(frame);
        drop(queue);
        if was_empty {
            self.shared.wake.notify_one();
        }
        Ok(())
    }

    /// Completes when the writer has stopped.
    pub(crate) async fn closed(&self) {
        self.shared
            .wait_for_room(|queue| queue.writer_gone.then_some(()))
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
    /// Queues `frame`, waiting for room. An error means the writer has stopped.
    pub(crate) async fn send(&self, frame: Bytes) -> Result<(), PushError> {
        let mut frame = Some(frame);
        self.shared
            .wait_for_room(|queue| {
                if queue.writer_gone {
                    return Some(Err(PushError::Closed));
                }
                if queue.files.len() >= FILE_LANE_FRAMES {
                    return None;
                }
                queue.files.extend(frame.take());
                Some(Ok(()))
            })
            .await?;
        self.shared.wake.notify_one();
        Ok(())
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.shared.producers.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.shared.producers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.lock().producers_gone = true;
            self.shared.wake.notify_one();
        }
    }
}

/// The consuming end of a connection's queue, for [`write_frames`].
#[derive(Debug)]
pub(crate) struct Frames {
    shared: Arc<Shared>,
}

impl Frames {
    /// Waits for something to write: all the queued chat bytes, or else one frame of the
    /// file lane. `None` once the chat queue is empty and every producer is gone.
    async fn next(&mut self) -> Option<Next> {
        loop {
            {
                let mut queue = self.shared.lock();
                if !queue.bytes.is_empty() {
                    return Some(Next::Chat(std::mem::take(&mut queue.bytes)));
                }
                if queue.producers_gone {
                    return None;
                }
                if let Some(frame) = queue.files.pop_front() {
                    if queue.files.capacity() > FILE_LANE_FRAMES && queue.files.is_empty() {
                        queue.files = VecDeque::new();
                    }
                    drop(queue);
                    self.shared.room.notify_waiters();
                    return Some(Next::File(frame));
                }
            }
            // A push between the check above and this wait stores a permit in `Notify`,
            // so the wake-up is not lost.
            self.shared.wake.notified().await;
        }
    }
}

#[cfg(test)]
impl Frames {
    /// Whatever is queued now, without waiting.
    pub(crate) fn take_now(&mut self) -> BytesMut {
        std::mem::take(&mut self.shared.lock().bytes)
    }
}

/// What the writer writes next.
enum Next {
    /// Every chat frame queued so far, in one buffer.
    Chat(BytesMut),
    /// One frame of file data.
    File(Bytes),
}

impl Drop for Frames {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.writer_gone = true;
        // Free what can no longer be written.
        queue.bytes = BytesMut::new();
        queue.files = VecDeque::new();
        drop(queue);
        self.shared.room.notify_waiters();
    }
}

/// Creates a queue that holds at most `limit_bytes`. The consuming end goes to
/// [`write_frames`].
pub(crate) fn queue(limit_bytes: usize) -> (Outbox, Frames) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            bytes: BytesMut::new(),
            files: VecDeque::new(),
            limit: limit_bytes,
            writer_gone: false,
            producers_gone: false,
        }),
        wake: Notify::new(),
        room: Notify::new(),
        producers: AtomicUsize::new(1),
    });
    (
        Outbox {
            shared: Arc::clone(&shared),
        },
        Frames { shared },
    )
}

/// Writes queued frames to `socket` until every [`Outbox`] is gone and the queue is empty,
/// then closes the sending direction so that the peer reads end of stream.
///
/// Everything queued while the previous write was in progress goes out in the next single
/// write. A frame of the file lane is written only when no chat frame is queued, one at a
/// time, so that a chat frame waits behind at most one chunk. The writer stops at the
/// first write error; the connection notices that the task ended.
pub(crate) async fn write_frames(mut frames: Frames, mut socket: OwnedWriteHalf) -> io::Result<()> {
    while let Some(next) = frames.next().await {
        match next {
            Next::Chat(batch) => socket.write_all(&batch).await?,
            Next::File(frame) => socket.write_all(&frame).await?,
        }
    }
    socket.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writer_sends_every_frame_in_order_then_closes() {
        use tokio::io::AsyncReadExt;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut all = Vec::new();
            stream.read_to_end(&mut all).await.unwrap();
            all
        });
        let (server, _) = listener.accept().await.unwrap();
        let (_read, write) = server.into_split();
        let (outbox, rx) = queue(1024);
        let writer = tokio::spawn(write_frames(rx, write));
        let extra = outbox.clone();
        for i in 0..10u8 {
            outbox.push(&vec![i; usize::from(i) + 1]).unwrap();
            tokio::task::yield_now().await;
        }
        drop(outbox);
        extra.push(b"end").unwrap();
        drop(extra);
        writer.await.unwrap().unwrap();
        let mut expected: Vec<u8> = (0..10u8)
            .flat_map(|i| std::iter::repeat_n(i, usize::from(i) + 1))
            .collect();
        expected.extend_from_slice(b"end");
        assert_eq!(client.await.unwrap(), expected);
    }

    #[tokio::test]
    async fn chat_frames_go_before_queued_file_frames() {
        use tokio::io::AsyncReadExt;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut all = Vec::new();
            stream.read_to_end(&mut all).await.unwrap();
            all
        });
        let (server, _) = listener.accept().await.unwrap();
        let (_read, write) = server.into_split();
        let (outbox, rx) = queue(1024);
        let lane = outbox.file_lane();
        // Both queues hold frames before the writer starts: the chat frames win.
        lane.send(Bytes::from_static(b"F1")).await.unwrap();
        lane.send(Bytes::from_static(b"F2")).await.unwrap();
        outbox.push(b"c1").unwrap();
        outbox.push(b"c2").unwrap();
        drop(lane);
        let writer = tokio::spawn(write_frames(rx, write));
        // Once the file lane is drained, the writer still serves chat.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        outbox.push(b"c3").unwrap();
        let watcher = outbox.clone();
        drop(outbox);
        drop(watcher);
        writer.await.unwrap().unwrap();
        assert_eq!(client.await.unwrap(), b"c1c2F1F2c3");
    }

    #[tokio::test]
    async fn closed_completes_when_the_writer_stops() {
        let (outbox, rx) = queue(16);
        let waiting = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.closed().await }
        });
        drop(rx);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("closed() completes")
            .unwrap();
    }

    #[test]
    fn a_full_queue_refuses_whole_frames_and_says_so() {
        let (outbox, rx) = queue(4);
        assert_eq!(outbox.push(b"abc"), Ok(()));
        assert_eq!(outbox.push(b"de"), Err(PushError::Full));
        assert_eq!(outbox.push(b"f"), Ok(()));
        drop(rx);
        assert_eq!(outbox.push(b""), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn an_emptied_queue_holds_no_buffer() {
        let (outbox, mut rx) = queue(1 << 20);
        outbox.push(&[1; 100]).unwrap();
        let Some(Next::Chat(batch)) = rx.next().await else {
            panic!("expected the chat batch");
        };
        assert_eq!(batch.len(), 100);
        assert_eq!(outbox.shared.lock().bytes.capacity(), 0);
    }
}
