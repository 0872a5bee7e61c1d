//! One upload: read, hash and send a local file in chunks, resuming after reconnects, and
//! after a restart of the client when a journal remembers its token.

use std::fs::{File, Metadata};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use shared::limits::MAX_CHUNK_BYTES;
use shared::{ClientMsg, ErrorKind};
use tokio::sync::mpsc;

use super::journal::{Journal, Remembered, Stamp};
use super::{
    Cancelled, Ctx, Inbound, Throttle, TransferEvent, blocking, hash_prefix, local, server_says,
};

/// Chunks read and hashed in one trip to the blocking pool: as many as the file lane
/// holds, so that a trip fills it again (each trip is two thread wake-ups).
const READ_BATCH: usize = super::LANE_FRAMES;

/// Runs the upload of the file at `typed` (as the user typed it) to its end, and tells
/// the app how it ended. However it ends, the journal forgets it, unless the client is
/// closing: then its token stays for the next run.
pub(super) async fn run(mut ctx: Ctx, typed: String) {
    let id = ctx.id;
    let mut remembered = None;
    let end = match upload(&mut ctx, &typed, &mut remembered).await {
        Ok(event) => event,
        Err(Cancelled) => TransferEvent::Cancelled { id },
    };
    if let (Some(journal), Some(path)) = (ctx.journal(), remembered) {
        let _ = tokio::task::spawn_blocking(move || journal.forget_upload(&path)).await;
    }
    ctx.emit(end).await;
}

/// Runs `f` on the journal off the runtime's threads; `None` without a journal.
async fn with_journal<T: Send + 'static>(
    journal: Option<Arc<Journal>>,
    f: impl FnOnce(&Journal) -> T + Send + 'static,
) -> Option<T> {
    let journal = journal?;
    tokio::task::spawn_blocking(move || f(&journal)).await.ok()
}

/// The file being sent and the hash of what has been read of it.
struct Source {
    file: Option<File>,
    hasher: Sha256,
}

impl Source {
    /// Hashes the first `len` bytes (the part the server already has) and stays after them.
    async fn rewind(&mut self, len: u64) -> io::Result<()> {
        blocking(&mut self.file, &mut self.hasher, move |file, hasher| {
            *hasher = hash_prefix(file, len)?;
            Ok(())
        })
        .await
    }

    /// Reads and hashes the next chunks from `at` on, up to [`READ_BATCH`] of them and no
    /// further than `size`, in one trip to the blocking pool.
    async fn read(&mut self, at: u64, size: u64) -> io::Result<Vec<Vec<u8>>> {
        blocking(&mut self.file, &mut self.hasher, move |file, hasher| {
            let mut chunks = Vec::with_capacity(READ_BATCH);
            let mut at = at;
            while at < size && chunks.len() < READ_BATCH {
                let n =
                    usize::try_from(size - at).map_or(MAX_CHUNK_BYTES, |l| l.min(MAX_CHUNK_BYTES));
                let mut data = vec![0; n];
                file.read_exact(&mut data).map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        io::Error::other("the file got shorter while it was being sent")
                    } else {
                        e
                    }
                })?;
                hasher.update(&data);
                at += n as u64;
                chunks.push(data);
            }
            Ok(chunks)
        })
        .await
    }
}

/// Opens `path` for reading; it must be a regular file.
fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok((file, meta))
}

