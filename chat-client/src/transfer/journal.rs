//! Transfers remembered across restarts of the client, so that quitting (or a crash) in
//! the middle of a large file costs nothing but the time it was away.
//!
//! One small JSON file, `transfers.json`, in the directory the program names (the
//! terminal client's state directory), readable by its owner only (0600), replaced whole
//! at every change ([`crate::replace::replace_file`]), so that a crash leaves the old or
//! the new version and never half of one. Two clients of one account share it: each
//! read-change-write holds an advisory lock (`flock`) on `transfers.lock` beside it, so
//! that neither loses the other's change. It holds, for each server (as the address it was
//! reached at):
//!
//! - an interrupted **download**: the file's id, size and SHA-256, and the `.part` file
//!   it is written to. `/get` of that file again goes on from the part's length, once the
//!   server's file is seen to be the same one (same size and SHA-256); the whole file's
//!   SHA-256 is checked at the end as always.
//! - an interrupted **upload**: the local file's path, size and modification time, and
//!   the token the server gave. `/send-file` of that path again resumes with the token
//!   (and learns that the file is stored already, if the connection dropped after the
//!   finish); a file whose size or modification time changed starts from zero.
//!
//! At most [`MAX_ENTRIES`] of each are kept, the oldest forgotten first, and a file larger
//! than [`MAX_JOURNAL_BYTES`] or unreadable is taken as empty: the journal can make a
//! transfer resume, never stop one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::warn;

/// The journal's file name in its directory.
pub const JOURNAL_FILE: &str = "transfers.json";
/// The file locked beside it for each read-change-write (the journal itself is replaced
/// at each change, so a lock on it would be on the old file).
pub const LOCK_FILE: &str = "transfers.lock";
/// Most downloads, and most uploads, remembered.
pub const MAX_ENTRIES: usize = 64;
/// Largest journal read; a larger one is ignored (128 entries of long paths fit easily).
pub const MAX_JOURNAL_BYTES: u64 = 1 << 20;

/// The journal of one client towards one server.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    lock_path: PathBuf,
    /// The server's address, as the client reached it.
    server: String,
    /// Held for a read-change-write of the file, so that two transfers of this process do
    /// not lose each other's change (the lock file does the same between processes).
    lock: Mutex<()>,
}

/// A read-change-write under way: the process's lock, and the lock file's, if it could be
/// taken.
struct Held<'a> {
    _here: MutexGuard<'a, ()>,
    _file: Option<File>,
}

/// The file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    #[serde(default)]
    downloads: Vec<PartEntry>,
    #[serde(default)]
    uploads: Vec<UploadEntry>,
}

/// An interrupted download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartEntry {
    pub(crate) server: String,
    pub(crate) file_id: u64,
    /// The server's file: its name, size and SHA-256 (lowercase hexadecimal).
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    /// The `.part` file the download is written to.
    pub(crate) part: PathBuf,
    /// When this entry was written, milliseconds since the Unix epoch.
    pub(crate) saved_ms: u64,
}

/// An interrupted upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadEntry {
    pub(crate) server: String,
    /// The local file, as an absolute path.
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    /// Its modification time, nanoseconds since the Unix epoch.
    pub(crate) mtime_ns: u64,
    /// The server's proof of ownership (lowercase hexadecimal).
    pub(crate) token: String,
    pub(crate) saved_ms: u64,
}

/// What a local file looks like: a changed size or modification time means a changed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) size: u64,
    pub(crate) mtime_ns: u64,
}

impl Stamp {
    pub(crate) fn of(meta: &fs::Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self {
            size: meta.len(),
            mtime_ns,
        }
    }
}

/// What a journal says about a local file that was being uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Remembered {
    /// Nothing: a new upload.
    Nothing,
    /// Interrupted with this token, and the file is unchanged.
    Token(Vec<u8>),
    /// Interrupted, but the file changed since: it is sent again from zero.
    Changed,
}

/// The transfers a journal holds for one server, for a program to show at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interrupted {
    /// File id, name (as the server gave it, not sanitised), bytes already across, size.
    pub downloads: Vec<(u64, String, u64, u64)>,
    /// Local path and size.
    pub uploads: Vec<(PathBuf, u64)>,
}

/// The transfers that the journal in `dir` holds for `server`: downloads whose `.part`
/// file is still there, uploads whose file is unchanged. Blocking; nothing is changed.
pub fn interrupted(dir: &Path, server: &str) -> Interrupted {
    let saved = read(&dir.join(JOURNAL_FILE));
    let downloads = saved
        .downloads
        .into_iter()
        .filter(|d| d.server == server)
        .filter_map(|d| {
            let have = fs::metadata(&d.part).ok()?.len();
            (have <= d.size).then_some((d.file_id, d.name, have, d.size))
        })
        .collect();
    let uploads = saved
        .uploads
        .into_iter()
        .filter(|u| u.server == server)
        .filter(|u| {
            fs::metadata(&u.path).is_ok_and(|m| {
                Stamp::of(&m)
                    == Stamp {
                        size: u.size,
                        mtime_ns: u.mtime_ns,
                    }
            })
        })
        .map(|u| (u.path, u.size))
        .collect();
    Interrupted { downloads, uploads }
}

