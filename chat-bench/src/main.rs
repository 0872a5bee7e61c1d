//! `chat-bench`: a load generator for the chat server, speaking through the shared codec.
//!
//! - `fanout`: many clients in rooms, a few of them senders; reports deliveries per second
//!   and end-to-end latency measured at the receivers.
//! - `idle`: holds N joined connections and reports the server's memory per connection.
//! - `flood`: the chat latency of two members with and without a flooder in their room.
//! - `transfer`: upload and download throughput of one file beside a plain TCP copy, and
//!   the chat round trip of another client meanwhile.
//! - `catchup`: the time a client that missed thousands of messages takes, once back, to
//!   hold the newest ones and the gap before them.
//! - `store`: the history store alone, on a database of its own: writer throughput,
//!   search indexing lag, page, search and catch-up latency, bytes per message.
//!
//! Every run is bounded in count and time, and only loopback addresses are accepted unless
//! `--allow-remote` says otherwise.

mod catchup;
mod connect;
mod fanout;
mod flood;
mod idle;
mod irc;
mod latency;
mod link;
mod proc_stats;
mod soak;
mod store;
mod transfer;

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

/// jemalloc, as in the server: see the note in Cargo.toml.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(version, about = "Load generator for chat-server")]
struct Cli {
    /// Accept the server's key with this fingerprint (as chat-server prints it beside
    /// "listening on"); nothing is pinned.
    ///
    /// The chat clients of every mode speak TLS, as the server does by default; without
    /// --trust they accept only a key the user pinned (with chat-tui or chat-cli). The IRC
    /// protocol's clients always speak plain TCP.
    #[arg(long, global = true, value_name = "FINGERPRINT", value_parser = shared_fingerprint)]
    trust: Option<chat_client::shared::tls::Fingerprint>,
    /// Speak plain TCP, to a server started with --plaintext.
    #[arg(long, global = true, conflicts_with = "trust")]
    plaintext: bool,
    #[command(subcommand)]
    mode: Mode,
}

fn shared_fingerprint(text: &str) -> Result<chat_client::shared::tls::Fingerprint, String> {
    chat_client::shared::tls::Fingerprint::parse(text)
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Fan-out: senders say messages in rooms, every member receives them.
    Fanout(fanout::FanoutArgs),
    /// Flood: two members' chat latency with and without a flooder in the room.
    Flood(flood::FloodArgs),
    /// Idle: hold N joined connections and measure the server's memory per connection.
    Idle(idle::IdleArgs),
    /// Transfer: file upload and download throughput against plain TCP, chat meanwhile.
    Transfer(transfer::TransferArgs),
    /// Soak: bots join, chat, send and fetch files and leave for minutes; the server's open
    /// files, threads and memory before and after.
    Soak(soak::SoakArgs),
    /// Catch-up: the time a reconnecting client takes to get what it missed and the gap
    /// marker (needs a server that keeps history).
    Catchup(catchup::CatchupArgs),
    /// Store: the history store alone (no network): writes per second, search indexing
    /// lag, page, search and catch-up latency, database bytes per message.
    Store(store::StoreArgs),
}

/// Options every mode shares.
#[derive(Debug, Args)]
pub struct Target {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:7878")]
    addr: SocketAddr,
    /// PID of the server, to read its CPU time and memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Accept an address outside the loopback range.
    #[arg(long)]
    allow_remote: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Target {
    fn checked_addr(&self) -> anyhow::Result<SocketAddr> {
        if !self.addr.ip().is_loopback() && !self.allow_remote {
            bail!(
                "refusing to load {}: not a loopback address (pass --allow-remote to insist)",
                self.addr
            );
        }
        Ok(self.addr)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    connect::set_dial(if cli.plaintext {
        chat_client::Dial::Plaintext
    } else {
        // A --trust key is trusted for this run only; without it, the user's pins.
        let pins = cli
            .trust
            .is_none()
            .then(chat_client::trust::Pins::of_user)
            .flatten();
        chat_client::Dial::Tls(chat_client::dial::tls::TlsDial::new(pins, None, cli.trust))
    });
    let runtime = tokio::runtime::Runtime::new().expect("start tokio runtime");
    // Thousands of sockets need more than the usual soft limit of 1024 descriptors.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let result = runtime.block_on(async {
        match cli.mode {
            Mode::Fanout(args) => fanout::run(args).await,
            Mode::Flood(args) => flood::run(args).await,
            Mode::Idle(args) => idle::run(args).await,
            Mode::Transfer(args) => transfer::run(args).await,
            Mode::Soak(args) => soak::run(args).await,
            Mode::Catchup(args) => catchup::run(args).await,
            Mode::Store(args) => store::run(args).await,
        }
    });
    match result.context("benchmark failed") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}
