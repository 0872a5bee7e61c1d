//! Fan-out: `senders` of the `clients` say `messages` each in their room; every member of
//! the room must receive every message (the sender too, through our server's echo; IRC
//! servers do not echo).
//!
//! Each message carries the microsecond it was sent, so receivers measure end-to-end latency
//! against the same clock. A sender keeps at most `window` of its messages in flight (sent
//! but not yet seen by its witness), or sends at a fixed `rate`. A sender's witness is the
//! sender itself where the server echoes, and otherwise the first member of its room that
//! does not send: in both cases, a message is no longer in flight once the server has
//! passed it to a member of the room.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::{Barrier, Notify};

use crate::Target;
use crate::latency::{Percentiles, percentiles};
use crate::link::{Link, Protocol, connect_links};
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
    /// The protocol the server speaks: `irc` measures a reference IRC server.
    #[arg(long, value_enum, default_value_t = Protocol::Chat)]
    protocol: Protocol,
}

#[derive(Debug, Serialize)]
struct Report {
    protocol: &'static str,
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
    let nick = |i: usize| format!("bench{run_id}-{i}");
    let echoes = args.protocol.echoes();
    let witness = witnesses(args.clients, args.senders, rooms, echoes)?;
    let links = connect_links(args.protocol, addr, args.clients, nick, |i| {
        format!("bench-{}", i % rooms)
    })
    .await?;

