//! History through the client library: a program on `chat_client` that keeps a
//! [`Timeline`] as the crate's documentation says (catch up after every welcome, live
//! messages, answers matched by request id, forget at a disconnect), against the real
//! server with its database, over links the test cuts and holds down.

use std::collections::HashMap;
use std::net::SocketAddr;

use anyhow::{Context, bail, ensure};
use chat_client::shared::{ClientMsg, ErrorKind, RoomEvent, ServerMsg, Stamped};
use chat_client::timeline::{Config, Item, Request, Timeline};
use chat_client::{Client, Event, Options};
use chat_server::Config as ServerConfig;
use tempfile::TempDir;
use tests::client::{ServerHandle, TestClient, WAIT, says, start_server};
use tests::library::{PipeRelay, until};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

type Result = anyhow::Result<()>;

/// A server with history in a data directory of its own (kept while the returned one
/// lives), no request rate (the tests talk fast), and bob in `ops`.
async fn server_with_bob(
    history: bool,
) -> anyhow::Result<(TempDir, SocketAddr, ServerHandle, TestClient)> {
    let data = tempfile::tempdir()?;
    let config = ServerConfig {
        data_dir: data.path().to_path_buf(),
        history,
        msg_rate: 0,
        ..ServerConfig::default()
    };
    let (addr, server) = start_server(config).await;
    let bob = TestClient::connect(addr, "bob", "ops").await?;
    Ok((data, addr, server, bob))
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i:04}")).collect()
}

/// Bob says every text, then waits for the echo of the last one (so that all are stamped).
async fn say_all(bob: &mut TestClient, texts: &[String]) -> Result {
    for text in texts {
        bob.say(text).await?;
    }
    if let Some(last) = texts.last() {
        bob.recv_until(|m| says(m, last)).await?;
    }
    Ok(())
}

fn text(m: &Stamped) -> Option<&str> {
    match &m.event {
        RoomEvent::Said { text, .. } => Some(text),
        _ => None,
    }
}

/// A program on the library that reads one room's history: its timeline, fed as the
/// crate's documentation says.
struct Reader {
    client: Client,
    events: mpsc::Receiver<Event>,
    timeline: Timeline,
    asked: HashMap<u32, Request>,
    next_id: u32,
    /// The welcome's sequence number, until `HistoryInfo` says history is granted.
    entry: Option<u64>,
    /// Every event, for the failures' messages and the checks on what came.
    seen: Vec<Event>,
}

impl Reader {
    async fn connect(
        relay: &PipeRelay,
        addr: SocketAddr,
        nick: &str,
        config: Config,
    ) -> anyhow::Result<Self> {
        let options = Options {
            addr: addr.to_string(),
            nick: nick.into(),
            room: "ops".into(),
        };
        let (client, events, welcome) = chat_client::connect_with(relay.clone(), options).await?;
        Ok(Self {
            client,
            events,
            timeline: Timeline::new(&welcome.room, config),
            asked: HashMap::new(),
            next_id: 1,
            entry: Some(welcome.seq),
            seen: Vec::new(),
        })
    }

    fn ask(&mut self, request: Request) {
        let id = self.next_id;
        self.next_id += 1;
        self.client.send(request.message().with_id(id));
        self.asked.insert(id, request);
    }

    fn handle(&mut self, event: &Event) {
        match event {
            Event::Server(ServerMsg::HistoryInfo { .. }) => {
                if let Some(seq) = self.entry.take() {
                    let catch_up = self.timeline.entered(seq);
                    self.ask(catch_up);
                }
            }
            Event::Server(ServerMsg::Room {
                id,
                seq,
                time_ms,
                room,
                event,
            }) if *room == self.timeline.room() => {
                self.timeline.live(Stamped {
                    id: *id,
                    seq: *seq,
                    time_ms: *time_ms,
                    event: event.clone(),
                });
            }
            Event::Server(ServerMsg::Reply { id, msg }) => {
                if let Some(request) = self.asked.remove(id) {
                    self.timeline.answered(&request, msg.as_ref().clone());
                }
            }
            Event::Disconnected { .. } => {
                self.timeline.left();
                self.asked.clear();
            }
            Event::Reconnected(welcome) => self.entry = Some(welcome.seq),
            _ => {}
        }
    }

    /// Handles events until `done` holds of the timeline, within [`WAIT`].
    async fn until(&mut self, what: &str, done: impl Fn(&Timeline) -> bool) -> Result {
        let deadline = Instant::now() + WAIT;
        while !done(&self.timeline) {
            let event = timeout_at(deadline, self.events.recv())
                .await
                .with_context(|| format!("not {what} in time; events: {:?}", self.seen))?
                .with_context(|| format!("the session ended before {what}"))?;
            self.handle(&event);
            self.seen.push(event);
        }
        Ok(())
    }

