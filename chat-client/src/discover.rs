//! Finding servers on the LAN: browse the DNS-SD service type of
//! [`shared::discovery`] over multicast DNS for a while, then list what answered.
//!
//! The `mdns-sd` daemon runs a thread of its own and hands events over a bounded channel;
//! [`browse`] reads that channel on a thread of its own too, never on the async runtime's
//! threads, and hands back the whole list when its time is up.
//!
//! What comes off the network is untrusted: an announcement whose TXT record breaks a rule
//! of [`Announcement::from_txt`] is left out (and logged at debug level), and the name of
//! one that passes has passed [`shared::discovery::check_name`]. A server found here is a
//! claim, not a proof: whoever answers at its address still has to pass the checks a
//! connection makes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, ResolvedService, ScopedIp, ServiceDaemon, ServiceEvent};
use shared::discovery::{Announcement, MDNS_PORT, SERVICE_TYPE};
use shared::tls::Fingerprint;

use crate::dial::Dial;

/// A server that announced itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundServer {
    /// Its name ([`shared::discovery::check_name`] holds for it).
    pub name: String,
    /// Where it listens: one address per server, IPv4 first ([`browse`] says which).
    pub addr: SocketAddr,
    /// How many people were connected when it last said so.
    pub people: u32,
    /// The newest protocol version it speaks.
    pub version: u16,
    /// The SHA-256 of its TLS public key (64 lowercase hex digits), as it claims it; only
    /// ever a hint for a first connection, never a replacement for checking the key.
    pub fingerprint: Option<String>,
}

impl FoundServer {
    /// The key it announced, if it announced one (a server that speaks TLS does).
    pub fn announced_key(&self) -> Option<Fingerprint> {
        self.fingerprint
            .as_deref()
            .and_then(|fp| Fingerprint::parse(fp).ok())
    }

    /// How to reach it once the user picked it, having been shown its announced key: TLS
    /// when it announced a key (that key, or `trust` when given, accepted at the first
    /// contact and pinned under the server's name, so that a key pinned before still
    /// wins and another is refused); plain TCP when it announced none (a server started
    /// with `--plaintext`, or one older than TLS), or when the user asked for
    /// `plaintext`.
    pub fn dial(&self, plaintext: bool, trust: Option<Fingerprint>) -> Dial {
        let trust = trust.or(self.announced_key());
        if plaintext || trust.is_none() {
            return Dial::Plaintext;
        }
        Dial::new(true, Some(self.name.clone()), trust)
    }
}

/// How to look for servers.
#[derive(Debug, Clone)]
pub struct BrowseOptions {
    /// How long to listen for answers. Default 2 s: servers on a LAN answer within a
    /// second, and mDNS responders delay their answers by up to half a second.
    pub wait: Duration,
    /// The UDP port of multicast DNS. Default [`MDNS_PORT`]; tests use ports of their own.
    pub mdns_port: u16,
}

impl Default for BrowseOptions {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(2),
            mdns_port: MDNS_PORT,
        }
    }
}

/// Why the servers could not be looked for. Finding none is not an error.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The mDNS daemon (its thread, its poller) could not be started.
    #[error("cannot look for servers on the LAN: {0}")]
    Start(String),
    /// The daemon refused to browse, or stopped while browsing.
    #[error("looking for servers on the LAN failed: {0}")]
    Browse(String),
}

/// Most servers one browse keeps: far more than a LAN runs, while anyone announcing
/// thousands of made-up servers cannot grow the list (or a picker's screen) without
/// bound. Servers announced beyond it are left out.
pub const MAX_SERVERS: usize = 256;

