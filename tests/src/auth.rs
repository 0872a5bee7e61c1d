//! The feature "auth" in raw frames: a client key (Ed25519, from *ring*), a TLS session
//! whose binding the client exports as the real client does, and a relay in the middle
//! that holds a TLS session to each side. A server on TLS in this process is
//! [`crate::client::start_tls_server`].
//!
//! The client here is generic over its stream ([`AuthClient`]), so the same handshake
//! runs over plain TCP (an empty binding) and over TLS.

use std::net::SocketAddr;

use anyhow::{Context, anyhow, bail};
use chat_client::dial::tls::TlsDial;
use chat_client::{Connector, Dial};
use chat_server::Transport;
use chat_server::transport::tls::{Identity, TlsListener};
use futures::{SinkExt, StreamExt};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use shared::auth::proof_message;
use shared::tls::Fingerprint;
use shared::{ClientCodec, ClientMsg, FEATURE_AUTH, PROTOCOL_VERSION, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::codec::Framed;

pub use chat_server::auth::PER_MINUTE;

use crate::binaries::scratch_dir;
use crate::client::WAIT;

/// A client's Ed25519 key pair.
#[derive(Debug)]
pub struct ClientKey(Ed25519KeyPair);

impl ClientKey {
    /// A new key pair.
    pub fn generate() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a key");
        Self(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("its own PKCS#8"))
    }

    /// The 32 bytes of the public key.
    pub fn public(&self) -> Vec<u8> {
        self.0.public_key().as_ref().to_vec()
    }

    /// The public key as the server's files and logs write it.
    pub fn hex(&self) -> String {
        shared::auth::PublicKey::from_bytes(&self.public())
            .expect("32 bytes")
            .hex()
    }

    /// The signature that answers `nonce` over `binding`.
    pub fn sign(&self, nonce: &[u8], binding: &[u8]) -> Vec<u8> {
        self.0
            .sign(&proof_message(nonce, binding))
            .as_ref()
            .to_vec()
    }
}

/// A stream over TLS (or plain TCP), as the client library dials it.
pub type Stream = crate::client::Stream;

/// A TLS session to `addr`, whose key must be `fingerprint`, and its binding: dialled and
/// exported by the client library, as the real client does (its pinning verifier checks
/// the handshake's signature too), with no pin file.
pub async fn tls_stream(
    addr: SocketAddr,
    fingerprint: Fingerprint,
) -> anyhow::Result<(Stream, Vec<u8>)> {
    let dial = Dial::Tls(TlsDial::new(None, None, Some(fingerprint)));
    let stream = timeout(WAIT, dial.connect(&addr.to_string()))
        .await
        .context("the TLS connection timed out")??;
    let binding = dial.binding(&stream)?;
    Ok((stream, binding))
}

