//! `chat-cli`, the line-mode client, as a script would run it: the real binary against the
//! real server binary on 127.0.0.1.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};

use anyhow::{Context, bail};
use shared::ClientMsg;
use tempfile::TempDir;
use tests::binaries::{binary, reach_args, start_server_binary};
use tests::client::{TestClient, WAIT, said as said_by};
use tests::probe::send_signal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

type Result = anyhow::Result<()>;

/// The server binary on a free port of 127.0.0.1, with a data directory of its own.
async fn start_server() -> anyhow::Result<(Child, SocketAddr, TempDir)> {
    start_server_with(&[]).await
}

/// [`start_server`] with more flags.
async fn start_server_with(flags: &[&str]) -> anyhow::Result<(Child, SocketAddr, TempDir)> {
    let data = tempfile::tempdir()?;
    let dir = data.path().to_str().context("a UTF-8 temporary path")?;
    let (child, addr) = start_server_binary(&[&["--data-dir", dir], flags].concat()).await?;
    Ok((child, addr, data))
}

/// `chat-cli --connect ADDR --nick NICK --room ops ARGS...`, killed if the test ends first.
fn chat_cli(addr: SocketAddr, nick: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary("chat-cli"));
    command
        .args([
            "--connect",
            &addr.to_string(),
            "--nick",
            nick,
            "--room",
            "ops",
        ])
        .args(reach_args(addr))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs chat-cli to its end (bounded); returns its status, stdout and stderr.
async fn run(mut command: Command) -> anyhow::Result<(ExitStatus, String, String)> {
    let out = timeout(WAIT, command.output())
        .await
        .context("chat-cli did not finish in time")??;
    let text = |b: Vec<u8>| String::from_utf8(b).context("output is UTF-8");
    Ok((out.status, text(out.stdout)?, text(out.stderr)?))
}

/// A running `chat-cli listen`, and its output as lines.
struct Listener {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Listener {
    /// Starts `listen ARGS` and waits for its first line, which says it is in the room.
    async fn start(addr: SocketAddr, nick: &str, args: &[&str]) -> anyhow::Result<Self> {
        let mut child = chat_cli(addr, nick, &[&["listen"], args].concat()).spawn()?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut listener = Self {
            child,
            lines: BufReader::new(stdout).lines(),
        };
        let first = listener.line().await?;
        if !first.contains("joined") {
            bail!("unexpected first line: {first:?}");
        }
        Ok(listener)
    }

    async fn line(&mut self) -> anyhow::Result<String> {
        timeout(WAIT, self.lines.next_line())
            .await
            .context("no line in time")??
            .context("standard output ended")
    }

    /// Lines until one satisfies `pred`, that one last.
    async fn until(&mut self, pred: impl Fn(&str) -> bool) -> anyhow::Result<Vec<String>> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .line()
                .await
                .with_context(|| format!("after {seen:?}"))?;
            let done = pred(&line);
            seen.push(line);
            if done {
                return Ok(seen);
            }
        }
    }

    /// Stops it with SIGTERM; it must leave with exit code 0.
    async fn stop(mut self) -> Result {
        let pid = self.child.id().context("listener is running")?;
        send_signal(pid, "TERM")?;
        let status = timeout(WAIT, self.child.wait()).await??;
        assert_eq!(status.code(), Some(0), "listen after SIGTERM");
        Ok(())
    }
}

/// `HH:MM ` at the start of a plain line.
fn has_clock(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 6
        && b[..5].iter().enumerate().all(|(i, c)| {
            if i == 2 {
                *c == b':'
            } else {
                c.is_ascii_digit()
            }
        })
        && b[5] == b' '
}

