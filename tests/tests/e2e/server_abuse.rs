//! Abuse limits of the server: the request rate, connections per address, the number of
//! rooms, look-alike nicks, and uploads that hold the quota without sending.

use std::time::Duration;

use chat_server::Config;
use futures::StreamExt;
use shared::{ClientCodec, ClientMsg, ErrorKind, ServerMsg};
use tests::client::{
    TestClient, WAIT, encode, hello, left, said, says, start_server, until_closed,
};
use tests::files::{data_files, finish_upload, random_file, send_chunks, start_upload};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::codec::FramedRead;

type Result = anyhow::Result<()>;

fn is_error(kind: ErrorKind) -> impl Fn(&ServerMsg) -> bool {
    move |m| matches!(m, ServerMsg::Error { kind: k, .. } if *k == kind)
}

fn is_left<'a>(who: &'a str, why: &'a str) -> impl Fn(&ServerMsg) -> bool + 'a {
    move |m| left(m, who, |reason| reason == why)
}

/// A flooder that reads everything it gets, so that it is cut off for its rate and not as
/// a slow consumer, against two members who chat at a normal pace: they receive all of
/// each other's messages; the flooder is warned, slowed to the rate, then disconnected,
/// and the room is told why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_is_slowed_warned_and_cut_off_while_members_chat() -> Result {
    const RATE: u32 = 50;
    const BURST: u32 = 10;
    let (addr, server) = start_server(Config {
        msg_rate: RATE,
        msg_burst: BURST,
        flood_timeout: Duration::from_millis(1500),
        ..Config::default()
    })
    .await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;

    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    write.write_all(&encode(hello("flood", "lobby"))).await?;
    // Everything the flooder receives, until the server closes its connection.
    let reader = tokio::spawn(async move {
        let mut frames = FramedRead::new(read, ClientCodec::default());
        let mut seen = Vec::new();
        while let Ok(Some(Ok(msg))) = timeout(4 * WAIT, frames.next()).await {
            seen.push(msg);
        }
        seen
    });
    let started = Instant::now();
    // Writes small chats as fast as the socket takes them, until the server cuts it off.
    let writer = tokio::spawn(async move {
        let deadline = Instant::now() + 4 * WAIT;
        for i in 0..1_000_000u32 {
            let frame = encode(ClientMsg::Chat {
                text: format!("flood {i}"),
            });
            match timeout(WAIT, write.write_all(&frame)).await {
                Ok(Ok(())) if Instant::now() < deadline => {}
                _ => return i,
            }
        }
        u32::MAX
    });
    ann.recv_until(|m| said(m).is_some_and(|s| s.from == "flood"))
        .await?;

    // Ann and Bob talk, each line answered, until the flooder is gone; each waits for the
    // other's line, so nothing of theirs is lost. Bounded by the number of rounds.
    // Flood messages each of the two received (Ann's first one above).
    let mut flood_seen = [1usize, 0];
    // Whether each has seen the flooder leave: everything before that notice reaches both,
    // in the same order, so that is where their counts are compared.
    let mut left_seen = [false; 2];
    let mut gone = false;
    let mut rounds = 0;
    while !gone && rounds < 200 {
        for forward in [true, false] {
            let (from, to) = if forward {
                (&mut ann, &mut bob)
            } else {
                (&mut bob, &mut ann)
            };
            let text = format!("{} round {rounds}", from.nick);
            from.say(&text).await?;
            let frames = to.collect_until(|m| says(m, &text)).await?;
            flood_seen[usize::from(forward)] += flood_lines(&frames);
            let left = frames.iter().any(is_left("flood", "flooding"));
            left_seen[usize::from(forward)] |= left;
            gone |= left;
        }
        rounds += 1;
        sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the flooder was not cut off after {rounds} rounds");
    // The one that has not read as far as the notice yet reads on to it.
    for (seen, left, client) in [(0, left_seen[0], &mut ann), (1, left_seen[1], &mut bob)] {
        if !left {
            let frames = client.collect_until(is_left("flood", "flooding")).await?;
            flood_seen[seen] += flood_lines(&frames);
        }
    }
    let elapsed = started.elapsed();

    let sent = writer.await?;
    let seen = reader.await?;
    let errors: Vec<&ServerMsg> = seen
        .iter()
        .filter(|m| matches!(m, ServerMsg::Error { .. }))
        .collect();
    // A warning when the slowing started (again if the flooder paused long enough to
    // count as rested), and one with the disconnection.
    let Some((ServerMsg::Error { text: cut, .. }, warnings)) = errors.split_last() else {
        panic!("no errors: {seen:?}");
    };
    assert!(cut.contains("disconnected"), "{cut}");
    assert!(!warnings.is_empty(), "{errors:?}");
    assert!(
        errors.iter().all(|m| is_error(ErrorKind::RateLimited)(m)),
        "{errors:?}"
    );
    assert!(
        warnings
            .iter()
            .all(|m| matches!(m, ServerMsg::Error { text, .. } if text.contains("slows you down"))),
        "{errors:?}"
    );
    assert!(
        matches!(seen.last(), Some(ServerMsg::Error { .. })),
        "the error is last"
    );
    // The token bucket's own bound: no more than the burst and the rate for the time the
    // flood lasted got through, while the flooder wrote many more.
    let allowed = f64::from(BURST) + f64::from(RATE) * elapsed.as_secs_f64() + 1.0;
    let [to_ann, to_bob] = flood_seen;
    assert_eq!(to_ann, to_bob, "both received the same flood");
    assert!(
        (to_bob as f64) <= allowed,
        "{to_bob} flood messages in {elapsed:?}"
    );
    assert!(sent as usize > to_bob, "the flooder was held back");
    assert_eq!(ann.who().await?, ["ann", "bob"]);
    server.shutdown().await
}

