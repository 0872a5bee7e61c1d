//! The user's end of a session: [`connect`] gives a [`Client`] to send with and a receiver
//! of [`Event`]s to read.

use std::time::Duration;

use shared::ClientMsg;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::credentials::Credentials;
use crate::dial::{Connector, Dial};
use crate::event::Event;
use crate::handshake::{self, ConnectError, Options, Welcome};
use crate::session::{Request, Session};
use crate::transfer::{self, Registry};

/// Events buffered towards the user. When the user falls behind, the session stops
/// reading the socket rather than buffering without bound.
pub const EVENT_BUFFER: usize = 1024;
/// Transfer news buffered on its way into the events.
const TRANSFER_BUFFER: usize = 64;
/// Longest [`Client::finish`] waits for the session to end.
const FINISH_WAIT: Duration = Duration::from_secs(2);

/// The user's end of a session.
#[derive(Debug)]
pub struct Client {
    commands: mpsc::UnboundedSender<Request>,
    task: JoinHandle<()>,
}

impl Client {
    /// Sends a frame, or keeps it while disconnected. A [`ClientMsg::Quit`] is sent and
    /// then ends the session.
    ///
    /// A message sent with a request id ([`ClientMsg::with_id`]) gets its answer, or the
    /// error it causes, as [`shared::ServerMsg::Reply`] with that id in an
    /// [`Event::Server`]. Ids from [`transfer::FIRST_OWN_REQUEST_ID`] up are the
    /// library's own, for its transfers: use smaller ones.
    pub fn send(&self, msg: ClientMsg) {
        // The session only ends after a quit or a fatal error; later frames have nowhere
        // to go.
        let _ = self.commands.send(Request::Send(msg));
    }

    /// Starts or cancels a file transfer; its news arrives as [`Event::Transfer`].
    pub fn transfer(&self, request: transfer::Request) {
        let _ = self.commands.send(Request::Transfer(request));
    }

    /// Starts an upload into `room`, one of the rooms the client is in, when the server
    /// lets the client be in several ([`crate::Welcome::rooms`]); otherwise as
    /// [`Client::transfer`] (into the one room).
    pub fn upload_to(&self, room: &str, request: transfer::Request) {
        let _ = self.commands.send(Request::UploadTo {
            room: room.to_owned(),
            request,
        });
    }

    /// Connects again now: after the session stopped ([`Event::Stopped`]), once; while it
    /// waits to reconnect after a lost connection, without waiting longer. Connected, it
    /// does nothing.
    pub fn reconnect(&self) {
        let _ = self.commands.send(Request::Reconnect);
    }

    /// Waits (bounded) for the session to end. Without a quit sent before, it is stopped.
    pub async fn finish(self) {
        let Client { commands, mut task } = self;
        drop(commands);
        if timeout(FINISH_WAIT, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Connects over TLS, trusting only the servers the user pinned ([`Dial::default`]), says
/// hello, and starts the session. See [`connect_with`]: [`Tcp`](crate::Tcp) for a plaintext server, a
/// [`Dial`] with a fingerprint for a first contact.
pub async fn connect(
    options: Options,
) -> Result<(Client, mpsc::Receiver<Event>, Welcome), ConnectError> {
    connect_with(Dial::default(), options).await
}

/// Connects through `connector`, says hello, and starts the session: the first connection
/// is made here, so that an unreachable server or a taken nick is an error of this call.
/// After that the session reconnects by itself (through the same connector), and says so
/// in its events. The client proves no key and gives no password: see [`connect_as`].
pub async fn connect_with<C: Connector>(
    connector: C,
    options: Options,
) -> Result<(Client, mpsc::Receiver<Event>, Welcome), ConnectError> {
    connect_as(connector, options, Credentials::default()).await
}

/// As [`connect_with`], proving `credentials` at the handshake (feature `auth`): the
/// client's key, and the server's password when it asks for one. The session keeps them,
/// in memory only, for its reconnects.
pub async fn connect_as<C: Connector>(
    connector: C,
    options: Options,
    credentials: Credentials,
) -> Result<(Client, mpsc::Receiver<Event>, Welcome), ConnectError> {
    let (conn, welcome, limits) = handshake::open(&connector, &options, &credentials).await?;
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::channel(EVENT_BUFFER);
    let transfers = Registry::new(report_transfers(event_tx.clone())).serving(&options.addr);
    let options = Options {
        addr: options.addr,
        nick: welcome.nick.clone(),
        room: welcome.room.clone(),
    };
    let session = Session::new(
        connector,
        options,
        credentials,
        command_rx,
        event_tx,
        transfers,
    );
    let started = welcome.clone();
    let task = tokio::spawn(async move { session.run(conn, limits, &started).await });
    Ok((Client { commands, task }, events, welcome))
}

/// The transfers' own channel, whose news goes on into the events as
/// [`Event::Transfer`]. It closes when the last transfer and the session are gone.
fn report_transfers(events: mpsc::Sender<Event>) -> mpsc::Sender<transfer::TransferEvent> {
    let (tx, mut rx) = mpsc::channel(TRANSFER_BUFFER);
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            if events.send(Event::Transfer(event)).await.is_err() {
                break;
            }
        }
    });
    tx
}