#[tokio::test]
async fn a_sent_line_reaches_a_listener() -> Result {
    let (_server, addr, _data) = start_server().await?;
    let mut listener = Listener::start(addr, "logger", &[]).await?;

    let (status, stdout, stderr) = run(chat_cli(addr, "bot", &["send", "deploy", "done"])).await?;
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));

    let seen = listener.until(|l| l.ends_with("<bot> deploy done")).await?;
    let line = seen.last().context("a line")?;
    assert!(has_clock(line), "{line:?}");
    assert!(
        seen.iter().any(|l| l.ends_with("-- bot joined #ops")),
        "{seen:?}"
    );
    // The sender left once its line was stamped.
    listener.until(|l| l.contains("-- bot left #ops")).await?;

    // What others send cannot drive the listener's terminal.
    let mut mallory = TestClient::connect(addr, "mallory", "ops").await?;
    mallory.say("\x1b[2J\x1b]0;owned\x07 hi").await?;
    let seen = listener.until(|l| l.contains("<mallory>")).await?;
    let line = seen.last().context("a line")?;
    assert!(line.ends_with("<mallory> ␛[2J␛]0;owned␇ hi"), "{line:?}");
    listener.stop().await
}

#[tokio::test]
async fn standard_input_is_sent_line_by_line_in_order() -> Result {
    let (_server, addr, _data) = start_server().await?;
    let mut watcher = TestClient::connect(addr, "watcher", "ops").await?;

    // More than the client's burst of 15, so some lines wait for their turn; blank lines
    // are skipped, a CRLF ending is taken off.
    let mut input = String::new();
    for n in 1..=30 {
        input.push_str(&format!("build step {n}\n"));
        if n == 10 {
            input.push_str("  \n\n");
        }
    }
    input.push_str("last line\r\n");
    // 16 of the 31 lines wait for their turn, at 8 a second: 2 s on top of the usual.
    let stderr = send_piped(addr, "ci", &input).await?;
    assert_eq!(stderr, "");

    let mut expected: Vec<String> = (1..=30).map(|n| format!("build step {n}")).collect();
    expected.push("last line".into());
    assert_eq!(lines_from(&mut watcher, "ci", 31).await?, expected);
    Ok(())
}