impl Journal {
    /// The journal in `dir` for `server`; the file is made at the first change.
    pub(crate) fn new(dir: &Path, server: &str) -> Self {
        Self {
            path: dir.join(JOURNAL_FILE),
            lock_path: dir.join(LOCK_FILE),
            server: server.to_owned(),
            lock: Mutex::new(()),
        }
    }

    /// The interrupted download of file `file_id`, if there is one.
    pub(crate) fn part(&self, file_id: u64) -> Option<PartEntry> {
        let _held = self.lock();
        read(&self.path)
            .downloads
            .into_iter()
            .find(|d| d.server == self.server && d.file_id == file_id)
    }

    /// Remembers the download of file `file_id` (named `name`, of `size` bytes with
    /// `sha256`) into `part`.
    pub(crate) fn remember_part(
        &self,
        file_id: u64,
        (name, size, sha256): (&str, u64, &[u8]),
        part: &Path,
    ) {
        let entry = PartEntry {
            server: self.server.clone(),
            file_id,
            name: name.to_owned(),
            size,
            sha256: hex::encode(sha256),
            part: part.to_owned(),
            saved_ms: now_ms(),
        };
        self.change(|saved| {
            saved
                .downloads
                .retain(|d| !(d.server == entry.server && d.file_id == file_id));
            saved.downloads.push(entry);
        });
    }

    /// Forgets the download of file `file_id`.
    pub(crate) fn forget_part(&self, file_id: u64) {
        self.change(|saved| {
            saved
                .downloads
                .retain(|d| !(d.server == self.server && d.file_id == file_id));
        });
    }

    /// What is remembered of an upload of the file at `path` (absolute), which looks like
    /// `stamp` now. A changed file's entry is forgotten.
    pub(crate) fn upload(&self, path: &Path, stamp: Stamp) -> Remembered {
        let found = {
            let _held = self.lock();
            read(&self.path)
                .uploads
                .into_iter()
                .find(|u| u.server == self.server && u.path == path)
        };
        let Some(entry) = found else {
            return Remembered::Nothing;
        };
        let same = Stamp {
            size: entry.size,
            mtime_ns: entry.mtime_ns,
        } == stamp;
        match hex::decode(&entry.token).ok() {
            Some(token) if same => Remembered::Token(token),
            _ => {
                self.forget_upload(path);
                Remembered::Changed
            }
        }
    }

    /// Remembers the upload of the file at `path` (absolute, looking like `stamp`) with
    /// `token`.
    pub(crate) fn remember_upload(&self, path: &Path, stamp: Stamp, token: &[u8]) {
        let entry = UploadEntry {
            server: self.server.clone(),
            path: path.to_owned(),
            size: stamp.size,
            mtime_ns: stamp.mtime_ns,
            token: hex::encode(token),
            saved_ms: now_ms(),
        };
        self.change(|saved| {
            saved
                .uploads
                .retain(|u| !(u.server == entry.server && u.path == entry.path));
            saved.uploads.push(entry);
        });
    }

    /// Forgets the upload of the file at `path`.
    pub(crate) fn forget_upload(&self, path: &Path) {
        self.change(|saved| {
            saved
                .uploads
                .retain(|u| !(u.server == self.server && u.path == path));
        });
    }

    /// Takes the journal for a read-change-write: from the other transfers of this
    /// process, then from other processes (a blocking `flock`, held for as long as one
    /// read and one write take). Without the lock file (a read-only directory) it goes on:
    /// the journal can make a transfer resume, never stop one.
    fn lock(&self) -> Held<'_> {
        use fs4::fs_std::FileExt as _;
        let here = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let file = (|| {
            if let Some(dir) = self.lock_path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut options = OpenOptions::new();
            options.read(true).write(true).create(true).truncate(false);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&self.lock_path)?;
            file.lock_exclusive()?;
            Ok::<_, io::Error>(file)
        })();
        let file = file
            .inspect_err(|e| {
                warn!(path = %self.lock_path.display(), error = %e, "cannot lock the transfer journal");
            })
            .ok();
        Held {
            _here: here,
            _file: file,
        }
    }

    /// Reads the file, changes it with `f`, keeps it within its bounds and writes it
    /// back. A failure is logged: the transfer goes on, it only will not resume.
    fn change(&self, f: impl FnOnce(&mut Saved)) {
        let _held = self.lock();
        let mut saved = read(&self.path);
        f(&mut saved);
        keep_newest(&mut saved.downloads);
        keep_newest(&mut saved.uploads);
        if let Err(e) = write(&self.path, &saved) {
            warn!(path = %self.path.display(), error = %e, "cannot write the transfer journal");
        }
    }
}

