//! File transfers: uploads to the current room and downloads of its files.
//!
//! The user asks for a transfer with a [`Request`]; the session hands it to a task of its
//! own (one per transfer, in `upload` and `download`) and routes the server's answers to
//! it through the `Registry`. The tasks report on a channel of their own, as
//! [`TransferEvent`]s, which reaches the user as [`crate::Event::Transfer`]; at most
//! about ten progress events a second each, so a running transfer costs a handful of
//! redraws a second and an idle client none.
//!
//! - Chunks never hold chat back: an upload's chunks go into the connection's *file lane*,
//!   a small bounded channel that the connection's writer only reads when no chat frame is
//!   waiting (`writer.rs`). The lane is full as long as the connection is, so a file is
//!   read from disk only as fast as the network takes it, and never whole.
//! - Both ends hash: an upload hashes (SHA-256) while it reads, a download while it
//!   writes, and a download is renamed into place only when its hash is the one the
//!   server announced.
//! - After a reconnect an upload resumes from the server's offset with its token (or
//!   starts again from zero, and says so, when the server no longer has it); a download
//!   resumes from the length of its `.part` file. Either first hashes the part that is
//!   already across.
//! - With a journal ([`Request::Remember`]), they survive a restart of the client too: a
//!   download keeps its `.part` file when the client quits or dies, and `/get` of the same
//!   file resumes it; an upload keeps its token, and sending the same unchanged file
//!   resumes it (or learns that the server stored it already). See [`journal`].
//!
//! - [`progress`]: percent, bytes, speed and time left, as the bars show them.
//! - [`local`]: safe local file names, the download folder, `~`, path completion.

mod download;
pub mod journal;
pub mod local;
pub mod progress;
mod upload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::{ClientMsg, ErrorKind, FileInfo, ServerMsg};
use tokio::sync::mpsc;

use journal::Journal;

/// The user's number for a transfer (the terminal shows it in the progress bar and
/// `/cancel` takes it); the user chooses it and keeps it unique.
pub type TransferId = u64;

/// Frames of file data waiting for a connection's writer: enough to keep the socket
/// busy, little enough (256 KiB) that a file is read only as fast as it is sent.
pub(crate) const LANE_FRAMES: usize = 4;
/// Messages waiting for a transfer task; a download that writes slower than the network
/// delivers slows the connection's reading down rather than filling memory.
const INBOX: usize = 8;
/// Least time between two progress events of one transfer.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// The first of the request ids the library gives its transfers' requests: they take the
/// upper half of the range, from 2^31 up. A program that sends requests with ids of its
/// own ([`ClientMsg::Request`]) keeps below it, so that no answer is taken for another's.
pub const FIRST_OWN_REQUEST_ID: u32 = 1 << 31;

/// The last request id the transfers take; the one above it is the session's check of
/// lines in doubt ([`crate::unanswered`]).
pub(crate) const LAST_TRANSFER_REQUEST_ID: u32 = u32::MAX - 1;

/// What the user asks the session to do about files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Upload the file at `path` (as typed; `~` is the home directory) to the room.
    Upload { id: TransferId, path: String },
    /// Download file `file_id` of the room into `dir`.
    Download {
        id: TransferId,
        file_id: u64,
        dir: PathBuf,
    },
    /// Stop a transfer.
    Cancel { id: TransferId },
    /// Remember the transfers in the directory `dir` (the program's state directory) so
    /// that they resume after the client restarts ([`journal`]). Takes effect for the
    /// transfers asked for after it.
    Remember { dir: PathBuf },
}

/// What a transfer tells the user. Names and reasons are not sanitised yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEvent {
    /// The file is known: its name and size.
    Started {
        id: TransferId,
        name: String,
        size: u64,
    },
    /// `done` bytes are across.
    Progress {
        id: TransferId,
        done: u64,
    },
    /// After a reconnect the transfer goes on from `offset`.
    Resumed {
        id: TransferId,
        offset: u64,
    },
    /// The upload starts again from zero, for this reason.
    Restarted {
        id: TransferId,
        reason: String,
    },
    /// The upload is stored on the server as `file_id`.
    Uploaded {
        id: TransferId,
        file_id: u64,
    },
    /// The download is verified and saved at `path`.
    Saved {
        id: TransferId,
        path: PathBuf,
    },
    Failed {
        id: TransferId,
        reason: String,
    },
    Cancelled {
        id: TransferId,
    },
}

