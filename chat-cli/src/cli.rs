//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use chat_client::shared::discovery::MDNS_PORT;
use chat_client::shared::tls::Fingerprint;
use chat_client::shared::units::parse_duration;
use clap::{CommandFactory, Parser, Subcommand};

use crate::history::MAX_LIMIT;

/// Longest `list --wait`: a minute is already far more than any server on a LAN takes to
/// answer.
pub const MAX_LIST_WAIT: Duration = Duration::from_secs(60);

/// Line mode for the chat room, for scripts and bots.
///
/// Joins ROOM on the server at HOST:PORT as NICK, then either sends text and exits once the
/// server has stamped it (send), prints the room's messages one per line until
/// interrupted (listen), prints what the server's history holds (history) or finds in it
/// (search); or lists the servers announced on the LAN (list), which needs no --connect
/// or --nick. Errors are one line on standard error, "chat-cli: ...", and exit
/// code 2; a closed standard output (as after | head) is not an error.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-cli", version)]
pub struct Cli {
    /// Server to connect to, as HOST:PORT (all but list).
    ///
    /// The host may be a name or an IP address. `chat-cli list` shows the servers on the
    /// LAN.
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Option<String>,

    /// Nick to use (all but list).
    ///
    /// The server refuses a nick that is already in use (exit code 2).
    #[arg(long, value_name = "NAME")]
    pub nick: Option<String>,

    /// Room to join.
    ///
    /// Created on the server if it does not exist yet.
    #[arg(long, value_name = "ROOM", default_value = chat_client::shared::protocol::DEFAULT_ROOM)]
    pub room: String,

    /// Speak plain TCP to the server instead of TLS, for a server started with --plaintext.
    ///
    /// By default chat-cli speaks TLS and checks the server's key. The first time, the
    /// key is unknown: chat-cli refuses it and prints its fingerprint and the --trust line
    /// to use. From then on the key is pinned, and another key is refused. Without TLS,
    /// anyone on the network reads what is sent.
    #[arg(long, global = true, conflicts_with_all = ["tls", "trust"])]
    pub plaintext: bool,

    /// Speak TLS to the server: the default, so this changes nothing.
    ///
    /// Kept so that scripts written when TLS had to be asked for still work.
    #[arg(long, global = true)]
    pub tls: bool,

    /// Accept this key fingerprint at the first connection.
    ///
    /// The server prints it beside "listening on" (16 groups of 4 hex digits; spaces,
    /// colons and case do not matter). The key is then pinned for this server, as if it
    /// had been accepted in chat-tui. A server that presents another key is refused.
    #[arg(long, value_name = "FINGERPRINT", global = true, value_parser = parse_fingerprint)]
    pub trust: Option<Fingerprint>,

    /// Read the server's password from the first line of this file [default: the
    /// environment variable CHAT_PASSWORD].
    ///
    /// Needed only by a server that has a password; a wrong one is refused in one line
    /// (exit code 2).
    #[arg(long, value_name = "PATH", global = true)]
    pub password_file: Option<PathBuf>,

