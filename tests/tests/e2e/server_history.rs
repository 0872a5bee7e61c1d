//! History, end to end: the real server binary on 127.0.0.1 port 0 with a real database
//! file in a data directory the test keeps, stopped with SIGTERM, killed with SIGKILL and
//! started again on it; clients speaking raw protocol 4 with the feature "history".
//!
//! The full-disk test needs root (to mount a small tmpfs); without it the test says so and
//! is skipped, except under CI, where it fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use chat_server::history::PERMITS;
use shared::limits::MAX_TEXT_BYTES;
use shared::{Anchor, ClientMsg, ErrorKind, FEATURE_HISTORY, RoomEvent, ServerMsg, Stamped};
use tests::binaries::{binary, scratch_dir};
use tests::client::{TestClient, WAIT, encode, hello, open_stream, said, says, unwrapped};
use tests::files::{random_file, upload};
use tests::history::{
    self, Poll, Server, catch_up, everything, next_id, page, refusal, search, text, texts,
};
use tests::probe::small_disk;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};

type Result = anyhow::Result<()>;

/// Long enough for the slowest wait here (the store's background work: indexing for
/// search, retention) on a loaded machine, and still a bound.
const SLOW: Duration = Duration::from_secs(30);

/// Says `text` with a request id and returns its stamped echo: (id, seq).
async fn say(client: &mut TestClient, text: &str) -> anyhow::Result<(u64, u64)> {
    let msg = ClientMsg::Chat { text: text.into() };
    let echo = client.request(next_id(), msg).await?;
    let said = said(&echo).ok_or_else(|| anyhow::anyhow!("not an echo: {echo:?}"))?;
    Ok((said.id, said.seq.expect("a version 4 echo has a seq")))
}

/// Quits, and waits until the server has closed the connection: the nick is free again.
async fn leave(client: TestClient) -> Result {
    let mut client = client;
    client
        .send(ClientMsg::Quit {
            reason: "bye".into(),
        })
        .await?;
    client.until_closed().await?;
    Ok(())
}

/// Says every text of `texts` without waiting, then waits for the echo of the last one.
async fn say_all(client: &mut TestClient, texts: &[String]) -> Result {
    for text in texts {
        client.say(text).await?;
    }
    if let Some(last) = texts.last() {
        client.recv_until(|m| says(m, last)).await?;
    }
    Ok(())
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i:04}")).collect()
}

