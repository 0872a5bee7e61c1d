//! The server announced on the LAN: a DNS-SD service over multicast DNS, in the format of
//! [`shared::discovery`], so that clients find it without being told an address.
//!
//! Where it is announced follows where it listens ([`Scope::of`]): every interface but
//! loopback for `0.0.0.0` (IPv4 only) and `[::]`, the one interface of a specific address,
//! and nowhere for a loopback address, which the LAN could not reach anyway.
//!
//! All multicast work happens on threads of its own: the `mdns-sd` daemon's, and the
//! announcer's, which owns the daemon's handle and is told what to do over an unbounded
//! channel, so that the async runtime never waits on either. The runtime's side reads the
//! number of people every [`PEOPLE_EVERY`] and passes it on only when it changed; the
//! announcer re-registers the service with the new TXT record, which the daemon sends out
//! at once. On a clean stop the service is withdrawn (the daemon sends "goodbye" records,
//! so browsers drop it at once rather than when its records expire), within
//! [`WITHDRAW_WAIT`].
//!
//! Announcing is never worth failing for: every failure (no daemon, no interface, nothing
//! announced within [`ANNOUNCE_WAIT`]) is one warning line, and the server serves on.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mdns_sd::{DaemonEvent, DaemonStatus, IfKind, ServiceDaemon, ServiceInfo};
use shared::discovery::{self, Announcement, SERVICE_TYPE};
use tracing::{debug, info, warn};

/// How often the number of people is read and, if it changed, announced: a LAN learns a
/// new count within this long, and a room whose members come and go in a storm costs at
/// most one multicast update per period.
pub const PEOPLE_EVERY: Duration = Duration::from_secs(2);

/// How long the announcement may take to go out (it is sent after three probes, a quarter
/// of a second apart, that check that no one else holds its name) before the server warns
/// that it is not announced.
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(5);

/// Longest a clean stop waits for the announcement to be withdrawn.
pub const WITHDRAW_WAIT: Duration = Duration::from_secs(2);

/// Longest the announcer's thread waits for the daemon to stop.
const DAEMON_STOP_WAIT: Duration = Duration::from_secs(1);

/// The name used when the host name cannot be one ([`default_name`]).
const FALLBACK_NAME: &str = "lanchat";

/// Which interfaces the announcement goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Listening on `0.0.0.0`: every IPv4 interface but loopback.
    Ipv4,
    /// Listening on `[::]` (which takes IPv4 too): every interface but loopback.
    All,
    /// Listening on one address: the interface that holds it, in its family.
    Only(IpAddr),
    /// Listening on loopback: not announced.
    Nowhere,
}

impl Scope {
    /// Where a server listening on `ip` is announced.
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip {
            ip if ip.to_canonical().is_loopback() => Scope::Nowhere,
            IpAddr::V4(v4) if v4.is_unspecified() => Scope::Ipv4,
            IpAddr::V6(v6) if v6.is_unspecified() => Scope::All,
            ip => Scope::Only(ip.to_canonical()),
        }
    }

    /// The daemon's interface selections for this scope, applied in order (a later one
    /// wins where both match).
    fn selections(self) -> (Vec<IfKind>, Vec<IfKind>) {
        let loopback = vec![IfKind::LoopbackV4, IfKind::LoopbackV6];
        match self {
            Scope::Ipv4 => ([loopback, vec![IfKind::IPv6]].concat(), vec![]),
            Scope::All | Scope::Nowhere => (loopback, vec![]),
            Scope::Only(ip) => (vec![IfKind::All], vec![IfKind::Addr(ip)]),
        }
    }
}

/// The server's name when none is given: the host name's first label (`office` for
/// `office.example.com`), cut to [`discovery::MAX_NAME_BYTES`]; `lanchat` if there is
/// none, or if it breaks [`discovery::check_name`].
pub fn default_name() -> String {
    let host = gethostname::gethostname();
    let host = host.to_string_lossy();
    let label = host.split('.').next().unwrap_or_default();
    let name = shared::text::cut(label, discovery::MAX_NAME_BYTES);
    if discovery::check_name(name).is_ok() {
        name.to_owned()
    } else {
        FALLBACK_NAME.to_owned()
    }
}

