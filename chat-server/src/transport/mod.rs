//! The stream seam: where the server's connections come from.
//!
//! Everything past the accept loop (the handshake, the requests, the writer, the file
//! lane) works on any byte stream that is `AsyncRead + AsyncWrite`; a [`Transport`] is
//! what accepts them, and tells who is at the other end ([`PeerAddr`]). Plain TCP is
//! [`tokio::net::TcpListener`] itself (`tcp`); TLS over TCP is [`tls::TlsListener`], which
//! runs each handshake in the connection's own task. Another transport (TLS, a Unix socket, an
//! in-memory pipe in a test) is another implementation, given to [`crate::run_with`], and
//! nothing else changes.
//!
//! A stream also says what ties a proof to its session ([`Binding`]): a TLS stream exports
//! keying material from its session, any other stream has nothing to export.

mod tcp;
pub mod tls;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};

use shared::auth::BINDING_BYTES;
use tokio::io::{AsyncRead, AsyncWrite};

/// Accepts the byte streams of the server's clients.
pub trait Transport: Send + Sync + 'static {
    /// One client's stream.
    type Stream: AsyncRead + AsyncWrite + Binding + Unpin + Send + 'static;

    /// Waits for the next client. An error is logged and retried after a pause that
    /// doubles while errors go on (up to a second): a process out of file descriptors
    /// gets them back as connections close.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, PeerAddr)>> + Send;

    /// Where the transport listens, for the log; `None` when it cannot say.
    fn local_addr(&self) -> Option<String>;

    /// The fingerprint of the transport's TLS key, announced on the LAN (`fp`) beside the
    /// server's name; `None` without TLS.
    fn fingerprint(&self) -> Option<shared::tls::Fingerprint> {
        None
    }
}

/// What ties a client's proof of its key to this one stream (feature `auth`,
/// `shared::auth`): 32 bytes exported from the TLS session under
/// [`shared::auth::EXPORTER_LABEL`], or `None` for a stream without TLS, whose proof is
/// bound to nothing but the server's nonce.
pub trait Binding {
    /// The binding, once the stream's own handshake is over; `None` without TLS.
    fn binding(&self) -> Option<[u8; BINDING_BYTES]> {
        None
    }

    /// Whether the stream is a TLS session, which must have a binding: one it cannot
    /// export is refused rather than taken for plaintext's empty one.
    fn is_tls(&self) -> bool {
        false
    }
}

impl Binding for tokio::net::TcpStream {}

#[cfg(unix)]
impl Binding for tokio::net::UnixStream {}

/// An in-memory pipe, as tests use.
impl Binding for tokio::io::DuplexStream {}

/// Who is at the other end of a stream: named in the logs, and counted against the cap on
/// connections per IP address (`Config::max_connections_per_ip`) when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAddr {
    /// A client on the network.
    Ip(SocketAddr),
    /// A client on this machine without a network address (a Unix socket, a pipe): only
    /// the total cap (`Config::max_connections`) applies to it.
    Local,
}

impl PeerAddr {
    /// The client's IP address, if it has one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(addr) => Some(addr.ip()),
            Self::Local => None,
        }
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::Ip(addr)
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(addr) => addr.fmt(f),
            Self::Local => f.write_str("local"),
        }
    }
}
