//! The server's stream seam: a whole session over a Unix socket instead of TCP. The server
//! takes its connections from a `chat_server::Transport` over a `UnixListener` in a
//! temporary directory, and the clients are the client library with a
//! `chat_client::Connector` that opens `UnixStream`s: neither end sees a TCP socket, and
//! chat, an upload and a download go through as over TCP.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chat_client::transfer::{Request, TransferEvent};
use chat_client::{Client, Connector, Event, Options};
use chat_server::{Config, PeerAddr, Transport};
use shared::ClientMsg;
use tests::client::{WAIT, left, offered, said};
use tests::files::{random_file, sha256_of};
use tests::library::{transfer_end, until};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

type Result = anyhow::Result<()>;

/// The server's side: clients come from a Unix socket, and have no IP address.
struct UnixTransport {
    listener: UnixListener,
    path: PathBuf,
}

impl Transport for UnixTransport {
    type Stream = UnixStream;

    async fn accept(&self) -> io::Result<(UnixStream, PeerAddr)> {
        let (stream, _addr) = self.listener.accept().await?;
        Ok((stream, PeerAddr::Local))
    }

    fn local_addr(&self) -> Option<String> {
        Some(self.path.display().to_string())
    }
}

/// The clients' side: every connection, the first and any reconnect, opens the socket.
#[derive(Debug, Clone)]
struct UnixConnector(PathBuf);

impl Connector for UnixConnector {
    type Stream = UnixStream;

    async fn connect(&self, _addr: &str) -> io::Result<UnixStream> {
        UnixStream::connect(&self.0).await
    }
}

/// A line `text` from `nick`, as the room's message.
fn line(nick: &'static str, text: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Server(m) if said(m).is_some_and(|s| s.from == nick && s.text == text))
}

async fn connect(socket: &Path, nick: &str) -> anyhow::Result<(Client, mpsc::Receiver<Event>)> {
    let options = Options {
        addr: "the test's Unix socket".into(),
        nick: nick.into(),
        room: "lobby".into(),
    };
    let (client, events, welcome) =
        chat_client::connect_with(UnixConnector(socket.to_path_buf()), options).await?;
    assert_eq!(welcome.nick, nick);
    Ok((client, events))
}

#[tokio::test]
async fn a_whole_session_runs_over_a_unix_socket() -> Result {
    let (dir, files) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let path = dir.path().join("chat.sock");
    let transport = UnixTransport {
        listener: UnixListener::bind(&path)?,
        path: path.clone(),
    };
    let config = Config {
        data_dir: dir.path().join("data"),
        // Counted per IP address: a peer without one is not, so both clients get in.
        max_connections_per_ip: 1,
        ..Config::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(chat_server::run_with(transport, config, async {
        let _ = stopped.await;
    }));

    let (alice, mut alice_events) = connect(&path, "alice").await?;
    let (bob, mut bob_events) = connect(&path, "bob").await?;

    // Chat both ways; each sees its own line come back stamped, and the other's.
    alice.send(ClientMsg::Chat {
        text: "hello over a unix socket".into(),
    });
    until(
        &mut bob_events,
        "alice's line",
        line("alice", "hello over a unix socket"),
    )
    .await?;
    until(
        &mut alice_events,
        "alice's echo",
        line("alice", "hello over a unix socket"),
    )
    .await?;
    bob.send(ClientMsg::Chat {
        text: "hello alice".into(),
    });
    until(&mut alice_events, "bob's line", line("bob", "hello alice")).await?;

    // Alice uploads a file of several chunks; bob is offered it, downloads it, and gets
    // the same bytes.
    let (upload, sha) = random_file(files.path(), "notes.bin", 300_000, 11)?;
    alice.transfer(Request::Upload {
        id: 1,
        path: upload.display().to_string(),
    });
    let file_id = match transfer_end(&mut alice_events, 1).await? {
        TransferEvent::Uploaded { file_id, .. } => file_id,
        other => bail!("the upload ended with {other:?}"),
    };
    let offer = until(
        &mut bob_events,
        "the offer of the file",
        |e| matches!(e, Event::Server(m) if offered(m).is_some()),
    )
    .await?;
    let Event::Server(offer) = offer else {
        bail!("not a server message: {offer:?}");
    };
    let file = offered(&offer).context("an offer")?;
    assert_eq!((file.id, file.size), (file_id, 300_000));
    assert_eq!(file.sha256, sha);
    let downloads = files.path().join("downloads");
    bob.transfer(Request::Download {
        id: 2,
        file_id,
        dir: downloads.clone(),
    });
    let saved: PathBuf = match transfer_end(&mut bob_events, 2).await? {
        TransferEvent::Saved { path, .. } => path,
        other => bail!("the download ended with {other:?}"),
    };
    assert_eq!(saved, downloads.join("notes.bin"));
    assert_eq!(sha256_of(&saved)?, sha);

    // Alice quits; bob hears why; the server shuts down cleanly.
    alice.send(ClientMsg::Quit {
        reason: "done".into(),
    });
    timeout(Duration::from_secs(3), alice.finish())
        .await
        .context("alice's session did not end after the quit")?;
    until(
        &mut bob_events,
        "alice leaving",
        |e| matches!(e, Event::Server(m) if left(m, "alice", |reason| reason == "done")),
    )
    .await?;
    let _ = stop.send(());
    timeout(WAIT, server)
        .await
        .context("the server did not shut down in time")?
        .context("the server task panicked")??;
    bob.finish().await;
    Ok(())
}
