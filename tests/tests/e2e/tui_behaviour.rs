//! The terminal client in a real terminal (tmux): signals, idle CPU, typing under a flood.

use std::process::Command;
use std::time::Duration;

use shared::ClientMsg;
use tests::binaries::binary;
use tests::client::TestClient;
use tests::tmux::{ServerProcess, Tmux, child_of, cpu_ticks, shell_quote};

/// Starts the client from a shell in window `shell` and returns the client's PID.
fn client_in_shell(tmux: &mut Tmux, server: &ServerProcess, nick: &str) -> u32 {
    tmux.pin(server.addr);
    tmux.open("shell", "sh");
    tmux.say("shell", "echo before-$((40+2))");
    tmux.wait_for("shell", "before-42");
    tmux.say(
        "shell",
        &format!(
            "{} --no-bell --log-file /dev/null --connect {} --nick {nick}",
            shell_quote(&binary("chat-tui").display().to_string()),
            server.addr
        ),
    );
    tmux.wait_for("shell", &format!("as {nick} ("));
    child_of(tmux.pane_pid("shell"))
}

/// After the client is gone, the shell's own screen is back and reads lines again.
fn assert_shell_restored(tmux: &Tmux) {
    let screen = tmux.wait_for("shell", "before-42");
    assert!(!screen.contains(" connected "), "{screen}");
    tmux.say("shell", "echo after-$((1+1))");
    tmux.wait_for("shell", "after-2");
}

#[test]
fn sigterm_restores_the_terminal() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("sigterm");
    let pid = client_in_shell(&mut tmux, &server, "termed");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_shell_restored(&tmux);
}

#[test]
fn sighup_restores_the_terminal() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("sighup");
    let pid = client_in_shell(&mut tmux, &server, "hungup");
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_shell_restored(&tmux);
}

#[test]
fn idle_client_uses_no_cpu() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("idle");
    tmux.join("c", server.addr, "idler", &[]);
    // The window's shell runs the client as its child.
    let pid = child_of(tmux.pane_pid("c"));
    tmux.say("c", "settled");
    tmux.wait_for("c", "<idler> settled");
    let before = cpu_ticks(pid);
    // A measurement, not a synchronisation: nothing happens during this second.
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    // A polling loop would burn ticks continuously; an idle event loop uses none.
    assert!(used <= 1, "idle client used {used} ticks in a second");
}

#[test]
fn typing_stays_responsive_during_a_flood() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("flood");
    tmux.join("c", server.addr, "typist", &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut flooder = TestClient::connect(server.addr, "flooder", "lobby")
            .await
            .unwrap();
        tmux.wait_for("c", "flooder joined #lobby");
        let flood = tokio::spawn(async move {
            for i in 0..3000 {
                let text = format!("flood {i} 洪水 🌊");
                if flooder.send(ClientMsg::Chat { text }).await.is_err() {
                    break;
                }
            }
            flooder
        });
        tmux.wait_for("c", "<flooder> flood");
        tmux.type_text("c", "typed during the flood");
        tmux.wait_for("c", "> typed during the flood");
        let _flooder = flood.await.unwrap();
    });
    // The client is still alive and keeps working after the flood.
    tmux.keys("c", &["Enter"]);
    tmux.wait_until("c", "own line after the flood", |s| {
        s.contains("<typist> typed during the flood")
    });
}
