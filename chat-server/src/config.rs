//! Every limit and interval of the server, with defaults that fit a LAN.
//!
//! The protocol's own limits (frame size, text and name lengths) live in
//! [`shared::limits`]: both ends must agree on those. The ones here are the server's policy.
//! [`settings`] is how a person sets them: flags and the configuration file.

pub mod settings;

use std::path::PathBuf;
use std::time::Duration;

use shared::auth::PublicKey;

use crate::auth::Password;
use crate::history;

// Sizes and durations are read as they are shown, by the rule in `shared::units`.
pub use shared::units::{parse_duration, parse_size};

/// Limits and intervals of a running server. [`Config::default`] documents each default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most connections served at once; one more is told `ServerFull` and closed.
    ///
    /// Default 10 000: far more than a LAN room needs, and at a few KiB per idle
    /// connection still only tens of MiB. It also bounds the file descriptors in use.
    pub max_connections: usize,

    /// Most connections served at once from one IP address (loopback included); one more
    /// is told `ServerFull` and closed. 0 means no limit.
    ///
    /// Default 16: a person runs a client or two per machine, and a machine shared by a
    /// few people (or a NAT on the LAN) still fits, while one host cannot take all of
    /// `max_connections` for itself.
    pub max_connections_per_ip: usize,

    /// Most rooms that exist at once; joining a new room beyond it is refused with
    /// `InvalidRoom`. Rooms vanish with their last member.
    ///
    /// Default 1,000: far more than a LAN uses, while a client that joins room after room
    /// cannot grow the room table without bound.
    pub max_rooms: usize,

    /// Requests per second a client may keep up after its burst (`Chat`, `Action`,
    /// `Private`, `Join`, `Nick`, `Who`, `Ping` and the file requests; not file chunks,
    /// `Pong` or `Quit`). Beyond it the server stops reading the client until it may go on,
    /// which TCP turns into backpressure, and warns it once with `RateLimited`. 0 means no
    /// limit.
    ///
    /// Default 10 per second: faster than anyone types, and a pasted block of lines goes
    /// through at a readable pace.
    pub msg_rate: u32,

    /// Requests a client may send at once before the steady [`Config::msg_rate`] applies.
    ///
    /// Default 20: a paste of twenty lines, or a client that reconnects and sends what the
    /// user typed meanwhile, goes through without a pause.
    pub msg_burst: u32,

    /// A client that is held back by the rate limit without a break for this long is
    /// disconnected as a flooder (`RateLimited`, and the room is told "flooding").
    ///
    /// Default 10 s: a hundred lines beyond the burst at the steady rate; a person who
    /// pastes a long text is slowed, a program that sends without end is cut off.
    pub flood_timeout: Duration,

    /// Most bytes of encoded frames queued for one client. A client whose queue would
    /// overflow is a slow consumer and is disconnected.
    ///
    /// Default 256 KiB: about 2,400 typical chat frames, or 60 of the largest, and 16
    /// times what one sender can add to a queue before the writers get to run. The
    /// kernel's socket buffer absorbs the first megabytes before the queue fills at all, so
    /// this rides out a busy room or a client that stops for a moment, while a client that
    /// has stopped reading costs at most this much before it is cut off (250 MiB for 1,000
    /// such clients at once, the worst case).
    pub queue_bytes: usize,

    /// A client that has sent no complete frame for this long is sent a `Ping`.
    ///
    /// Default 15 s: cheap on a LAN, and a third of the idle timeout, so a live client has
    /// two chances to answer before it is dropped.
    pub ping_interval: Duration,

    /// A client that has sent no complete frame for this long is told `Timeout` and
    /// disconnected. A frame left half sent does not count, so it times out too.
    ///
    /// Default 45 s: a dead peer or a pulled cable is noticed within a minute, while a
    /// client that answers pings never comes near it.
    pub idle_timeout: Duration,

    /// Time a new connection has to send its `Hello`.
    ///
    /// Default 10 s: a real client sends it at once; this only frees the slot of a
    /// connection that never will.
    pub handshake_timeout: Duration,

    /// Time a closing connection's writer gets to flush its last frames (an error, the
    /// shutdown notice) before the socket is closed anyway. Shutdown waits at most about
    /// this long for all connections.
    ///
    /// Default 1 s: plenty on a LAN, short enough that Ctrl-C feels immediate.
    pub flush_timeout: Duration,

    /// Where uploaded files are kept (`files/`), with their partial uploads (`tmp/`).
    ///
    /// Default `chat-data`, relative to the directory the server runs in. The binary
    /// creates it at start ([`crate::prepare_data_dir`]); a server run as a library
    /// creates it at the first upload. Stored files survive restarts, partial uploads do
    /// not.
    pub data_dir: PathBuf,

    /// Largest file accepted, in bytes; a larger upload is refused before any data is
    /// sent.
    ///
    /// Default 4 GiB: a disk image or a video, while one upload cannot take a LAN
    /// machine's disk by surprise.
    pub max_file_size: u64,

    /// Most bytes all stored files (and the uploads in progress) may take together.
    ///
    /// Default 20 GiB: a few large files or thousands of documents; the operator raises
    /// it for a bigger disk. The disk's free space is checked as well.
    pub quota: u64,

    /// How long a partial upload whose sender disconnected waits for a resume before it
    /// is deleted.
    ///
    /// Default 5 min: long enough to restart a client or rejoin the network, short enough
    /// that abandoned uploads do not hold the quota for long.
    pub upload_grace: Duration,

    /// Longest an upload whose sender is connected may go without data: from its start
    /// to its first 64 KiB, and between one 64 KiB (or the rest of the file) and the
    /// next. Beyond it the upload fails (`UploadFailed`, `Timeout`), its partial data is
    /// deleted and its share of the quota given back, so that a reservation is paid for
    /// with data actually flowing.
    ///
    /// Default 30 s: a client sends its chunks at once, and 64 KiB in 30 s is a rate any
    /// network beats a thousand times; an upload that reserved space and sends nothing
    /// holds it no longer than this. 0 turns the limit off.
    pub upload_stall: Duration,

    /// Space an upload must leave free on the data directory's disk, in bytes, beyond the
    /// file itself and the uploads in progress; an upload that would not is refused with
    /// `DiskFull` before any data is sent.
    ///
    /// Default 64 MiB: the machine keeps room for its logs and the sidecars when uploads
    /// fill the disk.
    pub disk_reserve: u64,

    /// Whether the server announces itself on the LAN (DNS-SD over multicast DNS, see
    /// `shared::discovery`), on the interfaces it listens on. A server that listens only on
    /// loopback never does.
    ///
    /// Default on: clients on the LAN find the server without being told its address.
    pub announce: bool,

    /// The name the server announces. `None`: the host name (its first label).
    pub name: Option<String>,

    /// The UDP port of multicast DNS, for the announcement.
    ///
    /// Default 5353, the standard port (`shared::discovery::MDNS_PORT`); tests use ports of
    /// their own.
    pub mdns_port: u16,

    /// Whether the server keeps the rooms' history: their messages, actions, shared files,
    /// joins, leaves and renames (not private messages), in `history.sqlite3` in
    /// [`Config::data_dir`], so that a client that joins or comes back sees what was said,
    /// across restarts.
    ///
    /// Default on: a chat that forgets everything at every restart is not what people
    /// expect. Off, clients that ask for history are told there is none, and nothing is
    /// written; the benchmarks compare the two.
    pub history: bool,

    /// Messages older than this are deleted from history, in the background; zero keeps
    /// them whatever their age. Counted in whole seconds (a fraction rounds up).
    ///
    /// Default 90 days: a season of a LAN's conversations, while what was said stays
    /// out of reach of anyone who reads the disk later.
    pub history_max_age: Duration,

    /// Most messages (chat lines, actions, shared files) kept per room; the oldest beyond
    /// it are deleted, in the background. Joins, departures and renames are kept apart, as
    /// many. 0 means no limit.
    ///
    /// Default 100,000: months of a busy room, some 20 MB of disk, so that a room flooded
    /// by a program cannot fill the disk.
    pub history_max_per_room: u64,

    /// Messages a client gets from a room's history when it first joins it (a catch-up
    /// from nothing), at most [`MAX_BACKLOG`].
    ///
    /// Default 50: a screen or two of context, in one frame.
    pub history_backlog: u32,

    /// The operators: the public keys (Ed25519, as clients prove them at the handshake)
    /// whose holders may kick, ban, lift bans, release nicks and lock topics. Reloaded on
    /// SIGHUP.
    ///
    /// Default none: a server has no operators until its owner lists their keys.
    pub operators: Vec<PublicKey>,

    /// A file whose text every client is shown right after its welcome (the message of
    /// the day), at most [`MAX_MOTD_BYTES`]; read at start and on SIGHUP.
    ///
    /// Default none.
    pub motd: Option<PathBuf>,

    /// The password clients must give before they see anything (feature "auth"), kept as
    /// its Argon2id hash; a client that cannot give one is refused.
    ///
    /// Default none: anyone who reaches the server may chat.
    pub password: Option<Password>,
}