    /// Prove the key in this file (made there if missing), so as to use a nick registered
    /// to it [default: the user's key, identity.key in $XDG_DATA_HOME/lanchat, if it
    /// exists].
    ///
    /// chat-cli makes no key of its own: a nick is registered with chat-tui (/register),
    /// under the same key file.
    #[arg(long, value_name = "PATH", global = true)]
    pub identity: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// `--trust`'s value.
fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    Fingerprint::parse(text)
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Send TEXT, or each line of standard input, to the room.
    ///
    /// The words of TEXT are joined by spaces into one message. Without TEXT, every
    /// non-blank line of standard input is a message, sent in order at the client's
    /// pace (a burst of 15, then 8 a second, or less under a server with lower limits).
    /// Exits 0 once the server has stamped every message (the client saw each come
    /// back), or 2 when one could not be sent, the connection was lost before the server
    /// confirmed them, or no confirmation came for 30 s. A message is at most 4096 bytes.
    Send {
        /// The message; without it, standard input is read.
        #[arg(value_name = "TEXT")]
        text: Vec<String>,
    },
    /// Print the room's messages, one per line, until interrupted.
    ///
    /// Plain lines are the local time (HH:MM), the nick in angle brackets and the text;
    /// control characters and escape sequences from the network are shown as visible
    /// symbols, so nothing can drive the terminal. With --json each event is one JSON
    /// object per line. The first line says that the client is in the room. The client
    /// reconnects by itself after a lost connection. SIGINT and SIGTERM end it with exit
    /// code 0.
    Listen {
        /// One JSON object per line instead of plain text.
        ///
        /// Each object has "type" (chat, action, private, join, leave, rename,
        /// file, shutdown, joined, disconnected, reconnected), and "room", "from", "to",
        /// "text", "id", "seq" (a room message's number in its room), "size", "time"
        /// (milliseconds since the Unix epoch) where they apply. Text is exactly as sent; characters a terminal could act on are escaped.
        #[arg(long)]
        json: bool,
    },
    /// Print the room's latest messages from the server's history, oldest first, and exit.
    ///
    /// Lines are as listen prints them (plain, or --json). Joins, leaves and renames are
    /// left out. Exits 0 once they are printed (none when the room's history is empty),
    /// or 2 when the server keeps no history or does not answer within 30 s.
    History {
        /// How many messages, at most (up to 10000).
        #[arg(long, value_name = "N", default_value_t = 50, value_parser = parse_limit)]
        limit: u32,

        /// One JSON object per line instead of plain text (as listen --json).
        #[arg(long)]
        json: bool,
    },
    /// Search the room's history for messages that hold every one of WORDS, newest
    /// first, and exit.
    ///
    /// Words are matched whole, without regard to case; nothing in them is a search
    /// operator. Lines are as listen prints them (plain, or --json). When the server's
    /// search ran out of time before looking at every message, standard error says so
    /// (exit code 0). Exits 2 when the server keeps no history or does not answer within
    /// 30 s.
    Search {
        /// The words to look for.
        #[arg(value_name = "WORDS", required = true)]
        words: Vec<String>,

        /// How many hits, at most (up to 10000).
        #[arg(long, value_name = "N", default_value_t = 20, value_parser = parse_limit)]
        limit: u32,

        /// One JSON object per line instead of plain text (as listen --json).
        #[arg(long)]
        json: bool,
    },
    /// List the chat servers announced on the LAN, one per line, and exit.
    ///
    /// Listens for announcements (DNS-SD over multicast DNS, service _lanchat._tcp) for
    /// --wait, then prints each server found as NAME, ADDRESS (IP:PORT), the number of
    /// people connected and its protocol version, sorted by name. Finding none prints
    /// nothing on standard output, a note on standard error, and exits 0. Anyone on the
    /// LAN can announce anything: a listed server is a claim, not a proof of who answers.
    List {
        /// One JSON object per line: "name", "addr", "people", "version", "fingerprint"
        /// (null without TLS).
        #[arg(long)]
        json: bool,

        /// How long to listen for announcements, up to 1m.
        ///
        /// Durations are written like 500ms, 2s or 1m; a bare number means seconds.
        #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_wait)]
        wait: Duration,

        /// UDP port of multicast DNS; only tests use another than 5353.
        #[arg(long, value_name = "PORT", default_value_t = MDNS_PORT, hide = true)]
        mdns_port: u16,
    },
}

fn parse_limit(text: &str) -> Result<u32, String> {
    let limit: u32 = text
        .parse()
        .map_err(|_| format!("{text} is not a whole number"))?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(format!("{text} is not between 1 and {MAX_LIMIT}"));
    }
    Ok(limit)
}

fn parse_wait(text: &str) -> Result<Duration, String> {
    let wait = parse_duration(text)?;
    if wait > MAX_LIST_WAIT {
        return Err(format!("{text} is longer than the longest wait, 1m"));
    }
    Ok(wait)
}

/// Where to connect and as whom, for send and listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub connect: String,
    pub nick: String,
}

impl Cli {
    /// Parses the process's arguments; on an error (or `--help`) prints it and exits with
    /// clap's usage error (code 2), also when a command that talks to a server lacks
    /// --connect or --nick.
    pub fn parse_args() -> Self {
        let cli = Self::parse();
        if let Err(why) = cli.target() {
            Self::command()
                .error(clap::error::ErrorKind::MissingRequiredArgument, why)
                .exit();
        }
        cli
    }

    /// --connect and --nick, which every command but list needs; `None` for list.
    ///
    /// # Errors
    ///
    /// The flag that is missing, in a sentence.
    /// What to prove at the handshake: the key of `--identity` (made if missing), else
    /// the user's if there is one; the password of `--password-file`, else of
    /// `CHAT_PASSWORD`.
    ///
    /// # Errors
    ///
    /// A key file or password that cannot be used, in one line.
    pub fn credentials(&self) -> Result<chat_client::Credentials, String> {
        use chat_client::{Identity, credentials};
        let identity = match &self.identity {
            Some(path) => Some(Identity::load_or_create(path).map_err(|e| e.to_string())?.0),
            None => match Identity::default_path().filter(|path| path.exists()) {
                Some(path) => Some(Identity::load(&path).map_err(|e| e.to_string())?),
                None => None,
            },
        };
        let password = match &self.password_file {
            Some(path) => Some(credentials::read_password_file(path)?),
            None => credentials::password_from_env()?,
        };
        Ok(chat_client::Credentials {
            identity: identity.map(std::sync::Arc::new),
            password,
        })
    }

