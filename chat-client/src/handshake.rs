//! The handshake: open a stream, say `Hello`, and read the server's `Welcome` or its
//! refusal, all within [`HANDSHAKE_TIMEOUT`].

use std::fmt;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use shared::{ClientCodec, ClientMsg, ErrorKind, PROTOCOL_VERSION, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;
use tokio_util::codec::Framed;

use crate::dial::Connector;

/// Time allowed to connect and complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection that speaks the protocol, over any stream.
pub(crate) type Conn<S> = Framed<S, ClientCodec>;

/// Where to connect and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `HOST:PORT`; the host may be a name.
    pub addr: String,
    pub nick: String,
    /// The room to join; empty means the server's default room.
    pub room: String,
}

/// The server's welcome: who and where the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub nick: String,
    pub room: String,
    pub members: Vec<String>,
}

/// Why a connection could not be made, worded for the user.
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

/// Opens a stream with `connector` and completes the hello/welcome exchange.
pub(crate) async fn open<C: Connector>(
    connector: &C,
    options: &Options,
) -> Result<(Conn<C::Stream>, Welcome), ConnectError> {
    let Options { addr, nick, room } = options;
    let exchange = async {
        let stream = connector
            .connect(addr)
            .await
            .map_err(|source| ConnectError::Unreachable {
                addr: addr.to_owned(),
                source,
            })?;
        greet(stream, addr, nick, room).await
    };
    timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(ConnectError::Timeout {
                addr: addr.to_owned(),
            })
        })
}

/// Says hello on an open stream and waits for the answer.
async fn greet<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    addr: &str,
    nick: &str,
    room: &str,
) -> Result<(Conn<S>, Welcome), ConnectError> {
    let protocol = |detail: String| ConnectError::Protocol {
        addr: addr.to_owned(),
        detail,
    };
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
}
