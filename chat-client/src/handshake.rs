//! The handshake: open a stream, say `Hello4` (protocol version 4, asking for the features
//! "history", "fetched", "rooms" and "auth", see [`hello`]), answer the server's
//! `Challenge` with the client's [`Credentials`] (the password if the server asks for one,
//! and a proof of the client's key, bound to the stream by [`Connector::binding`]), and
//! read the server's `Welcome4` or its refusal, all within [`HANDSHAKE_TIMEOUT`]. A server
//! older than version 4 cannot read the hello: that is said in one line
//! ([`ConnectError::OlderServer`]). A server that asks for a password the client does not
//! have gets no answer: the handshake stops with [`ConnectError::NeedsPassword`], so that
//! the program can ask the user and try again without spending one of the server's
//! limited attempts.

use std::fmt;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use shared::{
    ClientCodec, ClientMsg, CodecError, ErrorKind, FEATURE_AUTH, FEATURE_FETCHED, FEATURE_HISTORY,
    FEATURE_ROOMS, Limits, PROTOCOL_VERSION, ServerMsg,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;
use tokio_util::codec::Framed;

use crate::credentials::Credentials;
use crate::dial::Connector;

/// Time allowed to connect and complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection that speaks the protocol, over any stream.
pub(crate) type Conn<S> = Framed<S, ClientCodec>;

/// A connection whose handshake is done: the stream, the welcome, and the server's limits
/// (which the session's pace keeps below).
pub(crate) type Opened<S> = (Conn<S>, Welcome, Limits);

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
    /// The room's members (the first page of them in a large room).
    pub members: Vec<String>,
    /// How many members the room has: more than `members` holds in a large room.
    pub total: u32,
    /// The room's latest sequence number: the next room message has the next one.
    pub seq: u64,
    /// Whether the server granted the feature "rooms": the connection may then be in
    /// several rooms at once (`Join` adds a room, `InRoom` addresses one). Without it,
    /// `Join` moves, as in one room at a time.
    pub rooms: bool,
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
    /// The server speaks a protocol older than version 4: it could not read the hello.
    OlderServer {
        addr: String,
    },
    Timeout {
        addr: String,
    },
    /// The server's TLS key is not trusted: unknown yet, changed, or not the one given.
    Untrusted {
        addr: String,
        error: crate::trust::TrustError,
    },
    /// The client speaks TLS and the server does not.
    NotTls {
        addr: String,
        error: crate::dial::tls::NotTls,
    },
    /// The server asks for a password and the client has none: nothing was answered.
    NeedsPassword {
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
                addr,
                nick,
                kind,
                text,
            } => match kind {
                ErrorKind::NickTaken => {
                    write!(f, "the nick '{nick}' is taken; choose another with --nick")
                }
                // The shared rule says why about this very nick, in the server's words
                // ("the nick 'a b' holds the character U+0020, which is a space");
                // the server's own text only if this side finds nothing wrong.
                ErrorKind::InvalidNick => match shared::names::check_nick(nick) {
                    Err(why) => write!(f, "the nick '{nick}' {why}"),
                    Ok(()) => write!(f, "the nick '{nick}' is not allowed: {text}"),
                },
                ErrorKind::NickOwned => {
                    write!(f, "{text}; choose another nick with --nick")
                }
                ErrorKind::WrongPassword | ErrorKind::Banned => {
                    write!(f, "the server at {addr} refused the connection: {text}")
                }
                ErrorKind::VersionMismatch => write!(
                    f,
                    "version mismatch: this client speaks protocol {PROTOCOL_VERSION} and \
                     the server refused it ({text})"
                ),
                _ => write!(f, "the server refused the connection: {text}"),
            },
            ConnectError::Protocol { addr, detail } => {
                write!(f, "unexpected answer from {addr}: {detail}")
            }
            ConnectError::OlderServer { addr } => write!(
                f,
                "the server at {addr} speaks an older protocol (version 3 or earlier) and \
                 this client needs version {PROTOCOL_VERSION}: update the server, or use \
                 a client of its version"
            ),
            ConnectError::Untrusted { error, .. } => error.fmt(f),
            ConnectError::NotTls { addr, error } => write!(f, "at {addr}: {error}"),
            ConnectError::NeedsPassword { addr } => write!(
                f,
                "the server at {addr} needs a password: give it with --password-file PATH \
                 or in the environment variable {}",
                crate::credentials::PASSWORD_ENV
            ),
            ConnectError::Timeout { addr } => write!(
                f,
                "no answer from {addr} within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Opens a stream with `connector` and completes the hello/welcome exchange, proving
/// `credentials` if the server asks.
pub(crate) async fn open<C: Connector>(
    connector: &C,
    options: &Options,
    credentials: &Credentials,
) -> Result<Opened<C::Stream>, ConnectError> {
    let Options { addr, nick, room } = options;
    let exchange = async {
        let stream = connector
            .connect(addr)
            .await
            .map_err(|source| dial_error(addr, source))?;
        let binding = connector
            .binding(&stream)
            .map_err(|source| dial_error(addr, source))?;
        let hello = Hello {
            addr,
            nick,
            room,
            credentials,
            binding: &binding,
        };
        greet(stream, &hello).await
    };
    timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(ConnectError::Timeout {
                addr: addr.to_owned(),
            })
        })
}