/// The chat lines among `frames` (bare or as replies), as stored messages.
fn live(frames: &[ServerMsg]) -> Vec<Stamped> {
    frames
        .iter()
        .filter_map(|m| match unwrapped(m) {
            ServerMsg::Room {
                id,
                seq,
                time_ms,
                event: event @ RoomEvent::Said { .. },
                ..
            } => Some(Stamped {
                id: *id,
                seq: *seq,
                time_ms: *time_ms,
                event: event.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// `parts` merged by sequence number as a client merges them: each once, in order. Fails
/// if one number comes with two different messages.
fn merged(parts: &[&[Stamped]]) -> anyhow::Result<Vec<Stamped>> {
    let mut by_seq: BTreeMap<u64, Stamped> = BTreeMap::new();
    for message in parts.iter().flat_map(|p| p.iter()) {
        if let Some(known) = by_seq.get(&message.seq) {
            anyhow::ensure!(known == message, "two messages numbered {}", message.seq);
        }
        by_seq.insert(message.seq, message.clone());
    }
    Ok(by_seq.into_values().collect())
}

#[tokio::test]
async fn history_survives_a_restart_and_ids_and_numbers_go_on() -> Result {
    let data = scratch_dir("history-restart");
    let server = Server::start(&data, &["--msg-rate", "0"]).await?;
    let (mut ann, info) = history::connect(server.addr, "ann", "lobby").await?;
    // The documented defaults.
    assert_eq!(
        info,
        history::Info {
            page: 200,
            catch_up: 500,
            backlog: 50,
            search: 100,
            max_age_secs: 90 * 24 * 3600,
            max_per_room: 100_000,
        }
    );
    let mut stamps = Vec::new();
    let said_before = numbered("before the restart", 0..20);
    for text in &said_before {
        stamps.push(say(&mut ann, text).await?);
    }
    // Only the server's user may read what the database holds, its logs included.
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let file = data.join(format!("history.sqlite3{suffix}"));
        let mode = std::fs::metadata(&file)?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let status = server.stop().await?;
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let server = Server::start(&data, &[]).await?;
    let (mut bob, _) = history::connect(server.addr, "bob", "lobby").await?;
    let (last_id, last_seq) = *stamps.last().expect("said");
    assert!(
        bob.seq > last_seq,
        "the room's numbers go on: welcome {} after {last_seq}",
        bob.seq
    );
    let backlog = catch_up(&mut bob, "lobby", 0).await?;
    assert_eq!(backlog.room, "lobby");
    assert_eq!(texts(&backlog.messages), said_before, "{backlog:?}");
    assert_eq!(backlog.gap, None);
    assert!(backlog.lost.is_empty(), "{backlog:?}");
    let stored: Vec<(u64, u64)> = backlog.messages.iter().map(|m| (m.id, m.seq)).collect();
    assert_eq!(
        stored, stamps,
        "stored with the ids and numbers they were said with"
    );
    let (id, seq) = say(&mut bob, "after the restart").await?;
    assert!(
        id > last_id && seq > last_seq,
        "({id}, {seq}) after ({last_id}, {last_seq})"
    );
    Ok(())
}

/// A file id once offered in a room stays that file's: after a restart, with the file
/// itself gone from the disk, the next file gets a higher id, and the old offer is still
/// in the room's history.
#[tokio::test]
async fn file_ids_never_repeat_after_a_restart_even_when_the_file_is_gone() -> Result {
    let data = scratch_dir("history-file-ids");
    let local = tempfile::tempdir()?;
    let (small, _) = random_file(local.path(), "a.bin", 1000, 1)?;
    let server = Server::start(&data, &[]).await?;
    let (mut ann, _) = history::connect(server.addr, "ann", "lobby").await?;
    let first = upload(&mut ann, &small, "a.bin").await?;
    assert!(server.stop().await?.success());
    for entry in std::fs::read_dir(data.join("files"))? {
        std::fs::remove_file(entry?.path())?;
    }

    let server = Server::start(&data, &[]).await?;
    let (mut ann, _) = history::connect(server.addr, "ann", "lobby").await?;
    let backlog = catch_up(&mut ann, "lobby", 0).await?;
    let offered: Vec<u64> = backlog
        .messages
        .iter()
        .filter_map(|m| match &m.event {
            RoomEvent::Shared { file } => Some(file.id),
            _ => None,
        })
        .collect();
    assert_eq!(offered, [first], "{backlog:?}");
    let second = upload(&mut ann, &small, "b.bin").await?;
    assert!(second > first, "file {second} after file {first}");
    Ok(())
}

/// A raw client that floods the room with `count` chat lines and reads (and drops)
/// whatever comes back, so that it is never a slow consumer. Ends when the server goes.
async fn flood(addr: std::net::SocketAddr, nick: &str, count: usize) -> anyhow::Result<()> {
    let mut stream = open_stream(addr).await?;
    stream.write_all(&encode(hello(nick, "lobby"))).await?;
    let (mut read, mut write) = tokio::io::split(stream);
    let drain = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        while matches!(read.read(&mut buffer).await, Ok(n) if n > 0) {}
    });
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        let mut bytes = Vec::new();
        for i in chunk {
            bytes.extend(encode(ClientMsg::Chat {
                text: format!("flood {i:06}"),
            }));
        }
        if write.write_all(&bytes).await.is_err() {
            break;
        }
    }
    let _ = timeout(3 * WAIT, drain).await;
    Ok(())
}

/// `kill -9` in the middle of a flood: the database opens again, and what it holds of the
/// room is a prefix of what a member received, without a hole, short of it by at most
/// the documented bound (the permits, which count the chats waiting to be stored and
/// those being written); ids go on above every one handed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_flood_keeps_a_gap_free_prefix() -> Result {
    let data = scratch_dir("history-kill");
    // A queue that holds the whole flood: on a loaded machine the listener may fall far
    // behind the unthrottled talker, and it must hear to the end, not be cut as a slow
    // consumer, for what it heard to be compared with what was stored.
    let server = Server::start(&data, &["--msg-rate", "0", "--queue-bytes", "64MiB"]).await?;
    let addr = server.addr;
    let listener = TestClient::connect(addr, "listener", "lobby").await?;
    // The listener reads in a task until the connection dies, publishing its count.
    let (count_tx, mut count) = watch::channel(0usize);
    let reading = tokio::spawn(async move {
        let mut listener = listener;
        let mut heard: Vec<(u64, u64, String)> = Vec::new();
        let deadline = Instant::now() + 4 * SLOW;
        while Instant::now() < deadline {
            let Ok(msg) = listener.recv().await else {
                break;
            };
            if let Some(s) = said(&msg) {
                heard.push((s.id, s.seq.unwrap_or(0), s.text.to_owned()));
                count_tx.send_replace(heard.len());
            }
        }
        heard
    });
    let flooding = tokio::spawn(flood(addr, "talker", 200_000));
    // Killed once the flood is well under way: far more delivered than can be missing.
    const KILL_AFTER: usize = 12_000;
    let enough = timeout(4 * SLOW, count.wait_for(|&n| n >= KILL_AFTER))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(enough, "the listener heard only {} lines", *count.borrow());
    server.kill().await?;
    let heard = reading.await?;
    flooding.await??;

    // It opens again, and a client there reads the room's whole stored history.
    let server = Server::start(&data, &[]).await?;
    let (mut reader, _) = history::connect(server.addr, "reader", "lobby").await?;
    let (stored, lost) = everything(&mut reader, "lobby", true, 400_000).await?;
    assert!(lost.is_empty(), "a crash is no lost range: {lost:?}");
    // Of the run before (numbers below the reader's own join): gap-free.
    let before: Vec<&Stamped> = stored.iter().filter(|m| m.seq < reader.seq).collect();
    for pair in before.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "a hole after {:?}", pair[0]);
    }
    let stored_lines: Vec<(u64, u64, String)> = before
        .iter()
        .filter_map(|m| Some((m.id, m.seq, text(m)?.to_owned())))
        .collect();
    let common = stored_lines.len().min(heard.len());
    assert_eq!(
        stored_lines[..common],
        heard[..common],
        "the stored lines are the lines heard"
    );
    let missing = heard.len() - common;
    let bound = PERMITS;
    assert!(
        missing <= bound,
        "{missing} lines heard but not stored, more than {bound}"
    );
    eprintln!(
        "heard {}, stored {} lines ({missing} missing, bound {bound})",
        heard.len(),
        stored_lines.len()
    );
    let top = heard.iter().map(|h| h.0).max().unwrap_or(0);
    let (id, _) = say(&mut reader, "after the crash").await?;
    assert!(id > top, "id {id} after {top}");
    Ok(())
}

