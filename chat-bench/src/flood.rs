//! Flood: the chat latency of two members with and without a flooder in their room.
//!
//! Two members take turns saying a line, one every `--interval-ms`, and the time from a
//! line's sending to its arrival at the other member is recorded. First with the room to
//! themselves, then while `--flooders` clients send chat lines as fast as their sockets
//! take them (reading what they get, so that they are held back by the rate limit and not
//! cut off as slow consumers). The report gives both latencies, how many flood lines were
//! sent and how many reached the members (both counted), and when each flooder was cut
//! off.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use shared::{ClientMsg, ErrorKind, RoomEvent, ServerMsg};
use tokio::time::timeout;

use crate::Target;
use crate::connect::{Conn, connect_all};
use crate::latency::{Percentiles, percentiles};

#[derive(Debug, Args)]
pub struct FloodArgs {
    #[command(flatten)]
    target: Target,
    /// Lines the members say in each phase (at the default interval, the flooded phase
    /// outlasts the server's default flood timeout of 10 s).
    #[arg(long, default_value_t = 150)]
    lines: u32,
    /// Milliseconds between the members' lines (they take turns).
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
    /// Flooders in the second phase.
    #[arg(long, default_value_t = 1)]
    flooders: usize,
    /// Give up on a line after this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    latency_us_quiet: Percentiles,
    latency_us_flooded: Percentiles,
    flood_lines_sent: u64,
    flood_deliveries_to_members: u64,
    flooders_cut_off_after_s: Vec<Option<f64>>,
}

/// What one flooder did so far; shared, so that it can be read while it still runs.
#[derive(Debug, Default)]
struct Flooded {
    sent: AtomicU64,
    cut_after: Mutex<Option<Duration>>,
}

pub async fn run(args: FloodArgs) -> anyhow::Result<()> {
    let addr = args.target.checked_addr()?;
    let room = format!("flood-{}", std::process::id());
    let mut members = connect_all(addr, 2, |i| format!("member{i}"), |_| room.clone()).await?;
    let limit = Duration::from_secs(args.timeout);

    let mut quiet = Histogram::<u64>::new(3)?;
    let mut seen = 0;
    talk(&mut members, &args, limit, &mut quiet, &mut seen).await?;

    let started = Instant::now();
    let flooders: Vec<_> = (0..args.flooders)
        .map(|i| {
            let state = Arc::new(Flooded::default());
            let nick = format!("flooder{i}");
            let task = tokio::spawn(flood(addr, nick, room.clone(), started, Arc::clone(&state)));
            (task, state)
        })
        .collect();
    let mut flooded = Histogram::<u64>::new(3)?;
    let mut flood_seen = 0;
    talk(&mut members, &args, limit, &mut flooded, &mut flood_seen).await?;
    let mut sent = 0;
    let mut cut = Vec::new();
    for (task, state) in flooders {
        task.abort();
        let _ = task.await;
        sent += state.sent.load(Ordering::Relaxed);
        let cut_after = *state.cut_after.lock().unwrap_or_else(|e| e.into_inner());
        cut.push(cut_after.map(|d| d.as_secs_f64()));
    }
    let report = Report {
        latency_us_quiet: percentiles(&quiet),
        latency_us_flooded: percentiles(&flooded),
        flood_lines_sent: sent,
        flood_deliveries_to_members: flood_seen,
        flooders_cut_off_after_s: cut,
    };
    if args.target.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report:#?}");
    }
    Ok(())
}

/// The members take turns saying `args.lines` lines; each line's latency goes into
/// `latency`, and the flood lines the receiver saw meanwhile into `flood_seen`.
async fn talk(
    members: &mut [Conn],
    args: &FloodArgs,
    limit: Duration,
    latency: &mut Histogram<u64>,
    flood_seen: &mut u64,
) -> anyhow::Result<()> {
    for line in 0..args.lines {
        let (first, second) = members.split_at_mut(1);
        let (from, to) = if line % 2 == 0 {
            (&mut first[0], &mut second[0])
        } else {
            (&mut second[0], &mut first[0])
        };
        let text = format!("line {line} {}", std::process::id());
        let sent = Instant::now();
        from.send(ClientMsg::Chat { text: text.clone() }).await?;
        loop {
            let msg = timeout(limit, to.next())
                .await
                .context("a member's line did not arrive in time")?
                .context("a member's connection closed")??;
            match msg {
                ServerMsg::Room {
                    event: RoomEvent::Said { text: t, from, .. },
                    ..
                } => {
                    if t == text {
                        break;
                    }
                    if from.starts_with("flooder") {
                        *flood_seen += 1;
                    }
                }
                ServerMsg::Ping { token } => to.send(ClientMsg::Pong { token }).await?,
                ServerMsg::Error { kind, text } => bail!("a member got {kind:?}: {text}"),
                _ => {}
            }
        }
        latency.record(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX))?;
        // The sender reads its own echo later, with the next lines it receives.
        tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
    }
    Ok(())
}

/// One flooder: writes chat lines as fast as the socket takes them and reads all it gets,
/// until the server cuts it off.
async fn flood(
    addr: SocketAddr,
    nick: String,
    room: String,
    started: Instant,
    state: Arc<Flooded>,
) -> anyhow::Result<()> {
    let conn = connect_all(addr, 1, |_| nick.clone(), |_| room.clone())
        .await?
        .pop()
        .context("one connection")?;
    let (mut sink, mut stream) = conn.split();
    let cut = Arc::clone(&state);
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            if let ServerMsg::Error {
                kind: ErrorKind::RateLimited,
                text,
            } = msg
            {
                if text.contains("disconnected") {
                    break;
                }
            }
        }
        *cut.cut_after.lock().unwrap_or_else(|e| e.into_inner()) = Some(started.elapsed());
    });
    for i in 0u64.. {
        let line = ClientMsg::Chat {
            text: format!("flood {i}"),
        };
        if reader.is_finished() || sink.send(line).await.is_err() {
            break;
        }
        state.sent.fetch_add(1, Ordering::Relaxed);
    }
    let _ = reader.await;
    Ok(())
}
