//! The terminal client's everyday habits in a real terminal (tmux): text whose width
//! terminals disagree on leaves no cell behind, links, desktop notifications, the input
//! history kept across runs, and the configuration file (timestamp format, mouse off,
//! `/ignore` written back).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shared::ClientMsg;
use tests::binaries::scratch_dir;
use tests::client::TestClient;
use tests::tmux::{SCREEN_WAIT, ServerProcess, Tmux, shell_quote};

/// Texts terminals disagree on, and what the client draws for each: the same number of
/// cells in every terminal.
const HARD: &[(&str, &str)] = &[
    ("🇺🇸", "US"),
    ("🇺", "U"),
    ("👍🏽", "👍"),
    ("👨\u{200d}👩\u{200d}👧", "👨"),
    ("🏳\u{fe0f}\u{200d}🌈", "🌈"),
    ("❤\u{fe0f}", "❤ "),
    ("1\u{fe0f}\u{20e3}", "1 "),
    (
        "🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}",
        "🏴",
    ),
    ("a\u{200b}b\u{2060}c", "abc"),
    ("x\u{fdd0}y", "x\u{fffd}y"),
    ("你好 e\u{301}", "你好 e\u{301}"),
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a runtime")
}

/// Waits until `path` holds `what`; returns what it holds.
fn wait_file(path: &Path, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + SCREEN_WAIT;
    loop {
        let bytes = std::fs::read(path).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if ready(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never held {what}: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the log of the client in window `name` holds `what`.
fn wait_log(tmux: &Tmux, name: &str, what: &str) {
    let deadline = Instant::now() + SCREEN_WAIT;
    while !tmux.log(name).contains(what) {
        assert!(
            Instant::now() < deadline,
            "the log never said {what}: {}",
            tmux.log(name)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn text_terminals_disagree_on_leaves_no_cell_behind() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("cells");
    tmux.join("alice", server.addr, "alice", &[]);
    runtime().block_on(async {
        let mut bob = TestClient::connect(server.addr, "bob", "lobby")
            .await
            .unwrap();
        tmux.wait_for("alice", "bob joined #lobby");
        // Enough lines that each row is drawn over several times as the pane scrolls.
        for round in 0..3 {
            for (i, (text, _)) in HARD.iter().enumerate() {
                bob.say(&format!("m{round}.{i} [{text}] end"))
                    .await
                    .unwrap();
            }
        }
        tmux.wait_for("alice", &format!("m2.{} [", HARD.len() - 1));
    });
    let screen = tmux.screen("alice");
    let mut seen = 0;
    for row in screen.lines().filter(|l| l.contains("<bob> m")) {
        // Each row is exactly the line, with nothing after it.
        let (_, line) = row.split_once("<bob> ").expect("a chat line");
        let line = line.trim_end();
        let (label, rest) = line.split_once(" [").expect("a label");
        let i: usize = label.split('.').nth(1).unwrap().parse().unwrap();
        assert_eq!(rest, format!("{}] end", HARD[i].1), "row {row:?}");
        seen += 1;
    }
    assert!(seen >= HARD.len(), "{screen}");
    // The input line: typed, then erased, leaves nothing behind either.
    let typed: String = HARD.iter().map(|(t, _)| *t).collect();
    tmux.type_text("alice", &typed);
    let drawn: String = HARD.iter().map(|(_, d)| *d).collect();
    let expected = format!("> {}", drawn.trim_end());
    tmux.wait_until("alice", "the typed line", |s| {
        s.lines().last().is_some_and(|l| l.trim_end() == expected)
    });
    tmux.keys("alice", &["C-u"]);
    tmux.wait_until("alice", "an empty input line", |s| {
        s.lines().last().is_some_and(|l| l.trim_end() == ">")
    });
}

#[test]
fn links_are_hyperlinks_over_plain_text_and_wrap_without_the_indent() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("links");
    tmux.join("alice", server.addr, "alice", &[]);
    let log = scratch_dir("tui-links").join("output");
    tmux.log_output("alice", &log);
    let url = format!("https://example.com/{}", "long/".repeat(30));
    runtime().block_on(async {
        let mut bob = TestClient::connect(server.addr, "bob", "lobby")
            .await
            .unwrap();
        bob.say(&format!("see {url} please")).await.unwrap();
    });
    let screen = tmux.wait_for("alice", "please");
    // Without OSC 8 (tmux 3.3 drops it), the text is all there, and the rows that go on
    // with the URL start with it, not with the indent.
    let rows: Vec<&str> = screen.lines().collect();
    let first = rows
        .iter()
        .position(|r| r.contains("<bob> see https://"))
        .unwrap();
    let mut text = rows[first]
        .split_once("see ")
        .unwrap()
        .1
        .trim_end()
        .to_owned();
    for row in &rows[first + 1..] {
        assert!(!row.starts_with(' '), "an indent inside the URL: {row:?}");
        text.push_str(row.trim_end());
        if row.contains("please") {
            break;
        }
    }
    assert_eq!(text, format!("{url} please"));
    // What the client wrote: each cell of the URL inside an OSC 8 link to all of it.
    let output = wait_file(&log, "the link", |t| t.contains("please"));
    let open = format!(";{url}\u{1b}\\");
    assert!(output.contains("\u{1b}]8;id="), "no OSC 8 in {output:?}");
    assert!(
        output.contains(&format!("{open}h\u{1b}]8;;\u{1b}\\")),
        "{output:?}"
    );
}

#[test]
fn a_mention_or_private_message_while_unfocused_notifies_through_tmux() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("notify");
    tmux.join("alice", server.addr, "alice", &[]);
    let log = scratch_dir("tui-notify").join("output");
    tmux.log_output("alice", &log);
    let notification = |title: &str, body: &str| {
        // Inside tmux, wrapped for passthrough: every ESC of the sequence doubled.
        format!("\u{1b}Ptmux;\u{1b}\u{1b}]777;notify;{title};{body}\u{1b}\u{1b}\\\u{1b}\\")
    };
    runtime().block_on(async {
        let mut bob = TestClient::connect(server.addr, "bob", "lobby")
            .await
            .unwrap();
        tmux.wait_for("alice", "bob joined #lobby");
        // Focused: the bell only (turned off here), no notification.
        bob.say("alice: one").await.unwrap();
        tmux.wait_for("alice", "alice: one");
        // The terminal says it lost the focus (ESC [ O); the client's log tells when it
        // heard it (tmux writes it in its own time).
        tmux.send_bytes("alice", b"\x1b[O");
        wait_log(&tmux, "alice", "focused=false");
        bob.say("hey alice, \u{1b}]0;evil\u{7} two").await.unwrap();
        let text = notification("bob in #lobby", "hey alice, \u{241b}]0;evil\u{2407} two");
        wait_file(&log, "the mention's notification", |t| t.contains(&text));
        bob.send(ClientMsg::Private {
            to: "alice".into(),
            text: "psst".into(),
        })
        .await
        .unwrap();
        let text = notification("bob (private)", "psst");
        wait_file(&log, "the private message's notification", |t| {
            t.contains(&text)
        });
        // Focused again (ESC [ I): nothing more.
        tmux.send_bytes("alice", b"\x1b[I");
        wait_log(&tmux, "alice", "focused=true");
        bob.say("alice: three").await.unwrap();
        tmux.wait_for("alice", "alice: three");
    });
    let output = wait_file(&log, "the last line", |t| t.contains("three"));
    assert_eq!(output.matches("]777;notify;").count(), 2, "{output:?}");
    assert!(!output.contains("alice: one\u{1b}\u{1b}"), "{output:?}");
}

/// `chat-tui` with `XDG_STATE_HOME` set to `state`.
fn with_state(state: &Path) -> [String; 2] {
    [
        "env".to_owned(),
        format!("XDG_STATE_HOME={}", state.display()),
    ]
}

#[test]
fn the_input_history_outlives_the_client() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("input-history");
    let state = scratch_dir("tui-state");
    let wrapper = with_state(&state);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let addr = server.addr.to_string();
    let args = ["--connect", &addr, "--nick", "mei"];
    tmux.chat_tui_through("one", &wrapper, &args);
    tmux.wait_for("one", "as mei (");
    tmux.say("one", "remember me 你好");
    tmux.wait_for("one", "<mei> remember me 你好");
    tmux.say("one", "/quit");
    tmux.assert_exit("one", 0);
    let file = state.join("chat-tui").join("input_history");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file)
            .expect("the history file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    tmux.chat_tui_through("two", &wrapper, &args);
    tmux.wait_for("two", "as mei (");
    tmux.keys("two", &["Up"]);
    tmux.wait_until("two", "the last line", |s| {
        s.lines().last().is_some_and(|l| l.trim_end() == "> /quit")
    });
    tmux.keys("two", &["Up"]);
    tmux.wait_until("two", "the line before", |s| {
        s.lines()
            .last()
            .is_some_and(|l| l.trim_end() == "> remember me 你好")
    });

    // A file that is not history: one notice, and the client runs.
    tmux.keys("two", &["C-u"]);
    tmux.say("two", "/quit");
    tmux.assert_exit("two", 0);
    std::fs::write(&file, b"\xff\xfe broken\n").unwrap();
    tmux.chat_tui_through("three", &wrapper, &args);
    tmux.wait_for("three", "as mei (");
    tmux.wait_for("three", "input history");
    tmux.wait_for("three", "moved to");
}

/// A configuration file in a folder of its own.
fn config(text: &str) -> PathBuf {
    let path = scratch_dir("tui-config").join("client.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_file_sets_the_timestamp_and_turns_the_mouse_off() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("config-look");
    let file = config("timestamp = \"[%H:%M:%S]\"\nmouse = false\nhighlight = [\"deploy\"]\n");
    let log = scratch_dir("tui-mouse").join("output");
    // The client starts only once its output is logged: the mouse is asked for at start.
    let go = log.with_extension("go");
    let wait = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; exec \"$@\"",
        shell_quote(&go.display().to_string())
    );
    let addr = server.addr.to_string();
    let args = [
        "--connect",
        &addr,
        "--nick",
        "ann",
        "--config",
        file.to_str().unwrap(),
    ];
    tmux.chat_tui_through("ann", &["sh", "-c", &wait, "sh"], &args);
    tmux.log_output("ann", &log);
    std::fs::write(&go, "").unwrap();
    tmux.wait_for("ann", "as ann (");
    let screen = tmux.wait_for("ann", "joined #lobby");
    let first = screen
        .lines()
        .find(|l| l.contains("joined #lobby as ann"))
        .unwrap();
    let stamp = first.split(' ').next().unwrap();
    assert!(
        stamp.len() == 10 && stamp.starts_with('[') && stamp.ends_with(']'),
        "{first:?}"
    );
    let output = wait_file(&log, "the first frame", |t| t.contains("joined"));
    assert!(!output.contains("\u{1b}[?1000h"), "the mouse was asked for");
    assert!(
        output.contains("\u{1b}[?1004h"),
        "focus reports were not asked for"
    );

    // Without the file's `mouse = false`, the wheel is asked for.
    let log2 = log.with_extension("second");
    let go2 = log.with_extension("go2");
    let wait2 = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; exec \"$@\"",
        shell_quote(&go2.display().to_string())
    );
    tmux.chat_tui_through(
        "ben",
        &["sh", "-c", &wait2, "sh"],
        &["--connect", &addr, "--nick", "ben"],
    );
    tmux.log_output("ben", &log2);
    std::fs::write(&go2, "").unwrap();
    tmux.wait_for("ben", "as ben");
    let output = wait_file(&log2, "the first frame", |t| t.contains("joined"));
    assert!(output.contains("\u{1b}[?1000h"), "{output:?}");
}

#[test]
fn ignore_hides_a_nick_and_is_written_into_the_file() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("ignore");
    let text = "# my settings\nnick = \"ann\"\n\n# quiet please\ntheme = \"light\"\n";
    let file = config(text);
    let addr = server.addr.to_string();
    tmux.chat_tui(
        "ann",
        &["--connect", &addr, "--config", file.to_str().unwrap()],
    );
    tmux.wait_for("ann", "as ann (");
    runtime().block_on(async {
        let mut bob = TestClient::connect(server.addr, "bob", "lobby")
            .await
            .unwrap();
        tmux.wait_for("ann", "bob joined #lobby");
        tmux.say("ann", "/ignore Bob");
        tmux.wait_for("ann", "ignoring Bob");
        bob.say("unseen line").await.unwrap();
        bob.say("ann: unseen mention").await.unwrap();
        let mut carol = TestClient::connect(server.addr, "carol", "lobby")
            .await
            .unwrap();
        carol.say("carol speaks").await.unwrap();
        tmux.wait_for("ann", "<carol> carol speaks");
        let screen = tmux.screen("ann");
        assert!(!screen.contains("unseen"), "{screen}");
    });
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, format!("{text}ignore = [\"Bob\"]\n"));
    // The next run starts with the list.
    tmux.say("ann", "/quit");
    tmux.assert_exit("ann", 0);
    tmux.chat_tui(
        "ann2",
        &["--connect", &addr, "--config", file.to_str().unwrap()],
    );
    tmux.wait_for("ann2", "as ann (");
    tmux.say("ann2", "/ignore");
    tmux.wait_for("ann2", "ignored: Bob");
}
