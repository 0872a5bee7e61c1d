//! One upload, from the accepted `UploadStart` to a stored file or to nothing at all.
//!
//! Each upload is a task of its own (the *worker*) that owns the temporary file and the
//! running SHA-256. Connections send it commands through a small bounded channel: a
//! connection awaits room in it, so a sender faster than the disk is slowed down by TCP
//! instead of growing the server's memory, and the connection's socket is read while the
//! previous chunks are being written. The worker writes and hashes the chunks on tokio's
//! blocking pool, every chunk waiting in its queue in one trip (each trip is two thread
//! wake-ups), so neither the disk nor SHA-256 (about 40 µs for 64 KiB with the CPU's SHA
//! instructions, ten times that without) ever holds up a runtime thread, and so no other
//! connection waits for them.
//!
//! The connection that owns an upload is its *lease*. When it goes away the upload waits
//! `upload_grace` for an `UploadResume` with its token, from any connection, and is
//! deleted if none comes. A resume moves the lease; commands from a former owner are
//! ignored, so an old connection that has not noticed its end yet cannot interfere.
//!
//! A reservation is paid for with data: while its sender is connected, an upload that
//! goes `upload_stall` without receiving [`PROGRESS_BYTES`] (or the rest of the file)
//! fails with `Timeout`, its data is deleted and its space given back. So a connection
//! that starts uploads and sends nothing holds the quota for that long at most.

use std::fs::File;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use shared::auth::PublicKey;
use shared::limits::MAX_CHUNK_BYTES;
use shared::units::{bytes, duration};
use shared::{ErrorKind, FileInfo, ServerMsg};
use tokio::sync::mpsc;
use tokio::task::spawn_blocking;
use tokio::time::{Instant, Sleep, sleep, sleep_until};
use tracing::{debug, info, warn};

use crate::common::{ClientId, Refusal, now_ms};
use crate::files::Files;
use crate::files::handle::{self, Command, Handle, Token};
use crate::outbound::{Outbox, encode_answer};

/// Data an upload must receive within each `upload_stall` to keep its reservation: one
/// full chunk, so that trickling a byte at a time does not count as progress.
pub(crate) const PROGRESS_BYTES: u64 = MAX_CHUNK_BYTES as u64;

/// Who the upload is from and for: fixed when it starts.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// Cleaned file name.
    pub(crate) name: String,
    pub(crate) size: u64,
    /// Sender's nick.
    pub(crate) from: String,
    /// Display name and folded key of the room the file is for.
    pub(crate) room: String,
    pub(crate) room_key: String,
    /// The sender's IP address, whose share of the quota the upload takes.
    pub(crate) address: Option<IpAddr>,
    /// The key the sender proved, if it proved one: only that key may resume the upload.
    pub(crate) key: Option<PublicKey>,
}

/// Accepts an upload of `origin.size` bytes for the connection `lease`: checks the limits,
/// creates the temporary file, and starts the worker. Returns the handle and the
/// `UploadReady` for the client.
pub(crate) async fn start(
    files: &Arc<Files>,
    origin: Origin,
    lease: ClientId,
    outbox: Outbox,
) -> Result<(Handle, ServerMsg), Refusal> {
    let (mut handle, rx) = handle::channel();
    handle.owner = origin.key;
    let prepared = {
        let files = Arc::clone(files);
        let handle = handle.clone();
        let (size, address) = (origin.size, origin.address);
        spawn_blocking(move || {
            let reservation = files.store.reserve(size, handle, address)?;
            match File::create_new(&reservation.part_path) {
                Ok(file) => Ok((reservation, file)),
                Err(e) => {
                    files.store.release(&reservation.token, size);
                    warn!(error = %e, "cannot create a temporary file");
                    Err(storage_refusal(&e))
                }
            }
        })
        .await
        .map_err(|_| internal())?
    };
    let (reservation, file) = prepared?;
    let handle = handle.with_id(reservation.upload_id);
    let ready = ServerMsg::UploadReady {
        upload_id: reservation.upload_id,
        token: reservation.token.to_vec(),
        offset: 0,
    };
    info!(
        upload = reservation.upload_id,
        name = %origin.name,
        size = origin.size,
        from = %origin.from,
        room = %origin.room,
        "upload started"
    );
    let partial = Partial {
        id: reservation.upload_id,
        token: reservation.token,
        origin,
        path: reservation.part_path,
        file: Some(file),
        hasher: Sha256::new(),
        received: 0,
    };
    tokio::spawn(run(Arc::clone(files), partial, rx, (lease, outbox)));
    Ok((handle, ready))
}

/// The state of an upload in progress; only its worker touches it.
struct Partial {
    id: u64,
    token: Token,
    origin: Origin,
    path: PathBuf,
    /// `None` only while a blocking write has it.
    file: Option<File>,
    hasher: Sha256,
    received: u64,
}

