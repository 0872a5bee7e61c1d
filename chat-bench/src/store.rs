//! `store`: the history store alone, without a network: how fast the writer stores, how
//! long search indexing takes to catch up, how long pages, searches and catch-ups take on
//! a large history, how many bytes of database a message costs, and how long opening it
//! takes after a clean stop and after a crash (when the whole file is checked).
//!
//! Messages are stamped as the registry stamps them (ids across rooms, sequence numbers
//! per room, one in twenty a join, the last one talk) with 6 to 14 words drawn from a vocabulary of 2,000, and
//! recorded through the same calls the server makes, permits included. The database goes
//! in a directory of its own, removed at the end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chat_server::history::{History, HistorySettings};
use clap::Args;
use hdrhistogram::Histogram;
use serde::Serialize;
use shared::{Anchor, ChatKind, RoomEvent, ServerMsg, Stamped};

use crate::latency::{Percentiles, percentiles};

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Messages to store (at most 10,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Rooms they are spread over.
    #[arg(long, default_value_t = 10)]
    rooms: u64,
    /// Queries of each kind to time (at most 100,000).
    #[arg(long, default_value_t = 2000)]
    queries: u64,
    /// Directory to create the database in (a new directory under it, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    messages: u64,
    rooms: u64,
    /// Messages stored per second, recording to committed.
    writes_per_sec: f64,
    /// From the last message committed until search finds it.
    index_catch_up_ms: u64,
    /// A page of 100 before a random message, talk only (µs).
    page_100_us: Percentiles,
    /// A search of one word, 50 hits at most (µs).
    search_1_word_us: Percentiles,
    /// A search of two words (µs).
    search_2_words_us: Percentiles,
    /// Searches stopped by the deadline.
    searches_incomplete: u64,
    /// A first join's backlog (catch-up after 0, 50 messages) (µs).
    backlog_us: Percentiles,
    /// A catch-up after missing 10,000 messages of the room: the newest 500 and the gap (µs).
    catch_up_10000_us: Percentiles,
    /// Database bytes per message, after a clean stop.
    bytes_per_message: f64,
    /// Opening the database again after a clean stop (no integrity check).
    reopen_ms: u64,
    /// Opening it after a stop that was not clean: its whole-file integrity check included.
    reopen_after_crash_ms: u64,
}

/// The vocabulary: 2,000 pronounceable words, always the same.
fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "da", "fo", "gu", "ha", "je", "ko",
        "pa", "qui", "ri", "su", "zo",
    ];
    let mut words = Vec::with_capacity(2000);
    'outer: for a in SYLLABLES {
        for b in SYLLABLES {
            for c in SYLLABLES {
                words.push(format!("{a}{b}{c}"));
                if words.len() == 2000 {
                    break 'outer;
                }
            }
        }
    }
    words
}

