//! The network task: the only code that touches the socket.
//!
//! [`connect`] makes the first connection and handshake itself, so that an unreachable
//! server or a taken nick is reported before the screen is taken over. It then spawns the
//! task and returns a [`NetHandle`] (to send) and a receiver of [`NetEvent`]s (to read).
//!
//! The task answers the server's pings, notices a dead connection (keepalive), reconnects
//! with exponential backoff and rejoins the room under the current nick. What is sent while
//! disconnected waits in a bounded queue and goes out after reconnecting; when the queue is
//! full the message is refused, and the app says so. Nothing is dropped silently.
//!
//! What the server counts against its request rate (chat lines, commands, a transfer's
//! requests, the keepalive's pings) goes out at the client's own pace ([`crate::pace`]):
//! a burst, then a steady rate a little below the server's, so that a long paste or the
//! backlog after a reconnect never makes the server take the client for a flooder. What is
//! beyond the budget waits in the connection's outbox, in order, and the app is told how
//! much waits ([`NetEvent::Waiting`]); a quit does not wait (what still waits is dropped).
//!
//! Each connection has a writer task of its own with two inputs: the chat queue (every
//! frame the user sends, pings and pongs, a transfer's requests) and the file lane (upload
//! chunks, see [`crate::transfer`]). It takes a chunk only when no chat frame is waiting,
//! so a line typed during a large upload waits behind one chunk at most. The reading side
//! stays here and routes the server's file messages to the transfers.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use shared::{ClientCodec, ClientMsg, ErrorKind, PROTOCOL_VERSION, ServerMsg};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::codec::Framed;

use crate::pace::Outbox;
use crate::transfer::{self, Registry, TransferEvent};

/// Time allowed to connect and complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// First wait before reconnecting; it doubles after every failed attempt...
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// ...up to this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Messages kept while disconnected; more are refused.
pub const MAX_QUEUED: usize = 100;
/// After this long without a frame from the server, the client pings it...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// ...and gives the connection up when nothing arrives within this.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// Events buffered towards the app. When the app falls behind, the task stops reading the
/// socket rather than buffering without bound.
const EVENT_BUFFER: usize = 1024;
/// Time a leaving client's writer gets to send its last frames (the quit).
const QUIT_FLUSH: Duration = Duration::from_secs(1);

type Conn = Framed<TcpStream, ClientCodec>;

/// Where to connect and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// `HOST:PORT`; the host may be a name.
    pub addr: String,
    pub nick: String,
    pub room: String,
}

/// The server's welcome: who and where the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub nick: String,
    pub room: String,
    pub members: Vec<String>,
}

/// What the network task tells the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// Connected again after a drop; the room was rejoined.
    Welcome {
        nick: String,
        room: String,
        members: Vec<String>,
    },
    /// A frame from the server (pings are answered by the task and not passed on).
    Server(ServerMsg),
    /// The connection is gone.
    Disconnected { reason: String },
    /// The next attempt to reconnect is in `delay`.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        error: String,
    },
    /// A message was queued while disconnected; `waiting` are now queued.
    Queued { waiting: usize },
    /// After reconnecting, the queued messages were handed to the new connection (those
    /// beyond the client's pace then wait in its outbox, see [`NetEvent::Waiting`]).
    Flushed { sent: usize },
    /// Frames waiting for their turn at the client's pace ([`crate::pace`]): `waiting` of
    /// them now. Sent when the number changes; 0 when all are out.
    Waiting { waiting: usize },
    /// A message could not be sent and was not queued.
    Refused { reason: String },
    /// The client cannot go on (the server now speaks another protocol version).
    Fatal(String),
    /// News of a file transfer.
    Transfer(TransferEvent),
}