/// Longest wait for the mDNS daemon to stop once the browsing is done.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// Looks for servers for `options.wait`, then returns them sorted by name, then address;
/// one entry per server (not per address family duplicate), at most [`MAX_SERVERS`].
///
/// A server's address is the first of its announced addresses in this order: IPv4, then
/// IPv6 that is not link-local, then link-local IPv4, then link-local IPv6 (with the
/// interface it was seen on as its scope); the lowest within each. Loopback interfaces are
/// not browsed: a server on this machine is found through its LAN interfaces, like any
/// other, and a server that listens only on loopback does not announce.
pub async fn browse(options: BrowseOptions) -> Result<Vec<FoundServer>, DiscoverError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("lanchat-browse".into())
        .spawn(move || {
            let _ = tx.send(browse_blocking(&options));
        })
        .map_err(|e| DiscoverError::Start(format!("cannot start a thread: {e}")))?;
    rx.await.map_err(|_| {
        DiscoverError::Browse("the browsing thread stopped without an answer".into())
    })?
}

/// [`browse`] on the calling thread, which it blocks for `options.wait`.
fn browse_blocking(options: &BrowseOptions) -> Result<Vec<FoundServer>, DiscoverError> {
    let daemon = ServiceDaemon::new_with_port(options.mdns_port)
        .map_err(|e| DiscoverError::Start(e.to_string()))?;
    let found = browse_with(&daemon, options.wait);
    // The daemon's thread ends on its own once told; waiting for it only keeps its
    // sockets from outliving the call by much.
    if let Ok(status) = daemon.shutdown() {
        let _ = status.recv_timeout(SHUTDOWN_WAIT);
    }
    found
}

fn browse_with(daemon: &ServiceDaemon, wait: Duration) -> Result<Vec<FoundServer>, DiscoverError> {
    daemon
        .disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])
        .map_err(|e| DiscoverError::Start(e.to_string()))?;
    let events = daemon
        .browse(SERVICE_TYPE)
        .map_err(|e| DiscoverError::Browse(e.to_string()))?;
    let deadline = Instant::now() + wait;
    let mut found = Found::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match events.recv_timeout(left) {
            Ok(event) => found.apply(event),
            Err(mdns_sd::RecvTimeoutError::Timeout) => break,
            Err(mdns_sd::RecvTimeoutError::Disconnected) => {
                return Err(DiscoverError::Browse(
                    "the mDNS daemon stopped while browsing".into(),
                ));
            }
        }
    }
    let _ = daemon.stop_browse(SERVICE_TYPE);
    Ok(found.into_sorted())
}

/// The servers seen so far, by instance name (the DNS-SD "full name", unique on the LAN).
#[derive(Debug, Default)]
struct Found {
    servers: HashMap<String, FoundServer>,
}

impl Found {
    fn apply(&mut self, event: ServiceEvent) {
        match event {
            ServiceEvent::ServiceResolved(service) => {
                let key = service.get_fullname().to_lowercase();
                match found_server(&service) {
                    Ok(_)
                        if self.servers.len() >= MAX_SERVERS
                            && !self.servers.contains_key(&key) =>
                    {
                        tracing::debug!(
                            "ignoring the announcement {key:?}: {MAX_SERVERS} servers found already"
                        );
                    }
                    Ok(server) => {
                        self.servers.insert(key, server);
                    }
                    Err(why) => {
                        tracing::debug!("ignoring the announcement {key:?}: {why}");
                    }
                }
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                self.servers.remove(&fullname.to_lowercase());
            }
            _ => {}
        }
    }

    fn into_sorted(self) -> Vec<FoundServer> {
        let mut servers: Vec<FoundServer> = self.servers.into_values().collect();
        servers.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.addr.cmp(&b.addr)));
        servers
    }
}

/// A resolved service as a server, or why it is not one.
fn found_server(service: &ResolvedService) -> Result<FoundServer, String> {
    let txt = service.get_properties();
    let announcement = Announcement::from_txt(txt.iter().map(|p| (p.key(), p.val_str())))?;
    if service.get_port() == 0 {
        return Err("the announced port is 0".into());
    }
    let addr = pick_address(service.get_addresses().iter().filter_map(socket_ip))
        .ok_or("the announcement has no usable address")?;
    Ok(FoundServer {
        name: announcement.name,
        addr: with_port(addr, service.get_port()),
        people: announcement.people,
        version: announcement.version,
        fingerprint: announcement.fingerprint,
    })
}

