//! A line typed into a link that froze (no RST, no FIN): shown as pending at once, the dead
//! link noticed within the client's bound for an unanswered line, and after the reconnect
//! the line delivered exactly once, whether the server got it late (the frozen link thawed)
//! or never (the link cut with the line still in it).

use std::time::{Duration, Instant};

use chat_client::keepalive::{ANSWER_TIMEOUT, ANSWER_WAIT};
use chat_client::{Event, Options};
use shared::{ClientMsg, ServerMsg};
use tests::history;
use tests::proxy::CutProxy;
use tests::tmux::{ServerProcess, Tmux};
use tokio::time::timeout;

/// How long after the line the dead link must be noticed: the documented bound, with room
/// for a loaded machine.
fn notice_bound() -> Duration {
    ANSWER_WAIT + ANSWER_TIMEOUT + Duration::from_secs(6)
}

/// Longest wait for a reconnect after the link is back: a backoff of at most 10 s, an
/// attempt that hung on the frozen link (5 s), one refused while the old connection still
/// held the nick.
const RECONNECT_WAIT: Duration = Duration::from_secs(40);

/// Waits, at most `within`, until the screen of `name` satisfies `ready`.
fn wait_within(
    tmux: &Tmux,
    name: &str,
    what: &str,
    within: Duration,
    ready: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let screen = tmux.screen(name);
        if ready(&screen) {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "window {name}: timed out ({within:?}) waiting for {what}; the screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// alice behind the proxy, bob straight to the server; the link frozen and a line typed.
/// Returns once alice has noticed the dead link, the line still shown as pending.
fn type_into_a_frozen_link(test: &str, line: &str) -> (ServerProcess, CutProxy, Tmux) {
    let server = ServerProcess::start();
    let proxy = CutProxy::start(server.addr).unwrap();
    let mut tmux = Tmux::new(test);
    tmux.join("alice", proxy.addr, "alice", &[]);
    tmux.join("bob", server.addr, "bob", &[]);
    tmux.wait_for("alice", "bob joined #lobby");
    tmux.say("alice", "before the freeze");
    tmux.wait_for("bob", "<alice> before the freeze");

    proxy.freeze();
    let typed = Instant::now();
    tmux.say("alice", line);
    // Shown at once, marked as on its way; not lost from the screen.
    tmux.wait_for("alice", &format!("<alice> {line} (sending…)"));
    wait_within(
        &tmux,
        "alice",
        "the dead link noticed",
        notice_bound(),
        |s| s.contains("connection lost: no answer from the server"),
    );
    let noticed = typed.elapsed();
    assert!(
        noticed <= notice_bound(),
        "the dead link took {noticed:?} to notice"
    );
    assert!(
        tmux.screen("alice").contains(&format!("{line} (sending…)")),
        "the line must stay shown as pending:\n{}",
        tmux.screen("alice")
    );
    assert!(
        !tmux.screen("bob").contains(line),
        "nothing passed the frozen link"
    );
    (server, proxy, tmux)
}

/// Back, alice shows the line as sent, and bob sees it exactly once.
fn delivered_once(tmux: &Tmux, line: &str) {
    wait_within(tmux, "alice", "the reconnect", RECONNECT_WAIT, |s| {
        s.contains("reconnected: #lobby as alice")
    });
    wait_within(
        tmux,
        "alice",
        "the line shown as sent",
        RECONNECT_WAIT,
        |s| s.contains(&format!("<alice> {line}")) && !s.contains("(sending…)"),
    );
    tmux.wait_for("bob", &format!("<alice> {line}"));
    // A second copy would follow the first within the client's pace; wait past it.
    std::thread::sleep(Duration::from_secs(2));
    let bob = tmux.screen("bob");
    assert_eq!(bob.matches(line).count(), 1, "bob's screen:\n{bob}");
    let alice = tmux.screen("alice");
    assert_eq!(alice.matches(line).count(), 1, "alice's screen:\n{alice}");
    assert!(!alice.contains("not confirmed"), "{alice}");
}

/// The server gets the line late, when the link thaws: after the reconnect the client finds
/// it in the room's history and does not send it again.
#[test]
fn a_line_held_by_a_frozen_link_is_delivered_once_when_it_thaws() {
    let line = "typed into the frozen link";
    let (_server, proxy, tmux) = type_into_a_frozen_link("pending-thaw", line);
    proxy.thaw();
    delivered_once(&tmux, line);
}

/// The link is cut with the line still in it: the server never had it, and the client sends
/// it again after the reconnect.
#[test]
fn a_line_lost_with_a_frozen_link_is_sent_again_after_the_reconnect() {
    let line = "lost with the frozen link";
    let (_server, proxy, tmux) = type_into_a_frozen_link("pending-cut", line);
    proxy.cut();
    delivered_once(&tmux, line);
}

/// The next event that `pick` accepts, within `within`.
async fn next_event<T>(
    events: &mut tokio::sync::mpsc::Receiver<Event>,
    within: Duration,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => {
                if let Some(found) = pick(&event) {
                    return found;
                }
                seen.push(event);
            }
            Ok(None) => panic!("the session ended; events: {seen:?}"),
            Err(_) => panic!("timed out after {within:?}; events: {seen:?}"),
        }
    }
}

