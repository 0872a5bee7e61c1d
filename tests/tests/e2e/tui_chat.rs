//! The terminal client in a real terminal (tmux): chatting between two clients.

use shared::{ClientMsg, RoomEvent};
use tests::client::{TestClient, notice, said, says};
use tests::tmux::{ServerProcess, Tmux};

/// A server and two clients, alice and bob, in the lobby.
fn two_clients(test: &str) -> (ServerProcess, Tmux) {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new(test);
    tmux.join("alice", server.addr, "alice", &[]);
    tmux.join("bob", server.addr, "bob", &[]);
    tmux.wait_for("alice", "bob joined #lobby");
    (server, tmux)
}

#[test]
fn a_line_typed_in_one_client_appears_in_the_other() {
    let (_server, tmux) = two_clients("line");
    tmux.say("alice", "hello bob");
    tmux.wait_for("bob", "<alice> hello bob");
    // The sender sees its own line from the server's echo.
    tmux.wait_for("alice", "<alice> hello bob");
    tmux.say("bob", "/me waves");
    tmux.wait_for("alice", "* bob waves");
}

#[test]
fn chinese_text_and_emoji_arrive_intact() {
    let (_server, tmux) = two_clients("cjk");
    let text = "你好，世界 😀 こんにちは 👍";
    tmux.say("alice", text);
    let screen = tmux.wait_for("bob", text);
    // Two-cell characters occupy two cells: nothing after them is shifted or cut.
    let line = screen.lines().find(|l| l.contains(text)).unwrap();
    assert!(
        line.ends_with(text) || line.trim_end().ends_with(text),
        "{line:?}"
    );
}

#[test]
fn nick_and_join() {
    let (_server, tmux) = two_clients("nick");
    tmux.say("bob", "/nick robert");
    tmux.wait_for("bob", "you are now known as robert");
    tmux.wait_for("alice", "bob is now known as robert");
    tmux.wait_until("bob", "status line with the new nick", |s| {
        s.contains("robert in #lobby")
    });

    // The server lets a connection be in several rooms: alice joins #rust in a buffer of
    // its own and stays in the lobby.
    tmux.say("alice", "/join rust");
    tmux.wait_for("alice", "you joined #rust");
    tmux.wait_until("alice", "status line in #rust", |s| {
        s.contains("in 2:#rust")
    });
    // A line in #rust does not reach the lobby.
    tmux.say("alice", "only for rust");
    tmux.wait_for("alice", "<alice> only for rust");
    // Windows keep their names: bob's window shows robert.
    tmux.say("bob", "still in the lobby");
    tmux.wait_for("bob", "<robert> still in the lobby");
    assert!(!tmux.screen("bob").contains("only for rust"));
    assert!(!tmux.screen("bob").contains("alice left"));
    // bob's line is news in alice's lobby buffer.
    tmux.wait_until("alice", "news in the lobby", |s| s.contains("1:lobby(1)"));
}

/// A private message goes to a buffer of its own, on both sides: the receiver's status
/// line marks it, Alt-2 shows it.
#[test]
fn private_message() {
    let (_server, tmux) = two_clients("msg");
    tmux.say("alice", "/msg bob psst 秘密");
    tmux.wait_until("bob", "the conversation's buffer marked", |s| {
        s.contains("2:@alice(1!)")
    });
    tmux.keys("bob", &["M-2"]);
    tmux.wait_for("bob", "[msg from alice] psst 秘密");
    tmux.wait_for("bob", "private conversation with alice");
    tmux.keys("alice", &["M-2"]);
    tmux.wait_for("alice", "[msg to bob] psst 秘密");
    // Typed in the conversation's buffer, a line is private.
    tmux.say("bob", "got it");
    tmux.wait_for("alice", "[msg from bob] got it");
}

#[test]
fn bad_commands_answer_inline() {
    let (_server, tmux) = two_clients("badcmd");
    tmux.say("alice", "/frobnicate");
    tmux.wait_for(
        "alice",
        "!! unknown command /frobnicate; type /help for the list",
    );
    tmux.keys("alice", &["C-u"]);
    tmux.say("alice", "/msg bob");
    tmux.wait_for("alice", "!! usage: /msg NICK TEXT");
    tmux.keys("alice", &["C-u"]);
    tmux.say("alice", "/help");
    tmux.wait_for("alice", "/quit [REASON]");
}

#[test]
fn escape_sequences_arrive_as_harmless_text() {
    let (server, tmux) = two_clients("escape");
    tmux.say("alice", "before the attack");
    tmux.wait_for("alice", "<alice> before the attack");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut mallory = TestClient::connect(server.addr, "mallory", "lobby")
            .await
            .unwrap();
        let evil = "\x1b[2J\x1b[H\x1b]0;owned\x07\u{9b}31mred\rX\x08 done";
        mallory
            .send(ClientMsg::Chat { text: evil.into() })
            .await
            .unwrap();
        // Stay connected until alice has seen the line.
        let screen = tmux.wait_for("alice", "done");
        assert!(
            screen.contains("<mallory> ␛[2J␛[H␛]0;owned␇<U+009B>31mred␍X␈ done"),
            "{screen}"
        );
        // The screen was not cleared: earlier lines are still there.
        assert!(screen.contains("<alice> before the attack"), "{screen}");
        assert!(screen.contains("bob joined #lobby"), "{screen}");
        drop(mallory);
    });
}

