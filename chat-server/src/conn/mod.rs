//! One client connection: the handshake, then a loop that reads frames and acts on them
//! while its [`Writer`] (see [`crate::outbound`]) drains its queue, both in one task.
//!
//! Every way a connection ends is an [`Ending`]: the reason the room is told, and the last
//! frame the client gets where the connection still allows one. Nothing here panics on
//! input; a codec error ends only this connection.
//!
//! - `handshake`: the first frame, up to the login.
//! - `cmd`: acting on each request, one file per family of requests.
//! - `throttle`: the rate limit, the flooder cut off, and the history's backpressure.
//! - `ending`: every way a connection ends, and the close.
//!
//! - `context`: what the server lends every connection: the registry, the files, and its
//!   [`Policy`].
//!
//! This file holds the connection itself and its loop: events from the stream and the
//! writer, one at a time. The connection is generic over its stream (any
//! `AsyncRead + AsyncWrite`, see [`crate::transport`]); only what touches the stream is:
//! acting on a request is done by its [`Client`] part, the same code for every stream.

mod cmd;
mod context;
mod ending;
mod handshake;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use bytes::BytesMut;
use futures::{FutureExt, StreamExt};
use shared::rate::{self, TokenBucket};
use shared::{ClientMsg, CodecError, ErrorKind, RoomRequest, ServerCodec, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::common::{ClientId, Refusal};
use crate::files::Transfers;
use crate::outbound::{self, FileLane, Outbox, PushError, Stopped, Writer, encode_answer};
use crate::transport::{Binding, PeerAddr};
use cmd::Later;
pub(crate) use context::{Context, Live, LiveCell, Policy};
use ending::Ending;

/// The read buffer starts empty and grows with the frames that arrive...
const READ_BUFFER_START: usize = 0;

/// ...and once a large frame has gone through, an emptied buffer bigger than this is
/// released, so that an idle connection does not keep the memory of its largest frame.
const READ_BUFFER_KEEP: usize = 4 * 1024;

/// Bytes of requests a connection handles in a row before it lets other tasks run.
///
/// A client that sends fast has its frames waiting in the read buffer, so its task could
/// go on handling them (and filling every member's queue) for tokio's whole cooperative
/// budget of 128 operations, while the members' tasks, woken meanwhile to write, wait their
/// turn: tokio runs a woken task on the waker's own worker, after the waker yields. Without
/// this, a burst larger than a queue would make a member look slow that is not. The budget
/// counts bytes, not frames, because what a burst puts in each member's queue is its size:
/// 16 KiB is about a hundred typical chat lines, so writers still coalesce that many
/// frames per system call (where the server's time per delivery goes), but only four of
/// the largest texts, far below any sensible queue.
const BYTES_PER_TURN: usize = 16 * 1024;

/// What handling `msg` may add to each member's queue, for [`BYTES_PER_TURN`]: its text
/// plus the stamp, names and header a broadcast adds.
fn turn_cost(msg: &ClientMsg) -> usize {
    const OVERHEAD: usize = 64;
    OVERHEAD
        + match msg {
            ClientMsg::Chat { text } | ClientMsg::Action { text } => text.len(),
            ClientMsg::Private { text, .. } => text.len(),
            ClientMsg::InRoom {
                msg: RoomRequest::Chat { text } | RoomRequest::Action { text },
                ..
            } => text.len(),
            _ => 0,
        }
}

/// Serves one accepted connection, over any byte stream, until it ends.
///
/// Not an `async fn`: its arguments would be kept twice in the task's state (once as they
/// were passed, once moved into the body), for the connection's whole life. The state is
/// the [`Connection`] and the shutdown token, no more.
pub(crate) fn serve<S>(
    stream: S,
    peer: PeerAddr,
    ctx: Arc<Context>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Binding + Unpin + Send + 'static,
{
    // The policy in force now, for the connection's whole life (a reload changes the
    // policy of the connections accepted after it).
    let policy = Arc::clone(&ctx.live().policy);
    let outbox = outbound::queue(policy.queue_bytes);
    let lane = outbox.file_lane();
    let writer = Writer::new(&outbox);
    let mut conn = Connection {
        frames: FramedRead::with_capacity(stream, ServerCodec::default(), READ_BUFFER_START),
        writer,
        client: Client {
            outbox,
            lane,
            transfers: None,
            ctx,
            policy,
            peer,
            id: None,
            history: false,
            rooms: false,
            auth: false,
        },
    };
    async move {
        // The handshake and the close are boxed: they run once, briefly, and their state
        // (timers, the first frame) would otherwise enlarge this task for its whole life.
        let ending = match Box::pin(conn.handshake(&shutdown)).await {
            Ok(()) => conn.chat().await,
            Err(ending) => ending,
        };
        Box::pin(conn.close(ending)).await;
    }
}

/// A connection: its stream, read through the codec and written by the writer, and the
/// rest, which does not depend on the stream.
struct Connection<S> {
    /// The stream, whole: frames are read from it, and the writer is lent it to write.
    /// One task does both, so the stream is not split (no lock, no shared allocation).
    frames: FramedRead<S, ServerCodec>,
    writer: Writer,
    client: Client,
}

/// What a connection knows besides its stream: what acting on a request needs, so that
/// this code is the same whatever the stream.
struct Client {
    /// This connection's own handle on its queue, for answers that only it gets.
    outbox: Outbox,
    /// Where downloads queue their chunks, behind the chat frames.
    lane: FileLane,
    /// Uploads and downloads; boxed and made on first use, so that a connection that
    /// only chats stays small.
    transfers: Option<Box<Transfers>>,
    ctx: Arc<Context>,
    /// The rules this connection follows, as they were when it was accepted.
    policy: Arc<Policy>,
    peer: PeerAddr,
    /// Set once logged in.
    id: Option<ClientId>,
    /// Whether the client was granted the feature "history".
    history: bool,
    /// Whether the client was granted the feature "rooms".
    rooms: bool,
    /// Whether the client was granted the feature "auth": the errors of that feature
    /// reach only such a client (an older one could not decode them).
    auth: bool,
}

/// What the chat loop keeps between events.
struct ChatState {
    /// Bytes of requests handled since the task last let others run.
    spent_in_turn: usize,
    /// Whether the client said something to its room since then.
    said: bool,
    /// The client's message rate; `None` when the server sets none.
    bucket: Option<TokenBucket<Instant>>,
    /// Since when the client has been held back by the rate without a break (a pause
    /// that lets the bucket fill up halfway).
    throttled_since: Option<Instant>,
}

/// What the chat loop awaits after an event: a wait for the rate, or a file message.
type Waiting<'a> = Pin<Box<dyn Future<Output = Result<(), Ending>> + Send + 'a>>;

/// What woke the chat loop up.
enum Event {
    Frame(Option<Result<ClientMsg, CodecError>>),
    WriterStopped(Stopped),
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    /// Serves a logged-in client until the connection ends. A shutdown reaches it through
    /// its queue (`Registry::close`), as the writer's [`Stopped::ShuttingDown`].
    async fn chat(&mut self) -> Ending {
        let Some(id) = self.client.id else {
            return Ending::closed();
        };
        let now = Instant::now();
        let policy = &self.client.policy;
        let mut state = ChatState {
            spent_in_turn: 0,
            said: false,
            bucket: TokenBucket::new(policy.msg_rate, policy.msg_burst, now),
            throttled_since: None,
        };
        // Only boxed futures are awaited below besides the event itself, and each event is
        // handled by a plain function: whatever lives across an `.await` here is part of
        // every connection's task for its whole life.
        loop {
            // Output first: the writer makes progress (and reports only when it stops)
            // before more requests are read.
            // A shutdown comes through the queue too (`Registry::close`): polling the
            // server's shared token at every event would contend on its lock.
            let next = poll_fn(|cx| {
                if let Poll::Ready(stopped) = self.writer.poll_run(cx, self.frames.get_mut()) {
                    return Poll::Ready(Event::WriterStopped(stopped));
                }
                self.frames.poll_next_unpin(cx).map(Event::Frame)
            });
            // Blocks of their own, so that the event is not kept across the awaits below,
            // and what is awaited lets go of `self` and `state` after.
            {
                let waiting = match next.await {
                    // Nothing more can reach this client.
                    Event::WriterStopped(stopped) => {
                        Err(Ending::stopped(stopped, &self.client.policy))
                    }
                    Event::Frame(None) => Err(Ending::closed()),
                    Event::Frame(Some(Err(e))) => Err(Ending::codec(e)),
                    Event::Frame(Some(Ok(msg))) => self.on_message(id, msg, &mut state),
                };
                match waiting {
                    Err(ending) => return ending,
                    Ok(None) => {}
                    Ok(Some(waiting)) => {
                        if let Err(ending) = waiting.await {
                            return ending;
                        }
                    }
                }
            }
            self.release_read_buffer();
            // The room first: once the client's requests in hand are handled, the members
            // woken by its messages run before this task writes the client's own echo. A
            // sender sees its line once the room has been served, so it cannot outrun the
            // room, and the echo does not jump the queue of a thousand writes.
            let room_first = state.said && self.frames.read_buffer().is_empty();
            if state.spent_in_turn >= BYTES_PER_TURN || room_first {
                state.spent_in_turn = 0;
                state.said = false;
                tokio::task::yield_now().await;
            }
        }
    }

    /// Acts on a message from the client: at once, or by returning what must be awaited (a
    /// wait for the rate, or a file message). An `Err` ends the connection.
    fn on_message<'a>(
        &'a mut self,
        id: ClientId,
        msg: ClientMsg,
        state: &'a mut ChatState,
    ) -> Result<Option<Waiting<'a>>, Ending> {
        let now = Instant::now();
        // A sign of life, for the keepalive (`Registry::keep_alive`).
        let client = &self.client;
        client
            .outbox
            .liveness()
            .heard(client.ctx.registry.clock_ms(now.into_std()));
        // A request with an id is handled as the message it wraps; the id goes with the
        // answer.
        let (reply, msg) = match msg {
            ClientMsg::Request { id, msg } => (Some(id), *msg),
            msg => (None, msg),
        };
        state.spent_in_turn += turn_cost(&msg);
        state.said |= talks(&msg);
        let mut wait = Duration::ZERO;
        if let Some(bucket) = state.bucket.as_mut().filter(|_| rate::counts(&msg)) {
            wait = bucket.take(now);
            if wait.is_zero() && bucket.rested() {
                state.throttled_since = None;
            }
        }
        // The rare paths are boxed: their state (timers, disk work) would otherwise enlarge
        // every connection's task for its whole life.
        if !wait.is_zero() {
            let held = self.throttle_then_handle(id, reply, msg, wait, &mut state.throttled_since);
            return Ok(Some(Box::pin(held)));
        }
        // A chat or an action takes the history's leave first: while its writer is behind,
        // the sender waits here, unread, as it does for the rate.
        let permit = if talks(&msg) {
            match self.client.ctx.history.admit().now_or_never() {
                Some(permit) => Some(permit),
                None => return Ok(Some(Box::pin(self.admit_then_handle(id, reply, msg)))),
            }
        } else {
            None
        };
        Ok(match self.client.handle(id, reply, msg, permit)? {
            None => None,
            Some(later) => Some(Box::pin(self.later(id, reply, later))),
        })
    }

    /// Acts on a request that may wait: a file message, or a history query.
    async fn later(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        later: Later,
    ) -> Result<(), Ending> {
        match later {
            Later::File(msg, place) => self.transfer(id, reply, msg, place).await,
            Later::Query(query) => self.ask(reply, query).await,
            Later::Keep(snapshot, answer) => self.client.keep(id, reply, snapshot, answer).await,
        }
    }

    /// See [`READ_BUFFER_KEEP`]. Not during an upload, whose chunks would otherwise
    /// regrow the buffer frame after frame.
    fn release_read_buffer(&mut self) {
        if self
            .client
            .transfers
            .as_ref()
            .is_some_and(|t| t.uploading())
        {
            return;
        }
        let buffer = self.frames.read_buffer_mut();
        if buffer.is_empty() && buffer.capacity() > READ_BUFFER_KEEP {
            *buffer = BytesMut::new();
        }
    }
}

