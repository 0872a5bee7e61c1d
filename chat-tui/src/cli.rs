//! Command-line arguments.

use std::path::PathBuf;

use clap::Parser;

/// Default server address for `--connect`.
pub const DEFAULT_CONNECT: &str = "127.0.0.1:7878";
/// Default listening address for `--host` without a value: every interface, so that the LAN
/// can join.
pub const DEFAULT_HOST: &str = "0.0.0.0:7878";

/// A terminal chat room for the LAN.
///
/// Connects to a chat server and joins a room; with --host, also runs the server in this
/// process so that others on the network can join. Type /help inside for commands and keys.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-tui", version)]
pub struct Cli {
    /// Server to connect to, as HOST:PORT.
    ///
    /// The host may be a name or an IP address. Ignored with --host.
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_CONNECT)]
    pub connect: String,

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

    /// Do not ring the terminal bell on mentions and private messages.
    #[arg(long)]
    pub no_bell: bool,

    /// Save files fetched with /get in DIR [default: $XDG_DOWNLOAD_DIR, else ~/Downloads
    /// if it exists, else the current directory].
    ///
    /// Created if missing. A download is written to NAME.part, checked against the
    /// sender's SHA-256, then renamed; an existing file is never overwritten (the new one
    /// becomes "NAME (1).ext").
    #[arg(long, value_name = "DIR")]
    pub download_dir: Option<PathBuf>,

    /// Write logs to this file [default: chat-tui.log in the user's state directory].
    ///
    /// The state directory is $XDG_STATE_HOME/chat-tui, or ~/.local/state/chat-tui, or the
    /// temporary directory. The screen never shows logs. RUST_LOG sets the level (default
    /// info).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

impl Cli {
    /// The nick to ask for: `--nick`, else the login name, else `guest`.
    pub fn nick(&self) -> String {
        self.nick
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "guest".into())
    }

    /// Where `/get` saves files: `--download-dir`, else the default of
    /// [`crate::transfer::local::default_download_dir`].
    pub fn download_dir(&self) -> PathBuf {
        self.download_dir
            .clone()
            .unwrap_or_else(crate::transfer::local::default_download_dir)
    }

    /// Where logs go when `--log-file` is not given.
    pub fn default_log_file() -> PathBuf {
        let state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
            });
        match state {
            Some(dir) => dir.join("chat-tui").join("chat-tui.log"),
            None => std::env::temp_dir().join("chat-tui.log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = Cli::parse_from(["chat-tui"]);
        assert_eq!(cli.connect, DEFAULT_CONNECT);
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
    }
}
