//! `--host` in a build without the `host` feature: no server code is linked, and the flag
//! is answered with a clear error.

use std::convert::Infallible;
use std::net::SocketAddr;

/// A hosted server, which this build never makes.
#[derive(Debug)]
pub struct Hosted {
    pub connect_addr: SocketAddr,
    pub public_addr: SocketAddr,
    pub fingerprint: Option<chat_client::shared::tls::Fingerprint>,
    never: Infallible,
}

/// Refuses: this build cannot run a server.
pub async fn start(_addr: &str, _mdns_port: Option<u16>, _tls: bool) -> anyhow::Result<Hosted> {
    anyhow::bail!(
        "--host is not available: this chat-tui was built without its `host` feature; \
         run chat-server and join it with --connect"
    )
}

impl Hosted {
    pub async fn stop(self) {
        match self.never {}
    }
}
