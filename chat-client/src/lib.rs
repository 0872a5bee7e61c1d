//! The client side of the chat room, as a library with no terminal code.
//!
//! [`connect`] makes the first connection and handshake itself, so that an unreachable
//! server or a taken nick is reported at once. It then spawns the session and returns a
//! [`Client`] (to send with) and a receiver of [`Event`]s (to read): a handle and a stream
//! of events, so that the program on top (the terminal client, the line-mode client, a
//! bot) never touches a socket. The session answers pings, reconnects with backoff and
//! rejoins, keeps what is sent while disconnected, paces what it sends below the server's
//! rate, and runs file transfers; each of those says what it did in an [`Event`].
//!
//! The byte stream is a seam: [`connect_with`] takes any [`Connector`], whose streams are
//! [`tokio::io::AsyncRead`] + [`tokio::io::AsyncWrite`]; [`connect`] uses plain TCP
//! ([`Tcp`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), chat_client::ConnectError> {
//! use chat_client::{Event, Options, shared::{ClientMsg, RoomEvent, ServerMsg}};
//!
//! let options = Options { addr: "127.0.0.1:7878".into(), nick: "bot".into(), room: "ops".into() };
//! let (client, mut events, welcome) = chat_client::connect(options).await?;
//! client.send(ClientMsg::Chat { text: "deploy done".into() });
//! while let Some(event) = events.recv().await {
//!     if let Event::Server(ServerMsg::Room { event: RoomEvent::Said { from, .. }, .. }) = event {
//!         if from == welcome.nick {
//!             break; // the server stamped it and echoed it back
//!         }
//!     }
//! }
//! client.send(ClientMsg::Quit { reason: String::new() });
//! client.finish().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`client`]: [`connect`] and the [`Client`] handle.
//! - [`event`]: the library's [`Event`]s.
//! - [`dial`]: the stream seam: [`Connector`], and [`Tcp`].
//! - [`handshake`]: where to connect and as whom ([`Options`]), `Hello4` (protocol
//!   version 4), then the server's `Welcome4` or refusal ([`ConnectError`]).
//! - [`session`]: the task that outlives connections: keepalive, reconnect with backoff,
//!   rejoin, routing the server's frames.
//! - `writer`: each connection's writer task, chat first, file chunks when chat is idle.
//! - [`timeline`]: one room's history as the client holds it (pure data): messages in
//!   order, the markers a view draws (beginning, gaps, lost stretches, loading, the read
//!   marker), the catch-up point, what to ask next, a bounded window.
//! - [`offline`]: the bounded queue of what is sent while disconnected.
//! - [`pace`]: the client's own request rate, below the server's, and the outbox where
//!   what is over budget waits its turn.
//! - [`transfer`]: one task per upload or download (read or write, hash, resume), their
//!   progress, and safe local file names.
//! - [`sanitize`]: text from the network made harmless for a terminal.
//! - [`clock`]: a server time as the local `HH:MM`.
//! - [`discover`]: servers found on the LAN ([`browse`]), read off multicast DNS on a
//!   thread of its own.
//! - [`listing`]: a server found as a line of text or of JSON, for the programs that list
//!   them.

pub mod client;
pub mod clock;
pub mod dial;
pub mod discover;
pub mod event;
pub mod handshake;
pub mod listing;
pub mod offline;
pub mod pace;
pub mod sanitize;
pub mod session;
pub mod timeline;
pub mod transfer;
mod writer;

pub use client::{Client, connect, connect_with};
pub use dial::{Connector, Tcp};
pub use discover::{BrowseOptions, DiscoverError, FoundServer, browse};
pub use event::Event;
pub use handshake::{ConnectError, Options, Welcome};
/// The protocol's types, for what a [`Client`] sends and an [`Event::Server`] carries.
pub use shared;
