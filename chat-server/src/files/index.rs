//! What the server knows of its files, in memory: the stored files of every room, the
//! uploads in progress by token, and the accounting of the quota. No disk here: the store
//! (`store`) loads the index at start and keeps it behind one lock, held for these map
//! updates only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use shared::limits::MAX_FETCHERS;
use shared::names::{self, NameKeys};
use shared::units::bytes;
use shared::{ErrorKind, FetchCount, FileInfo};

use crate::common::Refusal;
use crate::files::handle::{Handle, Token};

/// Most files one `Files` answer lists: the newest ones. A room's list must fit in one
/// frame (1 MiB), and a file's entry takes at most about 600 bytes (a 255-byte name, a
/// 32-character nick and room in up to 4 bytes a character, the SHA-256, four integers).
pub(crate) const MAX_LISTED_FILES: usize = 1000;

/// Most finished uploads whose token is remembered ([`Index::finished`]); past it, the
/// oldest is forgotten first. About 60 bytes each.
pub(crate) const MAX_FINISHED_TOKENS: usize = 4096;

/// The stored files and the uploads in progress.
#[derive(Debug)]
pub(super) struct Index {
    files: BTreeMap<u64, Stored>,
    /// Most bytes the stored files and the uploads in progress may take together.
    quota: u64,
    /// Bytes of the stored files.
    used: u64,
    /// Announced sizes of the uploads in progress; counted against the quota from the
    /// moment an upload is accepted, so that concurrent uploads cannot overshoot it.
    reserved: u64,
    next_file: u64,
    next_upload: u64,
    /// Uploads in progress by token, for resuming, with who reserved them.
    uploads: HashMap<Token, Upload>,
    /// Uploads stored lately, by token: a sender whose connection dropped between its
    /// `UploadFinish` and the `UploadDone` presents the token again and learns that the
    /// file is stored, instead of sending it again.
    finished: HashMap<Token, Finished>,
}

/// An upload that was stored: its ids, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finished {
    pub(crate) upload_id: u64,
    pub(crate) file_id: u64,
    pub(crate) at: Instant,
}

/// An upload in progress: how to reach it, and the share of the quota it holds for the
/// address that started it.
#[derive(Debug)]
struct Upload {
    handle: Handle,
    /// The IP address of the connection that started it (canonical: an IPv4 address seen
    /// through an IPv6 socket is itself); `None` for clients without one, which share one
    /// share.
    address: Option<IpAddr>,
    size: u64,
}

/// A stored file, with the keys of its room's name made once: a listing compares them
/// with every file's.
#[derive(Debug)]
struct Stored {
    info: FileInfo,
    room: NameKeys,
    /// The look-alike keys ([`names::look_alike_key`]) of the nicks that fetched it, its
    /// sharer's never; at most [`MAX_FETCHERS`].
    fetchers: HashSet<String>,
}

impl From<FileInfo> for Stored {
    fn from(info: FileInfo) -> Self {
        let room = NameKeys::of(&info.room);
        Self {
            info,
            room,
            fetchers: HashSet::new(),
        }
    }
}

impl Index {
    /// The index of the files found on disk, against `quota`. New file ids follow the
    /// highest found, so that none is ever reused.
    pub(super) fn new(quota: u64, found: Vec<FileInfo>) -> Self {
        let mut index = Self {
            files: BTreeMap::new(),
            quota,
            used: 0,
            reserved: 0,
            next_file: 1,
            next_upload: 1,
            uploads: HashMap::new(),
            finished: HashMap::new(),
        };
        for file in found {
            index.used = index.used.saturating_add(file.size);
            index.next_file = index.next_file.max(file.id + 1);
            index.files.insert(file.id, file.into());
        }
        index
    }

    /// Makes new file ids go on after `last` too (the highest file id the history has
    /// seen), so that an id seen in a room's history is never given to another file, even
    /// if that file is gone from the disk.
    pub(super) fn ids_after(&mut self, last: u64) {
        self.next_file = self.next_file.max(last.saturating_add(1));
    }

    /// How many files are stored, and their bytes.
    pub(super) fn stored(&self) -> (usize, u64) {
        (self.files.len(), self.used)
    }

