//! Command-line arguments, and the configuration file that can hold the usual ones.
//!
//! The file (`client.toml` in the user's configuration directory, or `--config PATH`) may
//! set `connect`, `plaintext`, `nick`, `room`, `download_dir`, `bell` and `log_file`, and, with no flag
//! of their own, `timestamp`, `highlight`, `theme`, `nick_colors`, `mouse`, `members`,
//! `notify`, `notify_with`, `ignore` and `password` ([`FileSettings`]). A value the key does not take
//! is refused when the file is read, with one line that names the key.
//! A flag given on the command line wins over the file, the file over the defaults. When
//! neither names a server (and there is no `--host`), the client looks for servers on the
//! LAN ([`Target::Discover`]).

use std::path::PathBuf;

use chat_client::discover::BrowseOptions;
use chat_client::shared::tls::Fingerprint;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use serde::{Deserialize, Serialize};
use shared::config_file::{self, FileError};

use crate::terminal::notify::NotifyWith;
use crate::timestamp::TimeFormat;
use crate::ui::theme::{ColorName, ThemeName};

/// Default listening address for `--host` without a value: every interface, so that the LAN
/// can join.
pub const DEFAULT_HOST: &str = "0.0.0.0:7878";
/// Name of the configuration file in the standard configuration directory.
pub const CONFIG_FILE_NAME: &str = "client.toml";
/// Name of the log file in the standard state directory.
const LOG_FILE_NAME: &str = "chat-tui.log";

/// A terminal chat room for the LAN.
///
/// Connects to a chat server and joins a room; with --host, also runs the server in this
/// process so that others on the network can join. Without --connect (or `connect` in the
/// configuration file) it looks for servers on the LAN for two seconds and lets you pick
/// one. Type /help inside for commands and keys.
///
/// The server, nick, room, download folder, bell and log file can also be set in a TOML
/// file: connect, plaintext, nick, room, download_dir, bell (true or false) and log_file; and only
/// there: timestamp ("%H:%M:%S"), highlight (a list of words), theme (dark or light),
/// nick_colors, mouse, members, notify, notify_with, ignore and password (see the README).
/// The file is --config PATH, else client.toml in the user's configuration directory if it
/// exists.
/// Flags override the file; --print-config shows the result.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-tui", version)]
pub struct Cli {
    /// Read settings from this TOML file [default: client.toml in the user's configuration
    /// directory, if it exists].
    ///
    /// The directory is $XDG_CONFIG_HOME/chat-tui, else ~/.config/chat-tui on Linux. A file
    /// named here must exist.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Print the settings in effect (defaults, file, flags) as TOML, and exit.
    ///
    /// The output is a configuration file: saved, it gives the same settings again.
    #[arg(long)]
    pub print_config: bool,

    /// Server to connect to, as HOST:PORT [default: look for servers on the LAN and pick
    /// one].
    ///
    /// The host may be a name or an IP address. Ignored with --host. Without it (and
    /// without `connect` in the configuration file), chat-tui looks for servers on the LAN
    /// for two seconds and shows those it found: arrows choose, Enter joins, Esc quits.
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Option<String>,

    /// Print the chat servers found on the LAN, one a line, and exit.
    ///
    /// Looks for two seconds. Each line holds the server's name, its address, how many
    /// people are connected and its protocol version ("ops  192.168.1.31:7878  12 people
    /// protocol 4"), sorted by name. Finding none is no error: a note on standard error,
    /// exit status 0.
    #[arg(long, conflicts_with_all = ["host", "connect"])]
    pub list: bool,

    /// With --list: print one JSON object a line (name, addr, people, version,
    /// fingerprint).
    #[arg(long, requires = "list")]
    pub json: bool,

    /// The UDP port of multicast DNS, for looking for servers and for announcing the one
    /// --host runs; for tests in a network of their own.
    #[arg(long, value_name = "PORT", hide = true)]
    pub mdns_port: Option<u16>,