    /// Handles events until one satisfies `pred` (that one too), within [`WAIT`].
    async fn until_event(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Result {
        let deadline = Instant::now() + WAIT;
        loop {
            let event = timeout_at(deadline, self.events.recv())
                .await
                .with_context(|| format!("no {what} in time; events: {:?}", self.seen))?
                .with_context(|| format!("the session ended before {what}"))?;
            self.handle(&event);
            let done = pred(&event);
            self.seen.push(event);
            if done {
                return Ok(());
            }
        }
    }

    /// Waits until nothing asked is unanswered.
    async fn settle(&mut self) -> Result {
        self.until("answered", |t| !t.loading()).await?;
        ensure!(self.asked.is_empty(), "answers missing: {:?}", self.asked);
        Ok(())
    }

    /// Asks `request`, if any, and waits for its answer.
    async fn load(&mut self, request: Option<Request>) -> anyhow::Result<bool> {
        let Some(request) = request else {
            return Ok(false);
        };
        self.ask(request);
        self.settle().await?;
        Ok(true)
    }

    /// The texts of the messages held, in order.
    fn texts(&self) -> Vec<String> {
        self.timeline
            .messages()
            .filter_map(text)
            .map(str::to_owned)
            .collect()
    }
}

/// A client cut off while more than a catch-up holds was said comes back to the newest,
/// the gap marker with the exact count of what it did not get, and no hole: scrolling to
/// the gap fills it, and then the room reads whole, once, in order.
#[tokio::test]
async fn a_client_back_from_a_cut_sees_the_newest_and_the_gap_it_fills_by_scrolling() -> Result {
    let (_data, addr, server, mut bob) = server_with_bob(true).await?;
    let relay = PipeRelay::default();
    let config = Config {
        capacity: 5000,
        page: 200,
        presence: false,
    };
    let mut alice = Reader::connect(&relay, addr, "alice", config).await?;
    alice
        .until("caught up at the first join", |t| {
            t.caught_up_to() > 0 && !t.loading()
        })
        .await?;
    let before = numbered("before", 0..10);
    say_all(&mut bob, &before).await?;
    alice
        .until("the live lines", |t| {
            t.messages().rev().find_map(text) == Some("before 0009")
        })
        .await?;

    relay.down();
    alice
        .until_event("the disconnect", |e| {
            matches!(e, Event::Disconnected { .. })
        })
        .await?;
    let cap = chat_server::history::DEFAULT_CATCH_UP_CAP as usize;
    let missed = numbered("missed", 0..cap + 150);
    say_all(&mut bob, &missed).await?;
    relay.up();
    alice
        .until_event("the reconnect", |e| matches!(e, Event::Reconnected(_)))
        .await?;
    alice
        .until("caught up after the reconnect", |t| {
            t.messages().rev().find_map(text) == Some(missed.last().unwrap().as_str())
                && !t.loading()
        })
        .await?;

    // Before, then the gap of exactly what the catch-up did not send, then the newest.
    let items = alice.timeline.items();
    assert_eq!(items.first(), Some(&Item::Beginning), "{items:?}");
    let gaps: Vec<&Item> = items
        .iter()
        .filter(|i| matches!(i, Item::NotLoaded { .. }))
        .collect();
    assert!(
        matches!(
            gaps.as_slice(),
            [Item::NotLoaded {
                count: Some(150),
                loading: false,
                ..
            }]
        ),
        "{gaps:?}"
    );
    let expected: Vec<String> = before.iter().chain(&missed[150..]).cloned().collect();
    assert_eq!(alice.texts(), expected);

    // Scrolled to the gap from below: its page is asked, it is loading, then filled.
    let first_after = alice
        .timeline
        .messages()
        .find(|m| text(m) == Some("missed 0150"))
        .map(|m| m.seq)
        .context("the first message after the gap")?;
    let request = alice
        .timeline
        .older(first_after)
        .context("a request for the gap")?;
    assert!(
        alice
            .timeline
            .items()
            .iter()
            .any(|i| matches!(i, Item::NotLoaded { loading: true, .. })),
        "the gap shows it is loading"
    );
    alice.load(Some(request)).await?;
    assert!(
        !alice
            .timeline
            .items()
            .iter()
            .any(|i| matches!(i, Item::NotLoaded { .. })),
        "{:?}",
        alice.timeline.items()
    );
    let whole: Vec<String> = before.iter().chain(&missed).cloned().collect();
    assert_eq!(alice.texts(), whole);
    assert_eq!(
        alice.timeline.older(first_after),
        None,
        "nothing left to load"
    );

    alice.client.finish().await;
    server.shutdown().await
}

/// Scrolling a long room with a small window: up to the beginning and back down, every
/// message is seen once, in order, while the timeline never holds more than its window
/// and drops what is far from the view (which loads again when the view comes back).
#[tokio::test]
async fn scrolling_to_the_top_and_back_sees_every_message_once_within_a_bounded_window() -> Result {
    let (_data, addr, server, mut bob) = server_with_bob(true).await?;
    let said = numbered("line", 0..2500);
    say_all(&mut bob, &said).await?;
    let relay = PipeRelay::default();
    let config = Config {
        capacity: 450,
        page: 200,
        presence: false,
    };
    let mut alice = Reader::connect(&relay, addr, "alice", config).await?;
    alice
        .until("caught up at the first join", |t| {
            t.caught_up_to() > 0 && !t.loading()
        })
        .await?;
    // The backlog: the newest messages, and older ones not loaded.
    assert!(matches!(
        alice.timeline.items().first(),
        Some(Item::NotLoaded { count: None, .. })
    ));

    let mut up: Vec<String> = Vec::new();
    let mut view = u64::MAX;
    for _ in 0..100 {
        alice.timeline.set_view(Some(view));
        let above = alice.timeline.held_above(view);
        let stretch: Vec<&Stamped> = alice
            .timeline
            .messages()
            .rev()
            .filter(|m| m.seq < view)
            .take(above)
            .collect();
        up.extend(stretch.iter().filter_map(|m| text(m)).map(str::to_owned));
        view = stretch.last().map_or(view, |m| m.seq);
        alice.timeline.set_view(Some(view));
        ensure!(
            alice.timeline.len() <= 450,
            "the window holds {}",
            alice.timeline.len()
        );
        let request = alice.timeline.older(view);
        if !alice.load(request).await? {
            break;
        }
    }
    up.reverse();
    assert_eq!(up, said, "scrolling up");
    assert_eq!(alice.timeline.items().first(), Some(&Item::Beginning));
    // What was far below the view was dropped, and is remembered as not loaded.
    assert!(
        alice
            .timeline
            .items()
            .iter()
            .any(|i| matches!(i, Item::NotLoaded { count: Some(_), .. })),
        "the newest were dropped"
    );

    let mut down: Vec<String> = Vec::new();
    let mut at = 0;
    for _ in 0..100 {
        alice.timeline.set_view(Some(at.max(1)));
        let below = alice.timeline.held_below(at);
        let stretch: Vec<&Stamped> = alice
            .timeline
            .messages()
            .filter(|m| m.seq > at)
            .take(below)
            .collect();
        down.extend(stretch.iter().filter_map(|m| text(m)).map(str::to_owned));
        at = stretch.last().map_or(at, |m| m.seq);
        alice.timeline.set_view(Some(at.max(1)));
        let request = alice.timeline.newer(at);
        if !alice.load(request).await? {
            break;
        }
    }
    assert_eq!(down, said, "scrolling down");
    alice.client.finish().await;
    server.shutdown().await
}

/// History requests are not kept while disconnected: after the reconnect, what was asked
/// meanwhile is not answered (the program asks again from its timeline), while a line
/// typed meanwhile is sent.
#[tokio::test]
async fn history_requests_made_while_disconnected_are_not_sent_after_the_reconnect() -> Result {
    let (_data, addr, server, mut bob) = server_with_bob(true).await?;
    let relay = PipeRelay::default();
    let mut alice = Reader::connect(&relay, addr, "alice", Config::default()).await?;
    alice
        .until("caught up at the first join", |t| {
            t.caught_up_to() > 0 && !t.loading()
        })
        .await?;

    relay.down();
    alice
        .until_event("the disconnect", |e| {
            matches!(e, Event::Disconnected { .. })
        })
        .await?;
    alice.client.send(
        ClientMsg::History {
            room: "ops".into(),
            anchor: chat_client::shared::Anchor::Latest,
            limit: 5,
            presence: false,
        }
        .with_id(900),
    );
    alice.client.send(ClientMsg::Chat {
        text: "typed while away".into(),
    });
    relay.up();
    until(&mut alice.events, "the reconnect", |e| {
        matches!(e, Event::Reconnected(_))
    })
    .await?;
    // Answers come in the order of the requests: one asked now comes after any answer to
    // what was kept.
    alice.client.send(ClientMsg::Who.with_id(902));
    let mut seen = Vec::new();
    until(&mut alice.events, "the answer to 902", |e| {
        seen.push(e.clone());
        matches!(e, Event::Server(ServerMsg::Reply { id: 902, .. }))
    })
    .await?;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Server(ServerMsg::Reply { id: 900, .. }))),
        "{seen:?}"
    );
    bob.recv_until(|m| says(m, "typed while away")).await?;
    alice.client.finish().await;
    server.shutdown().await
}