/// A client that comes back gets what it missed; one that missed more than the cap gets
/// the newest and a gap with the exact count, which pages of `Before` fill exactly.
#[tokio::test]
async fn a_returning_client_catches_up_with_an_exact_gap_it_can_fill() -> Result {
    let data = scratch_dir("history-catch-up");
    let server = Server::start(&data, &["--msg-rate", "0"]).await?;
    let mut ann = TestClient::connect(server.addr, "ann", "lobby").await?;
    let (bob, info) = history::connect(server.addr, "bob", "lobby").await?;
    let after = bob.seq;
    leave(bob).await?;

    // Fewer than the cap: all of them.
    let few = numbered("few", 0..30);
    say_all(&mut ann, &few).await?;
    let (mut bob, _) = history::connect(server.addr, "bob", "lobby").await?;
    let caught = catch_up(&mut bob, "lobby", after).await?;
    assert_eq!(texts(&caught.messages), few);
    assert_eq!(caught.gap, None);
    assert!(caught.messages.iter().all(|m| m.seq > after));
    let after = bob.seq;
    leave(bob).await?;

    // More than the cap: the newest, and the gap.
    let cap = info.catch_up as usize;
    let many = numbered("many", 0..cap + 200);
    say_all(&mut ann, &many).await?;
    let (mut bob, _) = history::connect(server.addr, "bob", "lobby").await?;
    let caught = catch_up(&mut bob, "lobby", after).await?;
    assert_eq!(texts(&caught.messages), many[200..], "the newest {cap}");
    let gap = caught.gap.expect("a gap");
    let first = caught.messages[0].seq;
    assert_eq!(gap.count, 200, "{gap:?}");
    assert!(
        after < gap.from && gap.from <= gap.to && gap.to < first,
        "{gap:?}"
    );
    assert!(caught.more_before);

    // Paging back from the first message sent fills the gap, exactly.
    let mut filled: Vec<Stamped> = Vec::new();
    let mut anchor = Anchor::Before(first);
    for _ in 0..10 {
        let page = page(&mut bob, "lobby", anchor, info.page, false).await?;
        assert!(page.messages.windows(2).all(|w| w[0].seq < w[1].seq));
        let reached = page.messages.first().is_none_or(|m| m.seq <= after);
        let mut older = page.messages;
        older.append(&mut filled);
        filled = older;
        match filled.first() {
            Some(oldest) if page.more_before && !reached => anchor = Anchor::Before(oldest.seq),
            _ => break,
        }
    }
    let in_gap: Vec<Stamped> = filled.into_iter().filter(|m| m.seq > after).collect();
    assert_eq!(texts(&in_gap), many[..200]);
    assert_eq!(in_gap.len() as u64, gap.count);
    assert!(in_gap.iter().all(|m| (gap.from..=gap.to).contains(&m.seq)));
    Ok(())
}

/// Messages said while a catch-up is asked and answered reach the client live; with the
/// catch-up, merged by number, they make the whole room once, in order, without a hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_messages_during_a_catch_up_leave_no_hole() -> Result {
    let data = scratch_dir("history-live-catch-up");
    let server = Server::start(&data, &["--msg-rate", "0"]).await?;
    let mut ann = TestClient::connect(server.addr, "ann", "lobby").await?;
    let (bob, _) = history::connect(server.addr, "bob", "lobby").await?;
    let after = bob.seq;
    leave(bob).await?;
    let missed = numbered("missed", 0..100);
    say_all(&mut ann, &missed).await?;

    let (mut bob, _) = history::connect(server.addr, "bob", "lobby").await?;
    let id = next_id();
    let ask = ClientMsg::CatchUp {
        room: "lobby".into(),
        after,
    };
    bob.send(ask.with_id(id)).await?;
    let live_texts = numbered("live", 0..50);
    say_all(&mut ann, &live_texts).await?;
    let mut frames = Vec::new();
    let mut caught = None;
    let deadline = Instant::now() + SLOW;
    while caught.is_none() || !frames.iter().any(|m| says(m, "live 0049")) {
        anyhow::ensure!(Instant::now() < deadline, "not all in time");
        let msg = bob.recv().await?;
        match msg {
            ServerMsg::Reply { id: got, msg } if got == id => match *msg {
                ServerMsg::CaughtUp { messages, gap, .. } => {
                    assert_eq!(gap, None);
                    caught = Some(messages);
                }
                other => anyhow::bail!("expected a catch-up, got {other:?}"),
            },
            other => frames.push(other),
        }
    }
    let caught = caught.expect("the catch-up");
    let live = live(&frames);
    assert!(
        live.iter().all(|m| m.seq > bob.seq),
        "live after the welcome"
    );
    let all = merged(&[&caught, &live])?;
    let mut expected = missed;
    expected.extend(live_texts);
    assert_eq!(texts(&all), expected);
    Ok(())
}

/// A first join while others talk: the backlog, then live, with no message twice and
/// none missing between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_join_gets_the_backlog_then_live_without_hole_or_duplicate() -> Result {
    let data = scratch_dir("history-backlog");
    let server = Server::start(&data, &["--msg-rate", "0"]).await?;
    let addr = server.addr;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    const COUNT: usize = 400;
    let (progress_tx, mut progress) = watch::channel(0usize);
    let talking = tokio::spawn(async move {
        for (i, text) in numbered("talk", 0..COUNT).iter().enumerate() {
            ann.say(text).await?;
            ann.recv_until(|m| says(m, text)).await?;
            progress_tx.send_replace(i + 1);
            sleep(Duration::from_millis(2)).await;
        }
        anyhow::Ok(())
    });
    timeout(SLOW, progress.wait_for(|&n| n >= 120)).await??;
    let (mut dan, info) = history::connect(addr, "dan", "lobby").await?;
    let id = next_id();
    let ask = ClientMsg::CatchUp {
        room: "lobby".into(),
        after: 0,
    };
    dan.send(ask.with_id(id)).await?;
    let mut frames = Vec::new();
    let mut backlog = None;
    let last = format!("talk {:04}", COUNT - 1);
    let deadline = Instant::now() + 2 * SLOW;
    while backlog.is_none() || !frames.iter().any(|m| says(m, &last)) {
        anyhow::ensure!(Instant::now() < deadline, "not all in time");
        match dan.recv().await? {
            ServerMsg::Reply { id: got, msg } if got == id => match *msg {
                ServerMsg::CaughtUp { messages, .. } => backlog = Some(messages),
                other => anyhow::bail!("expected the backlog, got {other:?}"),
            },
            other => frames.push(other),
        }
    }
    talking.await??;
    let backlog = backlog.expect("the backlog");
    let live = live(&frames);
    assert_eq!(
        backlog.len(),
        info.backlog as usize,
        "120 said before the join"
    );
    let all = texts(&merged(&[&backlog, &live])?);
    let first: usize = all[0]["talk ".len()..].parse()?;
    assert_eq!(all, numbered("talk", first..COUNT), "no hole, no duplicate");
    let first_live: usize = text(&live[0]).expect("a line")["talk ".len()..].parse()?;
    assert!(
        first <= first_live,
        "the backlog reaches the first live line"
    );
    Ok(())
}

