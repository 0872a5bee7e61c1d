//! The server's settings as a person gives them: command-line flags and the optional
//! configuration file, which hold the same settings under the same names.
//!
//! [`Settings`] is both at once: its fields are the flags (`--max-rooms`) and the file's
//! keys (`max_rooms`, the flag's name with underscores). Every field is an `Option`, so
//! that a layer says only what it sets. Built-in defaults, then the file, then the flags
//! actually given: each later layer wins ([`Settings::or`]). The defaults are
//! [`Config::default`] and [`DEFAULT_LISTEN`], and nowhere else: `--help` shows them and
//! `--print-config` prints them from there.
//!
//! Durations and sizes are written as on the command line (`"15s"`, `"4GiB"`) and printed
//! the same way ([`HumanDuration`], [`ByteSize`]), so what `--print-config` prints can be
//! read back as a file.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Arg, CommandFactory, FromArgMatches, Parser};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use shared::auth::PublicKey;
use shared::config_file::{self, FileError, Problem};

use crate::auth::Password;
use crate::config::{Config, MAX_BACKLOG, parse_duration, parse_size};

/// Address the server listens on when neither the file nor `--listen` says: every
/// interface, so that the whole LAN can connect.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:7878";

/// Name of the configuration file in the standard configuration directory.
pub const CONFIG_FILE_NAME: &str = "server.toml";

/// Most worker threads `--workers` takes: far beyond any machine a LAN server runs on.
pub const MAX_WORKERS: u16 = 1024;

/// The default configuration file: `server.toml` in the user's configuration directory for
/// `chat-server` (`$XDG_CONFIG_HOME/chat-server/`, else `~/.config/chat-server/` on Linux;
/// `~/Library/Application Support/chat-server/` on macOS; `%APPDATA%\chat-server\config\`
/// on Windows). `None` where there is no home directory.
pub fn default_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "chat-server")
        .map(|dirs| dirs.config_dir().join(CONFIG_FILE_NAME))
}

/// A chat room server for the local network.
///
/// Clients connect over TLS (or plain TCP with --plaintext) and speak the protocol
/// described in docs/PROTOCOL.md. The server prints the address it listens on and its key's
/// fingerprint, logs to stderr, and shuts down gracefully on Ctrl-C or SIGTERM.
///
/// Every flag can also be set in a TOML file, under the flag's name with underscores
/// (`max_rooms = 50`), durations and sizes as strings (`ping_interval = "15s"`). The file
/// is --config PATH, else server.toml in the user's configuration directory if it exists.
/// Flags override the file; --print-config shows the result.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-server", version)]
pub struct Cli {
    /// Read settings from this TOML file.
    ///
    /// Without it, the default file is read if it exists. A file named here must exist.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print the settings in effect (defaults, file, flags) as TOML, and exit.
    ///
    /// The output is a configuration file: saved, it gives the same settings again.
    #[arg(long)]
    pub print_config: bool,

    /// The password clients must give before they see anything.
    ///
    /// Hashed in memory at start (Argon2id) and stored nowhere; it takes the place of
    /// password_hash. Other users of the machine can read a flag in the process list:
    /// prefer the environment variable CHAT_SERVER_PASSWORD, or password_hash in the
    /// configuration file (--print-config shows the hash of this one).
    #[arg(
        long,
        env = "CHAT_SERVER_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        value_parser = hashed
    )]
    pub password: Option<Password>,

    /// Read a password from standard input, print its hash for password_hash, and exit.
    ///
    /// The first line is the password (without its line break). Put the printed line in
    /// the configuration file as password_hash = "...".
    #[arg(long)]
    pub hash_password: bool,

    #[command(flatten)]
    pub settings: Settings,
}

/// `--password`, hashed as it is read: the password itself goes no further.
fn hashed(text: &str) -> Result<Password, String> {
    Password::hash(text)
}

impl Cli {
    /// The command line with each default shown in the help of its flag.
    pub fn command_with_defaults() -> clap::Command {
        let defaults = Settings::defaults().to_table();
        let config_default =
            default_config_path().map(|p| format!("{}, if it exists", p.display()));
        Self::command().mut_args(|arg| {
            let id = arg.get_id().as_str();
            if id == "config" {
                return match &config_default {
                    Some(shown) => with_default(arg, shown),
                    None => arg,
                };
            }
            match defaults.get(id) {
                Some(toml::Value::String(shown)) => with_default(arg, shown),
                Some(toml::Value::Array(list)) if list.is_empty() => with_default(arg, "none"),
                Some(other) => with_default(arg, &other.to_string()),
                None => arg,
            }
        })
    }

    /// Parses the process's arguments; on an error (or `--help`) prints it and exits.
    pub fn parse_args() -> Self {
        let matches = Self::command_with_defaults().get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the program name first).
    ///
    /// # Errors
    ///
    /// clap's error for arguments it does not take.
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command_with_defaults().try_get_matches_from(args)?;
        Self::from_arg_matches(&matches)
    }

    /// The settings in effect: the defaults, overridden by the configuration file (the
    /// `--config` file, else the default file if there is one), overridden by the flags
    /// given.
    ///
    /// # Errors
    ///
    /// The file cannot be read (a missing default file is no error) or holds a setting
    /// that is unknown or has a bad value.
    pub fn load(&self) -> Result<Loaded, FileError> {
        let (file, mut from_file) = match &self.config {
            Some(path) => (Some(path.clone()), config_file::read(path)?),
            None => match default_config_path() {
                Some(path) => match config_file::read(&path) {
                    Ok(settings) => (Some(path), settings),
                    Err(e) if e.is_not_found() => (None, Settings::default()),
                    Err(e) => return Err(e),
                },
                None => (None, Settings::default()),
            },
        };
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_owned());
        from_file.data_dir = from_file
            .data_dir
            .map(|dir| config_file::expand_home(dir, home.as_deref()));
        from_file.tls_cert = from_file
            .tls_cert
            .map(|path| config_file::expand_home(path, home.as_deref()));
        from_file.tls_key = from_file
            .tls_key
            .map(|path| config_file::expand_home(path, home.as_deref()));
        from_file.motd = from_file
            .motd
            .map(|path| config_file::expand_home(path, home.as_deref()));
        let from_file = from_file.fold_tls().map_err(|message| FileError::Invalid {
            path: file.clone().unwrap_or_default(),
            problem: Problem::Key {
                key: "tls".into(),
                message,
            },
        })?;
        // clap refuses --tls with --plaintext; should both come another way, --plaintext
        // is the word that changes something, and wins.
        let from_flags = self
            .settings
            .clone()
            .fold_tls()
            .unwrap_or_else(|_| Settings {
                tls: None,
                ..self.settings.clone()
            });
        // --password, hashed as it was read, is the flags' password_hash.
        let from_flags = Settings {
            password_hash: self.password.clone().or(from_flags.password_hash.clone()),
            ..from_flags
        };
        Ok(Loaded {
            file,
            settings: from_flags.or(from_file).or(Settings::defaults()),
        })
    }
}

