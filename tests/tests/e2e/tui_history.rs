//! History in the terminal client: the real server binary on its own database, raw
//! clients that talk fast, and the real client in tmux, read off the screen.
//!
//! - 20,000 messages scrolled through to the beginning and back: every message on every
//!   screen in order, none twice, none skipped, older pages loaded as the view goes up and
//!   dropped pages loaded again on the way down.
//! - A client cut off (its process stopped, its link broken through a relay): back, it
//!   shows what it missed, and when it missed more than a catch-up brings, the gap marker,
//!   which fills when scrolled to.
//! - `/search` finds a word, and Enter shows the hit among the messages around it.
//! - After a restart, the unread line sits where the user had stopped reading.
//! - `/join` from a room scrolled into its history: the new room's backlog, and back, the
//!   old one's, with no error about the room left.
//!
//! Every wait is bounded (the screen is polled against a deadline), and every loop of
//! keys has a bound.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shared::ClientMsg;
use tests::client::{TestClient, encode, hello, open_stream};
use tests::probe::send_signal;
use tests::proxy::CutProxy;
use tests::tmux::{SCREEN_WAIT, ServerProcess, Tmux};

/// A server that lets a client send as fast as it can (for the floods), and otherwise the
/// defaults: history on, a backlog of 50, catch-ups of 500, pages of 200.
fn server(more: &[&str]) -> ServerProcess {
    let mut args = vec!["--msg-rate", "0"];
    args.extend_from_slice(more);
    ServerProcess::start_with("127.0.0.1:0", &args)
}

/// Says `texts` in `room` as `nick`, as fast as the connection takes them, then quits.
/// What comes back is read and dropped, so that the sender is never a slow consumer.
fn flood(addr: SocketAddr, nick: &str, room: &str, texts: impl IntoIterator<Item = String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut frames = vec![encode(hello(nick, room))];
    let mut bytes = Vec::new();
    for text in texts {
        bytes.extend(encode(ClientMsg::Chat { text }));
        if bytes.len() > 32 * 1024 {
            frames.push(std::mem::take(&mut bytes));
        }
    }
    bytes.extend(encode(ClientMsg::Quit {
        reason: String::new(),
    }));
    frames.push(bytes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        // TLS to the server, as the clients under test speak to it.
        let stream = open_stream(addr).await.expect("connect to the server");
        let (mut reader, mut writer) = tokio::io::split(stream);
        let drain = tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            while matches!(reader.read(&mut buffer).await, Ok(n) if n > 0) {}
        });
        for bytes in frames {
            writer.write_all(&bytes).await.expect("send");
        }
        writer.flush().await.expect("send");
        // The server closes after the quit, once it has handled everything before it.
        let _ = tokio::time::timeout(SCREEN_WAIT, drain).await;
    });
}

/// The numbers of the lines `<talker> PREFIX<n>` on a screen, top to bottom.
fn numbers(screen: &str, prefix: &str) -> Vec<u32> {
    let marker = format!("<talker> {prefix}");
    screen
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find(&marker)? + marker.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// The numbers on a screen, checked to run without a hole or a repeat, in order.
fn run_of(screen: &str, prefix: &str) -> Vec<u32> {
    let found = numbers(screen, prefix);
    for pair in found.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "the screen skips or repeats a message after {prefix}{}:\n{screen}",
            pair[0]
        );
    }
    found
}

/// Waits until the screen of `name` satisfies `ready` and reads the same twice in a row,
/// 50 ms apart: a screen read while the client redraws can be half the old frame and half
/// the new one.
fn screen_when(tmux: &Tmux, name: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + SCREEN_WAIT;
    loop {
        let screen = tmux.wait_until(name, what, &ready);
        std::thread::sleep(Duration::from_millis(50));
        if tmux.screen(name) == screen {
            return screen;
        }
        assert!(
            Instant::now() < deadline,
            "window {name}: the screen never settled on {what}:\n{screen}"
        );
    }
}