/// The error of a stream that could not be opened: a refusal of TLS's, or a server not
/// reached.
fn dial_error(addr: &str, source: std::io::Error) -> ConnectError {
    let addr = addr.to_owned();
    let inner = source.get_ref();
    if let Some(error) = inner.and_then(|e| e.downcast_ref::<crate::trust::TrustError>()) {
        return ConnectError::Untrusted {
            addr,
            error: error.clone(),
        };
    }
    if let Some(error) = inner.and_then(|e| e.downcast_ref::<crate::dial::tls::NotTls>()) {
        return ConnectError::NotTls {
            addr,
            error: error.clone(),
        };
    }
    ConnectError::Unreachable { addr, source }
}

/// What one handshake says, and to whom.
struct Hello<'a> {
    addr: &'a str,
    nick: &'a str,
    room: &'a str,
    credentials: &'a Credentials,
    /// What ties the proof of the key to this stream ([`Connector::binding`]).
    binding: &'a [u8],
}

/// Says hello on an open stream, answers the challenge, and waits for the welcome.
async fn greet<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    greeting: &Hello<'_>,
) -> Result<Opened<S>, ConnectError> {
    let Hello {
        addr, nick, room, ..
    } = *greeting;
    let protocol = |detail: String| ConnectError::Protocol {
        addr: addr.to_owned(),
        detail,
    };
    let mut conn = Framed::new(stream, ClientCodec::default());
    conn.send(hello(nick, room))
        .await
        .map_err(|e| protocol(in_words(&e)))?;
    let mut challenged = false;
    loop {
        match conn.next().await {
            Some(Ok(ServerMsg::Challenge { nonce, password })) => {
                if challenged {
                    return Err(protocol("the server asked to prove twice".into()));
                }
                challenged = true;
                let prove = answer(greeting, &nonce, password)?;
                conn.send(prove).await.map_err(|e| protocol(in_words(&e)))?;
            }
            Some(Ok(ServerMsg::Welcome4 {
                version,
                limits,
                nick,
                room,
                seq,
                members,
                features,
            })) => {
                if version != PROTOCOL_VERSION {
                    return Err(ConnectError::Refused {
                        addr: addr.to_owned(),
                        nick,
                        kind: ErrorKind::VersionMismatch,
                        text: format!("the server chose version {version}"),
                    });
                }
                let welcome = Welcome {
                    nick,
                    room,
                    members: members.names,
                    total: members.total,
                    seq,
                    rooms: features.iter().any(|f| f == FEATURE_ROOMS),
                };
                return Ok((conn, welcome, limits));
            }
            // A server older than version 4 cannot read a `Hello4`: it says the frame is
            // malformed (a newer server never does, for a valid hello).
            Some(Ok(ServerMsg::Error {
                kind: ErrorKind::MalformedFrame,
                ..
            })) => {
                return Err(ConnectError::OlderServer {
                    addr: addr.to_owned(),
                });
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
                    .map_err(|e| protocol(in_words(&e)))?;
            }
            Some(Ok(_)) => {
                return Err(protocol(
                    "the server answered the hello with something other than a welcome".into(),
                ));
            }
            Some(Err(e)) => return Err(protocol(in_words(&e))),
            None => {
                return Err(protocol(
                    "the connection closed during the handshake".into(),
                ));
            }
        }
    }
}