impl TransferEvent {
    pub fn id(&self) -> TransferId {
        match self {
            TransferEvent::Started { id, .. }
            | TransferEvent::Progress { id, .. }
            | TransferEvent::Resumed { id, .. }
            | TransferEvent::Restarted { id, .. }
            | TransferEvent::Uploaded { id, .. }
            | TransferEvent::Saved { id, .. }
            | TransferEvent::Failed { id, .. }
            | TransferEvent::Cancelled { id } => *id,
        }
    }
}

/// The connection a task may send on: its number and its file lane.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    epoch: u64,
    lane: mpsc::Sender<ClientMsg>,
}

/// What the session tells a transfer task.
#[derive(Debug)]
enum Inbound {
    Connected(Link),
    Disconnected,
    /// The user cancelled, or the client is closing.
    Cancel,
    /// `UploadReady`.
    Ready {
        upload_id: u64,
        token: Vec<u8>,
        offset: u64,
    },
    /// The server refused a request of the transfer (an `Error` that answers it).
    Refused {
        kind: ErrorKind,
        text: String,
    },
    /// `UploadDone`.
    Done {
        file_id: u64,
    },
    /// `UploadFailed` or `DownloadFailed`.
    Failed {
        kind: ErrorKind,
        text: String,
    },
    Start {
        file: FileInfo,
        offset: u64,
    },
    Chunk {
        offset: u64,
        data: Vec<u8>,
    },
    End,
}

/// What a transfer task tells the session.
#[derive(Debug)]
enum Control {
    /// Send `msg` now, if the connection `epoch` is still the current one.
    Frame {
        id: TransferId,
        epoch: u64,
        msg: ClientMsg,
    },
    /// The task has ended.
    Ended { id: TransferId },
}

/// The session's record of the running transfers and of which server message
/// belongs to which of them.
///
/// A transfer's requests that the server answers (`UploadStart`, `UploadResume`,
/// `Download`) go out with a request id, and their answers, refusals included, come back
/// with it: they are matched by that id alone, never by their order. The ids are the
/// library's own ([`FIRST_OWN_REQUEST_ID`] and up), so the answers to the user's requests
/// pass on as they are. Later messages of a transfer are matched by its upload or file id.
#[derive(Debug)]
pub(crate) struct Registry {
    tasks: HashMap<TransferId, mpsc::Sender<Inbound>>,
    /// Requests that await their answer: request id to transfer.
    requests: HashMap<u32, TransferId>,
    /// The last request id handed out, from [`FIRST_OWN_REQUEST_ID`] on.
    last_request: u32,
    uploads: HashMap<u64, TransferId>,
    downloads: HashMap<u64, TransferId>,
    /// The file each running download fetches, whatever the connection: file id to
    /// transfer.
    fetching: HashMap<u64, TransferId>,
    control_tx: mpsc::UnboundedSender<Control>,
    control: mpsc::UnboundedReceiver<Control>,
    events: mpsc::Sender<TransferEvent>,
    link: Option<Link>,
    epoch: u64,
    /// The server's address as the client reached it: what the journal knows it by.
    server: String,
    journal: Option<Arc<Journal>>,
}

impl Registry {
    /// A registry whose transfers report on `events`.
    pub(crate) fn new(events: mpsc::Sender<TransferEvent>) -> Self {
        let (control_tx, control) = mpsc::unbounded_channel();
        Self {
            tasks: HashMap::new(),
            requests: HashMap::new(),
            last_request: FIRST_OWN_REQUEST_ID - 1,
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            fetching: HashMap::new(),
            control_tx,
            control,
            events,
            link: None,
            epoch: 0,
            server: String::new(),
            journal: None,
        }
    }

    /// The registry of the transfers with the server at `addr`.
    pub(crate) fn serving(mut self, addr: &str) -> Self {
        addr.clone_into(&mut self.server);
        self
    }

