//! `chat-cli`: line mode for the chat room, for scripts and bots, on the `chat_client`
//! library alone.
//!
//! ```text
//! chat-cli --connect HOST:PORT --nick bot --room ops send "deploy done"
//! make 2>&1 | chat-cli --connect HOST:PORT --nick ci --room ops send
//! chat-cli --connect HOST:PORT --nick logger --room ops listen --json >> ops.jsonl
//! chat-cli --connect HOST:PORT --nick me --room ops history --limit 200
//! chat-cli --connect HOST:PORT --nick me --room ops search disk full --json
//! CHAT_PASSWORD=... chat-cli --connect HOST:PORT --nick bot --identity bot.key send hi
//! chat-cli list --json
//! ```
//!
//! Exit codes: 0 when all went well, 2 on an error, which is one line on standard error
//! (`chat-cli: ...`). A closed standard output is not an error.
//!
//! # Layout
//!
//! - [`cli`]: command-line arguments.
//! - [`send`]: sending TEXT or standard input's lines, and waiting until the server has
//!   stamped each.
//! - [`listen`]: printing the room's messages until interrupted.
//! - [`history`]: printing what the server's history of the room holds, or the hits of a
//!   search in it.
//! - [`list`]: the servers announced on the LAN, found by `chat_client::discover`.
//! - [`record`]: what a message becomes as a plain line or a JSON object.

pub mod cli;
pub mod history;
pub mod list;
pub mod listen;
pub mod record;
pub mod send;

use std::fmt;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::{Cli, Command};

/// Why the program failed, as the one line it prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

/// The whole program: parses arguments, runs, and turns a failure into one line on stderr
/// and exit code 2.
pub fn main() -> ExitCode {
    let cli = Cli::parse_args();
    // The local UTC offset can only be read safely while the process has one thread.
    let utc_offset_secs = chat_client::clock::local_utc_offset_secs();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => {
            let result = runtime.block_on(run(cli, utc_offset_secs));
            // Standard input is read on a blocking thread that may be stuck in a read.
            runtime.shutdown_background();
            result
        }
        Err(e) => Err(Failure(format!("cannot start the runtime: {e}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // The text may quote the server; nothing from the network drives the terminal.
            eprintln!("chat-cli: {}", chat_client::sanitize::text(&failure.0));
            ExitCode::from(2)
        }
    }
}

/// Lists the servers on the LAN, or connects, then sends, listens, or reads the history.
pub async fn run(cli: Cli, utc_offset_secs: i32) -> Result<(), Failure> {
    if let Command::List {
        json,
        wait,
        mdns_port,
    } = cli.command
    {
        return list::run(json, wait, mdns_port).await;
    }
    let target = cli
        .target()
        .map_err(Failure)?
        .ok_or_else(|| Failure("nothing to connect to".into()))?;
    let credentials = cli.credentials().map_err(Failure)?;
    let options = chat_client::Options {
        addr: target.connect,
        nick: target.nick,
        room: cli.room,
    };
    let format = |json: bool| {
        if json {
            listen::Format::Json
        } else {
            listen::Format::Plain { utc_offset_secs }
        }
    };
    let dial = chat_client::Dial::new(!cli.plaintext, None, cli.trust);
    let (client, events, welcome) = chat_client::connect_as(dial, options, credentials).await?;
    let result = match cli.command {
        Command::Send { text } => send::run(&client, events, &welcome, text).await,
        Command::Listen { json } => listen::run(events, &welcome, format(json)).await,
        Command::History { limit, json } => {
            let query = history::Query::History { limit };
            history::run(&client, events, &welcome, query, format(json)).await
        }
        Command::Search { words, limit, json } => {
            let words = words.join(" ");
            let query = history::Query::Search { words, limit };
            history::run(&client, events, &welcome, query, format(json)).await
        }
        // Handled above, before connecting.
        Command::List { .. } => Ok(()),
    };
    client.send(chat_client::shared::ClientMsg::Quit {
        reason: String::new(),
    });
    client.finish().await;
    result
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
