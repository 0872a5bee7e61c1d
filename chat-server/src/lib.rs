//! The chat room server: rooms, unique nicks, stamped broadcast, bounded queues, keepalive
//! and graceful shutdown, over the wire protocol of the `shared` crate.
//!
//! # Layout
//!
//! - `server`: [`run`], with the accept loop, the connection cap and graceful
//!   shutdown.
//! - `connection`: one task per client: the handshake, then reading frames and acting on
//!   them, keepalive, and every way a connection can end.
//! - `outbound`: each connection's bounded queue of encoded frames and the writer task
//!   that drains it, batching what is queued into one write.
//! - `registry`: who is connected under which nick in which room, behind one
//!   `std::sync::Mutex` never held across an `.await`; stamping and delivery.
//! - [`names`]: what a valid nick or room name is, and case-insensitive comparison.
//! - [`config`]: every limit and interval, with the reasons for the defaults.
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

pub mod config;
mod connection;
pub mod names;
mod outbound;
mod registry;
mod server;

pub use config::Config;
pub use server::run;
