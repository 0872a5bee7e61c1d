//! The files on disk: where they live, what is known about them, and how much room is left.
//!
//! ```text
//! DATA_DIR/
//!   files/ID.data   contents of stored file ID (IDs are chosen by the server)
//!   files/ID.json   its metadata (a sidecar: name, size, SHA-256, sender, time, room)
//!   files/ID.fetchers  who fetched it (feature `fetched`): a digest per nick, appended
//!   tmp/ID.part     an upload in progress; never listed, deleted at start
//! ```
//!
//! A stored file is written as `tmp/ID.part`, flushed to disk, renamed to `files/ID.data`,
//! and only then described by its sidecar, itself written to a temporary name and renamed.
//! So at any crash point a sidecar means complete contents; [`FileStore::open`] deletes the
//! rest (every temporary file, data without a sidecar, a sidecar whose data is missing or
//! of the wrong size).
//!
//! Client names are metadata only: no path on disk is ever made from them.
//!
//! What is known in memory is the [`Index`]: the store keeps it behind one
//! `std::sync::Mutex`, held for its map updates only, never across an `.await` or a disk
//! operation.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::limits::{SHA256_BYTES, UPLOAD_TOKEN_BYTES};
use shared::units::bytes;
use shared::{ErrorKind, FetchCount, FileInfo};
use tracing::{info, warn};

use crate::common::Refusal;
use crate::files::fetchers::{self, Fetcher};
use crate::files::handle::{Handle, Token};
use crate::files::index::{Finished, Index};

/// Space the server leaves free on its disk beyond the files it accepts, so that a full
/// upload does not leave the machine (logs, the sidecars) without room, unless
/// [`FileStore::with_disk_reserve`] says otherwise (`Config::disk_reserve`).
const DISK_HEADROOM: u64 = 64 * 1024 * 1024;

/// Extension of stored contents.
const DATA_EXT: &str = "data";
/// Extension of metadata sidecars.
const META_EXT: &str = "json";

/// The stored files of every room, and the accounting of uploads in progress.
#[derive(Debug)]
pub(crate) struct FileStore {
    root: PathBuf,
    max_file_size: u64,
    /// Free space an upload must leave on the disk.
    disk_reserve: u64,
    index: Mutex<Index>,
    /// Held while a fetcher is counted and appended to its file's list, so that the list
    /// on disk holds what the index counts.
    fetch_writes: Mutex<()>,
}

/// An accepted upload: where its data goes and how to prove ownership of it.
#[derive(Debug)]
pub(crate) struct Reservation {
    pub(crate) upload_id: u64,
    pub(crate) token: Token,
    pub(crate) part_path: PathBuf,
}

/// A file's metadata as its sidecar holds it.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    id: u64,
    name: String,
    size: u64,
    /// Lowercase hexadecimal.
    sha256: String,
    from: String,
    time_ms: u64,
    room: String,
}

impl FileStore {
    /// Opens the store in `root`: deletes what interrupted uploads left, and loads the
    /// metadata of the stored files. A missing `root` is an empty store; the directories
    /// are created by [`FileStore::prepare`], or else by the first upload.
    pub(crate) fn open(root: &Path, max_file_size: u64, quota: u64) -> io::Result<Self> {
        let removed = remove_dir_contents(&root.join("tmp"))?;
        if removed > 0 {
            info!(removed, "deleted the partial uploads of an earlier run");
        }
        let (found, fetchers) = load(&root.join("files"))?;
        let mut index = Index::new(quota, found);
        for (id, keys) in fetchers {
            index.set_fetchers(id, keys);
        }
        let (files, used) = index.stored();
        if files > 0 {
            info!(files, bytes = used, "loaded stored files");
        }
        Ok(Self {
            root: root.to_owned(),
            max_file_size,
            disk_reserve: DISK_HEADROOM,
            index: Mutex::new(index),
            fetch_writes: Mutex::new(()),
        })
    }

    /// Creates `root` with its `tmp/` and `files/` if they are missing, and checks that a
    /// file can be written in `tmp/` and moved into `files/`, as every upload is; the probe
    /// is deleted again. A server calls this before it accepts anyone, so that a data
    /// directory it cannot use stops it at start rather than failing the first upload.
    /// The error names the path and the operation that failed.
    pub(crate) fn prepare(root: &Path) -> io::Result<()> {
        let (tmp, files) = (root.join("tmp"), root.join("files"));
        for dir in [&tmp, &files] {
            fs::create_dir_all(dir).map_err(|e| with_path(e, "cannot create", dir))?;
        }
        // Named for this process; `open` deletes whatever a crash leaves in either place.
        let name = format!("write-check-{}.part", std::process::id());
        let (probe, moved) = (tmp.join(&name), files.join(&name));
        write_synced(&probe, b"").map_err(|e| with_path(e, "cannot write", &probe))?;
        let result = fs::rename(&probe, &moved)
            .map_err(|e| with_path(e, "cannot move a file into", &files))
            .and_then(|()| {
                fs::remove_file(&moved).map_err(|e| with_path(e, "cannot delete", &moved))
            });
        if result.is_err() {
            let _ = fs::remove_file(&probe);
        }
        result
    }

