//! One download: chunks written to a `.part` file and hashed, verified at the end, then
//! moved to a name that overwrites nothing; resumed from the `.part` file's length after
//! a reconnect, and after a restart of the client when a journal remembers the part.
//!
//! A download holds an advisory lock (`flock`) on its `.part` while it writes it: two
//! clients of one account share the journal, and the second to `/get` the same file
//! fails rather than writing into the first one's part.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use shared::{ClientMsg, FileInfo};

use super::journal::{Journal, PartEntry};
use super::progress::bytes;
use super::{
    Cancelled, Ctx, Inbound, Throttle, TransferEvent, blocking, hash_prefix, local, server_says,
};

/// Chunks written in one trip to the blocking pool, at most: what the inbox holds.
const WRITE_BATCH: usize = super::INBOX;

/// Runs the download of file `file_id` into `dir` to its end, and tells the app how it
/// ended. Whatever way it ends short of success, the `.part` file is deleted, unless the
/// client is closing and a journal remembers it for the next run.
pub(super) async fn run(mut ctx: Ctx, file_id: u64, dir: PathBuf) {
    let id = ctx.id;
    let mut part = None;
    let end = match download(&mut ctx, file_id, &dir, &mut part).await {
        Ok(event) => event,
        Err(Cancelled) => {
            ctx.send(ClientMsg::DownloadCancel { file_id });
            TransferEvent::Cancelled { id }
        }
    };
    let kept = ctx.closing && ctx.journal.is_some();
    // Only a download that had the part forgets it: one that found it locked by another
    // client leaves that client's entry alone.
    let owned = part.is_some() || matches!(end, TransferEvent::Saved { .. });
    if !kept {
        let journal = ctx.journal().filter(|_| owned);
        let part = part.filter(|_| !matches!(end, TransferEvent::Saved { .. }));
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(part) = part {
                part.discard();
            }
            if let Some(journal) = journal {
                journal.forget_part(file_id);
            }
        })
        .await;
    }
    ctx.emit(end).await;
}

/// The file being written.
struct Part {
    info: FileInfo,
    /// Cleaned local name (what the final file is called, before numbering).
    name: String,
    dir: PathBuf,
    path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    /// Bytes written so far.
    len: u64,
}

impl Part {
    /// Creates `NAME.part` in `dir` (numbered when taken, never overwritten), once it is
    /// sure that the whole file fits there; the journal, if any, remembers it.
    fn create(info: FileInfo, dir: &Path, journal: Option<&Journal>) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        check_space(dir, info.size)?;
        let name = local::file_name(&info.name);
        let mut file = None;
        let path = local::place_unique(dir, &local::part_name(&name), |p| {
            file = Some(
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(p)?,
            );
            Ok(())
        })?;
        if let Some(file) = &file {
            lock(file, &path)?;
        }
        if let Some(journal) = journal {
            journal.remember_part(info.id, (&info.name, info.size, &info.sha256), &path);
        }
        Ok(Self {
            info,
            name,
            dir: dir.to_path_buf(),
            path,
            file,
            hasher: Sha256::new(),
            len: 0,
        })
    }

    /// The part a journal remembers, opened again after a restart of the client: `None`
    /// when it is gone or longer than its file. Its length and hash are read by
    /// [`Part::reread`], as after a reconnect.
    fn reopen(entry: PartEntry) -> io::Result<Option<Self>> {
        let file = match OpenOptions::new().read(true).write(true).open(&entry.part) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        lock(&file, &entry.part)?;
        let have = file.metadata()?.len();
        let Some(sha256) = hex::decode(&entry.sha256)
            .ok()
            .filter(|_| have <= entry.size)
        else {
            return Ok(None);
        };
        let dir = match entry.part.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        check_space(&dir, entry.size - have)?;
        let info = FileInfo {
            id: entry.file_id,
            name: entry.name,
            size: entry.size,
            sha256,
            from: String::new(),
            time_ms: 0,
            room: String::new(),
        };
        Ok(Some(Self {
            name: local::file_name(&info.name),
            info,
            dir,
            path: entry.part,
            file: Some(file),
            hasher: Sha256::new(),
            len: have,
        }))
    }

    /// After a break: the length of what is on disk, and its hash, read back.
    async fn reread(&mut self) -> io::Result<u64> {
        let len = blocking(&mut self.file, &mut self.hasher, |file, hasher| {
            file.flush()?;
            let len = file.metadata()?.len();
            *hasher = hash_prefix(file, len)?;
            file.seek(SeekFrom::Start(len))?;
            Ok(len)
        })
        .await?;
        self.len = len;
        Ok(len)
    }

    /// Writes and hashes `chunks`, in one trip to the blocking pool.
    async fn write(&mut self, chunks: Vec<Vec<u8>>) -> io::Result<()> {
        let n: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        blocking(&mut self.file, &mut self.hasher, move |file, hasher| {
            for data in &chunks {
                file.write_all(data)?;
                hasher.update(data);
            }
            Ok(())
        })
        .await?;
        self.len += n;
        Ok(())
    }

    /// Flushes to disk and gives the file its final name, one that did not exist.
    fn finish(mut self) -> io::Result<PathBuf> {
        // Held, and so locked, until the part has its final name.
        let held = self.file.take();
        if let Some(file) = &held {
            file.sync_all()?;
        }
        // A hard link fails when the name exists, so nothing is ever overwritten, even by
        // a file that appears meanwhile; file systems without links get a checked rename.
        let linked =
            local::place_unique(&self.dir, &self.name, |p| std::fs::hard_link(&self.path, p));
        let path = match linked {
            Ok(path) => {
                std::fs::remove_file(&self.path)?;
                path
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
            Err(_) => local::place_unique(&self.dir, &self.name, |p| {
                if p.exists() {
                    return Err(io::ErrorKind::AlreadyExists.into());
                }
                std::fs::rename(&self.path, p)
            })?,
        };
        drop(held);
        Ok(path)
    }

    fn discard(mut self) {
        drop(self.file.take());
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Takes the advisory lock of the part at `path`, opened as `file`, for as long as it is
/// open; fails if another download (of another client of this account) holds it.
fn lock(file: &File, path: &Path) -> io::Result<()> {
    use fs4::fs_std::FileExt as _;
    if file.try_lock_exclusive()? {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::ResourceBusy,
        format!(
            "{} is being downloaded by another chat-tui; wait for it to end",
            path.display()
        ),
    ))
}

/// Fails with [`io::ErrorKind::StorageFull`] if `dir`'s file system has less than `size`
/// bytes free: a download that cannot fit is refused before its first byte, not after
/// filling the disk. (Space can still run out meanwhile; then the write fails.)
fn check_space(dir: &Path, size: u64) -> io::Result<()> {
    let free = fs4::available_space(dir)?;
    if free < size {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("the file needs {}, {} free", bytes(size), bytes(free)),
        ));
    }
    Ok(())
}