    /// Accepts an upload of `size` bytes under `token` from the client at `address`, or
    /// says why not: over the quota, over the address's share of it (see
    /// [`Index::over_share`]), or more than the disk holds (`available` bytes free, of
    /// which `keep_free` must stay so). Returns the upload's id; `handle` reaches it by
    /// its token from now on.
    pub(super) fn reserve(
        &mut self,
        size: u64,
        available: u64,
        keep_free: u64,
        token: Token,
        (handle, address): (Handle, Option<IpAddr>),
    ) -> Result<u64, Refusal> {
        let address = address.map(|ip| ip.to_canonical());
        if let Some(refusal) = self.over_share(size, address) {
            return Err(refusal);
        }
        let committed = self.used.saturating_add(self.reserved);
        if committed.saturating_add(size) > self.quota {
            return Err(Refusal {
                kind: ErrorKind::QuotaExceeded,
                text: format!(
                    "the file is {}, and only {} of the server's {} storage quota is free",
                    bytes(size),
                    bytes(self.quota.saturating_sub(committed)),
                    bytes(self.quota)
                ),
            });
        }
        // Conservative: the uploads in progress are counted whole although part of them is
        // on the disk already.
        let needed = size.saturating_add(self.reserved).saturating_add(keep_free);
        if available < needed {
            return Err(Refusal {
                kind: ErrorKind::DiskFull,
                text: format!(
                    "the server's disk has {} free, not enough for {}",
                    bytes(available.saturating_sub(self.reserved)),
                    bytes(size)
                ),
            });
        }
        self.reserved += size;
        let upload_id = self.next_upload;
        self.next_upload += 1;
        let upload = Upload {
            handle: handle.with_id(upload_id),
            address,
            size,
        };
        self.uploads.insert(token, upload);
        Ok(upload_id)
    }

    /// Why an upload of `size` bytes from `address` is refused by the address's share of
    /// the quota, if it is: one address may always have one upload in progress (within
    /// the quota), and more at once only while its uploads together hold at most half of
    /// the quota. So the reservations of one address, idle or not, always leave half of
    /// the quota to the others, and a lone user may still send a file as large as the
    /// quota. The uploads waiting for a resume count too.
    fn over_share(&self, size: u64, address: Option<IpAddr>) -> Option<Refusal> {
        let (count, held) = self
            .uploads
            .values()
            .filter(|u| u.address == address)
            .fold((0_usize, 0_u64), |(n, b), u| {
                (n + 1, b.saturating_add(u.size))
            });
        let share = self.quota / 2;
        (count > 0 && held.saturating_add(size) > share).then(|| Refusal {
            kind: ErrorKind::QuotaExceeded,
            text: format!(
                "uploads from your address already hold {} of the server's {} storage quota, \
                 and one address may hold at most half of it while more than one of its \
                 uploads runs; finish or cancel one first",
                bytes(held),
                bytes(self.quota)
            ),
        })
    }

    /// The upload in progress that `token` proves ownership of.
    pub(super) fn upload(&self, token: &Token) -> Option<Handle> {
        self.uploads.get(token).map(|u| u.handle.clone())
    }

    /// The upload stored under `token` at most `grace` ago, if it is remembered (the
    /// newest [`MAX_FINISHED_TOKENS`] are).
    pub(super) fn finished(&self, token: &Token, grace: Duration) -> Option<Finished> {
        self.finished
            .get(token)
            .filter(|f| f.at.elapsed() <= grace)
            .copied()
    }

    /// Ends an upload that stored nothing: its reservation is returned and its token no
    /// longer resumes it.
    pub(super) fn release(&mut self, token: &Token, size: u64) {
        self.uploads.remove(token);
        self.reserved = self.reserved.saturating_sub(size);
    }

    /// Picks the id of a new file.
    pub(super) fn next_file_id(&mut self) -> u64 {
        let id = self.next_file;
        self.next_file += 1;
        id
    }

    /// Makes a stored upload visible: it is listed from now on, and its reservation
    /// becomes used space.
    pub(super) fn add(&mut self, token: &Token, file: FileInfo) {
        if let Some(upload) = self.uploads.remove(token) {
            if self.finished.len() >= MAX_FINISHED_TOKENS {
                let oldest = self
                    .finished
                    .iter()
                    .min_by_key(|(_, f)| f.at)
                    .map(|(t, _)| *t);
                if let Some(oldest) = oldest {
                    self.finished.remove(&oldest);
                }
            }
            let finished = Finished {
                upload_id: upload.handle.id,
                file_id: file.id,
                at: Instant::now(),
            };
            self.finished.insert(*token, finished);
        }
        self.reserved = self.reserved.saturating_sub(file.size);
        self.used = self.used.saturating_add(file.size);
        self.files.insert(file.id, file.into());
    }

