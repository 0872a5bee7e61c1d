//! The client library (`chat_client`) as the tests drive it: a connector whose links the
//! test can cut and hold off, and waiting on what the library reports.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use chat_client::transfer::TransferEvent;
use chat_client::{Connector, Event};
use tokio::io::{DuplexStream, copy_bidirectional, duplex};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::{Instant, timeout_at};

use crate::client::WAIT;

/// How the library reaches the server at `addr` as a user who met it before would: TLS
/// with its key pinned, for a TLS server this process started
/// ([`crate::binaries::server_key`]); plain TCP for the others.
pub fn dial(addr: std::net::SocketAddr) -> chat_client::Dial {
    match crate::binaries::server_key(addr) {
        Some(fp) => {
            chat_client::Dial::Tls(chat_client::dial::tls::TlsDial::new(None, None, Some(fp)))
        }
        None => chat_client::Dial::Plaintext,
    }
}

/// Opens in-memory pipes, each relayed to a TCP connection to the server by a task: the
/// library never sees a socket, and the test can break its links.
#[derive(Debug, Clone, Default)]
pub struct PipeRelay {
    /// How many pipes were opened.
    pub opened: Arc<AtomicUsize>,
    relays: Arc<Mutex<Vec<AbortHandle>>>,
    /// While set, connecting fails (the network is down).
    down: Arc<AtomicBool>,
}

impl PipeRelay {
    /// Breaks every pipe opened so far, as a dropped link would.
    pub fn cut(&self) {
        for relay in self.relays.lock().expect("relay lock").drain(..) {
            relay.abort();
        }
    }

    /// Breaks every pipe and refuses new ones until [`PipeRelay::up`]: the client stays
    /// away while the test makes the room go on without it.
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut();
    }

    /// Lets the client connect again.
    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Connector for PipeRelay {
    type Stream = DuplexStream;

    async fn connect(&self, addr: &str) -> io::Result<DuplexStream> {
        if self.down.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the test holds the link down",
            ));
        }
        let mut tcp = TcpStream::connect(addr).await?;
        let (ours, mut theirs) = duplex(64 * 1024);
        let relay = tokio::spawn(async move {
            let _ = copy_bidirectional(&mut theirs, &mut tcp).await;
        });
        self.relays
            .lock()
            .expect("relay lock")
            .push(relay.abort_handle());
        self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(ours)
    }
}

/// Reads events until one satisfies `pred`, within [`WAIT`]; returns it. The error names
/// `what` and every event seen meanwhile.
pub async fn until(
    events: &mut mpsc::Receiver<Event>,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> anyhow::Result<Event> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let event = timeout_at(deadline, events.recv())
            .await
            .with_context(|| format!("no {what} in time; saw {seen:?}"))?
            .with_context(|| format!("the session ended before {what}"))?;
        if pred(&event) {
            return Ok(event);
        }
        seen.push(event);
    }
}

/// Waits for transfer `id` to end; returns its last event.
pub async fn transfer_end(
    events: &mut mpsc::Receiver<Event>,
    id: u64,
) -> anyhow::Result<TransferEvent> {
    let end = until(events, "the end of the transfer", |e| {
        matches!(e, Event::Transfer(t) if t.id() == id && !matches!(
            t,
            TransferEvent::Started { .. } | TransferEvent::Progress { .. }
        ))
    })
    .await?;
    let Event::Transfer(end) = end else {
        bail!("not a transfer event: {end:?}");
    };
    Ok(end)
}