/// An announced address as one to connect to (port 0 for now), with the scope of a
/// link-local IPv6 address; `None` for one nobody can connect to.
fn socket_ip(ip: &ScopedIp) -> Option<SocketAddr> {
    let addr = match ip {
        ScopedIp::V4(v4) => SocketAddr::new(IpAddr::V4(*v4.addr()), 0),
        ScopedIp::V6(v6) => {
            let scope = if v6.addr().is_unicast_link_local() {
                v6.scope_id().index
            } else {
                0
            };
            SocketAddr::V6(SocketAddrV6::new(*v6.addr(), 0, 0, scope))
        }
        _ => return None,
    };
    let ip = addr.ip();
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return None;
    }
    Some(addr)
}

/// The address [`browse`] reports for a server: see its doc for the order.
fn pick_address(addrs: impl Iterator<Item = SocketAddr>) -> Option<SocketAddr> {
    addrs.min_by_key(|addr| (preference(addr), *addr))
}

fn preference(addr: &SocketAddr) -> u8 {
    match addr {
        SocketAddr::V4(v4) if !v4.ip().is_link_local() => 0,
        SocketAddr::V6(v6) if !v6.ip().is_unicast_link_local() => 1,
        SocketAddr::V4(_) => 2,
        SocketAddr::V6(_) => 3,
    }
}