/// The host name in the service's SRV record, `NAME.local.`: the server's own host name
/// reduced to what a DNS label holds (letters, digits, hyphens; at most 63), else
/// `lanchat`.
fn mdns_host_name() -> String {
    let host = gethostname::gethostname();
    let label: String = host
        .to_string_lossy()
        .split('.')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(63)
        .collect();
    let label = label.trim_matches('-');
    let label = if label.is_empty() {
        FALLBACK_NAME
    } else {
        label
    };
    format!("{label}.local.")
}

enum Command {
    /// The number of people changed.
    People(u32),
    /// Withdraw the announcement, stop the daemon, then say so.
    Stop(tokio::sync::oneshot::Sender<()>),
}

/// A running announcement. Dropping it withdraws the announcement too, without waiting.
#[derive(Debug)]
pub(crate) struct Announcer {
    commands: flume::Sender<Command>,
    people: u32,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::People(n) => write!(f, "People({n})"),
            Command::Stop(_) => f.write_str("Stop"),
        }
    }
}

impl Announcer {
    /// Starts announcing a server that listens on `listen` (`None`: a stream that is not an
    /// IP socket, which is not announced) under `name` (`None`: [`default_name`]), with its
    /// TLS key's `fingerprint` if it has one, with
    /// multicast DNS on `mdns_port`. `None` when there is nothing to announce or announcing
    /// could not start; that is logged here.
    pub(crate) fn start(
        name: Option<&str>,
        mdns_port: u16,
        listen: Option<SocketAddr>,
        fingerprint: Option<shared::tls::Fingerprint>,
    ) -> Option<Self> {
        let Some(listen) = listen else {
            debug!("not announced on the LAN: the server does not listen on an IP address");
            return None;
        };
        let scope = Scope::of(listen.ip());
        if scope == Scope::Nowhere {
            info!(%listen, "listening on loopback only: not announced on the LAN");
            return None;
        }
        let name = name.map_or_else(default_name, str::to_owned);
        let announcement = Announcement {
            name,
            version: shared::PROTOCOL_VERSION,
            people: 0,
            fingerprint: fingerprint.map(|fp| fp.hex()),
        };
        match Self::spawn(mdns_port, scope, listen.port(), announcement) {
            Ok(announcer) => Some(announcer),
            Err(e) => {
                warn!("the server is not announced on the LAN: {e}");
                None
            }
        }
    }

    fn spawn(
        mdns_port: u16,
        scope: Scope,
        port: u16,
        announcement: Announcement,
    ) -> Result<Self, String> {
        // Made now, so that a bad record is the one warning line rather than a failure on
        // the thread.
        service(&announcement, port)?;
        let daemon = ServiceDaemon::new_with_port(mdns_port).map_err(|e| e.to_string())?;
        let (commands, inbox) = flume::unbounded();
        let thread = Thread {
            daemon,
            scope,
            port,
            announcement,
        };
        std::thread::Builder::new()
            .name("lanchat-announce".into())
            .spawn(move || thread.run(&inbox))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Self {
            commands,
            people: 0,
        })
    }

    /// Passes the number of people on, if it changed.
    pub(crate) fn people(&mut self, people: usize) {
        let people = u32::try_from(people).unwrap_or(u32::MAX);
        if people != self.people {
            self.people = people;
            let _ = self.commands.send(Command::People(people));
        }
    }

    /// Withdraws the announcement, waiting at most [`WITHDRAW_WAIT`].
    pub(crate) async fn withdraw(self) {
        let (done, withdrawn) = tokio::sync::oneshot::channel();
        if self.commands.send(Command::Stop(done)).is_err() {
            return;
        }
        match tokio::time::timeout(WITHDRAW_WAIT, withdrawn).await {
            Ok(_) => info!("announcement withdrawn"),
            Err(_) => warn!("the announcement was not withdrawn in time"),
        }
    }
}

