//! docs/PROTOCOL.md is enough to write a client: a Python client written from it alone
//! (docs/examples/minimal_client.py) joins a real server with protocol version 4, over TLS
//! with the server's key pinned and over plain TCP, chats with a Rust client, matches the
//! answers to its requests by their ids, checks the room's sequence numbers, and decodes
//! every frame the server sends it; at a first contact it shows the key and asks.

use std::path::Path;
use std::time::Duration;

use std::process::{Output, Stdio};

use chat_server::Config;
use shared::ChatKind;
use tests::client::{ServerHandle, TestClient, said, start_server, start_tls_server};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

type Result = anyhow::Result<()>;

/// Runs the Python client with `args` (its flags, then HOST PORT NICK ROOM TEXT), giving
/// it `stdin`; bounded.
async fn python(args: &[&str], stdin: &[u8]) -> anyhow::Result<Output> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/minimal_client.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).await?;
    }
    Ok(tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await??)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_written_from_the_protocol_document_chats_with_a_rust_client_over_tls() -> Result {
    let (addr, fp, server) = start_tls_server(Config::default()).await;
    chats(addr, server, &["--trust", &fp.to_string()]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_written_from_the_protocol_document_chats_in_plaintext() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    chats(addr, server, &["--plaintext"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_shows_an_unknown_key_and_asks() -> Result {
    let (addr, fp, server) = start_tls_server(Config::default()).await;
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let args = [host.as_str(), &port, "py", "lobby", "hi"];
    let output = python(&args, b"n\n").await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("the server's key is {fp}")),
        "the fingerprint as the server prints it: {stderr}"
    );
    assert!(stderr.contains("not trusted"), "{stderr}");
    let output = python(&args, b"y\n").await?;
    assert!(output.status.success(), "{output:?}");
    // Another key given: refused.
    let other = shared::tls::Fingerprint::of_public_key(b"another key").to_string();
    let mut refused = vec!["--trust", other.as_str()];
    refused.extend_from_slice(&args);
    let output = python(&refused, b"").await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("REFUSED"),
        "{stderr}"
    );
    server.shutdown().await
}

/// The Python client, given `flags`, chats with a Rust client on the server at `addr`.
async fn chats(addr: std::net::SocketAddr, server: ServerHandle, flags: &[&str]) -> Result {
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let text = "hi 👋 from Python, 你好";
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let mut args = flags.to_vec();
    args.extend_from_slice(&[host.as_str(), &port, "py", "lobby", text]);
    let output = python(&args, b"").await?;
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