    /// The newest [`MAX_LISTED_FILES`] files of the room `room`, oldest first: of every room
    /// whose name is the same name ([`shared::names::same_name`]), so that a room that
    /// closed and was opened again under a look-alike spelling keeps its files.
    pub(super) fn list(&self, room: &str) -> Vec<FileInfo> {
        let room = NameKeys::of(room);
        let mut newest: Vec<FileInfo> = self
            .files
            .values()
            .rev()
            .filter(|f| f.room.same(&room))
            .take(MAX_LISTED_FILES)
            .map(|f| f.info.clone())
            .collect();
        newest.reverse();
        newest
    }

    /// Counts `nick` as a fetcher of file `id`. Returns the new count and every fetcher's
    /// key (for the store to keep), or `None` when the file is gone, the nick was counted
    /// already, or the count is at [`MAX_FETCHERS`].
    pub(super) fn add_fetcher(&mut self, id: u64, nick: &str) -> Option<(u32, Vec<String>)> {
        let stored = self.files.get_mut(&id)?;
        if stored.fetchers.len() >= MAX_FETCHERS
            || !stored.fetchers.insert(names::look_alike_key(nick))
        {
            return None;
        }
        let all = stored.fetchers.iter().cloned().collect();
        Some((count(&stored.fetchers), all))
    }

    /// The fetchers of file `id` as the store found them at start (keys, as kept).
    pub(super) fn set_fetchers(&mut self, id: u64, keys: Vec<String>) {
        if let Some(stored) = self.files.get_mut(&id) {
            stored.fetchers = keys.into_iter().take(MAX_FETCHERS).collect();
        }
    }

    /// The counts of the files of `listed` that `sharer` shared and someone fetched.
    pub(super) fn fetch_counts(&self, listed: &[FileInfo], sharer: &str) -> Vec<FetchCount> {
        listed
            .iter()
            .filter(|f| names::same_name(&f.from, sharer))
            .filter_map(|f| {
                let stored = self.files.get(&f.id)?;
                (!stored.fetchers.is_empty()).then(|| FetchCount {
                    file_id: f.id,
                    by: count(&stored.fetchers),
                })
            })
            .collect()
    }

    /// File `id`, whatever its room.
    pub(super) fn find(&self, id: u64) -> Option<FileInfo> {
        self.files.get(&id).map(|f| f.info.clone())
    }

    /// File `id` if it belongs to the room `room` (as [`Index::list`] has it).
    pub(super) fn get(&self, id: u64, room: &str) -> Option<FileInfo> {
        let room = NameKeys::of(room);
        self.files
            .get(&id)
            .filter(|f| f.room.same(&room))
            .map(|f| f.info.clone())
    }
}