/// A chunk of data for the file, and the id of its request, if it had one.
struct Chunk {
    reply: Option<u32>,
    offset: u64,
    data: Vec<u8>,
}

/// What woke a worker up.
enum Next {
    /// A command, or `None` when the grace period is over.
    Command(Option<Command>),
    OwnerGone,
    /// The connected sender sent too little for too long.
    Stalled,
}

/// How an upload ended; the id of the request whose answer says so, if it had one.
enum Outcome {
    Stored(FileInfo, Option<u32>),
    Failed(Refusal, Option<u32>),
    Cancelled,
    /// The grace period passed with no owner.
    Abandoned,
}

/// The worker: carries out commands until the upload ends, then cleans up and tells the
/// owner and the room.
async fn run(
    files: Arc<Files>,
    mut partial: Partial,
    mut commands: mpsc::Receiver<Command>,
    owner: (ClientId, Outbox),
) {
    let (grace, stall) = (files.upload_grace, files.upload_stall);
    let mut owner = Some(owner);
    // When the upload is deleted unless resumed; set while it has no owner.
    let mut deadline = Instant::now();
    // While it has an owner: when it fails unless `PROGRESS_BYTES` more arrive, and what
    // arrived towards them.
    let mut progress = Progress::new(stall);
    // A command taken from the queue while a batch of chunks was gathered, next in line.
    let mut pending = None;
    let outcome = loop {
        let next = match (pending.take(), &owner) {
            (Some(command), _) => Next::Command(Some(command)),
            (None, Some((_, outbox))) => tokio::select! {
                // Commands first: the chunks a connection passed on before it ended, and
                // its `Detach`, are still its own.
                biased;
                command = commands.recv() => Next::Command(command),
                // The owner's connection ended without saying so (its queue closed).
                () = outbox.closed() => Next::OwnerGone,
                () = progress.stalled() => Next::Stalled,
            },
            (None, None) => tokio::select! {
                command = commands.recv() => Next::Command(command),
                () = sleep_until(deadline) => Next::Command(None),
            },
        };
        let command = match next {
            Next::Command(Some(command)) => command,
            Next::Command(None) => break Outcome::Abandoned,
            Next::OwnerGone => {
                owner = None;
                deadline = Instant::now() + grace;
                continue;
            }
            Next::Stalled => {
                info!(
                    upload = partial.id,
                    received = partial.received,
                    "upload stalled"
                );
                break Outcome::Failed(stalled(stall), None);
            }
        };
        let owns = |lease: ClientId| owner.as_ref().is_some_and(|(l, _)| *l == lease);
        match command {
            Command::Attach {
                lease,
                outbox,
                offset,
            } => {
                debug!(upload = partial.id, client = lease, "upload resumed");
                let former = owner.replace((lease, outbox));
                progress.restart();
                // Whoever loses an upload is told: its client would otherwise wait for an
                // answer that never comes.
                if let Some((_, former)) = former.filter(|(l, _)| *l != lease) {
                    let _ = former.push(&encode_answer(None, &taken_over(partial.id)));
                }
                let _ = offset.send(partial.received);
            }
            Command::Detach { lease } if owns(lease) => {
                debug!(upload = partial.id, "upload waits for a resume");
                owner = None;
                deadline = Instant::now() + grace;
            }
            Command::Chunk {
                lease,
                reply,
                offset,
                data,
            } if owns(lease) => {
                // The chunks that wait behind this one go to the disk with it, in one trip
                // to the blocking pool.
                let mut batch = vec![Chunk {
                    reply,
                    offset,
                    data,
                }];
                while batch.len() < handle::BATCH {
                    match commands.try_recv() {
                        Ok(Command::Chunk {
                            lease: from,
                            reply,
                            offset,
                            data,
                        }) if from == lease => batch.push(Chunk {
                            reply,
                            offset,
                            data,
                        }),
                        Ok(other) => {
                            pending = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let before = partial.received;
                let written = partial.write(batch).await;
                progress.add(
                    partial.received - before,
                    partial.received == partial.origin.size,
                );
                if let Err((refusal, reply)) = written {
                    break Outcome::Failed(refusal, reply);
                }
            }
            Command::Finish {
                lease,
                reply,
                sha256,
            } if owns(lease) => {
                break match partial.finish(&files, &sha256).await {
                    Ok(file) => Outcome::Stored(file, reply),
                    Err(refusal) => Outcome::Failed(refusal, reply),
                };
            }
            Command::Cancel { lease } if owns(lease) => break Outcome::Cancelled,
            // From a connection that no longer holds the lease.
            _ => {}
        }
    };
    let id = partial.id;
    let owner = owner.map(|(_, outbox)| outbox);
    match outcome {
        Outcome::Stored(file, reply) => {
            info!(upload = id, file = file.id, name = %file.name, size = file.size, "file stored");
            let room_key = partial.origin.room_key.clone();
            files.store.add(&partial.token, file.clone());
            if let Some(outbox) = &owner {
                let done = ServerMsg::UploadDone {
                    upload_id: id,
                    file_id: file.id,
                };
                let _ = outbox.push(&encode_answer(reply, &done));
            }
            files.registry.offer(&room_key, file);
        }
        Outcome::Failed(refusal, reply) => {
            info!(upload = id, reason = %refusal.text, "upload failed");
            partial.discard(&files).await;
            if let Some(outbox) = &owner {
                let failed = ServerMsg::UploadFailed {
                    upload_id: id,
                    kind: refusal.kind,
                    text: refusal.text,
                };
                let _ = outbox.push(&encode_answer(reply, &failed));
            }
        }
        Outcome::Cancelled => {
            info!(upload = id, "upload cancelled");
            partial.discard(&files).await;
        }
        Outcome::Abandoned => {
            info!(upload = id, "upload abandoned: not resumed in time");
            partial.discard(&files).await;
        }
    }
    // Only now, after the last answer: a closed queue tells the connection that the
    // upload has said all it will say (see `Handle::ended`). Commands still queued are
    // dropped unanswered, and a resume waiting in them is refused.
    drop(commands);
}

/// What the former owner of an upload hears when another connection resumes it.
fn taken_over(upload_id: u64) -> ServerMsg {
    ServerMsg::UploadFailed {
        upload_id,
        kind: ErrorKind::NoSuchUpload,
        text: "another connection resumed it with its token".into(),
    }
}

/// The stall clock of an upload whose sender is connected. One timer for the upload's
/// life, pushed back when enough data arrives: not one made for every chunk.
struct Progress {
    stall: Duration,
    /// Fires when the upload has stalled; `None` when the stall limit is off
    /// (`--upload-stall 0`).
    timer: Option<Pin<Box<Sleep>>>,
    /// Bytes received since the timer was last pushed back.
    bytes: u64,
}

impl Progress {
    fn new(stall: Duration) -> Self {
        Self {
            stall,
            timer: (!stall.is_zero()).then(|| Box::pin(sleep(stall))),
            bytes: 0,
        }
    }

    /// Starts the clock again from now (a resume, or enough data).
    fn restart(&mut self) {
        self.bytes = 0;
        if let Some(timer) = &mut self.timer {
            timer.as_mut().reset(Instant::now() + self.stall);
        }
    }

    /// Completes when the upload has stalled; never when the limit is off.
    async fn stalled(&mut self) {
        match &mut self.timer {
            Some(timer) => timer.as_mut().await,
            None => std::future::pending().await,
        }
    }

    /// Counts `len` bytes written; a full [`PROGRESS_BYTES`], or the end of the file
    /// (`complete`), earns another `stall` from now. Counted once the bytes are on disk,
    /// so that a slow disk is not taken for a slow sender.
    fn add(&mut self, len: u64, complete: bool) {
        self.bytes = self.bytes.saturating_add(len);
        if self.bytes >= PROGRESS_BYTES || complete {
            self.restart();
        }
    }
}

/// Why a stalled upload failed, for its sender.
fn stalled(stall: Duration) -> Refusal {
    Refusal {
        kind: ErrorKind::Timeout,
        text: format!(
            "too little data came for {} (at least {} is expected in that time); \
             the upload was dropped and its space given back",
            // Rounded up: a limit under a second reads as 1s, not 0s.
            duration(stall.as_secs() + u64::from(stall.subsec_nanos() > 0)),
            bytes(PROGRESS_BYTES)
        ),
    }
}

impl Partial {
    /// Appends chunks and hashes them, in one trip off the runtime's threads. The chunks
    /// before a bad one are kept; the error comes with the bad chunk's request id.
    async fn write(&mut self, mut chunks: Vec<Chunk>) -> Result<(), (Refusal, Option<u32>)> {
        let mut end = self.received;
        let mut bad = None;
        for (i, chunk) in chunks.iter().enumerate() {
            match self.check(end, chunk) {
                Ok(next) => end = next,
                Err(refusal) => {
                    bad = Some((i, refusal));
                    break;
                }
            }
        }
        let bad = bad.map(|(i, refusal)| (refusal, chunks.drain(i..).next().and_then(|c| c.reply)));
        if chunks.is_empty() {
            return bad.map_or(Ok(()), Err);
        }
        let last = chunks.last().map(|c| c.reply);
        let mut file = self
            .file
            .take()
            .ok_or_else(|| (internal(), last.flatten()))?;
        let mut hasher = std::mem::take(&mut self.hasher);
        let (file, hasher, written) = spawn_blocking(move || {
            let written = chunks.iter().try_for_each(|chunk| {
                file.write_all(&chunk.data)?;
                hasher.update(&chunk.data);
                Ok::<_, io::Error>(())
            });
            (file, hasher, written)
        })
        .await
        .map_err(|_| (internal(), last.flatten()))?;
        self.file = Some(file);
        self.hasher = hasher;
        written.map_err(|e| {
            warn!(upload = self.id, error = %e, "cannot write an upload");
            (storage_refusal(&e), last.flatten())
        })?;
        self.received = end;
        bad.map_or(Ok(()), Err)
    }

    /// Checks that `chunk` comes at `at`, the end of what came before it, and fits;
    /// returns where it ends.
    fn check(&self, at: u64, chunk: &Chunk) -> Result<u64, Refusal> {
        let (offset, len, size) = (chunk.offset, chunk.data.len(), self.origin.size);
        let end = at.saturating_add(len as u64);
        let problem = if offset != at {
            Some(format!(
                "a chunk at offset {offset}, where {at} was expected"
            ))
        } else if len > MAX_CHUNK_BYTES {
            Some(format!(
                "a chunk of {len} bytes, more than the {MAX_CHUNK_BYTES} allowed"
            ))
        } else if end > size {
            Some(format!("data past the announced size of {size} bytes"))
        } else {
            None
        };
        match problem {
            Some(text) => Err(Refusal {
                kind: ErrorKind::BadChunk,
                text,
            }),
            None => Ok(end),
        }
    }

    /// Checks the size and the checksum, flushes the data to disk, and moves it into
    /// place under a new file id.
    async fn finish(&mut self, files: &Arc<Files>, sha256: &[u8]) -> Result<FileInfo, Refusal> {
        let size = self.origin.size;
        if self.received != size {
            return Err(Refusal {
                kind: ErrorKind::BadChunk,
                text: format!("finished after {} of {size} bytes", self.received),
            });
        }
        let digest = std::mem::take(&mut self.hasher).finalize();
        if digest.as_slice() != sha256 {
            return Err(Refusal {
                kind: ErrorKind::ChecksumMismatch,
                text: format!(
                    "the data received ({}) does not have the SHA-256 announced; nothing was kept",
                    bytes(size)
                ),
            });
        }
        let file = FileInfo {
            id: files.store.next_file_id(),
            name: self.origin.name.clone(),
            size,
            sha256: digest.to_vec(),
            from: self.origin.from.clone(),
            time_ms: now_ms(),
            room: self.origin.room.clone(),
        };
        let data = self.file.take().ok_or_else(internal)?;
        let (files, path, stored) = (Arc::clone(files), self.path.clone(), file.clone());
        spawn_blocking(move || {
            data.sync_all()?;
            drop(data);
            files.store.store(&path, &stored)
        })
        .await
        .map_err(|_| internal())?
        .map_err(|e| {
            warn!(upload = self.id, error = %e, "cannot store an upload");
            storage_refusal(&e)
        })?;
        Ok(file)
    }

    /// Deletes the temporary file and gives the reservation back.
    async fn discard(self, files: &Arc<Files>) {
        files.store.release(&self.token, self.origin.size);
        drop(self.file);
        let path = self.path;
        let removed = spawn_blocking(move || std::fs::remove_file(&path)).await;
        if let Ok(Err(e)) = removed {
            if e.kind() != io::ErrorKind::NotFound {
                warn!(upload = self.id, error = %e, "cannot delete a partial upload");
            }
        }
    }
}

/// A storage failure as the client sees it: a full disk says so, anything else is the
/// server's problem.
fn storage_refusal(e: &io::Error) -> Refusal {
    if e.kind() == io::ErrorKind::StorageFull {
        Refusal {
            kind: ErrorKind::DiskFull,
            text: "the server's disk is full; nothing was kept".into(),
        }
    } else {
        Refusal {
            kind: ErrorKind::Internal,
            text: "the server could not store the file; nothing was kept".into(),
        }
    }
}

fn internal() -> Refusal {
    Refusal {
        kind: ErrorKind::Internal,
        text: "the server could not handle the upload".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stall_limit_of_zero_is_no_limit() {
        let mut off = Progress::new(Duration::ZERO);
        assert!(off.timer.is_none());
        let waited = tokio::time::timeout(Duration::from_millis(100), off.stalled()).await;
        assert!(waited.is_err(), "no deadline, no stall");
        let mut on = Progress::new(Duration::from_millis(10));
        tokio::time::timeout(Duration::from_secs(10), on.stalled())
            .await
            .expect("stalls after its limit");
    }
}