    /// The same store, keeping `bytes` free on its disk instead of the default 64 MiB.
    pub(crate) fn with_disk_reserve(mut self, bytes: u64) -> Self {
        self.disk_reserve = bytes;
        self
    }

    /// Accepts an upload of `size` bytes, or says why not: too large, over the quota, or
    /// more than the disk holds, or over the share of the quota of the client's IP
    /// `address`. Creates the directories if needed. `handle` reaches the upload once its
    /// token is presented again. Blocking (it asks the file system for its
    /// free space); call it off the runtime's threads.
    pub(crate) fn reserve(
        &self,
        size: u64,
        handle: Handle,
        address: Option<IpAddr>,
    ) -> Result<Reservation, Refusal> {
        if size > self.max_file_size {
            return Err(refusal(
                ErrorKind::FileTooLarge,
                format!(
                    "the file is {}, more than the {} this server accepts",
                    bytes(size),
                    bytes(self.max_file_size)
                ),
            ));
        }
        let internal = |e: io::Error| {
            warn!(error = %e, root = %self.root.display(), "cannot prepare the data directory");
            refusal(
                ErrorKind::Internal,
                "the server cannot store files now".into(),
            )
        };
        fs::create_dir_all(self.root.join("tmp")).map_err(internal)?;
        fs::create_dir_all(self.root.join("files")).map_err(internal)?;
        let available = fs4::available_space(&self.root).map_err(internal)?;
        let mut token = [0; UPLOAD_TOKEN_BYTES];
        getrandom::fill(&mut token).map_err(|e| internal(io::Error::other(e)))?;

        let upload_id =
            self.lock()
                .reserve(size, available, self.disk_reserve, token, (handle, address))?;
        Ok(Reservation {
            upload_id,
            token,
            part_path: self.root.join("tmp").join(format!("{upload_id}.part")),
        })
    }

    /// The upload in progress that `token` proves ownership of.
    pub(crate) fn upload_by_token(&self, token: &[u8]) -> Option<Handle> {
        let token: &Token = token.try_into().ok()?;
        self.lock().upload(token)
    }

    /// The upload stored under `token` at most `grace` ago ([`Index::finished`]).
    pub(crate) fn finished(&self, token: &[u8], grace: Duration) -> Option<Finished> {
        let token: &Token = token.try_into().ok()?;
        self.lock().finished(token, grace)
    }

    /// Ends an upload that stored nothing: its reservation is returned and its token no
    /// longer resumes it.
    pub(crate) fn release(&self, token: &Token, size: u64) {
        self.lock().release(token, size);
    }

    /// Makes new file ids go on after `last`, the highest file id the history has seen,
    /// as well as after the highest stored file.
    pub(crate) fn ids_after(&self, last: u64) {
        self.lock().ids_after(last);
    }

    /// Picks the id of a new file.
    pub(crate) fn next_file_id(&self) -> u64 {
        self.lock().next_file_id()
    }

    /// Moves a verified upload into place: `part` (flushed to disk already) becomes the
    /// contents of `file`, then its sidecar is written. Blocking.
    pub(crate) fn store(&self, part: &Path, file: &FileInfo) -> io::Result<()> {
        let files = self.root.join("files");
        let data = files.join(format!("{}.{DATA_EXT}", file.id));
        fs::rename(part, &data)?;
        let sidecar = Sidecar {
            id: file.id,
            name: file.name.clone(),
            size: file.size,
            sha256: hex::encode(&file.sha256),
            from: file.from.clone(),
            time_ms: file.time_ms,
            room: file.room.clone(),
        };
        let json = serde_json::to_vec_pretty(&sidecar).map_err(io::Error::other)?;
        let meta = files.join(format!("{}.{META_EXT}", file.id));
        let meta_tmp = files.join(format!("{}.{META_EXT}.tmp", file.id));
        let written = write_synced(&meta_tmp, &json)
            .and_then(|()| fs::rename(&meta_tmp, &meta))
            .and_then(|()| sync_dir(&files));
        if written.is_err() {
            let _ = fs::remove_file(&data);
            let _ = fs::remove_file(&meta_tmp);
        }
        written
    }

