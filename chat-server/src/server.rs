//! The accept loop, the connection cap, and graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use shared::{ErrorKind, ServerMsg};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use anyhow::Context;

use crate::announce::{Announcer, PEOPLE_EVERY};
use crate::auth::Auth;
use crate::auth::owners::{Owners, OwnersFile};
use crate::bans::Bans;
use crate::common::now_ms;
use crate::config::Config;
use crate::conn::{self, Live, LiveCell};
use crate::files::Files;
use crate::files::store::FileStore;
use crate::history::History;
use crate::outbound::encode;
use crate::registry::Registry;
use crate::reload::Reloader;
use crate::topic_locks::TopicLocks;
use crate::transport::{PeerAddr, Transport};

/// First pause after a failed `accept`; it doubles while failures go on.
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);

/// Longest pause after a failed `accept`. A process out of file descriptors (EMFILE) gets
/// them back as connections close; the server waits for that instead of spinning.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Extra time shutdown waits beyond `flush_timeout`, for connection tasks to be scheduled
/// and finish after their writers.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(1);

/// Tells a connection over a cap why it is closed. The write does not wait (one attempt,
/// as `try_write`): a fresh socket has room for a few bytes, and the accept loop must
/// never stall on a peer.
fn refuse(stream: &mut (impl AsyncWrite + Unpin), frame: &[u8]) {
    let _ = stream.write(frame).now_or_never();
}

/// Connections held by each IP address.
type Counts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// How many connections each IP address holds, against `max` (0: no limit).
#[derive(Debug)]
struct PerIp {
    max: usize,
    counts: Counts,
}

impl PerIp {
    fn new(max: usize) -> Self {
        Self {
            max,
            counts: Arc::default(),
        }
    }

    /// A slot for one more connection from `peer`, or `None` if its IP address holds
    /// `max` already. An IPv4 address seen through an IPv6 socket counts as itself; a peer
    /// without an IP address is not counted.
    fn take(&self, peer: &PeerAddr) -> Option<IpSlot> {
        let Some(ip) = peer.ip().filter(|_| self.max > 0) else {
            return Some(IpSlot(None));
        };
        let ip = ip.to_canonical();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(ip).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot(Some((ip, Arc::clone(&self.counts)))))
    }
}

/// One connection's place in its address's count (none when not counted); given back when
/// dropped.
#[derive(Debug)]
struct IpSlot(Option<(IpAddr, Counts)>);

impl Drop for IpSlot {
    fn drop(&mut self) {
        let Some((ip, counts)) = &self.0 else {
            return;
        };
        let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(ip);
            }
        }
    }
}

/// Creates the data directory `dir` and its subdirectories if they are missing, and checks
/// that the server can store files there. A server calls this before it says where it
/// listens: a data directory it cannot use stops it at start, with the reason, instead of
/// failing the first upload.
///
/// # Errors
///
/// The directory cannot be created or written to; the message names the path and the
/// operating system's reason.
pub fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    FileStore::prepare(dir)
        .with_context(|| format!("cannot use the data directory '{}'", dir.display()))
}

/// Serves chat clients on `listener` until `shutdown` completes, then tells every client
/// that the server is going away, gives their writers `flush_timeout` to deliver that, and
/// returns once the connections are closed. [`run_with`] with TCP as the transport.
///
/// # Errors
///
/// As [`run_with`].
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    run_with(listener, config, shutdown).await
}

/// Serves chat clients whose streams `transport` accepts until `shutdown` completes, then
/// tells every client that the server is going away, gives their writers `flush_timeout`
/// to deliver that, and returns once the connections are closed and the history has
/// stored everything. The transport is dropped first, so that a listener stops taking
/// connections at once. [`open`], then [`Opened::run_with`].
///
/// `main` passes a future that completes on Ctrl-C or SIGTERM; tests and a client that
/// hosts a room pass whatever suits them.
///
/// # Errors
///
/// As [`open`]. After that, none: a failing connection is logged and dropped, and a
/// failing `accept` is retried after a pause.
pub async fn run_with<T: Transport>(
    transport: T,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    open(config).await?.run_with(transport, shutdown).await
}

