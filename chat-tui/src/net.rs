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

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use shared::{ClientCodec, ClientMsg, ErrorKind, PROTOCOL_VERSION, ServerMsg};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::codec::Framed;

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
    /// After reconnecting, the queued messages were sent.
    Flushed { sent: usize },
    /// A message could not be sent and was not queued.
    Refused { reason: String },
    /// The client cannot go on (the server now speaks another protocol version).
    Fatal(String),
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

/// The app's end of the network task.
#[derive(Debug)]
pub struct NetHandle {
    commands: mpsc::UnboundedSender<ClientMsg>,
    task: JoinHandle<()>,
}

impl NetHandle {
    /// Sends a frame, or queues it while disconnected. A [`ClientMsg::Quit`] is sent and
    /// then ends the task.
    pub fn send(&self, msg: ClientMsg) {
        // The task only ends after a quit or a fatal error; later frames have nowhere to go.
        let _ = self.commands.send(msg);
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
    commands: mpsc::UnboundedReceiver<ClientMsg>,
    events: mpsc::Sender<NetEvent>,
}

impl Task {
    async fn run(mut self, mut conn: Conn) {
        loop {
            let reason = match self.connected(&mut conn).await {
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
    async fn connected(&mut self, conn: &mut Conn) -> End {
        let mut deadline = Instant::now() + KEEPALIVE_IDLE;
        let mut pinged = false;
        let mut shutdown_reason = None;
        loop {
            tokio::select! {
                frame = conn.next() => {
                    let msg = match frame {
                        Some(Ok(msg)) => msg,
                        Some(Err(e)) => return End::Lost(e.to_string()),
                        None => {
                            return End::Lost(shutdown_reason.map_or_else(
                                || "the server closed the connection".to_owned(),
                                |r| format!("the server shut down ({r})"),
                            ));
                        }
                    };
                    deadline = Instant::now() + KEEPALIVE_IDLE;
                    pinged = false;
                    match &msg {
                        ServerMsg::Ping { token } => {
                            if let Err(e) = conn.send(ClientMsg::Pong { token: *token }).await {
                                return End::Lost(e.to_string());
                            }
                            continue;
                        }
                        ServerMsg::Pong { .. } => continue,
                        ServerMsg::NickChanged { nick } => self.nick.clone_from(nick),
                        ServerMsg::Joined { room, .. } => self.room.clone_from(room),
                        ServerMsg::Shutdown { reason } => shutdown_reason = Some(reason.clone()),
                        _ => {}
                    }
                    if !self.emit(NetEvent::Server(msg)).await {
                        return End::Quit;
                    }
                }
                cmd = self.commands.recv() => {
                    let Some(msg) = cmd else { return End::Quit };
                    if let ClientMsg::Quit { .. } = msg {
                        let _ = timeout(Duration::from_secs(1), conn.send(msg)).await;
                        return End::Quit;
                    }
                    if let Err(e) = conn.send(msg.clone()).await {
                        self.hold(msg).await;
                        return End::Lost(e.to_string());
                    }
                }
                () = sleep_until(deadline) => {
                    if pinged {
                        return End::Lost(format!(
                            "no answer from the server for {} s",
                            (KEEPALIVE_IDLE + KEEPALIVE_TIMEOUT).as_secs()
                        ));
                    }
                    if let Err(e) = conn.send(ClientMsg::Ping { token: 0 }).await {
                        return End::Lost(e.to_string());
                    }
                    pinged = true;
                    deadline = Instant::now() + KEEPALIVE_TIMEOUT;
                }
            }
        }
    }

    /// Keeps a message for after the reconnect, or refuses it when the queue is full.
    async fn hold(&mut self, msg: ClientMsg) {
        let event = if self.queue.len() >= MAX_QUEUED {
            NetEvent::Refused {
                reason: format!("not connected, and {MAX_QUEUED} messages are already waiting"),
            }
        } else {
            self.queue.push_back(msg);
            NetEvent::Queued {
                waiting: self.queue.len(),
            }
        };
        self.emit(event).await;
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
                        None | Some(ClientMsg::Quit { .. }) => return None,
                        Some(msg) => self.hold(msg).await,
                    },
                }
            }
            match handshake(&self.addr, &self.nick, &self.room).await {
                Ok((mut conn, welcome)) => {
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
                    match self.flush(&mut conn).await {
                        Ok(()) => return Some(conn),
                        Err(e) => error = e,
                    }
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

    /// Sends what was queued while disconnected, in order.
    async fn flush(&mut self, conn: &mut Conn) -> Result<(), String> {
        let mut sent = 0;
        while let Some(msg) = self.queue.front() {
            conn.send(msg.clone()).await.map_err(|e| e.to_string())?;
            self.queue.pop_front();
            sent += 1;
        }
        if sent > 0 {
            self.emit(NetEvent::Flushed { sent }).await;
        }
        Ok(())
    }
}