/// Appends ` [default: SHOWN]` to the first paragraph of `arg`'s help, as clap does for the
/// defaults it knows itself.
fn with_default(arg: Arg, shown: &str) -> Arg {
    let tag = format!(" [default: {shown}]");
    let help = arg.get_help().map(|help| format!("{help}{tag}"));
    let long_help = arg.get_long_help().map(|long| {
        let long = long.to_string();
        let (first, rest) = long.split_once("\n\n").unwrap_or((&long, ""));
        // Inside the sentence, as in "Most rooms at once [default: 1000]."
        let first = match first.strip_suffix('.') {
            Some(sentence) => format!("{sentence}{tag}."),
            None => format!("{first}{tag}"),
        };
        if rest.is_empty() {
            first
        } else {
            format!("{first}\n\n{rest}")
        }
    });
    let arg = match help {
        Some(help) => arg.help(help),
        None => arg,
    };
    match long_help {
        Some(long_help) => arg.long_help(long_help),
        None => arg,
    }
}

/// The settings in effect and the file they were read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    /// Every setting with its value in effect; `workers` and `log_level` may stay unset.
    pub settings: Settings,
}

impl Loaded {
    /// The settings as a TOML configuration file, with a comment on where they came from
    /// and one for each setting left unset.
    ///
    /// # Errors
    ///
    /// A setting TOML cannot hold: a data directory whose path is not UTF-8.
    pub fn to_toml(&self) -> Result<String, String> {
        let source = match &self.file {
            Some(path) => format!("defaults, then {}, then flags", path.display()),
            None => "defaults, then flags (no configuration file)".to_owned(),
        };
        let body = toml::to_string(&self.settings).map_err(|e| e.to_string())?;
        let mut text = format!("# chat-server settings in effect: {source}.\n{body}");
        if self.settings.workers.is_none() {
            text.push_str("# workers: not set, one per CPU core\n");
        }
        if self.settings.log_level.is_none() {
            text.push_str("# log_level: not set, $RUST_LOG, else info\n");
        }
        if self.settings.motd.is_none() {
            text.push_str("# motd: not set, no message of the day\n");
        }
        if self.settings.name.is_none() {
            let host = crate::announce::default_name();
            text.push_str(&format!("# name: not set, the host name ({host})\n"));
        }
        Ok(text)
    }
}