/// A server whose data directory and history are open, ready to serve: what [`open`]
/// gives. The binary opens it before it says where it listens, so that a history it
/// cannot use stops it at start.
#[derive(Debug)]
pub struct Opened {
    /// Held while the server runs: the data directory is this server's alone.
    _lock: std::fs::File,
    config: Config,
    files: FileStore,
    history: History,
    /// Where message ids go on.
    last_id: u64,
    /// What a reload may change.
    live: Arc<LiveCell>,
    bans: Arc<Bans>,
    topic_locks: TopicLocks,
    /// The password and the keys; a reload changes the password.
    auth: Arc<Auth>,
    /// The nicks registered to keys (their file is the `auth`'s).
    owners: Owners,
}

/// Opens what a server keeps in `config.data_dir`: first the bans, then the history
/// (unless it is off), then the file store, and reads the message of the day. Partial uploads of an earlier run are deleted and the stored
/// files' metadata is loaded. Message ids go on after the last one the history knows,
/// and file ids after the highest the history or the disk knows, so that none repeats.
///
/// # Errors
///
/// Another server uses the data directory; the bans' file cannot be used; the history's
/// database cannot be used (not a database, another program's, a newer schema, damaged,
/// unwritable), in one line that names the file, which is left as it was; the data
/// directory cannot be read or cleaned; or the message of the day cannot be read.
pub async fn open(config: Config) -> anyhow::Result<Opened> {
    let lock = {
        let dir = config.data_dir.clone();
        tokio::task::spawn_blocking(move || lock_data_dir(&dir))
            .await
            .context("the data directory's lock stopped")??
    };
    let (bans, topic_locks) = {
        let dir = config.data_dir.clone();
        tokio::task::spawn_blocking(move || {
            let bans = Bans::open(&dir, now_ms())?;
            let locks = TopicLocks::open(&dir).map_err(anyhow::Error::msg)?;
            anyhow::Ok((bans, locks))
        })
        .await
        .context("the bans' reading stopped")??
    };
    let (history, resume) = match config.history_settings() {
        Some(settings) => {
            let path = settings.path.clone();
            // The directory exists: taking its lock made it.
            let (history, resume) = tokio::task::spawn_blocking(move || {
                create_private(&settings.path);
                anyhow::Ok(History::open(settings)?)
            })
            .await
            .context("the history's opening stopped")??;
            info!(
                path = %path.display(),
                last_id = resume.last_id,
                clean = resume.clean,
                "history opened"
            );
            (history, Some(resume))
        }
        None => {
            info!("keeping no history (history is off)");
            (History::off(), None)
        }
    };
    let files = {
        let (dir, max, quota) = (config.data_dir.clone(), config.max_file_size, config.quota);
        let reserve = config.disk_reserve;
        tokio::task::spawn_blocking(move || {
            FileStore::open(&dir, max, quota).map(|store| store.with_disk_reserve(reserve))
        })
        .await?
        .with_context(|| {
            format!(
                "cannot open the data directory '{}'",
                config.data_dir.display()
            )
        })?
    };
    if let Some(resume) = resume {
        files.ids_after(resume.last_file_id);
    }
    let (owners, owners_file) = {
        let file = OwnersFile::in_dir(&config.data_dir);
        tokio::task::spawn_blocking(move || file.load().map(|owners| (owners, file)))
            .await
            .context("reading the registered nicks stopped")??
    };
    let live = Live::new(&config, &history).map_err(anyhow::Error::msg)?;
    let auth = Arc::new(Auth::new(config.password.clone(), owners_file));
    Ok(Opened {
        _lock: lock,
        config,
        files,
        history,
        last_id: resume.map_or(0, |r| r.last_id),
        live: Arc::new(LiveCell::new(live)),
        bans: Arc::new(bans),
        topic_locks,
        auth,
        owners,
    })
}

