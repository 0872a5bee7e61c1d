//! Sending a stored file to a client, one chunk at a time, behind its chat.
//!
//! Every download is a task that reads a chunk (on tokio's blocking pool, so a slow disk
//! holds up no runtime thread) and hands it to the connection's file lane
//! ([`crate::outbound::FileLane`]), waiting until the lane has room. The lane is short and
//! the writer drains it only when no chat frame is waiting, so chat is never stuck behind
//! file data, a download never fills the chat queue (a client busy downloading is not a
//! slow consumer), and no more than a few chunks of a file are in memory at a time.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use bytes::Bytes;
use shared::limits::MAX_CHUNK_BYTES;
use shared::{DownloadChunkHead, ErrorKind, FileInfo, ServerMsg, encode_head};
use tokio::task::{JoinHandle, spawn_blocking};
use tracing::{debug, warn};

use crate::files::fetched::Fetch;
use crate::outbound::{FileLane, encode, encode_answer};

/// The frame of the chunk `head`: its head, then its bytes read from `reader` straight
/// into the frame's buffer, not copied into a message first. The buffer is cleared with
/// a `memset` before the read, not allocated zeroed: jemalloc zeroes a large allocation by
/// giving its pages back to the kernel, and every chunk would then fault 16 pages in.
fn read_chunk(reader: &mut File, head: &DownloadChunkHead) -> io::Result<Bytes> {
    let mut frame = encode_head(head, head.len).map_err(io::Error::other)?;
    let start = frame.len();
    frame.resize(start + head.len, 0);
    // A stored file never changes; one shorter than its size was damaged on disk.
    reader.read_exact(&mut frame[start..])?;
    Ok(Bytes::from(frame))
}

/// Starts sending `file` from `offset` (at most its size) through `lane`; its
/// `DownloadStart` answers the request `reply` (its id, if it had one). Once the whole
/// file is sent, `fetch` counts the downloader.
pub(crate) fn start(
    file: FileInfo,
    path: PathBuf,
    offset: u64,
    reply: Option<u32>,
    lane: FileLane,
    fetch: Fetch,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let id = file.id;
        match send(file, path, offset, reply, &lane).await {
            Ok(()) => fetch.completed().await,
            Err(Ended::Gone) => debug!(file = id, "download stopped: the connection is closing"),
            Err(Ended::Failed(e)) => {
                warn!(file = id, error = %e, "cannot read a stored file");
                let failed = ServerMsg::DownloadFailed {
                    file_id: id,
                    kind: ErrorKind::Internal,
                    text: "the server could not read the file".into(),
                };
                let _ = lane.send(encode(&failed)).await;
            }
        }
    })
}

/// Why a download stopped early.
enum Ended {
    /// The connection is closing.
    Gone,
    Failed(io::Error),
}

async fn send(
    file: FileInfo,
    path: PathBuf,
    offset: u64,
    reply: Option<u32>,
    lane: &FileLane,
) -> Result<(), Ended> {
    let (id, size) = (file.id, file.size);
    let mut reader = spawn_blocking(move || {
        let mut reader = File::open(path)?;
        reader.seek(SeekFrom::Start(offset))?;
        Ok(reader)
    })
    .await
    .map_err(|e| Ended::Failed(io::Error::other(e)))?
    .map_err(Ended::Failed)?;
    let start = ServerMsg::DownloadStart { file, offset };
    let start = encode_answer(reply, &start);
    lane.send(start).await.map_err(|_| Ended::Gone)?;
    let mut sent = offset;
    while sent < size {
        let want = usize::try_from(size - sent).map_or(MAX_CHUNK_BYTES, |n| n.min(MAX_CHUNK_BYTES));
        let head = DownloadChunkHead {
            file_id: id,
            offset: sent,
            len: want,
        };
        let (back, frame) = spawn_blocking(move || {
            let frame = read_chunk(&mut reader, &head);
            (reader, frame)
        })
        .await
        .map_err(|e| Ended::Failed(io::Error::other(e)))?;
        reader = back;
        sent += want as u64;
        lane.send(frame.map_err(Ended::Failed)?)
            .await
            .map_err(|_| Ended::Gone)?;
    }
    let end = ServerMsg::DownloadEnd { file_id: id };
    lane.send(encode(&end)).await.map_err(|_| Ended::Gone)
}