/// xorshift64: reproducible and cheap, so that generating texts costs little beside
/// storing them.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Removes the database's directory when the run ends, however it ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    if !(1..=10_000_000).contains(&args.messages) || !(1..=10_000).contains(&args.rooms) {
        bail!("--messages must be 1 to 10,000,000 and --rooms 1 to 10,000");
    }
    if !(1..=100_000).contains(&args.queries) {
        bail!("--queries must be 1 to 100,000");
    }
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("chat-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let _cleanup = Cleanup(dir.clone());
    let path = dir.join("history.sqlite3");
    let settings = HistorySettings {
        max_age: None,
        max_per_room: None,
        ..HistorySettings::new(&path)
    };
    let (history, _) = History::open(settings.clone())?;
    let words = vocabulary();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let rooms: Vec<String> = (0..args.rooms).map(|r| format!("room{r}")).collect();
    let mut seqs = vec![0u64; rooms.len()];

    // Writes: recorded as the registry records, committed by the writer.
    let start = Instant::now();
    for id in 1..=args.messages {
        let r = (id % args.rooms) as usize;
        seqs[r] += 1;
        let event = if id % 20 == 0 && id != args.messages {
            RoomEvent::Joined {
                nick: format!("user{}", rng.below(500)),
            }
        } else {
            let n = 6 + rng.below(9);
            let mut text = String::with_capacity(64);
            for i in 0..n {
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(&words[rng.below(words.len() as u64) as usize]);
            }
            if id == args.messages {
                text.push_str(" endmarker");
            }
            RoomEvent::Said {
                from: format!("user{}", rng.below(500)),
                kind: ChatKind::Say,
                text,
            }
        };
        let msg = Stamped {
            id,
            seq: seqs[r],
            time_ms: now_ms(),
            event,
        };
        let permit = match msg.event {
            RoomEvent::Said { .. } => Some(history.admit().await),
            _ => None,
        };
        history.record(&rooms[r], rooms[r].clone(), msg, permit);
    }
    let last_room = (args.messages % args.rooms) as usize;
    // A page waits until everything recorded is committed.
    history
        .page(
            &rooms[last_room],
            &rooms[last_room],
            Anchor::Latest,
            1,
            true,
        )
        .await?;
    let write_time = start.elapsed();
    let stored = Instant::now();
    loop {
        let hits = history
            .search(&rooms[last_room], &rooms[last_room], "endmarker", 0, 1)
            .await?;
        if matches!(hits, ServerMsg::SearchHits { ref hits, .. } if !hits.is_empty()) {
            break;
        }
        if stored.elapsed() > Duration::from_secs(300) {
            bail!("search indexing did not catch up in 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let index_catch_up = stored.elapsed();

    let mut pages = histogram();
    let mut search1 = histogram();
    let mut search2 = histogram();
    let mut backlog = histogram();
    let mut catch_up = histogram();
    let mut incomplete = 0;
    for _ in 0..args.queries {
        let r = rng.below(args.rooms) as usize;
        let room = &rooms[r];
        let before = 1 + rng.below(seqs[r]);
        let t = Instant::now();
        history
            .page(room, room, Anchor::Before(before), 100, false)
            .await?;
        record(&mut pages, t);

        let one = &words[rng.below(words.len() as u64) as usize];
        let t = Instant::now();
        let hits = history.search(room, room, one, 0, 50).await?;
        record(&mut search1, t);
        incomplete += u64::from(matches!(
            hits,
            ServerMsg::SearchHits {
                complete: false,
                ..
            }
        ));
        let two = format!("{one} {}", words[rng.below(words.len() as u64) as usize]);
        let t = Instant::now();
        let hits = history.search(room, room, &two, 0, 50).await?;
        record(&mut search2, t);
        incomplete += u64::from(matches!(
            hits,
            ServerMsg::SearchHits {
                complete: false,
                ..
            }
        ));

        let t = Instant::now();
        history.catch_up(room, room, 0, "someone").await?;
        record(&mut backlog, t);
        let t = Instant::now();
        history
            .catch_up(room, room, seqs[r].saturating_sub(10_000), "someone")
            .await?;
        record(&mut catch_up, t);
    }
    history.close().await;
    let bytes = std::fs::metadata(&path)?.len()
        + std::fs::metadata(dir.join("history.sqlite3-wal")).map_or(0, |m| m.len());
    let t = Instant::now();
    let (again, _) = History::open(settings.clone())?;
    let reopen = t.elapsed();
    again.close().await;
    // As a crash leaves it: the clean-stop mark not set.
    rusqlite::Connection::open(&path)?
        .execute("UPDATE meta SET value = 0 WHERE key = 'clean'", [])
        .context("mark the database as after a crash")?;
    let t = Instant::now();
    let (again, resume) = History::open(settings)?;
    let reopen_after_crash = t.elapsed();
    again.close().await;
    if resume.clean {
        bail!("the database was not opened as after a crash");
    }

    let report = Report {
        messages: args.messages,
        rooms: args.rooms,
        writes_per_sec: args.messages as f64 / write_time.as_secs_f64(),
        index_catch_up_ms: index_catch_up.as_millis() as u64,
        page_100_us: percentiles(&pages),
        search_1_word_us: percentiles(&search1),
        search_2_words_us: percentiles(&search2),
        searches_incomplete: incomplete,
        backlog_us: percentiles(&backlog),
        catch_up_10000_us: percentiles(&catch_up),
        bytes_per_message: bytes as f64 / args.messages as f64,
        reopen_ms: reopen.as_millis() as u64,
        reopen_after_crash_ms: reopen_after_crash.as_millis() as u64,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "store: {} messages in {} rooms: {:.0} stored/s; search caught up {} ms after the last",
            report.messages, report.rooms, report.writes_per_sec, report.index_catch_up_ms
        );
        let line = |what: &str, p: &Percentiles| {
            println!(
                "  {what:<28} p50 {:>6} µs  p99 {:>6} µs  max {:>6} µs",
                p.p50, p.p99, p.max
            );
        };
        line("page of 100", &report.page_100_us);
        line("search, one word", &report.search_1_word_us);
        line("search, two words", &report.search_2_words_us);
        line("backlog of a join (50)", &report.backlog_us);
        line("catch-up, 10,000 missed", &report.catch_up_10000_us);
        println!(
            "  searches out of time: {}; {:.0} bytes of database per message",
            report.searches_incomplete, report.bytes_per_message
        );
        println!(
            "  reopened in {} ms after a clean stop, in {} ms after a crash (checked whole)",
            report.reopen_ms, report.reopen_after_crash_ms
        );
    }
    Ok(())
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant figures is valid")
}

fn record(h: &mut Histogram<u64>, since: Instant) {
    let _ = h.record(since.elapsed().as_micros() as u64);
}