/// Uploads the file at `typed`. `remembered` is set to the file's absolute path once the
/// journal (if any) holds it, for [`run`] to forget.
async fn upload(
    ctx: &mut Ctx,
    typed: &str,
    remembered: &mut Option<PathBuf>,
) -> Result<TransferEvent, Cancelled> {
    let id = ctx.id;
    let failed = |reason: String| Ok(TransferEvent::Failed { id, reason });
    let path = local::expand_tilde(typed, local::home_dir().as_deref());
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return failed(format!("cannot send {typed}: not a file"));
    };
    // Refused here, before anything goes to the server.
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || open(&path))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))
    };
    let (file, meta) = match opened {
        Ok(opened) => opened,
        Err(e) => return failed(format!("cannot send {typed}: {e}")),
    };
    let (size, stamp) = (meta.len(), Stamp::of(&meta));
    // The journal knows a file by its absolute path, wherever the client was started.
    let absolute = std::path::absolute(&path).unwrap_or(path.clone());
    ctx.emit(TransferEvent::Started {
        id,
        name: name.clone(),
        size,
    })
    .await;
    let mut source = Source {
        file: Some(file),
        hasher: Sha256::new(),
    };
    // The proof that lets a new connection take the upload over: from an earlier run of
    // the client, if it was interrupted then and the file is unchanged.
    let looked_up = {
        let absolute = absolute.clone();
        with_journal(ctx.journal(), move |j| j.upload(&absolute, stamp)).await
    };
    let mut token: Option<Vec<u8>> = match looked_up {
        Some(Remembered::Token(token)) => {
            *remembered = Some(absolute.clone());
            Some(token)
        }
        Some(Remembered::Changed) => {
            let reason = "the file changed since its upload was interrupted; \
                          sending it from the start"
                .to_owned();
            ctx.emit(TransferEvent::Restarted { id, reason }).await;
            None
        }
        Some(Remembered::Nothing) | None => None,
    };
    'session: loop {
        ctx.connected().await?;
        let resuming = token.is_some();
        let start = match &token {
            Some(token) => ClientMsg::UploadResume {
                token: token.clone(),
            },
            None => ClientMsg::UploadStart {
                name: name.clone(),
                size,
            },
        };
        if !ctx.send(start) {
            // There is a connection, so it is the session that is gone: nothing will
            // answer, and going round again would only ask it again, without end.
            return Err(Cancelled);
        }
        let (upload_id, offset) = loop {
            match ctx.next().await {
                Inbound::Ready {
                    upload_id,
                    token: given,
                    offset,
                } => {
                    if token.as_ref() != Some(&given) {
                        let (path, given) = (absolute.clone(), given.clone());
                        let journal = ctx.journal();
                        if with_journal(journal, move |j| {
                            j.remember_upload(&path, stamp, &given);
                        })
                        .await
                        .is_some()
                        {
                            *remembered = Some(absolute.clone());
                        }
                    }
                    token = Some(given);
                    break (upload_id, offset);
                }
                // Stored already: the answer to the finish was lost with the connection
                // (or with the client's last run).
                Inbound::Done { file_id } if resuming => {
                    return Ok(TransferEvent::Uploaded { id, file_id });
                }
                Inbound::Refused {
                    kind: ErrorKind::NoSuchUpload,
                    ..
                } if resuming => {
                    token = None;
                    let reason = "the server no longer has the part already sent \
                                  (it may have restarted); starting again from zero"
                        .to_owned();
                    ctx.emit(TransferEvent::Restarted { id, reason }).await;
                    continue 'session;
                }
                Inbound::Refused { kind, text } => return failed(server_says(kind, &text)),
                Inbound::Disconnected => continue 'session,
                Inbound::Cancel => return Err(Cancelled),
                _ => {}
            }
        };
        if offset > size {
            ctx.send(ClientMsg::UploadCancel { upload_id });
            return failed(format!(
                "the server holds {offset} bytes of a {size}-byte file; giving up"
            ));
        }
        if resuming {
            ctx.emit(TransferEvent::Resumed { id, offset }).await;
        }
        if let Err(e) = source.rewind(offset).await {
            ctx.send(ClientMsg::UploadCancel { upload_id });
            return failed(format!("cannot read {typed}: {e}"));
        }
        let Some(lane) = ctx.lane() else { continue };
        let mut sent = offset;
        let mut throttle = Throttle::default();
        let mut last = None;
        while sent < size {
            let chunks = match source.read(sent, size).await {
                Ok(chunks) => chunks,
                Err(e) => {
                    ctx.send(ClientMsg::UploadCancel { upload_id });
                    return failed(format!("cannot read {typed}: {e}"));
                }
            };
            for data in chunks {
                let n = data.len() as u64;
                let chunk = ClientMsg::UploadChunk {
                    upload_id,
                    offset: sent,
                    data,
                };
                // After a reconnect the file is read again from the server's offset
                // (`rewind`), so the chunks read ahead are dropped.
                match send_in_lane(ctx, &lane, chunk, upload_id).await {
                    Sent::Yes => {}
                    Sent::Reconnect => continue 'session,
                    Sent::Ended(end) => return end,
                }
                sent += n;
                if throttle.due() {
                    ctx.emit(TransferEvent::Progress { id, done: sent }).await;
                    last = Some(sent);
                }
            }
        }
        if last != Some(size) {
            ctx.emit(TransferEvent::Progress { id, done: size }).await;
        }
        let sha256 = source.hasher.clone().finalize().to_vec();
        // Through the lane, so that it follows the last chunk.
        let finish = ClientMsg::UploadFinish { upload_id, sha256 };
        match send_in_lane(ctx, &lane, finish, upload_id).await {
            Sent::Yes => {}
            Sent::Reconnect => continue 'session,
            Sent::Ended(end) => return end,
        }
        loop {
            match ctx.next().await {
                Inbound::Done { file_id } => return Ok(TransferEvent::Uploaded { id, file_id }),
                Inbound::Failed { kind, text } => return failed(server_says(kind, &text)),
                Inbound::Disconnected => continue 'session,
                Inbound::Cancel => {
                    ctx.send(ClientMsg::UploadCancel { upload_id });
                    return Err(Cancelled);
                }
                _ => {}
            }
        }
    }
}

/// What became of a frame given to the file lane.
enum Sent {
    Yes,
    /// The connection ended: resume on the next one.
    Reconnect,
    /// The upload is over: cancelled by the user or failed at the server.
    Ended(Result<TransferEvent, Cancelled>),
}

/// Puts `msg` in the file lane behind the chunks before it, and says what to do next.
async fn send_in_lane(
    ctx: &mut Ctx,
    lane: &mpsc::Sender<ClientMsg>,
    msg: ClientMsg,
    upload_id: u64,
) -> Sent {
    match ctx.feed(lane, msg).await {
        Ok(true) => Sent::Yes,
        Ok(false) | Err(Inbound::Disconnected) => Sent::Reconnect,
        Err(Inbound::Cancel) => {
            ctx.send(ClientMsg::UploadCancel { upload_id });
            Sent::Ended(Err(Cancelled))
        }
        Err(Inbound::Failed { kind, text }) => {
            let reason = server_says(kind, &text);
            Sent::Ended(Ok(TransferEvent::Failed { id: ctx.id, reason }))
        }
        Err(_) => Sent::Reconnect,
    }
}