/// The `Prove` that answers a challenge of `nonce` (asking for the password if
/// `password`).
fn answer(hello: &Hello<'_>, nonce: &[u8], password: bool) -> Result<ClientMsg, ConnectError> {
    if nonce.len() != shared::auth::NONCE_BYTES {
        return Err(ConnectError::Protocol {
            addr: hello.addr.to_owned(),
            detail: format!(
                "the server's challenge holds {} bytes, not {}",
                nonce.len(),
                shared::auth::NONCE_BYTES
            ),
        });
    }
    let password = match (&hello.credentials.password, password) {
        (_, false) => String::new(),
        (Some(given), true) => given.clone(),
        (None, true) => {
            return Err(ConnectError::NeedsPassword {
                addr: hello.addr.to_owned(),
            });
        }
    };
    let (key, signature) = match &hello.credentials.identity {
        Some(identity) => (
            identity.public_key().as_bytes().to_vec(),
            identity.prove(nonce, hello.binding),
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(ClientMsg::Prove {
        password,
        key,
        signature,
    })
}

/// The hello this client says: protocol version 4, asking for the features "history",
/// "fetched", "rooms" and "auth". A server that keeps history grants it and sends
/// [`ServerMsg::HistoryInfo`] right after its welcome (the first frame the session passes
/// on as [`crate::Event::Server`]); a server without grants nothing, and nothing else
/// changes. With "fetched", the files this client shares are followed by
/// [`ServerMsg::Fetched`] counts. A server that grants "rooms" lets the connection be in
/// several rooms at once ([`Welcome::rooms`]); one that does not keeps it in one room at a
/// time. A server that grants "auth" challenges the client before its welcome, and says
/// after it whether the client owns its nick and is an operator
/// ([`ServerMsg::Identified`]).
pub fn hello(nick: &str, room: &str) -> ClientMsg {
    ClientMsg::Hello4 {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        features: vec![
            FEATURE_HISTORY.to_owned(),
            FEATURE_FETCHED.to_owned(),
            FEATURE_ROOMS.to_owned(),
            FEATURE_AUTH.to_owned(),
        ],
        nick: nick.to_owned(),
        room: room.to_owned(),
    }
}

/// What went wrong with a connection, in words for the user: a frame this side cannot
/// read is the server's fault, not a detail of the wire to show.
pub(crate) fn in_words(error: &CodecError) -> String {
    match error {
        CodecError::Io(e) => format!("the connection failed: {e}"),
        CodecError::Truncated { .. } => "the connection broke off".to_owned(),
        CodecError::FrameTooLarge { .. } | CodecError::Malformed(_) => {
            "the server sent something this client cannot read".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt as _;

    use super::*;

    /// What the user reads when the server answers the hello with `bytes`, then sends
    /// nothing more.
    async fn refusal(bytes: &[u8]) -> String {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        theirs.write_all(bytes).await.unwrap();
        // The end of what the server sends; the hello can still be written.
        theirs.shutdown().await.unwrap();
        let credentials = Credentials::default();
        let hello = Hello {
            addr: "127.0.0.1:7878",
            nick: "ann",
            room: "lobby",
            credentials: &credentials,
            binding: &[],
        };
        match greet(ours, &hello).await {
            Ok(_) => panic!("welcomed by {bytes:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// A server on the other end of `ours` that challenges (`password`: asking for one),
    /// reads the answer, and welcomes: what the client proved.
    async fn challenge(
        credentials: &Credentials,
        binding: &[u8],
        password: bool,
    ) -> (Result<Welcome, ConnectError>, Option<ClientMsg>) {
        let (client, server) = tokio::io::duplex(4096);
        let nonce = vec![7; shared::auth::NONCE_BYTES];
        let server = tokio::spawn({
            let nonce = nonce.clone();
            async move {
                let mut conn = Framed::new(server, shared::ServerCodec::default());
                let hello = conn.next().await?.ok()?;
                let ClientMsg::Hello4 { features, .. } = hello else {
                    return None;
                };
                assert!(features.iter().any(|f| f == FEATURE_AUTH), "{features:?}");
                conn.send(ServerMsg::Challenge { nonce, password })
                    .await
                    .ok()?;
                let prove = conn.next().await?.ok()?;
                let welcome = ServerMsg::Welcome4 {
                    version: PROTOCOL_VERSION,
                    features: vec![FEATURE_AUTH.into()],
                    limits: Limits {
                        max_frame: 1 << 20,
                        max_text: 4096,
                        member_page: 1000,
                        msg_rate: 0,
                        msg_burst: 0,
                        max_file_size: 1 << 30,
                    },
                    nick: "ann".into(),
                    room: "lobby".into(),
                    seq: 0,
                    members: shared::MemberPage {
                        total: 1,
                        names: vec!["ann".into()],
                        more: false,
                    },
                };
                conn.send(welcome).await.ok()?;
                Some(prove)
            }
        });
        let hello = Hello {
            addr: "127.0.0.1:7878",
            nick: "ann",
            room: "lobby",
            credentials,
            binding,
        };
        let welcomed = greet(client, &hello).await.map(|(_, welcome, _)| welcome);
        (welcomed, server.await.unwrap())
    }

    /// The challenge is answered with the password and a proof of the key over the nonce
    /// and the stream's binding, which the server can verify.
    #[tokio::test]
    async fn a_challenge_is_answered_with_a_proof_of_the_key() {
        let identity = std::sync::Arc::new(crate::Identity::generate());
        let credentials = Credentials {
            identity: Some(identity.clone()),
            password: Some("s3cret".into()),
        };
        let binding = [5; shared::auth::BINDING_BYTES];
        let (welcomed, proved) = challenge(&credentials, &binding, true).await;
        assert_eq!(welcomed.unwrap().nick, "ann");
        let Some(ClientMsg::Prove {
            password,
            key,
            signature,
        }) = proved
        else {
            panic!("{proved:?}");
        };
        assert_eq!(password, "s3cret");
        let key = shared::auth::PublicKey::from_bytes(&key).unwrap();
        assert_eq!(key, identity.public_key());
        assert_eq!(key.verify(&[7; 32], &binding, &signature), Ok(()));
        assert!(key.verify(&[7; 32], &[], &signature).is_err(), "bound");

        // No password asked: none given, even when the client has one.
        let (_, proved) = challenge(&credentials, &[], false).await;
        assert!(
            matches!(&proved, Some(ClientMsg::Prove { password, .. }) if password.is_empty()),
            "{proved:?}"
        );
        // No key: nothing proved.
        let (welcomed, proved) = challenge(&Credentials::default(), &[], false).await;
        assert!(welcomed.is_ok());
        assert!(
            matches!(&proved, Some(ClientMsg::Prove { key, signature, .. })
                if key.is_empty() && signature.is_empty()),
            "{proved:?}"
        );
    }

    /// A password asked for and not known: nothing is answered, and the error says how to
    /// give one.
    #[tokio::test]
    async fn a_password_not_known_is_not_guessed() {
        let (welcomed, proved) = challenge(&Credentials::default(), &[], true).await;
        let error = welcomed.unwrap_err();
        assert!(
            matches!(error, ConnectError::NeedsPassword { .. }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "the server at 127.0.0.1:7878 needs a password: give it with --password-file \
             PATH or in the environment variable CHAT_PASSWORD"
        );
        assert_eq!(proved, None, "no answer sent");
    }

    /// A refused nick is said once, with the reason the shared rule gives for it.
    #[test]
    fn a_refused_nick_says_why_once() {
        let refused = |nick: &str| ConnectError::Refused {
            addr: "127.0.0.1:7878".into(),
            nick: nick.into(),
            kind: ErrorKind::InvalidNick,
            text: "the nick holds the character U+0020, which is a space".into(),
        };
        assert_eq!(
            refused("two words").to_string(),
            "the nick 'two words' holds the character U+0020, which is a space"
        );
        assert_eq!(refused("").to_string(), "the nick '' is empty");
        // A rule of the server's that this side does not know: the server's words.
        assert_eq!(
            refused("fine").to_string(),
            "the nick 'fine' is not allowed: the nick holds the character U+0020, which is \
             a space"
        );
    }

    /// A server that answers the hello with something unreadable is told of in words,
    /// not with the decoder's account of the bytes.
    #[tokio::test]
    async fn a_bad_answer_to_the_hello_is_said_in_words() {
        assert_eq!(
            refusal(&[0, 0, 0, 1, 99]).await,
            "unexpected answer from 127.0.0.1:7878: the server sent something this client \
             cannot read"
        );
        assert_eq!(
            refusal(&[0, 0, 0, 9, 20]).await,
            "unexpected answer from 127.0.0.1:7878: the connection broke off"
        );
        assert_eq!(
            refusal(&[]).await,
            "unexpected answer from 127.0.0.1:7878: the connection closed during the handshake"
        );
        let pong = shared::encode_frame(&ServerMsg::Pong { token: 1 }).unwrap();
        assert_eq!(
            refusal(&pong).await,
            "unexpected answer from 127.0.0.1:7878: the server answered the hello with \
             something other than a welcome"
        );
    }
}
