//! A benchmark client over either protocol: our own, or IRC for a reference server.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use clap::ValueEnum;
use futures::{SinkExt, StreamExt};
use shared::{ClientMsg, RoomEvent, ServerMsg};

use crate::connect::{Conn, connect_all, open_all};
use crate::irc::Irc;

/// The protocol the server under test speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// This project's protocol (docs/PROTOCOL.md).
    Chat,
    /// IRC (RFC 2812), to measure a reference server with the same scenarios.
    Irc,
}

impl Protocol {
    /// Whether a sender receives its own messages back (our server echoes them; IRC
    /// servers do not).
    pub fn echoes(self) -> bool {
        self == Protocol::Chat
    }
}

/// A chat message as a member receives it.
#[derive(Debug)]
pub struct Heard {
    pub from: String,
    pub text: String,
}

/// One joined client.
#[derive(Debug)]
pub enum Link {
    Chat(Box<Conn>),
    Irc(Box<Irc>),
}

/// Connects `count` clients over `protocol`; client `i` gets the nick `nick(i)` and joins
/// `room(i)`. Returns once every client has read the notices of everyone's join.
pub async fn connect_links(
    protocol: Protocol,
    addr: SocketAddr,
    count: usize,
    nick: impl Fn(usize) -> String,
    room: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<Link>> {
    match protocol {
        Protocol::Chat => Ok(connect_all(addr, count, nick, room)
            .await?
            .into_iter()
            .map(|c| Link::Chat(Box::new(c)))
            .collect()),
        Protocol::Irc => {
            let mut ircs = open_all(count, |i| {
                let (nick, room) = (nick(i), room(i));
                async move { Irc::join(addr, nick, &room).await }
            })
            .await?;
            futures::future::try_join_all(ircs.iter_mut().map(Irc::settle)).await?;
            Ok(ircs.into_iter().map(|c| Link::Irc(Box::new(c))).collect())
        }
    }
}

impl Link {
    /// Queues one chat message without flushing.
    pub async fn feed(&mut self, text: String) -> anyhow::Result<()> {
        match self {
            Link::Chat(c) => Ok(c.feed(ClientMsg::Chat { text }).await?),
            Link::Irc(c) => c.feed(&text).await,
        }
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Link::Chat(c) => Ok(SinkExt::<ClientMsg>::flush(c.as_mut()).await?),
            Link::Irc(c) => c.flush().await,
        }
    }

    /// The next chat message, answering pings on the way; `None` when the server closes
    /// the connection. An error or shutdown notice from the server fails.
    pub async fn next(&mut self) -> anyhow::Result<Option<Heard>> {
        match self {
            Link::Chat(c) => next_chat(c).await,
            Link::Irc(c) => c.next().await,
        }
    }
}

async fn next_chat(c: &mut Conn) -> anyhow::Result<Option<Heard>> {
    while let Some(frame) = c.next().await {
        match frame.context("reading a frame")? {
            ServerMsg::Room {
                event: RoomEvent::Said { from, text, .. },
                ..
            } => return Ok(Some(Heard { from, text })),
            ServerMsg::Ping { token } => c.send(ClientMsg::Pong { token }).await?,
            ServerMsg::Error { kind, text } => bail!("server error {kind:?}: {text}"),
            ServerMsg::Shutdown { reason } => bail!("server shut down: {reason}"),
            _ => {}
        }
    }
    Ok(None)
}