fn count(fetchers: &HashSet<String>) -> u32 {
    u32::try_from(fetchers.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: u64, room: &str, size: u64) -> FileInfo {
        FileInfo {
            id,
            name: format!("f{id}"),
            size,
            sha256: vec![0; 32],
            from: "ann".into(),
            time_ms: 1,
            room: room.into(),
        }
    }

    /// A handle reaching nothing, from the address 10.0.0.`n`.
    fn from(n: u8) -> (Handle, Option<IpAddr>) {
        (Handle::detached(), Some([10, 0, 0, n].into()))
    }

    #[test]
    fn uploads_count_against_the_quota_until_released_or_stored() {
        let mut index = Index::new(100, vec![file(7, "lobby", 30)]);
        assert_eq!(index.stored(), (1, 30));
        let plenty = u64::MAX;
        let first = index.reserve(50, plenty, 0, [1; 16], from(1)).unwrap();
        // 30 stored and 50 reserved: 21 more is over, from any address.
        let refused = index.reserve(21, plenty, 0, [2; 16], from(2));
        assert_eq!(refused.unwrap_err().kind, ErrorKind::QuotaExceeded);
        assert_eq!(index.upload(&[1; 16]).map(|h| h.id), Some(first));
        index.release(&[1; 16], 50);
        assert!(index.upload(&[1; 16]).is_none());
        index.reserve(70, plenty, 0, [3; 16], from(1)).unwrap();
        let id = index.next_file_id();
        assert!(id > 7, "ids follow the highest found");
        // And the highest the history knows, when higher; a lower one changes nothing.
        index.ids_after(20);
        index.ids_after(3);
        assert_eq!(index.next_file_id(), 21);
        index.add(&[3; 16], file(id, "Lobby", 70));
        assert_eq!(index.stored(), (2, 100));
        assert_eq!(index.list("LOBBY").len(), 2);
        assert_eq!(index.get(id, "dev"), None);
        // The disk, with what it must keep free, is checked too.
        let mut index = Index::new(u64::MAX, Vec::new());
        let refused = index.reserve(10, 100, 95, [4; 16], from(1));
        assert_eq!(refused.unwrap_err().kind, ErrorKind::DiskFull);
    }

    #[test]
    fn fetchers_are_distinct_names_and_counted_for_their_sharer_only() {
        let mut index = Index::new(u64::MAX, vec![file(1, "lobby", 5), file(2, "lobby", 5)]);
        assert_eq!(index.add_fetcher(1, "bob").map(|(n, _)| n), Some(1));
        // The same name, whatever its case or look-alike spelling, counts once.
        assert_eq!(index.add_fetcher(1, "BOB"), None);
        let (n, all) = index.add_fetcher(1, "cy").unwrap();
        assert_eq!(n, 2);
        assert_eq!(all.len(), 2);
        assert_eq!(index.add_fetcher(99, "bob"), None, "no such file");
        let listed = index.list("lobby");
        // ann shared both; only the fetched one is counted.
        assert_eq!(
            index.fetch_counts(&listed, "Ann"),
            [FetchCount { file_id: 1, by: 2 }]
        );
        assert!(
            index.fetch_counts(&listed, "bob").is_empty(),
            "not bob's files"
        );
        index.set_fetchers(2, vec!["x".into(), "y".into(), "z".into()]);
        assert_eq!(index.fetch_counts(&listed, "ann")[1].by, 3);
    }

    #[test]
    fn a_stored_uploads_token_is_remembered_for_the_grace_period_and_bounded() {
        let plenty = u64::MAX;
        let mut index = Index::new(u64::MAX, Vec::new());
        let upload_id = index.reserve(5, plenty, 0, [1; 16], from(1)).unwrap();
        assert_eq!(index.finished(&[1; 16], Duration::from_secs(60)), None);
        index.add(&[1; 16], file(9, "lobby", 5));
        let found = index.finished(&[1; 16], Duration::from_secs(60)).unwrap();
        assert_eq!((found.upload_id, found.file_id), (upload_id, 9));
        assert!(
            index.upload(&[1; 16]).is_none(),
            "no longer resumable as a partial"
        );
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(index.finished(&[1; 16], Duration::from_millis(1)), None);
        // A token that was never an upload's is never taken for a finished one.
        index.add(&[2; 16], file(10, "lobby", 5));
        assert_eq!(index.finished(&[2; 16], Duration::from_secs(60)), None);
        // The oldest is forgotten first beyond the bound.
        for n in 0..MAX_FINISHED_TOKENS as u64 {
            let token = {
                let mut t = [3; 16];
                t[..8].copy_from_slice(&n.to_le_bytes());
                t
            };
            index.reserve(1, plenty, 0, token, from(2)).unwrap();
            index.add(&token, file(100 + n, "lobby", 1));
        }
        assert_eq!(index.finished.len(), MAX_FINISHED_TOKENS);
        assert_eq!(index.finished(&[1; 16], Duration::from_secs(60)), None);
    }

    #[test]
    fn one_address_holds_at_most_half_the_quota_with_several_uploads() {
        let plenty = u64::MAX;
        let mut index = Index::new(1000, Vec::new());
        // A lone upload may take the whole quota...
        index.reserve(1000, plenty, 0, [1; 16], from(1)).unwrap();
        // ...but a second from the same address is over the address's share, even empty
        // of data, even if the first is gone from the quota's point of view.
        let refused = index.reserve(1, plenty, 0, [2; 16], from(1)).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::QuotaExceeded);
        assert!(refused.text.contains("your address"), "{}", refused.text);
        index.release(&[1; 16], 1000);
        // Two uploads (or more) from one address hold half the quota at most, idle or
        // not, so the other addresses always keep the other half.
        index.reserve(300, plenty, 0, [3; 16], from(1)).unwrap();
        index.reserve(200, plenty, 0, [4; 16], from(1)).unwrap();
        let refused = index.reserve(1, plenty, 0, [5; 16], from(1)).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::QuotaExceeded);
        index.reserve(500, plenty, 0, [6; 16], from(2)).unwrap();
        // The quota is full now: another address is refused by the quota itself.
        let refused = index.reserve(1, plenty, 0, [7; 16], from(3)).unwrap_err();
        assert!(
            refused.text.contains("storage quota is free"),
            "{}",
            refused.text
        );
        // An IPv4 address seen through an IPv6 socket is the same address.
        let v6: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        index.release(&[6; 16], 500);
        let refused = index.reserve(1, plenty, 0, [8; 16], (Handle::detached(), Some(v6)));
        assert!(refused.unwrap_err().text.contains("your address"));
        // Releasing gives the address its share back.
        index.release(&[3; 16], 300);
        index.reserve(300, plenty, 0, [9; 16], from(1)).unwrap();
    }
}
