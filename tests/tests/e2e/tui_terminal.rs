//! The terminal client and its terminal: Ctrl-L redraws while messages keep arriving, and a
//! client whose terminal goes away (its window closed) or that is told to stop (SIGTERM)
//! leaves the room and exits.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use tests::client::{TestClient, left};
use tests::tmux::{ServerProcess, Tmux, child_of};

/// Longest a client may take to exit once its terminal is gone or it got SIGTERM. The
/// client itself takes a few milliseconds; the rest is room for a loaded machine.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Whether process `pid` has exited: gone, or a zombie nobody reaped yet (a client whose
/// window was closed is reparented, and its new parent may reap it late).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name, which may hold spaces: after its last `)`.
        Ok(stat) => stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'),
    }
}

/// Waits, bounded by [`EXIT_WAIT`], until process `pid` has exited.
fn assert_exits(pid: u32, what: &str) {
    let deadline = Instant::now() + EXIT_WAIT;
    while !exited(pid) {
        assert!(
            Instant::now() < deadline,
            "the client (pid {pid}) still runs {EXIT_WAIT:?} after {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The client in window `name`: the shell tmux started runs it as its only child.
fn client_pid(tmux: &Tmux, name: &str) -> u32 {
    let pid = child_of(tmux.pane_pid(name));
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "chat-tui", "the window runs something else");
    pid
}

/// Presses Ctrl-L `times` times in window `name` while `other` talks in the room, then
/// checks that a line said after the last key is drawn with no key pressed after it, and
/// that the client still runs.
async fn redraw_while_talking(tmux: &Tmux, name: &str, pid: u32, other: &mut TestClient) {
    for i in 0..20 {
        tmux.keys(name, &["C-l"]);
        other
            .say(&format!("line {i} during the redraws"))
            .await
            .unwrap();
    }
    tmux.wait_for(name, "<watcher> line 19 during the redraws");
    // The last key was pressed before this line was said: drawing it must not wait for
    // another.
    other.say("said after the last key").await.unwrap();
    let screen = tmux.wait_for(name, "<watcher> said after the last key");
    assert!(
        screen.contains(" connected "),
        "status line lost:\n{screen}"
    );
    assert_eq!(tmux.exit_status(name), None, "the client exited:\n{screen}");
    assert!(
        !exited(pid),
        "the client exited:\n{screen}\n{}",
        tmux.log(name)
    );
}

/// Waits until `watcher` is told that `nick` left for one of `reasons`; then `nick` is free.
async fn assert_left(watcher: &mut TestClient, addr: SocketAddr, nick: &str, reasons: &[&str]) {
    watcher
        .recv_until(|m| left(m, nick, |why| reasons.contains(&why)))
        .await
        .unwrap_or_else(|e| panic!("{nick} was not seen leaving for {reasons:?}: {e:#}"));
    let again = TestClient::connect(addr, nick, "lobby").await.unwrap();
    assert_eq!(again.nick, nick, "the nick is still taken");
}

#[test]
fn ctrl_l_keeps_drawing_and_closing_the_terminal_ends_the_client() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("ctrl-l");
    tmux.join("c", server.addr, "redrawer", &[]);
    let pid = client_pid(&tmux, "c");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut watcher = TestClient::connect(server.addr, "watcher", "lobby")
            .await
            .unwrap();
        tmux.wait_for("c", "watcher joined #lobby");
        redraw_while_talking(&tmux, "c", pid, &mut watcher).await;
        // The window closed: the client gets SIGHUP and its terminal hangs up; it leaves
        // on whichever it hears first (or on a draw that fails meanwhile).
        tmux.kill_window("c");
        assert_left(
            &mut watcher,
            server.addr,
            "redrawer",
            &["hangup", "terminal closed", "terminal failed"],
        )
        .await;
    });
    assert_exits(pid, "its window was closed");
}

/// Without SIGHUP (the client runs in a session of its own, so the closing terminal
/// signals nobody in it), the hang-up alone must end it.
#[test]
fn a_terminal_that_hangs_up_without_sighup_ends_the_client() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("hangup");
    let addr = server.addr.to_string();
    tmux.chat_tui_through(
        "c",
        &["setsid"],
        &["--connect", &addr, "--nick", "detached"],
    );
    tmux.wait_for("c", "as detached (");
    let pid = client_pid(&tmux, "c");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut watcher = TestClient::connect(server.addr, "watcher", "lobby")
            .await
            .unwrap();
        tmux.wait_for("c", "watcher joined #lobby");
        redraw_while_talking(&tmux, "c", pid, &mut watcher).await;
        tmux.kill_window("c");
        assert_left(&mut watcher, server.addr, "detached", &["terminal closed"]).await;
    });
    assert_exits(pid, "its window was closed");
}

#[test]
fn sigterm_after_ctrl_l_leaves_the_room_and_exits() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("ctrl-l-term");
    tmux.join("c", server.addr, "stopped", &[]);
    let pid = client_pid(&tmux, "c");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut watcher = TestClient::connect(server.addr, "watcher", "lobby")
            .await
            .unwrap();
        tmux.wait_for("c", "watcher joined #lobby");
        redraw_while_talking(&tmux, "c", pid, &mut watcher).await;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert_left(&mut watcher, server.addr, "stopped", &["terminated"]).await;
    });
    assert_exits(pid, "SIGTERM");
    tmux.assert_exit("c", 0);
}
