//! Plain TCP: the listener is the transport.

use std::io;

use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::{PeerAddr, Transport};

impl Transport for TcpListener {
    type Stream = TcpStream;

    async fn accept(&self) -> io::Result<(TcpStream, PeerAddr)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        // Chat frames are small and latency matters more than packet count; the writer
        // already batches what is queued.
        if let Err(e) = stream.set_nodelay(true) {
            debug!(%peer, error = %e, "could not set TCP_NODELAY");
        }
        Ok((stream, peer.into()))
    }

    fn local_addr(&self) -> Option<String> {
        TcpListener::local_addr(self)
            .ok()
            .map(|addr| addr.to_string())
    }
}
