//! The terminal client in several rooms at once (the feature "rooms"), in a real terminal
//! (tmux), against the real server: a buffer per room and per private conversation, the
//! status line's activity and mention marks, switching with Alt-N, `/part`, `/query`, a
//! private message opening its buffer, topics and away texts, and every room joined again
//! after the server restarts.
//!
//! The other people are raw protocol clients ([`TestClient`]), each in one room.

use std::time::Duration;

use shared::{ClientMsg, RoomEvent, ServerMsg};
use tests::binaries::scratch_dir;
use tests::client::{TestClient, notice, says};
use tests::tmux::{ServerProcess, Tmux, child_of, cpu_ticks};

/// The status line of a screen: the row above the input line.
fn status(screen: &str) -> &str {
    let rows: Vec<&str> = screen.lines().collect();
    rows.iter()
        .rev()
        .find(|r| {
            r.contains(" connected ") || r.contains("disconnected") || r.contains("reconnecting")
        })
        .copied()
        .unwrap_or("")
}

/// The title line: the screen's first row.
fn title(screen: &str) -> &str {
    screen.lines().next().unwrap_or("")
}

/// alice in the lobby, then in #dev and #ops too (buffers 1, 2, 3; #ops shown).
fn alice_in_three_rooms(tmux: &mut Tmux, server: &ServerProcess, args: &[&str]) {
    tmux.join("alice", server.addr, "alice", args);
    tmux.say("alice", "/join dev");
    tmux.wait_for("alice", "you joined #dev");
    tmux.say("alice", "/join #ops");
    tmux.wait_until("alice", "#ops shown", |s| title(s).starts_with(" #ops"));
    tmux.wait_until("alice", "three buffers", |s| {
        status(s).contains("alice in 3:#ops")
    });
}

#[test]
fn three_rooms_in_buffers_with_activity_mentions_part_and_query() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("rooms");
    alice_in_three_rooms(&mut tmux, &server, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut bob = rt
        .block_on(TestClient::connect(server.addr, "bob", "dev"))
        .unwrap();
    let mut carol = rt
        .block_on(TestClient::connect(server.addr, "carol", "ops"))
        .unwrap();
    let mut dave = rt
        .block_on(TestClient::connect(server.addr, "dave", "lobby"))
        .unwrap();

    // Talk in each room; alice sees #ops' at once, the others counted in the status line.
    rt.block_on(carol.say("hello ops")).unwrap();
    tmux.wait_for("alice", "<carol> hello ops");
    rt.block_on(bob.say("build is green")).unwrap();
    rt.block_on(bob.say("alice: can you review?")).unwrap();
    rt.block_on(dave.say("quiet in the lobby")).unwrap();
    let screen = tmux.wait_until("alice", "activity in #dev and the lobby", |s| {
        status(s).contains("1:lobby(1)") && status(s).contains("2:dev(2!)")
    });
    assert!(!screen.contains("build is green"), "{screen}");

    // Alt-2 shows #dev: its lines, its title, its news read.
    tmux.keys("alice", &["M-2"]);
    let screen = tmux.wait_for("alice", "<bob> alice: can you review?");
    assert!(screen.contains("<bob> build is green"), "{screen}");
    assert!(title(&screen).starts_with(" #dev"), "{screen}");
    assert!(!status(&screen).contains("dev("), "{screen}");
    assert!(!screen.contains("hello ops"), "{screen}");
    // What alice says goes to the room shown.
    tmux.say("alice", "on it");
    rt.block_on(bob.recv_until(|m| says(m, "on it"))).unwrap();
    // Alt-Left, Ctrl-N: round the buffers.
    tmux.keys("alice", &["M-Left"]);
    tmux.wait_for("alice", "<dave> quiet in the lobby");
    tmux.keys("alice", &["C-n", "C-n"]);
    tmux.wait_until("alice", "#ops shown", |s| title(s).starts_with(" #ops"));

    // /part with a reason: carol is told, the buffer closes, the lobby and #dev stay.
    tmux.say("alice", "/part see you later");
    rt.block_on(carol.recv_until(|m| {
        matches!(notice(m), Some((_, RoomEvent::Left { nick, reason })) if nick == "alice" && reason == "see you later")
    }))
    .unwrap();
    tmux.wait_for("alice", "you left #ops (see you later)");
    tmux.wait_until("alice", "two buffers", |s| {
        status(s).contains("alice in 2:#dev") && !status(s).contains("ops")
    });

    // /query opens a conversation and sends nothing; a private message from someone else
    // opens theirs, marked in the status line.
    tmux.say("alice", "/query carol");
    tmux.wait_until("alice", "carol's buffer", |s| {
        title(s).contains("private conversation with carol")
    });
    rt.block_on(bob.send(ClientMsg::Private {
        to: "alice".into(),
        text: "psst, the keys".into(),
    }))
    .unwrap();
    tmux.wait_until("alice", "bob's buffer marked", |s| {
        status(s).contains("4:@bob(1!)")
    });
    tmux.keys("alice", &["M-4"]);
    tmux.wait_for("alice", "[msg from bob] psst, the keys");
    tmux.say("alice", "thanks");
    rt.block_on(bob.recv_until(|m| {
        matches!(m, ServerMsg::Private { from, text, .. } if from == "alice" && text == "thanks")
    }))
    .unwrap();
    // carol never heard from alice's /query.
    rt.block_on(carol.say("still here")).unwrap();
    let heard = rt
        .block_on(carol.collect_until(|m| says(m, "still here")))
        .unwrap();
    assert!(
        !heard.iter().any(|m| matches!(m, ServerMsg::Private { .. })),
        "{heard:?}"
    );
}