async fn download(
    ctx: &mut Ctx,
    file_id: u64,
    dir: &Path,
    part: &mut Option<Part>,
) -> Result<TransferEvent, Cancelled> {
    let id = ctx.id;
    let failed = |reason: String| Ok(TransferEvent::Failed { id, reason });
    // A part left by an earlier run of the client: the bar is announced when the server
    // confirms that it is the same file.
    let mut announced = true;
    if let Some(journal) = ctx.journal() {
        let reopened = tokio::task::spawn_blocking(move || match journal.part(file_id) {
            Some(entry) => Part::reopen(entry),
            None => Ok(None),
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)));
        match reopened {
            Ok(found) => {
                announced = found.is_none();
                *part = found;
            }
            Err(e) => return failed(format!("cannot resume the partial download: {e}")),
        }
    }
    'session: loop {
        ctx.connected().await?;
        let offset = match part {
            Some(part) => match part.reread().await {
                Ok(len) => len,
                Err(e) => return failed(format!("cannot read back {}: {e}", part.path.display())),
            },
            None => 0,
        };
        if !ctx.send(ClientMsg::Download { file_id, offset }) {
            // There is a connection, so it is the session that is gone: nothing will
            // answer, and going round again would only ask it again, without end.
            return Err(Cancelled);
        }
        loop {
            match ctx.next().await {
                Inbound::Start { file, offset: from } => {
                    if from != offset {
                        return failed(format!("the server sends from byte {from}, not {offset}"));
                    }
                    match part {
                        Some(p) if !same_file(&p.info, &file) => {
                            ctx.send(ClientMsg::DownloadCancel { file_id });
                            return failed(format!(
                                "the partial download of file {file_id} ({}) is of another \
                                 file than the server's now; it was deleted, /get {file_id} \
                                 starts again",
                                p.path.display()
                            ));
                        }
                        Some(_) => {
                            if !announced {
                                announced = true;
                                let (name, size) = (file.name, file.size);
                                ctx.emit(TransferEvent::Started { id, name, size }).await;
                            }
                            ctx.emit(TransferEvent::Resumed { id, offset }).await;
                        }
                        None => {
                            let created = {
                                let (file, dir) = (file.clone(), dir.to_path_buf());
                                let journal = ctx.journal();
                                tokio::task::spawn_blocking(move || {
                                    Part::create(file, &dir, journal.as_deref())
                                })
                                .await
                                .unwrap_or_else(|e| Err(io::Error::other(e)))
                            };
                            match created {
                                Ok(created) => *part = Some(created),
                                Err(e) => {
                                    ctx.send(ClientMsg::DownloadCancel { file_id });
                                    let what = match e.kind() {
                                        io::ErrorKind::StorageFull => "not enough space in",
                                        _ => "cannot create a file in",
                                    };
                                    return failed(format!("{what} {}: {e}", dir.display()));
                                }
                            }
                            let (name, size) = (file.name, file.size);
                            ctx.emit(TransferEvent::Started { id, name, size }).await;
                        }
                    }
                    break;
                }
                Inbound::Failed { kind, text } | Inbound::Refused { kind, text } => {
                    return failed(server_says(kind, &text));
                }
                Inbound::Disconnected => continue 'session,
                Inbound::Cancel => return Err(Cancelled),
                _ => {}
            }
        }
        let Some(p) = part.as_mut() else { continue };
        let size = p.info.size;
        let mut throttle = Throttle::default();
        // A message taken from the inbox while chunks were gathered, next in line.
        let mut pending = None;
        loop {
            let inbound = match pending.take() {
                Some(inbound) => inbound,
                None => ctx.next().await,
            };
            match inbound {
                Inbound::Chunk { offset, data } => {
                    // The chunks already waiting in the inbox go to the disk with this
                    // one, in one trip to the blocking pool: each trip is two thread
                    // wake-ups.
                    let mut batch = Vec::with_capacity(WRITE_BATCH);
                    let mut next = Some((offset, data));
                    let mut at = p.len;
                    while let Some((offset, data)) = next.take() {
                        if let Some(problem) = chunk_problem(offset, data.len(), at, size) {
                            ctx.send(ClientMsg::DownloadCancel { file_id });
                            return failed(problem);
                        }
                        at += data.len() as u64;
                        batch.push(data);
                        if batch.len() < WRITE_BATCH {
                            match ctx.try_next() {
                                Some(Inbound::Chunk { offset, data }) => {
                                    next = Some((offset, data))
                                }
                                other => pending = other,
                            }
                        }
                    }
                    if let Err(e) = p.write(batch).await {
                        ctx.send(ClientMsg::DownloadCancel { file_id });
                        return failed(format!("cannot write {}: {e}", p.path.display()));
                    }
                    if throttle.due() {
                        ctx.emit(TransferEvent::Progress { id, done: p.len }).await;
                    }
                }
                Inbound::End => break,
                Inbound::Failed { kind, text } => return failed(server_says(kind, &text)),
                Inbound::Disconnected => continue 'session,
                Inbound::Cancel => return Err(Cancelled),
                _ => {}
            }
        }
        ctx.emit(TransferEvent::Progress { id, done: p.len }).await;
        let digest = p.hasher.clone().finalize();
        if p.len != size || digest.as_slice() != p.info.sha256.as_slice() {
            let what = if p.len == size {
                "checksum mismatch: the data received does not have the SHA-256 the server announced"
                    .to_owned()
            } else {
                format!("the download ended after {} of {size} bytes", p.len)
            };
            return failed(format!("{what}; the partial file was deleted"));
        }
        let Some(done) = part.take() else { continue };
        let part_path = done.path.clone();
        let finished = tokio::task::spawn_blocking(move || done.finish())
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        return match finished {
            Ok(path) => Ok(TransferEvent::Saved { id, path }),
            Err(e) => {
                let _ = std::fs::remove_file(&part_path);
                failed(format!("cannot save the download: {e}"))
            }
        };
    }
}

