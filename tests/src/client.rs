//! A real server in this process, and a client that talks to it through the shared codec.
//!
//! The server is [`chat_server::run`] on `127.0.0.1:0`, reached over real TCP in the clear,
//! or over TLS ([`start_tls_server`]). A [`TestClient`] speaks TLS to a server whose key
//! this test process knows ([`crate::binaries::server_key`]: the binaries started with
//! TLS, as they start by default, and [`start_tls_server`]), trusting that key, and plain
//! TCP to the others. Every wait is bounded by [`WAIT`], so a test that goes wrong fails
//! instead of hanging.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chat_server::Config;
use futures::{SinkExt, StreamExt};
use shared::{
    ChatKind, ClientCodec, ClientMsg, FileInfo, OLDEST_VERSION, PROTOCOL_VERSION, RoomEvent,
    ServerMsg,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_util::codec::{Framed, FramedRead};

use chat_client::{Connector, Dial};

use crate::binaries::{remember_key, scratch_dir};

/// The byte stream of a [`TestClient`]: plain TCP, or TLS over it.
pub type Stream = <Dial as Connector>::Stream;

/// Longest a test waits for anything: a frame, a close, a shutdown.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running in-process server; [`ServerHandle::shutdown`] stops it gracefully. Dropped
/// without that, it stops with the test's runtime.
#[derive(Debug)]
pub struct ServerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl ServerHandle {
    /// Triggers a graceful shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        timeout(WAIT, &mut self.task)
            .await
            .context("server did not shut down in time")?
            .context("server task panicked")?
    }
}

