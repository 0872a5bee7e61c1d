//! Idle: hold N connections joined to rooms and measure what they cost the server.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use crate::Target;
use crate::link::{Link, Protocol, connect_links};
use crate::proc_stats;

#[derive(Debug, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    target: Target,
    /// Connections to hold.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Rooms to spread them over.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Seconds to hold the connections after they all joined (at most 600).
    #[arg(long, default_value_t = 3)]
    hold: u64,
    /// The protocol the server speaks: `irc` measures a reference IRC server.
    #[arg(long, value_enum, default_value_t = Protocol::Chat)]
    protocol: Protocol,
}

#[derive(Debug, Serialize)]
struct Report {
    connections: usize,
    rooms: usize,
    server_rss_before_bytes: Option<u64>,
    server_rss_after_bytes: Option<u64>,
    server_anon_rss_before_bytes: Option<u64>,
    server_anon_rss_after_bytes: Option<u64>,
    /// Growth of the server's anonymous resident memory per connection: what the
    /// connections cost, without the code pages that serving the first one brings in.
    bytes_per_connection: Option<f64>,
    /// Growth of the whole resident memory per connection, code pages included.
    rss_bytes_per_connection: Option<f64>,
    /// Time to open every connection, have it joined and the join notices drained.
    connect_ms: u128,
}

pub async fn run(args: IdleArgs) -> anyhow::Result<()> {
    let addr = args.target.checked_addr()?;
    if args.rooms == 0 || args.hold > 600 {
        bail!("need at least one room and --hold of at most 600 s");
    }
    let before = args.target.server_pid.map(proc_stats::sample).transpose()?;
    let run_id = std::process::id() % 10_000;
    let rooms = args.rooms;
    let started = std::time::Instant::now();
    let conns = connect_links(
        args.protocol,
        addr,
        args.connections,
        |i| format!("idle{run_id}-{i}"),
        |i| format!("idle-{}", i % rooms),
    )
    .await?;
    let connect_ms = started.elapsed().as_millis();
    // The join notices have drained (see `connect_links`); keep answering pings while holding.
    let holders: Vec<_> = conns.into_iter().map(|c| tokio::spawn(hold(c))).collect();
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let after = args.target.server_pid.map(proc_stats::sample).transpose()?;
    for h in &holders {
        h.abort();
    }
    let report = Report {
        connections: args.connections,
        rooms,
        server_rss_before_bytes: before.map(|s| s.rss_bytes),
        server_rss_after_bytes: after.map(|s| s.rss_bytes),
        server_anon_rss_before_bytes: before.map(|s| s.anon_rss_bytes),
        server_anon_rss_after_bytes: after.map(|s| s.anon_rss_bytes),
        bytes_per_connection: before.zip(after).map(|(b, a)| {
            (a.anon_rss_bytes as f64 - b.anon_rss_bytes as f64) / args.connections as f64
        }),
        rss_bytes_per_connection: before
            .zip(after)
            .map(|(b, a)| (a.rss_bytes as f64 - b.rss_bytes as f64) / args.connections as f64),
        connect_ms,
    };
    if args.target.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "idle: {} connections in {} rooms",
            report.connections, report.rooms
        );
        match (
            report.server_rss_before_bytes,
            report.server_rss_after_bytes,
        ) {
            (Some(b), Some(a)) => println!(
                "server RSS: {} KiB before, {} KiB after ({:.0} bytes per connection); \
                 anonymous: {:.0} bytes per connection",
                b / 1024,
                a / 1024,
                report.rss_bytes_per_connection.unwrap_or_default(),
                report.bytes_per_connection.unwrap_or_default()
            ),
            _ => println!("pass --server-pid to measure the server's memory"),
        }
    }
    Ok(())
}

/// Keeps a connection alive: reads everything, answers pings.
async fn hold(mut link: Link) -> anyhow::Result<()> {
    while link.next().await?.is_some() {}
    Ok(())
}