/// Whether a part remembered for a file id is of `file`, the file the server has under
/// that id now: same size and SHA-256 (its name may be cleaned otherwise).
fn same_file(remembered: &FileInfo, file: &FileInfo) -> bool {
    remembered.size == file.size && remembered.sha256 == file.sha256
}

/// What is wrong with a chunk of `len` bytes at `offset`, when `have` bytes of a file of
/// `size` are written: an offset problem and a size problem are told apart.
fn chunk_problem(offset: u64, len: usize, have: u64, size: u64) -> Option<String> {
    if offset != have {
        Some(format!(
            "the server sent bytes at offset {offset} where {have} was expected"
        ))
    } else if have + len as u64 > size {
        Some(format!(
            "the server sent {} bytes past the file's size of {size}",
            have + len as u64 - size
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two clients of one account, after a restart: the second to open the part the
    /// journal remembers fails, and says why, while the first writes it; once the first
    /// is done, it may.
    #[test]
    fn a_part_being_written_is_not_reopened_by_another_client() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path(), "127.0.0.1:7878");
        let path = dir.path().join("big.iso.part");
        std::fs::write(&path, b"abc").unwrap();
        journal.remember_part(4, ("big.iso", 10, &[7; 32]), &path);
        let entry = journal.part(4).unwrap();
        let first = Part::reopen(entry.clone()).unwrap().unwrap();
        let Err(e) = Part::reopen(entry.clone()) else {
            panic!("reopened a part another download holds");
        };
        assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
        assert!(
            e.to_string()
                .contains("is being downloaded by another chat-tui"),
            "{e}"
        );
        drop(first);
        assert!(Part::reopen(entry).unwrap().is_some());
    }

    #[test]
    fn a_chunk_past_the_size_is_told_as_a_size_problem() {
        assert_eq!(chunk_problem(0, 10, 0, 10), None);
        assert_eq!(
            chunk_problem(0, 12, 0, 10).as_deref(),
            Some("the server sent 2 bytes past the file's size of 10")
        );
        assert_eq!(
            chunk_problem(4, 2, 0, 10).as_deref(),
            Some("the server sent bytes at offset 4 where 0 was expected")
        );
    }
}