/// A relay in the middle, as an attacker would run one: it terminates TLS with a key of
/// its own and opens its own TLS session to `upstream` (whose key it knows), so each side
/// holds a different session. It relays the first `max` connections.
pub async fn tls_relay(
    upstream: SocketAddr,
    upstream_fp: Fingerprint,
    max: usize,
) -> anyhow::Result<(SocketAddr, Fingerprint)> {
    let dir = scratch_dir("auth-relay");
    let identity = Identity::load_or_create(&dir, None, None)?;
    let listener = TlsListener::new(TcpListener::bind("127.0.0.1:0").await?, &identity);
    let addr = Transport::local_addr(&listener)
        .context("the relay's address")?
        .parse()?;
    tokio::spawn(async move {
        for _ in 0..max {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok((mut server, _)) = tls_stream(upstream, upstream_fp).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    Ok((addr, identity.fingerprint()))
}

/// A client speaking raw frames over any stream, with the binding of its session (empty
/// without TLS).
#[derive(Debug)]
pub struct AuthClient<S> {
    frames: Framed<S, ClientCodec>,
    pub binding: Vec<u8>,
}

/// A client over plain TCP.
pub async fn plain(addr: SocketAddr) -> anyhow::Result<AuthClient<TcpStream>> {
    let tcp = timeout(WAIT, TcpStream::connect(addr))
        .await
        .context("connect timed out")??;
    Ok(AuthClient::new(tcp, Vec::new()))
}

/// A client over TLS to a server whose key is `fingerprint`.
pub async fn tls(addr: SocketAddr, fingerprint: Fingerprint) -> anyhow::Result<AuthClient<Stream>> {
    let (stream, binding) = tls_stream(addr, fingerprint).await?;
    Ok(AuthClient::new(stream, binding))
}

/// A version 4 hello asking for the features `features`.
pub fn hello_with(nick: &str, room: &str, features: &[&str]) -> ClientMsg {
    ClientMsg::Hello4 {
        min_version: 4,
        max_version: PROTOCOL_VERSION,
        features: features.iter().map(|f| f.to_string()).collect(),
        nick: nick.into(),
        room: room.into(),
    }
}

/// What a server said to a client's `Prove`: its welcome, or its refusal.
#[derive(Debug)]
pub enum Answer {
    /// The welcome ([`AuthClient::login`] adds what followed it up to `Identified`).
    Welcome(Vec<ServerMsg>),
    Refused(shared::ErrorKind, String),
}

impl<S: AsyncRead + AsyncWrite + Unpin> AuthClient<S> {
    pub fn new(stream: S, binding: Vec<u8>) -> Self {
        Self {
            frames: Framed::new(stream, ClientCodec::default()),
            binding,
        }
    }

    pub async fn send(&mut self, msg: ClientMsg) -> anyhow::Result<()> {
        timeout(WAIT, self.frames.send(msg))
            .await
            .context("send timed out")?
            .context("send")
    }

    /// The next frame; an error on timeout or end of stream.
    pub async fn recv(&mut self) -> anyhow::Result<ServerMsg> {
        match timeout(WAIT, self.frames.next()).await {
            Err(_) => bail!("nothing received within {WAIT:?}"),
            Ok(None) => bail!("the server closed the connection"),
            Ok(Some(frame)) => Ok(frame?),
        }
    }

    /// Frames until one satisfies `pred` (each bounded by [`WAIT`], at most 200).
    pub async fn recv_until(
        &mut self,
        mut pred: impl FnMut(&ServerMsg) -> bool,
    ) -> anyhow::Result<ServerMsg> {
        for _ in 0..200 {
            let msg = self.recv().await?;
            if pred(&msg) {
                return Ok(msg);
            }
        }
        bail!("the awaited frame never came")
    }

    /// Whether the server closed the connection (within [`WAIT`]), after whatever it
    /// still had to say.
    pub async fn closed(&mut self) -> bool {
        for _ in 0..50 {
            match timeout(WAIT, self.frames.next()).await {
                Ok(None | Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Says hello with the feature "auth" and reads the challenge: its nonce
    /// and whether the server wants a password.
    pub async fn hello(&mut self, nick: &str, room: &str) -> anyhow::Result<(Vec<u8>, bool)> {
        self.hello_asking(nick, room, &[]).await
    }

    /// As [`AuthClient::hello`], asking for the features `more` too.
    pub async fn hello_asking(
        &mut self,
        nick: &str,
        room: &str,
        more: &[&str],
    ) -> anyhow::Result<(Vec<u8>, bool)> {
        let mut features = vec![FEATURE_AUTH];
        features.extend_from_slice(more);
        self.send(hello_with(nick, room, &features)).await?;
        match self.recv().await? {
            ServerMsg::Challenge { nonce, password } => Ok((nonce, password)),
            other => Err(anyhow!("expected a challenge, got {other:?}")),
        }
    }

    /// Answers the challenge `nonce` with `password` and, if given, a proof of `key` over
    /// this session's binding; what the server says.
    pub async fn prove(
        &mut self,
        nonce: &[u8],
        password: &str,
        key: Option<&ClientKey>,
    ) -> anyhow::Result<Answer> {
        let binding = self.binding.clone();
        self.prove_over(nonce, password, key, &binding).await
    }

    /// As [`AuthClient::prove`], signing over `binding` whatever this session's is.
    pub async fn prove_over(
        &mut self,
        nonce: &[u8],
        password: &str,
        key: Option<&ClientKey>,
        binding: &[u8],
    ) -> anyhow::Result<Answer> {
        let (key, signature) = match key {
            Some(key) => (key.public(), key.sign(nonce, binding)),
            None => (Vec::new(), Vec::new()),
        };
        self.send(ClientMsg::Prove {
            password: password.into(),
            key,
            signature,
        })
        .await?;
        match self.recv().await? {
            ServerMsg::Error { kind, text } => Ok(Answer::Refused(kind, text)),
            welcome @ ServerMsg::Welcome4 { .. } => Ok(Answer::Welcome(vec![welcome])),
            other => Err(anyhow!("expected a welcome or an error, got {other:?}")),
        }
    }

    /// Logs in with the feature "auth": the hello, then the proof; fails unless welcomed.
    /// Returns the frames from the welcome to `Identified` (when `key` is given).
    pub async fn login(
        &mut self,
        nick: &str,
        password: &str,
        key: Option<&ClientKey>,
    ) -> anyhow::Result<Vec<ServerMsg>> {
        let (nonce, _) = self.hello(nick, "lobby").await?;
        let answer = self.prove(&nonce, password, key).await?;
        let Answer::Welcome(mut seen) = answer else {
            bail!("refused: {answer:?}");
        };
        if key.is_some() {
            seen.push(self.recv_until(is_identified).await?);
        }
        Ok(seen)
    }
}

fn is_identified(msg: &ServerMsg) -> bool {
    matches!(msg, ServerMsg::Identified { .. })
}
