//! Fan-out: `senders` of the `clients` say `messages` each in their room; every member of
//! the room (the sender included, through the server's echo) must receive every message.
//!
//! Each message carries the microsecond it was sent, so receivers measure end-to-end latency
//! against the same clock. A sender keeps at most `window` of its messages in flight (sent
//! but not yet echoed back to it), or sends at a fixed `rate`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use shared::{ClientMsg, ServerMsg};
use tokio::sync::Barrier;
use tokio::time::timeout_at;

use crate::Target;
use crate::connect::{Conn, connect_all};
use crate::latency::{Percentiles, percentiles};
use crate::proc_stats::{self, ProcSample};

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    target: Target,
    /// Clients connected, spread evenly over the rooms.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How many of the clients send (the first ones, so every room gets senders first).
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Messages each sender says.
    #[arg(long, default_value_t = 1000)]
    messages: u64,
    /// Bytes of text in each message.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Messages a sender may have in flight (sent, not yet echoed back).
    #[arg(long, default_value_t = 100)]
    window: u64,
    /// Messages per second per sender instead of a window (0: use the window).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Number of rooms.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    clients: usize,
    senders: usize,
    messages_per_sender: u64,
    size: usize,
    window: u64,
    rate: u64,
    rooms: usize,
    deliveries: u64,
    expected_deliveries: u64,
    seconds: f64,
    deliveries_per_second: f64,
    latency_us: Percentiles,
    server: Option<ServerUsage>,
    /// The load generator's own CPU time per delivery: when it nears the server's, the
    /// generator, not the server, sets the pace and the latency.
    generator_cpu_us_per_delivery: f64,
}

#[derive(Debug, Serialize)]
struct ServerUsage {
    cpu_seconds: f64,
    cpu_us_per_delivery: f64,
    peak_rss_bytes: u64,
}

/// What one client saw.
struct ClientResult {
    deliveries: u64,
    latency: Histogram<u64>,
}

pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let addr = args.target.checked_addr()?;
    if args.senders > args.clients || args.rooms == 0 || args.rooms > args.clients {
        bail!("need 1 <= rooms <= clients and senders <= clients");
    }
    if args.size < 32 {
        bail!("--size must be at least 32 bytes to carry the timestamp");
    }
    let run_id = std::process::id() % 10_000;
    let rooms = args.rooms;
    let conns = connect_all(
        addr,
        args.clients,
        |i| format!("bench{run_id}-{i}"),
        |i| format!("bench-{}", i % rooms),
    )
    .await?;

    let senders_in_room = |room: usize| (0..args.senders).filter(|s| s % rooms == room).count();
    // Every client task is running before the first message is sent, so that the first
    // messages do not measure the generator starting its tasks.
    let ready = Arc::new(Barrier::new(conns.len() + 1));
    let epoch = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut tasks = Vec::with_capacity(conns.len());
    for (i, conn) in conns.into_iter().enumerate() {
        let plan = Plan {
            me: format!("bench{run_id}-{i}"),
            to_send: if i < args.senders { args.messages } else { 0 },
            expected: senders_in_room(i % rooms) as u64 * args.messages,
            window: args.window,
            rate: args.rate,
            size: args.size,
            epoch,
            deadline,
        };
        let ready = Arc::clone(&ready);
        tasks.push(tokio::spawn(async move {
            ready.wait().await;
            client(conn, plan).await
        }));
    }
    ready.wait().await;
    let before = sample(&args.target)?;
    let generator_before = proc_stats::sample(std::process::id())?;
    let start = Instant::now();
    let mut deliveries = 0;
    let mut latency = Histogram::<u64>::new(3)?;
    let mut failures = Vec::new();
    // Held open until every client is done: a client that hung up as soon as it had its
    // messages would make the server tell everyone else, in the middle of the run.
    let mut finished = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await? {
            Ok((r, conn)) => {
                deliveries += r.deliveries;
                latency.add(&r.latency)?;
                finished.push(conn);
            }
            Err(e) => failures.push(e),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = sample(&args.target)?;
    let generator_after = proc_stats::sample(std::process::id())?;
    drop(finished);
    let expected: u64 = (0..args.clients)
        .map(|i| senders_in_room(i % rooms) as u64)
        .sum::<u64>()
        * args.messages;
    let report = Report {
        clients: args.clients,
        senders: args.senders,
        messages_per_sender: args.messages,
        size: args.size,
        window: args.window,
        rate: args.rate,
        rooms,
        deliveries,
        expected_deliveries: expected,
        seconds,
        deliveries_per_second: deliveries as f64 / seconds,
        latency_us: percentiles(&latency),
        server: usage(before, after, deliveries),
        generator_cpu_us_per_delivery: (generator_after.cpu_seconds - generator_before.cpu_seconds)
            * 1e6
            / deliveries.max(1) as f64,
    };
    print_report(&report, args.target.json)?;
    if let Some(e) = failures.into_iter().next() {
        return Err(e).context("a client failed");
    }
    if deliveries != expected {
        bail!("{deliveries} of {expected} deliveries arrived before the deadline");
    }
    Ok(())
}