#[test]
fn topic_and_away() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("topic");
    alice_in_three_rooms(&mut tmux, &server, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut raw = rt
        .block_on(TestClient::connect(server.addr, "raw", "lobby"))
        .unwrap();

    tmux.say("alice", "/topic release on Friday 🚀");
    tmux.wait_until("alice", "the topic in the title line", |s| {
        title(s).starts_with(" #ops — release on Friday 🚀")
    });
    tmux.wait_for(
        "alice",
        "topic of #ops: release on Friday 🚀 (set by alice)",
    );
    // Another buffer has its own title.
    tmux.keys("alice", &["M-1"]);
    tmux.wait_until("alice", "the lobby without a topic", |s| {
        title(s).starts_with(" #lobby — no topic")
    });
    // Joining a room with a topic shows it: the server keeps it.
    tmux.say("alice", "/part #ops");
    tmux.wait_for("alice", "you left #ops");
    tmux.say("alice", "/join ops");
    tmux.wait_until("alice", "the topic again", |s| {
        title(s).starts_with(" #ops — release on Friday 🚀")
    });
    tmux.say("alice", "/topic");
    tmux.wait_for(
        "alice",
        "topic of #ops: release on Friday 🚀 (set by alice at",
    );

    // Away: told to whoever sends a private message, and in /who.
    tmux.say("alice", "/away at lunch");
    tmux.wait_for("alice", "you are away: at lunch");
    tmux.wait_until("alice", "away in the status line", |s| {
        status(s).contains("away")
    });
    // bob, in a terminal of his own, is told in his conversation with alice.
    tmux.join("bob", server.addr, "bob", &[]);
    tmux.say("bob", "/msg alice are you there?");
    tmux.wait_for("bob", "alice is away: at lunch");
    // A client without the feature gets the message, and no away text.
    rt.block_on(raw.send(ClientMsg::Private {
        to: "alice".into(),
        text: "hello?".into(),
    }))
    .unwrap();
    rt.block_on(
        raw.recv_until(|m| matches!(m, ServerMsg::Private { text, .. } if text == "hello?")),
    )
    .unwrap();
    tmux.wait_until("alice", "both conversations", |s| {
        status(s).contains("@bob(1!)") && status(s).contains("@raw(1!)")
    });
    tmux.say("alice", "/names");
    tmux.wait_for("alice", "alice (away: at lunch)");
    tmux.say("alice", "/away");
    tmux.wait_for("alice", "you are back");
}

