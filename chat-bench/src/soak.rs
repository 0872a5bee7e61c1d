//! Soak: for a bounded time, bots join rooms, chat, upload and fetch small files, quit and
//! come back under new nicks. Afterwards every bot has left, and the server's open file
//! descriptors, threads and resident memory are compared with what they were before: a
//! leak of connections, tasks, files or buffers shows as a difference.
//!
//! Bots chat at a few lines a second, well inside the server's rate limit, so nothing is
//! refused; any error a bot meets is counted and reported.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use futures::SinkExt;
use serde::Serialize;
use shared::{ClientMsg, RoomEvent, ServerMsg};
use tokio::time::{Instant, timeout_at};

use crate::Target;
use crate::connect::{Conn, join};
use crate::proc_stats::{self, Holdings};
use crate::transfer::{download, next_matching, random_block, upload};

#[derive(Debug, Args)]
pub struct SoakArgs {
    #[command(flatten)]
    target: Target,
    /// How long the bots run, in seconds (at most 3600).
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Bots running at once.
    #[arg(long, default_value_t = 20)]
    bots: usize,
    /// Rooms the bots spread over.
    #[arg(long, default_value_t = 3)]
    rooms: usize,
    /// Size of each file a bot uploads, in KiB.
    #[arg(long, default_value_t = 64)]
    file_kib: u64,
    /// Chat only: no uploads or downloads, so the server keeps no new state and its
    /// memory after the soak should match the warm figure.
    #[arg(long)]
    no_files: bool,
    /// Seconds to wait after the bots left before measuring again: the runtime's idle
    /// blocking threads retire after 10 s.
    #[arg(long, default_value_t = 15)]
    settle: u64,
}

/// What the bots did.
#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Tally {
    sessions: u64,
    chats: u64,
    uploads: u64,
    downloads: u64,
    errors: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.sessions += other.sessions;
        self.chats += other.chats;
        self.uploads += other.uploads;
        self.downloads += other.downloads;
        self.errors += other.errors;
    }
}

#[derive(Debug, Serialize)]
struct Snapshot {
    holdings: Holdings,
    rss_bytes: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    seconds: u64,
    bots: usize,
    tally: Tally,
    before: Snapshot,
    warm: Snapshot,
    after: Snapshot,
    first_error: Option<String>,
}

fn snapshot(pid: u32) -> anyhow::Result<Snapshot> {
    Ok(Snapshot {
        holdings: proc_stats::holdings(pid)?,
        rss_bytes: proc_stats::sample(pid)?.rss_bytes,
    })
}

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    let addr = args.target.checked_addr()?;
    let pid = args.target.server_pid.context("soak needs --server-pid")?;
    if args.seconds > 3600 || args.bots == 0 || args.rooms == 0 {
        bail!("need --seconds of at most 3600, at least one bot and one room");
    }
    let before = snapshot(pid)?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let block = std::sync::Arc::new(random_block());
    let bots: Vec<_> = (0..args.bots)
        .map(|i| {
            let plan = BotPlan {
                addr,
                index: i,
                rooms: args.rooms,
                file_bytes: args.file_kib * 1024,
                files: !args.no_files,
                deadline,
            };
            tokio::spawn(bot(plan, std::sync::Arc::clone(&block)))
        })
        .collect();
    // The "warm" figures: a tenth of the way in, once allocator pools and the runtime's
    // threads have grown to their working size.
    tokio::time::sleep_until(start + Duration::from_secs(args.seconds / 10)).await;
    let warm = snapshot(pid)?;
    let mut tally = Tally::default();
    let mut first_error = None;
    for handle in bots {
        let (t, err) = handle.await?;
        tally.add(t);
        first_error = first_error.or(err);
    }
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let after = snapshot(pid)?;
    let report = Report {
        seconds: args.seconds,
        bots: args.bots,
        tally,
        before,
        warm,
        after,
        first_error,
    };
    print_report(&report, args.target.json)?;
    if report.after.holdings.open_fds != report.before.holdings.open_fds {
        bail!(
            "the server holds {} file descriptors after the soak, {} before",
            report.after.holdings.open_fds,
            report.before.holdings.open_fds
        );
    }
    if tally.errors > 0 {
        bail!("{} bot errors", tally.errors);
    }
    Ok(())
}