#[tokio::test]
async fn a_burst_within_the_limit_is_not_warned() -> Result {
    let (addr, server) = start_server(Config {
        msg_burst: 20,
        ..Config::default()
    })
    .await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    for i in 0..20 {
        ann.say(&format!("line {i}")).await?;
    }
    let frames = ann.collect_until(|m| says(m, "line 19")).await?;
    assert!(!frames.iter().any(is_error(ErrorKind::RateLimited)));
    // The 21st and later wait, are warned once, and still arrive.
    for i in 20..25 {
        ann.say(&format!("line {i}")).await?;
    }
    let frames = ann.collect_until(|m| says(m, "line 24")).await?;
    let warnings = frames
        .iter()
        .filter(|m| is_error(ErrorKind::RateLimited)(m))
        .count();
    assert_eq!(warnings, 1, "{frames:?}");
    server.shutdown().await
}

#[tokio::test]
async fn connections_per_address_are_capped() -> Result {
    let (addr, server) = start_server(Config {
        max_connections_per_ip: 3,
        ..Config::default()
    })
    .await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let bob = TestClient::connect(addr, "bob", "lobby").await?;
    let _cy = TestClient::connect_raw(addr).await?;
    let fourth = TcpStream::connect(addr).await?;
    let seen = until_closed(fourth).await?;
    assert!(
        matches!(
            seen.as_slice(),
            [ServerMsg::Error { kind: ErrorKind::ServerFull, text }] if text.contains("your address")
        ),
        "{seen:?}"
    );
    // Chat goes on, and a slot comes back once a connection has closed.
    drop(bob);
    ann.recv_until(is_left("bob", "connection closed")).await?;
    let mut again = None;
    for _ in 0..50 {
        if let Ok(client) = TestClient::connect(addr, "dee", "lobby").await {
            again = Some(client);
            break;
        }
        sleep(Duration::from_millis(20)).await;
    }
    let mut dee = again.expect("the slot came free");
    dee.say("back").await?;
    ann.recv_until(|m| says(m, "back")).await?;
    server.shutdown().await
}

#[tokio::test]
async fn rooms_beyond_the_maximum_are_refused_with_a_reason() -> Result {
    let (addr, server) = start_server(Config {
        max_rooms: 2,
        ..Config::default()
    })
    .await;
    let mut ann = TestClient::connect(addr, "ann", "one").await?;
    let _bob = TestClient::connect(addr, "bob", "two").await?;
    // A hello for a third room is refused, and the connection closed.
    let mut cy = TestClient::connect_raw(addr).await?;
    cy.send(hello("cy", "three")).await?;
    let seen = cy.until_closed().await?;
    assert!(
        matches!(
            seen.as_slice(),
            [ServerMsg::Error { kind: ErrorKind::InvalidRoom, text }] if text.contains("maximum")
        ),
        "{seen:?}"
    );
    // An existing room is fine; a join to a new one is refused and changes nothing.
    let _cy = TestClient::connect(addr, "cy", "ONE").await?;
    ann.send(ClientMsg::Join {
        room: "four".into(),
    })
    .await?;
    ann.recv_until(is_error(ErrorKind::InvalidRoom)).await?;
    assert_eq!(ann.who().await?, ["ann", "cy"]);
    server.shutdown().await
}

#[tokio::test]
async fn look_alike_nicks_are_taken() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    // Cyrillic о, Greek ο, fullwidth letters, Cyrillic capitals.
    for nick in [
        "b\u{043E}b",
        "b\u{03BF}b",
        "\u{FF42}\u{FF4F}\u{FF42}",
        "\u{0412}\u{041E}\u{0412}",
    ] {
        let mut client = TestClient::connect_raw(addr).await?;
        client.send(hello(nick, "lobby")).await?;
        let seen = client.until_closed().await?;
        assert!(
            matches!(
                seen.as_slice(),
                [ServerMsg::Error {
                    kind: ErrorKind::NickTaken,
                    ..
                }]
            ),
            "{nick:?}: {seen:?}"
        );
    }
    // Renaming to a look-alike of someone else's nick is refused too.
    let mut eve = TestClient::connect(addr, "eve", "lobby").await?;
    eve.send(ClientMsg::Nick {
        nick: "B\u{043E}B".into(),
    })
    .await?;
    eve.recv_until(is_error(ErrorKind::NickTaken)).await?;
    assert_eq!(bob.who().await?, ["bob", "eve"]);
    server.shutdown().await
}

