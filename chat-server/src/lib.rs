//! The chat room server: rooms, unique nicks, stamped broadcast, bounded queues, keepalive
//! and graceful shutdown, over the wire protocol of the `shared` crate.
//!
//! # Layout
//!
//! - `server`: [`run`], with the accept loop, the connection caps (in total and per IP
//!   address) and graceful shutdown.
//! - `conn`: one task per client: the handshake, then reading frames and acting on
//!   them, the rate limit (the token bucket of [`shared::rate`]), keepalive, and every way
//!   a connection can end.
//! - `outbound`: each connection's bounded queue of encoded frames, its short file lane,
//!   and the writer that drains them (polled by the connection's task), chat first,
//!   batching what is queued into one write.
//! - `registry`: who is connected under which nick in which room, behind one
//!   `std::sync::Mutex` never held across an `.await`; stamping and delivery, each room
//!   message encoded once per protocol version present in its room.
//! - `sequences`: message ids and the rooms' sequence numbers, the seam behind which a
//!   stored history will keep them.
//! - [`files`]: file transfer: the store on disk (`files/`, `tmp/` under the data
//!   directory), one task per upload that writes and hashes off the runtime's threads,
//!   one per download that feeds the connection's low-priority file lane. File names are
//!   cleaned by [`shared::file_name`].
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

mod common;
pub mod config;
mod conn;
pub mod files;
mod outbound;
mod registry;
mod sequences;
mod server;

pub use config::Config;
pub use server::{prepare_data_dir, run};