/// Every setting of the server: a command-line flag each, and a key of the configuration
/// file under the same name. `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    ///
    /// HOST:PORT. The default listens on every interface, so the whole LAN can connect.
    /// Port 0 picks a free port; the line "listening on ADDR" on stdout tells which.
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,

    /// Most clients served at once.
    ///
    /// A client over the limit is told the server is full and disconnected. At least 1.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<AtLeastOne>,

    /// Most clients served at once from one IP address.
    ///
    /// Loopback counts as an address too. A client over the limit is told the server is
    /// full and disconnected. 0 means no limit.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_ip: Option<usize>,

    /// Most rooms at once.
    ///
    /// Joining a new room beyond it is refused; existing rooms can still be joined. A room
    /// goes away with its last member. At least 1.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rooms: Option<AtLeastOne>,

    /// Requests per second a client may keep up.
    ///
    /// Messages, private messages, /me, joins, nick changes, member lists, pings and file
    /// requests count; file chunks do not. Beyond the rate (after --msg-burst at once) the
    /// server reads from the client only as fast as the rate allows and warns it once.
    /// 0 means no limit.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_rate: Option<u32>,

    /// Requests a client may send at once before --msg-rate applies.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_burst: Option<u32>,

    /// Disconnect a client held back by --msg-rate without a break for this long.
    ///
    /// The room is told it was flooding.
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_timeout: Option<HumanDuration>,

    /// Bytes queued per client before it counts as a slow consumer.
    ///
    /// A client that stops reading fills its queue and is disconnected, so that it never
    /// slows the room or grows the server's memory. A size, like --max-file-size.
    #[arg(long, value_name = "SIZE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_bytes: Option<ByteSize>,

    /// Ping a client silent for this long.
    ///
    /// Durations are written like 500ms, 15s or 2m; a bare number means seconds.
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_interval: Option<HumanDuration>,

    /// Drop a client silent for this long.
    ///
    /// Any complete frame counts as a sign of life; a frame left half sent does not.
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<HumanDuration>,

    /// Time a new connection has to log in.
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_timeout: Option<HumanDuration>,

    /// Threads that serve connections [default: one per CPU core].
    ///
    /// Every connection is served by whichever thread is free; more threads than cores
    /// only add switching. From 1 to 1024.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<Workers>,

    /// Directory for shared files.
    ///
    /// Stored files live in DIR/files (contents and a JSON sidecar each, named by id),
    /// uploads in progress in DIR/tmp. Created at start if missing; a directory the server
    /// cannot create or write to stops it at start. Partial uploads left by an earlier run
    /// are deleted at start; stored files are kept. A relative path is relative to the
    /// directory the server runs in; in the configuration file, ~/ is the home directory.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,

    /// Largest file accepted.
    ///
    /// Sizes are written like 500MiB, 4GiB or 1000000 (bytes); kB, MB, GB are powers of
    /// 1000. A larger upload is refused before any data is sent.
    #[arg(long, value_name = "SIZE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<ByteSize>,

    /// Storage quota for all files together.
    ///
    /// An upload that would exceed it is refused before any data is sent; so is one the
    /// disk's free space cannot hold.
    #[arg(long, value_name = "SIZE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<ByteSize>,

    /// Keep an interrupted upload this long for its sender to resume.
    ///
    /// Afterwards its partial data is deleted.
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_grace: Option<HumanDuration>,

    /// Fail an upload whose sender sends no data for this long.
    ///
    /// Counted from the start to the first 64 KiB and between one 64 KiB and the next;
    /// the upload's partial data is deleted and its reserved space given back. 0 turns
    /// the limit off.
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_stall: Option<HumanDuration>,

    /// Free disk space an upload must leave on the data directory's disk.
    ///
    /// An upload that would leave less is refused before any data is sent.
    #[arg(long, value_name = "SIZE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_reserve: Option<ByteSize>,

    /// Keep no history.
    ///
    /// By default the server keeps the rooms' messages, actions, shared files, joins, leaves
    /// and renames (not private messages) in DIR/history.sqlite3 (DIR being --data-dir),
    /// so that a client that joins or comes back sees what was said, across restarts.
    /// With this, nothing is written and clients that ask are told there is no history.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_history: Option<bool>,

    /// Delete history older than this.
    ///
    /// Old messages are deleted in the background, a few hundred at a time. Durations
    /// are written like 12h or 30d; 0 keeps messages whatever their age.
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_max_age: Option<HumanDuration>,

    /// Most messages of history kept per room.
    ///
    /// The oldest beyond it are deleted in the background. 0 means no limit.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_max_per_room: Option<u64>,

    /// Messages of history a client gets when it first joins a room.
    ///
    /// From 0 to 500. A client that comes back gets what it missed instead.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_backlog: Option<Backlog>,

    /// Name the server announces on the LAN [default: the host name].
    ///
    /// Clients that look for servers show it. Up to 63 bytes; spaces may stand between
    /// words; no control or invisible characters.
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<ServerName>,

    /// Do not announce the server on the LAN.
    ///
    /// By default the server announces itself (DNS-SD over multicast DNS, service
    /// _lanchat._tcp) on the interfaces it listens on, with its name, protocol version and
    /// number of people, so that clients find it without an address; it withdraws the
    /// announcement when it stops. A server listening only on loopback never announces.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_announce: Option<bool>,

    /// UDP port of multicast DNS for the announcement; only tests use another than 5353.
    #[arg(long, value_name = "PORT", hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mdns_port: Option<u16>,

    /// Speak plain TCP to clients instead of TLS, for benchmarks and old clients.
    ///
    /// By default the server speaks TLS (1.3): without --tls-cert and --tls-key it makes
    /// a key and a self-signed certificate on first start (DIR/tls-key.pem, readable by
    /// its user only, and DIR/tls-cert.pem, DIR being --data-dir) and uses them from then
    /// on. It prints its key's fingerprint beside "listening on"; clients pin it on first
    /// use. With --plaintext, anyone on the network reads every message and file, and a
    /// TLS client is told, in one line, to connect with --plaintext; without it, a
    /// plaintext client is told to connect without --plaintext.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        conflicts_with_all = ["tls", "tls_cert", "tls_key"]
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<bool>,

    /// Speak TLS to clients: the default, so this changes nothing.
    ///
    /// Kept so that scripts written when TLS had to be asked for still work. --tls=false
    /// is --plaintext.
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,

    /// The server's own TLS certificate (PEM: its certificate first, then its chain).
    ///
    /// With --tls-key, instead of the key the server makes itself. Clients pin the
    /// certificate's public key, so a certificate made anew for the same key keeps their
    /// pins. Not with --plaintext.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,

    /// Public key of an operator (64 hex digits); repeat for each.
    ///
    /// An operator is a client that proves it holds one of these keys when it connects
    /// (its key is under the user's data directory; the client shows it). Operators may
    /// kick, ban and unban, list the bans, release a registered nick and lock a room's
    /// topic. In the configuration file: operators = ["KEY", ...]. Reloaded on SIGHUP.
    #[arg(long = "operator", value_name = "KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operators: Option<Vec<OperatorKey>>,

    /// File whose text every client is shown when it connects (the message of the day).
    ///
    /// UTF-8 text, at most 4096 bytes; read at start (a file the server cannot use stops
    /// it) and again on SIGHUP. In the configuration file, ~/ is the home directory.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motd: Option<PathBuf>,
    /// The password clients must give, as its hash (what --hash-password prints).
    ///
    /// A client gives the password before it sees anything; a wrong one is refused and
    /// logged, and an address gets 5 attempts a minute. A client too old to give one is
    /// told that this server needs a password. The hash is Argon2id in a PHC string
    /// ($argon2id$v=19$m=19456,t=2,p=1$...), so the file never holds the password.
    #[arg(long, value_name = "HASH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<Password>,

    /// Log filter, such as info, debug or chat_server=trace [default: $RUST_LOG, else info].
    ///
    /// Logs go to stderr. The syntax is tracing-subscriber's EnvFilter, the same as RUST_LOG.
    #[arg(long, value_name = "FILTER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogFilter>,
}

impl Settings {
    /// The built-in defaults: [`DEFAULT_LISTEN`] and [`Config::default`]. `workers`,
    /// `log_level` and `name` stay unset: their defaults depend on the machine and the
    /// environment; so does `mdns_port`, which only tests set.
    pub fn defaults() -> Self {
        Self {
            listen: Some(DEFAULT_LISTEN.to_owned()),
            workers: None,
            log_level: None,
            name: None,
            mdns_port: None,
            plaintext: Some(false),
            ..Self::from_config(&Config::default())
        }
    }

