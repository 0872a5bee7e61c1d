//! One client connection: the handshake, then a loop that reads frames and acts on them
//! while its [`Writer`] (see [`crate::outbound`]) drains its queue, both in one task.
//!
//! Every way a connection ends is an [`Ending`]: the reason the room is told, and the last
//! frame the client gets where the connection still allows one. Nothing here panics on
//! input; a codec error ends only this connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use shared::limits::{MAX_REASON_BYTES, MAX_TEXT_BYTES};
use shared::names::{check_nick, check_room};
use shared::protocol::DEFAULT_ROOM;
use shared::rate::{self, TokenBucket};
use shared::{
    ChatKind, ClientMsg, CodecError, ErrorKind, OLDEST_VERSION, PROTOCOL_VERSION, ServerCodec,
    ServerMsg,
};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::time::{Instant, timeout};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::Config;
use crate::files::{Peer, Transfers};
use crate::outbound::{self, FileLane, Outbox, PushError, Stopped, Writer, encode, encode_answer};
use crate::registry::{ClientId, Greeting, Refusal, Who};
use crate::server::Shared;

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
            _ => 0,
        }
}

/// Serves one accepted connection until it ends.
///
/// Not an `async fn`: its arguments would be kept twice in the task's state (once as they
/// were passed, once moved into the body), for the connection's whole life. The state is
/// the [`Connection`] and the shutdown token, no more.
pub(crate) fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> {
    // Chat frames are small and latency matters more than packet count; the writer already
    // batches what is queued.
    if let Err(e) = socket.set_nodelay(true) {
        debug!(%peer, error = %e, "could not set TCP_NODELAY");
    }
    let (read, write) = socket.into_split();
    let outbox = outbound::queue(shared.config.queue_bytes);
    let lane = outbox.file_lane();
    let writer = Writer::new(&outbox, write);
    let mut conn = Connection {
        frames: FramedRead::with_capacity(read, ServerCodec::default(), READ_BUFFER_START),
        outbox,
        lane,
        transfers: None,
        writer,
        shared,
        peer,
        id: None,
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

struct Connection {
    frames: FramedRead<OwnedReadHalf, ServerCodec>,
    /// This connection's own handle on its queue, for answers that only it gets.
    outbox: Outbox,
    /// Where downloads queue their chunks, behind the chat frames.
    lane: FileLane,
    /// Uploads and downloads; boxed and made on first use, so that a connection that
    /// only chats stays small.
    transfers: Option<Box<Transfers>>,
    writer: Writer,
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// Set once logged in.
    id: Option<ClientId>,
}

/// Optional features this server knows and grants when a `Hello4` asks for them. Version
/// 4 defines none yet; the list is where the next ones go.
const FEATURES: &[&str] = &[];

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

impl Connection {
    /// Reads the `Hello` and logs the client in.
    async fn handshake(&mut self, shutdown: &CancellationToken) -> Result<(), Ending> {
        let limit = self.shared.config.handshake_timeout;
        let first = tokio::select! {
            first = timeout(limit, self.frames.next()) => first,
            () = shutdown.cancelled() => return Err(Ending::shutdown()),
        };
        let hello = match first {
            Err(_elapsed) => {
                let text = format!("no hello within {}", seconds(limit));
                return Err(Ending::refused(ErrorKind::Timeout, text, "timed out"));
            }
            Ok(None) => return Err(Ending::closed()),
            Ok(Some(Err(e))) => return Err(Ending::codec(e)),
            Ok(Some(Ok(msg))) => msg,
        };
        let (version, features, nick, room) = match hello {
            ClientMsg::Hello {
                version: OLDEST_VERSION,
                nick,
                room,
            } => (OLDEST_VERSION, Vec::new(), nick, room),
            ClientMsg::Hello { version, .. } => {
                let text = if version > OLDEST_VERSION {
                    format!(
                        "this server speaks protocol {OLDEST_VERSION} to {PROTOCOL_VERSION}; \
                         a client of version 4 or later says hello with Hello4"
                    )
                } else {
                    format!(
                        "this server speaks protocol {OLDEST_VERSION} to {PROTOCOL_VERSION}, \
                         the client {version}"
                    )
                };
                return Err(Ending::refused(
                    ErrorKind::VersionMismatch,
                    text,
                    "version mismatch",
                ));
            }
            ClientMsg::Hello4 {
                min_version,
                max_version,
                features,
                nick,
                room,
            } => {
                // The newest version both speak.
                let Some(version) = (4..=PROTOCOL_VERSION)
                    .rev()
                    .find(|v| (min_version..=max_version).contains(v))
                else {
                    let text = format!(
                        "this server speaks protocol {OLDEST_VERSION} to {PROTOCOL_VERSION}, \
                         the client {min_version} to {max_version}"
                    );
                    return Err(Ending::refused(
                        ErrorKind::VersionMismatch,
                        text,
                        "version mismatch",
                    ));
                };
                (version, granted(features), nick, room)
            }
            _ => {
                let text = "log in first".to_owned();
                return Err(Ending::refused(
                    ErrorKind::NotLoggedIn,
                    text,
                    "not logged in",
                ));
            }
        };
        if let Err(e) = check_nick(&nick) {
            let text = format!("the nick {e}");
            return Err(Ending::refused(
                ErrorKind::InvalidNick,
                text,
                "invalid nick",
            ));
        }
        let room = if room.is_empty() {
            DEFAULT_ROOM.to_owned()
        } else {
            room
        };
        if let Err(e) = check_room(&room) {
            let text = format!("the room name {e}");
            return Err(Ending::refused(
                ErrorKind::InvalidRoom,
                text,
                "invalid room",
            ));
        }
        let greeting = Greeting {
            version,
            features: &features,
            limits: &self.shared.limits,
        };
        let id = self
            .shared
            .registry
            .login(&nick, &room, self.outbox.clone(), &greeting)
            .map_err(|r| {
                let reason = match r.kind {
                    ErrorKind::InvalidRoom => "too many rooms",
                    _ => "nick taken",
                };
                Ending::refused(r.kind, r.text, reason)
            })?;
        info!(peer = %self.peer, client = id, %nick, %room, version, "logged in");
        self.id = Some(id);
        Ok(())
    }

    /// Serves a logged-in client until the connection ends. A shutdown reaches it through
    /// its queue (`Registry::close`), as the writer's [`Stopped::ShuttingDown`].
    async fn chat(&mut self) -> Ending {
        let Some(id) = self.id else {
            return Ending::closed();
        };
        let now = Instant::now();
        let config = &self.shared.config;
        let mut state = ChatState {
            spent_in_turn: 0,
            said: false,
            bucket: TokenBucket::new(config.msg_rate, config.msg_burst, now),
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
                if let Poll::Ready(stopped) = self.writer.poll_run(cx) {
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
                        Err(Ending::stopped(stopped, &self.shared.config))
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
        self.outbox
            .liveness()
            .heard(self.shared.registry.clock_ms(now.into_std()));
        // A request with an id is handled as the message it wraps; the id goes with the
        // answer.
        let (reply, msg) = match msg {
            ClientMsg::Request { id, msg } => (Some(id), *msg),
            msg => (None, msg),
        };
        state.spent_in_turn += turn_cost(&msg);
        state.said |= matches!(msg, ClientMsg::Chat { .. } | ClientMsg::Action { .. });
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
        Ok(match self.handle(id, reply, msg)? {
            None => None,
            Some(file) => Some(Box::pin(self.transfer(id, reply, file))),
        })
    }

    /// Waits `wait` for the rate, then acts on `msg`.
    async fn throttle_then_handle(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
        wait: Duration,
        throttled_since: &mut Option<Instant>,
    ) -> Result<(), Ending> {
        self.throttle(wait, throttled_since).await?;
        match self.handle(id, reply, msg)? {
            None => Ok(()),
            Some(file) => self.transfer(id, reply, file).await,
        }
    }

    /// Holds a client that sends faster than its rate back for `wait` (reading nothing
    /// meanwhile), warning it when this starts, and cuts it off once it has been held
    /// back without a break for the flood timeout.
    async fn throttle(
        &mut self,
        wait: Duration,
        throttled_since: &mut Option<Instant>,
    ) -> Result<(), Ending> {
        let config = &self.shared.config;
        let now = Instant::now();
        let rate = config.msg_rate;
        let since = match *throttled_since {
            Some(since) => since,
            None => {
                *throttled_since = Some(now);
                let text = format!(
                    "you send faster than {rate} messages a second; the server slows you \
                     down, and disconnects you if this goes on for {}",
                    seconds(config.flood_timeout)
                );
                debug!(peer = %self.peer, "rate limited");
                // A warning, not the answer to a request: the request is served later.
                self.refuse(None, ErrorKind::RateLimited, text)?;
                now
            }
        };
        if now + wait - since >= config.flood_timeout {
            let text = format!(
                "disconnected for sending faster than {rate} messages a second for {}",
                seconds(config.flood_timeout)
            );
            info!(peer = %self.peer, "disconnected a flooder");
            return Err(Ending::refused(ErrorKind::RateLimited, text, "flooding"));
        }
        tokio::select! {
            stopped = self.writer.run() => Err(Ending::stopped(stopped, config)),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// Acts on a message from a logged-in client; its answer, or the error it causes,
    /// answers `reply` (the id of its request). `Ok(Some(msg))`: a file message, which
    /// may wait (for the disk, for room in an upload's queue), for
    /// [`Connection::transfer`]. An `Err` ends the connection.
    fn handle(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
    ) -> Result<Option<ClientMsg>, Ending> {
        let registry = &self.shared.registry;
        let done = match msg {
            msg @ (ClientMsg::UploadStart { .. }
            | ClientMsg::UploadChunk { .. }
            | ClientMsg::UploadFinish { .. }
            | ClientMsg::UploadCancel { .. }
            | ClientMsg::UploadResume { .. }
            | ClientMsg::ListFiles
            | ClientMsg::Download { .. }
            | ClientMsg::DownloadCancel { .. }) => return Ok(Some(msg)),
            ClientMsg::Hello { .. } | ClientMsg::Hello4 { .. } => self.refuse(
                reply,
                ErrorKind::AlreadyLoggedIn,
                "already logged in".into(),
            ),
            // Unwrapped in `on_message`; a second wrapper does not decode.
            ClientMsg::Request { .. } => Ok(()),
            ClientMsg::Chat { text } => self.say(id, reply, ChatKind::Say, text),
            ClientMsg::Action { text } => self.say(id, reply, ChatKind::Action, text),
            // A name no one can have is not looked up, nor repeated in the answer.
            ClientMsg::Private { to, .. } if check_nick(&to).is_err() => self.refuse(
                reply,
                ErrorKind::NoSuchNick,
                "no one can have the nick given".into(),
            ),
            ClientMsg::Private { to, text } => match check_text(&text) {
                Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
                Ok(false) => Ok(()),
                Ok(true) => match registry.private(id, &to, text, reply) {
                    Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
                    Ok(()) => Ok(()),
                },
            },
            ClientMsg::Join { room } => match check_room(&room) {
                Err(e) => self.refuse(reply, ErrorKind::InvalidRoom, format!("the room name {e}")),
                Ok(()) => match registry.join(id, &room, reply) {
                    Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
                    Ok(()) => Ok(()),
                },
            },
            ClientMsg::Nick { nick } => match check_nick(&nick) {
                Err(e) => self.refuse(reply, ErrorKind::InvalidNick, format!("the nick {e}")),
                Ok(()) => match registry.rename(id, &nick, reply) {
                    Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
                    Ok(()) => Ok(()),
                },
            },
            ClientMsg::Who => {
                registry.who(id, Who::Plain, reply);
                Ok(())
            }
            ClientMsg::WhoPage { after } => {
                registry.who(id, Who::After(&after), reply);
                Ok(())
            }
            ClientMsg::Ping { token } => self.send(reply, &ServerMsg::Pong { token }),
            // Its arrival already counted as a sign of life.
            ClientMsg::Pong { .. } => Ok(()),
            ClientMsg::Quit { reason } => Err(Ending::quit(reason)),
        };
        done.map(|()| None)
    }

    /// Hands a file message to this connection's transfers and sends the answer.
    async fn transfer(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
    ) -> Result<(), Ending> {
        let peer = Peer {
            shared: &self.shared,
            id,
            outbox: &self.outbox,
            lane: &self.lane,
        };
        let transfers = self.transfers.get_or_insert_default();
        let writer = &mut self.writer;
        // The disk or an upload's worker may keep this waiting; the client's chat goes out
        // meanwhile. The file message is handled to the end even if the writer stops, so
        // that no upload is left half set up.
        let mut stopped = None;
        let answer = {
            let handling = transfers.handle(peer, reply, msg);
            tokio::pin!(handling);
            loop {
                tokio::select! {
                    answer = &mut handling => break answer,
                    s = writer.run(), if stopped.is_none() => stopped = Some(s),
                }
            }
        };
        if let Some(stopped) = stopped {
            return Err(Ending::stopped(stopped, &self.shared.config));
        }
        match answer {
            Some(answer) => self.send(reply, &answer),
            None => Ok(()),
        }
    }

    fn say(
        &self,
        id: ClientId,
        reply: Option<u32>,
        kind: ChatKind,
        text: String,
    ) -> Result<(), Ending> {
        match check_text(&text) {
            Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
            Ok(false) => Ok(()),
            Ok(true) => {
                self.shared.registry.say(id, kind, text, reply);
                Ok(())
            }
        }
    }

    /// Tells the client that a request (with the id `reply`, if it had one) failed; the
    /// connection stays open.
    fn refuse(&self, reply: Option<u32>, kind: ErrorKind, text: String) -> Result<(), Ending> {
        self.send(reply, &ServerMsg::Error { kind, text })
    }

    /// Queues an answer for this client only, to the request `reply` if it had an id.
    fn send(&self, reply: Option<u32>, msg: &ServerMsg) -> Result<(), Ending> {
        match self.outbox.push(&encode_answer(reply, msg)) {
            Ok(()) => Ok(()),
            Err(PushError::Full) => Err(Ending::slow_consumer()),
            Err(PushError::Closed) => Err(Ending::writer_gone()),
        }
    }

    /// See [`READ_BUFFER_KEEP`]. Not during an upload, whose chunks would otherwise
    /// regrow the buffer frame after frame.
    fn release_read_buffer(&mut self) {
        if self.transfers.as_ref().is_some_and(|t| t.uploading()) {
            return;
        }
        let buffer = self.frames.read_buffer_mut();
        if buffer.is_empty() && buffer.capacity() > READ_BUFFER_KEEP {
            *buffer = BytesMut::new();
        }
    }

    /// Takes the client out of its room (telling the room why), queues the last frame if
    /// there is one, and gives the writer a bounded time to flush before the socket
    /// closes.
    async fn close(self, ending: Ending) {
        let Connection {
            frames,
            outbox,
            mut writer,
            shared,
            peer,
            id,
            transfers,
            ..
        } = self;
        if let (Some(transfers), Some(id)) = (transfers, id) {
            // First, so that what the uploads' workers say as they let go is flushed too.
            transfers.close(id, shared.config.flush_timeout).await;
        }
        if let Some(id) = id {
            // False if the client was already removed as a slow consumer.
            if shared.registry.leave(id, &ending.reason) {
                info!(%peer, client = id, reason = %ending.reason, "left");
            }
        } else {
            info!(%peer, reason = %ending.reason, "refused");
        }
        if let Some(last) = ending.last_frame {
            // Nothing more can be done if the queue is full or closed.
            let _ = outbox.push(&last);
        }
        if ending.flush {
            // Writes what is queued and closes the socket's sending side.
            match timeout(shared.config.flush_timeout, writer.finish()).await {
                Err(_elapsed) => debug!(%peer, "writer did not flush in time"),
                Ok(Err(stopped)) => debug!(%peer, ?stopped, "writer stopped while flushing"),
                Ok(Ok(())) => {}
            }
        }
        // Closes the queue: the upload workers and downloads still holding it stop.
        drop(writer);
        drop(outbox);
        drop(frames);
    }
}

/// The features of a hello that this server has: each once, in the hello's order.
fn granted(asked: Vec<String>) -> Vec<String> {
    let mut granted: Vec<String> = Vec::new();
    for feature in asked {
        if FEATURES.contains(&feature.as_str()) && !granted.contains(&feature) {
            granted.push(feature);
        }
    }
    granted
}

/// Checks a chat, action or private text. `Ok(false)`: the text is empty and is ignored,
/// since it says nothing, and an error for a stray Enter would only be noise.
fn check_text(text: &str) -> Result<bool, Refusal> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Refusal {
            kind: ErrorKind::TextTooLong,
            text: format!(
                "the text is {} bytes, more than the {MAX_TEXT_BYTES} allowed",
                text.len()
            ),
        });
    }
    Ok(!text.is_empty())
}

/// How and why a connection ends.
#[derive(Debug)]
struct Ending {
    /// Told to the room in the `Left` notice, and logged.
    reason: String,
    /// Last frame for the client, if the connection still allows one; encoded already.
    last_frame: Option<Bytes>,
    /// Whether the writer gets time to flush. Not when it has already ended, nor when it
    /// is stuck behind a client that does not read.
    flush: bool,
}

impl Ending {
    fn closed() -> Self {
        Self::quiet("connection closed")
    }

    fn quit(reason: String) -> Self {
        let reason = truncate(reason, MAX_REASON_BYTES);
        let reason = if reason.is_empty() {
            "quit".to_owned()
        } else {
            reason
        };
        Self {
            reason,
            last_frame: None,
            flush: true,
        }
    }

    fn shutdown() -> Self {
        let reason = "server shutting down";
        Self {
            reason: reason.into(),
            last_frame: Some(encode(&ServerMsg::Shutdown {
                reason: reason.into(),
            })),
            flush: true,
        }
    }

    /// The client is told `kind` and `text`; the room is told `reason`.
    fn refused(kind: ErrorKind, text: String, reason: &str) -> Self {
        Self {
            reason: reason.into(),
            last_frame: Some(encode(&ServerMsg::Error { kind, text })),
            flush: true,
        }
    }

    /// A frame that could not be read. The client is told why in words, the room that
    /// it left with no protocol detail.
    fn codec(error: CodecError) -> Self {
        match error {
            CodecError::FrameTooLarge { len, max } => Self::refused(
                ErrorKind::FrameTooLarge,
                format!("the server could not read a message of {len} bytes: {max} at most"),
                "sent a message too large",
            ),
            CodecError::Malformed(why) => Self::refused(
                ErrorKind::MalformedFrame,
                format!("the server could not read a message: {why}"),
                "sent a malformed message",
            ),
            // The peer closed its sending side mid-frame; it may still read.
            CodecError::Truncated { .. } => Self::refused(
                ErrorKind::MalformedFrame,
                "the connection closed in the middle of a message".to_owned(),
                "connection lost",
            ),
            CodecError::Io(_) => Self::quiet("connection lost"),
        }
    }

    fn slow_consumer() -> Self {
        Self {
            reason: "slow consumer".into(),
            last_frame: None,
            flush: false,
        }
    }

    /// The writer stopped: the client was cut off as a slow consumer, or the socket failed.
    fn stopped(stopped: Stopped, config: &Config) -> Self {
        match stopped {
            Stopped::Cut => Self::slow_consumer(),
            Stopped::ShuttingDown => Self::shutdown(),
            Stopped::TimedOut => {
                let text = format!("nothing received for {}", seconds(config.idle_timeout));
                Self::refused(ErrorKind::Timeout, text, "timed out")
            }
            Stopped::Failed(error) => {
                debug!(%error, "could not write to the client");
                Self::writer_gone()
            }
        }
    }

    fn writer_gone() -> Self {
        Self {
            reason: "connection closed".into(),
            last_frame: None,
            flush: false,
        }
    }

    fn quiet(reason: &str) -> Self {
        Self {
            reason: reason.into(),
            last_frame: None,
            flush: true,
        }
    }
}

/// Cuts `text` to at most `max` bytes without splitting a character.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// A duration for a human: `45 s`, `0.2 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection's task holds this future for its whole life, so its size is the
    /// bulk of what an idle connection costs (tokio rounds a task up to 128 bytes).
    /// A change that makes it larger should be a choice, made here.
    #[tokio::test]
    async fn the_connection_task_stays_small() {
        let data = tempfile::tempdir().unwrap();
        let config = crate::Config::default();
        let shared = Arc::new(Shared::new(
            config,
            crate::registry::Registry::default(),
            crate::files::store::FileStore::open(data.path(), 1 << 20, 1 << 20).unwrap(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) = tokio::join!(
            TcpStream::connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        let (socket, peer) = accepted.unwrap();
        let task = serve(socket, peer, shared, CancellationToken::new());
        let size = std::mem::size_of_val(&task);
        println!("connection task: {size} bytes");
        assert!(size <= 1024, "the connection task grew to {size} bytes");
        drop(client);
    }

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("hello".into(), 10), "hello");
        assert_eq!(truncate("hello".into(), 3), "hel");
        // "é" is two bytes: cutting at 1 would split it.
        assert_eq!(truncate("éa".into(), 1), "");
        assert_eq!(truncate("aé".into(), 2), "a");
        assert_eq!(truncate("👋👋".into(), 5), "👋");
    }

    #[test]
    fn quit_reason_is_bounded_and_never_empty() {
        assert_eq!(Ending::quit(String::new()).reason, "quit");
        let long = "x".repeat(MAX_REASON_BYTES * 2);
        assert_eq!(Ending::quit(long).reason.len(), MAX_REASON_BYTES);
    }

    #[test]
    fn text_limits() {
        assert_eq!(check_text(""), Ok(false));
        assert_eq!(check_text("hi"), Ok(true));
        assert_eq!(check_text(&"a".repeat(MAX_TEXT_BYTES)), Ok(true));
        let refused = check_text(&"a".repeat(MAX_TEXT_BYTES + 1)).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::TextTooLong);
    }

    fn last_frame(ending: &Ending) -> Option<ServerMsg> {
        let frame = ending.last_frame.as_ref()?;
        Some(shared::codec::decode_payload(&frame[4..]).expect("server frames decode"))
    }

    #[test]
    fn codec_errors_map_to_error_frames() {
        let ending = Ending::codec(CodecError::FrameTooLarge { len: 5, max: 4 });
        assert!(matches!(
            last_frame(&ending),
            Some(ServerMsg::Error {
                kind: ErrorKind::FrameTooLarge,
                ..
            })
        ));
        let ending = Ending::codec(CodecError::Malformed("it ends too early".into()));
        assert_eq!(ending.reason, "sent a malformed message");
        let Some(ServerMsg::Error { text, .. }) = last_frame(&ending) else {
            panic!("an error frame");
        };
        assert_eq!(
            text,
            "the server could not read a message: it ends too early"
        );
        let ending = Ending::codec(CodecError::Truncated { buffered: 3 });
        assert_eq!(ending.reason, "connection lost");
        let ending = Ending::codec(CodecError::Io(std::io::ErrorKind::ConnectionReset.into()));
        assert!(ending.last_frame.is_none());
    }
}
