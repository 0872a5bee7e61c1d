//! The stream seam: how a connection's bytes reach the server.
//!
//! Everything above this module (handshake, session, writer, transfers) works on any byte
//! stream that is [`AsyncRead`] + [`AsyncWrite`]; a [`Connector`] is what opens one. Plain
//! TCP is [`Tcp`]. Another transport (TLS, a Unix socket, an in-memory pipe in a test) is
//! another connector, and nothing else changes.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Opens byte streams to a server. The session calls it for the first connection and for
/// every reconnect, so it must be cheap to call again.
pub trait Connector: Send + Sync + 'static {
    /// The stream it opens.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Opens a stream to `addr` (`HOST:PORT` as the user gave it). The error is shown to
    /// the user after "cannot reach the server at ADDR: ".
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send;
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