/// Takes the lock file `lock` in `dir` (created if missing), exclusively, for as long as
/// the returned file is open. Two servers on one data directory would hand out the same
/// message ids into one history and delete each other's partial uploads at start; the
/// second one stops instead, with one line. The lock (`flock`) goes with the process, so
/// a server that was killed leaves nothing to clean up.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use fs4::fs_std::FileExt;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the data directory '{}'", dir.display()))?;
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open '{}'", path.display()))?;
    let locked = file
        .try_lock_exclusive()
        .with_context(|| format!("cannot lock '{}'", path.display()))?;
    if !locked {
        anyhow::bail!(
            "the data directory '{}' is in use by another chat-server; give each server a \
             directory of its own (--data-dir)",
            dir.display()
        );
    }
    Ok(file)
}

/// Creates the empty file `path`, readable and writable by this process's user only, if
/// there is none: SQLite takes an empty file for a new database, and gives its log files
/// (`-wal`, `-shm`) the same permissions, so that what the history holds is not readable
/// by other users of the machine whatever the umask. An existing file is left as it is;
/// a failure here is left for the history's opening to report.
fn create_private(path: &std::path::Path) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    if let Err(e) = options.open(path) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            tracing::debug!(error = %e, path = %path.display(), "could not create the history's file");
        }
    }
}

impl Opened {
    /// A handle that reloads the configuration of this server once it runs, without
    /// dropping a connection ([`Reloader`]).
    pub fn reloader(&self) -> Reloader {
        Reloader::new(
            Arc::clone(&self.live),
            Arc::clone(&self.bans),
            Arc::clone(&self.auth),
            self.history.clone(),
            self.config.clone(),
        )
    }

    /// Serves chat clients whose streams `transport` accepts until `shutdown` completes,
    /// as [`run_with`] says; at the end, once the registry is closed and the connections
    /// are, the history stores everything still queued.
    ///
    /// # Errors
    ///
    /// None so far: a failing connection is logged and dropped, and a failing `accept` is
    /// retried after a pause.
    pub async fn run_with<T: Transport>(
        self,
        transport: T,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let Opened {
            _lock,
            config,
            files,
            history,
            last_id,
            live,
            bans,
            topic_locks,
            auth,
            owners,
        } = self;
        // The semaphore's own limit, and `acquire_many` at shutdown takes a u32.
        let max = config
            .max_connections
            .min(Semaphore::MAX_PERMITS)
            .min(u32::MAX as usize);
        let registry = Arc::new(
            Registry::with_history(config.max_rooms, history.clone(), last_id).with_owners(owners),
        );
        let files = Arc::new(Files {
            store: files,
            registry: Arc::clone(&registry),
            upload_grace: config.upload_grace,
            upload_stall: config.upload_stall,
            sharers: Default::default(),
        });
        let config_per_ip = config.max_connections_per_ip;
        let per_ip = PerIp::new(config_per_ip);
        let server = Server {
            limit: Arc::new(Semaphore::new(max)),
            max_connections: max,
            per_ip,
            conn: Arc::new(conn::Context {
                registry,
                files,
                history: history.clone(),
                live,
                bans,
                topic_locks,
                auth,
            }),
            flush_timeout: config.flush_timeout,
            stop: CancellationToken::new(),
            server_full: encode(&ServerMsg::Error {
                kind: ErrorKind::ServerFull,
                text: format!("the server is full ({max} connections)"),
            }),
            too_many_from_ip: encode(&ServerMsg::Error {
                kind: ErrorKind::ServerFull,
                text: format!("too many connections from your address ({config_per_ip} at most)"),
            }),
        };
        let local_addr = transport.local_addr();
        if let Some(addr) = &local_addr {
            info!(%addr, "accepting connections");
        }
        // A transport over IP (plain TCP, or TLS over it) says its address as IP:PORT; any
        // other is not on the LAN and is not announced.
        let mut announcer = config
            .announce
            .then(|| {
                let listen = local_addr.as_deref().and_then(|a| a.parse().ok());
                let fingerprint = transport.fingerprint();
                Announcer::start(
                    config.name.as_deref(),
                    config.mdns_port,
                    listen,
                    fingerprint,
                )
            })
            .flatten();
        if !config.announce {
            info!("not announced on the LAN (announcing is off)");
        }
        tokio::select! {
            () = server.accept(&transport) => {}
            () = server.conn.registry.keep_alive_every(config.ping_interval, config.idle_timeout) => {}
            () = count_people(announcer.as_mut(), &server.conn.registry) => {}
            () = shutdown => info!("shutting down"),
        }
        // Closing the listener first: connections arriving from now on are refused by the
        // operating system instead of waiting in the backlog.
        drop(transport);
        let withdraw = async {
            if let Some(announcer) = announcer {
                announcer.withdraw().await;
            }
        };
        tokio::join!(withdraw, server.shut_down());
        // Nothing is delivered any more: every message that reached anyone was handed to
        // the history, which now stores what it still holds and marks a clean stop.
        history.close().await;
        Ok(())
    }
}