#[tokio::test]
async fn search_finds_every_word_newest_first_and_takes_any_text_as_words() -> Result {
    let data = scratch_dir("history-search");
    let server = Server::start(&data, &["--msg-rate", "0"]).await?;
    let (mut ann, _) = history::connect(server.addr, "ann", "lobby").await?;
    let lines = [
        "the quick brown fox",
        "a lazy dog",
        "quick thinking",
        "fox AND hound",
        "she said \"hello\" twice",
        "nothing to see",
    ];
    let mut seqs = Vec::new();
    for line in lines {
        seqs.push(say(&mut ann, line).await?.1);
    }
    // The index follows the writes within seconds, in the order they were stored: once
    // the last line is found, every line is.
    let poll = Poll::new("the words indexed", SLOW);
    while search(&mut ann, "lobby", "nothing", 0, 10)
        .await?
        .hits
        .is_empty()
    {
        poll.next().await?;
    }
    let hits = search(&mut ann, "lobby", "quick", 0, 10).await?;
    assert_eq!(texts(&hits.hits), ["quick thinking", "the quick brown fox"]);
    assert_eq!(
        hits.hits.iter().map(|h| h.seq).collect::<Vec<_>>(),
        [seqs[2], seqs[0]]
    );
    assert!(hits.complete && !hits.more, "{hits:?}");
    let both = search(&mut ann, "LOBBY", "Quick   FOX", 0, 10).await?;
    assert_eq!(texts(&both.hits), ["the quick brown fox"], "every word");
    let words = search(&mut ann, "lobby", "AND", 0, 10).await?;
    assert_eq!(texts(&words.hits), ["fox AND hound"], "AND is a word");

    // Hostile words are words: none is a query, none breaks one.
    for hostile in [
        "\"",
        "\"hello",
        "fox OR dog",
        "NEAR(quick fox)",
        "col:umn",
        "quick*",
        "-fox",
        "^the",
        "(",
        "'); DROP TABLE messages; --",
        "\u{0}",
        "🦊",
        "",
    ] {
        let answer = ClientMsg::Search {
            room: "lobby".into(),
            words: hostile.into(),
            before: 0,
            limit: 10,
        };
        let answer = ann.request(next_id(), answer).await?;
        assert!(
            matches!(answer, ServerMsg::SearchHits { .. }),
            "{hostile:?}: {answer:?}"
        );
    }
    let or = search(&mut ann, "lobby", "fox OR dog", 0, 10).await?;
    assert!(or.hits.is_empty(), "OR is a word no line has: {or:?}");
    let quoted = search(&mut ann, "lobby", "\"hello\"", 0, 10).await?;
    assert_eq!(texts(&quoted.hits), ["she said \"hello\" twice"]);

    // One at a time, older ones with `before`; and a hit's place in the room.
    let newest = search(&mut ann, "lobby", "fox", 0, 1).await?;
    assert_eq!(texts(&newest.hits), ["fox AND hound"]);
    assert!(newest.more);
    let older = search(&mut ann, "lobby", "fox", newest.hits[0].seq, 1).await?;
    assert_eq!(texts(&older.hits), ["the quick brown fox"]);
    assert!(!older.more, "{older:?}");
    let around = page(
        &mut ann,
        "lobby",
        Anchor::Around(older.hits[0].seq),
        3,
        false,
    )
    .await?;
    assert!(
        around.messages.iter().any(|m| m.seq == older.hits[0].seq),
        "{around:?}"
    );
    assert_eq!(
        texts(&around.messages).first().map(String::as_str),
        Some("the quick brown fox"),
        "no line before it"
    );

    // Words longer than a chat line are refused, in words.
    let long = ClientMsg::Search {
        room: "lobby".into(),
        words: "x".repeat(MAX_TEXT_BYTES + 1),
        before: 0,
        limit: 10,
    };
    let answer = ann.request(next_id(), long).await?;
    assert!(
        matches!(refusal(&answer), Some((ErrorKind::TextTooLong, _))),
        "{answer:?}"
    );
    Ok(())
}

/// Waits until a client of `nick` that comes back is told it read the lobby up to
/// `expected` (marks are stored behind the messages, so this may take a moment).
async fn read_is(expected: u64, nick: &str, addr: std::net::SocketAddr) -> Result {
    let poll = Poll::new("the read marker", SLOW);
    loop {
        let (mut client, _) = history::connect(addr, nick, "lobby").await?;
        let caught = catch_up(&mut client, "lobby", 0).await?;
        leave(client).await?;
        if caught.read == expected {
            return Ok(());
        }
        poll.next().await?;
    }
}