/// Pipes `input` into `chat-cli send` as `nick`, which must exit 0 in time; returns what
/// it wrote on standard error.
async fn send_piped(addr: SocketAddr, nick: &str, input: &str) -> anyhow::Result<String> {
    let mut command = chat_cli(addr, nick, &["send"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().context("stdin is piped")?;
    stdin.write_all(input.as_bytes()).await?;
    drop(stdin);
    // Twice the usual wait: some lines wait for their turn at the client's pace.
    let out = timeout(2 * WAIT, child.wait_with_output())
        .await
        .context("chat-cli send did not finish in time")??;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    Ok(stderr)
}

/// The next `n` lines `from` says in the room, as `watcher` hears them.
async fn lines_from(watcher: &mut TestClient, from: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let mut said = Vec::new();
    while said.len() < n {
        let msg = watcher.recv().await?;
        if let Some(line) = said_by(&msg).filter(|s| s.from == from) {
            said.push(line.text.to_owned());
        }
    }
    Ok(said)
}

/// A server run with a lower request rate than the default says so in its welcome, and
/// the client paces itself below it: a paste that the default pace would send too fast
/// (held back for longer than the flood timeout, it would be cut off as a flooder) goes
/// through whole.
#[tokio::test]
async fn a_server_with_lower_limits_sets_the_pace() -> Result {
    let flags = [
        "--msg-rate",
        "4",
        "--msg-burst",
        "4",
        "--flood-timeout",
        "1s",
    ];
    let (_server, addr, _data) = start_server_with(&flags).await?;
    let mut watcher = TestClient::connect(addr, "watcher", "ops").await?;
    let input: String = (1..=12).map(|n| format!("line {n}\n")).collect();
    // 3 at once, then 3 a second: 3 s on top of the usual.
    send_piped(addr, "ci", &input).await?;
    let expected: Vec<String> = (1..=12).map(|n| format!("line {n}")).collect();
    assert_eq!(lines_from(&mut watcher, "ci", 12).await?, expected);
    Ok(())
}

#[tokio::test]
async fn json_lines_parse_and_carry_the_exact_text() -> Result {
    let (_server, addr, _data) = start_server().await?;
    let mut listener = Listener::start(addr, "logger", &["--json"]).await?;
    let mut bob = TestClient::connect(addr, "bob", "ops").await?;
    let sneaky = "\x1b[31mred\x1b[0m \u{9b}2J \u{202e}txt.exe \"quoted\" 你好";
    bob.say(sneaky).await?;
    bob.send(ClientMsg::Action {
        text: "waves".into(),
    })
    .await?;
    bob.send(ClientMsg::Private {
        to: "logger".into(),
        text: "psst".into(),
    })
    .await?;

    let lines = listener.until(|l| l.contains("\"private\"")).await?;
    let mut objects = Vec::new();
    for line in &lines {
        assert!(
            !line
                .chars()
                .any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}')),
            "a character a terminal could act on in {line:?}"
        );
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("not JSON: {line:?}"))?;
        objects.push(value);
    }
    let types: Vec<&str> = objects.iter().filter_map(|o| o["type"].as_str()).collect();
    assert_eq!(types, ["join", "chat", "action", "private"], "{lines:?}");
    let (join, chat, action, private) = (&objects[0], &objects[1], &objects[2], &objects[3]);
    assert_eq!(
        (&join["from"], &join["room"]),
        (&"bob".into(), &"ops".into())
    );
    assert_eq!(chat["text"], sneaky);
    assert_eq!(
        (&chat["from"], &chat["room"]),
        (&"bob".into(), &"ops".into())
    );
    assert!(chat["id"].as_u64().is_some() && chat["time"].as_u64().is_some());
    assert_eq!(action["text"], "waves");
    assert_eq!(
        (&private["from"], &private["to"]),
        (&"bob".into(), &"logger".into())
    );
    assert_eq!(private["text"], "psst");
    listener.stop().await
}

#[tokio::test]
async fn a_taken_nick_exits_2_with_one_clear_line() -> Result {
    let (_server, addr, _data) = start_server().await?;
    let _bot = TestClient::connect(addr, "bot", "ops").await?;
    let (status, stdout, stderr) = run(chat_cli(addr, "bot", &["send", "hi"])).await?;
    assert_eq!(status.code(), Some(2));
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "chat-cli: the nick 'bot' is taken; choose another with --nick\n"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_exits_2_with_one_clear_line() -> Result {
    // A port that nothing listens on any more.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (status, _, stderr) = run(chat_cli(addr, "bot", &["send", "hi"])).await?;
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.starts_with(&format!("chat-cli: cannot reach the server at {addr}: ")),
        "{stderr:?}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    Ok(())
}

#[tokio::test]
async fn a_line_too_long_for_a_message_exits_2() -> Result {
    let (_server, addr, _data) = start_server().await?;
    let mut command = chat_cli(addr, "bot", &["send"]);
    command.stdin(Stdio::piped());
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().context("stdin is piped")?;
    stdin
        .write_all(format!("fine\n{}\n", "x".repeat(5000)).as_bytes())
        .await?;
    drop(stdin);
    let out = timeout(WAIT, child.wait_with_output()).await??;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "chat-cli: line 2 of standard input is longer than 4096 bytes, the most a message \
         holds\n"
    );
    Ok(())
}

#[tokio::test]
async fn a_closed_standard_output_is_not_an_error() -> Result {
    let (_server, addr, _data) = start_server().await?;
    let Listener { mut child, lines } = Listener::start(addr, "logger", &[]).await?;
    // As `chat-cli listen | head -1` does: the reader goes away after one line.
    drop(lines);
    let mut bob = TestClient::connect(addr, "bob", "ops").await?;
    bob.say("anyone?").await?;
    // It leaves as on SIGTERM: a quit, then up to 2 s for the session to end.
    let status = timeout(2 * WAIT, child.wait())
        .await
        .context("listen did not end after its output closed")??;
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        tokio::io::AsyncReadExt::read_to_string(&mut err, &mut stderr).await?;
    }
    assert_eq!(stderr, "");
    Ok(())
}