    /// The settings that give `config` (only `listen`, `workers` and `log_level` unset).
    pub fn from_config(config: &Config) -> Self {
        Self {
            listen: None,
            max_connections: Some(AtLeastOne(config.max_connections)),
            max_connections_per_ip: Some(config.max_connections_per_ip),
            max_rooms: Some(AtLeastOne(config.max_rooms)),
            msg_rate: Some(config.msg_rate),
            msg_burst: Some(config.msg_burst),
            flood_timeout: Some(HumanDuration(config.flood_timeout)),
            queue_bytes: Some(ByteSize(config.queue_bytes as u64)),
            ping_interval: Some(HumanDuration(config.ping_interval)),
            idle_timeout: Some(HumanDuration(config.idle_timeout)),
            handshake_timeout: Some(HumanDuration(config.handshake_timeout)),
            workers: None,
            data_dir: Some(config.data_dir.clone()),
            max_file_size: Some(ByteSize(config.max_file_size)),
            quota: Some(ByteSize(config.quota)),
            upload_grace: Some(HumanDuration(config.upload_grace)),
            upload_stall: Some(HumanDuration(config.upload_stall)),
            disk_reserve: Some(ByteSize(config.disk_reserve)),
            name: config.name.clone().map(ServerName),
            no_announce: Some(!config.announce),
            mdns_port: Some(config.mdns_port),
            no_history: Some(!config.history),
            history_max_age: Some(HumanDuration(config.history_max_age)),
            history_max_per_room: Some(config.history_max_per_room),
            history_backlog: Some(Backlog(config.history_backlog)),
            plaintext: None,
            tls: None,
            tls_cert: None,
            tls_key: None,
            operators: Some(config.operators.iter().copied().map(OperatorKey).collect()),
            motd: config.motd.clone(),
            password_hash: config.password.clone(),
            log_level: None,
        }
    }

    /// These settings, with each one unset here taken from `lower`.
    #[must_use]
    pub fn or(self, lower: Self) -> Self {
        Self {
            listen: self.listen.or(lower.listen),
            max_connections: self.max_connections.or(lower.max_connections),
            max_connections_per_ip: self.max_connections_per_ip.or(lower.max_connections_per_ip),
            max_rooms: self.max_rooms.or(lower.max_rooms),
            msg_rate: self.msg_rate.or(lower.msg_rate),
            msg_burst: self.msg_burst.or(lower.msg_burst),
            flood_timeout: self.flood_timeout.or(lower.flood_timeout),
            queue_bytes: self.queue_bytes.or(lower.queue_bytes),
            ping_interval: self.ping_interval.or(lower.ping_interval),
            idle_timeout: self.idle_timeout.or(lower.idle_timeout),
            handshake_timeout: self.handshake_timeout.or(lower.handshake_timeout),
            workers: self.workers.or(lower.workers),
            data_dir: self.data_dir.or(lower.data_dir),
            max_file_size: self.max_file_size.or(lower.max_file_size),
            quota: self.quota.or(lower.quota),
            upload_grace: self.upload_grace.or(lower.upload_grace),
            upload_stall: self.upload_stall.or(lower.upload_stall),
            disk_reserve: self.disk_reserve.or(lower.disk_reserve),
            name: self.name.or(lower.name),
            no_announce: self.no_announce.or(lower.no_announce),
            mdns_port: self.mdns_port.or(lower.mdns_port),
            no_history: self.no_history.or(lower.no_history),
            history_max_age: self.history_max_age.or(lower.history_max_age),
            history_max_per_room: self.history_max_per_room.or(lower.history_max_per_room),
            history_backlog: self.history_backlog.or(lower.history_backlog),
            plaintext: self.plaintext.or(lower.plaintext),
            tls: self.tls.or(lower.tls),
            tls_cert: self.tls_cert.or(lower.tls_cert),
            tls_key: self.tls_key.or(lower.tls_key),
            operators: self.operators.or(lower.operators),
            motd: self.motd.or(lower.motd),
            password_hash: self.password_hash.or(lower.password_hash),
            log_level: self.log_level.or(lower.log_level),
        }
    }

    /// The server configuration these settings give; what they leave unset keeps its
    /// default.
    pub fn config(&self) -> Config {
        let default = Config::default();
        let duration = |value: &Option<HumanDuration>, default| value.map_or(default, |d| d.0);
        let size = |value: &Option<ByteSize>, default| value.map_or(default, |s| s.0);
        Config {
            max_connections: self
                .max_connections
                .map_or(default.max_connections, |n| n.0),
            max_connections_per_ip: self
                .max_connections_per_ip
                .unwrap_or(default.max_connections_per_ip),
            max_rooms: self.max_rooms.map_or(default.max_rooms, |n| n.0),
            msg_rate: self.msg_rate.unwrap_or(default.msg_rate),
            msg_burst: self.msg_burst.unwrap_or(default.msg_burst),
            flood_timeout: duration(&self.flood_timeout, default.flood_timeout),
            // A queue larger than the address space could never fill anyway.
            queue_bytes: self.queue_bytes.map_or(default.queue_bytes, |s| {
                usize::try_from(s.0).unwrap_or(usize::MAX)
            }),
            ping_interval: duration(&self.ping_interval, default.ping_interval),
            idle_timeout: duration(&self.idle_timeout, default.idle_timeout),
            handshake_timeout: duration(&self.handshake_timeout, default.handshake_timeout),
            flush_timeout: default.flush_timeout,
            data_dir: self.data_dir.clone().unwrap_or(default.data_dir),
            max_file_size: size(&self.max_file_size, default.max_file_size),
            quota: size(&self.quota, default.quota),
            upload_grace: duration(&self.upload_grace, default.upload_grace),
            upload_stall: duration(&self.upload_stall, default.upload_stall),
            disk_reserve: size(&self.disk_reserve, default.disk_reserve),
            announce: self.no_announce.map_or(default.announce, |off| !off),
            name: self.name.clone().map_or(default.name, |n| Some(n.0)),
            mdns_port: self.mdns_port.unwrap_or(default.mdns_port),
            history: self.no_history.map_or(default.history, |off| !off),
            history_max_age: duration(&self.history_max_age, default.history_max_age),
            history_max_per_room: self
                .history_max_per_room
                .unwrap_or(default.history_max_per_room),
            history_backlog: self
                .history_backlog
                .map_or(default.history_backlog, |n| n.0),
            operators: self
                .operators
                .as_ref()
                .map_or(default.operators, |keys| keys.iter().map(|k| k.0).collect()),
            motd: self.motd.clone().or(default.motd),
            password: self.password_hash.clone().or(default.password),
        }
    }