/// Most bytes of the message of the day: a few paragraphs, one frame, shown to every
/// client that connects; a larger file is refused (at start, or kept out at a reload).
pub const MAX_MOTD_BYTES: usize = 4096;

/// Name of the history's database file in the data directory.
pub const HISTORY_FILE: &str = "history.sqlite3";

impl Config {
    /// What the history keeps, if it is kept: its file in the data directory, its
    /// retention, its backlog; the caps are the history's own defaults.
    pub fn history_settings(&self) -> Option<history::HistorySettings> {
        self.history.then(|| history::HistorySettings {
            // In whole seconds, rounded up, as clients are told it (`HistoryInfo`).
            max_age: Some(self.history_max_age)
                .filter(|age| !age.is_zero())
                .map(|age| Duration::from_secs(age.as_secs() + u64::from(age.subsec_nanos() > 0))),
            max_per_room: Some(self.history_max_per_room).filter(|&n| n > 0),
            backlog: self.history_backlog.min(MAX_BACKLOG),
            ..history::HistorySettings::new(self.data_dir.join(HISTORY_FILE))
        })
    }
}

/// The most `history_backlog` may be: the most messages one catch-up gives.
pub const MAX_BACKLOG: u32 = history::DEFAULT_CATCH_UP_CAP;

impl Default for Config {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_ip: 16,
            max_rooms: 1_000,
            msg_rate: 10,
            msg_burst: 20,
            flood_timeout: Duration::from_secs(10),
            queue_bytes: 256 * 1024,
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            handshake_timeout: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(1),
            data_dir: PathBuf::from("chat-data"),
            max_file_size: 4 << 30,
            quota: 20 << 30,
            upload_grace: Duration::from_secs(5 * 60),
            upload_stall: Duration::from_secs(30),
            disk_reserve: 64 << 20,
            announce: true,
            name: None,
            mdns_port: shared::discovery::MDNS_PORT,
            history: true,
            history_max_age: history::DEFAULT_MAX_AGE,
            history_max_per_room: history::DEFAULT_MAX_PER_ROOM,
            history_backlog: history::DEFAULT_BACKLOG,
            operators: Vec::new(),
            motd: None,
            password: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_ping_inside_idle_timeout() {
        let config = Config::default();
        assert!(config.ping_interval < config.idle_timeout);
        assert!(config.queue_bytes >= shared::limits::MAX_TEXT_BYTES);
        assert!(config.max_connections > 0);
        assert!(config.max_connections_per_ip <= config.max_connections);
        assert!(config.msg_burst >= config.msg_rate);
        assert!(config.flood_timeout > Duration::from_secs(1));
        assert!(config.history_backlog <= MAX_BACKLOG);
    }

    #[test]
    fn history_settings_follow_the_config() {
        let config = Config {
            data_dir: PathBuf::from("here"),
            history_max_age: Duration::ZERO,
            history_max_per_room: 7,
            ..Config::default()
        };
        let settings = config.history_settings().unwrap();
        assert_eq!(settings.path, PathBuf::from("here").join(HISTORY_FILE));
        assert_eq!((settings.max_age, settings.max_per_room), (None, Some(7)));
        assert_eq!(settings.backlog, config.history_backlog);
        let off = Config {
            history: false,
            ..Config::default()
        };
        assert!(off.history_settings().is_none());
        let brief = Config {
            history_max_age: Duration::from_millis(1500),
            ..Config::default()
        };
        let settings = brief.history_settings().unwrap();
        assert_eq!(
            settings.max_age,
            Some(Duration::from_secs(2)),
            "whole seconds"
        );
        let defaults = Config::default().history_settings().unwrap();
        assert_eq!(defaults.max_age, Some(history::DEFAULT_MAX_AGE));
        assert_eq!(defaults.max_per_room, Some(history::DEFAULT_MAX_PER_ROOM));
    }
}