    /// Starts a transfer task, or passes a cancel on.
    pub(crate) async fn request(&mut self, request: Request) {
        match request {
            Request::Cancel { id } => {
                if let Some(inbox) = self.tasks.get(&id) {
                    let _ = inbox.send(Inbound::Cancel).await;
                }
            }
            Request::Remember { dir } => {
                self.journal = Some(Arc::new(Journal::new(&dir, &self.server)));
            }
            Request::Upload { id, path } => {
                let ctx = self.ctx(id);
                tokio::spawn(upload::run(ctx, path));
            }
            Request::Download { id, file_id, dir } => {
                // The server runs one download of a file per connection (a second one
                // restarts the first), so the first would wait for ever.
                if let Some(&running) = self.fetching.get(&file_id) {
                    let reason =
                        format!("file {file_id} is already being downloaded (transfer {running})");
                    let _ = self.events.send(TransferEvent::Failed { id, reason }).await;
                    return;
                }
                self.fetching.insert(file_id, id);
                let ctx = self.ctx(id);
                tokio::spawn(download::run(ctx, file_id, dir));
            }
        }
    }

    /// Registers transfer `id` and returns its task's end of the channels.
    fn ctx(&mut self, id: TransferId) -> Ctx {
        let (inbox_tx, inbox) = mpsc::channel(INBOX);
        self.tasks.insert(id, inbox_tx);
        Ctx {
            id,
            inbox,
            control: self.control_tx.clone(),
            events: self.events.clone(),
            link: self.link.clone(),
            journal: self.journal.clone(),
            closing: false,
        }
    }

    /// The next frame a transfer task wants sent on the current connection. Never `None`:
    /// the registry holds a sender itself.
    pub(crate) async fn control(&mut self) -> Option<ClientMsg> {
        loop {
            match self.control.recv().await? {
                Control::Ended { id } => {
                    self.tasks.remove(&id);
                    self.fetching.retain(|_, transfer| *transfer != id);
                }
                Control::Frame { id, epoch, msg } => {
                    if epoch != self.epoch || self.link.is_none() {
                        // Meant for a connection that is gone; the task starts over
                        // once it hears of the new one.
                        continue;
                    }
                    match &msg {
                        ClientMsg::UploadStart { .. } | ClientMsg::UploadResume { .. } => {
                            return Some(self.with_request_id(id, msg));
                        }
                        ClientMsg::Download { file_id, .. } => {
                            self.downloads.insert(*file_id, id);
                            return Some(self.with_request_id(id, msg));
                        }
                        ClientMsg::UploadCancel { upload_id } => {
                            self.uploads.remove(upload_id);
                        }
                        ClientMsg::DownloadCancel { file_id } => {
                            self.downloads.remove(file_id);
                        }
                        _ => {}
                    }
                    return Some(msg);
                }
            }
        }
    }

    /// The transfer whose request has the id `request`, while it awaits its answer.
    pub(crate) fn transfer_of(&self, request: u32) -> Option<TransferId> {
        self.requests.get(&request).copied()
    }

    /// `msg` as a request with a new id, whose answer goes to `transfer`.
    fn with_request_id(&mut self, transfer: TransferId, msg: ClientMsg) -> ClientMsg {
        // After the last id of the range, back to its first: by then the first has long
        // been answered.
        self.last_request = self
            .last_request
            .checked_add(1)
            .filter(|&id| id <= LAST_TRANSFER_REQUEST_ID)
            .unwrap_or(FIRST_OWN_REQUEST_ID);
        self.requests.insert(self.last_request, transfer);
        msg.with_id(self.last_request)
    }

    /// A new connection, with its file lane: every task may go on.
    pub(crate) async fn connected(&mut self, lane: mpsc::Sender<ClientMsg>) {
        self.epoch += 1;
        let link = Link {
            epoch: self.epoch,
            lane,
        };
        self.link = Some(link.clone());
        for inbox in self.tasks.values() {
            let _ = inbox.send(Inbound::Connected(link.clone())).await;
        }
    }

    /// The connection is gone: nothing the server said about transfers holds any more.
    pub(crate) async fn disconnected(&mut self) {
        self.link = None;
        self.requests.clear();
        self.uploads.clear();
        self.downloads.clear();
        for inbox in self.tasks.values() {
            let _ = inbox.send(Inbound::Disconnected).await;
        }
    }