/// Tells the announcer how many people are connected, every [`PEOPLE_EVERY`]; it passes
/// the number on only when it changed. Never completes.
async fn count_people(announcer: Option<&mut Announcer>, registry: &Registry) {
    let Some(announcer) = announcer else {
        return std::future::pending().await;
    };
    let mut every = tokio::time::interval(PEOPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        announcer.people(registry.people());
    }
}

struct Server {
    /// One permit per connection being served.
    limit: Arc<Semaphore>,
    max_connections: usize,
    /// Connections per IP address.
    per_ip: PerIp,
    /// What every connection is lent: the registry, the files, the rules.
    conn: Arc<conn::Context>,
    /// How long shutdown lets each connection flush.
    flush_timeout: Duration,
    /// Cancelled to tell every connection to say goodbye and close.
    stop: CancellationToken,
    /// Encoded once: sent to every connection over the cap.
    server_full: Bytes,
    /// Encoded once: sent to every connection over its address's cap.
    too_many_from_ip: Bytes,
}

impl Server {
    /// Accepts connections for as long as it is polled.
    async fn accept<T: Transport>(&self, transport: &T) {
        let mut backoff = ACCEPT_BACKOFF_START;
        loop {
            let (mut stream, peer) = match transport.accept().await {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF_START;
                    accepted
                }
                Err(e) => {
                    warn!(error = %e, pause = ?backoff, "accept failed; pausing");
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&self.limit).try_acquire_owned() else {
                warn!(%peer, max = self.max_connections, "server full; connection refused");
                refuse(&mut stream, &self.server_full);
                continue;
            };
            let Some(slot) = self.per_ip.take(&peer) else {
                warn!(%peer, max = self.per_ip.max, "too many connections from one address; refused");
                refuse(&mut stream, &self.too_many_from_ip);
                continue;
            };
            let context = Arc::clone(&self.conn);
            let stop = self.stop.clone();
            // The slot and the permit are returned only when the connection ends, so that
            // shutdown can wait for every connection. `map`, not an `async` block: awaiting
            // the connection inside one would keep its state twice in the task.
            let connection = conn::serve(stream, peer, context, stop);
            tokio::spawn(connection.map(move |()| drop((slot, permit))));
        }
    }

    /// Tells every connection to close and waits, for a bounded time, until they have.
    async fn shut_down(self) {
        self.conn.registry.close();
        self.stop.cancel();
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        let limit = self.flush_timeout + SHUTDOWN_SLACK;
        match timeout(limit, self.limit.acquire_many(all)).await {
            Ok(_) => info!("all connections closed"),
            Err(_) => warn!("some connections were still closing when the server stopped"),
        }
        let files = Arc::clone(&self.conn.files);
        let _ = tokio::task::spawn_blocking(move || files.store.remove_partials()).await;
    }
}
