//! The outbound side of a connection: a bounded queue of encoded frames and the task that
//! writes them to the socket.
//!
//! Frames are encoded once, by whoever produces them, into [`Bytes`]; a broadcast clones
//! the same `Bytes` (a reference count) into every member's queue. Producers never wait:
//! they use [`Outbox::push`], and a full queue means the client is not reading, which the
//! caller answers by disconnecting it. Only the writer task ever waits on the socket, so a
//! stuck peer stalls nothing but its own writer.

use std::io::{self, IoSlice};

use bytes::{Buf, Bytes};
use shared::{ErrorKind, ServerMsg, encode_frame};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Most frames the writer takes from its queue for one write: as many as tokio's
/// `write_all_buf` passes to one `writev`, so a batch is one system call when the socket
/// has room.
const MAX_BATCH: usize = 64;

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

/// The sending end of a connection's queue. Cloning it is cheap (a reference count).
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Bytes>,
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
    /// Queues `frame` without waiting.
    pub(crate) fn push(&self, frame: Bytes) -> Result<(), PushError> {
        self.tx.try_send(frame).map_err(|e| match e {
            TrySendError::Full(_) => PushError::Full,
            TrySendError::Closed(_) => PushError::Closed,
        })
    }
}

/// Creates a queue of `capacity` frames. The receiving end goes to [`write_frames`].
pub(crate) fn queue(capacity: usize) -> (Outbox, mpsc::Receiver<Bytes>) {
    // tokio refuses a zero capacity; one frame is the smallest meaningful queue.
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (Outbox { tx }, rx)
}

/// Writes queued frames to `socket` until every [`Outbox`] is gone and the queue is empty,
/// then closes the sending direction so that the peer reads end of stream.
///
/// Frames that are already queued when the writer wakes up are written together: one
/// system call and one flush for the batch instead of one per frame. The writer stops at
/// the first write error; the connection notices that the task ended.
pub(crate) async fn write_frames(
    mut frames: mpsc::Receiver<Bytes>,
    mut socket: OwnedWriteHalf,
) -> io::Result<()> {
    while let Some(mut first) = frames.recv().await {
        match frames.try_recv() {
            // The common case when the room is quiet: one frame, no allocation.
            Err(_) => socket.write_all_buf(&mut first).await?,
            Ok(second) => {
                // A burst. The batch is allocated per burst, never per frame, and dropped
                // afterwards so that an idle connection holds no buffer.
                let mut batch = Vec::with_capacity(MAX_BATCH);
                batch.push(first);
                batch.push(second);
                while batch.len() < MAX_BATCH {
                    match frames.try_recv() {
                        Ok(frame) => batch.push(frame),
                        Err(_) => break,
                    }
                }
                socket.write_all_buf(&mut Batch::new(&batch)).await?;
            }
        }
        socket.flush().await?;
    }
    socket.shutdown().await
}

/// Several frames seen as one buffer, so that `write_all_buf` hands them to a single
/// vectored write (`writev`) without copying them together.
struct Batch<'a> {
    /// Frames not yet completely written; the first may be partly written.
    frames: &'a [Bytes],
    /// Bytes of `frames[0]` already written.
    offset: usize,
    remaining: usize,
}

impl<'a> Batch<'a> {
    fn new(frames: &'a [Bytes]) -> Self {
        let remaining = frames.iter().map(Bytes::len).sum();
        let mut batch = Self {
            frames,
            offset: 0,
            remaining,
        };
        batch.skip_written();
        batch
    }

    /// Drops finished (or empty) frames from the front.
    fn skip_written(&mut self) {
        while let Some((first, rest)) = self.frames.split_first() {
            if self.offset < first.len() {
                break;
            }
            self.offset -= first.len();
            self.frames = rest;
        }
    }
}

impl Buf for Batch<'_> {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.frames.first().map_or(&[], |f| &f[self.offset..])
    }

    fn advance(&mut self, cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of the batch");
        self.remaining -= cnt;
        self.offset += cnt;
        self.skip_written();
    }

    fn chunks_vectored<'b>(&'b self, dst: &mut [IoSlice<'b>]) -> usize {
        let mut filled = 0;
        for (i, frame) in self.frames.iter().enumerate() {
            if filled == dst.len() {
                break;
            }
            let start = if i == 0 { self.offset } else { 0 };
            dst[filled] = IoSlice::new(&frame[start..]);
            filled += 1;
        }
        filled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"abc"),
            Bytes::new(),
            Bytes::from_static(b"de"),
            Bytes::from_static(b"fghi"),
        ]
    }

    #[test]
    fn batch_reads_as_the_concatenation() {
        let frames = frames();
        let mut batch = Batch::new(&frames);
        assert_eq!(batch.remaining(), 9);
        let mut out = Vec::new();
        // Advance by odd amounts to cross frame boundaries in the middle.
        while batch.has_remaining() {
            let take = batch.chunk().len().min(2);
            out.extend_from_slice(&batch.chunk()[..take]);
            batch.advance(take);
        }
        assert_eq!(out, b"abcdefghi");
        assert!(batch.chunk().is_empty());
    }

    #[test]
    fn batch_vectors_start_at_the_written_offset() {
        let frames = frames();
        let mut batch = Batch::new(&frames);
        batch.advance(4); // "abc" and "d"
        let mut slices = [IoSlice::new(&[]); 8];
        let n = batch.chunks_vectored(&mut slices);
        let parts: Vec<&[u8]> = slices[..n].iter().map(|s| &s[..]).collect();
        assert_eq!(parts, [&b"e"[..], &b"fghi"[..]]);
    }

    #[test]
    fn batch_vectors_fit_the_slots_given() {
        let frames = frames();
        let batch = Batch::new(&frames);
        let mut slices = [IoSlice::new(&[]); 1];
        assert_eq!(batch.chunks_vectored(&mut slices), 1);
        assert_eq!(&slices[0][..], b"abc");
    }

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
        let (outbox, rx) = queue(16);
        for i in 0..10u8 {
            outbox
                .push(Bytes::from(vec![i; usize::from(i) + 1]))
                .unwrap();
        }
        drop(outbox);
        write_frames(rx, write).await.unwrap();
        let expected: Vec<u8> = (0..10u8)
            .flat_map(|i| std::iter::repeat_n(i, usize::from(i) + 1))
            .collect();
        assert_eq!(client.await.unwrap(), expected);
    }

    #[test]
    fn a_full_queue_says_so() {
        let (outbox, rx) = queue(1);
        assert_eq!(outbox.push(Bytes::from_static(b"a")), Ok(()));
        assert_eq!(outbox.push(Bytes::from_static(b"b")), Err(PushError::Full));
        drop(rx);
        assert_eq!(
            outbox.push(Bytes::from_static(b"c")),
            Err(PushError::Closed)
        );
    }
}