fn sample(target: &Target) -> anyhow::Result<Option<ProcSample>> {
    target.server_pid.map(proc_stats::sample).transpose()
}

fn usage(before: Option<ProcSample>, after: Option<ProcSample>, n: u64) -> Option<ServerUsage> {
    let (before, after) = (before?, after?);
    let cpu = after.cpu_seconds - before.cpu_seconds;
    Some(ServerUsage {
        cpu_seconds: cpu,
        cpu_us_per_delivery: cpu * 1e6 / n.max(1) as f64,
        peak_rss_bytes: after.peak_rss_bytes,
    })
}

fn print_report(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!(
        "fanout: {} clients, {} senders x {} msgs of {} B, window {}, rate {}/s, {} rooms",
        r.clients, r.senders, r.messages_per_sender, r.size, r.window, r.rate, r.rooms
    );
    println!(
        "deliveries: {}/{} in {:.3} s = {:.0} deliveries/s",
        r.deliveries, r.expected_deliveries, r.seconds, r.deliveries_per_second
    );
    let l = &r.latency_us;
    println!(
        "latency us: p50 {} p90 {} p99 {} max {}",
        l.p50, l.p90, l.p99, l.max
    );
    if let Some(s) = &r.server {
        println!(
            "server: {:.2} s CPU, {:.3} us CPU per delivery, peak RSS {} KiB",
            s.cpu_seconds,
            s.cpu_us_per_delivery,
            s.peak_rss_bytes / 1024
        );
    }
    println!(
        "generator: {:.3} us CPU per delivery",
        r.generator_cpu_us_per_delivery
    );
    Ok(())
}

/// What one client does in a fan-out run.
struct Plan {
    me: String,
    to_send: u64,
    expected: u64,
    window: u64,
    rate: u64,
    size: usize,
    /// The clock of the send times carried in the messages.
    epoch: Instant,
    deadline: tokio::time::Instant,
}

/// Text of message `seq`: its send time in microseconds since the run started, padded.
fn message_text(plan: &Plan, seq: u64) -> String {
    let sent_us = plan.epoch.elapsed().as_micros() as u64;
    let mut text = format!("{sent_us}:{seq}:");
    text.extend(std::iter::repeat_n(
        'x',
        plan.size.saturating_sub(text.len()),
    ));
    text
}

fn sent_us(text: &str) -> Option<u64> {
    text.split(':').next()?.parse().ok()
}

async fn client(mut conn: Conn, plan: Plan) -> anyhow::Result<(ClientResult, Conn)> {
    let mut result = ClientResult {
        deliveries: 0,
        latency: Histogram::new(3)?,
    };
    let (mut sent, mut echoed) = (0u64, 0u64);
    let mut pacer = (plan.rate > 0)
        .then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / plan.rate as f64)));
    loop {
        let may_send = sent < plan.to_send;
        if may_send && pacer.is_none() && sent - echoed < plan.window {
            // Fill the window in one batch: one flush, one syscall.
            while sent < plan.to_send && sent - echoed < plan.window {
                conn.feed(ClientMsg::Chat {
                    text: message_text(&plan, sent),
                })
                .await?;
                sent += 1;
            }
            conn.flush().await?;
        }
        if result.deliveries >= plan.expected && echoed >= plan.to_send {
            return Ok((result, conn));
        }
        let tick = async {
            match pacer.as_mut() {
                Some(p) if may_send => {
                    p.tick().await;
                }
                _ => std::future::pending::<()>().await,
            }
        };
        let frame = tokio::select! {
            frame = timeout_at(plan.deadline, conn.next()) => frame,
            () = tick => {
                conn.send(ClientMsg::Chat { text: message_text(&plan, sent) }).await?;
                sent += 1;
                continue;
            }
        };
        let Ok(frame) = frame else {
            bail!(
                "{}: deadline passed with {} of {} deliveries",
                plan.me,
                result.deliveries,
                plan.expected
            );
        };
        match frame.context("connection closed")?? {
            ServerMsg::Chat { from, text, .. } => {
                result.deliveries += 1;
                if let Some(t) = sent_us(&text) {
                    let now = plan.epoch.elapsed().as_micros() as u64;
                    result.latency.record(now.saturating_sub(t).max(1))?;
                }
                if from == plan.me {
                    echoed += 1;
                }
            }
            ServerMsg::Ping { token } => conn.send(ClientMsg::Pong { token }).await?,
            ServerMsg::Error { kind, text } => bail!("{}: server error {kind:?}: {text}", plan.me),
            ServerMsg::Shutdown { reason } => bail!("server shut down: {reason}"),
            _ => {}
        }
    }
}