fn print_report(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    let t = &r.tally;
    println!(
        "soak: {} bots for {} s: {} sessions, {} chat lines, {} uploads, {} downloads, {} errors",
        r.bots, r.seconds, t.sessions, t.chats, t.uploads, t.downloads, t.errors
    );
    for (name, s) in [
        ("before", &r.before),
        ("warm", &r.warm),
        ("after", &r.after),
    ] {
        println!(
            "server {name:>6}: {} open fds, {} threads, {} KiB resident",
            s.holdings.open_fds,
            s.holdings.threads,
            s.rss_bytes / 1024
        );
    }
    if let Some(e) = &r.first_error {
        println!("first error: {e}");
    }
    Ok(())
}

struct BotPlan {
    addr: SocketAddr,
    index: usize,
    rooms: usize,
    file_bytes: u64,
    files: bool,
    deadline: Instant,
}

/// A small deterministic generator (SplitMix64), so that a soak can be replayed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One bot: sessions until the deadline. Returns what it did and its first error.
async fn bot(plan: BotPlan, block: std::sync::Arc<Vec<u8>>) -> (Tally, Option<String>) {
    let mut tally = Tally::default();
    let mut first_error = None;
    let mut dice = Dice(plan.index as u64 + 1);
    let run_id = std::process::id() % 10_000;
    let mut generation = 0u64;
    while Instant::now() < plan.deadline {
        generation += 1;
        let nick = format!("soak{run_id}-{}-{generation}", plan.index);
        let room = format!("soak-{}", dice.below(plan.rooms as u64));
        match session(&plan, &nick, room, &mut dice, &block, &mut tally).await {
            Ok(()) => tally.sessions += 1,
            Err(e) => {
                tally.errors += 1;
                first_error.get_or_insert_with(|| format!("{nick}: {e:#}"));
            }
        }
        pause(&mut dice, 100, 500).await;
    }
    (tally, first_error)
}

async fn pause(dice: &mut Dice, min_ms: u64, max_ms: u64) {
    let ms = min_ms + dice.below(max_ms - min_ms);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Joins, does a few things, and quits.
async fn session(
    plan: &BotPlan,
    nick: &str,
    room: String,
    dice: &mut Dice,
    block: &[u8],
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let mut conn = join(plan.addr, nick.to_string(), room).await?;
    let actions = 3 + dice.below(6);
    let mut stored: Option<(u64, Vec<u8>)> = None;
    for n in 0..actions {
        if Instant::now() >= plan.deadline {
            break;
        }
        match dice.below(10) {
            0 if plan.files => {
                let (_, file_id, sha256) = upload(&mut conn, plan.file_bytes, block).await?;
                stored = Some((file_id, sha256));
                tally.uploads += 1;
            }
            1 if stored.is_some() => {
                let (file_id, sha256) = stored.as_ref().expect("checked");
                download(&mut conn, *file_id, plan.file_bytes, sha256).await?;
                tally.downloads += 1;
            }
            _ => {
                let text = format!("{nick} says line {n}");
                conn.send(ClientMsg::Chat { text: text.clone() }).await?;
                // The echo proves the line went through the room.
                next_matching(&mut conn, |m| {
                    matches!(m, ServerMsg::Room { event: RoomEvent::Said { from, text: t, .. }, .. }
                        if from == nick && *t == text)
                })
                .await?;
                tally.chats += 1;
            }
        }
        idle(&mut conn, dice, plan.deadline).await?;
    }
    conn.send(ClientMsg::Quit {
        reason: "soak".into(),
    })
    .await?;
    Ok(())
}

/// Reads (and answers pings) for a short random while, as a member between two lines.
async fn idle(conn: &mut Conn, dice: &mut Dice, deadline: Instant) -> anyhow::Result<()> {
    let until = (Instant::now() + Duration::from_millis(200 + dice.below(300))).min(deadline);
    loop {
        match timeout_at(until, next_matching(conn, |_| true)).await {
            Err(_) => return Ok(()),
            Ok(Ok(ServerMsg::Error { kind, text })) => bail!("server error {kind:?}: {text}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}
