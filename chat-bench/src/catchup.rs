//! Catch-up: how long a client that missed `--missed` messages takes, from opening its
//! connection again, to hold the newest ones and the marker of the gap before them.
//!
//! A talker stays in the room. In each round a reader (asking for the feature `history`)
//! connects, notes the room's latest sequence number from its welcome and leaves; the talker
//! says `--missed` lines (and reads their echoes, so that all are stamped); then the reader
//! connects again and asks `CatchUp { after }`. The time measured runs from the reader's
//! `connect` to the arrival of the `CaughtUp` answer; the answer is checked: the messages it
//! holds plus the gap's count are exactly the lines missed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use shared::{ClientCodec, ClientMsg, FEATURE_HISTORY, PROTOCOL_VERSION, RoomEvent, ServerMsg};
use tokio::time::timeout;
use tokio_util::codec::Framed;

use crate::Target;
use crate::connect::{Conn, join};
use crate::latency::{Percentiles, percentiles};

#[derive(Debug, Args)]
pub struct CatchupArgs {
    #[command(flatten)]
    target: Target,
    /// Messages the reader misses in each round.
    #[arg(long, default_value_t = 10_000)]
    missed: u32,
    /// Rounds (each one a reconnect).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Give up on any step after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    missed: u32,
    /// From the reconnecting `connect` to the `CaughtUp` answer, in microseconds.
    reconnect_to_caught_up_us: Percentiles,
    /// Messages in the last answer, and the count of its gap.
    sent_in_answer: usize,
    gap_count: u64,
    answer_bytes: usize,
}

/// The request id of the catch-up.
const CATCH_UP_ID: u32 = 1;

pub async fn run(args: CatchupArgs) -> anyhow::Result<()> {
    let addr = args.target.checked_addr()?;
    let limit = Duration::from_secs(args.timeout);
    let room = format!("catchup-{}", std::process::id());
    let mut talker = join(addr, "talker".into(), room.clone()).await?;
    let mut times = Histogram::<u64>::new(3)?;
    let mut last = None;
    for round in 0..args.rounds {
        let (mut reader, seen) = connect_reader(addr, &room, round, limit).await?;
        reader.send(ClientMsg::Quit { reason: "".into() }).await?;
        drop(reader);
        say(&mut talker, args.missed, round, limit).await?;

        let started = Instant::now();
        let (mut reader, _) = connect_reader(addr, &room, round, limit).await?;
        let request = ClientMsg::CatchUp {
            room: room.clone(),
            after: seen,
        };
        reader.send(request.with_id(CATCH_UP_ID)).await?;
        let answer = caught_up(&mut reader, limit).await?;
        times.record(started.elapsed().as_micros() as u64)?;
        let ServerMsg::CaughtUp { messages, gap, .. } = &answer else {
            unreachable!("caught_up returns a CaughtUp")
        };
        let said = messages
            .iter()
            .filter(|m| matches!(m.event, RoomEvent::Said { .. }))
            .count();
        let gap_count = gap.map_or(0, |g| g.count);
        if said as u64 + gap_count != u64::from(args.missed) {
            bail!(
                "the catch-up accounts for {said} messages and a gap of {gap_count}, \
                 but {} were missed",
                args.missed
            );
        }
        let bytes = shared::encode_frame(&answer)?.len();
        last = Some((messages.len(), gap_count, bytes));
        reader.send(ClientMsg::Quit { reason: "".into() }).await?;
    }
    let (sent_in_answer, gap_count, answer_bytes) = last.unwrap_or_default();
    let report = Report {
        missed: args.missed,
        reconnect_to_caught_up_us: percentiles(&times),
        sent_in_answer,
        gap_count,
        answer_bytes,
    };
    if args.target.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report:#?}");
    }
    Ok(())
}

/// Connects the reader with the feature `history`; returns the connection and the room's
/// latest sequence number from the welcome.
/// Its nick changes with the round, so that it never waits for its previous connection's
/// nick to be freed.
async fn connect_reader(
    addr: SocketAddr,
    room: &str,
    round: u32,
    limit: Duration,
) -> anyhow::Result<(Conn, u64)> {
    let stream = crate::connect::open(addr).await?;
    let mut conn = Framed::new(stream, ClientCodec::default());
    conn.send(ClientMsg::Hello4 {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        features: vec![FEATURE_HISTORY.into()],
        nick: format!("reader{round}"),
        room: room.into(),
    })
    .await?;
    match next(&mut conn, limit).await? {
        ServerMsg::Welcome4 { seq, features, .. } => {
            if !features.iter().any(|f| f == FEATURE_HISTORY) {
                bail!("the server did not grant the feature history (is it running with it?)");
            }
            Ok((conn, seq))
        }
        ServerMsg::Error { text, .. } => bail!("the reader was refused: {text}"),
        other => bail!("expected a welcome, got {other:?}"),
    }
}

/// The talker says `count` lines and reads their echoes.
async fn say(talker: &mut Conn, count: u32, round: u32, limit: Duration) -> anyhow::Result<()> {
    // In slices, so that neither end's buffers hold a whole round.
    const SLICE: u32 = 500;
    let mut said = 0;
    while said < count {
        let slice = SLICE.min(count - said);
        for i in 0..slice {
            let text = format!("round {round} line {}", said + i);
            talker.feed(ClientMsg::Chat { text }).await?;
        }
        talker.flush().await?;
        let mut echoed = 0;
        while echoed < slice {
            match next(talker, limit).await? {
                ServerMsg::Room {
                    event: RoomEvent::Said { .. },
                    ..
                } => echoed += 1,
                ServerMsg::Ping { token } => talker.send(ClientMsg::Pong { token }).await?,
                ServerMsg::Error { text, .. } => bail!("the talker was refused: {text}"),
                _ => {}
            }
        }
        said += slice;
    }
    Ok(())
}

/// Reads until the answer to the catch-up.
async fn caught_up(conn: &mut Conn, limit: Duration) -> anyhow::Result<ServerMsg> {
    loop {
        match next(conn, limit).await?.into_reply() {
            (Some(CATCH_UP_ID), answer @ ServerMsg::CaughtUp { .. }) => return Ok(answer),
            (Some(CATCH_UP_ID), ServerMsg::Error { text, .. }) => {
                bail!("the catch-up was refused: {text}")
            }
            (_, ServerMsg::Ping { token }) => conn.send(ClientMsg::Pong { token }).await?,
            _ => {}
        }
    }
}

async fn next(conn: &mut Conn, limit: Duration) -> anyhow::Result<ServerMsg> {
    timeout(limit, conn.next())
        .await
        .context("the server did not answer in time")?
        .context("the server closed the connection")?
        .context("reading from the server")
}
