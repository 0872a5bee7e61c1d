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
//! # History
//!
//! The client asks for the feature "history" in its hello ([`handshake::hello`]). A server
//! that keeps history grants it, and its first frame after each welcome (the one
//! [`connect`] returns, and each [`Event::Reconnected`]) is
//! [`ServerMsg::HistoryInfo`](shared::ServerMsg::HistoryInfo), passed on as an
//! [`Event::Server`]: what it keeps and how much it gives at once. A server without
//! history sends none, and everything else goes on as before.
//!
//! The program keeps one [`timeline::Timeline`] per room it shows, and the session
//! carries the frames:
//!
//! - in the room (the welcome, a reconnect's, or `Joined4`), and history granted:
//!   [`Timeline::entered`](timeline::Timeline::entered) with the welcome's `seq` gives the
//!   `CatchUp` to send;
//! - each `Room` frame goes to [`Timeline::live`](timeline::Timeline::live);
//! - requests go out with an id of the program's choosing
//!   ([`ClientMsg::with_id`](shared::ClientMsg::with_id), below
//!   [`transfer::FIRST_OWN_REQUEST_ID`]); the answer comes back as
//!   [`ServerMsg::Reply`](shared::ServerMsg::Reply) with that id (a `CaughtUp`, a
//!   `HistoryPage`, `SearchHits`, or an `Error`), which the program matches to its
//!   [`timeline::Request`] and gives to
//!   [`Timeline::answered`](timeline::Timeline::answered);
//! - at [`Event::Disconnected`], every answer awaited is forgotten: it belonged to the
//!   connection that is gone ([`Timeline::left`](timeline::Timeline::left)). History
//!   requests and read markers are not kept while disconnected ([`offline`]): after the
//!   reconnect, the timeline says again what to ask.
//!
//! ```no_run
//! # async fn run() -> Result<(), chat_client::ConnectError> {
//! use std::collections::HashMap;
//!
//! use chat_client::timeline::{Config, Timeline};
//! use chat_client::{Event, Options, shared::ServerMsg};
//!
//! let options = Options { addr: "127.0.0.1:7878".into(), nick: "ann".into(), room: "ops".into() };
//! let (client, mut events, welcome) = chat_client::connect(options).await?;
//! let mut timeline = Timeline::new(&welcome.room, Config::default());
//! let (mut entry, mut asked, mut next_id) = (Some(welcome.seq), HashMap::new(), 1);
//! while let Some(event) = events.recv().await {
//!     match event {
//!         Event::Server(ServerMsg::HistoryInfo { .. }) => {
//!             if let Some(seq) = entry.take() {
//!                 let catch_up = timeline.entered(seq);
//!                 client.send(catch_up.message().with_id(next_id));
//!                 asked.insert(next_id, catch_up);
//!                 next_id += 1;
//!             }
//!         }
//!         Event::Server(msg @ ServerMsg::Room { .. }) => {
//!             if let Some((_room, message)) = msg.into_stamped() {
//!                 timeline.live(message);
//!             }
//!         }
//!         Event::Server(ServerMsg::Reply { id, msg }) => {
//!             if let Some(request) = asked.remove(&id) {
//!                 timeline.answered(&request, *msg);
//!             }
//!         }
//!         Event::Disconnected { .. } => {
//!             timeline.left();
//!             asked.clear();
//!         }
//!         Event::Reconnected(welcome) => entry = Some(welcome.seq),
//!         _ => {}
//!     }
//!     // Draw `timeline.items()`; ask `timeline.older(..)` as the view nears the top.
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Several rooms
//!
//! The hello asks for the feature "rooms" too. A server that grants it
//! ([`Welcome::rooms`]) lets the connection be in several rooms at once: a
//! [`ClientMsg::Join`](shared::ClientMsg::Join) adds a room, and
//! [`ClientMsg::InRoom`](shared::ClientMsg::InRoom) addresses one. The session keeps the
//! rooms joined and joins them all again after a reconnect; [`Client::upload_to`] sends
//! a file to one of them. Without the feature, a `Join` moves, as it always did.
//!
//! # Layout
//!
//! - [`client`]: [`connect`] and the [`Client`] handle.
//! - [`event`]: the library's [`Event`]s.
//! - [`dial`]: the stream seam: [`Connector`], [`Tcp`], and TLS with the server's key
//!   pinned ([`dial::tls`]); [`Dial`] is either.
//! - [`trust`]: the servers' keys the user accepted (pins), and why a key is refused.
//! - [`handshake`]: where to connect and as whom ([`Options`]), `Hello4` (protocol
//!   version 4), then the server's `Welcome4` or refusal ([`ConnectError`]).
//! - [`session`]: the task that outlives connections: keepalive, reconnect with backoff,
//!   rejoin (every room, with the feature "rooms"), routing the server's frames.
//! - `writer`: each connection's writer task, chat first, file chunks when chat is idle.
//! - [`timeline`]: one room's history as the client holds it (pure data): messages in
//!   order, the markers a view draws (beginning, gaps, lost stretches, loading, the read
//!   marker), the catch-up point, what to ask next, a bounded window.
//! - [`offline`]: the bounded queue of what is sent while disconnected.
//! - [`unanswered`]: the user's lines sent and not yet answered, and after a lost
//!   connection, which of them the server had (found in the room's history) and which to
//!   send again.
//! - [`keepalive`]: when to ping the server and when to give a silent connection up
//!   (sooner while a line awaits its answer).
//! - [`pace`]: the client's own request rate, below the server's, and the outbox where
//!   what is over budget waits its turn.
//! - [`transfer`]: one task per upload or download (read or write, hash, resume), their
//!   progress, and safe local file names.
//! - [`replace`]: a small file replaced whole (written beside, flushed, renamed), its
//!   symbolic link and permissions kept: the transfer journal, and the terminal client's
//!   configuration and input history.
//! - [`sanitize`]: text from the network made harmless for a terminal.
//! - [`clip`]: a room message cut to the protocol's limits, so that what is kept of many
//!   is bounded.
//! - [`clock`]: a server time as the local `HH:MM`.
//! - [`discover`]: servers found on the LAN ([`browse`]), read off multicast DNS on a
//!   thread of its own.
//! - [`listing`]: a server found as a line of text or of JSON, for the programs that list
//!   them.

pub mod client;
pub mod clip;
pub mod clock;
pub mod credentials;
pub mod dial;
pub mod discover;
pub mod event;
pub mod handshake;
pub mod identity;
pub mod keepalive;
pub mod listing;
pub mod offline;
pub mod pace;
pub mod replace;
pub mod sanitize;
pub mod session;
pub mod timeline;
pub mod transfer;
pub mod trust;
pub mod unanswered;
mod writer;

pub use client::{Client, connect, connect_as, connect_with};
pub use credentials::Credentials;
pub use dial::{Connector, Dial, Tcp};
pub use discover::{BrowseOptions, DiscoverError, FoundServer, browse};
pub use event::Event;
pub use handshake::{ConnectError, Options, Welcome};
pub use identity::Identity;
/// The protocol's types, for what a [`Client`] sends and an [`Event::Server`] carries.
pub use shared;