/// Starts `chat_server::run` with `config` on `127.0.0.1:0` and returns where it listens.
///
/// A server left with the default data directory gets one of its own under `target/tmp/`
/// ([`scratch_dir`]): the default, `chat-data` in the directory the tests run in, would be
/// shared by every test (its history database too) and left in the source tree.
pub async fn start_server(config: Config) -> (SocketAddr, ServerHandle) {
    let config = if config.data_dir == Config::default().data_dir {
        Config {
            data_dir: scratch_dir("server-data"),
            ..config
        }
    } else {
        config
    };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(chat_server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let handle = ServerHandle {
        stop: Some(stop),
        task,
    };
    (addr, handle)
}

/// As [`start_server`], over TLS with a key made for it: returns its key's fingerprint
/// too, which clients of this process trust ([`crate::binaries::server_key`]).
pub async fn start_tls_server(
    config: Config,
) -> (SocketAddr, shared::tls::Fingerprint, ServerHandle) {
    use chat_server::transport::tls::{Identity, TlsListener};
    let data_dir = if config.data_dir == Config::default().data_dir {
        scratch_dir("server-data")
    } else {
        config.data_dir.clone()
    };
    let identity = Identity::load_or_create(&data_dir, None, None).expect("a TLS key");
    let fp = identity.fingerprint();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    remember_key(addr, Some(fp));
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config { data_dir, ..config };
    let task = tokio::spawn(chat_server::run_with(
        TlsListener::new(listener, &identity),
        config,
        async {
            let _ = stopped.await;
        },
    ));
    let handle = ServerHandle {
        stop: Some(stop),
        task,
    };
    (addr, fp, handle)
}

/// A client connection speaking the protocol through [`ClientCodec`]: version 4 by
/// [`TestClient::connect`], version 3 by [`TestClient::connect_v3`].
#[derive(Debug)]
pub struct TestClient {
    /// The nick the server gave this client (empty before a welcome).
    pub nick: String,
    /// The room it is in, as of the welcome.
    pub room: String,
    /// The members listed in the welcome (its first page, in version 4).
    pub members: Vec<String>,
    /// The protocol version of the session (0 before a welcome).
    pub version: u16,
    /// The room's latest sequence number, as of the welcome (version 4).
    pub seq: u64,
    /// Answer the server's `Ping`s while receiving, and skip them (on by default), so that
    /// a client of a server with a short idle timeout stays alive while it reads.
    pub auto_pong: bool,
    frames: Framed<Stream, ClientCodec>,
}

impl TestClient {
    /// Connects and logs in as `nick` in `room` with a version 4 hello; fails unless the
    /// answer is a `Welcome4`.
    pub async fn connect(addr: SocketAddr, nick: &str, room: &str) -> anyhow::Result<Self> {
        let mut client = Self::connect_raw(addr).await?;
        client.send(hello(nick, room)).await?;
        match client.recv().await? {
            ServerMsg::Welcome4 {
                version,
                nick,
                room,
                seq,
                members,
                ..
            } => {
                if version != PROTOCOL_VERSION {
                    bail!("welcome with version {version}");
                }
                client.nick = nick;
                client.room = room;
                client.members = members.names;
                client.version = version;
                client.seq = seq;
                Ok(client)
            }
            other => Err(anyhow!("expected a welcome, got {other:?}")),
        }
    }

    /// Connects and logs in as `nick` in `room` as a version 3 client does; fails unless
    /// the answer is a `Welcome`.
    pub async fn connect_v3(addr: SocketAddr, nick: &str, room: &str) -> anyhow::Result<Self> {
        let mut client = Self::connect_raw(addr).await?;
        client.send(hello_v3(nick, room)).await?;
        match client.recv().await? {
            ServerMsg::Welcome {
                version,
                nick,
                room,
                members,
            } => {
                if version != OLDEST_VERSION {
                    bail!("welcome with version {version}");
                }
                client.nick = nick;
                client.room = room;
                client.members = members;
                client.version = version;
                Ok(client)
            }
            other => Err(anyhow!("expected a welcome, got {other:?}")),
        }
    }

    /// Connects without logging in: over TLS, trusting its key, to a server whose key this
    /// process knows; else over plain TCP.
    pub async fn connect_raw(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = open_stream(addr).await?;
        Ok(Self {
            nick: String::new(),
            room: String::new(),
            members: Vec::new(),
            version: 0,
            seq: 0,
            auto_pong: true,
            frames: Framed::new(stream, ClientCodec::default()),
        })
    }

    /// Sends one frame.
    pub async fn send(&mut self, msg: ClientMsg) -> anyhow::Result<()> {
        timeout(WAIT, self.frames.send(msg))
            .await
            .context("send timed out")?
            .context("send")
    }

    /// Writes `bytes` as they are, past the codec: frames the test encoded itself, several
    /// in one write. (Every [`TestClient::send`] is flushed, so nothing is queued before.)
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        timeout(WAIT, self.frames.get_mut().write_all(bytes))
            .await
            .context("send timed out")?
            .context("send")
    }

    /// Sends a chat message to the room.
    pub async fn say(&mut self, text: &str) -> anyhow::Result<()> {
        self.send(ClientMsg::Chat { text: text.into() }).await
    }

    /// Receives the next frame; an error on timeout or end of stream.
    pub async fn recv(&mut self) -> anyhow::Result<ServerMsg> {
        self.recv_until(|_| true).await
    }

    /// Receives frames until one satisfies `pred` and returns it; the others are skipped.
    /// The whole search is bounded by [`WAIT`].
    pub async fn recv_until(
        &mut self,
        pred: impl FnMut(&ServerMsg) -> bool,
    ) -> anyhow::Result<ServerMsg> {
        let mut seen = self.collect_until(pred).await?;
        seen.pop()
            .context("collect_until ends with the matching frame")
    }

    /// Receives frames until one satisfies `pred`; returns all of them, that one last.
    /// The whole search is bounded by [`WAIT`].
    pub async fn collect_until(
        &mut self,
        mut pred: impl FnMut(&ServerMsg) -> bool,
    ) -> anyhow::Result<Vec<ServerMsg>> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let next = timeout_at(deadline, self.frames.next())
                .await
                .with_context(|| {
                    format!(
                        "{}: awaited frame never came; got {}",
                        self.nick,
                        summary(&seen)
                    )
                })?;
            let msg = match next {
                Some(Ok(msg)) => msg,
                Some(Err(e)) => {
                    let context = format!("{}: bad frame after {}", self.nick, summary(&seen));
                    return Err(e).context(context);
                }
                None => bail!(
                    "{}: connection closed before the awaited frame; got {}",
                    self.nick,
                    summary(&seen)
                ),
            };
            if let (true, ServerMsg::Ping { token }) = (self.auto_pong, &msg) {
                let token = *token;
                self.send(ClientMsg::Pong { token }).await?;
                continue;
            }
            let found = pred(&msg);
            seen.push(msg);
            if found {
                return Ok(seen);
            }
        }
    }

    /// Asks for the member list of the current room (its first page, in version 4).
    pub async fn who(&mut self) -> anyhow::Result<Vec<String>> {
        self.send(ClientMsg::Who).await?;
        match self
            .recv_until(|m| matches!(m, ServerMsg::Members { .. } | ServerMsg::Members4 { .. }))
            .await?
        {
            ServerMsg::Members { members, .. } => Ok(members),
            ServerMsg::Members4 { members, .. } => Ok(members.names),
            _ => unreachable!("recv_until returned a member list"),
        }
    }

    /// Sends `msg` with the request id `id` and returns the frames received until its
    /// answer, the answer last (unwrapped). Frames that answer other requests are an
    /// error: every answer must carry its own request's id.
    pub async fn request(&mut self, id: u32, msg: ClientMsg) -> anyhow::Result<ServerMsg> {
        self.send(msg.with_id(id)).await?;
        let seen = self
            .collect_until(|m| matches!(m, ServerMsg::Reply { id: got, .. } if *got == id))
            .await?;
        if let Some(other) = seen
            .iter()
            .find(|m| matches!(m, ServerMsg::Reply { id: got, .. } if *got != id))
        {
            bail!("the answer to request {id} came with another id: {other:?}");
        }
        let answer = seen.into_iter().last().context("the answer")?;
        Ok(answer.into_reply().1)
    }

    /// Reads until the server closes the connection and returns the frames read on the way.
    /// A reset counts as closed: the frames before it were delivered.
    pub async fn until_closed(self) -> anyhow::Result<Vec<ServerMsg>> {
        // Read through the same `Framed`: it may hold the start of a frame already.
        frames_until_closed(self.frames)
            .await
            .with_context(|| format!("{}: not closed as expected", self.nick))
    }
}

