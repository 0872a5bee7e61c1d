//! `--host`: the server library running inside the client's process.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use chat_server::transport::tls::{Identity, TlsListener};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A server started by this process.
#[derive(Debug)]
pub struct Hosted {
    /// Where this process's own client connects.
    pub connect_addr: SocketAddr,
    /// The address to give to others, for the status line.
    pub public_addr: SocketAddr,
    /// The fingerprint of the server's TLS key, when it speaks TLS.
    pub fingerprint: Option<chat_client::shared::tls::Fingerprint>,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Binds `addr` and runs the server on it until [`Hosted::stop`]; the server announces
/// itself on the LAN as the server binary does (on multicast DNS's `mdns_port` when one is
/// given, for tests). As the server binary does, it first checks that the data directory
/// can be created and written, so that a folder it cannot use is one line at start rather
/// than a failed upload later.
pub async fn start(addr: &str, mdns_port: Option<u16>, tls: bool) -> anyhow::Result<Hosted> {
    let mut config = chat_server::Config::default();
    if let Some(port) = mdns_port {
        config.mdns_port = port;
    }
    chat_server::prepare_data_dir(&config.data_dir)?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().context("listening address")?;
    tracing::info!(%bound, "hosting");
    let stop = CancellationToken::new();
    let shutdown = stop.clone().cancelled_owned();
    // With TLS, the key is the one the server keeps in its data directory (made there on
    // the first start), as chat-server's own.
    let identity = tls
        .then(|| Identity::load_or_create(&config.data_dir, None, None))
        .transpose()?;
    let fingerprint = identity.as_ref().map(Identity::fingerprint);
    let task = match identity {
        Some(identity) => {
            let listener = TlsListener::new(listener, &identity);
            tokio::spawn(chat_server::run_with(listener, config, shutdown))
        }
        None => tokio::spawn(chat_server::run(listener, config, shutdown)),
    };
    Ok(Hosted {
        connect_addr: local_route(bound),
        public_addr: public_addr(bound, lan_ip()),
        fingerprint,
        stop,
        task,
    })
}

impl Hosted {
    /// Stops the server (its clients are told) and waits a bounded time for it.
    pub async fn stop(self) {
        self.stop.cancel();
        match tokio::time::timeout(Duration::from_secs(3), self.task).await {
            Ok(Ok(Err(e))) => tracing::warn!("server ended with an error: {e:#}"),
            Ok(_) => {}
            Err(_) => tracing::warn!("server did not stop in time"),
        }
    }
}

/// The address this process connects to: a wildcard bind is reached through loopback.
fn local_route(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// The address others should use: for a wildcard bind, the machine's LAN address when it
/// is known, otherwise what was bound.
fn public_addr(bound: SocketAddr, lan: Option<IpAddr>) -> SocketAddr {
    match lan {
        Some(ip) if bound.ip().is_unspecified() => SocketAddr::new(ip, bound.port()),
        _ => bound,
    }
}

/// The machine's address on the LAN: the first private IPv4 address of an interface that
/// is up, else any non-loopback IPv4 address. Read from the interface list; nothing is
/// sent anywhere.
fn lan_ip() -> Option<IpAddr> {
    let addrs: Vec<Ipv4Addr> = if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .filter(|iface| !iface.is_loopback())
        .filter_map(|iface| match iface.ip() {
            IpAddr::V4(ip) if !ip.is_unspecified() && !ip.is_link_local() => Some(ip),
            _ => None,
        })
        .collect();
    let private = addrs.iter().find(|ip| ip.is_private());
    private.or(addrs.first()).copied().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_is_reached_through_loopback() {
        let any: SocketAddr = "0.0.0.0:7878".parse().unwrap();
        assert_eq!(local_route(any), "127.0.0.1:7878".parse().unwrap());
        let lo: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(local_route(lo), lo);
    }

    #[test]
    fn wildcard_is_shown_as_lan_address() {
        let any: SocketAddr = "0.0.0.0:7878".parse().unwrap();
        let lan: IpAddr = "192.168.1.5".parse().unwrap();
        assert_eq!(
            public_addr(any, Some(lan)),
            "192.168.1.5:7878".parse().unwrap()
        );
        assert_eq!(public_addr(any, None), any);
        let lo: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(public_addr(lo, Some(lan)), lo);
    }
}