    /// Run the chat server in this process on ADDR and join it.
    ///
    /// Without a value it listens on all interfaces, port 7878. The status line shows the
    /// address others should connect to.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = DEFAULT_HOST
    )]
    pub host: Option<String>,

    /// Speak plain TCP to the server instead of TLS, for a server started with --plaintext.
    ///
    /// By default chat-tui speaks TLS and checks the server's key. The first time, the
    /// key is unknown: chat-tui shows its fingerprint and asks whether to trust it
    /// (compare it with the one the server prints beside "listening on"); a server picked
    /// on the LAN announced its key, which the picker shows. From then on the key is
    /// pinned, and another key is refused. With --host, the hosted server speaks TLS too,
    /// and the status line shows its fingerprint; with --plaintext it does not. Without
    /// TLS, anyone on the network reads what is said.
    #[arg(long, overrides_with = "tls", conflicts_with = "trust")]
    pub plaintext: bool,

    /// Speak TLS to the server: the default; overrides `plaintext = true` in the
    /// configuration file.
    #[arg(long, overrides_with = "plaintext")]
    pub tls: bool,

    /// Accept this key fingerprint at the first connection, without asking.
    ///
    /// 16 groups of 4 hex digits as the server prints them; spaces, colons and case do not
    /// matter. A server that presents another key is refused.
    #[arg(long, value_name = "FINGERPRINT", value_parser = parse_fingerprint)]
    pub trust: Option<Fingerprint>,

    /// Forget the key pinned for SERVER, and exit.
    ///
    /// SERVER is the server's name as found on the LAN, or the HOST:PORT connected to, as
    /// a refusal names it. The next connection asks again, as the first one did.
    #[arg(long, value_name = "SERVER", conflicts_with_all = ["host", "connect", "list"])]
    pub forget: Option<String>,

    /// Nick to use [default: the login name].
    ///
    /// Taken from $USER or $LOGNAME when not given. The server refuses a nick that is
    /// already in use.
    #[arg(long, value_name = "NAME")]
    pub nick: Option<String>,

    /// Room to join.
    ///
    /// Created on the server if it does not exist yet.
    #[arg(long, value_name = "ROOM", default_value = shared::protocol::DEFAULT_ROOM)]
    pub room: String,

    /// Ring the terminal bell on mentions and private messages (the default).
    ///
    /// Overrides `bell = false` in the configuration file.
    #[arg(long, overrides_with = "no_bell")]
    pub bell: bool,

    /// Do not ring the terminal bell on mentions and private messages.
    #[arg(long, overrides_with = "bell")]
    pub no_bell: bool,

    /// Save files fetched with /get in DIR [default: the user's download folder, else
    /// ~/Downloads if it exists, else the current directory].
    ///
    /// The download folder is the one the desktop names (XDG_DOWNLOAD_DIR in
    /// ~/.config/user-dirs.dirs on Linux). Created if missing. A download is written to
    /// NAME.part, checked against the sender's SHA-256, then renamed; an existing file is
    /// never overwritten (the new one becomes "NAME (1).ext").
    #[arg(long, value_name = "DIR")]
    pub download_dir: Option<PathBuf>,

    /// Write logs to this file [default: chat-tui.log in the user's state directory].
    ///
    /// The state directory is $XDG_STATE_HOME/chat-tui, or ~/.local/state/chat-tui, or the
    /// temporary directory. The screen never shows logs. RUST_LOG sets the level (default
    /// info).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Print this client's key (what owns its registered nicks and names it as an
    /// operator), and exit.
    ///
    /// Shown in groups, and as the 64 hex digits a server's operator pastes into its
    /// `operators` list. The key is made on first use and kept in identity.key in
    /// $XDG_DATA_HOME/lanchat (else ~/.local/share/lanchat), readable by you only.
    #[arg(long, conflicts_with_all = ["host", "connect", "list", "forget"])]
    pub print_key: bool,

    /// Use the key in this file instead of the usual one [default: identity.key in
    /// $XDG_DATA_HOME/lanchat].
    ///
    /// Made there if the file does not exist. A file that is not a key is refused, never
    /// replaced: the key owns the nicks registered with it.
    #[arg(long, value_name = "PATH")]
    pub identity: Option<PathBuf>,

    /// Read the server's password from the first line of this file.
    ///
    /// Otherwise from the environment variable CHAT_PASSWORD, else from `password` in the
    /// configuration file (keep that file readable by you only), else chat-tui asks for it
    /// when the server wants one. It is kept in memory for reconnects, never on disk.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,

    /// The configuration file that was read, if any (set by [`Cli::load`]).
    #[arg(skip)]
    pub file_read: Option<PathBuf>,

    /// What the file said, for the settings that have no flag.
    #[arg(skip)]
    pub file: FileSettings,
}

