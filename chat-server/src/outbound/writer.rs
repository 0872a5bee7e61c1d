//! The writer: drains a connection's queue into its socket, polled by the connection's own
//! task beside the reads. Everything queued since the last write goes out in one `write`.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::queue::{Outbox, Queue, Shared};

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
    /// An operator removed the client ([`Outbox::remove`]).
    Removed,
}

/// Writes a connection's queue to its socket, driven by the connection's task.
///
/// Everything queued while the previous write was in progress goes out in the next single
/// write. A frame of the file lane is written only when no chat frame is queued, one at a
/// time, so that a chat frame waits behind at most one chunk. Dropping the writer closes
/// the queue.
///
/// The writer does not own the socket: each call is lent it, so that one stream, owned by
/// the connection, serves both directions. Any stream does (`AsyncWrite`); the writer's
/// state does not depend on which.
#[derive(Debug)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
    /// What is being written (a batch of chat frames or one frame of file data) and not
    /// yet accepted by the socket; empty when the writer is idle.
    current: Bytes,
}

impl Writer {
    /// The writer of `outbox`'s queue. Make one per queue.
    pub(crate) fn new(outbox: &Outbox) -> Self {
        Self {
            shared: Arc::clone(&outbox.shared),
            current: Bytes::new(),
        }
    }