#[tokio::test]
async fn read_markers_follow_the_nick_across_reconnects_and_restarts() -> Result {
    let data = scratch_dir("history-read");
    let server = Server::start(&data, &["--msg-rate", "0"]).await?;
    let (mut bob, _) = history::connect(server.addr, "bob", "lobby").await?;
    let mut seqs = Vec::new();
    for line in numbered("line", 0..5) {
        seqs.push(say(&mut bob, &line).await?.1);
    }
    let mark = |seq| ClientMsg::MarkRead {
        room: "lobby".into(),
        seq,
    };
    bob.send(mark(seqs[2])).await?;
    // A lower mark changes nothing.
    bob.send(mark(seqs[1])).await?;
    leave(bob).await?;

    // Back under another case of the same nick.
    read_is(seqs[2], "BOB", server.addr).await?;
    // A mark beyond the room's latest is the latest.
    let (mut bob, _) = history::connect(server.addr, "bob", "lobby").await?;
    let latest = bob.seq;
    bob.send(mark(u64::MAX)).await?;
    leave(bob).await?;
    read_is(latest, "bob", server.addr).await?;

    assert!(server.stop().await?.success());
    let server = Server::start(&data, &[]).await?;
    read_is(latest, "Bob", server.addr).await?;
    Ok(())
}

/// With a small count per room, old messages go while the room talks on; what is kept is
/// the newest.
///
/// A pass may run while the old lines are still being stored: it trims what is stored
/// then, and the lines stored after it stay until the next pass. So the test waits for a
/// pass that leaves at most the limit plus what was said during the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_count_deletes_the_oldest_while_chat_goes_on() -> Result {
    let data = scratch_dir("history-retention-count");
    let server = Server::start(&data, &["--msg-rate", "0", "--history-max-per-room", "50"]).await?;
    let (mut ann, info) = history::connect(server.addr, "ann", "lobby").await?;
    assert_eq!(info.max_per_room, 50);
    let mut bob = TestClient::connect(server.addr, "bob", "lobby").await?;
    let lines = numbered("old", 0..300);
    say_all(&mut ann, &lines).await?;
    let poll = Poll::new("the oldest deleted", SLOW);
    let mut during = 0;
    let stored = loop {
        // Chat goes on meanwhile.
        during += 1;
        let text = format!("during {during:04}");
        ann.say(&text).await?;
        bob.recv_until(|m| says(m, &text)).await?;
        let (stored, _) = everything(&mut ann, "lobby", true, 1000).await?;
        // Trimmed to 50 lines (the joins are counted apart); what was said since the last
        // pass may come on top.
        let said = texts(&stored);
        if !said.contains(&lines[0]) && said.len() <= 50 + during {
            break stored;
        }
        poll.next().await?;
    };
    let kept = texts(&stored);
    let newest = format!("during {during:04}");
    assert_eq!(kept.last(), Some(&newest), "the newest is kept");
    let old_kept: Vec<&String> = kept.iter().filter(|t| t.starts_with("old")).collect();
    assert!(
        old_kept.iter().all(|t| *t >= &lines[250]),
        "only the newest of the old lines may be left: {old_kept:?}"
    );
    Ok(())
}

/// Messages older than the maximum age are deleted; a newer one is kept. What "newer"
/// means is measured: a message asked for within the maximum age of being said must be
/// there, however slow the machine; one asked for later may have gone too (the check
/// then says so and asks nothing of it).
#[tokio::test]
async fn retention_by_age_deletes_what_is_older() -> Result {
    const MAX_AGE: Duration = Duration::from_secs(4);
    let data = scratch_dir("history-retention-age");
    let server = Server::start(&data, &["--msg-rate", "0", "--history-max-age", "4s"]).await?;
    let (mut ann, info) = history::connect(server.addr, "ann", "lobby").await?;
    assert_eq!(info.max_age_secs, MAX_AGE.as_secs());
    say_all(&mut ann, &numbered("old", 0..10)).await?;
    let poll = Poll::new("the old messages deleted", SLOW);
    while !texts(&everything(&mut ann, "lobby", true, 1000).await?.0).is_empty() {
        poll.next().await?;
    }
    let said_at = Instant::now();
    say(&mut ann, "new").await?;
    let caught = catch_up(&mut ann, "lobby", 0).await?;
    let elapsed = said_at.elapsed();
    if elapsed < MAX_AGE {
        assert_eq!(texts(&caught.messages), ["new"]);
    } else {
        eprintln!("the catch-up came {elapsed:?} after the line was said: not checked");
        assert!(texts(&caught.messages).iter().all(|t| t == "new"));
    }
    Ok(())
}

#[tokio::test]
async fn requests_about_another_room_or_without_the_feature_are_refused_in_words() -> Result {
    let data = scratch_dir("history-refused");
    let server = Server::start(&data, &[]).await?;
    let (mut ann, _) = history::connect(server.addr, "ann", "lobby").await?;
    say(&mut ann, "hello").await?;
    let requests = |room: &str| {
        [
            ClientMsg::History {
                room: room.into(),
                anchor: Anchor::Latest,
                limit: 10,
                presence: true,
            },
            ClientMsg::CatchUp {
                room: room.into(),
                after: 0,
            },
            ClientMsg::Search {
                room: room.into(),
                words: "hello".into(),
                before: 0,
                limit: 10,
            },
            ClientMsg::MarkRead {
                room: room.into(),
                seq: 1,
            },
        ]
    };
    for request in requests("dev") {
        let answer = ann.request(next_id(), request.clone()).await?;
        let Some((ErrorKind::NotInRoom, text)) = refusal(&answer) else {
            panic!("{request:?}: {answer:?}");
        };
        assert_eq!(text, "you can only ask about the room you are in, lobby");
    }
    // A name that cannot be a room's is refused for what it is, before the server makes
    // anything of it (a name may be as long as a frame).
    let long = "l".repeat(500_000);
    for (room, why) in [
        (long.as_str(), "is longer than 32 characters"),
        (
            "lob\u{1b}by",
            "holds the character U+001B, which is a control character",
        ),
    ] {
        for request in requests(room) {
            let answer = ann.request(next_id(), request.clone()).await?;
            let Some((ErrorKind::NotInRoom, text)) = refusal(&answer) else {
                panic!("{answer:?}");
            };
            assert_eq!(
                text,
                format!("the room name {why}; you can only ask about the room you are in, lobby")
            );
        }
    }
    // The room's name in any case, or a look-alike spelling, is the room.
    for room in ["LOBBY", "l\u{043E}bby"] {
        let page = page(&mut ann, room, Anchor::Latest, 10, false).await?;
        assert_eq!(
            (page.room.as_str(), texts(&page.messages)),
            ("lobby", vec!["hello".into()])
        );
    }

    // A client that did not ask for the feature is told how to get it.
    let mut old = TestClient::connect(server.addr, "old", "lobby").await?;
    for request in requests("lobby") {
        let answer = old.request(next_id(), request.clone()).await?;
        assert_eq!(
            refusal(&answer),
            Some((
                ErrorKind::NoHistory,
                "history was not granted: ask for the feature \"history\" in the hello"
            )),
            "{request:?}"
        );
    }
    // Bare, the refusal is bare.
    old.send(requests("lobby")[0].clone()).await?;
    let bare = old
        .recv_until(|m| matches!(m, ServerMsg::Error { .. } | ServerMsg::Reply { .. }))
        .await?;
    assert!(
        matches!(
            bare,
            ServerMsg::Error {
                kind: ErrorKind::NoHistory,
                ..
            }
        ),
        "{bare:?}"
    );
    Ok(())
}