/// `--trust`'s value.
fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    Fingerprint::parse(text)
}

/// Where the client goes, from `--host`, `--connect` and the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Run the server in this process on this address, and join it.
    Host(&'a str),
    /// Connect to this server.
    Connect(&'a str),
    /// Look for servers on the LAN and let the user pick one.
    Discover,
}

/// The settings a configuration file may hold, under these names. Paths may start with
/// `~/`, for the home directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// The server to connect to, as `--connect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<String>,
    /// `true` as `--plaintext`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<bool>,
    /// As `--nick`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// As `--room`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// As `--download-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_dir: Option<PathBuf>,
    /// `false` as `--no-bell`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bell: Option<bool>,
    /// As `--log-file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    /// The time in front of each message ([`TimeFormat`]); `""` shows none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<TimeFormat>,
    /// Words that mark a line as a mention, as the nick does (whole words, any case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlight: Option<Vec<String>>,
    /// `dark` or `light`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theme: Option<ThemeName>,
    /// The colours nicks are drawn in, instead of the theme's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nick_colors: Option<Vec<ColorName>>,
    /// Whether the mouse wheel scrolls (true) or the terminal keeps the mouse, for
    /// selecting text without Shift (false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mouse: Option<bool>,
    /// Whether the member list is shown at start (F2 toggles it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<bool>,
    /// Whether mentions and private messages raise a desktop notification while the
    /// terminal is not focused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<bool>,
    /// Which escape sequence carries a notification ([`NotifyWith`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_with: Option<NotifyWith>,
    /// Nicks whose messages are not shown; `/ignore` and `/unignore` change this list in
    /// the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore: Option<Vec<String>>,
    /// The server's password, when neither `--password-file` nor `CHAT_PASSWORD` gives
    /// it. Never printed by `--print-config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The per-user directories of `chat-tui`, if there is a home directory.
fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "chat-tui")
}

/// The default configuration file: `client.toml` in the user's configuration directory
/// for `chat-tui` (`$XDG_CONFIG_HOME/chat-tui/`, else `~/.config/chat-tui/` on Linux).
pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|dirs| dirs.config_dir().join(CONFIG_FILE_NAME))
}

