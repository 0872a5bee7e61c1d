//! File transfer through the protocol, for the tests: files of seeded pseudo-random bytes,
//! and upload and download drivers on a [`TestClient`] that hash as they go and never hold
//! a whole file in memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::bail;
use sha2::{Digest, Sha256};
use shared::limits::MAX_CHUNK_BYTES;
use shared::{ClientMsg, ErrorKind, FileInfo, ServerMsg};

use crate::client::TestClient;

/// A small, fast pseudo-random generator (SplitMix64): test data that is the same for a
/// seed, cheap enough to make hundreds of megabytes in a debug build.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Writes `size` seeded random bytes to `dir/name`; returns the path and the SHA-256.
pub fn random_file(
    dir: &Path,
    name: &str,
    size: u64,
    seed: u64,
) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let path = dir.join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut rng = SplitMix64::new(seed);
    let mut hasher = Sha256::new();
    let mut block = vec![0; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = usize::try_from(left).map_or(block.len(), |l| l.min(block.len()));
        rng.fill(&mut block[..n]);
        hasher.update(&block[..n]);
        out.write_all(&block[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok((path, hasher.finalize().to_vec()))
}

/// SHA-256 of a file, read in blocks.
pub fn sha256_of(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut block)?;
        if n == 0 {
            return Ok(hasher.finalize().to_vec());
        }
        hasher.update(&block[..n]);
    }
}

/// An upload the server accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub upload_id: u64,
    pub token: Vec<u8>,
    pub offset: u64,
}

/// Sends `UploadStart` and returns the answer: accepted, or refused with a kind and text.
pub async fn start_upload(
    client: &mut TestClient,
    name: &str,
    size: u64,
) -> anyhow::Result<Result<Accepted, (ErrorKind, String)>> {
    client
        .send(ClientMsg::UploadStart {
            name: name.into(),
            size,
        })
        .await?;
    ready_or_error(client).await
}

/// Sends `UploadResume` and returns the answer.
pub async fn resume_upload(
    client: &mut TestClient,
    token: &[u8],
) -> anyhow::Result<Result<Accepted, (ErrorKind, String)>> {
    client
        .send(ClientMsg::UploadResume {
            token: token.to_vec(),
        })
        .await?;
    ready_or_error(client).await
}

async fn ready_or_error(
    client: &mut TestClient,
) -> anyhow::Result<Result<Accepted, (ErrorKind, String)>> {
    let answer = client
        .recv_until(|m| matches!(m, ServerMsg::UploadReady { .. } | ServerMsg::Error { .. }))
        .await?;
    Ok(match answer {
        ServerMsg::UploadReady {
            upload_id,
            token,
            offset,
        } => Ok(Accepted {
            upload_id,
            token,
            offset,
        }),
        ServerMsg::Error { kind, text } => Err((kind, text)),
        _ => unreachable!("recv_until returned an answer"),
    })
}

/// Sends the bytes of `path` from `from` up to `to` as chunks of `upload_id`. `tamper`
/// may change a chunk (given its offset) before it is sent.
pub async fn send_chunks(
    client: &mut TestClient,
    upload_id: u64,
    path: &Path,
    from: u64,
    to: u64,
    mut tamper: impl FnMut(u64, &mut Vec<u8>),
) -> anyhow::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut offset = from;
    while offset < to {
        let n = usize::try_from(to - offset).map_or(MAX_CHUNK_BYTES, |l| l.min(MAX_CHUNK_BYTES));
        let mut data = vec![0; n];
        file.read_exact(&mut data)?;
        tamper(offset, &mut data);
        client
            .send(ClientMsg::UploadChunk {
                upload_id,
                offset,
                data,
            })
            .await?;
        offset += n as u64;
    }
    Ok(())
}