/// The read marker goes to the server and comes back to the next session of the nick:
/// the timeline places it after the last message read and counts what followed.
#[tokio::test]
async fn the_read_marker_comes_back_to_the_next_session_with_the_unread_count() -> Result {
    let (_data, addr, server, mut bob) = server_with_bob(true).await?;
    let relay = PipeRelay::default();
    let mut alice = Reader::connect(&relay, addr, "alice", Config::default()).await?;
    alice
        .until("caught up at the first join", |t| {
            t.caught_up_to() > 0 && !t.loading()
        })
        .await?;
    let read = numbered("read", 0..5);
    say_all(&mut bob, &read).await?;
    alice
        .until("the lines", |t| {
            t.messages().rev().find_map(text) == Some("read 0004")
        })
        .await?;
    let last = alice
        .timeline
        .messages()
        .last()
        .map(|m| m.seq)
        .context("a message")?;
    let mark = alice.timeline.mark_read(last).context("a marker to send")?;
    assert_eq!(
        mark,
        ClientMsg::MarkRead {
            room: "ops".into(),
            seq: last
        }
    );
    alice.client.send(mark);
    assert_eq!(alice.timeline.mark_read(last), None, "sent once");
    // Answers come in order: once this one is back, the marker was taken.
    alice.client.send(ClientMsg::Who.with_id(77));
    until(&mut alice.events, "the answer to 77", |e| {
        matches!(e, Event::Server(ServerMsg::Reply { id: 77, .. }))
    })
    .await?;
    alice.client.send(ClientMsg::Quit {
        reason: String::new(),
    });
    alice.client.finish().await;

    let unread = numbered("unread", 0..3);
    say_all(&mut bob, &unread).await?;
    let mut again = Reader::connect(&relay, addr, "alice", Config::default()).await?;
    again
        .until("caught up", |t| t.caught_up_to() > 0 && !t.loading())
        .await?;
    assert_eq!(again.timeline.read(), last);
    assert_eq!(again.timeline.unread(), 3);
    let items = again.timeline.items();
    let at = items
        .iter()
        .position(|i| matches!(i, Item::ReadMarker { unread: 3 }))
        .with_context(|| format!("no read marker in {items:?}"))?;
    assert!(matches!(items[at - 1], Item::Message(m) if m.seq == last));
    assert!(matches!(items[at + 1], Item::Message(m) if text(m) == Some("unread 0000")));
    again.client.finish().await;
    server.shutdown().await
}

