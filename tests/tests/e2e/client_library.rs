//! The client library on its own: a whole session through `chat_client` (chat, an upload,
//! a download, a lost connection and the reconnect) over a byte stream that is not TCP.
//!
//! The connector hands the library one end of an in-memory pipe (`tokio::io::duplex`); a
//! task relays the other end to the real server on 127.0.0.1. The library never sees a
//! socket, which is the point: another transport is another `Connector`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use chat_client::transfer::{Request, TransferEvent};
use chat_client::{Client, Event, Options, Welcome};
use chat_server::Config;
use shared::{ClientMsg, ServerMsg};
use tempfile::TempDir;
use tests::client::{
    ServerHandle, TestClient, joined, left, offered, said as said_line, start_server,
};
use tests::files::{download, random_file, sha256_of};
use tests::library::{PipeRelay, transfer_end, until};
use tokio::sync::mpsc;

type Result = anyhow::Result<()>;

fn chat_from(nick: &'static str, said: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Server(m) if said_line(m).is_some_and(|s| s.from == nick && s.text == said))
}

/// A server with a data directory of its own (kept while the returned one lives), and
/// bob in its lobby.
async fn server_with_bob() -> anyhow::Result<(TempDir, SocketAddr, ServerHandle, TestClient)> {
    let data = tempfile::tempdir()?;
    let config = Config {
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    };
    let (addr, server) = start_server(config).await;
    let bob = TestClient::connect(addr, "bob", "lobby").await?;
    Ok((data, addr, server, bob))
}

/// Alice joins the lobby through the library, over `relay`'s pipes.
async fn alice_through(
    relay: &PipeRelay,
    addr: SocketAddr,
) -> anyhow::Result<(Client, mpsc::Receiver<Event>, Welcome)> {
    let options = Options {
        addr: addr.to_string(),
        nick: "alice".into(),
        room: "lobby".into(),
    };
    Ok(chat_client::connect_with(relay.clone(), options).await?)
}