/// The screen of window `name` once nothing on it is loading (bounded): what a key does
/// next is then the only thing that can move it.
fn settled(tmux: &Tmux, name: &str) -> String {
    screen_when(tmux, name, "loading to finish", |s| !s.contains("loading…"))
}

/// Whether the message pane's first row says `what`.
fn top_says(screen: &str, what: &str) -> bool {
    // The pane's top row is below the title line.
    screen.lines().nth(1).unwrap_or("").contains(what)
}

/// The process id of the chat-tui in window `name`: the child of the shell tmux started.
fn tui_pid(tmux: &Tmux, name: &str) -> u32 {
    let shell = tmux.pane_pid(name);
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .expect("the shell's children");
    children
        .split_whitespace()
        .next()
        .and_then(|pid| pid.parse().ok())
        .expect("the shell runs chat-tui")
}

/// Waits, bounded, until `nick` is no longer a member of `room` (the server dropped it).
fn wait_gone(addr: SocketAddr, nick: &str, room: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut watcher = TestClient::connect(addr, "watcher", room).await.unwrap();
        let deadline = Instant::now() + 3 * SCREEN_WAIT;
        loop {
            let members = watcher.who().await.unwrap();
            if !members.iter().any(|m| m == nick) {
                return;
            }
            assert!(Instant::now() < deadline, "{nick} is still in #{room}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

/// 20,000 messages: the client scrolls up page by page to the beginning of the room and
/// back down to the newest. On every screen the messages run in order without a hole or
/// a repeat, each screen joins the ones before, and together they hold every message.
#[test]
fn twenty_thousand_messages_scrolled_to_the_beginning_and_back() {
    const N: u32 = 20_000;
    const ROWS: u16 = 150;
    // Two passes of pages, each well under this many keys.
    const MOST_KEYS: usize = 2 * (N as usize) / (ROWS as usize - 4) + 50;
    let server = server(&[]);
    flood(
        server.addr,
        "talker",
        "lobby",
        (1..=N).map(|i| format!("h{i:05}")),
    );
    let mut tmux = Tmux::new("hist-paging");
    tmux.join("alice", server.addr, "alice", &[]);
    tmux.resize("alice", 100, ROWS);
    let mut screen = screen_when(&tmux, "alice", "the newest at the bottom", |s| {
        numbers(s, "h").last() == Some(&N)
    });
    let mut seen = vec![false; N as usize + 1];
    let mut lowest = *run_of(&screen, "h").first().unwrap();
    // Each screen, moved by a key or settled after a load: in order, and joined to the
    // ones before.
    let mut take = |screen: &str, lowest: &mut u32| {
        let run = run_of(screen, "h");
        let (first, last) = (run[0], run[run.len() - 1]);
        assert!(
            last + 1 >= *lowest,
            "skipped from {lowest} up to {last}:\n{screen}"
        );
        *lowest = (*lowest).min(first);
        run.iter().for_each(|&n| seen[n as usize] = true);
        first
    };
    let mut keys = 0;
    loop {
        take(&screen, &mut lowest);
        if top_says(&screen, "beginning of #lobby") {
            break;
        }
        let steady = settled(&tmux, "alice");
        let before = take(&steady, &mut lowest);
        keys += 1;
        assert!(
            keys < MOST_KEYS,
            "no beginning after {keys} pages:\n{steady}"
        );
        tmux.keys("alice", &["PageUp"]);
        screen = screen_when(&tmux, "alice", "the view to go up", |s| {
            numbers(s, "h").first().is_some_and(|&n| n < before)
                || top_says(s, "loading…")
                || top_says(s, "beginning of #lobby")
        });
    }
    assert_eq!(lowest, 1, "the beginning shows above the first message");
    let missing: Vec<u32> = (1..=N).filter(|&n| !seen[n as usize]).collect();
    assert!(missing.is_empty(), "never on screen: {missing:?}");

    // And down again: newer pages were dropped on the way up, and load again.
    let mut highest = *run_of(&screen, "h").last().unwrap();
    let mut seen_down = vec![false; N as usize + 1];
    let mut take = |screen: &str, highest: &mut u32| {
        let run = run_of(screen, "h");
        let (first, last) = (run[0], run[run.len() - 1]);
        assert!(
            first <= *highest + 1,
            "skipped from {highest} down to {first}:\n{screen}"
        );
        *highest = (*highest).max(last);
        run.iter().for_each(|&n| seen_down[n as usize] = true);
        last
    };
    loop {
        take(&screen, &mut highest);
        if highest == N && !screen.contains("more below") {
            break;
        }
        let steady = settled(&tmux, "alice");
        let before = take(&steady, &mut highest);
        keys += 1;
        assert!(keys < 2 * MOST_KEYS, "not back at the newest:\n{steady}");
        tmux.keys("alice", &["PageDown"]);
        screen = screen_when(&tmux, "alice", "the view to go down", |s| {
            numbers(s, "h").last().is_some_and(|&n| n > before)
                || s.contains("loading…")
                || !s.contains("more below")
        });
    }
    let missing: Vec<u32> = (1..=N).filter(|&n| !seen_down[n as usize]).collect();
    assert!(
        missing.is_empty(),
        "never on screen on the way down: {missing:?}"
    );
}

/// A client cut off (its process stopped, its link broken) comes back to what it
/// missed; when it missed more than a catch-up brings (500), to the newest and the gap
/// marker with the exact count, which fills, in order, when the user scrolls to it.
#[test]
fn a_client_cut_off_catches_up_and_shows_the_gap_it_cannot_catch_up_on() {
    let server = server(&[]);
    let addr = server.addr;
    let proxy = CutProxy::start(addr).unwrap();
    flood(
        addr,
        "talker",
        "lobby",
        (1..=20).map(|i| format!("a{i:03}")),
    );
    let mut tmux = Tmux::new("hist-catch-up");
    tmux.join("alice", proxy.addr, "alice", &[]);
    tmux.resize("alice", 100, 80);
    screen_when(&tmux, "alice", "the backlog", |s| {
        numbers(s, "a").last() == Some(&20)
    });
    let pid = tui_pid(&tmux, "alice");
    let away = |texts: Vec<String>| {
        send_signal(pid, "STOP").unwrap();
        proxy.cut();
        wait_gone(addr, "alice", "lobby");
        flood(addr, "talker", "lobby", texts);
        send_signal(pid, "CONT").unwrap();
    };

    // Away while 30 are said: back, all 30 follow the 20, once each.
    away((1..=30).map(|i| format!("b{i:03}")).collect());
    let screen = screen_when(&tmux, "alice", "what was missed", |s| {
        numbers(s, "b").last() == Some(&30)
    });
    assert_eq!(
        run_of(&screen, "a"),
        (1..=20).collect::<Vec<_>>(),
        "{screen}"
    );
    assert_eq!(
        run_of(&screen, "b"),
        (1..=30).collect::<Vec<_>>(),
        "{screen}"
    );
    assert!(!screen.contains("not loaded"), "{screen}");
    let last_a = screen.find("<talker> a020").unwrap();
    assert!(
        screen.find("<talker> b001").unwrap() > last_a,
        "in order:\n{screen}"
    );

    // Away while 700 are said: back, the newest 500 and a gap of 200 above them.
    away((1..=700).map(|i| format!("c{i:03}")).collect());
    let mut screen = screen_when(&tmux, "alice", "the newest", |s| {
        numbers(s, "c").last() == Some(&700)
    });
    // The gap loads as soon as it is on screen: the server is held meanwhile, so that
    // the marker stays long enough to be read.
    server.pause();
    let mut lowest = 700;
    for _ in 0..20 {
        let run = run_of(&screen, "c");
        if let (Some(&first), Some(&last)) = (run.first(), run.last()) {
            assert!(
                last + 1 >= lowest,
                "skipped from {lowest} to {last}:\n{screen}"
            );
            lowest = lowest.min(first);
        }
        if screen.contains("messages not loaded") {
            break;
        }
        tmux.keys("alice", &["PageUp"]);
        let before = lowest;
        screen = screen_when(&tmux, "alice", "the view to go up", |s| {
            numbers(s, "c").first().is_some_and(|&n| n < before) || s.contains("not loaded")
        });
    }
    server.resume();
    assert!(
        screen.contains("200 messages not loaded"),
        "no gap marker with its count:\n{screen}"
    );
    let first = *run_of(&screen, "c").first().unwrap();
    assert_eq!(
        first, 201,
        "the gap is right above the newest 500:\n{screen}"
    );
    // On screen, it fills: the 200 load above, in order, next to the 30 said before them.
    let mut screen = screen_when(&tmux, "alice", "the gap to fill", |s| {
        !s.contains("not loaded")
    });
    let run = run_of(&screen, "c");
    assert!(run.contains(&200) && run.contains(&201), "{screen}");
    let mut lowest = run[0];
    for _ in 0..20 {
        let run = run_of(&screen, "c");
        if let (Some(&first), Some(&last)) = (run.first(), run.last()) {
            assert!(
                last + 1 >= lowest,
                "skipped from {lowest} to {last}:\n{screen}"
            );
            lowest = lowest.min(first);
        }
        if lowest == 1 {
            break;
        }
        let steady = settled(&tmux, "alice");
        let before = numbers(&steady, "c").first().copied().unwrap_or(lowest);
        tmux.keys("alice", &["PageUp"]);
        screen = screen_when(&tmux, "alice", "the view to go up", |s| {
            numbers(s, "c").first().is_some_and(|&n| n < before)
                || numbers(s, "b").last() == Some(&30)
        });
    }
    assert_eq!(lowest, 1, "the filled gap reaches back to the first missed");
    let screen = tmux.screen("alice");
    let last_b = screen.find("<talker> b030").expect("the 30 before");
    assert!(
        screen.find("<talker> c001").unwrap() > last_b,
        "in order:\n{screen}"
    );
}

/// `/search` lists the hit with its time and nick; Enter shows it among the messages said
/// around it, which load (the hit is far older than the backlog).
#[test]
fn search_finds_a_word_and_enter_shows_it_in_context() {
    let server = server(&[]);
    let texts = (1..=300).map(|i| {
        if i == 150 {
            "s150 the zebra crossing".to_owned()
        } else {
            format!("s{i:03}")
        }
    });
    flood(server.addr, "talker", "lobby", texts);
    let mut tmux = Tmux::new("hist-search");
    tmux.join("alice", server.addr, "alice", &[]);
    screen_when(&tmux, "alice", "the backlog", |s| {
        numbers(s, "s").last() == Some(&300)
    });
    // The index follows the writes within seconds: ask again until the hit is there.
    let deadline = Instant::now() + 3 * SCREEN_WAIT;
    let listed = loop {
        tmux.say("alice", "/search zebra");
        let screen = screen_when(&tmux, "alice", "the search's answer", |s| {
            s.contains("\"zebra\" in #lobby: 1 hit") || s.contains("no message of #lobby")
        });
        if screen.contains("1 hit") {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "the search never found it:\n{screen}"
        );
        tmux.keys("alice", &["Escape"]);
        std::thread::sleep(Duration::from_millis(300));
    };
    let hit = listed
        .lines()
        .find(|l| l.contains("<talker> s150 the zebra crossing"))
        .unwrap_or_else(|| panic!("the hit is not listed:\n{listed}"));
    // With its date and time.
    assert!(hit.split_whitespace().count() >= 7, "{hit}");
    tmux.keys("alice", &["Enter"]);
    let screen = screen_when(&tmux, "alice", "the hit in its context", |s| {
        let n = numbers(s, "s");
        n.contains(&149) && n.contains(&151)
    });
    assert!(
        screen.contains("<talker> s150 the zebra crossing"),
        "{screen}"
    );
    run_of(&screen, "s");
    // The hit is not at the edge of the screen: what was said before it shows too.
    let row = screen
        .lines()
        .position(|l| l.contains("zebra crossing"))
        .unwrap();
    assert!(row >= 3, "the hit at row {row}:\n{screen}");
    // Esc goes back to the newest.
    tmux.keys("alice", &["Escape"]);
    screen_when(&tmux, "alice", "the newest again", |s| {
        numbers(s, "s").last() == Some(&300) && !s.contains("more below")
    });
}

/// The client marks read what the user saw; restarted after others talked, it shows the
/// unread line between what was read and what is new.
#[test]
fn the_unread_line_after_a_restart() {
    let server = server(&[]);
    flood(
        server.addr,
        "talker",
        "lobby",
        (1..=5).map(|i| format!("r{i:02}")),
    );
    let mut tmux = Tmux::new("hist-unread");
    tmux.join("alice", server.addr, "alice", &[]);
    screen_when(&tmux, "alice", "the backlog", |s| {
        numbers(s, "r").last() == Some(&5)
    });
    tmux.say("alice", "/quit");
    tmux.assert_exit("alice", 0);
    flood(
        server.addr,
        "talker",
        "lobby",
        (6..=17).map(|i| format!("r{i:02}")),
    );
    tmux.join("again", server.addr, "alice", &[]);
    let screen = screen_when(&tmux, "again", "the unread line", |s| {
        s.contains("12 new messages since")
    });
    let lines: Vec<&str> = screen.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("12 new messages since"))
        .unwrap();
    assert!(lines[at - 1].contains("<talker> r05"), "{screen}");
    assert!(lines[at + 1].contains("<talker> r06"), "{screen}");
    assert_eq!(run_of(&screen, "r"), (1..=17).collect::<Vec<_>>());
}

/// `/join` while scrolled up in a room's history (pages loading, a read marker due):
/// the new room shows its own backlog and nothing of the old one, and no error line says
/// that something went wrong with the room left behind; back in the first room, its
/// buffer as it was, and its newest lines.
#[test]
fn joining_another_room_shows_its_history_and_no_error_about_the_room_left() {
    let server = server(&[]);
    flood(
        server.addr,
        "talker",
        "lobby",
        (1..=300).map(|i| format!("l{i:03}")),
    );
    flood(
        server.addr,
        "talker",
        "rust",
        (1..=30).map(|i| format!("r{i:03}")),
    );
    let mut tmux = Tmux::new("hist-join");
    tmux.join("alice", server.addr, "alice", &[]);
    screen_when(&tmux, "alice", "the backlog", |s| {
        numbers(s, "l").last() == Some(&300)
    });
    // Up where older pages load, and more said, so that a read marker is due.
    tmux.keys("alice", &["PageUp", "PageUp", "PageUp"]);
    flood(
        server.addr,
        "talker",
        "lobby",
        (301..=310).map(|i| format!("l{i:03}")),
    );
    std::thread::sleep(Duration::from_millis(1100));
    tmux.say("alice", "/join rust");
    let screen = screen_when(&tmux, "alice", "the backlog of #rust", |s| {
        numbers(s, "r").last() == Some(&30) && s.contains("you joined #rust")
    });
    assert!(numbers(&screen, "l").is_empty(), "{screen}");
    // Any answer about the lobby still due has come by now.
    std::thread::sleep(Duration::from_millis(500));
    let screen = tmux.screen("alice");
    assert!(!screen.contains("!!"), "an error line:\n{screen}");

    // Still in the lobby (the server lets a connection be in several rooms): /join shows
    // its buffer, scrolled where it was left; Esc, the newest.
    tmux.say("alice", "/join lobby");
    let screen = screen_when(&tmux, "alice", "the lobby's buffer", |s| {
        s.lines().next().unwrap_or("").starts_with(" #lobby") && !numbers(s, "l").is_empty()
    });
    assert!(numbers(&screen, "r").is_empty(), "{screen}");
    tmux.keys("alice", &["Escape"]);
    let screen = screen_when(&tmux, "alice", "the newest of #lobby", |s| {
        numbers(s, "l").last() == Some(&310)
    });
    run_of(&screen, "l");
    std::thread::sleep(Duration::from_millis(500));
    let screen = tmux.screen("alice");
    assert!(!screen.contains("!!"), "an error line:\n{screen}");
}
