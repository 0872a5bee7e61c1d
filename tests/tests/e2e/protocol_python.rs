//! docs/PROTOCOL.md is enough to write a client: a Python client written from it alone
//! (docs/examples/minimal_client.py) joins a real server with protocol version 4, chats
//! with a Rust client, matches the answers to its requests by their ids, checks the
//! room's sequence numbers, and decodes every frame the server sends it.

use std::path::Path;
use std::time::Duration;

use chat_server::Config;
use shared::ChatKind;
use tests::client::{TestClient, said, start_server};
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
    // The Python client decoded its welcome (with bob in the member list), its own echo as
    // the answer to its request 1, and the page of members as the answer to request 2.
    let welcome = stdout.lines().next().unwrap_or_default();
    assert!(
        welcome.starts_with("('Welcome4', 4, [], {'max_frame': 1048576"),
        "{stdout}"
    );
    assert!(
        welcome.ends_with("'py', 'lobby', 2, (2, ['bob', 'py'], False))"),
        "{stdout}"
    );
    assert!(
        stdout.contains("('Reply', 1, ('Room', ") && stdout.contains(text),
        "{stdout}"
    );
    assert!(
        stdout.contains("('Reply', 2, ('Members4', 'lobby', (2, [], False)))"),
        "{stdout}"
    );

    // And the Rust client saw the Python client's message, stamped by the server.
    let heard = bob
        .recv_until(|m| said(m).is_some_and(|s| s.from == "py"))
        .await?;
    let line = said(&heard).expect("a chat line");
    assert_eq!(
        (line.kind, line.text, line.room),
        (ChatKind::Say, text, "lobby")
    );
    server.shutdown().await
}