/// History requests sent at once among others are answered in the order they were sent:
/// a query waits for the store before the next request is read.
#[tokio::test]
async fn answers_to_history_requests_keep_the_order_of_the_requests() -> Result {
    let data = scratch_dir("history-order");
    let server = Server::start(&data, &["--msg-rate", "0"]).await?;
    let (mut ann, _) = history::connect(server.addr, "ann", "lobby").await?;
    say_all(&mut ann, &numbered("line", 0..300)).await?;
    let room = || "lobby".to_owned();
    let requests = [
        ClientMsg::History {
            room: room(),
            anchor: Anchor::Latest,
            limit: 200,
            presence: true,
        },
        ClientMsg::Ping { token: 1 },
        ClientMsg::Search {
            room: room(),
            words: "line".into(),
            before: 0,
            limit: 100,
        },
        ClientMsg::CatchUp {
            room: room(),
            after: 0,
        },
        ClientMsg::History {
            room: "elsewhere".into(),
            anchor: Anchor::Latest,
            limit: 1,
            presence: false,
        },
        ClientMsg::Ping { token: 2 },
    ];
    let mut bytes = Vec::new();
    for (id, request) in (100..).zip(requests) {
        bytes.extend(encode(request.with_id(id)));
    }
    // One write: every request is in the server's hands before the first answer.
    ann.send_raw(&bytes).await?;
    let mut answered = Vec::new();
    while answered.len() < 6 {
        if let ServerMsg::Reply { id, msg } = ann.recv().await? {
            answered.push((id, *msg));
        }
    }
    let ids: Vec<u32> = answered.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (100..106).collect::<Vec<_>>());
    assert!(matches!(answered[0].1, ServerMsg::HistoryPage { .. }));
    assert!(matches!(answered[2].1, ServerMsg::SearchHits { .. }));
    assert!(matches!(answered[3].1, ServerMsg::CaughtUp { .. }));
    assert!(matches!(
        answered[4].1,
        ServerMsg::Error {
            kind: ErrorKind::NotInRoom,
            ..
        }
    ));
    Ok(())
}

