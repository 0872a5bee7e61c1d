//! The stream seam: how a connection's bytes reach the server.
//!
//! Everything above this module (handshake, session, writer, transfers) works on any byte
//! stream that is [`AsyncRead`] + [`AsyncWrite`]; a [`Connector`] is what opens one. Plain
//! TCP is [`Tcp`]; TLS with the server's key pinned is [`tls::TlsDial`]; [`Dial`] is
//! either, as the user chose: TLS unless they asked for plaintext. Another transport (a Unix socket, an in-memory pipe in a
//! test) is another connector, and nothing else changes.
//!
//! A connector also says what binds a proof of the client's key to the stream
//! ([`Connector::binding`]): the keying material exported from a TLS session, nothing for
//! a plaintext stream.

pub mod tls;

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use tls::{Sniff, TlsDial};

/// Opens byte streams to a server. The session calls it for the first connection and for
/// every reconnect, so it must be cheap to call again.
pub trait Connector: Send + Sync + 'static {
    /// The stream it opens.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Opens a stream to `addr` (`HOST:PORT` as the user gave it). The error is shown to
    /// the user after "cannot reach the server at ADDR: ".
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// What ties a proof of the client's key to `stream` (feature `auth`): the
    /// [`shared::auth::BINDING_BYTES`] exported from its TLS session under
    /// [`shared::auth::EXPORTER_LABEL`], or nothing (the default) for a stream that is not
    /// TLS. A relay in the middle holds two sessions with two different bindings, so a
    /// proof it passes on proves nothing to the server.
    ///
    /// # Errors
    ///
    /// The session cannot export its keying material.
    fn binding(&self, stream: &Self::Stream) -> io::Result<Vec<u8>> {
        let _ = stream;
        Ok(Vec::new())
    }
}

/// Plain TCP, with Nagle's algorithm off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tcp;

impl Connector for Tcp {
    type Stream = TcpStream;

    async fn connect(&self, addr: &str) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(addr).await?;
        // Chat frames are small and should leave at once.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// Plain TCP or TLS, as the user chose; TLS with the user's pins by default.
#[derive(Debug, Clone)]
pub enum Dial {
    Plaintext,
    Tls(TlsDial),
}

impl Default for Dial {
    /// TLS, trusting the servers the user pinned ([`crate::trust::Pins::of_user`]) under
    /// the address dialled; a server not known yet is refused with its fingerprint
    /// ([`crate::trust::TrustError::Unknown`]).
    fn default() -> Self {
        Self::new(true, None, None)
    }
}

impl Dial {
    /// TLS when `tls` (the programs' default, unless `--plaintext`) or a fingerprint to
    /// `trust` is given, with the user's pins ([`crate::trust::Pins::default_path`]) kept
    /// under `identity` (`None`: the address dialled); else plain TCP.
    pub fn new(
        tls: bool,
        identity: Option<String>,
        trust: Option<shared::tls::Fingerprint>,
    ) -> Self {
        if tls || trust.is_some() {
            let pins = crate::trust::Pins::of_user();
            Self::Tls(TlsDial::new(pins, identity, trust))
        } else {
            Self::Plaintext
        }
    }
}

impl Connector for Dial {
    /// TLS's state is boxed: it is large, and a plaintext stream need not carry its room.
    type Stream = Either<TcpStream, Box<TlsStream<Sniff<TcpStream>>>>;

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        match self {
            Self::Plaintext => Tcp.connect(addr).await.map(Either::Left),
            Self::Tls(tls) => tls.connect(addr).await.map(|s| Either::Right(Box::new(s))),
        }
    }

    fn binding(&self, stream: &Self::Stream) -> io::Result<Vec<u8>> {
        match stream {
            Either::Left(_) => Ok(Vec::new()),
            Either::Right(tls) => tls::binding(tls.get_ref().1),
        }
    }
}