    /// Takes the server messages that belong to a transfer; returns the others, the
    /// answers to the user's own requests with their ids.
    pub(crate) async fn route(&mut self, msg: ServerMsg) -> Option<ServerMsg> {
        let transfer = match &msg {
            ServerMsg::Reply { id, .. } => self.requests.remove(id),
            _ => None,
        };
        let Some(id) = transfer else {
            return match msg {
                ServerMsg::Reply { .. } => Some(msg),
                msg => self.route_keyed(msg).await,
            };
        };
        let (_, msg) = msg.into_reply();
        let inbound = match msg {
            ServerMsg::UploadReady {
                upload_id,
                token,
                offset,
            } => {
                self.uploads.insert(upload_id, id);
                Inbound::Ready {
                    upload_id,
                    token,
                    offset,
                }
            }
            ServerMsg::Error { kind, text } => Inbound::Refused { kind, text },
            // A resume of an upload that the server had stored already.
            ServerMsg::UploadDone { file_id, .. } => Inbound::Done { file_id },
            ServerMsg::DownloadStart { file, offset } => Inbound::Start { file, offset },
            ServerMsg::DownloadFailed {
                file_id,
                kind,
                text,
            } => {
                self.downloads.remove(&file_id);
                Inbound::Failed { kind, text }
            }
            // Nothing else answers a transfer's request.
            other => return Some(other),
        };
        self.deliver(id, inbound).await;
        None
    }

    /// Routes a message by the upload or file it names.
    async fn route_keyed(&mut self, msg: ServerMsg) -> Option<ServerMsg> {
        let (id, inbound) = match msg {
            ServerMsg::UploadDone { upload_id, file_id } => {
                (self.uploads.remove(&upload_id)?, Inbound::Done { file_id })
            }
            ServerMsg::UploadFailed {
                upload_id,
                kind,
                text,
            } => (
                self.uploads.remove(&upload_id)?,
                Inbound::Failed { kind, text },
            ),
            ServerMsg::DownloadStart { file, offset } => (
                *self.downloads.get(&file.id)?,
                Inbound::Start { file, offset },
            ),
            ServerMsg::DownloadChunk {
                file_id,
                offset,
                data,
            } => (
                *self.downloads.get(&file_id)?,
                Inbound::Chunk { offset, data },
            ),
            ServerMsg::DownloadEnd { file_id } => (self.downloads.remove(&file_id)?, Inbound::End),
            ServerMsg::DownloadFailed {
                file_id,
                kind,
                text,
            } => (
                self.downloads.remove(&file_id)?,
                Inbound::Failed { kind, text },
            ),
            other => return Some(other),
        };
        self.deliver(id, inbound).await;
        None
    }

    async fn deliver(&self, id: TransferId, inbound: Inbound) {
        if let Some(inbox) = self.tasks.get(&id) {
            // Awaiting room is the backpressure: a slow disk slows the reading down.
            let _ = inbox.send(inbound).await;
        }
    }
}

/// A transfer task's end of the session.
#[derive(Debug)]
struct Ctx {
    id: TransferId,
    inbox: mpsc::Receiver<Inbound>,
    control: mpsc::UnboundedSender<Control>,
    events: mpsc::Sender<TransferEvent>,
    /// The current connection, `None` while disconnected.
    link: Option<Link>,
    /// Where the transfer is remembered across restarts, if anywhere.
    journal: Option<Arc<Journal>>,
    /// Set once the session is gone (the client is closing): a cancel read after that
    /// keeps what a later run of the client may resume.
    closing: bool,
}

/// The user cancelled (or the client is closing) while the task waited.
#[derive(Debug)]
struct Cancelled;

impl Ctx {
    async fn emit(&self, event: TransferEvent) {
        let _ = self.events.send(event).await;
    }

    /// Sends a frame on the current connection; false while disconnected, or once the
    /// session has ended.
    fn send(&self, msg: ClientMsg) -> bool {
        let Some(link) = &self.link else { return false };
        let frame = Control::Frame {
            id: self.id,
            epoch: link.epoch,
            msg,
        };
        self.control.send(frame).is_ok()
    }

    /// The file lane of the current connection.
    fn lane(&self) -> Option<mpsc::Sender<ClientMsg>> {
        self.link.as_ref().map(|l| l.lane.clone())
    }

    /// The next message, keeping track of the connection. A closed inbox (the client is
    /// leaving) reads as a cancel.
    async fn next(&mut self) -> Inbound {
        match self.inbox.recv().await {
            Some(inbound) => self.track(inbound),
            None => {
                self.closing = true;
                Inbound::Cancel
            }
        }
    }

    /// The next message if one is already waiting, as [`Ctx::next`] gives it. A closed
    /// inbox gives `None` here; the next [`Ctx::next`] reads it as a cancel.
    fn try_next(&mut self) -> Option<Inbound> {
        let inbound = self.inbox.try_recv().ok()?;
        Some(self.track(inbound))
    }