/// A byte stream to the server at `addr`, as a [`TestClient`] opens it (TLS to a server
/// whose key this process knows, else plain TCP), for tests that write frames of their own.
pub async fn open_stream(addr: SocketAddr) -> anyhow::Result<Stream> {
    let connecting = async {
        match crate::library::dial(addr) {
            // As before TLS: a socket as the OS makes it (Nagle's algorithm on).
            Dial::Plaintext => TcpStream::connect(addr)
                .await
                .map(tokio_util::either::Either::Left),
            tls => tls.connect(&addr.to_string()).await,
        }
    };
    timeout(WAIT, connecting)
        .await
        .context("connect timed out")?
        .context("connect")
}

/// A `Hello4` for this protocol version, asking for no feature.
pub fn hello(nick: &str, room: &str) -> ClientMsg {
    ClientMsg::hello4(nick, room)
}

/// The `Hello` of a version 3 client.
pub fn hello_v3(nick: &str, room: &str) -> ClientMsg {
    ClientMsg::Hello {
        version: OLDEST_VERSION,
        nick: nick.into(),
        room: room.into(),
    }
}

/// A room message as a test reads it, from a version 4 `Room` (bare or as a reply) or a
/// version 3 `Chat`.
#[derive(Debug, Clone, Copy)]
pub struct Said<'a> {
    pub id: u64,
    /// The room's sequence number (version 4 only).
    pub seq: Option<u64>,
    pub room: &'a str,
    pub from: &'a str,
    pub kind: ChatKind,
    pub text: &'a str,
}

/// The frame inside a `Reply`, or the frame itself.
pub fn unwrapped(m: &ServerMsg) -> &ServerMsg {
    match m {
        ServerMsg::Reply { msg, .. } => msg,
        other => other,
    }
}

/// `m` as a chat line, if it is one.
pub fn said(m: &ServerMsg) -> Option<Said<'_>> {
    match unwrapped(m) {
        ServerMsg::Room {
            id,
            seq,
            room,
            event: RoomEvent::Said { from, kind, text },
            ..
        } => Some(Said {
            id: *id,
            seq: Some(*seq),
            room,
            from,
            kind: *kind,
            text,
        }),
        ServerMsg::Chat {
            id,
            room,
            from,
            kind,
            text,
            ..
        } => Some(Said {
            id: *id,
            seq: None,
            room,
            from,
            kind: *kind,
            text,
        }),
        _ => None,
    }
}

/// Whether `m` is a chat line saying `text`.
pub fn says(m: &ServerMsg, text: &str) -> bool {
    said(m).is_some_and(|s| s.text == text)
}

/// The event of a room notice (a version 4 `Room` that is not a chat line or a file, or a
/// version 3 `Notice`), with its room.
pub fn notice(m: &ServerMsg) -> Option<(&str, &RoomEvent)> {
    match unwrapped(m) {
        ServerMsg::Room {
            event: RoomEvent::Said { .. } | RoomEvent::Shared { .. },
            ..
        } => None,
        ServerMsg::Room { room, event, .. } | ServerMsg::Notice { room, event, .. } => {
            Some((room, event))
        }
        _ => None,
    }
}

/// Whether `m` tells that `who` left, for a reason that satisfies `why`.
pub fn left(m: &ServerMsg, who: &str, why: impl Fn(&str) -> bool) -> bool {
    matches!(notice(m), Some((_, RoomEvent::Left { nick, reason })) if nick == who && why(reason))
}

/// Whether `m` tells that `who` joined.
pub fn joined(m: &ServerMsg, who: &str) -> bool {
    matches!(notice(m), Some((_, RoomEvent::Joined { nick })) if nick == who)
}