/// The largest answers (a page of 200, a catch-up of 200 and 100 search hits, of lines of
/// 4 KiB each: most of a frame each) reach a client whose queue holds far less (the
/// default 256 KiB), asked all at once while another member talks: the asker is not taken
/// for a slow consumer, gets every answer whole and in order, and its connection goes on.
#[tokio::test]
async fn answers_larger_than_the_queue_reach_the_client_and_it_stays() -> Result {
    let data = scratch_dir("history-large-answers");
    let server = Server::start(&data, &["--msg-rate", "0"]).await?;
    let (mut ann, _) = history::connect(server.addr, "ann", "lobby").await?;
    let (_, before) = say(&mut ann, "before the long lines").await?;
    let long: Vec<String> = (0..200)
        .map(|i| {
            let mut line = format!("long {i:03} needle");
            while line.len() + " words".len() <= MAX_TEXT_BYTES {
                line.push_str(" words");
            }
            line
        })
        .collect();
    // Twenty at a time: the echoes of all of them at once would be more than ann's own
    // queue holds while it is not reading.
    for twenty in long.chunks(20) {
        say_all(&mut ann, twenty).await?;
    }
    // Searchable once the newest is: the index follows the writes in order.
    let poll = Poll::new("the long lines indexed", SLOW);
    while texts(&search(&mut ann, "lobby", "needle", 0, 1).await?.hits) != long[199..] {
        poll.next().await?;
    }
    // Joins now, so as not to be sent the long lines, which it would not read meanwhile.
    let mut bob = TestClient::connect(server.addr, "bob", "lobby").await?;

    let room = || "lobby".to_owned();
    let (page_id, catch_up_id, search_id) = (next_id(), next_id(), next_id());
    let requests = [
        ClientMsg::History {
            room: room(),
            anchor: Anchor::Latest,
            limit: 200,
            presence: false,
        }
        .with_id(page_id),
        ClientMsg::CatchUp {
            room: room(),
            after: before,
        }
        .with_id(catch_up_id),
        ClientMsg::Search {
            room: room(),
            words: "needle".into(),
            before: 0,
            limit: 100,
        }
        .with_id(search_id),
        ClientMsg::Ping { token: 7 },
    ];
    let bytes: Vec<u8> = requests.into_iter().flat_map(encode).collect();
    ann.send_raw(&bytes).await?;
    let meanwhile = numbered("meanwhile", 0..20);
    for line in &meanwhile {
        bob.say(line).await?;
    }
    let frames = ann
        .collect_until(|m| matches!(m, ServerMsg::Pong { token: 7 }))
        .await?;
    let answers: Vec<(u32, &ServerMsg)> = frames
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Reply { id, msg } => Some((*id, &**msg)),
            _ => None,
        })
        .collect();
    let ids: Vec<u32> = answers.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [page_id, catch_up_id, search_id]);
    // Bob's lines may be stamped before a request is read, and then be in its answer:
    // each answer is a stretch of everything said since `before`, up to the last long
    // line or beyond, most of a frame long.
    let all: Vec<String> = long.iter().chain(&meanwhile).cloned().collect();
    let stretch = |messages: &[Stamped]| {
        let run = texts(messages);
        let at = all.windows(run.len()).position(|w| w == run);
        assert!(
            at.is_some_and(|at| at + run.len() >= long.len()) && run.len() >= 150,
            "not the newest of what was said: {:?}",
            run.iter().map(|t| &t[..14]).collect::<Vec<_>>()
        );
        at.unwrap_or(0)
    };
    let ServerMsg::HistoryPage {
        messages,
        more_before,
        ..
    } = answers[0].1
    else {
        panic!("not a page: {:?}", answers[0].1);
    };
    stretch(messages);
    assert!(more_before);
    let ServerMsg::CaughtUp { messages, gap, .. } = answers[1].1 else {
        panic!("not a catch-up: {:?}", answers[1].1);
    };
    let skipped = stretch(messages);
    assert_eq!(gap.map_or(0, |g| g.count), skipped as u64, "{gap:?}");
    let ServerMsg::SearchHits { hits, more, .. } = answers[2].1 else {
        panic!("not search hits: {:?}", answers[2].1);
    };
    let newest_first: Vec<String> = long[100..].iter().rev().cloned().collect();
    assert_eq!((texts(hits), *more), (newest_first, true));

    // Still a member: the room's talk reaches it, and it can talk.
    let last = meanwhile.last().expect("lines");
    if !frames.iter().any(|m| says(m, last)) {
        ann.recv_until(|m| says(m, last)).await?;
    }
    say(&mut ann, "still here").await?;
    bob.recv_until(|m| says(m, "still here")).await?;
    assert!(!server.log().contains("slow consumer"), "{}", server.log());
    Ok(())
}

#[tokio::test]
async fn a_server_without_history_grants_nothing_and_writes_nothing() -> Result {
    let data = scratch_dir("history-off");
    let server = Server::start(&data, &["--no-history"]).await?;
    let mut ann = TestClient::connect_raw(server.addr).await?;
    ann.send(ClientMsg::Hello4 {
        min_version: 4,
        max_version: 4,
        features: vec![FEATURE_HISTORY.into()],
        nick: "ann".into(),
        room: "lobby".into(),
    })
    .await?;
    let welcome = ann.recv().await?;
    assert!(
        matches!(&welcome, ServerMsg::Welcome4 { features, .. } if features.is_empty()),
        "{welcome:?}"
    );
    // The next frame is the answer to a ping, no HistoryInfo.
    ann.send(ClientMsg::Ping { token: 3 }).await?;
    assert_eq!(ann.recv().await?, ServerMsg::Pong { token: 3 });
    ann.say("not kept").await?;
    ann.recv_until(|m| says(m, "not kept")).await?;
    let answer = ann
        .request(
            next_id(),
            ClientMsg::CatchUp {
                room: "lobby".into(),
                after: 0,
            },
        )
        .await?;
    assert_eq!(
        refusal(&answer),
        Some((ErrorKind::NoHistory, "this server keeps no history"))
    );
    let database = server.database();
    assert!(server.stop().await?.success());
    assert!(!database.exists(), "no database written");
    Ok(())
}

/// A version 3 client, and a version 4 client that does not ask for history, see nothing
/// of it: the frames they always got, in the order they always came.
#[tokio::test]
async fn clients_that_do_not_ask_for_history_are_unaffected() -> Result {
    let data = scratch_dir("history-old-clients");
    let server = Server::start(&data, &[]).await?;
    let mut three = TestClient::connect_v3(server.addr, "three", "lobby").await?;
    let mut four = TestClient::connect(server.addr, "four", "lobby").await?;
    four.send(ClientMsg::Ping { token: 9 }).await?;
    assert_eq!(
        four.recv().await?,
        ServerMsg::Pong { token: 9 },
        "no HistoryInfo"
    );
    four.say("hi three").await?;
    let heard = three.collect_until(|m| says(m, "hi three")).await?;
    assert!(
        heard
            .iter()
            .all(|m| matches!(m, ServerMsg::Notice { .. } | ServerMsg::Chat { .. })),
        "{heard:?}"
    );
    three.say("hi four").await?;
    let heard = four.collect_until(|m| says(m, "hi four")).await?;
    assert!(
        heard.iter().all(|m| matches!(m, ServerMsg::Room { .. })),
        "{heard:?}"
    );
    // What they said is history all the same.
    let (mut reader, _) = history::connect(server.addr, "reader", "lobby").await?;
    let caught = catch_up(&mut reader, "lobby", 0).await?;
    assert_eq!(texts(&caught.messages), ["hi three", "hi four"]);
    Ok(())
}

/// Fills `dir`'s file system: writes a file there until the disk is full (at most 64 MiB).
fn fill_disk(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("filler");
    let mut filler = std::fs::File::create(&path)?;
    let block = vec![0u8; 16 * 1024];
    for _ in 0..4096 {
        if filler
            .write_all(&block)
            .and_then(|()| filler.sync_all())
            .is_err()
        {
            break;
        }
    }
    Ok(path)
}