/// The service record for `announcement` on `port`; its addresses are filled in by the
/// daemon, from the interfaces it was told to use.
fn service(announcement: &Announcement, port: u16) -> Result<ServiceInfo, String> {
    let txt = announcement.to_txt();
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        &announcement.name,
        &mdns_host_name(),
        (),
        port,
        txt.as_slice(),
    )
    .map_err(|e| format!("cannot make the service record: {e}"))?;
    Ok(info.enable_addr_auto())
}

/// What the announcer's thread owns.
struct Thread {
    daemon: ServiceDaemon,
    scope: Scope,
    port: u16,
    announcement: Announcement,
}

impl Thread {
    fn run(mut self, inbox: &flume::Receiver<Command>) {
        let done = match self.announce(inbox) {
            Ok(done) => done,
            Err(e) => {
                warn!("the server is not announced on the LAN: {e}");
                // Commands are still taken, so that a stop is answered.
                self.wait_for_stop(inbox)
            }
        };
        self.stop(done);
    }

    /// Registers the service and keeps it up to date until told to stop (or until the
    /// server is gone); returns whom to tell once stopped.
    fn announce(
        &mut self,
        inbox: &flume::Receiver<Command>,
    ) -> Result<Option<tokio::sync::oneshot::Sender<()>>, String> {
        let events = self.daemon.monitor().map_err(|e| e.to_string())?;
        let (disable, enable) = self.scope.selections();
        self.daemon
            .disable_interface(disable)
            .map_err(|e| e.to_string())?;
        if !enable.is_empty() {
            self.daemon
                .enable_interface(enable)
                .map_err(|e| e.to_string())?;
        }
        self.register(true)?;
        // Until the first announcement went out: then the server says so, or warns (and
        // still says so if an interface comes up later).
        let mut deadline = Some(Instant::now() + ANNOUNCE_WAIT);
        let mut announced = false;
        loop {
            let selector = flume::Selector::new()
                .recv(inbox, Step::Command)
                .recv(&events, Step::Event);
            let step = match deadline {
                Some(deadline) => selector.wait_deadline(deadline).unwrap_or(Step::Late),
                None => selector.wait(),
            };
            match step {
                Step::Command(Ok(Command::People(n))) => {
                    self.announcement.people = n;
                    // Not while the first registration still probes: the daemon would
                    // take its own new record, heard back, for someone else's holding the
                    // name, and rename the service again and again (`NAME (2)`, ...).
                    // The count waits for the first announcement.
                    if announced {
                        self.update();
                    }
                }
                Step::Command(Ok(Command::Stop(done))) => return Ok(Some(done)),
                // The server dropped its handle without a clean stop: withdraw anyway.
                Step::Command(Err(_)) => return Ok(None),
                Step::Event(Ok(DaemonEvent::Announce(..))) if !announced => {
                    (announced, deadline) = (true, None);
                    if self.announcement.people != 0 {
                        self.update();
                    }
                    info!(
                        name = %self.announcement.name,
                        service = SERVICE_TYPE,
                        port = self.port,
                        "announced on the LAN"
                    );
                }
                Step::Event(Ok(DaemonEvent::Error(e))) => {
                    return Err(e.to_string());
                }
                Step::Event(Ok(_)) => {}
                Step::Event(Err(_)) => return Err("the mDNS daemon stopped".into()),
                Step::Late => {
                    deadline = None;
                    warn!(
                        "the server is not announced on the LAN: nothing was sent within {}s \
                         (no network interface to announce on, or no multicast)",
                        ANNOUNCE_WAIT.as_secs()
                    );
                }
            }
        }
    }

    /// Sends the changed count out. The name is the server's since the first
    /// registration: no probing again, the new record goes out at once. A failed update
    /// leaves the old count up until the next change; not worth a warning.
    fn update(&self) {
        if let Err(e) = self.register(false) {
            debug!("the number of people was not re-announced: {e}");
        }
    }

