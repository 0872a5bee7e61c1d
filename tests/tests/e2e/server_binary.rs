//! The real `chat-server` binary, run as a user would.

use std::net::SocketAddr;

use anyhow::Context;
use shared::ServerMsg;
use tests::binaries::{binary, start_server_binary};
use tests::client::{TestClient, WAIT, said};
use tokio::process::{Child, Command};
use tokio::time::timeout;

type Result = anyhow::Result<()>;

/// Starts the server binary on a free port of 127.0.0.1.
async fn start() -> anyhow::Result<(Child, SocketAddr)> {
    start_server_binary(&[]).await
}

/// Sends SIGTERM to the server this test started, by its PID.
async fn terminate(child: &Child) -> Result {
    let pid = child.id().context("the server is running")?;
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    assert!(status.success(), "kill -TERM {pid}");
    Ok(())
}

#[tokio::test]
async fn the_binary_serves_clients_until_killed() -> Result {
    let (mut child, addr) = start().await?;
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    ann.say("hello from ann").await?;
    let got = bob.recv_until(|m| said(m).is_some()).await?;
    assert!(said(&got).is_some_and(|s| s.from == "ann" && s.text == "hello from ann"));

    // Killed by its own PID, through the handle of the process this test started.
    child.kill().await?;
    ann.until_closed().await?;
    Ok(())
}

#[tokio::test]
async fn sigterm_shuts_the_binary_down_gracefully() -> Result {
    let (mut child, addr) = start().await?;
    let ann = TestClient::connect(addr, "ann", "lobby").await?;
    terminate(&child).await?;
    let seen = ann.until_closed().await?;
    assert_eq!(
        seen.last(),
        Some(&ServerMsg::Shutdown {
            reason: "server shutting down".into()
        })
    );
    let status = timeout(WAIT, child.wait()).await??;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    Ok(())
}

#[tokio::test]
async fn sigterm_right_after_it_says_listening_is_a_graceful_shutdown() -> Result {
    // Before, the handler was installed a moment after the line was printed, and a signal
    // in between killed the process.
    let (mut child, _addr) = start().await?;
    terminate(&child).await?;
    let status = timeout(WAIT, child.wait()).await??;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    Ok(())
}

#[tokio::test]
async fn help_documents_every_flag() -> Result {
    let output = Command::new(binary("chat-server"))
        .arg("--help")
        .output()
        .await?;
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout)?;
    for flag in [
        "--listen",
        "--max-connections",
        "--queue-bytes",
        "--ping-interval",
        "--idle-timeout",
        "--handshake-timeout",
        "--workers",
        "--data-dir",
        "--max-file-size",
        "--quota",
        "--upload-grace",
        "--log-level",
        "--help",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
    let short = Command::new(binary("chat-server"))
        .arg("-h")
        .output()
        .await?;
    assert!(short.status.success());
    assert!(short.stdout.len() < help.len(), "-h is the short help");
    Ok(())
}

#[tokio::test]
async fn a_bad_listen_address_is_a_one_line_error_with_exit_code_2() -> Result {
    let output = Command::new(binary("chat-server"))
        .args(["--listen", "not-an-address"])
        .output()
        .await?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr)?;
    assert!(
        stderr.starts_with("chat-server: ") && stderr.contains("not-an-address"),
        "{stderr:?}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
    assert!(output.stdout.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_stops_with_one_line() -> Result {
    let data = tests::binaries::scratch_dir("shared-data-dir");
    let data = data.to_str().context("a UTF-8 path")?;
    let (_first, addr) = start_server_binary(&["--data-dir", data]).await?;
    let output = Command::new(binary("chat-server"))
        .env("XDG_CONFIG_HOME", tests::binaries::scratch_dir("no-config"))
        .args(["--listen", "127.0.0.1:0", "--data-dir", data])
        .output()
        .await?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr)?;
    assert!(
        stderr.contains("is in use by another chat-server") && stderr.contains(data),
        "{stderr:?}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
    assert!(output.stdout.is_empty(), "it never listened");
    // The first one is untouched: it still serves.
    TestClient::connect(addr, "ann", "lobby").await?;
    Ok(())
}