    let senders_in_room = |room: usize| (0..args.senders).filter(|s| s % rooms == room).count();
    // What client `i` receives: every message said in its room, but its own where the
    // server does not echo.
    let expected_by = |i: usize| {
        let heard = senders_in_room(i % rooms) - usize::from(!echoes && i < args.senders);
        heard as u64 * args.messages
    };
    let acks = Arc::new(Acks::new(args.senders));
    // Every client task is running before the first message is sent, so that the first
    // messages do not measure the generator starting its tasks.
    let ready = Arc::new(Barrier::new(links.len() + 1));
    let epoch = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut tasks = Vec::with_capacity(links.len());
    for (i, link) in links.into_iter().enumerate() {
        let plan = Plan {
            me: nick(i),
            index: i,
            to_send: if i < args.senders { args.messages } else { 0 },
            expected: expected_by(i),
            witnessed: (0..args.senders)
                .filter(|&s| witness[s] == i)
                .map(|s| (nick(s), s))
                .collect(),
            acks: Arc::clone(&acks),
            window: args.window,
            rate: args.rate,
            size: args.size,
            epoch,
            deadline,
        };
        let ready = Arc::clone(&ready);
        tasks.push(tokio::spawn(async move {
            ready.wait().await;
            client(link, plan).await
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
    let expected: u64 = (0..args.clients).map(expected_by).sum();
    let report = Report {
        protocol: if echoes { "chat" } else { "irc" },
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
        "fanout ({}): {} clients, {} senders x {} msgs of {} B, window {}, rate {}/s, {} rooms",
        r.protocol, r.clients, r.senders, r.messages_per_sender, r.size, r.window, r.rate, r.rooms
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

/// Who sees each sender's messages go round: `witness[s]` is the client whose receipts
/// count as sender `s`'s acknowledgements. Where the server echoes, that is the sender
/// itself; otherwise the first member of its room that does not send.
fn witnesses(
    clients: usize,
    senders: usize,
    rooms: usize,
    echoes: bool,
) -> anyhow::Result<Vec<usize>> {
    (0..senders)
        .map(|s| {
            if echoes {
                return Ok(s);
            }
            // Client `i` is in room `i % rooms`.
            (s % rooms..clients)
                .step_by(rooms)
                .find(|&i| i >= senders)
                .with_context(|| {
                    format!(
                        "room {} has no member that does not send, to witness its messages",
                        s % rooms
                    )
                })
        })
        .collect()
}

/// How many of each sender's messages its witness has received, and a wake-up for the
/// sender when that count grows.
struct Acks {
    received: Vec<AtomicU64>,
    wake: Vec<Notify>,
}

impl Acks {
    fn new(senders: usize) -> Self {
        Acks {
            received: (0..senders).map(|_| AtomicU64::new(0)).collect(),
            wake: (0..senders).map(|_| Notify::new()).collect(),
        }
    }
}

/// What one client does in a fan-out run.
struct Plan {
    me: String,
    index: usize,
    to_send: u64,
    expected: u64,
    /// The senders (nick, index) whose messages this client acknowledges.
    witnessed: Vec<(String, usize)>,
    acks: Arc<Acks>,
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

async fn client(mut link: Link, plan: Plan) -> anyhow::Result<(ClientResult, Link)> {
    let mut result = ClientResult {
        deliveries: 0,
        latency: Histogram::new(3)?,
    };
    let mut sent = 0u64;
    let acked = || match plan.to_send {
        0 => 0,
        _ => plan.acks.received[plan.index].load(Ordering::Acquire),
    };
    let mut pacer = (plan.rate > 0)
        .then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / plan.rate as f64)));
    // One timer for the whole run: a timeout around every read would register and cancel
    // a timer per delivery, a sixth of the generator's time.
    let deadline = tokio::time::sleep_until(plan.deadline);
    tokio::pin!(deadline);
    loop {
        let may_send = sent < plan.to_send;
        if may_send && pacer.is_none() && sent - acked() < plan.window {
            // Fill the window in one batch: one flush, one syscall.
            while sent < plan.to_send && sent - acked() < plan.window {
                link.feed(message_text(&plan, sent)).await?;
                sent += 1;
            }
            link.flush().await?;
        }
        if result.deliveries >= plan.expected && acked() >= plan.to_send {
            return Ok((result, link));
        }
        let tick = async {
            match pacer.as_mut() {
                Some(p) if may_send => {
                    p.tick().await;
                }
                _ => std::future::pending::<()>().await,
            }
        };
        // A witness in another task tells a sender that its messages went round.
        let witnessed_elsewhere = async {
            match plan.to_send {
                0 => std::future::pending().await,
                _ => plan.acks.wake[plan.index].notified().await,
            }
        };
        let heard = tokio::select! {
            heard = link.next() => heard,
            () = tick => {
                link.feed(message_text(&plan, sent)).await?;
                link.flush().await?;
                sent += 1;
                continue;
            }
            () = witnessed_elsewhere => continue,
            () = &mut deadline => bail!(
                "{}: deadline passed with {} of {} deliveries",
                plan.me,
                result.deliveries,
                plan.expected
            ),
        };
        let heard = heard
            .with_context(|| plan.me.clone())?
            .context("connection closed")?;
        result.deliveries += 1;
        if let Some(t) = sent_us(&heard.text) {
            let now = plan.epoch.elapsed().as_micros() as u64;
            result.latency.record(now.saturating_sub(t).max(1))?;
        }
        if let Some(&(_, s)) = plan.witnessed.iter().find(|(n, _)| *n == heard.from) {
            plan.acks.received[s].fetch_add(1, Ordering::Release);
            if s != plan.index {
                plan.acks.wake[s].notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_witnesses_itself_where_the_server_echoes() {
        assert_eq!(
            witnesses(100, 10, 1, true).unwrap(),
            (0..10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn otherwise_the_first_member_of_its_room_that_does_not_send_witnesses() {
        // One room: every sender's witness is client 10.
        assert_eq!(witnesses(100, 10, 1, false).unwrap(), vec![10; 10]);
        // 100 rooms of 10, one sender each: sender s is witnessed by s + 100, its room's
        // next member.
        let w = witnesses(1000, 100, 100, false).unwrap();
        assert!(w.iter().enumerate().all(|(s, &i)| i == s + 100));
        // Every member of a room sends: nobody is left to witness.
        assert!(witnesses(4, 4, 2, false).is_err());
    }
}