    /// Registers the service as it now is; `probe`: first check that no one else on the
    /// LAN holds its name (the daemon renames it, `NAME (2)`, if someone does).
    fn register(&self, probe: bool) -> Result<(), String> {
        let mut info = service(&self.announcement, self.port)?;
        info.set_requires_probe(probe);
        self.daemon.register(info).map_err(|e| e.to_string())
    }

    fn wait_for_stop(
        &self,
        inbox: &flume::Receiver<Command>,
    ) -> Option<tokio::sync::oneshot::Sender<()>> {
        loop {
            match inbox.recv() {
                Ok(Command::People(_)) => {}
                Ok(Command::Stop(done)) => return Some(done),
                Err(_) => return None,
            }
        }
    }

    /// Stops the daemon, which withdraws the service first (it sends the records again
    /// with a time to live of 0, "goodbye"), waiting at most [`DAEMON_STOP_WAIT`]; then
    /// tells `done`.
    fn stop(self, done: Option<tokio::sync::oneshot::Sender<()>>) {
        if let Ok(status) = self.daemon.shutdown() {
            match status.recv_timeout(DAEMON_STOP_WAIT) {
                Ok(DaemonStatus::Shutdown) => debug!("announcement withdrawn"),
                other => debug!("stopping the mDNS daemon: {other:?}"),
            }
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

/// What woke the announcer's thread.
enum Step {
    Command(Result<Command, flume::RecvError>),
    Event(Result<DaemonEvent, flume::RecvError>),
    Late,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_where_it_listens() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(Scope::of(ip("0.0.0.0")), Scope::Ipv4);
        assert_eq!(Scope::of(ip("::")), Scope::All);
        assert_eq!(Scope::of(ip("10.1.2.3")), Scope::Only(ip("10.1.2.3")));
        assert_eq!(Scope::of(ip("fd00::7")), Scope::Only(ip("fd00::7")));
        assert_eq!(
            Scope::of(ip("::ffff:10.1.2.3")),
            Scope::Only(ip("10.1.2.3"))
        );
        for lo in ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(Scope::of(ip(lo)), Scope::Nowhere, "{lo}");
        }
    }

    #[test]
    fn loopback_is_never_announced_on() {
        for scope in [Scope::Ipv4, Scope::All] {
            let (disable, enable) = scope.selections();
            assert!(enable.is_empty());
            assert!(matches!(disable[0], IfKind::LoopbackV4));
            assert!(matches!(disable[1], IfKind::LoopbackV6));
        }
        let (disable, enable) = Scope::Ipv4.selections();
        assert!(matches!(disable[2], IfKind::IPv6));
        assert_eq!(enable.len(), 0);
        let (disable, enable) = Scope::Only("10.0.0.1".parse().unwrap()).selections();
        assert!(matches!(disable[..], [IfKind::All]));
        assert!(matches!(enable[..], [IfKind::Addr(_)]));
    }

    #[test]
    fn a_loopback_server_starts_no_announcer() {
        for listen in ["127.0.0.1:7878", "[::1]:7878"] {
            assert!(
                Announcer::start(Some("test"), 1, Some(listen.parse().unwrap()), None).is_none()
            );
        }
        assert!(Announcer::start(Some("test"), 1, None, None).is_none());
    }

    #[test]
    fn the_default_name_passes_the_rule() {
        let name = default_name();
        assert_eq!(discovery::check_name(&name), Ok(()));
        let host = mdns_host_name();
        assert!(host.ends_with(".local."), "{host}");
        assert!(host.len() <= 63 + ".local.".len());
    }

    #[test]
    fn the_service_record_carries_the_txt() {
        let announcement = Announcement {
            name: "Office chat".into(),
            version: 4,
            people: 7,
            fingerprint: None,
        };
        let info = service(&announcement, 7878).unwrap();
        assert_eq!(info.get_fullname(), "Office chat._lanchat._tcp.local.");
        assert_eq!(info.get_property_val_str("people"), Some("7"));
        assert_eq!(info.get_property_val_str("name"), Some("Office chat"));
        assert_eq!(info.get_property_val_str("v"), Some("4"));
        assert!(info.is_addr_auto());
    }
}