/// How many times the room's history holds `text`.
async fn in_history(addr: std::net::SocketAddr, text: &str) -> usize {
    let (mut carol, _) = history::connect(addr, "carol", "lobby").await.unwrap();
    let (messages, _) = history::everything(&mut carol, "lobby", false, 1000)
        .await
        .unwrap();
    history::texts(&messages)
        .iter()
        .filter(|t| *t == text)
        .count()
}

/// The library alone: the line's request is reported delivered (found in the history after
/// the thaw), its answer never awaited again, and the server holds it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_reports_a_line_delivered_through_a_frozen_link() {
    let server = ServerProcess::start();
    let proxy = CutProxy::start(server.addr).unwrap();
    let options = Options {
        addr: proxy.addr.to_string(),
        nick: "ann".into(),
        room: "lobby".into(),
    };
    let dial = tests::library::dial(proxy.addr);
    let (client, mut events, _welcome) = chat_client::connect_with(dial, options).await.unwrap();

    proxy.freeze();
    let line = ClientMsg::Chat {
        text: "through the ice".into(),
    }
    .with_id(7);
    let sent = Instant::now();
    client.send(line.clone());
    next_event(&mut events, notice_bound(), |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    assert!(sent.elapsed() <= notice_bound(), "{:?}", sent.elapsed());

    proxy.thaw();
    next_event(&mut events, RECONNECT_WAIT, |e| {
        matches!(e, Event::Reconnected(_)).then_some(())
    })
    .await;
    let delivered = next_event(&mut events, RECONNECT_WAIT, |e| match e {
        Event::Delivered { msg } => Some(msg.clone()),
        Event::Unconfirmed { msg } => panic!("{msg:?} unconfirmed"),
        Event::Server(ServerMsg::Reply { id: 7, .. }) => panic!("the line was sent again"),
        _ => None,
    })
    .await;
    assert_eq!(delivered, line);
    assert_eq!(in_history(server.addr, "through the ice").await, 1);

    client.send(ClientMsg::Quit {
        reason: String::new(),
    });
    timeout(Duration::from_secs(5), client.finish())
        .await
        .unwrap();
}

/// The library alone: the line cut off with the link is sent again, once, with its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_sends_again_a_line_the_server_never_had() {
    let server = ServerProcess::start();
    let proxy = CutProxy::start(server.addr).unwrap();
    let options = Options {
        addr: proxy.addr.to_string(),
        nick: "ann".into(),
        room: "lobby".into(),
    };
    let dial = tests::library::dial(proxy.addr);
    let (client, mut events, _welcome) = chat_client::connect_with(dial, options).await.unwrap();

    proxy.freeze();
    client.send(
        ClientMsg::Chat {
            text: "into the void".into(),
        }
        .with_id(9),
    );
    next_event(&mut events, notice_bound(), |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    proxy.cut();
    next_event(&mut events, RECONNECT_WAIT, |e| match e {
        Event::Server(ServerMsg::Reply { id: 9, msg }) => {
            assert!(matches!(**msg, ServerMsg::Room { .. }), "{msg:?}");
            Some(())
        }
        Event::Delivered { msg } | Event::Unconfirmed { msg } => {
            panic!("{msg:?} was not sent again")
        }
        _ => None,
    })
    .await;
    assert_eq!(in_history(server.addr, "into the void").await, 1);
    client.send(ClientMsg::Quit {
        reason: String::new(),
    });
    timeout(Duration::from_secs(5), client.finish())
        .await
        .unwrap();
}
