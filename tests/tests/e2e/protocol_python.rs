//! docs/PROTOCOL.md is enough to write a client: a Python client written from it alone
//! (docs/examples/minimal_client.py) joins a real server, chats with a Rust client, and
//! decodes every frame the server sends it.

use std::path::Path;
use std::time::Duration;

use chat_server::Config;
use shared::{ChatKind, ServerMsg};
use tests::client::{TestClient, start_server};
use tokio::process::Command;

type Result = anyhow::Result<()>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_written_from_the_protocol_document_chats_with_a_rust_client() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/minimal_client.py");
    let text = "hi 👋 from Python, 你好";
    let run = Command::new("python3")
        .arg(&script)
        .args([
            &addr.ip().to_string(),
            &addr.port().to_string(),
            "py",
            "lobby",
            text,
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), run).await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python client failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // The Python client decoded its welcome (with bob in the member list) and its own echo.
    let welcome = stdout.lines().next().unwrap_or_default();
    assert!(welcome.starts_with("('Welcome', "), "{stdout}");
    assert!(
        welcome.ends_with("'py', 'lobby', ['bob', 'py'])"),
        "{stdout}"
    );
    assert!(stdout.contains(text), "{stdout}");

    // And the Rust client saw the Python client's message, stamped by the server.
    let said = bob
        .recv_until(|m| matches!(m, ServerMsg::Chat { from, .. } if from == "py"))
        .await?;
    let ServerMsg::Chat {
        kind,
        text: got,
        room,
        ..
    } = said
    else {
        unreachable!()
    };
    assert_eq!(
        (kind, got.as_str(), room.as_str()),
        (ChatKind::Say, text, "lobby")
    );
    server.shutdown().await
}