#[tokio::test]
async fn a_whole_session_runs_over_an_in_memory_pipe() -> Result {
    let (_data, addr, server, mut bob) = server_with_bob().await?;
    let files = tempfile::tempdir()?;
    let relay = PipeRelay::default();
    let (alice, mut events, welcome) = alice_through(&relay, addr).await?;
    assert_eq!(
        (welcome.nick.as_str(), welcome.room.as_str()),
        ("alice", "lobby")
    );
    assert_eq!(welcome.members, ["alice", "bob"]);
    assert_eq!(relay.opened.load(Ordering::SeqCst), 1);

    // Chat both ways; alice sees her own line come back stamped.
    alice.send(ClientMsg::Chat {
        text: "hello through a pipe".into(),
    });
    bob.recv_until(|m| said_line(m).is_some_and(|s| s.from == "alice"))
        .await?;
    until(
        &mut events,
        "alice's echo",
        chat_from("alice", "hello through a pipe"),
    )
    .await?;
    bob.say("hello alice").await?;
    until(&mut events, "bob's line", chat_from("bob", "hello alice")).await?;

    // An upload of several chunks, then its download, both checked against the original.
    let (path, sha) = random_file(files.path(), "notes.bin", 300_000, 7)?;
    alice.transfer(Request::Upload {
        id: 1,
        path: path.display().to_string(),
    });
    let file_id = match transfer_end(&mut events, 1).await? {
        TransferEvent::Uploaded { file_id, .. } => file_id,
        other => bail!("the upload ended with {other:?}"),
    };
    let offer = bob.recv_until(|m| offered(m).is_some()).await?;
    assert!(offered(&offer).is_some_and(|file| file.id == file_id && file.sha256 == sha));
    let downloads = files.path().join("downloads");
    alice.transfer(Request::Download {
        id: 2,
        file_id,
        dir: downloads.clone(),
    });
    let saved: PathBuf = match transfer_end(&mut events, 2).await? {
        TransferEvent::Saved { path, .. } => path,
        other => bail!("the download ended with {other:?}"),
    };
    assert_eq!(saved, downloads.join("notes.bin"));
    assert_eq!(sha256_of(&saved)?, sha);
    // What the server stored is the file itself, as another client fetches it.
    let mut copy = std::fs::File::create(files.path().join("bobs-copy"))?;
    download(&mut bob, file_id, 0, &mut copy).await?;
    assert_eq!(sha256_of(&files.path().join("bobs-copy"))?, sha);

    // The pipe breaks: the session says so, reconnects through the same connector, and
    // rejoins; chat goes on.
    relay.cut();
    until(&mut events, "the disconnect", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await?;
    let back = until(&mut events, "the reconnect", |e| {
        matches!(e, Event::Reconnected(_))
    })
    .await?;
    assert!(matches!(back, Event::Reconnected(w) if w.nick == "alice" && w.room == "lobby"));
    assert_eq!(relay.opened.load(Ordering::SeqCst), 2);
    alice.send(ClientMsg::Chat {
        text: "back again".into(),
    });
    until(
        &mut events,
        "the echo after the reconnect",
        chat_from("alice", "back again"),
    )
    .await?;

    leave(alice, &mut bob).await?;
    server.shutdown().await
}

/// A program's own requests with ids: each answer comes back in a `Reply` with its id,
/// and what it changes holds across a reconnect (the session rejoins under the nick a
/// request with an id gave).
#[tokio::test]
async fn the_users_request_ids_come_back_with_their_answers() -> Result {
    let (_data, addr, server, mut bob) = server_with_bob().await?;
    let relay = PipeRelay::default();
    let (alice, mut events, _) = alice_through(&relay, addr).await?;

    alice.send(ClientMsg::Who.with_id(1));
    let members = until(&mut events, "the answer to request 1", |e| {
        matches!(e, Event::Server(ServerMsg::Reply { id: 1, .. }))
    })
    .await?;
    // The library asks for the feature "rooms": the members come with their away texts.
    assert!(
        matches!(&members, Event::Server(ServerMsg::Reply { msg, .. })
            if matches!(msg.as_ref(), ServerMsg::RoomMembers { total: 2, .. })),
        "{members:?}"
    );
    alice.send(
        ClientMsg::Nick {
            nick: "alicia".into(),
        }
        .with_id(2),
    );
    until(&mut events, "the answer to request 2", |e| {
        matches!(e, Event::Server(ServerMsg::Reply { id: 2, msg })
            if matches!(msg.as_ref(), ServerMsg::NickChanged { nick } if nick == "alicia"))
    })
    .await?;

    relay.cut();
    let back = until(&mut events, "the reconnect", |e| {
        matches!(e, Event::Reconnected(_))
    })
    .await?;
    assert!(
        matches!(&back, Event::Reconnected(w) if w.nick == "alicia"),
        "{back:?}"
    );
    bob.recv_until(|m| joined(m, "alicia")).await?;
    alice.finish().await;
    server.shutdown().await
}

/// Alice quits; bob hears that she left.
async fn leave(alice: Client, bob: &mut TestClient) -> Result {
    alice.send(ClientMsg::Quit {
        reason: "done".into(),
    });
    tokio::time::timeout(Duration::from_secs(3), alice.finish())
        .await
        .context("the session did not end after the quit")?;
    bob.recv_until(|m| left(m, "alice", |reason| reason == "done"))
        .await?;
    Ok(())
}

/// The library stands alone: a bot or another front end that links it links no server, no
/// allocator of the server's and no terminal crate. Read from cargo's own dependency tree.
#[test]
fn the_client_library_links_no_server_allocator_or_terminal_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--offline", "-p", "chat-client", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    assert!(tree.contains("shared v"), "the tree is read: {tree}");
    for unwanted in [
        "chat-server",
        "jemalloc",
        "crossterm",
        "ratatui",
        "chat-tui",
    ] {
        let found: Vec<_> = tree.lines().filter(|l| l.contains(unwanted)).collect();
        assert!(found.is_empty(), "chat-client depends on {found:?}");
    }
}