/// Why the first connection failed, worded for the user.
#[derive(Debug)]
pub enum ConnectError {
    Unreachable {
        addr: String,
        source: std::io::Error,
    },
    Refused {
        addr: String,
        nick: String,
        kind: ErrorKind,
        text: String,
    },
    Protocol {
        addr: String,
        detail: String,
    },
    Timeout {
        addr: String,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Unreachable { addr, source } => {
                write!(f, "cannot reach the server at {addr}: {source}")
            }
            ConnectError::Refused {
                nick, kind, text, ..
            } => match kind {
                ErrorKind::NickTaken => {
                    write!(f, "the nick '{nick}' is taken; choose another with --nick")
                }
                ErrorKind::InvalidNick => write!(f, "the nick '{nick}' is not allowed: {text}"),
                ErrorKind::VersionMismatch => write!(
                    f,
                    "version mismatch: this client speaks protocol version \
                     {PROTOCOL_VERSION} and the server refused it ({text})"
                ),
                _ => write!(f, "the server refused the connection: {text}"),
            },
            ConnectError::Protocol { addr, detail } => {
                write!(f, "unexpected answer from {addr}: {detail}")
            }
            ConnectError::Timeout { addr } => write!(
                f,
                "no answer from {addr} within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

/// What the app asks of the network task.
#[derive(Debug)]
enum Request {
    Send(ClientMsg),
    Transfer(transfer::Request),
}

/// The app's end of the network task.
#[derive(Debug)]
pub struct NetHandle {
    commands: mpsc::UnboundedSender<Request>,
    task: JoinHandle<()>,
}

impl NetHandle {
    /// Sends a frame, or queues it while disconnected. A [`ClientMsg::Quit`] is sent and
    /// then ends the task.
    pub fn send(&self, msg: ClientMsg) {
        // The task only ends after a quit or a fatal error; later frames have nowhere to go.
        let _ = self.commands.send(Request::Send(msg));
    }

    /// Starts or cancels a file transfer; its news arrives as [`NetEvent::Transfer`].
    pub fn transfer(&self, request: transfer::Request) {
        let _ = self.commands.send(Request::Transfer(request));
    }

    /// Waits (bounded) for the task to end. Without a quit sent before, it is stopped.
    pub async fn finish(self) {
        let NetHandle { commands, mut task } = self;
        drop(commands);
        if timeout(Duration::from_secs(2), &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Connects, says hello, and starts the network task.
pub async fn connect(
    config: NetConfig,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>, Welcome), ConnectError> {
    let (conn, welcome) = handshake(&config.addr, &config.nick, &config.room).await?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::channel(EVENT_BUFFER);
    let task = Task {
        addr: config.addr,
        nick: welcome.nick.clone(),
        room: welcome.room.clone(),
        queue: VecDeque::new(),
        commands: command_rx,
        transfers: Registry::new(event_tx.clone()),
        events: event_tx,
    };
    let task = tokio::spawn(task.run(conn));
    Ok((NetHandle { commands, task }, events, welcome))
}

/// Opens a connection and completes the hello/welcome exchange.
async fn handshake(addr: &str, nick: &str, room: &str) -> Result<(Conn, Welcome), ConnectError> {
    let protocol = |detail: String| ConnectError::Protocol {
        addr: addr.to_owned(),
        detail,
    };
    let exchange = async {
        let stream =
            TcpStream::connect(addr)
                .await
                .map_err(|source| ConnectError::Unreachable {
                    addr: addr.to_owned(),
                    source,
                })?;
        // Chat frames are small and should leave at once.
        let _ = stream.set_nodelay(true);
        let mut conn = Framed::new(stream, ClientCodec::default());
        let hello = ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            nick: nick.to_owned(),
            room: room.to_owned(),
        };
        conn.send(hello)
            .await
            .map_err(|e| protocol(e.to_string()))?;
        loop {
            match conn.next().await {
                Some(Ok(ServerMsg::Welcome {
                    version,
                    nick,
                    room,
                    members,
                })) => {
                    if version != PROTOCOL_VERSION {
                        return Err(ConnectError::Refused {
                            addr: addr.to_owned(),
                            nick,
                            kind: ErrorKind::VersionMismatch,
                            text: format!("the server speaks version {version}"),
                        });
                    }
                    return Ok((
                        conn,
                        Welcome {
                            nick,
                            room,
                            members,
                        },
                    ));
                }
                Some(Ok(ServerMsg::Error { kind, text })) => {
                    return Err(ConnectError::Refused {
                        addr: addr.to_owned(),
                        nick: nick.to_owned(),
                        kind,
                        text,
                    });
                }
                Some(Ok(ServerMsg::Ping { token })) => {
                    conn.send(ClientMsg::Pong { token })
                        .await
                        .map_err(|e| protocol(e.to_string()))?;
                }
                Some(Ok(other)) => {
                    return Err(protocol(format!("expected a welcome, got {other:?}")));
                }
                Some(Err(e)) => return Err(protocol(e.to_string())),
                None => {
                    return Err(protocol(
                        "the connection closed during the handshake".into(),
                    ));
                }
            }
        }
    };
    timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(ConnectError::Timeout {
                addr: addr.to_owned(),
            })
        })
}

/// How a connected spell ended.
enum End {
    /// The user quit, or the app is gone.
    Quit,
    /// The connection was lost, for this reason.
    Lost(String),
}

struct Task {
    addr: String,
    /// Current nick and room, used to rejoin after a reconnect.
    nick: String,
    room: String,
    queue: VecDeque<ClientMsg>,
    commands: mpsc::UnboundedReceiver<Request>,
    events: mpsc::Sender<NetEvent>,
    transfers: Registry,
}

impl Task {
    async fn run(mut self, mut conn: Conn) {
        loop {
            let reason = match self.connected(conn).await {
                End::Quit => return,
                End::Lost(reason) => reason,
            };
            tracing::info!(%reason, "connection lost");
            if !self
                .emit(NetEvent::Disconnected {
                    reason: reason.clone(),
                })
                .await
            {
                return;
            }
            match self.reconnect(reason).await {
                Some(new) => conn = new,
                None => return,
            }
        }
    }

    /// Tells the app; false when the app is gone.
    async fn emit(&self, event: NetEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Serves one connection until it ends.
    async fn connected(&mut self, conn: Conn) -> End {
        let (sink, mut stream) = conn.split();
        let (urgent, urgent_rx) = mpsc::unbounded_channel();
        let (lane, lane_rx) = mpsc::channel(transfer::LANE_FRAMES);
        let (stop, stop_rx) = oneshot::channel();
        let mut writer = tokio::spawn(write_frames(sink, urgent_rx, lane_rx, stop_rx));
        self.transfers.connected(lane).await;
        // What waited for a connection goes first, at the same pace as the rest.
        let mut outbox = Outbox::new(Instant::now());
        let backlog = std::mem::take(&mut self.queue);
        let flushed = backlog.len();
        let mut reported = 0;
        for msg in backlog {
            self.pass(&mut outbox, msg, &urgent).await;
        }
        if flushed > 0 {
            self.emit(NetEvent::Flushed { sent: flushed }).await;
            self.report(&outbox, &mut reported).await;
        }
        let served = self
            .serve(
                &mut stream,
                &urgent,
                &mut writer,
                &mut outbox,
                &mut reported,
            )
            .await;
        let reason = match served {
            Served::Quit => {
                // The writer sends what is queued (the quit last) and ends.
                drop(urgent);
                if timeout(QUIT_FLUSH, &mut writer).await.is_err() {
                    writer.abort();
                }
                return End::Quit;
            }
            Served::Lost(reason) => {
                let _ = stop.send(());
                if let Ok(Ok(end)) = timeout(QUIT_FLUSH, &mut writer).await {
                    self.keep(end, outbox.drain()).await;
                } else {
                    writer.abort();
                    self.keep_all(outbox.drain()).await;
                }
                reason
            }
            Served::WriterEnded(end) => {
                let reason = end
                    .error
                    .clone()
                    .unwrap_or_else(|| "the writer stopped".into());
                self.keep(end, outbox.drain()).await;
                reason
            }
        };
        self.report(&outbox, &mut reported).await;
        self.transfers.disconnected().await;
        End::Lost(reason)
    }

    /// Reads the connection and carries out the app's requests until one of them ends it.
    async fn serve(
        &mut self,
        stream: &mut SplitStream<Conn>,
        urgent: &mpsc::UnboundedSender<ClientMsg>,
        writer: &mut JoinHandle<WriterEnd>,
        outbox: &mut Outbox,
        reported: &mut usize,
    ) -> Served {
        let mut deadline = Instant::now() + KEEPALIVE_IDLE;
        let mut pinged = false;
        let mut shutdown_reason = None;
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let msg = match frame {
                        Some(Ok(msg)) => msg,
                        Some(Err(e)) => return Served::Lost(e.to_string()),
                        None => {
                            return Served::Lost(shutdown_reason.map_or_else(
                                || "the server closed the connection".to_owned(),
                                |r| format!("the server shut down ({r})"),
                            ));
                        }
                    };
                    deadline = Instant::now() + KEEPALIVE_IDLE;
                    pinged = false;
                    match &msg {
                        ServerMsg::Ping { token } => {
                            let _ = urgent.send(ClientMsg::Pong { token: *token });
                            continue;
                        }
                        ServerMsg::Pong { .. } => continue,
                        ServerMsg::NickChanged { nick } => self.nick.clone_from(nick),
                        ServerMsg::Joined { room, .. } => self.room.clone_from(room),
                        ServerMsg::Shutdown { reason } => shutdown_reason = Some(reason.clone()),
                        _ => {}
                    }
                    let Some(msg) = self.transfers.route(msg).await else { continue };
                    if !self.emit(NetEvent::Server(msg)).await {
                        return Served::Quit;
                    }
                }
                request = self.commands.recv() => match request {
                    None => return Served::Quit,
                    Some(Request::Send(msg)) => {
                        if matches!(msg, ClientMsg::Quit { .. }) {
                            // Leaving does not wait for the outbox.
                            if !outbox.is_empty() {
                                tracing::info!(dropped = outbox.len(), "quit before all was sent");
                            }
                            let _ = urgent.send(msg);
                            return Served::Quit;
                        }
                        self.pass(outbox, msg, urgent).await;
                        self.report(outbox, reported).await;
                    }
                    Some(Request::Transfer(request)) => self.transfers.request(request).await,
                },
                Some(msg) = self.transfers.control() => {
                    self.pass(outbox, msg, urgent).await;
                    self.report(outbox, reported).await;
                }
                // A timer only while something waits for its turn.
                () = sleep_until(outbox.next_at().unwrap_or(deadline)), if !outbox.is_empty() => {
                    for msg in outbox.release(Instant::now()) {
                        self.forward(msg, urgent).await;
                    }
                    self.report(outbox, reported).await;
                }
                end = &mut *writer => return match end {
                    Ok(end) => Served::WriterEnded(end),
                    Err(e) => Served::Lost(format!("the writer failed: {e}")),
                },
                () = sleep_until(deadline) => {
                    if pinged {
                        return Served::Lost(format!(
                            "no answer from the server for {} s",
                            (KEEPALIVE_IDLE + KEEPALIVE_TIMEOUT).as_secs()
                        ));
                    }
                    self.pass(outbox, ClientMsg::Ping { token: 0 }, urgent).await;
                    self.report(outbox, reported).await;
                    pinged = true;
                    deadline = Instant::now() + KEEPALIVE_TIMEOUT;
                }
            }
        }
    }

    /// Hands a frame to the connection's outbox, and on to the writer if its turn has come.
    async fn pass(
        &mut self,
        outbox: &mut Outbox,
        msg: ClientMsg,
        urgent: &mpsc::UnboundedSender<ClientMsg>,
    ) {
        if let Some(msg) = outbox.push(msg, Instant::now()) {
            self.forward(msg, urgent).await;
        }
    }

    /// Gives a frame to the writer. If the writer has stopped (the next turn of the loop
    /// hears why), the user's frames are kept for the next connection.
    async fn forward(&mut self, msg: ClientMsg, urgent: &mpsc::UnboundedSender<ClientMsg>) {
        if let Err(unsent) = urgent.send(msg) {
            if is_from_user(&unsent.0) {
                self.hold_all(vec![unsent.0]).await;
            }
        }
    }

    /// Tells the app how many frames wait in the outbox, when that has changed.
    async fn report(&self, outbox: &Outbox, reported: &mut usize) {
        if outbox.len() != *reported {
            *reported = outbox.len();
            self.emit(NetEvent::Waiting { waiting: *reported }).await;
        }
    }

    /// Keeps what the user sent that the writer could not, then what still waited in the
    /// outbox, for the next connection.
    async fn keep(&mut self, end: WriterEnd, outbox: Vec<ClientMsg>) {
        let WriterEnd {
            unsent, mut urgent, ..
        } = end;
        let mut left = Vec::from_iter(unsent);
        while let Ok(msg) = urgent.try_recv() {
            left.push(msg);
        }
        left.extend(outbox);
        self.keep_all(left).await;
    }

    /// Keeps the user's frames among `msgs`. A transfer's own frames are not kept: its
    /// task starts over on the next connection.
    async fn keep_all(&mut self, msgs: Vec<ClientMsg>) {
        let mine = msgs.into_iter().filter(is_from_user).collect();
        self.hold_all(mine).await;
    }

    /// Keeps messages for after the reconnect, in order, refusing those that do not fit in
    /// the queue; the app hears of it once.
    async fn hold_all(&mut self, msgs: Vec<ClientMsg>) {
        let mut refused = 0;
        let mut queued = 0;
        for msg in msgs {
            if self.queue.len() >= MAX_QUEUED {
                refused += 1;
            } else {
                self.queue.push_back(msg);
                queued += 1;
            }
        }
        if queued > 0 {
            let waiting = self.queue.len();
            self.emit(NetEvent::Queued { waiting }).await;
        }
        if refused > 0 {
            let what = if refused == 1 {
                "not connected".to_owned()
            } else {
                format!("{refused} messages: not connected")
            };
            let reason = format!("{what}, and {MAX_QUEUED} messages are already waiting");
            self.emit(NetEvent::Refused { reason }).await;
        }
    }

    /// Tries to connect again, waiting longer after each failure. Returns `None` when the
    /// user quits meanwhile or reconnecting cannot succeed.
    async fn reconnect(&mut self, mut error: String) -> Option<Conn> {
        let mut delay = INITIAL_BACKOFF;
        for attempt in 1.. {
            let event = NetEvent::Reconnecting {
                attempt,
                delay,
                error: error.clone(),
            };
            if !self.emit(event).await {
                return None;
            }
            let wake = sleep(delay);
            tokio::pin!(wake);
            loop {
                tokio::select! {
                    () = &mut wake => break,
                    cmd = self.commands.recv() => match cmd {
                        None | Some(Request::Send(ClientMsg::Quit { .. })) => return None,
                        Some(Request::Send(msg)) => self.hold_all(vec![msg]).await,
                        // Transfers wait for the connection by themselves.
                        Some(Request::Transfer(request)) => self.transfers.request(request).await,
                    },
                }
            }
            match handshake(&self.addr, &self.nick, &self.room).await {
                Ok((conn, welcome)) => {
                    tracing::info!(attempt, "reconnected");
                    self.nick.clone_from(&welcome.nick);
                    self.room.clone_from(&welcome.room);
                    let event = NetEvent::Welcome {
                        nick: welcome.nick,
                        room: welcome.room,
                        members: welcome.members,
                    };
                    if !self.emit(event).await {
                        return None;
                    }
                    // The queue goes out on the connection, paced (see `connected`).
                    return Some(conn);
                }
                Err(ConnectError::Refused {
                    kind: ErrorKind::VersionMismatch,
                    text,
                    ..
                }) => {
                    let reason = format!("the server now speaks another protocol version: {text}");
                    self.emit(NetEvent::Fatal(reason)).await;
                    return None;
                }
                Err(e) => error = e.to_string(),
            }
            tracing::info!(attempt, %error, "reconnect failed");
            delay = (delay * 2).min(MAX_BACKOFF);
        }
        None
    }
}

/// How serving a connection ended.
enum Served {
    Quit,
    Lost(String),
    WriterEnded(WriterEnd),
}

/// What a connection's writer hands back when it stops.
struct WriterEnd {
    /// Why it stopped, if a write failed.
    error: Option<String>,
    /// A frame that may not have gone out.
    unsent: Option<ClientMsg>,
    /// Frames that were still waiting.
    urgent: mpsc::UnboundedReceiver<ClientMsg>,
}

/// Writes frames until the chat queue closes (the client leaves), a write fails, or `stop`
/// says the connection is over. A chunk of the file lane is written only when no chat
/// frame is waiting.
async fn write_frames(
    mut sink: SplitSink<Conn, ClientMsg>,
    mut urgent: mpsc::UnboundedReceiver<ClientMsg>,
    mut lane: mpsc::Receiver<ClientMsg>,
    mut stop: oneshot::Receiver<()>,
) -> WriterEnd {
    loop {
        let msg = tokio::select! {
            biased;
            _ = &mut stop => break,
            msg = urgent.recv() => match msg {
                Some(msg) => msg,
                None => {
                    let _ = sink.close().await;
                    break;
                }
            },
            Some(msg) = lane.recv() => msg,
        };
        // Only the user's frames are worth keeping if the write fails; chunks are large.
        let keep = is_from_user(&msg).then(|| msg.clone());
        let written = tokio::select! {
            biased;
            _ = &mut stop => Err(None),
            written = sink.send(msg) => written.map_err(|e| Some(e.to_string())),
        };
        if let Err(error) = written {
            return WriterEnd {
                error,
                unsent: keep,
                urgent,
            };
        }
    }
    WriterEnd {
        error: None,
        unsent: None,
        urgent,
    }
}

/// Whether the user asked for this frame (and it should be sent after a reconnect), as
/// opposed to the keepalive's and the transfers' own frames, which are made afresh.
fn is_from_user(msg: &ClientMsg) -> bool {
    !matches!(
        msg,
        ClientMsg::Ping { .. }
            | ClientMsg::Pong { .. }
            | ClientMsg::UploadStart { .. }
            | ClientMsg::UploadChunk { .. }
            | ClientMsg::UploadFinish { .. }
            | ClientMsg::UploadCancel { .. }
            | ClientMsg::UploadResume { .. }
            | ClientMsg::Download { .. }
            | ClientMsg::DownloadCancel { .. }
    )
}