    /// Whether the server speaks TLS: unless `--plaintext` (or the `tls = false` of
    /// old).
    ///
    /// # Errors
    ///
    /// A certificate of the operator's own (`--tls-cert`, `--tls-key`) with `--plaintext`:
    /// the one asks for TLS, the other turns it off.
    pub fn tls(&self) -> Result<bool, String> {
        let tls = !self.plaintext.unwrap_or(false);
        if !tls && (self.tls_cert.is_some() || self.tls_key.is_some()) {
            return Err(
                "--tls-cert and --tls-key (tls_cert, tls_key) are a certificate for \
                        TLS, and --plaintext (plaintext = true) turns TLS off: give one or \
                        the other"
                    .into(),
            );
        }
        Ok(tls)
    }

    /// `tls` (the flag and key of old, when TLS had to be asked for) said as `plaintext`,
    /// so that each layer says it in one key and a later layer's word wins over an
    /// earlier one's, whichever of the two each used.
    ///
    /// # Errors
    ///
    /// The layer says both, and they disagree (`tls = true` with `plaintext = true`).
    fn fold_tls(mut self) -> Result<Self, String> {
        if let Some(tls) = self.tls.take() {
            match self.plaintext {
                Some(plaintext) if plaintext == tls => {
                    return Err(format!(
                        "tls = {tls} and plaintext = {plaintext} say opposite things; TLS \
                         is the default, plaintext = true turns it off"
                    ));
                }
                _ => self.plaintext = Some(!tls),
            }
        }
        Ok(self)
    }

    /// The address to listen on.
    pub fn listen(&self) -> &str {
        self.listen.as_deref().unwrap_or(DEFAULT_LISTEN)
    }

    /// These settings as a TOML table, unset ones left out.
    fn to_table(&self) -> toml::Table {
        // Only a path that is not UTF-8 fails, and the defaults have none.
        toml::Table::try_from(self).unwrap_or_default()
    }
}

/// A duration written as on the command line (`500ms`, `15s`, `2m`, `90d`; see
/// [`parse_duration`]), and printed so that it reads back the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_duration(text).map(Self)
    }
}

impl fmt::Display for HumanDuration {
    /// The largest whole unit: `90d`, `12h`, `2m`, `15s`, `250ms`; else seconds with a
    /// fraction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            const UNITS: [(u64, &str); 3] = [(86_400, "d"), (3600, "h"), (60, "m")];
            let secs = d.as_secs();
            match UNITS.iter().find(|(unit, _)| secs != 0 && secs % unit == 0) {
                Some((unit, name)) => write!(f, "{}{name}", secs / unit),
                None => write!(f, "{secs}s"),
            }
        } else if d.subsec_nanos() % 1_000_000 == 0 {
            write!(f, "{}ms", d.as_millis())
        } else {
            // The shortest decimal that reads back as the same f64, which
            // `parse_duration` turns back into the same nanoseconds.
            write!(f, "{}s", d.as_secs_f64())
        }
    }
}

/// A size in bytes written as on the command line (`4GiB`, `500MB`, `1000000`; see
/// [`parse_size`]), and printed so that it reads back the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        parse_size(text).map(Self)
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size (`4GiB`, `256KiB`), else bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (1 << 40, "TiB"),
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1 << 10, "KiB"),
        ];
        let bytes = self.0;
        match UNITS
            .iter()
            .find(|(unit, _)| bytes != 0 && bytes % unit == 0)
        {
            Some((unit, name)) => write!(f, "{}{name}", bytes / unit),
            None => write!(f, "{bytes}"),
        }
    }
}

/// A number of worker threads, from 1 to [`MAX_WORKERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Workers(pub u16);

impl Workers {
    fn new(n: u64) -> Result<Self, String> {
        u16::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_WORKERS).contains(n))
            .map(Self)
            .ok_or_else(|| format!("{n} is not a number of threads from 1 to {MAX_WORKERS}"))
    }
}

impl FromStr for Workers {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let n = text
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a number of threads from 1 to {MAX_WORKERS}"))?;
        Self::new(n)
    }
}

impl<'de> Deserialize<'de> for Workers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(deserializer)?;
        u64::try_from(n)
            .map_err(|_| format!("{n} is not a number of threads from 1 to {MAX_WORKERS}"))
            .and_then(Self::new)
            .map_err(de::Error::custom)
    }
}

/// Messages of history a first join gets, from 0 to [`MAX_BACKLOG`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Backlog(pub u32);

impl Backlog {
    fn new(n: u64) -> Result<Self, String> {
        u32::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_BACKLOG)
            .map(Self)
            .ok_or_else(|| format!("{n} is not a number of messages from 0 to {MAX_BACKLOG}"))
    }
}

impl FromStr for Backlog {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let n = text
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a number of messages from 0 to {MAX_BACKLOG}"))?;
        Self::new(n)
    }
}

impl fmt::Display for Backlog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Backlog {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(deserializer)?;
        u64::try_from(n)
            .map_err(|_| format!("{n} is not a number of messages from 0 to {MAX_BACKLOG}"))
            .and_then(Self::new)
            .map_err(de::Error::custom)
    }
}

/// A count that must be at least 1 (`--max-connections`, `--max-rooms`). Where 0 is
/// allowed it means "no limit"; here it would make a server that refuses everyone, so it
/// is refused at start instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AtLeastOne(pub usize);

impl AtLeastOne {
    fn new(n: u64) -> Result<Self, String> {
        usize::try_from(n)
            .ok()
            .filter(|&n| n >= 1)
            .map(Self)
            .ok_or_else(|| format!("{n} is not allowed: it must be at least 1"))
    }
}

impl FromStr for AtLeastOne {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let n = text
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a whole number of at least 1"))?;
        Self::new(n)
    }
}

impl fmt::Display for AtLeastOne {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for AtLeastOne {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Count;
        impl de::Visitor<'_> for Count {
            type Value = AtLeastOne;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of at least 1")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<AtLeastOne, E> {
                AtLeastOne::new(n).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<AtLeastOne, E> {
                let n = u64::try_from(n)
                    .map_err(|_| E::custom(format!("{n} is not allowed: it must be at least 1")))?;
                self.visit_u64(n)
            }
        }
        deserializer.deserialize_u64(Count)
    }
}

/// A server name as announced on the LAN, checked by [`shared::discovery::check_name`]
/// when it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ServerName(pub String);

impl FromStr for ServerName {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        shared::discovery::check_name(text).map(|()| Self(text.to_owned()))
    }
}

impl FromStr for Password {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Password::parse(text)
    }
}