impl Client {
    /// Tells the client that a request (with the id `reply`, if it had one) failed; the
    /// connection stays open.
    fn refuse(&self, reply: Option<u32>, kind: ErrorKind, text: String) -> Result<(), Ending> {
        self.send(reply, &ServerMsg::Error { kind, text })
    }

    /// Tells the client why the registry turned a request down, if it did.
    fn refused(&self, reply: Option<u32>, outcome: Result<(), Refusal>) -> Result<(), Ending> {
        match outcome {
            Ok(()) => Ok(()),
            Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
        }
    }

    /// Queues an answer for this client only, to the request `reply` if it had an id.
    fn send(&self, reply: Option<u32>, msg: &ServerMsg) -> Result<(), Ending> {
        match self.outbox.push(&encode_answer(reply, msg)) {
            Ok(()) => Ok(()),
            Err(PushError::Full) => Err(Ending::slow_consumer()),
            Err(PushError::Closed) => Err(Ending::writer_gone()),
        }
    }
}

/// Whether `msg` says something in a room, and so takes the history's leave first.
fn talks(msg: &ClientMsg) -> bool {
    matches!(
        msg,
        ClientMsg::Chat { .. }
            | ClientMsg::Action { .. }
            | ClientMsg::InRoom {
                msg: RoomRequest::Chat { .. } | RoomRequest::Action { .. },
                ..
            }
    )
}