/// Where `/get` saves files by default: the user's download folder (on Linux the one
/// `user-dirs.dirs` names), else `~/Downloads` if it exists, else the current directory.
pub fn default_download_dir() -> PathBuf {
    let user = directories::UserDirs::new();
    if let Some(dir) = user.as_ref().and_then(|u| u.download_dir()) {
        return dir.to_owned();
    }
    if let Some(dir) = user
        .map(|u| u.home_dir().join("Downloads"))
        .filter(|d| d.is_dir())
    {
        return dir;
    }
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

impl Cli {
    /// The process's arguments with the configuration file under them. Bad arguments (and
    /// `--help`) are printed by clap, which exits.
    ///
    /// # Errors
    ///
    /// The configuration file cannot be read (a missing default file is no error) or holds
    /// a setting that is unknown or has a bad value.
    pub fn load() -> Result<Self, FileError> {
        Self::load_matches(&Self::command().get_matches())
    }

    /// As [`Cli::load`], from arguments parsed already.
    ///
    /// # Errors
    ///
    /// As [`Cli::load`].
    pub fn load_matches(matches: &ArgMatches) -> Result<Self, FileError> {
        let mut cli = Self::from_arg_matches(matches).unwrap_or_else(|e| e.exit());
        let (read, file) = match &cli.config {
            Some(path) => (Some(path.clone()), config_file::read(path)?),
            None => match default_config_path() {
                Some(path) => match config_file::read(&path) {
                    Ok(file) => (Some(path), file),
                    Err(e) if e.is_not_found() => (None, FileSettings::default()),
                    Err(e) => return Err(e),
                },
                None => (None, FileSettings::default()),
            },
        };
        cli.file_read = read;
        cli.apply(file, matches);
        Ok(cli)
    }

    /// Takes from `file` each setting the command line did not give.
    fn apply(&mut self, file: FileSettings, matches: &ArgMatches) {
        self.file = file.clone();
        let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        self.connect = self.connect.take().or(file.connect);
        if let Some(plaintext) = file
            .plaintext
            .filter(|_| !given("plaintext") && !given("tls") && self.trust.is_none())
        {
            self.plaintext = plaintext;
        }
        if let Some(room) = file.room.filter(|_| !given("room")) {
            self.room = room;
        }
        self.nick = self.nick.take().or(file.nick);
        let home = directories::BaseDirs::new().map(|b| b.home_dir().to_owned());
        let expand = |path| config_file::expand_home(path, home.as_deref());
        self.download_dir = self.download_dir.take().or(file.download_dir.map(expand));
        self.log_file = self.log_file.take().or(file.log_file.map(expand));
        if let Some(bell) = file.bell.filter(|_| !given("bell") && !given("no_bell")) {
            self.no_bell = !bell;
        }
    }

    /// Where to go: the room this process hosts, the server named, else the LAN.
    pub fn target(&self) -> Target<'_> {
        match (&self.host, &self.connect) {
            (Some(addr), _) => Target::Host(addr),
            (None, Some(addr)) => Target::Connect(addr),
            (None, None) => Target::Discover,
        }
    }

    /// How to look for servers on the LAN.
    pub fn browse_options(&self) -> BrowseOptions {
        let mut options = BrowseOptions::default();
        if let Some(port) = self.mdns_port {
            options.mdns_port = port;
        }
        options
    }

    /// The nick to ask for: `--nick`, else the login name, else `guest`.
    pub fn nick(&self) -> String {
        self.nick
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "guest".into())
    }

    /// Where `/get` saves files: `--download-dir`, else [`default_download_dir`].
    pub fn download_dir(&self) -> PathBuf {
        self.download_dir
            .clone()
            .unwrap_or_else(default_download_dir)
    }

    /// Where logs go when `--log-file` is not given: `chat-tui.log` in the user's state
    /// directory (`$XDG_STATE_HOME/chat-tui`, else `~/.local/state/chat-tui` on Linux; the
    /// local data directory where there is no state directory), else in the temporary
    /// directory.
    pub fn default_log_file() -> PathBuf {
        Self::state_dir().join(LOG_FILE_NAME)
    }

    /// The user's state directory for `chat-tui` (`$XDG_STATE_HOME/chat-tui`, else
    /// `~/.local/state/chat-tui` on Linux; the local data directory where there is no
    /// state directory), else the temporary directory: where the log goes by default and
    /// where interrupted transfers are remembered (`transfers.json`).
    pub fn state_dir() -> PathBuf {
        let dir = project_dirs().map(|dirs| {
            dirs.state_dir()
                .unwrap_or_else(|| dirs.data_local_dir())
                .to_owned()
        });
        dir.unwrap_or_else(std::env::temp_dir)
    }

    /// Every setting the configuration file can hold, with its value in effect.
    pub fn effective(&self) -> FileSettings {
        FileSettings {
            connect: self.connect.clone(),
            plaintext: Some(self.plaintext),
            nick: Some(self.nick()),
            room: Some(self.room.clone()),
            download_dir: Some(self.download_dir()),
            bell: Some(!self.no_bell),
            log_file: Some(self.log_file.clone().unwrap_or_else(Self::default_log_file)),
            timestamp: Some(self.file.timestamp.clone().unwrap_or_default()),
            highlight: Some(self.file.highlight.clone().unwrap_or_default()),
            theme: Some(self.file.theme.unwrap_or_default()),
            nick_colors: Some(self.file.nick_colors.clone().unwrap_or_default()),
            mouse: Some(self.file.mouse.unwrap_or(true)),
            members: Some(self.file.members.unwrap_or(false)),
            notify: Some(self.file.notify.unwrap_or(true)),
            notify_with: Some(self.file.notify_with.unwrap_or_default()),
            ignore: Some(self.file.ignore.clone().unwrap_or_default()),
            // A secret: not shown (see `config_text`).
            password: None,
        }
    }

    /// The server's password: `--password-file`, else `CHAT_PASSWORD`, else `password`
    /// in the configuration file; `None` when none gives one.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or a password given is empty or too long.
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(path) = &self.password_file {
            return chat_client::credentials::read_password_file(path).map(Some);
        }
        if let Some(password) = chat_client::credentials::password_from_env()? {
            return Ok(Some(password));
        }
        match &self.file.password {
            Some(text) => chat_client::credentials::password_text(text)
                .map(Some)
                .map_err(|why| format!("key \"password\" of the configuration file: {why}")),
            None => Ok(None),
        }
    }

    /// A warning when the configuration file holds the password and others may read it.
    pub fn password_file_warning(&self) -> Option<String> {
        self.file.password.as_ref()?;
        let path = self.file_read.as_ref()?;
        let mode = file_mode(path)?;
        (mode & 0o077 != 0).then(|| {
            format!(
                "the configuration file {} holds the password and others may read it \
                 (mode {mode:o}): chmod 600 it",
                path.display()
            )
        })
    }

    /// The key file: `--identity`, else the user's ([`chat_client::Identity::default_path`]).
    pub fn identity_path(&self) -> Option<PathBuf> {
        self.identity
            .clone()
            .or_else(chat_client::Identity::default_path)
    }

    /// How the screen looks and what counts as a mention, for [`crate::prefs::set`].
    pub fn look(&self) -> crate::prefs::Look {
        crate::prefs::Look {
            theme: crate::ui::theme::Theme::new(
                self.file.theme.unwrap_or_default(),
                self.file.nick_colors.as_deref(),
            ),
            timestamp: self.file.timestamp.clone().unwrap_or_default(),
            highlight: self.file.highlight.clone().unwrap_or_default(),
        }
    }

    /// What the file chose for the app.
    pub fn choices(&self) -> crate::app::Choices {
        crate::app::Choices {
            mouse: self.file.mouse.unwrap_or(true),
            members: self.file.members.unwrap_or(false),
            notify: self.file.notify.unwrap_or(true),
            notify_with: self
                .file
                .notify_with
                .unwrap_or_default()
                .resolve(|k| std::env::var(k).ok()),
            ignore: self.file.ignore.clone().unwrap_or_default(),
            // /ignore writes to the file read, else to the default file (created then).
            config_path: self.file_read.clone().or_else(default_config_path),
        }
    }

    /// The settings in effect as a configuration file, for `--print-config`.
    ///
    /// # Errors
    ///
    /// A path that TOML cannot hold (not UTF-8).
    pub fn config_text(&self) -> Result<String, String> {
        let source = match &self.file_read {
            Some(path) => format!("defaults, then {}, then flags", path.display()),
            None => "defaults, then flags (no configuration file)".to_owned(),
        };
        let body = toml::to_string(&self.effective()).map_err(|e| e.to_string())?;
        let mut text = format!("# chat-tui settings in effect: {source}.\n");
        match self.target() {
            Target::Host(host) => text.push_str(&format!(
                "# --host {host}: the server runs in this process; connect is not used.\n"
            )),
            Target::Discover => text.push_str(
                "# no connect: chat-tui looks for servers on the LAN and lets you pick one.\n",
            ),
            Target::Connect(_) => {}
        }
        text.push_str(&body);
        if self.file.password.is_some() {
            text.push_str("# password: set in the file, not shown\n");
        }
        Ok(text)
    }
}