/// Drops the oldest entries beyond [`MAX_ENTRIES`]: the first ones, as a change always
/// appends.
fn keep_newest<T>(entries: &mut Vec<T>) {
    let extra = entries.len().saturating_sub(MAX_ENTRIES);
    entries.drain(..extra);
}

/// The journal at `path`; empty when it is missing, too large or unreadable.
fn read(path: &Path) -> Saved {
    let read = || -> io::Result<Saved> {
        let file = fs::File::open(path)?;
        let mut text = Vec::new();
        file.take(MAX_JOURNAL_BYTES + 1).read_to_end(&mut text)?;
        if text.len() as u64 > MAX_JOURNAL_BYTES {
            return Err(io::Error::other("larger than 1 MiB"));
        }
        serde_json::from_slice(&text).map_err(io::Error::other)
    };
    match read() {
        Ok(saved) => saved,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Saved::default(),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "ignoring an unreadable transfer journal");
            Saved::default()
        }
    }
}

/// Replaces the journal at `path` with `saved` (owner only).
fn write(path: &Path, saved: &Saved) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(saved).map_err(io::Error::other)?;
    crate::replace::replace_file(path, &json, 0o600)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_and_uploads_are_remembered_per_server_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path(), "127.0.0.1:7878");
        let other = Journal::new(dir.path(), "10.0.0.2:7878");
        assert_eq!(journal.part(7), None);
        let part = dir.path().join("big.iso.part");
        fs::write(&part, b"abc").unwrap();
        journal.remember_part(7, ("big.iso", 10, &[0xab; 32]), &part);
        let found = journal.part(7).unwrap();
        assert_eq!((found.size, found.part.as_path()), (10, part.as_path()));
        assert_eq!(found.sha256, "ab".repeat(32));
        assert_eq!(
            other.part(7),
            None,
            "another server's file 7 is another file"
        );

        let source = dir.path().join("notes.txt");
        fs::write(&source, b"hello").unwrap();
        let stamp = Stamp::of(&fs::metadata(&source).unwrap());
        assert_eq!(journal.upload(&source, stamp), Remembered::Nothing);
        journal.remember_upload(&source, stamp, &[1, 2, 3]);
        assert_eq!(
            journal.upload(&source, stamp),
            Remembered::Token(vec![1, 2, 3])
        );
        assert_eq!(
            interrupted(dir.path(), "127.0.0.1:7878"),
            Interrupted {
                downloads: vec![(7, "big.iso".into(), 3, 10)],
                uploads: vec![(source.clone(), 5)],
            }
        );
        assert_eq!(
            interrupted(dir.path(), "10.0.0.2:7878"),
            Interrupted::default()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(JOURNAL_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A changed file is not resumed, and is forgotten.
        let changed = Stamp { size: 6, ..stamp };
        assert_eq!(journal.upload(&source, changed), Remembered::Changed);
        assert_eq!(journal.upload(&source, stamp), Remembered::Nothing);
        journal.forget_part(7);
        assert_eq!(journal.part(7), None);
    }

    /// Two clients of one account share the journal: each change is a read-change-write
    /// of the whole file, and none is lost when they change it at once (two journals here
    /// have two locks of their own, as two processes do; only the lock file is shared).
    #[test]
    fn two_clients_changing_the_journal_at_once_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let per_client = MAX_ENTRIES as u64 / 2;
        std::thread::scope(|scope| {
            for client in 0..2 {
                let dir = dir.path();
                scope.spawn(move || {
                    let journal = Journal::new(dir, "s");
                    for n in 0..per_client {
                        let id = client * 1000 + n;
                        journal.remember_part(id, ("f", 1, &[0; 32]), Path::new("/x.part"));
                    }
                });
            }
        });
        let saved = read(&dir.path().join(JOURNAL_FILE));
        assert_eq!(saved.downloads.len(), MAX_ENTRIES, "changes lost");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [JOURNAL_FILE, LOCK_FILE], "no temporary file left");
    }

    #[test]
    fn the_journal_is_bounded_and_a_bad_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path(), "s");
        for id in 0..(MAX_ENTRIES as u64 + 5) {
            journal.remember_part(id, ("f", 1, &[0; 32]), Path::new("/nowhere.part"));
        }
        let saved = read(&dir.path().join(JOURNAL_FILE));
        assert_eq!(saved.downloads.len(), MAX_ENTRIES);
        assert_eq!(journal.part(4), None, "the oldest went first");
        assert!(journal.part(5).is_some());
        fs::write(dir.path().join(JOURNAL_FILE), b"{ not json").unwrap();
        assert_eq!(journal.part(70), None);
        // Written again whole at the next change.
        journal.remember_part(70, ("f", 1, &[0; 32]), Path::new("/nowhere.part"));
        assert!(journal.part(70).is_some());
    }
}