    /// Makes a stored upload visible: it is listed from now on, and its reservation
    /// becomes used space.
    pub(crate) fn add(&self, token: &Token, file: FileInfo) {
        self.lock().add(token, file);
    }

    /// The newest files of the room `room` ([`Index::list`]).
    pub(crate) fn list(&self, room: &str) -> Vec<FileInfo> {
        self.lock().list(room)
    }

    /// File `id` if it belongs to the room `room` ([`Index::get`]).
    pub(crate) fn get(&self, id: u64, room: &str) -> Option<FileInfo> {
        self.lock().get(id, room)
    }

    /// Counts `nick` as a fetcher of file `id` and appends it to the file's list of
    /// fetchers: the new count, or `None` when nothing changed ([`Index::add_fetcher`]).
    /// Blocking.
    pub(crate) fn fetched(&self, id: u64, nick: &str) -> io::Result<Option<u32>> {
        let fetcher = fetchers::of(nick);
        let _writing = self
            .fetch_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(count) = self.lock().add_fetcher(id, fetcher) else {
            return Ok(None);
        };
        let path = self
            .root
            .join("files")
            .join(format!("{id}.{}", fetchers::EXT));
        fetchers::append(&path, &fetcher)?;
        Ok(Some(count))
    }

    /// The counts of `sharer`'s files among `listed` that someone fetched
    /// ([`Index::fetch_counts`]).
    pub(crate) fn fetch_counts(&self, listed: &[FileInfo], sharer: &str) -> Vec<FetchCount> {
        self.lock().fetch_counts(listed, sharer)
    }

    /// File `id`, whatever its room (the caller checks the room).
    pub(crate) fn find(&self, id: u64) -> Option<FileInfo> {
        self.lock().find(id)
    }

    /// Where the contents of file `id` are.
    pub(crate) fn data_path(&self, id: u64) -> PathBuf {
        self.root.join("files").join(format!("{id}.{DATA_EXT}"))
    }

    /// Deletes every partial upload, for a graceful shutdown. Uploads still running lose
    /// their file; nothing can resume them once the server is gone anyway.
    pub(crate) fn remove_partials(&self) {
        match remove_dir_contents(&self.root.join("tmp")) {
            Ok(0) => {}
            Ok(removed) => info!(removed, "deleted partial uploads at shutdown"),
            Err(e) => warn!(error = %e, "cannot delete partial uploads"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Index> {
        // Every operation is a few map updates that leave the index consistent.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The files found at start, with the fetchers of those that have a list.
type Loaded = (Vec<FileInfo>, Vec<(u64, Vec<Fetcher>)>);

/// Reads every sidecar in `dir` and deletes whatever is not a complete stored file; reads
/// the lists of fetchers of the files kept.
fn load(dir: &Path) -> io::Result<Loaded> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    let mut fetched_lists = Vec::new();
    let mut data_files = Vec::new();
    let mut stray = Vec::new();
    for entry in entries {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some(META_EXT) => match read_sidecar(&path) {
                Ok(file) => found.push(file),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "deleting an unreadable sidecar");
                    stray.push(path);
                }
            },
            Some(DATA_EXT) => data_files.push(path),
            Some(fetchers::EXT | fetchers::OLD_EXT) => fetched_lists.push(path),
            _ => stray.push(path),
        }
    }
    let mut files = Vec::new();
    for file in found {
        let data = dir.join(format!("{}.{DATA_EXT}", file.id));
        match fs::metadata(&data) {
            Ok(meta) if meta.len() == file.size => files.push(file),
            _ => {
                warn!(
                    id = file.id,
                    "deleting a file whose contents are missing or cut short"
                );
                stray.push(dir.join(format!("{}.{META_EXT}", file.id)));
                stray.push(data);
            }
        }
    }
    for data in data_files {
        let described = data
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|id| files.iter().any(|f| f.id == id));
        if !described {
            stray.push(data);
        }
    }
    let mut lists = Vec::new();
    for list in fetched_lists {
        let id = list
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|id| files.iter().any(|f| f.id == *id));
        let read = id.map(|id| {
            let read = if list.extension().and_then(|e| e.to_str()) == Some(fetchers::OLD_EXT) {
                fetchers::convert(&list, &list.with_extension(fetchers::EXT))
            } else {
                fetchers::read(&list)
            };
            (id, read)
        });
        match read {
            Some((id, Ok(keys))) => lists.push((id, keys)),
            Some((_, Err(e))) => {
                warn!(path = %list.display(), error = %e, "deleting an unreadable list of fetchers");
                stray.push(list);
            }
            None => stray.push(list),
        }
    }
    for path in stray {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok((files, lists))
}