    pub fn target(&self) -> Result<Option<Target>, String> {
        if matches!(self.command, Command::List { .. }) {
            return Ok(None);
        }
        let missing = |flag: &str| format!("{flag} is required to talk to a server");
        let connect = self.connect.clone().ok_or_else(|| missing("--connect"))?;
        let nick = self.nick.clone().ok_or_else(|| missing("--nick"))?;
        Ok(Some(Target { connect, nick }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn send_takes_words_and_listen_takes_json() {
        let cli = Cli::parse_from([
            "chat-cli",
            "--connect",
            "127.0.0.1:7878",
            "--nick",
            "bot",
            "--room",
            "ops",
            "send",
            "deploy",
            "done",
        ]);
        assert_eq!(
            (cli.nick.as_deref(), cli.room.as_str()),
            (Some("bot"), "ops")
        );
        assert_eq!(
            cli.command,
            Command::Send {
                text: vec!["deploy".into(), "done".into()]
            }
        );
        let cli = Cli::parse_from(["chat-cli", "--connect", "h:1", "--nick", "b", "listen"]);
        assert_eq!(cli.room, "lobby");
        assert_eq!(cli.command, Command::Listen { json: false });
        let cli = Cli::parse_from([
            "chat-cli",
            "--connect",
            "h:1",
            "--nick",
            "b",
            "listen",
            "--json",
        ]);
        assert_eq!(cli.command, Command::Listen { json: true });
    }

    #[test]
    fn history_and_search_take_a_bounded_limit() {
        let base = [
            "chat-cli",
            "--connect",
            "h:1",
            "--nick",
            "b",
            "--room",
            "ops",
        ];
        let parse = |args: &[&str]| Cli::try_parse_from([&base[..], args].concat());
        assert_eq!(
            parse(&["history"]).unwrap().command,
            Command::History {
                limit: 50,
                json: false
            }
        );
        assert_eq!(
            parse(&["history", "--limit", "7", "--json"])
                .unwrap()
                .command,
            Command::History {
                limit: 7,
                json: true
            }
        );
        assert_eq!(
            parse(&["search", "disk", "full", "--limit", "3"])
                .unwrap()
                .command,
            Command::Search {
                words: vec!["disk".into(), "full".into()],
                limit: 3,
                json: false
            }
        );
        for (limit, why) in [
            ("0", "0 is not between 1 and 10000"),
            ("10001", "10001 is not between 1 and 10000"),
            ("many", "many is not a whole number"),
        ] {
            let err = parse(&["history", "--limit", limit]).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
        assert!(parse(&["search"]).is_err(), "search needs words");
    }

    #[test]
    fn list_needs_no_server_and_bounds_its_wait() {
        let cli = Cli::parse_from(["chat-cli", "list"]);
        assert_eq!(
            cli.command,
            Command::List {
                json: false,
                wait: Duration::from_secs(2),
                mdns_port: 5353
            }
        );
        assert_eq!(cli.target().unwrap(), None);
        let cli = Cli::parse_from(["chat-cli", "list", "--json", "--wait", "500ms"]);
        assert_eq!(
            cli.command,
            Command::List {
                json: true,
                wait: Duration::from_millis(500),
                mdns_port: 5353
            }
        );
        let err = Cli::try_parse_from(["chat-cli", "list", "--wait", "2m"]).unwrap_err();
        assert!(
            err.to_string().contains("longer than the longest wait, 1m"),
            "{err}"
        );
        let err = Cli::try_parse_from(["chat-cli", "list", "--wait", "soon"]).unwrap_err();
        assert!(err.to_string().contains("'soon'"), "{err}");
    }

    #[test]
    fn send_and_listen_need_a_server_and_a_nick() {
        let cli = Cli::parse_from(["chat-cli", "--nick", "b", "listen"]);
        let err = cli.target().unwrap_err();
        assert_eq!(err, "--connect is required to talk to a server");
        let cli = Cli::parse_from(["chat-cli", "--connect", "h:1", "send", "hi"]);
        let err = cli.target().unwrap_err();
        assert_eq!(err, "--nick is required to talk to a server");
        let cli = Cli::parse_from(["chat-cli", "--connect", "h:1", "--nick", "b", "listen"]);
        assert_eq!(
            cli.target().unwrap(),
            Some(Target {
                connect: "h:1".into(),
                nick: "b".into()
            })
        );
    }
}