/// The file of a file offer (a version 4 `Room` of a shared file, or a version 3
/// `FileOffered`).
pub fn offered(m: &ServerMsg) -> Option<&FileInfo> {
    match unwrapped(m) {
        ServerMsg::Room {
            event: RoomEvent::Shared { file },
            ..
        }
        | ServerMsg::FileOffered { file } => Some(file),
        _ => None,
    }
}

/// Reads server frames from a raw socket until the server closes it; returns them.
///
/// Fails if the connection is still open after [`WAIT`], or if the server sends something
/// that is not a frame.
pub async fn until_closed(stream: TcpStream) -> anyhow::Result<Vec<ServerMsg>> {
    frames_until_closed(FramedRead::new(stream, ClientCodec::default())).await
}

async fn frames_until_closed(
    mut frames: impl futures::Stream<Item = Result<ServerMsg, shared::CodecError>> + Unpin,
) -> anyhow::Result<Vec<ServerMsg>> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let next = timeout_at(deadline, frames.next())
            .await
            .with_context(|| format!("not closed within {WAIT:?}; got {}", summary(&seen)))?;
        match next {
            None => return Ok(seen),
            Some(Ok(msg)) => seen.push(msg),
            // The server closed with input of ours still unread, or after our own close,
            // or (over TLS) without saying so first, as a killed server does; what it sent
            // before is what counts.
            Some(Err(shared::CodecError::Io(e)))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                return Ok(seen);
            }
            // A slow consumer is cut off wherever its writer was, possibly mid-frame.
            Some(Err(shared::CodecError::Truncated { .. })) => return Ok(seen),
            Some(Err(e)) => return Err(e).context(format!("after {}", summary(&seen))),
        }
    }
}

/// Reads one whole frame (header and payload) from a raw socket, within [`WAIT`].
pub async fn read_raw_frame(stream: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let read = async {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).await?;
        let len = u32::from_be_bytes(header) as usize;
        if len > shared::limits::MAX_FRAME_LEN {
            bail!("a header announcing {len} bytes");
        }
        let mut frame = header.to_vec();
        frame.resize(4 + len, 0);
        stream.read_exact(&mut frame[4..]).await?;
        Ok(frame)
    };
    timeout(WAIT, read).await.context("no frame in time")?
}

/// A whole frame (4-byte big-endian length, then `payload`), for tests that write raw bytes.
pub fn raw_frame(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("test payloads are small");
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

/// The bytes of `msg` as a client would send them.
pub fn encode(msg: ClientMsg) -> Vec<u8> {
    let mut wire = bytes::BytesMut::new();
    tokio_util::codec::Encoder::encode(&mut ClientCodec::default(), msg, &mut wire)
        .expect("test messages encode");
    wire.to_vec()
}

/// Runs `work` while `a` and `b` keep chatting: every 50 ms `a` says something and `b`
/// must receive it. Returns `work`'s output and how many messages went through. Proves
/// that whatever `work` does to the server, other clients do not notice.
pub async fn chat_during<T>(
    a: &mut TestClient,
    b: &mut TestClient,
    work: impl std::future::Future<Output = T>,
) -> anyhow::Result<(T, usize)> {
    let (out, rounds, _) = chat_during_seen(a, b, work).await?;
    Ok((out, rounds))
}

/// As [`chat_during`], and also every frame `b` received meanwhile: what a test that
/// waits for something the room was told must look at first, since `b` may have had it
/// before the work ended.
pub async fn chat_during_seen<T>(
    a: &mut TestClient,
    b: &mut TestClient,
    work: impl std::future::Future<Output = T>,
) -> anyhow::Result<(T, usize, Vec<ServerMsg>)> {
    tokio::pin!(work);
    let deadline = Instant::now() + 2 * WAIT;
    let mut seen = Vec::new();
    for round in 0.. {
        let text = format!("round {round}");
        a.say(&text).await?;
        seen.extend(b.collect_until(|m| says(m, &text)).await?);
        tokio::select! {
            out = &mut work => return Ok((out, round + 1, seen)),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        if Instant::now() > deadline {
            break;
        }
    }
    bail!("the work did not finish within {:?}", 2 * WAIT)
}

/// A short description of received frames for failure messages: how many, and the last
/// few with long texts cut, since a test may have received megabytes.
pub fn summary(frames: &[ServerMsg]) -> String {
    let last: Vec<String> = frames
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|m| {
            let text = format!("{m:?}");
            match text.char_indices().nth(160) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text,
            }
        })
        .collect();
    format!("{} frames, ending [{}]", frames.len(), last.join(", "))
}
