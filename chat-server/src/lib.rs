//! The chat room server: rooms, unique nicks, stamped broadcast, bounded queues, keepalive
//! and graceful shutdown, over the wire protocol of the `shared` crate.
//!
//! # Layout
//!
//! Dependencies point one way, down this list: no module imports one that imports it.
//!
//! - `server`: [`open`] (the history, then the file store, before anyone is served),
//!   [`run`] and [`run_with`]: the accept loop, the connection caps (in total and per IP
//!   address), the keepalive's timer and graceful shutdown, which ends with the history
//!   storing what it still holds. It builds the handles below and lends each part only
//!   the one it needs.
//! - `conn`: one task per client, generic over its stream: the handshake, the loop that
//!   reads frames and acts on them (`cmd/`: one file per family of requests), the rate
//!   limit (`throttle`, the token bucket of [`shared::rate`], and the history's leave to
//!   say something), and every way a connection ends (`ending`). It is lent a `Context`:
//!   the registry, the files, the history, the bans, the locked topics, and the `Live`
//!   configuration a reload replaces (its `Policy`: the limits and intervals it applies;
//!   the operators; the message of the day).
//! - [`files`]: file transfer: the store on disk (`files/`, `tmp/` under the data
//!   directory) and its in-memory index (the quota's accounting), one task per upload that writes and hashes off the runtime's threads,
//!   one per download that feeds the connection's low-priority file lane, an upload's
//!   handle and token (`handle`, which both the store and the worker use), and a
//!   connection's transfers. File names are cleaned by [`shared::file_name`].
//! - `registry`: who is connected under which nick in which rooms (one, or a set of them
//!   with the feature "rooms"), behind one `std::sync::Mutex` never held across an
//!   `.await`: nicks and away texts, rooms, topics, stamping, fan-out (each room message
//!   encoded once per protocol version present in its room) and the keepalive sweep, one
//!   file each.
//! - `sequences`: message ids and the rooms' sequence numbers, going on after the last id
//!   the history knows, so that none repeats after a restart.
//! - [`history`]: the rooms' history in one SQLite file: the registry records every room
//!   message once delivered, connections ask it for pages, catch-ups and searches; it
//!   keeps the rooms' topics too.
//! - `outbound`: each connection's bounded queue of encoded frames, its short file lane,
//!   its liveness (when the client was last heard from), and the writer that drains them
//!   (polled by the connection's task, lent its stream), chat first, batching what is
//!   queued into one write.
//! - [`transport`]: the stream seam. A [`Transport`] accepts byte streams (any
//!   `AsyncRead + AsyncWrite`) and says who is at the other end ([`PeerAddr`]); plain TCP
//!   is `TcpListener` itself. Nothing past the accept loop knows which stream it has.
//! - `announce`: the server announced on the LAN (DNS-SD over multicast DNS, in the
//!   format of [`shared::discovery`]) on the interfaces it listens on, its number of
//!   people kept current, withdrawn on a clean stop; on threads of its own, never the
//!   runtime's.
//! - [`auth`]: the feature "auth": the server's password (its Argon2id hash, checked
//!   off the async threads, attempts limited per address), and what the server decides
//!   from the keys clients prove.
//! - `bans`: the operators' bans (`bans.toml` in the data directory), with their expiry;
//!   `topic_locks`: the rooms whose topic only operators set (`locked-topics.toml`); both
//!   written through `private_file`, whole, private, atomically.
//! - [`reload`]: the configuration reloaded while the server runs (SIGHUP): what a
//!   running server can change, and the names of what needs a restart.
//! - `common`: what several parts name: the client id, a refusal, the wall clock.
//! - [`config`]: every limit and interval, with the reasons for the defaults;
//!   [`config::settings`]: the same as command-line flags and configuration-file keys.
//!
//! The rules both ends apply (names, file names, the request rate, units) live in
//! `shared`; the server only applies them.
//!
//! # Examples
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! let config = chat_server::Config::default();
//! chat_server::run(listener, config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! Another transport is a [`Transport`] given to [`run_with`]; `TcpListener` is one:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! chat_server::run_with(listener, chat_server::Config::default(), std::future::pending())
//!     .await
//! # }
//! ```

mod announce;
pub mod auth;
mod bans;
mod common;
pub mod config;
mod conn;
pub mod files;
pub mod history;
mod outbound;
mod private_file;
mod registry;
pub mod reload;
mod sequences;
mod server;
mod topic_locks;
pub mod transport;

pub use announce::default_name;
pub use config::Config;
pub use reload::{Reloaded, Reloader};
pub use server::{Opened, open, prepare_data_dir, run, run_with};
pub use transport::{Binding, PeerAddr, Transport};
