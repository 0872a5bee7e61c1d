//! Command-line arguments.

use clap::{Parser, Subcommand};

/// Line mode for the chat room, for scripts and bots.
///
/// Joins ROOM on the server at HOST:PORT as NICK, then either sends text and exits once the
/// server has stamped it (send), or prints the room's messages one per line until
/// interrupted (listen). Errors are one line on standard error, "chat-cli: ...", and exit
/// code 2; a closed standard output (as after | head) is not an error.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-cli", version)]
pub struct Cli {
    /// Server to connect to, as HOST:PORT.
    ///
    /// The host may be a name or an IP address.
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: String,

    /// Nick to use.
    ///
    /// The server refuses a nick that is already in use (exit code 2).
    #[arg(long, value_name = "NAME")]
    pub nick: String,

    /// Room to join.
    ///
    /// Created on the server if it does not exist yet.
    #[arg(long, value_name = "ROOM", default_value = chat_client::shared::protocol::DEFAULT_ROOM)]
    pub room: String,

    #[command(subcommand)]
    pub command: Command,
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
        /// "text", "id", "size", "time" (milliseconds since the Unix epoch) where they
        /// apply. Text is exactly as sent; characters a terminal could act on are escaped.
        #[arg(long)]
        json: bool,
    },
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
        assert_eq!((cli.nick.as_str(), cli.room.as_str()), ("bot", "ops"));
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
}
