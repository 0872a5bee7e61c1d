//! Opening many joined connections at once.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt, TryStreamExt, stream};
use shared::{ClientCodec, ClientMsg, ServerMsg};
use std::sync::OnceLock;

use chat_client::{Connector, Dial};
use tokio::time::timeout;
use tokio_util::codec::Framed;

pub type Conn = Framed<<Dial as Connector>::Stream, ClientCodec>;

/// How every client of the run connects: TLS (with the key given by `--trust`, else the
/// user's pins), or plain TCP with `--plaintext` (set once by `main`, before any
/// connection).
static DIAL: OnceLock<Dial> = OnceLock::new();

/// Makes every connection of this run go through `dial`.
pub fn set_dial(dial: Dial) {
    let _ = DIAL.set(dial);
}

/// A connection to `addr` as the run's dial makes it.
pub async fn open(addr: SocketAddr) -> anyhow::Result<<Dial as Connector>::Stream> {
    dial()
        .connect(&addr.to_string())
        .await
        .with_context(|| format!("connect to {addr}"))
}

fn dial() -> &'static Dial {
    DIAL.get_or_init(Dial::default)
}

/// How many handshakes run at once: enough to fill the accept queue, few enough that a
/// thousand clients do not overflow it.
const CONNECT_CONCURRENCY: usize = 64;

/// Connects `count` clients; client `i` gets the nick `nick(i)` and joins `room(i)`.
pub async fn connect_all(
    addr: SocketAddr,
    count: usize,
    nick: impl Fn(usize) -> String,
    room: impl Fn(usize) -> String,
) -> anyhow::Result<Vec<Conn>> {
    let mut conns = open_all(count, |i| join(addr, nick(i), room(i))).await?;
    settle(&mut conns).await?;
    Ok(conns)
}

/// Opens `count` connections with `open(i)`, a bounded number at a time; returns them in
/// the order of `i`.
pub async fn open_all<C, F>(count: usize, open: impl Fn(usize) -> F) -> anyhow::Result<Vec<C>>
where
    F: Future<Output = anyhow::Result<C>>,
{
    let mut conns: Vec<(usize, C)> = stream::iter(0..count)
        .map(|i| {
            let opened = open(i);
            async move { Ok::<_, anyhow::Error>((i, opened.await?)) }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;
    conns.sort_by_key(|(i, _)| *i);
    Ok(conns.into_iter().map(|(_, c)| c).collect())
}

/// Token of the ping that [`settle`] sends.
const SETTLE_TOKEN: u64 = u64::MAX;

/// Waits until every client has read everything the joins queued for it.
///
/// Each join sends a notice to every member already in the room, so a thousand joins queue
/// half a million notices; a measurement started before they drain measures the join
/// storm. The server answers a ping in order with everything else queued for a client, so
/// once a client has its pong, it has read every notice queued before it.
async fn settle(conns: &mut [Conn]) -> anyhow::Result<()> {
    futures::future::try_join_all(conns.iter_mut().map(settle_one)).await?;
    Ok(())
}

async fn settle_one(conn: &mut Conn) -> anyhow::Result<()> {
    conn.send(ClientMsg::Ping {
        token: SETTLE_TOKEN,
    })
    .await?;
    loop {
        match timeout(Duration::from_secs(30), conn.next()).await {
            Err(_) => bail!("the join notices did not drain within 30 s"),
            Ok(None) => bail!("server closed a connection after the welcome"),
            Ok(Some(frame)) => match frame.context("reading the join notices")? {
                ServerMsg::Pong {
                    token: SETTLE_TOKEN,
                } => return Ok(()),
                ServerMsg::Ping { token } => conn.send(ClientMsg::Pong { token }).await?,
                _ => {}
            },
        }
    }
}

/// One client: connect, hello (protocol version 4), wait for the welcome.
pub(crate) async fn join(addr: SocketAddr, nick: String, room: String) -> anyhow::Result<Conn> {
    let stream = open(addr).await?;
    let mut conn = Framed::new(stream, ClientCodec::default());
    conn.send(ClientMsg::hello4(&nick, &room)).await?;
    let welcome = timeout(Duration::from_secs(10), conn.next())
        .await
        .with_context(|| format!("{nick}: no welcome within 10 s"))?;
    match welcome {
        Some(Ok(ServerMsg::Welcome4 { .. })) => Ok(conn),
        Some(Ok(ServerMsg::Error { kind, text })) => bail!("{nick} refused: {kind:?}: {text}"),
        Some(Ok(other)) => bail!("{nick}: expected a welcome, got {other:?}"),
        Some(Err(e)) => Err(e).context("reading the welcome"),
        None => bail!("{nick}: server closed the connection during the handshake"),
    }
}