    /// Keeps track of the connection through `inbound`.
    fn track(&mut self, inbound: Inbound) -> Inbound {
        match inbound {
            Inbound::Connected(link) => {
                self.link = Some(link.clone());
                Inbound::Connected(link)
            }
            Inbound::Disconnected => {
                self.link = None;
                Inbound::Disconnected
            }
            other => other,
        }
    }

    /// The journal, if the transfer is to be remembered now: not once the client is
    /// closing, when what is remembered must stay as it is.
    fn journal(&self) -> Option<Arc<Journal>> {
        self.journal.clone().filter(|_| !self.closing)
    }

    /// Waits until there is a connection; whatever else arrives meanwhile belongs to the
    /// connection that is gone.
    async fn connected(&mut self) -> Result<(), Cancelled> {
        while self.link.is_none() {
            if let Inbound::Cancel = self.next().await {
                return Err(Cancelled);
            }
        }
        Ok(())
    }

    /// Sends `msg` into the file lane, in order behind the chunks before it, while still
    /// listening for what stops a transfer: `Err` with a disconnect, a cancel or a
    /// failure, whichever came first (the message is then not sent). `Ok(false)`: the
    /// lane is closed (the connection ended; the inbox is about to say so).
    async fn feed(
        &mut self,
        lane: &mpsc::Sender<ClientMsg>,
        msg: ClientMsg,
    ) -> Result<bool, Inbound> {
        loop {
            tokio::select! {
                biased;
                inbound = self.next() => {
                    // Nothing else is meant for a transfer that is sending.
                    if let stop @ (Inbound::Disconnected | Inbound::Cancel | Inbound::Failed { .. }) = inbound {
                        return Err(stop);
                    }
                }
                permit = lane.reserve() => return Ok(match permit {
                    Ok(permit) => {
                        permit.send(msg);
                        true
                    }
                    Err(_) => false,
                }),
            }
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Ended { id: self.id });
    }
}

/// Lets a progress event through at most every [`PROGRESS_EVERY`].
#[derive(Debug, Default)]
struct Throttle(Option<Instant>);

impl Throttle {
    fn due(&mut self) -> bool {
        let now = Instant::now();
        if self
            .0
            .is_some_and(|last| now.duration_since(last) < PROGRESS_EVERY)
        {
            return false;
        }
        self.0 = Some(now);
        true
    }
}

/// A refusal from the server as the user reads it.
fn server_says(kind: ErrorKind, text: &str) -> String {
    let what = match kind {
        ErrorKind::FileTooLarge => "file too large",
        ErrorKind::QuotaExceeded => "the server's storage quota is full",
        ErrorKind::DiskFull => "the server's disk is full",
        ErrorKind::InvalidFileName => "file name not accepted",
        ErrorKind::ChecksumMismatch => "checksum mismatch",
        ErrorKind::NoSuchFile => "no such file",
        // No upload of that id on this connection: most often another connection has
        // resumed it with its token, and the server's text says so.
        ErrorKind::NoSuchUpload => "no longer this connection's upload",
        ErrorKind::BadChunk => "transfer out of step",
        ErrorKind::TooManyTransfers => "too many transfers at once",
        _ => "refused",
    };
    format!("{what}: {text}")
}

/// Runs `f` on a file and a hash on tokio's blocking pool, so that neither the disk nor
/// SHA-256 holds up the runtime's threads (which draw the screen and carry the chat).
async fn blocking<T: Send + 'static>(
    file: &mut Option<std::fs::File>,
    hasher: &mut sha2::Sha256,
    f: impl FnOnce(&mut std::fs::File, &mut sha2::Sha256) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let mut taken = file
        .take()
        .ok_or_else(|| std::io::Error::other("the file was lost by an earlier failure"))?;
    let mut hash = std::mem::take(hasher);
    let (taken, hash, out) = tokio::task::spawn_blocking(move || {
        let out = f(&mut taken, &mut hash);
        (taken, hash, out)
    })
    .await
    .map_err(std::io::Error::other)?;
    *file = Some(taken);
    *hasher = hash;
    out
}