/// The disk fills up during a flood: chat goes on live, the server says so in one line of
/// its log, what could not be stored is told to clients as lost, and once there is room
/// again, storing resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_a_stretch_told_as_lost_and_storing_resumes() -> Result {
    let name = "a_full_disk_is_a_stretch_told_as_lost_and_storing_resumes";
    let Some(disk) = small_disk(name, "16m") else {
        return Ok(());
    };
    let data = disk.path().join("data");
    let server = Server::start(&data, &["--msg-rate", "0", "--disk-reserve", "0"]).await?;
    let (mut ann, _) = history::connect(server.addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(server.addr, "bob", "lobby").await?;
    let before = numbered("before", 0..10);
    say_all(&mut ann, &before).await?;
    let poll = Poll::new("the first lines stored", SLOW);
    while texts(
        &page(&mut ann, "lobby", Anchor::Latest, 20, false)
            .await?
            .messages,
    ) != before
    {
        poll.next().await?;
    }
    let (_, mark) = say(&mut ann, "the disk fills").await?;
    // The writer stores in batches: the mark must be on disk before the disk fills, or it
    // is rightly part of the lost stretch.
    let poll = Poll::new("the mark stored", SLOW);
    while texts(
        &page(&mut ann, "lobby", Anchor::Latest, 1, false)
            .await?
            .messages,
    ) != ["the disk fills"]
    {
        poll.next().await?;
    }

    let filler = fill_disk(disk.path())?;
    // Lines of 3 KiB: the database must grow to hold them, and cannot.
    let flood: Vec<String> = (0..600)
        .map(|i| format!("lost {i:04} {}", "x".repeat(3000)))
        .collect();
    for chunk in flood.chunks(50) {
        say_all(&mut ann, chunk).await?;
        // Chat goes on: bob hears every line.
        let last = chunk.last().expect("a chunk");
        bob.recv_until(|m| says(m, last)).await?;
    }
    let poll = Poll::new("a log line about the full disk", SLOW);
    let warned = loop {
        let log = server.log();
        if log.contains("WARN") {
            break log;
        }
        poll.next().await?;
    };
    let warnings = warned.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 3, "one line, not one per message:\n{warned}");

    std::fs::remove_file(&filler)?;
    // What is said while the writer waits to try again is lost as well; once a line is
    // stored, storing has resumed, and every later line is stored.
    let poll = Poll::new("storing resumed", SLOW);
    let mut tries = 0;
    loop {
        tries += 1;
        let text = format!("retry {tries:04}");
        say(&mut ann, &text).await?;
        let latest = page(&mut ann, "lobby", Anchor::Latest, 1, false).await?;
        if texts(&latest.messages) == [text] {
            break;
        }
        poll.next().await?;
    }
    let after = numbered("after", 0..10);
    say_all(&mut ann, &after).await?;
    let (stored, lost) = everything(&mut ann, "lobby", false, 5000).await?;
    assert!(
        texts(&stored).ends_with(&after),
        "every line after is stored"
    );
    let kept = texts(&stored);
    assert!(kept.starts_with(&before), "{kept:?}");
    assert!(!lost.is_empty(), "the lost stretch is told");
    // Every line of the flood is stored or inside a lost range.
    let flood_seqs = stored
        .iter()
        .filter(|m| text(m).is_some_and(|t| t.starts_with("lost")));
    let stored_flood: Vec<u64> = flood_seqs.map(|m| m.seq).collect();
    let missing = flood.len() - stored_flood.len();
    assert!(missing > 0, "the disk was full, yet every line was stored");
    eprintln!(
        "{missing} of {} lines not stored; stored again at try {tries}",
        flood.len()
    );
    let covered: u64 = lost.iter().map(|r| r.to - r.from + 1).sum();
    assert!(
        covered as usize >= missing,
        "{missing} missing, lost {lost:?}"
    );
    assert!(lost.iter().all(|r| r.from > mark), "{lost:?} after {mark}");
    // A catch-up over the stretch says so too.
    let caught = catch_up(&mut ann, "lobby", mark).await?;
    assert!(!caught.lost.is_empty(), "{caught:?}");
    let log = server.log();
    assert!(
        log.lines().filter(|l| l.contains("WARN")).count() <= 3,
        "{log}"
    );
    Ok(())
}

/// A file in the history's place that the server cannot use stops it at start: one line
/// on standard error, exit status 2, nothing on standard output, the file as it was.
#[tokio::test]
async fn a_database_it_cannot_use_stops_the_server_and_is_left_as_it_was() -> Result {
    let mut sqlite_garbage = b"SQLite format 3\0".to_vec();
    sqlite_garbage.extend((0..8176u32).map(|i| (i * 7 % 251) as u8));
    for content in [b"not a database\n".repeat(300), sqlite_garbage] {
        let data = scratch_dir("history-corrupt");
        let database = data.join("history.sqlite3");
        std::fs::write(&database, &content)?;
        let output = timeout(
            3 * WAIT,
            tokio::process::Command::new(binary("chat-server"))
                .args([
                    "--listen",
                    "127.0.0.1:0",
                    "--log-level",
                    "warn",
                    "--data-dir",
                ])
                .arg(&data)
                .env("XDG_CONFIG_HOME", scratch_dir("no-config"))
                .output(),
        )
        .await??;
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        assert!(output.stdout.is_empty(), "it never listened: {output:?}");
        let stderr = String::from_utf8(output.stderr)?;
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("chat-server: history database ")
                && stderr.contains(&database.display().to_string()),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&database)?, content, "the file is unchanged");
        let wal = data.join("history.sqlite3-wal");
        assert!(
            !wal.exists() || std::fs::metadata(&wal)?.len() == 0,
            "no log written"
        );
    }
    Ok(())
}