fn read_sidecar(path: &Path) -> io::Result<FileInfo> {
    let sidecar: Sidecar = serde_json::from_slice(&fs::read(path)?).map_err(io::Error::other)?;
    let sha256 = hex::decode(&sidecar.sha256)
        .ok()
        .filter(|d| d.len() == SHA256_BYTES)
        .ok_or_else(|| io::Error::other("bad sha256"))?;
    let named_by_id = path.file_stem().and_then(|s| s.to_str()) == Some(&sidecar.id.to_string());
    if !named_by_id {
        return Err(io::Error::other("the sidecar's name is not its id"));
    }
    Ok(FileInfo {
        id: sidecar.id,
        name: sidecar.name,
        size: sidecar.size,
        sha256,
        from: sidecar.from,
        time_ms: sidecar.time_ms,
        room: sidecar.room,
    })
}

/// Deletes every file in `dir`; a missing `dir` is empty. Returns how many were deleted.
fn remove_dir_contents(dir: &Path) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        fs::remove_file(entry?.path())?;
        removed += 1;
    }
    Ok(removed)
}

/// `error` with what was being done to which path in front of its message.
fn with_path(error: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{doing} {}: {error}", path.display()))
}

fn write_synced(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = fs::File::create(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes the renames in `dir` durable. Directories cannot be opened for this everywhere;
/// where they cannot, the rename is as durable as the platform makes it.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match fs::File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if cfg!(unix) => Err(e),
        _ => Ok(()),
    }
}