/// SHA-256 of the first `len` bytes of `file`, which is left positioned after them.
fn hash_prefix(file: &mut std::fs::File, len: u64) -> std::io::Result<sha2::Sha256> {
    use sha2::Digest as _;
    use std::io::{Read as _, Seek as _, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = sha2::Sha256::new();
    let mut block = vec![0; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(block.len(), |l| l.min(block.len()));
        file.read_exact(&mut block[..n])?;
        hasher.update(&block[..n]);
        left -= n as u64;
    }
    Ok(hasher)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two uploads waiting for their answers, on a connection.
    async fn two_pending() -> (Registry, [Ctx; 2], [u32; 2]) {
        let (events, _) = mpsc::channel(16);
        let mut registry = Registry::new(events);
        let (lane, _lane_rx) = mpsc::channel(LANE_FRAMES);
        let mut ctxs = [registry.ctx(1), registry.ctx(2)];
        registry.connected(lane).await;
        let mut ids = [0; 2];
        for (ctx, id) in ctxs.iter_mut().zip(&mut ids) {
            assert!(matches!(ctx.next().await, Inbound::Connected(_)));
            let start = ClientMsg::UploadStart {
                name: "a".into(),
                size: 1,
            };
            assert!(ctx.send(start));
            let Some(ClientMsg::Request { id: sent, msg }) = registry.control().await else {
                panic!("the start goes out with a request id");
            };
            assert!(matches!(*msg, ClientMsg::UploadStart { .. }));
            *id = sent;
        }
        assert_ne!(ids[0], ids[1]);
        assert!(ids.iter().all(|&id| id >= FIRST_OWN_REQUEST_ID), "{ids:?}");
        (registry, ctxs, ids)
    }

    /// A transfer whose session is gone (the client quit, or the session ended) ends,
    /// even when it last heard of a live connection. It used to go round its loop without
    /// end, asking the closed session to send its request, and held a thread for good.
    #[test]
    fn a_transfer_ends_when_its_session_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"hello").unwrap();
        let cancelled = Some(TransferEvent::Cancelled { id: 1 });
        let upload = last_event_without_a_session(|ctx| {
            tokio::spawn(upload::run(ctx, path.display().to_string()))
        });
        assert_eq!(upload, cancelled, "the upload");
        let download = last_event_without_a_session(|ctx| {
            tokio::spawn(download::run(ctx, 7, dir.path().into()))
        });
        assert_eq!(download, cancelled, "the download");
    }

    /// Starts a transfer (with `spawn`) that has seen a connection but whose registry, the
    /// session's end, is gone; returns its last event, or `None` if it did not end within
    /// 5 s. The runtime is left behind, not waited for, so that a task that never yields
    /// fails the test instead of hanging it.
    fn last_event_without_a_session(
        spawn: impl FnOnce(Ctx) -> tokio::task::JoinHandle<()>,
    ) -> Option<TransferEvent> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let last = runtime.block_on(async {
            let (events, mut news) = mpsc::channel(16);
            let mut registry = Registry::new(events);
            let (lane, _lane_rx) = mpsc::channel(LANE_FRAMES);
            registry.connected(lane).await;
            let ctx = registry.ctx(1);
            drop(registry);
            tokio::time::timeout(Duration::from_secs(5), spawn(ctx))
                .await
                .ok()?
                .ok()?;
            let mut last = None;
            while let Ok(event) = news.try_recv() {
                last = Some(event);
            }
            last
        });
        runtime.shutdown_background();
        last
    }

    /// An error without a request id is no upload's refusal, however many uploads wait:
    /// it used to be taken as the refusal of the oldest.
    #[tokio::test]
    async fn an_unrelated_error_is_not_taken_for_a_refusal() {
        let (mut registry, mut ctxs, _) = two_pending().await;
        let unrelated = ServerMsg::Error {
            kind: ErrorKind::Internal,
            text: "something else went wrong".into(),
        };
        assert_eq!(registry.route(unrelated.clone()).await, Some(unrelated));
        for ctx in &mut ctxs {
            assert!(ctx.inbox.try_recv().is_err(), "nothing reached the upload");
        }
    }

    /// The user's own requests have ids too (below the library's). Their answers keep
    /// them, and are never taken for a transfer's: the ids used to start at 1 on both
    /// sides, and the answer to the user's request 1 went to the transfer that waited for
    /// its own request 1, which then waited for ever.
    #[tokio::test]
    async fn answers_to_the_users_requests_pass_on_with_their_ids() {
        let (mut registry, mut ctxs, [first, _]) = two_pending().await;
        for id in [1, 2, FIRST_OWN_REQUEST_ID - 1] {
            let members = ServerMsg::Reply {
                id,
                msg: Box::new(ServerMsg::Members4 {
                    room: "lobby".into(),
                    members: shared::MemberPage::default(),
                }),
            };
            assert_eq!(registry.route(members.clone()).await, Some(members));
        }
        for ctx in &mut ctxs {
            assert!(ctx.inbox.try_recv().is_err(), "nothing reached the upload");
        }
        let ready = ServerMsg::Reply {
            id: first,
            msg: Box::new(ServerMsg::UploadReady {
                upload_id: 70,
                token: vec![0; 16],
                offset: 0,
            }),
        };
        assert_eq!(registry.route(ready).await, None);
        assert!(matches!(
            ctxs[0].inbox.try_recv(),
            Ok(Inbound::Ready { upload_id: 70, .. })
        ));
    }

    /// A second download of a file that is being downloaded fails at once: the server
    /// would restart the first one for it, and the first would wait for ever.
    #[tokio::test]
    async fn a_file_is_downloaded_once_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (events, mut news) = mpsc::channel(16);
        let mut registry = Registry::new(events);
        let download = |id| Request::Download {
            id,
            file_id: 7,
            dir: dir.path().into(),
        };
        registry.request(download(1)).await;
        registry.request(download(2)).await;
        assert_eq!(
            news.recv().await,
            Some(TransferEvent::Failed {
                id: 2,
                reason: "file 7 is already being downloaded (transfer 1)".into()
            })
        );
        // Once the first has ended, the file may be fetched again.
        registry.request(Request::Cancel { id: 1 }).await;
        assert_eq!(news.recv().await, Some(TransferEvent::Cancelled { id: 1 }));
        // The task's end reaches the registry through its control channel.
        for _ in 0..500 {
            if !registry.tasks.contains_key(&1) {
                break;
            }
            let next = tokio::time::timeout(Duration::from_millis(10), registry.control()).await;
            assert!(next.is_err(), "no frame to send: {next:?}");
        }
        registry.request(download(3)).await;
        assert!(registry.tasks.contains_key(&3));
        assert!(news.try_recv().is_err(), "{:?}", news.try_recv());
    }

    /// An upload that another connection resumes with its token ends, with a message that
    /// says why, while its chunks are going out: the server tells the former sender. It
    /// used to hear nothing and its progress bar hung.
    #[tokio::test]
    async fn an_upload_taken_over_by_another_connection_ends_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        let size = 64 * shared::limits::MAX_CHUNK_BYTES;
        std::fs::write(&path, vec![7; size]).unwrap();
        let (events, mut news) = mpsc::channel(16);
        let mut registry = Registry::new(events);
        let (lane, mut lane_rx) = mpsc::channel(LANE_FRAMES);
        registry.connected(lane).await;
        let upload = Request::Upload {
            id: 1,
            path: path.display().to_string(),
        };
        registry.request(upload).await;
        let Some(ClientMsg::Request { id, .. }) = registry.control().await else {
            panic!("the start goes out with a request id");
        };
        let ready = ServerMsg::Reply {
            id,
            msg: Box::new(ServerMsg::UploadReady {
                upload_id: 70,
                token: vec![0; 16],
                offset: 0,
            }),
        };
        assert_eq!(registry.route(ready).await, None);
        // The first chunks went out; the lane is full and nobody reads it.
        let first = lane_rx.recv().await;
        assert!(
            matches!(first, Some(ClientMsg::UploadChunk { .. })),
            "{first:?}"
        );
        let lost = ServerMsg::UploadFailed {
            upload_id: 70,
            kind: ErrorKind::NoSuchUpload,
            text: "another connection resumed it with its token".into(),
        };
        assert_eq!(registry.route(lost).await, None);
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match news.recv().await {
                    Some(TransferEvent::Failed { reason, .. }) => break Some(reason),
                    Some(TransferEvent::Started { .. } | TransferEvent::Progress { .. }) => {}
                    _ => break None,
                }
            }
        })
        .await;
        assert_eq!(
            end,
            Ok(Some(
                "no longer this connection's upload: another connection resumed it with its token"
                    .into()
            ))
        );
    }

    /// An upload that a former run of the client finished, but whose answer was lost with
    /// the connection (or with the client), is not sent again: the new run resumes with
    /// the remembered token, the server answers `UploadDone`, and the journal forgets it.
    #[tokio::test]
    async fn a_remembered_upload_resumes_with_its_token_and_ends_on_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(&path, b"hello").unwrap();
        let stamp = journal::Stamp::of(&std::fs::metadata(&path).unwrap());
        Journal::new(dir.path(), "127.0.0.1:7878").remember_upload(&path, stamp, &[9; 16]);

        let (events, mut news) = mpsc::channel(16);
        let mut registry = Registry::new(events).serving("127.0.0.1:7878");
        let (lane, _lane_rx) = mpsc::channel(LANE_FRAMES);
        registry.connected(lane).await;
        let dir_path = dir.path().to_path_buf();
        registry.request(Request::Remember { dir: dir_path }).await;
        let upload = Request::Upload {
            id: 1,
            path: path.display().to_string(),
        };
        registry.request(upload).await;
        let Some(ClientMsg::Request { id, msg }) = registry.control().await else {
            panic!("the resume goes out with a request id");
        };
        assert_eq!(*msg, ClientMsg::UploadResume { token: vec![9; 16] });
        let done = ServerMsg::Reply {
            id,
            msg: Box::new(ServerMsg::UploadDone {
                upload_id: 70,
                file_id: 12,
            }),
        };
        assert_eq!(registry.route(done).await, None);
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match news.recv().await {
                    Some(TransferEvent::Started { .. }) => {}
                    other => break other,
                }
            }
        })
        .await;
        assert_eq!(
            end,
            Ok(Some(TransferEvent::Uploaded { id: 1, file_id: 12 }))
        );
        let journal = Journal::new(dir.path(), "127.0.0.1:7878");
        assert_eq!(
            journal.upload(&path, stamp),
            journal::Remembered::Nothing,
            "forgotten once stored"
        );
    }

    /// The library's ids go round within their half of the range.
    #[test]
    fn the_librarys_request_ids_stay_in_their_half() {
        let (events, _) = mpsc::channel(1);
        let mut registry = Registry::new(events);
        let id = |msg: ClientMsg| match msg {
            ClientMsg::Request { id, .. } => id,
            other => panic!("no id: {other:?}"),
        };
        assert_eq!(
            id(registry.with_request_id(1, ClientMsg::ListFiles)),
            FIRST_OWN_REQUEST_ID
        );
        registry.last_request = u32::MAX - 2;
        assert_eq!(
            id(registry.with_request_id(1, ClientMsg::ListFiles)),
            u32::MAX - 1
        );
        // The last id is the session's check of lines in doubt: never a transfer's.
        assert_eq!(
            id(registry.with_request_id(1, ClientMsg::ListFiles)),
            FIRST_OWN_REQUEST_ID
        );
    }

    /// Answers go to the upload whose request they answer, in whatever order they come.
    #[tokio::test]
    async fn answers_are_matched_by_their_request_id() {
        let (mut registry, mut ctxs, [first, second]) = two_pending().await;
        let refusal = ServerMsg::Reply {
            id: second,
            msg: Box::new(ServerMsg::Error {
                kind: ErrorKind::TooManyTransfers,
                text: "at most 4".into(),
            }),
        };
        assert_eq!(registry.route(refusal).await, None);
        let ready = ServerMsg::Reply {
            id: first,
            msg: Box::new(ServerMsg::UploadReady {
                upload_id: 70,
                token: vec![0; 16],
                offset: 0,
            }),
        };
        assert_eq!(registry.route(ready).await, None);
        assert!(matches!(
            ctxs[1].inbox.try_recv(),
            Ok(Inbound::Refused {
                kind: ErrorKind::TooManyTransfers,
                ..
            })
        ));
        assert!(matches!(
            ctxs[0].inbox.try_recv(),
            Ok(Inbound::Ready { upload_id: 70, .. })
        ));
        // An answer to a request no transfer waits for is passed on as it is.
        let other = ServerMsg::Reply {
            id: first,
            msg: Box::new(ServerMsg::Pong { token: 1 }),
        };
        assert_eq!(registry.route(other.clone()).await, Some(other));
        // Later messages of the upload go by its upload id.
        let done = ServerMsg::UploadDone {
            upload_id: 70,
            file_id: 5,
        };
        assert_eq!(registry.route(done).await, None);
        assert!(matches!(
            ctxs[0].inbox.try_recv(),
            Ok(Inbound::Done { file_id: 5 })
        ));
    }
}