#[test]
fn multi_line_paste_asks_before_sending() {
    let (_server, tmux) = two_clients("paste");
    tmux.paste("alice", "first line\nsecond line\nthird line");
    tmux.wait_for("alice", "send 3 lines? y/n");
    tmux.keys("alice", &["y"]);
    tmux.wait_for("bob", "<alice> third line");
    let screen = tmux.screen("bob");
    assert!(screen.contains("<alice> first line") && screen.contains("<alice> second line"));

    tmux.paste("alice", "not\nthis");
    tmux.wait_for("alice", "send 2 lines? y/n");
    tmux.keys("alice", &["n"]);
    tmux.wait_for("alice", "paste of 2 lines dropped");
    tmux.say("alice", "after");
    tmux.wait_for("bob", "<alice> after");
    assert!(!tmux.screen("bob").contains("<alice> not"));
}

/// A paste longer than the server's burst goes out at the client's own pace: the server
/// never has to hold the client back (no "you send faster" warning), nobody is taken for a
/// flooder, and every line arrives, in order.
#[test]
fn a_long_paste_is_paced_and_arrives_whole_and_in_order() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("pace");
    tmux.join("alice", server.addr, "alice", &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut bob = TestClient::connect(server.addr, "bob", "lobby")
            .await
            .unwrap();
        tmux.wait_for("alice", "bob joined #lobby");
        let lines: Vec<String> = (1..=60).map(|n| format!("paced line {n:02}")).collect();
        tmux.paste("alice", &lines.join("\n"));
        tmux.wait_for("alice", "send 60 lines? y/n");
        tmux.keys("alice", &["y"]);
        tmux.wait_for("alice", "sending 60 lines, 45 of them at 8 a second");
        let mut got = Vec::new();
        while got.len() < lines.len() {
            // Each wait is bounded; the lines come at 8 a second after the first 15.
            let msg = bob.recv().await.unwrap();
            if let Some(line) = said(&msg).filter(|s| s.from == "alice") {
                got.push(line.text.to_owned());
            } else if let Some((_, RoomEvent::Left { nick, reason })) = notice(&msg) {
                panic!("{nick} left ({reason}) after {} lines", got.len());
            }
        }
        assert_eq!(got, lines);
        let screen = tmux.wait_for("alice", "<alice> paced line 60");
        assert!(!screen.contains("faster than"), "{screen}");
        assert!(!screen.contains("connection lost"), "{screen}");
        assert!(!screen.contains("to send"), "{screen}");
        // Still connected: a line typed now arrives after the paste.
        tmux.say("alice", "after the paste");
        let after = bob
            .recv_until(|m| said(m).is_some_and(|s| s.from == "alice"))
            .await
            .unwrap();
        assert!(says(&after, "after the paste"));
        assert_eq!(bob.who().await.unwrap(), ["alice", "bob"]);
    });
}

#[test]
fn resize_down_to_a_few_columns_and_back() {
    let (_server, tmux) = two_clients("resize");
    let long = "你好世界😀".repeat(8);
    tmux.say("alice", &long);
    tmux.wait_for("bob", "<alice> 你好世界");
    for (cols, rows) in [(40, 12), (9, 4), (3, 2), (1, 1), (25, 8)] {
        tmux.resize("bob", cols, rows);
        let screen = tmux.screen("bob");
        assert_eq!(
            tmux.exit_status("bob"),
            None,
            "bob exited at {cols}x{rows}:\n{screen}"
        );
    }
    // At 25 columns the long line wraps by display width: no row is wider than the window.
    let screen = tmux.wait_until("bob", "the long line wrapped at 25 columns", |s| {
        s.contains("connected")
            && s.lines()
                .filter(|l| l.starts_with("      ") && !l.is_ascii())
                .count()
                >= 3
    });
    for row in screen.lines() {
        assert!(display_width(row) <= 25, "row too wide: {row:?}");
    }
    tmux.resize("bob", 100, 30);
    tmux.say("alice", "still fine");
    tmux.wait_for("bob", "<alice> still fine");
    tmux.say("bob", "me too");
    tmux.wait_for("alice", "<bob> me too");
}

/// Display width of a captured row of this test: its CJK characters and emoji take two
/// cells, everything else on the screen is ASCII.
fn display_width(row: &str) -> usize {
    row.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

#[test]
fn quit_leaves_the_shell_screen_as_it_was() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("quit");
    tmux.pin(server.addr);
    tmux.open("shell", "sh");
    tmux.say("shell", "echo before-$((40+2))");
    tmux.wait_for("shell", "before-42");
    let before = tmux.screen("shell");
    let chat = tests::binaries::binary("chat-tui");
    tmux.say(
        "shell",
        &format!(
            "{} --no-bell --log-file /dev/null --connect {} --nick quitter",
            tests::tmux::shell_quote(&chat.display().to_string()),
            server.addr
        ),
    );
    tmux.wait_for("shell", "as quitter (");
    assert!(
        !tmux.screen("shell").contains("before-42"),
        "not on the alternate screen"
    );
    tmux.say("shell", "/quit bye");
    let after = tmux.wait_for("shell", "before-42");
    // The primary screen is back with its old lines, and nothing of the client on it.
    for line in before.lines().filter(|l| !l.trim().is_empty()) {
        assert!(after.contains(line), "lost {line:?}:\n{after}");
    }
    assert!(!after.contains("quitter ("), "{after}");
    // The shell reads lines normally again (no raw mode left behind).
    tmux.say("shell", "echo after-$((1+1))");
    tmux.wait_for("shell", "after-2");
}