/// The permission bits of the file at `path` (Unix).
#[cfg(unix)]
fn file_mode(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .ok()
        .map(|meta| meta.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn file_mode(_: &std::path::Path) -> Option<u32> {
    None
}

/// Prints the settings in effect for `--print-config`.
pub fn print_config(cli: &Cli) -> std::process::ExitCode {
    use std::io::Write;
    let written = cli
        .config_text()
        .map_err(|e| format!("cannot print the configuration: {e}"))
        .and_then(|text| {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("cannot write to stdout: {e}"))
        });
    match written {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-tui: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `chat-tui ARGS` with the configuration file `text` (if any) as `--config`.
    fn load(args: &[&str], text: Option<&str>) -> Result<Cli, FileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        let mut all = vec!["chat-tui".to_owned()];
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
            all.extend(["--config".to_owned(), path.display().to_string()]);
        }
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let matches = Cli::command().try_get_matches_from(all).unwrap();
        Cli::load_matches(&matches)
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = Cli::parse_from(["chat-tui"]);
        assert_eq!(cli.connect, None);
        assert_eq!(cli.target(), Target::Discover);
        assert!(!cli.list);
        assert_eq!(
            cli.browse_options().mdns_port,
            BrowseOptions::default().mdns_port
        );
        assert_eq!(cli.room, "lobby");
        assert_eq!(cli.host, None);
        assert!(!cli.no_bell);
    }

    #[test]
    fn host_with_and_without_address() {
        let cli = Cli::parse_from(["chat-tui", "--host"]);
        assert_eq!(cli.host.as_deref(), Some(DEFAULT_HOST));
        let cli = Cli::parse_from(["chat-tui", "--host", "127.0.0.1:0", "--nick", "ann"]);
        assert_eq!(cli.host.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(cli.nick(), "ann");
        let cli = Cli::parse_from(["chat-tui", "--host", "--connect", "10.0.0.5:7000"]);
        assert_eq!(cli.target(), Target::Host(DEFAULT_HOST), "--host wins");
    }

    #[test]
    fn a_server_named_anywhere_means_no_looking() {
        let cli = Cli::parse_from(["chat-tui", "--connect", "10.0.0.5:7000"]);
        assert_eq!(cli.target(), Target::Connect("10.0.0.5:7000"));
        let cli = load(&[], Some("connect = \"10.0.0.6:7000\"")).unwrap();
        assert_eq!(cli.target(), Target::Connect("10.0.0.6:7000"));
        let cli = load(&[], Some("nick = \"mei\"")).unwrap();
        assert_eq!(cli.target(), Target::Discover);
    }

    #[test]
    fn list_flags() {
        let cli = Cli::parse_from(["chat-tui", "--list", "--json", "--mdns-port", "15353"]);
        assert!(cli.list && cli.json);
        assert_eq!(cli.browse_options().mdns_port, 15353);
        // A server in the file does not stop --list; one on the command line makes no sense.
        let cli = load(&["--list"], Some("connect = \"10.0.0.6:7000\"")).unwrap();
        assert!(cli.list);
        for args in [
            &["chat-tui", "--json"][..],
            &["chat-tui", "--list", "--host"],
            &["chat-tui", "--list", "--connect", "10.0.0.5:7000"],
        ] {
            let error = Cli::command().try_get_matches_from(args).unwrap_err();
            assert!(
                matches!(
                    error.kind(),
                    clap::error::ErrorKind::MissingRequiredArgument
                        | clap::error::ErrorKind::ArgumentConflict
                ),
                "{args:?}: {error}"
            );
        }
    }

    const FILE: &str = "connect = \"10.0.0.5:7000\"\nnick = \"mei\"\nroom = \"ops\"\n\
                        download_dir = \"/srv/incoming\"\nbell = false\nlog_file = \"/var/tmp/c.log\"\n";

    #[test]
    fn the_file_sets_what_the_flags_do_not() {
        let cli = load(&[], Some(FILE)).unwrap();
        assert_eq!(cli.connect.as_deref(), Some("10.0.0.5:7000"));
        assert_eq!(cli.nick(), "mei");
        assert_eq!(cli.room, "ops");
        assert_eq!(cli.download_dir(), Path::new("/srv/incoming"));
        assert!(cli.no_bell);
        assert_eq!(cli.log_file.as_deref(), Some(Path::new("/var/tmp/c.log")));

        let cli = load(
            &[
                "--connect",
                "127.0.0.1:1",
                "--nick",
                "ann",
                "--room",
                "lobby",
                "--bell",
            ],
            Some(FILE),
        )
        .unwrap();
        assert_eq!(cli.connect.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(cli.nick(), "ann");
        assert_eq!(cli.room, "lobby", "a flag equal to the default still wins");
        assert!(!cli.no_bell);
        assert_eq!(cli.download_dir(), Path::new("/srv/incoming"));

        let cli = load(&["--no-bell"], Some("bell = true")).unwrap();
        assert!(cli.no_bell);
    }

    #[test]
    fn tls_unless_plaintext_from_the_flag_or_the_file() {
        let plaintext = |args: &[&str], text| load(args, text).unwrap().plaintext;
        assert!(!plaintext(&[], None), "TLS by default");
        assert!(!plaintext(&["--tls"], None), "--tls is accepted");
        assert!(plaintext(&["--plaintext"], None));
        assert!(plaintext(&[], Some("plaintext = true")));
        assert!(
            !plaintext(&["--tls"], Some("plaintext = true")),
            "the flag wins"
        );
        assert!(plaintext(&["--plaintext"], Some("plaintext = false")));
        let fp = "ab".repeat(32);
        assert!(
            !plaintext(&["--trust", &fp], Some("plaintext = true")),
            "a key to trust is TLS"
        );
        let error = Cli::command()
            .try_get_matches_from(["chat-tui", "--plaintext", "--trust", &fp])
            .unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
        let text = load(&["--plaintext"], None).unwrap().config_text().unwrap();
        assert!(text.lines().any(|l| l == "plaintext = true"), "{text}");
    }

    #[test]
    fn paths_in_the_file_may_start_at_home() {
        let Some(home) = directories::BaseDirs::new().map(|b| b.home_dir().to_owned()) else {
            return;
        };
        let cli = load(&[], Some("download_dir = \"~/incoming\"")).unwrap();
        assert_eq!(cli.download_dir(), home.join("incoming"));
    }

    #[test]
    fn bad_files_name_the_key() {
        let error = load(&[], Some("bell = \"loud\"")).unwrap_err().to_string();
        assert!(
            error.ends_with(": key \"bell\": invalid type: string \"loud\", expected a boolean"),
            "{error}"
        );
        let error = load(&[], Some("server = \"x:1\"")).unwrap_err().to_string();
        assert!(error.ends_with(": key \"server\": unknown key"), "{error}");
        let error = load(&[], Some("download-dir = \"/x\""))
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with(
                ": key \"download-dir\": unknown key (keys are written with underscores: download_dir)"
            ),
            "{error}"
        );
    }

    #[test]
    fn printed_settings_read_back_the_same() {
        for args in [
            &[][..],
            &["--nick", "ann", "--no-bell", "--download-dir", "/tmp/d l"],
        ] {
            let cli = load(args, Some(FILE)).unwrap();
            let text = cli.config_text().unwrap();
            let again = load(&[], Some(&text)).unwrap();
            assert_eq!(again.effective(), cli.effective(), "{text}");
        }
        // No server named: none printed, and reading it back still looks on the LAN.
        let cli = load(&[], Some("nick = \"mei\"")).unwrap();
        let text = cli.config_text().unwrap();
        assert!(!text.contains("connect ="), "{text}");
        assert!(text.contains("looks for servers on the LAN"), "{text}");
        let again = load(&[], Some(&text)).unwrap();
        assert_eq!(again.target(), Target::Discover);
    }

    #[test]
    fn the_password_comes_from_the_flag_else_the_environment_else_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from the file\n").unwrap();
        let flag = file.display().to_string();
        let cli = load(
            &["--password-file", &flag],
            Some("password = \"in config\""),
        )
        .unwrap();
        assert_eq!(cli.password(), Ok(Some("from the file".into())));
        // Never printed, but said to be there.
        let text = cli.config_text().unwrap();
        assert!(!text.contains("in config"), "{text}");
        assert!(
            text.contains("# password: set in the file, not shown"),
            "{text}"
        );
        if std::env::var_os(chat_client::credentials::PASSWORD_ENV).is_none() {
            let cli = load(&[], Some("password = \"in config\"")).unwrap();
            assert_eq!(cli.password(), Ok(Some("in config".into())));
            let cli = load(&[], None).unwrap();
            assert_eq!(cli.password(), Ok(None));
            let cli = load(&[], Some("password = \"\"")).unwrap();
            assert!(cli.password().unwrap_err().contains("\"password\""));
        }
        let missing = dir.path().join("none").display().to_string();
        let cli = load(&["--password-file", &missing], None).unwrap();
        assert!(cli.password().unwrap_err().contains("none"));
    }

    #[cfg(unix)]
    #[test]
    fn a_password_others_may_read_is_warned_about() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        std::fs::write(&path, "password = \"s3cret\"\n").unwrap();
        let args = ["chat-tui", "--config", path.to_str().unwrap()];
        let read = || Cli::load_matches(&Cli::command().get_matches_from(args)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = read().password_file_warning().expect("a warning");
        assert!(
            warning.contains("chmod 600") && warning.contains("644"),
            "{warning}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read().password_file_warning(), None);
        // No password in it: nothing to say.
        std::fs::write(&path, "nick = \"ann\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read().password_file_warning(), None);
    }

    #[test]
    fn print_key_and_identity_flags() {
        let cli = Cli::parse_from(["chat-tui", "--print-key", "--identity", "/tmp/k.key"]);
        assert!(cli.print_key);
        assert_eq!(cli.identity_path(), Some(PathBuf::from("/tmp/k.key")));
        assert!(
            Cli::command()
                .try_get_matches_from(["chat-tui", "--print-key", "--connect", "x:1"])
                .is_err()
        );
    }

    const LOOK_FILE: &str = "timestamp = \"%H:%M:%S\"\nhighlight = [\"deploy\", \"urgent\"]\n\
                             theme = \"light\"\nnick_colors = [\"red\", \"#00aa00\", \"208\"]\n\
                             mouse = false\nmembers = true\nnotify = false\nnotify_with = \"osc9\"\n\
                             ignore = [\"spammer\"]\n";

    #[test]
    fn the_file_sets_the_look_and_the_habits() {
        let cli = load(&[], Some(LOOK_FILE)).unwrap();
        let look = cli.look();
        assert_eq!(look.timestamp.pattern(), "%H:%M:%S");
        assert_eq!(look.highlight, ["deploy", "urgent"]);
        assert_eq!(look.theme.dim, crate::ui::theme::Theme::light().dim);
        assert_eq!(look.theme.nicks.len(), 3);
        let choices = cli.choices();
        assert!(!choices.mouse && choices.members && !choices.notify);
        assert_eq!(choices.notify_with, NotifyWith::Osc9);
        assert_eq!(choices.ignore, ["spammer"]);
        assert_eq!(choices.config_path, cli.file_read);
        // Without a file: the defaults.
        let cli = load(&[], None).unwrap();
        let choices = cli.choices();
        assert!(choices.mouse && !choices.members && choices.notify);
        assert_eq!(cli.look().timestamp.pattern(), "%H:%M");
        let text = cli.config_text().unwrap();
        for line in [
            "timestamp = \"%H:%M\"",
            "theme = \"dark\"",
            "mouse = true",
            "members = false",
            "notify = true",
            "notify_with = \"auto\"",
            "bell = true",
            "ignore = []",
            "highlight = []",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in {text}");
        }
    }

    #[test]
    fn printed_look_reads_back_the_same() {
        let cli = load(&[], Some(LOOK_FILE)).unwrap();
        let text = cli.config_text().unwrap();
        let again = load(&[], Some(&text)).unwrap();
        assert_eq!(again.effective(), cli.effective(), "{text}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key, says) in [
            ("timestamp = \"%H:%Q\"", "timestamp", "unknown field %Q"),
            ("theme = \"blue\"", "theme", "the themes are dark and light"),
            (
                "nick_colors = [\"red\", \"reddish\"]",
                "nick_colors",
                "unknown colour \"reddish\"",
            ),
            (
                "notify_with = \"osc8\"",
                "notify_with",
                "one of auto, osc777, osc9, both",
            ),
            ("mouse = \"no\"", "mouse", "expected a boolean"),
            ("highlight = \"deploy\"", "highlight", "expected a sequence"),
            ("ignore = [1]", "ignore", "expected a string"),
        ] {
            let error = load(&[], Some(text)).unwrap_err().to_string();
            assert!(
                error.contains(&format!(": key \"{key}\": ")),
                "{text}: {error}"
            );
            assert!(error.contains(says), "{text}: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
    }
}