/// A duration for a human: `45 s`, `0.2 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use futures::SinkExt;
    use shared::{ClientCodec, RoomEvent};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::codec::Framed;

    /// What a server lends its connections, with its files in `data` and `history`.
    fn context(data: &std::path::Path, history: History, last_id: u64) -> Arc<Context> {
        let config = crate::Config::default();
        let registry = Arc::new(crate::registry::Registry::with_history(
            config.max_rooms,
            history.clone(),
            last_id,
        ));
        let files = Arc::new(crate::files::Files {
            store: crate::files::store::FileStore::open(data, 1 << 20, 1 << 20).unwrap(),
            registry: Arc::clone(&registry),
            upload_grace: config.upload_grace,
            upload_stall: config.upload_stall,
            sharers: Default::default(),
        });
        let live = Live::new(&config, &history).unwrap();
        Arc::new(Context {
            registry,
            files,
            history,
            live: Arc::new(LiveCell::new(live)),
            bans: Arc::new(crate::bans::Bans::in_memory()),
            topic_locks: crate::topic_locks::TopicLocks::in_memory(),
            auth: Arc::default(),
        })
    }

    /// A connection over real TCP: the client's end, and the server's end with its peer.
    async fn connected() -> (TcpStream, (TcpStream, std::net::SocketAddr)) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) = tokio::join!(
            TcpStream::connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        (client.unwrap(), accepted.unwrap())
    }

    /// Every connection's task holds this future for its whole life, so its size is the
    /// bulk of what an idle connection costs (tokio rounds a task up to 128 bytes).
    /// A change that makes it larger should be a choice, made here. Measured over TCP,
    /// the stream the server serves, which the future holds inline: 496 bytes in a debug
    /// build (488 before the connection kept the `Arc` of its policy, which a reload of
    /// the configuration replaces for the connections accepted after it; 480 in a release
    /// build then).
    #[tokio::test]
    async fn the_connection_task_stays_small() {
        let data = tempfile::tempdir().unwrap();
        let context = context(data.path(), History::off(), 0);
        let (client, (socket, peer)) = connected().await;
        let task = serve(socket, peer.into(), context, CancellationToken::new());
        let size = std::mem::size_of_val(&task);
        println!("connection task: {size} bytes");
        assert!(size <= 1024, "the connection task grew to {size} bytes");
        drop(client);
    }

    /// While the history's writer has no room for another message, a client that says
    /// something waits, and nothing more is read from it: its ping after the chat is not
    /// answered either. Once there is room, both go through, in order.
    #[tokio::test]
    async fn a_chat_waits_for_the_history_and_nothing_more_is_read_meanwhile() {
        let data = tempfile::tempdir().unwrap();
        let settings = crate::history::HistorySettings::new(data.path().join("h.sqlite3"));
        let (history, resume) = History::open(settings).unwrap();
        // Every permit taken, as by messages the writer has not stored yet.
        let mut held = Vec::new();
        for _ in 0..crate::history::PERMITS {
            held.push(history.admit().await);
        }
        let context = context(data.path(), history.clone(), resume.last_id);
        let (client, (socket, peer)) = connected().await;
        tokio::spawn(serve(
            socket,
            peer.into(),
            context,
            CancellationToken::new(),
        ));
        let mut client = Framed::new(client, ClientCodec::default());
        client
            .send(ClientMsg::hello4("ann", "lobby"))
            .await
            .unwrap();
        let welcome = client.next().await.unwrap().unwrap();
        assert!(matches!(welcome, ServerMsg::Welcome4 { .. }), "{welcome:?}");
        client
            .send(ClientMsg::Chat {
                text: "waiting".into(),
            })
            .await
            .unwrap();
        client.send(ClientMsg::Ping { token: 1 }).await.unwrap();
        let early = tokio::time::timeout(Duration::from_millis(300), client.next()).await;
        assert!(
            early.is_err(),
            "read while the history had no room: {early:?}"
        );

        held.pop();
        let wait = Duration::from_secs(5);
        let said = tokio::time::timeout(wait, client.next()).await.unwrap();
        assert!(
            matches!(
                said,
                Some(Ok(ServerMsg::Room { event: RoomEvent::Said { ref text, .. }, .. }))
                    if text == "waiting"
            ),
            "{said:?}"
        );
        let pong = tokio::time::timeout(wait, client.next()).await.unwrap();
        assert!(
            matches!(pong, Some(Ok(ServerMsg::Pong { token: 1 }))),
            "{pong:?}"
        );
        drop(held);
        history.close().await;
    }
}