/// A server without history grants nothing: no `HistoryInfo` follows the welcome, chat
/// goes on as before, and a history request is refused in words.
#[tokio::test]
async fn a_server_without_history_works_as_before_and_refuses_history_in_words() -> Result {
    let (_data, addr, server, mut bob) = server_with_bob(false).await?;
    let relay = PipeRelay::default();
    let options = Options {
        addr: addr.to_string(),
        nick: "alice".into(),
        room: "ops".into(),
    };
    let (alice, mut events, _) = chat_client::connect_with(relay.clone(), options).await?;
    alice.send(ClientMsg::Chat {
        text: "no history here".into(),
    });
    bob.recv_until(|m| says(m, "no history here")).await?;
    alice.send(
        ClientMsg::CatchUp {
            room: "ops".into(),
            after: 0,
        }
        .with_id(5),
    );
    let mut seen = Vec::new();
    let answer = until(&mut events, "the answer to 5", |e| {
        seen.push(e.clone());
        matches!(e, Event::Server(ServerMsg::Reply { id: 5, .. }))
    })
    .await?;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Server(ServerMsg::HistoryInfo { .. }))),
        "{seen:?}"
    );
    let Event::Server(ServerMsg::Reply { msg, .. }) = answer else {
        bail!("not a reply: {answer:?}");
    };
    match *msg {
        ServerMsg::Error {
            kind: ErrorKind::NoHistory,
            text,
        } => assert!(text.contains("history") && !text.contains('{'), "{text}"),
        other => bail!("not refused: {other:?}"),
    }
    alice.finish().await;
    server.shutdown().await
}