#[test]
fn after_a_server_restart_every_room_is_joined_again_and_catches_up() {
    let data = scratch_dir("rooms-restart");
    let data = data.to_str().unwrap().to_owned();
    let server = ServerProcess::start_with("127.0.0.1:0", &["--data-dir", &data]);
    let addr = server.addr;
    let mut tmux = Tmux::new("rooms-restart");
    alice_in_three_rooms(&mut tmux, &server, &[]);
    tmux.keys("alice", &["M-1"]);
    tmux.wait_until("alice", "the lobby shown", |s| {
        title(s).starts_with(" #lobby")
    });

    server.kill();
    tmux.wait_for("alice", "connection lost");
    // Once alice waits seconds between attempts, something is said in #dev before she
    // is back: she catches up on it.
    tmux.wait_until("alice", "a wait of seconds", |s| {
        status(s).contains("reconnecting in 4.0s") || status(s).contains("reconnecting in 8.0s")
    });
    let server = ServerProcess::start_with(&addr.to_string(), &["--data-dir", &data]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut early = rt
        .block_on(TestClient::connect(addr, "early", "dev"))
        .unwrap();
    rt.block_on(early.say("said while alice was away")).unwrap();
    rt.block_on(early.recv_until(|m| says(m, "said while alice was away")))
        .unwrap();
    tmux.wait_for("alice", "reconnected: #lobby as alice");
    // Said in #dev and #ops after the restart: each reaches alice's buffer, counted, so
    // alice is in both rooms again.
    let mut bob = rt
        .block_on(TestClient::connect(addr, "bob", "dev"))
        .unwrap();
    let mut carol = rt
        .block_on(TestClient::connect(addr, "carol", "ops"))
        .unwrap();
    // The rejoins may come a moment after the welcome: the members say when.
    for (client, room) in [(&mut bob, "dev"), (&mut carol, "ops")] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !rt
            .block_on(client.who())
            .unwrap()
            .contains(&"alice".to_owned())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "alice never back in #{room}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    rt.block_on(bob.say("alice: welcome back")).unwrap();
    rt.block_on(carol.say("ops is fine")).unwrap();
    tmux.wait_until("alice", "news in #dev and #ops", |s| {
        status(s).contains("2:dev(1!)") && status(s).contains("3:ops(1)")
    });
    tmux.keys("alice", &["M-2"]);
    let screen = tmux.wait_for("alice", "<bob> alice: welcome back");
    assert!(
        screen.contains("<early> said while alice was away"),
        "{screen}"
    );
    tmux.keys("alice", &["M-3"]);
    tmux.wait_for("alice", "<carol> ops is fine");
    // What alice says after the reconnect reaches the room of the buffer shown.
    tmux.say("alice", "all three rooms back");
    rt.block_on(carol.recv_until(|m| says(m, "all three rooms back")))
        .unwrap();
    drop(server);
}

/// In the most rooms one connection may be in, with news in several buffers, an idle
/// client uses no CPU: nothing ticks.
#[test]
fn idle_in_twenty_rooms_uses_no_cpu() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("rooms-idle");
    tmux.join("alice", server.addr, "alice", &[]);
    for n in 1..shared::limits::MAX_JOINED_ROOMS {
        tmux.say("alice", &format!("/join r{n:02}"));
        tmux.wait_until("alice", "the room joined", |s| {
            title(s).starts_with(&format!(" #r{n:02}"))
        });
    }
    // One more is refused, with the limit said.
    tmux.say("alice", "/join one-too-many");
    tmux.wait_for("alice", "!! server: you are in 20 rooms, the most at once");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut bob = rt
        .block_on(TestClient::connect(server.addr, "bob", "r03"))
        .unwrap();
    rt.block_on(bob.say("alice: settled?")).unwrap();
    tmux.wait_until("alice", "news in r03", |s| status(s).contains("4:r03(1!)"));
    let pid = child_of(tmux.pane_pid("alice"));
    let before = cpu_ticks(pid);
    // A measurement, not a synchronisation: nothing happens during this second.
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used <= 1,
        "idle client in 20 rooms used {used} ticks in a second"
    );
}