/// Sends `UploadFinish` and waits for `UploadDone` (the stored file's id) or
/// `UploadFailed` (its kind).
pub async fn finish_upload(
    client: &mut TestClient,
    upload_id: u64,
    sha256: &[u8],
) -> anyhow::Result<Result<u64, ErrorKind>> {
    client
        .send(ClientMsg::UploadFinish {
            upload_id,
            sha256: sha256.to_vec(),
        })
        .await?;
    let answer = client
        .recv_until(|m| match m {
            ServerMsg::UploadDone { upload_id: id, .. }
            | ServerMsg::UploadFailed { upload_id: id, .. } => *id == upload_id,
            _ => false,
        })
        .await?;
    Ok(match answer {
        ServerMsg::UploadDone { file_id, .. } => Ok(file_id),
        ServerMsg::UploadFailed { kind, .. } => Err(kind),
        _ => unreachable!("recv_until returned an answer"),
    })
}

/// Uploads the whole file at `path` under `name`; returns the stored file's id.
pub async fn upload(client: &mut TestClient, path: &Path, name: &str) -> anyhow::Result<u64> {
    let size = std::fs::metadata(path)?.len();
    let accepted = match start_upload(client, name, size).await? {
        Ok(accepted) => accepted,
        Err((kind, text)) => bail!("upload refused: {kind:?}: {text}"),
    };
    send_chunks(client, accepted.upload_id, path, 0, size, |_, _| {}).await?;
    let sha = sha256_of(path)?;
    match finish_upload(client, accepted.upload_id, &sha).await? {
        Ok(file_id) => Ok(file_id),
        Err(kind) => bail!("upload failed: {kind:?}"),
    }
}

/// Downloads file `file_id` from `offset` and appends it to `dest`; returns the file's
/// description and the bytes received. Checks that chunks arrive in order.
pub async fn download(
    client: &mut TestClient,
    file_id: u64,
    offset: u64,
    dest: &mut std::fs::File,
) -> anyhow::Result<(FileInfo, u64)> {
    client.send(ClientMsg::Download { file_id, offset }).await?;
    let start = client
        .recv_until(|m| {
            matches!(m, ServerMsg::DownloadStart { file, .. } if file.id == file_id)
                || matches!(m, ServerMsg::DownloadFailed { file_id: id, .. } if *id == file_id)
        })
        .await?;
    let (file, start) = match start {
        ServerMsg::DownloadStart { file, offset } => (file, offset),
        other => bail!("download refused: {other:?}"),
    };
    if start != offset {
        bail!("download starts at {start}, asked for {offset}");
    }
    let mut next = offset;
    loop {
        match client
            .recv_until(|m| match m {
                ServerMsg::DownloadChunk { file_id: id, .. }
                | ServerMsg::DownloadEnd { file_id: id }
                | ServerMsg::DownloadFailed { file_id: id, .. } => *id == file_id,
                _ => false,
            })
            .await?
        {
            ServerMsg::DownloadChunk { offset, data, .. } => {
                if offset != next {
                    bail!("chunk at {offset}, expected {next}");
                }
                dest.write_all(&data)?;
                next += data.len() as u64;
            }
            ServerMsg::DownloadEnd { .. } => return Ok((file, next - start)),
            other => bail!("download failed: {other:?}"),
        }
    }
}

/// Asks for the files of the client's room.
pub async fn list_files(client: &mut TestClient) -> anyhow::Result<Vec<FileInfo>> {
    client.send(ClientMsg::ListFiles).await?;
    match client
        .recv_until(|m| matches!(m, ServerMsg::Files { .. }))
        .await?
    {
        ServerMsg::Files { files, .. } => Ok(files),
        _ => unreachable!("recv_until returned a Files frame"),
    }
}

/// Every regular file under the data directory `dir`, relative to it, but the server's
/// own: the history's database (`history.sqlite3` and its log files), which a server keeps
/// there unless its history is off, and the directory's `lock`.
pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = files_under(dir);
    found.retain(|path| !is_server_own(path));
    found
}

/// Whether `path`, relative to a data directory, is the server's own: the history's
/// database or one of its log files, or the directory's lock.
fn is_server_own(path: &Path) -> bool {
    path.to_str().is_some_and(|p| {
        [
            "lock",
            "history.sqlite3",
            "history.sqlite3-wal",
            "history.sqlite3-shm",
        ]
        .contains(&p)
    })
}

/// Every regular file under `dir`, recursively, relative to it.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                found.push(relative.to_path_buf());
            }
        }
    }
    found.sort();
    found
}
