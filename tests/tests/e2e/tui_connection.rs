//! The terminal client in a real terminal (tmux): hosting, reconnecting, and the errors it
//! reports before it takes the screen.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::binaries::{binary, reach_args, scratch_dir};
use tests::tmux::{SCREEN_WAIT, ServerProcess, Tmux};

#[test]
fn host_mode_shows_its_address_and_others_join() {
    let mut tmux = Tmux::new("host");
    tmux.chat_tui("host", &["--host", "127.0.0.1:0", "--nick", "hostess"]);
    let screen = tmux.wait_for("host", "hosting on 127.0.0.1:");
    let addr: SocketAddr = screen
        .split("hosting on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        // ", TLS key …" follows the address.
        .and_then(|a| a.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no address in the status line:\n{screen}"));
    assert_ne!(addr.port(), 0);
    // The hosted server speaks TLS, and the host is told its key, in full.
    let screen = tmux.wait_for("host", "this server's TLS key is");
    let key: String = screen
        .split("this server's TLS key is")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the host's key")
        .trim_end_matches(';')
        .to_owned();

    // The guest meets it for the first time: the same key shown and asked about.
    let addr = addr.to_string();
    tmux.chat_tui("guest", &["--connect", &addr, "--nick", "guest"]);
    let screen = tmux.wait_for("guest", "(y/n)");
    assert!(screen.contains(&key), "the host's key {key}: {screen}");
    tmux.say("guest", "y");
    tmux.wait_for("guest", "as guest (");
    tmux.wait_for("host", "guest joined #lobby");
    tmux.say("guest", "hi host 👋");
    tmux.wait_for("host", "<guest> hi host 👋");
    tmux.say("host", "welcome!");
    tmux.wait_for("guest", "<hostess> welcome!");

    // When the host quits, its server goes with it and the guest is told.
    tmux.say("host", "/quit");
    tmux.assert_exit("host", 0);
    tmux.wait_until("guest", "the guest noticing", |s| {
        s.contains("reconnecting in")
    });
}

#[test]
fn clients_reconnect_after_the_server_restarts() {
    let server = ServerProcess::start();
    let (addr, data) = (server.addr, server.data.clone());
    let mut tmux = Tmux::new("restart");
    tmux.join("alice", addr, "alice", &[]);
    tmux.join("bob", addr, "bob", &["--room", "ops"]);

    server.kill();
    for name in ["alice", "bob"] {
        tmux.wait_for(name, "connection lost");
        tmux.wait_until(name, "the status line saying so", |s| {
            s.contains("reconnecting in") || s.contains("disconnected")
        });
    }
    // Typed while disconnected: queued, visibly, and sent after the reconnect.
    tmux.say("alice", "sent while the server was down");
    tmux.wait_for("alice", "queued, 1 waiting");

    // On the same data directory: the same key, which the clients pinned.
    let data = data.to_str().expect("a UTF-8 path");
    let _server = ServerProcess::start_with(&addr.to_string(), &["--data-dir", data]);
    tmux.wait_for("alice", "reconnected: #lobby as alice");
    // bob rejoins the room it was in, not the default one.
    tmux.wait_for("bob", "reconnected: #ops as bob");
    tmux.wait_for("alice", "sent 1 queued message(s)");
    tmux.wait_for("alice", "<alice> sent while the server was down");
    tmux.wait_until("alice", "status line connected", |s| {
        s.contains(" connected ")
    });

    tmux.say("bob", "/join lobby");
    tmux.wait_for("alice", "bob joined #lobby");
    tmux.say("bob", "back again");
    tmux.wait_for("alice", "<bob> back again");
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Runs `chat-tui` outside any terminal until it exits (bounded); returns its exit code
/// and what it printed on stderr. Errors found before the screen is taken over need no
/// terminal, and reading a pipe sees every byte, which a pane that dies at once may not.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    run_to_exit_in(&std::env::temp_dir(), args)
}

/// [`run_to_exit`] in the working directory `dir`.
fn run_to_exit_in(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let log = std::env::temp_dir().join(format!("chat-tui-exit-{}.log", std::process::id()));
    let mut child = Command::new(binary("chat-tui"))
        .current_dir(dir)
        .args(["--log-file", &log.display().to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SCREEN_WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chat-tui {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = std::fs::remove_file(log);
    (status.code(), stderr)
}

#[test]
fn unreachable_server_is_one_clear_line_and_exit_code_2() {
    let addr = closed_port().to_string();
    let (code, stderr) = run_to_exit(&["--connect", &addr, "--nick", "lost"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("chat-tui: cannot reach the server at {addr}: ")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn hosting_with_an_unusable_data_directory_is_one_clear_line_and_exit_code_2() {
    // `--host` keeps files in ./chat-data; here that name is taken by a regular file, which
    // no one can create a folder under, root included.
    let dir = scratch_dir("host-data");
    std::fs::write(dir.join("chat-data"), b"not a folder").unwrap();
    let (code, stderr) = run_to_exit_in(&dir, &["--host", "127.0.0.1:0", "--nick", "hostess"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("chat-tui: cannot use the data directory 'chat-data': "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn taken_nick_is_one_clear_line_and_exit_code_2() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("taken");
    tmux.join("first", server.addr, "zoe", &[]);
    let addr = server.addr.to_string();
    let mut args = vec!["--connect", &addr, "--nick", "zoe"];
    let reach = reach_args(server.addr);
    args.extend(reach.iter().map(String::as_str));
    let (code, stderr) = run_to_exit(&args);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "chat-tui: the nick 'zoe' is taken; choose another with --nick\n"
    );
}

/// What a server of protocol version 3 answered a `Hello4` (it has no variant 18 and
/// says so in bincode's words), then it closed the connection.
fn version_3_server_answer() -> Vec<u8> {
    let text = "malformed frame: OtherString(\"invalid value: integer `18`, expected variant \
                index 0 <= i < 18\")";
    let refusal = shared::ServerMsg::Error {
        kind: shared::ErrorKind::MalformedFrame,
        text: text.into(),
    };
    shared::encode_frame(&refusal).unwrap().to_vec()
}

/// A server that speaks version 3, in raw frames: it reads the hello, checks that it is a
/// `Hello4` (variant 18), refuses it as a version 3 server did, and closes.
fn version_3_server() -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::Write;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(SCREEN_WAIT)).unwrap();
        let mut header = [0; 4];
        socket.read_exact(&mut header).unwrap();
        let mut payload = vec![0; u32::from_be_bytes(header) as usize];
        socket.read_exact(&mut payload).unwrap();
        socket.write_all(&version_3_server_answer()).unwrap();
        payload
    });
    (addr, serve)
}

#[test]
fn a_server_of_protocol_3_is_one_clear_line_and_exit_code_2() {
    let (addr, serve) = version_3_server();
    let addr = addr.to_string();
    // Older than TLS, it speaks plaintext only.
    let (code, stderr) = run_to_exit(&["--connect", &addr, "--nick", "newer", "--plaintext"]);
    let hello = serve.join().unwrap();
    assert_eq!(hello[0], 18, "the client said hello with Hello4");
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "chat-tui: the server at {addr} speaks an older protocol (version 3 or earlier) \
             and this client needs version 4: update the server, or use a client of its \
             version\n"
        )
    );
}