    /// Writes until nothing is queued; stops at a cut, and at a shutdown if `serving`.
    /// Whenever this returns `Pending` or `Ready(Ok)`, the
    /// queue holds the task's waker, so that a push onto the empty queue, or a cut, wakes
    /// the task (the socket wakes it too when it has room again).
    fn poll_drain<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        socket: &mut W,
        serving: bool,
    ) -> Poll<Result<(), Stopped>> {
        loop {
            ready!(self.poll_current(cx, socket, serving))?;
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
                drop(queue);
                // A stream that buffers may hold the end of what it accepted (TLS keeps
                // the records its socket had no room for) until it is flushed; going idle
                // without flushing would leave them there until the next write. A TCP
                // socket's flush does nothing. Pending: the socket wakes the task when it
                // has room, and the next poll flushes again.
                return match Pin::new(&mut *socket).poll_flush(cx) {
                    Poll::Ready(Err(e)) => Poll::Ready(Err(Stopped::Failed(e))),
                    Poll::Ready(Ok(())) | Poll::Pending => Poll::Ready(Ok(())),
                };
            };
            if queue.files.as_ref().is_some_and(|files| files.is_empty()) {
                queue.files = None;
            }
            drop(queue);
            self.shared.notify_room();
            self.current = frame;
        }
    }

    /// Writes what is being written (`current`) to its end, and takes nothing more from
    /// the queue. `Pending` (the peer does not read) leaves the task's waker in the queue,
    /// so that a cut or a shutdown reaches it.
    fn poll_current<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        socket: &mut W,
        serving: bool,
    ) -> Poll<Result<(), Stopped>> {
        while !self.current.is_empty() {
            match Pin::new(&mut *socket).poll_write(cx, &self.current) {
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
        Poll::Ready(Ok(()))
    }

    /// Writes `frame`, an answer the connection has been waiting for, right after
    /// everything queued so far, **outside the queue's bound**, and returns once it is
    /// written: an answer may be larger than the whole queue (a page of history is most
    /// of a frame), and the client asked for it, so it is no sign of a slow consumer.
    ///
    /// The frames queued before it go first, with it; those queued meanwhile wait in the
    /// queue, within its bound, as they do behind any batch being written. The caller
    /// reads nothing more from the client until this returns, so a client holds at most
    /// one such answer on the server beyond its queue. The wait ends, as [`Writer::run`]
    /// does, at a cut (the queue filled up meanwhile), a timeout (the client went silent)
    /// or a shutdown, which the error says.
    pub(crate) async fn write_now<W: AsyncWrite + Unpin>(
        &mut self,
        socket: &mut W,
        frame: &Bytes,
    ) -> Result<(), Stopped> {
        let queued = {
            let mut queue = self.shared.lock();
            if let Some(stopped) = queue.stopped(true) {
                return Err(stopped);
            }
            queue.chat.take()
        };
        // In turn, without copying them together: what was being written, what was
        // queued, then the answer (most of a frame).
        for next in [queued, frame.clone()] {
            poll_fn(|cx| self.poll_current(cx, socket, true)).await?;
            self.current = next;
        }
        poll_fn(|cx| self.poll_current(cx, socket, true)).await?;
        self.current = Bytes::new();
        Ok(())
    }

    /// Writes what is queued, as it comes. Completes only when the writer stops; until
    /// then it can be dropped and called again without losing anything, as a branch of a
    /// `select!`.
    pub(crate) async fn run<W: AsyncWrite + Unpin>(&mut self, socket: &mut W) -> Stopped {
        poll_fn(|cx| self.poll_run(cx, socket)).await
    }

    /// [`Writer::run`] for a hand-written poll.
    pub(crate) fn poll_run<W: AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        socket: &mut W,
    ) -> Poll<Stopped> {
        match self.poll_drain(cx, socket, true) {
            Poll::Ready(Err(stopped)) => Poll::Ready(stopped),
            // Nothing to write: the queue holds the waker.
            Poll::Ready(Ok(())) | Poll::Pending => Poll::Pending,
        }
    }

    /// Writes everything queued, then closes the sending direction so that the peer reads
    /// end of stream.
    pub(crate) async fn finish<W: AsyncWrite + Unpin>(
        &mut self,
        socket: &mut W,
    ) -> Result<(), Stopped> {
        poll_fn(|cx| self.poll_drain(cx, socket, false)).await?;
        socket.shutdown().await.map_err(Stopped::Failed)
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

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.close(None);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncReadExt;
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::oneshot;

    use super::*;
    use crate::outbound::PushError;
    use crate::outbound::queue::{Chat, queue};

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
        mut socket: OwnedWriteHalf,
    ) -> (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), Stopped>>,
    ) {
        let (finish, finishing) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tokio::select! {
                stopped = writer.run(&mut socket) => Err(stopped),
                _ = finishing => writer.finish(&mut socket).await,
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
        let (finish, writer) = drive(Writer::new(&outbox), write);
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
        let (finish, writer) = drive(Writer::new(&outbox), write);
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
        let (_client, _read, _write) = sockets().await;
        let outbox = queue(16);
        let writer = Writer::new(&outbox);
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

    #[tokio::test]
    async fn a_cut_stops_a_writer_stuck_on_a_peer_that_does_not_read() {
        let (_client, _read, write) = sockets().await;
        let outbox = queue(64 << 20);
        let (_finish, writer) = drive(Writer::new(&outbox), write);
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

    #[tokio::test]
    async fn an_answer_larger_than_the_queue_goes_after_what_was_queued_before_it() {
        let (client, _read, mut write) = sockets().await;
        let reader = tokio::spawn(read_all(client));
        let outbox = queue(16);
        let mut writer = Writer::new(&outbox);
        outbox.push(&Bytes::from_static(b"before")).unwrap();
        let answer = Bytes::from(vec![b'a'; 100_000]);
        assert_eq!(
            outbox.push(&answer),
            Err(PushError::Full),
            "larger than the queue"
        );
        writer.write_now(&mut write, &answer).await.unwrap();
        // Written: the queue has its whole bound again.
        outbox.push(&Bytes::from_static(b"after")).unwrap();
        writer.finish(&mut write).await.unwrap();
        let mut expected = b"before".to_vec();
        expected.extend_from_slice(&answer);
        expected.extend_from_slice(b"after");
        assert_eq!(reader.await.unwrap(), expected);
    }

    #[tokio::test]
    async fn a_cut_ends_the_wait_for_an_answer_the_peer_does_not_read() {
        let (_client, _read, mut write) = sockets().await;
        let outbox = queue(16);
        let mut writer = Writer::new(&outbox);
        // Far more than the two sockets' buffers hold.
        let answer = Bytes::from(vec![b'a'; 64 << 20]);
        let cutting = tokio::spawn({
            let outbox = outbox.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                outbox.cut();
            }
        });
        let written = tokio::time::timeout(
            Duration::from_secs(5),
            writer.write_now(&mut write, &answer),
        )
        .await
        .expect("the cut ends the wait");
        assert!(matches!(written, Err(Stopped::Cut)), "{written:?}");
        cutting.await.unwrap();
    }

    #[tokio::test]
    async fn an_emptied_queue_holds_no_buffer() {
        let (client, _read, mut write) = sockets().await;
        let outbox = queue(1 << 20);
        let mut writer = Writer::new(&outbox);
        outbox.push(&Bytes::from(vec![1; 100])).unwrap();
        writer.finish(&mut write).await.unwrap();
        assert!(matches!(outbox.shared.lock().chat, Chat::Empty));
        assert!(writer.current.is_empty());
        assert_eq!(read_all(client).await.len(), 100);
    }
}