fn refusal(kind: ErrorKind, text: String) -> Refusal {
    Refusal { kind, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::index::MAX_LISTED_FILES;

    fn info(id: u64, room: &str, size: u64) -> FileInfo {
        FileInfo {
            id,
            name: format!("f{id}.txt"),
            size,
            sha256: vec![id as u8; SHA256_BYTES],
            from: "ann".into(),
            time_ms: 1,
            room: room.into(),
        }
    }

    fn handle() -> Handle {
        Handle::detached()
    }

    #[test]
    fn prepare_creates_the_directories_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("new").join("data");
        FileStore::prepare(&root).unwrap();
        for sub in ["tmp", "files"] {
            let entries = fs::read_dir(root.join(sub)).unwrap().count();
            assert_eq!(entries, 0, "{sub} holds only what the server stores");
        }
        // Again on a directory that exists: nothing changes.
        FileStore::prepare(&root).unwrap();
    }

    #[test]
    fn prepare_names_what_it_cannot_do() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        fs::write(&file, b"x").unwrap();
        let error = FileStore::prepare(&file.join("data")).unwrap_err();
        let expected = format!("cannot create {}", file.join("data").join("tmp").display());
        assert!(error.to_string().starts_with(&expected), "{error}");
    }

    /// Stores a file of `size` zero bytes the way an upload does.
    fn put(store: &FileStore, room: &str, size: u64) -> FileInfo {
        let r = store.reserve(size, handle(), None).unwrap();
        fs::write(&r.part_path, vec![0; size as usize]).unwrap();
        let file = info(store.next_file_id(), room, size);
        store.store(&r.part_path, &file).unwrap();
        store.add(&r.token, file.clone());
        file
    }

    /// Look-alike keys of valid nicks run to about 960 bytes (U+FDFA becomes 18
    /// characters): a list of 2,000 of them as an earlier version wrote it (JSON) passed
    /// the bound it was read with, and was deleted at the next start. It is now read once,
    /// turned into fixed-size records, and a new fetcher adds one record.
    #[test]
    fn a_list_of_fetchers_with_long_keys_survives_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let file = {
            let store = FileStore::open(dir.path(), 1 << 20, 1 << 30).unwrap();
            put(&store, "lobby", 1)
        };
        let nick = |n: usize| format!("{}{n:04}", "\u{fdfa}".repeat(28));
        let keys: Vec<String> = (0..2000)
            .map(|n| {
                shared::names::check_nick(&nick(n)).unwrap();
                shared::names::look_alike_key(&nick(n))
            })
            .collect();
        let files = dir.path().join("files");
        let old = files.join(format!("{}.fetched", file.id));
        fs::write(&old, serde_json::to_vec(&keys).unwrap()).unwrap();
        let by = |store: &FileStore| store.fetch_counts(std::slice::from_ref(&file), "ann")[0].by;
        let store = FileStore::open(dir.path(), 1 << 20, 1 << 30).unwrap();
        assert_eq!(by(&store), 2000, "counts lost at restart");
        assert!(!old.exists());
        let list = files.join(format!("{}.fetchers", file.id));
        assert_eq!(fs::metadata(&list).unwrap().len(), 2000 * 32);
        // Known already, under another spelling: nothing written.
        assert_eq!(
            store.fetched(file.id, &nick(7).to_uppercase()).unwrap(),
            None
        );
        assert_eq!(store.fetched(file.id, &nick(2000)).unwrap(), Some(2001));
        assert_eq!(fs::metadata(&list).unwrap().len(), 2001 * 32);
        drop(store);
        let store = FileStore::open(dir.path(), 1 << 20, 1 << 30).unwrap();
        assert_eq!(by(&store), 2001);
    }

    #[test]
    fn a_listing_holds_the_newest_files_oldest_first_and_fits_a_frame() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), 1 << 20, 1 << 30).unwrap();
        let first = put(&store, "lobby", 0);
        for _ in 0..MAX_LISTED_FILES {
            put(&store, "lobby", 0);
        }
        let listed = store.list("lobby");
        assert_eq!(listed.len(), MAX_LISTED_FILES);
        assert!(!listed.contains(&first), "the oldest file is left out");
        assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        // The longest names and nicks still fit one frame.
        let widest: Vec<FileInfo> = (0..MAX_LISTED_FILES as u64)
            .map(|id| FileInfo {
                name: "名".repeat(85),
                from: "名".repeat(32),
                room: "名".repeat(32),
                ..info(id, "lobby", u64::MAX)
            })
            .collect();
        let answer = shared::ServerMsg::Files {
            room: "名".repeat(32),
            files: widest,
        };
        assert!(shared::encode_frame(&answer).is_ok());
    }

    #[test]
    fn a_missing_directory_is_an_empty_store_and_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let store = FileStore::open(&root, 100, 1000).unwrap();
        assert!(store.list("lobby").is_empty());
        assert!(!root.exists());
    }

    #[test]
    fn files_survive_a_reopen_and_stay_in_their_room() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), 100, 1000).unwrap();
        let a = put(&store, "Lobby", 10);
        let b = put(&store, "dev", 0);
        drop(store);
        let store = FileStore::open(dir.path(), 100, 1000).unwrap();
        assert_eq!(store.list("lobby"), std::slice::from_ref(&a));
        assert_eq!(store.list("dev"), std::slice::from_ref(&b));
        assert_eq!(store.get(a.id, "dev"), None);
        assert_eq!(store.get(a.id, "lobby"), Some(a));
        assert!(store.next_file_id() > b.id, "ids are never reused");
    }

    #[test]
    fn opening_deletes_partials_and_incomplete_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), 100, 1000).unwrap();
        let kept = put(&store, "lobby", 5);
        let cut = put(&store, "lobby", 5);
        let r = store.reserve(50, handle(), None).unwrap();
        fs::write(&r.part_path, b"half").unwrap();
        drop(store);
        let files = dir.path().join("files");
        fs::write(files.join(format!("{}.data", cut.id)), b"ab").unwrap(); // cut short
        fs::write(files.join("99.data"), b"no sidecar").unwrap();
        fs::write(files.join("98.json.tmp"), b"{").unwrap();
        fs::write(files.join("97.json"), b"not json").unwrap();

        let store = FileStore::open(dir.path(), 100, 1000).unwrap();
        assert_eq!(store.list("lobby"), std::slice::from_ref(&kept));
        let mut left: Vec<String> = fs::read_dir(&files)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [format!("{}.data", kept.id), format!("{}.json", kept.id)]
        );
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn limits_are_checked_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), 100, 150).unwrap();
        let refused = store.reserve(101, handle(), None).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::FileTooLarge);
        let first = store.reserve(100, handle(), None).unwrap();
        // The first upload's reservation counts although nothing of it is written yet,
        // for another address too.
        let elsewhere = Some([10, 0, 0, 2].into());
        let refused = store.reserve(51, handle(), elsewhere).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::QuotaExceeded);
        store.release(&first.token, 100);
        assert!(store.upload_by_token(&first.token).is_none());
        let second = store.reserve(100, handle(), None).unwrap();
        let found = store.upload_by_token(&second.token).unwrap();
        assert_eq!(found.id, second.upload_id);
        assert!(store.upload_by_token(&second.token[..8]).is_none());
        assert_ne!(first.token, second.token);
        let disk = FileStore::open(dir.path(), u64::MAX, u64::MAX).unwrap();
        let refused = disk.reserve(u64::MAX / 2, handle(), None).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::DiskFull);
    }
}