/// The JSON objects of `stdout`, one per line.
fn json_lines(stdout: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).with_context(|| format!("not JSON: {line:?}")))
        .collect()
}

/// `history` prints the newest messages of the room's history, oldest first, as listen
/// prints them, paging back beyond the server's page; `search` prints the hits, newest
/// first.
#[tokio::test]
async fn history_and_search_print_what_the_server_keeps() -> Result {
    let (_server, addr, _data) = start_server_with(&["--msg-rate", "0"]).await?;
    let mut bob = TestClient::connect(addr, "bob", "ops").await?;
    let said: Vec<String> = (0..450).map(|i| format!("line {i:03}")).collect();
    for text in &said {
        bob.say(text).await?;
    }
    bob.say("the disk is full again").await?;
    bob.recv_until(|m| said_by(m).is_some_and(|s| s.text == "the disk is full again"))
        .await?;

    let (status, stdout, stderr) =
        run(chat_cli(addr, "reader", &["history", "--limit", "3"])).await?;
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines.iter().all(|l| has_clock(l)), "{stdout}");
    assert!(lines[0].ends_with("<bob> line 448"), "{stdout}");
    assert!(
        lines[2].ends_with("<bob> the disk is full again"),
        "{stdout}"
    );

    // More than a page of the server's (200): paged back, each once, in order.
    let (status, stdout, stderr) = run(chat_cli(
        addr,
        "reader",
        &["history", "--limit", "420", "--json"],
    ))
    .await?;
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
    let objects = json_lines(&stdout)?;
    let texts: Vec<&str> = objects.iter().filter_map(|o| o["text"].as_str()).collect();
    let mut expected: Vec<&str> = said[31..].iter().map(String::as_str).collect();
    expected.push("the disk is full again");
    assert_eq!(texts, expected);
    let seqs: Vec<u64> = objects.iter().filter_map(|o| o["seq"].as_u64()).collect();
    assert_eq!(seqs.len(), objects.len());
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(
        objects
            .iter()
            .all(|o| o["type"] == "chat" && o["from"] == "bob")
    );

    // Search: the index follows the writes within seconds.
    let mut found = Vec::new();
    for _ in 0..40 {
        let (status, stdout, stderr) = run(chat_cli(
            addr,
            "reader",
            &["search", "DISK", "full", "--json"],
        ))
        .await?;
        assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
        found = json_lines(&stdout)?;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let texts: Vec<&str> = found.iter().filter_map(|o| o["text"].as_str()).collect();
    assert_eq!(texts, ["the disk is full again"]);
    // Newest first, at most --limit.
    let (status, stdout, _) = run(chat_cli(
        addr,
        "reader",
        &["search", "line", "--limit", "4"],
    ))
    .await?;
    assert_eq!(status.code(), Some(0));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].ends_with("<bob> line 449") && lines[3].ends_with("<bob> line 446"),
        "{stdout}"
    );
    Ok(())
}

/// Without history on the server, `history` and `search` exit 2 with one line that says so.
#[tokio::test]
async fn history_without_history_on_the_server_exits_2_with_one_line() -> Result {
    let (_server, addr, _data) = start_server_with(&["--no-history"]).await?;
    for args in [&["history"][..], &["search", "anything"]] {
        let (status, stdout, stderr) = run(chat_cli(addr, "reader", args)).await?;
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert_eq!(stdout, "");
        assert!(
            stderr.starts_with("chat-cli: the server keeps no history here: ")
                && stderr.ends_with('\n')
                && stderr.lines().count() == 1,
            "{stderr:?}"
        );
    }
    Ok(())
}