impl Serialize for Password {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.phc())
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for ServerName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// An operator's public key, read by [`PublicKey::parse`] (64 hex digits, or the grouped
/// form clients show) and written as 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorKey(pub PublicKey);

impl FromStr for OperatorKey {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        PublicKey::parse(text.trim())
            .map(Self)
            .map_err(|e| format!("'{text}' is not an operator's key: {e}"))
    }
}

impl Serialize for OperatorKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.hex())
    }
}

impl<'de> Deserialize<'de> for OperatorKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// A log filter in tracing-subscriber's `EnvFilter` syntax (`info`, `chat_server=debug`),
/// checked when it is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFilter(pub String);

impl FromStr for LogFilter {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        tracing_subscriber::EnvFilter::try_new(text)
            .map(|_| Self(text.to_owned()))
            .map_err(|e| format!("'{text}' is not a log filter: {e}"))
    }
}

impl<'de> Deserialize<'de> for LogFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnitVisitor {
            what: "duration",
            expecting: "a duration such as \"15s\", or a number of seconds",
            parse: |text| text.parse(),
        })
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UnitVisitor {
            what: "size",
            expecting: "a size such as \"4GiB\", or a number of bytes",
            parse: |text| text.parse(),
        })
    }
}

/// Takes a duration or a size from a string in the flag's syntax, or from a whole
/// number (seconds, bytes), as the flag takes a bare number.
struct UnitVisitor<T> {
    what: &'static str,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> Visitor<'_> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).map_err(|e| E::custom(format!("invalid {} \"{text}\": {e}", self.what)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        self.visit_str(&n.to_string())
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(n), &self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Args;
    use shared::config_file::parse;
    use std::path::Path;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_args(std::iter::once("chat-server").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// A settings file in a directory of its own, removed with the returned guard.
    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn command_line_is_well_formed() {
        Cli::command_with_defaults().debug_assert();
    }

    #[test]
    fn every_flag_is_a_key_and_every_key_a_flag() {
        let flags: Vec<String> = Settings::augment_args(clap::Command::new("x"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        let every = Settings {
            workers: Some(Workers(2)),
            log_level: Some(LogFilter("info".into())),
            name: Some(ServerName("office".into())),
            mdns_port: Some(53530),
            tls: Some(true),
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            motd: Some("motd.txt".into()),
            password_hash: Some(Password::hash("sesame").unwrap()),
            ..Settings::defaults()
        };
        let keys: Vec<String> = every.to_table().keys().cloned().collect();
        let mut sorted_flags = flags.clone();
        sorted_flags.sort();
        assert_eq!(sorted_flags, keys);
    }

    #[test]
    fn tls_is_on_unless_plaintext_is_asked_for() {
        let tls = |args: &[&str]| cli(args).load().unwrap().settings.tls().unwrap();
        assert!(tls(&[]));
        assert!(
            tls(&["--tls"]),
            "--tls of old is accepted, and changes nothing"
        );
        assert!(!tls(&["--plaintext"]));
        assert!(!tls(&["--tls=false"]), "--tls=false of old is --plaintext");
        assert!(tls(&["--plaintext=false"]));
        let (_dir, path) = file("tls_cert = \"~/c.pem\"\ntls_key = \"~/k.pem\"\n");
        let loaded = cli(&["--config", path.to_str().unwrap()]).load().unwrap();
        assert_eq!(loaded.settings.tls(), Ok(true));
        assert!(
            !loaded.settings.tls_cert.unwrap().starts_with("~"),
            "~ is the home"
        );

        // In the file: plaintext, or the tls = false of old; a flag wins over either.
        let path_of = |path: &PathBuf| path.to_str().unwrap().to_owned();
        for text in ["plaintext = true\n", "tls = false\n"] {
            let (_dir, path) = file(text);
            let path = path_of(&path);
            assert!(!tls(&["--config", &path]), "{text}");
            assert!(tls(&["--config", &path, "--tls"]), "{text}");
            assert!(tls(&["--config", &path, "--plaintext=false"]), "{text}");
        }
        let (_dir, path) = file("tls = true\n");
        assert!(!tls(&["--config", &path_of(&path), "--plaintext"]));
        let printed = cli(&["--config", &path_of(&path)])
            .load()
            .unwrap()
            .to_toml()
            .unwrap();
        assert!(printed.contains("plaintext = false\n"), "{printed}");
        assert!(!printed.contains("tls ="), "said as plaintext: {printed}");
    }

    #[test]
    fn plaintext_with_a_certificate_or_with_tls_is_a_clear_error() {
        for args in [
            &["chat-server", "--plaintext", "--tls-cert", "c.pem"][..],
            &["chat-server", "--plaintext", "--tls-key", "k.pem"],
            &["chat-server", "--plaintext", "--tls"],
        ] {
            let err = Cli::try_parse_args(args).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{err}"
            );
            assert!(err.to_string().contains("cannot be used with"), "{err}");
        }
        let (_dir, path) = file("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n");
        let loaded = cli(&["--config", path.to_str().unwrap(), "--plaintext"])
            .load()
            .unwrap();
        let err = loaded.settings.tls().unwrap_err();
        assert!(
            err.contains("--plaintext (plaintext = true) turns TLS off"),
            "{err}"
        );
        let (_dir, path) = file("plaintext = true\ntls = true\n");
        let err = cli(&["--config", path.to_str().unwrap()])
            .load()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "error in {}: key \"tls\": tls = true and plaintext = true say opposite \
                 things; TLS is the default, plaintext = true turns it off",
                path.display()
            )
        );
    }

    #[test]
    fn a_password_is_hashed_from_the_flag_or_read_as_a_hash_from_the_file() {
        assert_eq!(cli(&[]).load().unwrap().settings.config().password, None);
        let loaded = cli(&["--password", "sesame"]).load().unwrap();
        let password = loaded.settings.config().password.unwrap();
        assert!(password.verify("sesame"));
        // What --print-config prints is the hash, never the password, and reads back.
        let printed = loaded.to_toml().unwrap();
        assert!(!printed.contains("sesame"), "{printed}");
        assert!(
            printed.contains("password_hash = \"$argon2id$"),
            "{printed}"
        );
        let (_dir, path) = file(&printed);
        let again = cli(&["--config", path.to_str().unwrap()]).load().unwrap();
        assert_eq!(again.settings.config().password, Some(password.clone()));
        // The flag wins over the file.
        let flag = cli(&["--config", path.to_str().unwrap(), "--password", "door"])
            .load()
            .unwrap();
        assert!(flag.settings.config().password.unwrap().verify("door"));
        // A bad hash in the file, an empty password on the command line: one clear line.
        let (_dir, bad) = file("password_hash = \"hunter2\"\n");
        let error = cli(&["--config", bad.to_str().unwrap()])
            .load()
            .unwrap_err();
        assert!(
            error.to_string().contains("is not a password hash"),
            "{error}"
        );
        let error = Cli::try_parse_args(["chat-server", "--password", ""]).unwrap_err();
        assert!(
            error.to_string().contains("the password is empty"),
            "{error}"
        );
        assert_eq!(
            format!("{:?}", cli(&["--password", "sesame"]).password),
            "Some(Password(argon2id))"
        );
    }

    #[test]
    fn defaults_are_the_config_defaults() {
        let defaults = Settings::defaults();
        assert_eq!(defaults.config(), Config::default());
        assert_eq!(defaults.listen(), DEFAULT_LISTEN);
        assert_eq!(Settings::default().config(), Config::default());
        let help = Cli::command_with_defaults().render_help().to_string();
        assert!(
            help.contains("Ping a client silent for this long [default: 15s]"),
            "{help}"
        );
        assert!(
            help.contains("Largest file accepted [default: 4GiB]"),
            "{help}"
        );
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let (_dir, path) =
            file("max_rooms = 5\nlisten = \"127.0.0.1:0\"\nping_interval = \"3s\"\n");
        let path = path.to_str().unwrap();
        let loaded = cli(&["--config", path, "--max-rooms", "9"]).load().unwrap();
        assert_eq!(loaded.file.as_deref(), Some(Path::new(path)));
        let config = loaded.settings.config();
        assert_eq!(config.max_rooms, 9, "the flag wins");
        assert_eq!(
            config.ping_interval,
            Duration::from_secs(3),
            "the file wins"
        );
        assert_eq!(loaded.settings.listen(), "127.0.0.1:0");
        assert_eq!(config.quota, Config::default().quota, "the default stays");
    }

    #[test]
    fn a_missing_named_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere.toml");
        let error = cli(&["--config", path.to_str().unwrap()])
            .load()
            .unwrap_err();
        assert!(error.is_not_found());
        assert!(error.to_string().starts_with("cannot read "), "{error}");
    }

    #[test]
    fn bad_files_name_the_key_and_the_problem() {
        let cases = [
            (
                "ping_interval = \"abc\"",
                "key \"ping_interval\": invalid duration \"abc\": 'abc' is not a duration such as 500ms, 15s or 2m",
            ),
            (
                "quota = \"4 parsecs\"",
                "key \"quota\": invalid size \"4 parsecs\": unknown unit 'parsecs' (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)",
            ),
            (
                "max_rooms = \"ten\"",
                "key \"max_rooms\": invalid type: string \"ten\", expected a whole number of at least 1",
            ),
            (
                "workers = 2000",
                "key \"workers\": 2000 is not a number of threads from 1 to 1024",
            ),
            (
                "max_rooms = 0",
                "key \"max_rooms\": 0 is not allowed: it must be at least 1",
            ),
            ("colour = \"red\"", "key \"colour\": unknown key"),
            (
                "operators = [\"abc\"]",
                "key \"operators\": 'abc' is not an operator's key: a key is 64 hex digits, and this has 3",
            ),
            (
                "operators = \"abc\"",
                "key \"operators\": invalid type: string \"abc\", expected a sequence",
            ),
            (
                "flush_timeout = \"1s\"",
                "key \"flush_timeout\": unknown key",
            ),
        ];
        for (text, expected) in cases {
            let (_dir, path) = file(text);
            let error = cli(&["--config", path.to_str().unwrap()])
                .load()
                .unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("error in {}: {expected}", path.display())
            );
        }
    }

    #[test]
    fn announcing_is_on_by_default_and_off_by_flag_or_file() {
        let config = cli(&[]).settings.or(Settings::defaults()).config();
        assert!(config.announce);
        assert_eq!(config.name, None);
        assert_eq!(config.mdns_port, 5353);
        let config = cli(&[
            "--no-announce",
            "--name",
            "Office chat",
            "--mdns-port",
            "53530",
        ])
        .settings
        .config();
        assert!(!config.announce);
        assert_eq!(config.name.as_deref(), Some("Office chat"));
        assert_eq!(config.mdns_port, 53530);
        assert!(cli(&["--no-announce=false"]).settings.config().announce);
        let (_dir, path) = file("no_announce = true\nname = \"lab\"\n");
        let loaded = cli(&["--config", path.to_str().unwrap()]).load().unwrap();
        assert!(!loaded.settings.config().announce);
        let loaded = cli(&["--config", path.to_str().unwrap(), "--no-announce=false"])
            .load()
            .unwrap();
        assert!(loaded.settings.config().announce, "the flag wins");
        assert_eq!(loaded.settings.config().name.as_deref(), Some("lab"));
    }

    #[test]
    fn history_is_on_by_default_and_set_by_flag_or_file() {
        let config = cli(&[]).settings.or(Settings::defaults()).config();
        assert!(config.history);
        assert_eq!(config.history_max_age, Duration::from_secs(90 * 86_400));
        assert_eq!(config.history_max_per_room, 100_000);
        assert_eq!(config.history_backlog, 50);
        let config = cli(&[
            "--no-history",
            "--history-max-age",
            "12h",
            "--history-max-per-room",
            "0",
            "--history-backlog",
            "500",
        ])
        .settings
        .config();
        assert!(!config.history);
        assert_eq!(config.history_max_age, Duration::from_secs(12 * 3600));
        assert_eq!(config.history_max_per_room, 0);
        assert_eq!(config.history_backlog, 500);
        let (_dir, path) = file(
            "no_history = true\nhistory_max_age = \"30d\"\nhistory_max_per_room = 10\n\
             history_backlog = 0\n",
        );
        let loaded = cli(&["--config", path.to_str().unwrap()]).load().unwrap();
        let config = loaded.settings.config();
        assert!(!config.history);
        assert_eq!(config.history_max_age, Duration::from_secs(30 * 86_400));
        assert_eq!(
            (config.history_max_per_room, config.history_backlog),
            (10, 0)
        );
        let loaded = cli(&["--config", path.to_str().unwrap(), "--no-history=false"])
            .load()
            .unwrap();
        assert!(loaded.settings.config().history, "the flag wins");
        let err = Cli::try_parse_args(["chat-server", "--history-backlog", "501"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("501 is not a number of messages from 0 to 500"),
            "{err}"
        );
        let (_dir, path) = file("history_backlog = -1");
        let error = cli(&["--config", path.to_str().unwrap()])
            .load()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "error in {}: key \"history_backlog\": -1 is not a number of messages from 0 to 500",
                path.display()
            )
        );
    }

    #[test]
    fn a_bad_server_name_is_refused_with_the_reason() {
        let err = Cli::try_parse_args(["chat-server", "--name", "a\u{7}b"]).unwrap_err();
        assert!(
            err.to_string().contains(
                "the server name holds the character U+0007, which is a control character"
            ),
            "{err}"
        );
        let (_dir, path) = file(&format!("name = \"{}\"", "x".repeat(64)));
        let error = cli(&["--config", path.to_str().unwrap()])
            .load()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "error in {}: key \"name\": the server name is longer than 63 bytes (64 bytes)",
                path.display()
            )
        );
    }

    #[test]
    fn the_name_left_unset_is_said_in_the_printed_settings() {
        let loaded = cli(&[]).load().unwrap();
        let printed = loaded.to_toml().unwrap();
        assert!(
            printed.contains("# name: not set, the host name ("),
            "{printed}"
        );
        assert!(printed.contains("no_announce = false\n"), "{printed}");
        assert!(!printed.contains("mdns_port"), "{printed}");
    }

    #[test]
    fn operators_and_the_motd_come_from_the_file_or_the_flags() {
        let (a, b) = ("ab".repeat(32), "cd".repeat(32));
        assert!(
            cli(&[])
                .load()
                .unwrap()
                .settings
                .config()
                .operators
                .is_empty()
        );
        let (_dir, path) = file(&format!("operators = [\"{a}\"]\nmotd = \"~/motd.txt\"\n"));
        let path = path.to_str().unwrap();
        let loaded = cli(&["--config", path]).load().unwrap();
        let config = loaded.settings.config();
        assert_eq!(config.operators, [PublicKey::parse(&a).unwrap()]);
        assert!(!config.motd.unwrap().starts_with("~"), "~ is the home");
        let printed = loaded.to_toml().unwrap();
        assert!(
            printed.contains(&format!("operators = [\"{a}\"]")),
            "{printed}"
        );
        // The flags, repeated, replace the file's list.
        let grouped = PublicKey::parse(&b).unwrap().to_string();
        let loaded = cli(&["--config", path, "--operator", &a, "--operator", &grouped])
            .load()
            .unwrap();
        assert_eq!(loaded.settings.config().operators.len(), 2);
        let none = cli(&[]).load().unwrap().to_toml().unwrap();
        assert!(none.contains("operators = []\n"), "{none}");
        assert!(none.contains("# motd: not set"), "{none}");
    }

    #[test]
    fn numbers_are_taken_for_durations_and_sizes() {
        let settings: Settings = parse("upload_grace = 90\nquota = 1000\n").unwrap();
        assert_eq!(
            settings.upload_grace,
            Some(HumanDuration(Duration::from_secs(90)))
        );
        assert_eq!(settings.quota, Some(ByteSize(1000)));
    }

    #[test]
    fn printed_settings_read_back_the_same() {
        let (_dir, path) = file(
            "listen = \"127.0.0.1:9999\"\nmax_file_size = \"1.5MB\"\nqueue_bytes = 1000\n\
             idle_timeout = \"1.25s\"\nping_interval = \"0.0015s\"\nworkers = 3\n",
        );
        let path = path.to_str().unwrap();
        for flags in [
            &[][..],
            &[
                "--log-level",
                "debug",
                "--upload-grace",
                "120",
                "--upload-stall",
                "45s",
                "--data-dir",
                "/srv/chat files",
                "--name",
                "Büro \"3\" chat",
                "--no-announce",
                "--mdns-port",
                "53530",
            ],
        ] {
            let mut args = vec!["--config", path];
            args.extend_from_slice(flags);
            let loaded = cli(&args).load().unwrap();
            let printed = loaded.to_toml().unwrap();
            let again: Settings = parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
            assert_eq!(again, loaded.settings, "{printed}");
        }
    }

    #[test]
    fn durations_and_sizes_print_as_they_are_written() {
        for (text, shown) in [
            ("0", "0s"),
            ("120", "2m"),
            ("90s", "90s"),
            ("250ms", "250ms"),
            ("1.5s", "1500ms"),
            ("7200", "2h"),
            ("90d", "90d"),
            ("36h", "36h"),
            ("1d", "1d"),
        ] {
            assert_eq!(text.parse::<HumanDuration>().unwrap().to_string(), shown);
        }
        for (text, shown) in [
            ("0", "0"),
            ("1024", "1KiB"),
            ("1.5KiB", "1536"),
            ("3GB", "3000000000"),
            ("2TiB", "2TiB"),
        ] {
            assert_eq!(text.parse::<ByteSize>().unwrap().to_string(), shown);
        }
        for nanos in [
            1,
            999,
            1_000_001,
            1_234_567_891,
            59_999_999_999,
            86_400_000_000_001,
        ] {
            let d = HumanDuration(Duration::from_nanos(nanos));
            assert_eq!(d.to_string().parse::<HumanDuration>(), Ok(d), "{d}");
        }
        for bytes in [1, 1023, 1025, 1 << 20, 5 << 30, (1 << 40) + 1, 1 << 62] {
            let s = ByteSize(bytes);
            assert_eq!(s.to_string().parse::<ByteSize>(), Ok(s), "{s}");
        }
    }

    #[test]
    fn the_example_file_holds_the_defaults() {
        let example = include_str!("../../../docs/examples/server.toml");
        let settings: Settings = parse(example).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings, Settings::defaults());
    }
}
