//! The server's limits at work: slow consumers, keepalive, the connection cap, shutdown.

use std::time::Duration;

use chat_server::Config;
use shared::limits::MAX_TEXT_BYTES;
use shared::{ClientMsg, ErrorKind, RoomEvent, ServerMsg};
use tests::client::{
    TestClient, WAIT, encode, hello, left, notice, said, start_server, until_closed,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

type Result = anyhow::Result<()>;

fn is_left<'a>(who: &'a str, why: &'a str) -> impl Fn(&ServerMsg) -> bool + 'a {
    move |m| left(m, who, |reason| reason == why)
}

/// Texts of the chats in `frames`, with a check that their ids increase.
fn chat_texts(frames: &[ServerMsg]) -> Vec<String> {
    let mut last_id = 0;
    frames
        .iter()
        .filter_map(|m| match said(m) {
            Some(line) => {
                assert!(line.id > last_id, "ids must increase");
                last_id = line.id;
                Some(line.text.to_owned())
            }
            None => None,
        })
        .collect()
}

/// How far a reading client may fall behind the sender in these tests: 8 texts of 4 KiB,
/// an eighth of the 256 KiB queue, so that a client that reads is never the slow one even
/// when the test machine is starved of CPU; the client that does not read is cut off all
/// the same.
const MAX_LAG: usize = 8;

/// Waits until a reader reports having seen `count` chats. Fails if it stopped reading.
async fn reader_caught_up(progress: &mut watch::Receiver<usize>, count: usize) -> bool {
    let caught_up = progress.wait_for(|&seen| seen >= count);
    matches!(timeout(WAIT, caught_up).await, Ok(Ok(_)))
}

/// A reading task: the client back and everything it read.
type Reading = JoinHandle<anyhow::Result<(TestClient, Vec<ServerMsg>)>>;

/// Reads in a task, publishing how many chats it has seen, until `done` says so.
fn read_chats(
    mut client: TestClient,
    mut done: impl FnMut(&ServerMsg, usize) -> bool + Send + 'static,
) -> (watch::Receiver<usize>, Reading) {
    let (progress, watch) = watch::channel(0);
    let task = tokio::spawn(async move {
        let mut frames = Vec::new();
        let mut chats = 0;
        loop {
            let msg = client.recv().await?;
            if said(&msg).is_some() {
                chats += 1;
                progress.send_replace(chats);
            }
            let finished = done(&msg, chats);
            frames.push(msg);
            if finished {
                return Ok((client, frames));
            }
        }
    });
    (watch, task)
}

/// A big message, so that the kernel's socket buffers of a client that does not read
/// fill in a bounded number of messages.
fn big_text(i: usize) -> String {
    let mut text = format!("{i:05} ");
    text.push_str(&"x".repeat(MAX_TEXT_BYTES - text.len()));
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_cut_off_while_the_room_gets_everything() -> Result {
    let (addr, server) = start_server(Config {
        queue_bytes: 256 * 1024,
        // The point is the queue, not the rate: senders here are as fast as they can be.
        msg_rate: 0,
        ..Config::default()
    })
    .await;
    let mut talker = TestClient::connect(addr, "talker", "lobby").await?;
    let listener = TestClient::connect(addr, "listener", "lobby").await?;
    // Logs in, then never reads its socket again.
    let sleeper = TestClient::connect(addr, "sleeper", "lobby").await?;
    talker.recv_until(|m| notice(m).is_some()).await?;

    // 2000 messages of 4 KiB: 8 MiB, more than the sleeper's socket buffers hold. The
    // talker waits for its own echo each time, and for the listener to keep up.
    const MESSAGES: usize = 2000;
    let (mut progress, listening) = read_chats(listener, |_, chats| chats == MESSAGES);
    let mut cut_off_after = None;
    for i in 0..MESSAGES {
        assert!(
            reader_caught_up(&mut progress, i.saturating_sub(MAX_LAG)).await,
            "the listener stopped reading"
        );
        talker.say(&big_text(i)).await?;
        let prefix = format!("{i:05} ");
        let frames = talker
            .collect_until(|m| said(m).is_some_and(|s| s.text.starts_with(&prefix)))
            .await?;
        if frames.iter().any(is_left("sleeper", "slow consumer")) {
            cut_off_after.get_or_insert(i);
        }
    }
    assert!(cut_off_after.is_some(), "the sleeper was never cut off");

    // The listener got every message, in order, and saw the sleeper go.
    let (mut listener, frames) = listening.await??;
    let expected: Vec<String> = (0..MESSAGES).map(big_text).collect();
    assert!(
        chat_texts(&frames) == expected,
        "the listener missed messages"
    );
    assert!(frames.iter().any(is_left("sleeper", "slow consumer")));
    assert_eq!(listener.who().await?, ["listener", "talker"]);

    // The sleeper's connection is closed: what it finally reads ends in end of stream,
    // and holds fewer messages than were sent.
    let leftovers = sleeper.until_closed().await?;
    assert!(chat_texts(&leftovers).len() < MESSAGES);
    // Its nick is free.
    TestClient::connect(addr, "sleeper", "lobby").await?;
    server.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_that_never_reads_is_cut_off_and_the_others_see_the_same_messages() -> Result {
    let (addr, server) = start_server(Config {
        queue_bytes: 256 * 1024,
        // The point is the queue, not the rate: senders here are as fast as they can be.
        msg_rate: 0,
        ..Config::default()
    })
    .await;
    let a = TestClient::connect(addr, "ann", "lobby").await?;
    let b = TestClient::connect(addr, "bob", "lobby").await?;
    // A small receive buffer, so that the flooder's side fills after a few messages.
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut flooder = socket.connect(addr).await?;
    flooder.write_all(&encode(hello("flood", "lobby"))).await?;
    let gone = |m: &ServerMsg, _: usize| is_left("flood", "slow consumer")(m);
    let (mut a_progress, a) = read_chats(a, gone);
    let (mut b_progress, b) = read_chats(b, gone);

    // Sends without ever reading, until the server cuts it off: a write fails, or the
    // readers stop because they saw it go. At most 5000 messages of 4 KiB.
    let mut sent: usize = 0;
    while sent < 5000 {
        let target = sent.saturating_sub(MAX_LAG);
        if !reader_caught_up(&mut a_progress, target).await
            || !reader_caught_up(&mut b_progress, target).await
        {
            break;
        }
        let frame = encode(ClientMsg::Chat {
            text: big_text(sent),
        });
        if flooder.write_all(&frame).await.is_err() {
            break;
        }
        sent += 1;
    }

    let (mut a, a_frames) = a.await??;
    let (_b, b_frames) = b.await??;
    let a_texts = chat_texts(&a_frames);
    assert!(!a_texts.is_empty(), "some of the flood went out");
    assert!(a_texts.len() < 5000, "the flooder was cut off");
    assert!(
        a_texts == chat_texts(&b_frames),
        "both saw the same messages"
    );
    assert_eq!(a.who().await?, ["ann", "bob"]);
    server.shutdown().await
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_dropped_and_its_nick_freed() -> Result {
    let (addr, server) = start_server(Config {
        ping_interval: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(800),
        ..Config::default()
    })
    .await;
    // The watcher answers pings (TestClient does while it reads), so it stays.
    let mut watcher = TestClient::connect(addr, "watcher", "lobby").await?;
    let mut quiet = TestClient::connect(addr, "quiet", "lobby").await?;
    quiet.auto_pong = false;
    let logged_in = Instant::now();

    // The watcher keeps reading (and answering) while the quiet one is timed out.
    let (seen, left) = tokio::join!(
        quiet.until_closed(),
        watcher.recv_until(is_left("quiet", "timed out"))
    );
    let (seen, _) = (seen?, left?);
    let silent_for = logged_in.elapsed();
    assert!(
        matches!(
            seen.as_slice(),
            [
                ..,
                ServerMsg::Ping { .. },
                ServerMsg::Error {
                    kind: ErrorKind::Timeout,
                    ..
                }
            ]
        ),
        "{seen:?}"
    );
    assert!(
        silent_for >= Duration::from_millis(800),
        "dropped after {silent_for:?}"
    );

    // The watcher, older than the idle timeout by now, is still there because it
    // answered; the quiet one's nick is free.
    let again = TestClient::connect(addr, "quiet", "lobby").await?;
    assert_eq!(again.members, ["quiet", "watcher"]);
    server.shutdown().await
}

#[tokio::test]
async fn a_connection_over_the_cap_is_told_the_server_is_full() -> Result {
    let (addr, server) = start_server(Config {
        max_connections: 2,
        ..Config::default()
    })
    .await;
    let mut a = TestClient::connect(addr, "ann", "lobby").await?;
    let b = TestClient::connect(addr, "bob", "lobby").await?;
    let third = TcpStream::connect(addr).await?;
    let seen = until_closed(third).await?;
    assert!(
        matches!(
            seen.as_slice(),
            [ServerMsg::Error {
                kind: ErrorKind::ServerFull,
                ..
            }]
        ),
        "{seen:?}"
    );

    // A slot comes free once a connection has fully closed.
    drop(b);
    a.recv_until(is_left("bob", "connection closed")).await?;
    let mut again = None;
    for _ in 0..50 {
        if let Ok(client) = TestClient::connect(addr, "cy", "lobby").await {
            again = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the slot never came free");
    server.shutdown().await
}

#[tokio::test]
async fn shutdown_tells_every_client_then_closes() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let a = TestClient::connect(addr, "ann", "lobby").await?;
    let b = TestClient::connect(addr, "bob", "den").await?;
    // Connected but not logged in yet: told too.
    let pending = TestClient::connect_raw(addr).await?;
    // Let the server accept the pending connection before it stops.
    let mut probe = TestClient::connect(addr, "probe", "x").await?;
    probe.who().await?;

    let started = Instant::now();
    server.shutdown().await?;
    assert!(
        started.elapsed() < WAIT,
        "shutdown took {:?}",
        started.elapsed()
    );

    let shutdown = ServerMsg::Shutdown {
        reason: "server shutting down".into(),
    };
    for client in [a, b, pending] {
        let seen = client.until_closed().await?;
        assert_eq!(seen.last(), Some(&shutdown), "{seen:?}");
        // Nothing about the others leaving: the shutdown is the last word.
        assert!(
            !seen
                .iter()
                .any(|m| matches!(notice(m), Some((_, RoomEvent::Left { .. })))),
            "{seen:?}"
        );
    }
    // The listener is closed.
    assert!(TcpStream::connect(addr).await.is_err());
    Ok(())
}