fn with_port(mut addr: SocketAddr, port: u16) -> SocketAddr {
    addr.set_port(port);
    addr
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdns_sd::ServiceInfo;

    fn resolved(instance: &str, addrs: &str, port: u16, txt: &[(&str, &str)]) -> ServiceEvent {
        let info = ServiceInfo::new(SERVICE_TYPE, instance, "host.local.", addrs, port, txt)
            .expect("a valid service");
        ServiceEvent::ServiceResolved(Box::new(info.as_resolved_service()))
    }

    fn txt(name: &str, people: &str) -> Vec<(&'static str, String)> {
        vec![
            ("v", "4".into()),
            ("name", name.into()),
            ("people", people.into()),
        ]
    }

    fn event(instance: &str, addrs: &str, port: u16, name: &str, people: &str) -> ServiceEvent {
        let pairs = txt(name, people);
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        resolved(instance, addrs, port, &pairs)
    }

    #[test]
    fn one_entry_per_server_sorted_by_name_then_address() {
        let mut found = Found::default();
        found.apply(event("b", "10.0.0.2", 7878, "beta", "1"));
        found.apply(event("a2", "10.0.0.9", 7878, "alpha", "0"));
        found.apply(event("a1", "10.0.0.3,fd00::3", 7000, "alpha", "5"));
        // The same instance again, on another interface or with a new count: one entry.
        found.apply(event("b", "10.0.0.2,fd00::2", 7878, "beta", "2"));
        let list = found.into_sorted();
        let shown: Vec<(&str, String, u32)> = list
            .iter()
            .map(|s| (s.name.as_str(), s.addr.to_string(), s.people))
            .collect();
        assert_eq!(
            shown,
            [
                ("alpha", "10.0.0.3:7000".to_owned(), 5),
                ("alpha", "10.0.0.9:7878".to_owned(), 0),
                ("beta", "10.0.0.2:7878".to_owned(), 2),
            ]
        );
        assert_eq!(list[0].version, 4);
        assert_eq!(list[0].fingerprint, None);
    }

    #[test]
    fn a_server_that_announces_a_key_is_dialled_over_tls_under_its_name() {
        let fp = "ab".repeat(32);
        let mut server = FoundServer {
            name: "Office chat".into(),
            addr: "10.0.0.2:7878".parse().unwrap(),
            people: 1,
            version: 4,
            fingerprint: Some(fp.clone()),
        };
        assert_eq!(server.announced_key(), Fingerprint::parse(&fp).ok());
        match server.dial(false, None) {
            Dial::Tls(tls) => assert_eq!(tls.identity("10.0.0.2:7878"), "Office chat"),
            Dial::Plaintext => panic!("a server with a key is dialled over TLS"),
        }
        assert!(matches!(server.dial(true, None), Dial::Plaintext));
        // An older server, or one started with --plaintext, announces no key.
        server.fingerprint = None;
        assert!(matches!(server.dial(false, None), Dial::Plaintext));
        let given = Fingerprint::parse(&"cd".repeat(32)).unwrap();
        assert!(matches!(server.dial(false, Some(given)), Dial::Tls(_)));
    }

    #[test]
    fn a_removed_server_leaves_the_list() {
        let mut found = Found::default();
        found.apply(event("Gone", "10.0.0.2", 7878, "gone", "1"));
        found.apply(event("kept", "10.0.0.3", 7878, "kept", "1"));
        found.apply(ServiceEvent::ServiceRemoved(
            SERVICE_TYPE.into(),
            format!("gone.{SERVICE_TYPE}"),
        ));
        let names: Vec<String> = found.into_sorted().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["kept"]);
    }

    #[test]
    fn bad_announcements_are_left_out() {
        let mut found = Found::default();
        found.apply(event("ctl", "10.0.0.2", 7878, "evil\u{1b}[2J", "1"));
        found.apply(event("count", "10.0.0.3", 7878, "lan", "many"));
        found.apply(event("port", "10.0.0.4", 0, "lan", "1"));
        found.apply(event("loop", "127.0.0.1", 7878, "lan", "1"));
        found.apply(resolved(
            "nov",
            "10.0.0.5",
            7878,
            &[("name", "x"), ("people", "1")],
        ));
        assert_eq!(found.into_sorted(), []);
    }

    #[test]
    fn the_list_is_bounded() {
        let mut found = Found::default();
        for i in 0..MAX_SERVERS + 10 {
            found.apply(event(&format!("s{i}"), "10.0.0.2", 7878, "lan", "1"));
        }
        // An update of a server already listed still counts.
        found.apply(event("s0", "10.0.0.2", 7878, "lan", "5"));
        let list = found.into_sorted();
        assert_eq!(list.len(), MAX_SERVERS);
        assert!(list.iter().any(|s| s.people == 5));
    }

    #[test]
    fn a_bad_update_keeps_what_was_known() {
        let mut found = Found::default();
        found.apply(event("s", "10.0.0.2", 7878, "lan", "1"));
        found.apply(event("s", "10.0.0.2", 7878, "lan", "lots"));
        assert_eq!(found.into_sorted()[0].people, 1);
    }

    #[test]
    fn ipv4_first_then_routable_ipv6_then_link_local() {
        let pick = |addrs: &[&str]| {
            pick_address(addrs.iter().map(|a| a.parse::<SocketAddr>().unwrap()))
                .map(|a| a.to_string())
        };
        assert_eq!(pick(&[]), None);
        assert_eq!(
            pick(&["[fd00::1]:0", "10.0.0.9:0", "10.0.0.3:0"]).as_deref(),
            Some("10.0.0.3:0")
        );
        assert_eq!(
            pick(&["[fe80::1%2]:0", "[fd00::1]:0", "169.254.1.1:0"]).as_deref(),
            Some("[fd00::1]:0")
        );
        assert_eq!(
            pick(&["[fe80::1%2]:0", "169.254.1.1:0"]).as_deref(),
            Some("169.254.1.1:0")
        );
        assert_eq!(pick(&["[fe80::1%2]:0"]).as_deref(), Some("[fe80::1%2]:0"));
    }

    #[test]
    fn default_options() {
        let options = BrowseOptions::default();
        assert_eq!(options.wait, Duration::from_secs(2));
        assert_eq!(options.mdns_port, 5353);
    }
}