#[tokio::test]
async fn a_private_message_to_an_impossible_nick_is_not_echoed() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let to = format!("\u{1b}[2J{}", "x".repeat(4000));
    ann.send(ClientMsg::Private {
        to,
        text: "hi".into(),
    })
    .await?;
    let error = ann.recv_until(is_error(ErrorKind::NoSuchNick)).await?;
    let ServerMsg::Error { text, .. } = error else {
        unreachable!()
    };
    assert!(text.len() < 100 && !text.contains('\u{1b}'), "{text:?}");
    server.shutdown().await
}

/// How many of `frames` are the flooder's chat lines.
fn flood_lines(frames: &[ServerMsg]) -> usize {
    frames
        .iter()
        .filter(|m| said(m).is_some_and(|s| s.from == "flood"))
        .count()
}

fn upload_failed(m: &ServerMsg) -> Option<(u64, ErrorKind)> {
    match tests::client::unwrapped(m) {
        ServerMsg::UploadFailed {
            upload_id, kind, ..
        } => Some((*upload_id, *kind)),
        _ => None,
    }
}

/// Uploads that reserve the whole quota and send nothing, from connections that stay up:
/// a second one from the same address is refused outright, the first fails once it has
/// sent nothing for the stall limit and gives its space back; an upload that trickles a
/// byte at a time fails the same way, while one that sends a chunk every while, slower
/// than the limit as a whole, is stored.
#[tokio::test]
async fn uploads_that_send_nothing_give_the_quota_back() -> Result {
    const CHUNK: u64 = shared::limits::MAX_CHUNK_BYTES as u64;
    let stall = Duration::from_secs(1);
    let (data, local) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (addr, server) = start_server(Config {
        data_dir: data.path().to_path_buf(),
        max_file_size: 4 * CHUNK,
        quota: 4 * CHUNK,
        upload_stall: stall,
        ..Config::default()
    })
    .await;
    let mut hog = TestClient::connect(addr, "hog", "lobby").await?;
    let mut hog2 = TestClient::connect(addr, "hog2", "lobby").await?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let t0 = Instant::now();
    let held = start_upload(&mut hog, "hog.bin", 4 * CHUNK).await?;
    let held = held.expect("a lone upload may take the whole quota");
    // The address already holds the quota: a second connection from it is refused.
    let (kind, text) = start_upload(&mut hog2, "hog2.bin", 4 * CHUNK)
        .await?
        .unwrap_err();
    assert_eq!(kind, ErrorKind::QuotaExceeded, "{text}");
    let (path, sha) = random_file(local.path(), "a.bin", 3 * CHUNK, 7)?;
    let (kind, _) = start_upload(&mut ann, "a.bin", 3 * CHUNK)
        .await?
        .unwrap_err();
    assert_eq!(kind, ErrorKind::QuotaExceeded);
    // The hog answers pings (the test client does) but sends no data: dropped.
    let failed = hog.recv_until(|m| upload_failed(m).is_some()).await?;
    assert_eq!(
        upload_failed(&failed),
        Some((held.upload_id, ErrorKind::Timeout))
    );
    assert!(t0.elapsed() >= stall, "dropped before the limit");
    assert!(data_files(data.path()).is_empty());
    // A byte at a time is not progress either.
    let trickle = start_upload(&mut hog2, "t.bin", 4 * CHUNK).await?;
    let trickle = trickle.expect("the quota is free again");
    let trickled = async {
        for offset in 0..20 {
            let chunk = ClientMsg::UploadChunk {
                upload_id: trickle.upload_id,
                offset,
                data: vec![0],
            };
            hog2.send(chunk).await?;
            sleep(stall / 10).await;
        }
        hog2.recv_until(|m| upload_failed(m).is_some()).await
    };
    let failed = trickled.await?;
    assert_eq!(
        upload_failed(&failed),
        Some((trickle.upload_id, ErrorKind::Timeout))
    );
    // A chunk every 0.4 s, 1.2 s in all: slower than the limit, but never stalled.
    let accepted = start_upload(&mut ann, "a.bin", 3 * CHUNK).await?;
    let accepted = accepted.expect("the quota is free again");
    for i in 0..3 {
        sleep(stall * 2 / 5).await;
        let (from, to) = (i * CHUNK, (i + 1) * CHUNK);
        send_chunks(&mut ann, accepted.upload_id, &path, from, to, |_, _| {}).await?;
    }
    let stored = finish_upload(&mut ann, accepted.upload_id, &sha).await?;
    assert!(stored.is_ok(), "{stored:?}");
    server.shutdown().await
}
