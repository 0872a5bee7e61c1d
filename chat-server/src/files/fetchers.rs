//! A file's list of fetchers on disk (`files/ID.fetchers`): one fixed-size record per
//! nick that fetched it, the SHA-256 of the nick's look-alike key
//! ([`names::look_alike_key`]), appended once when the nick is new to the file.
//!
//! A record's size does not depend on the nick (a look-alike key grows to about 960 bytes
//! for a 32-character nick), so [`MAX_FETCHERS`] of them always read back, and adding a
//! fetcher writes 32 bytes, not the whole list again. A record cut short by a crash is
//! dropped when the list is read.
//!
//! An earlier version kept the keys themselves, as a JSON list in `files/ID.fetched`: such
//! a list is read once at start, turned into records and deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::Path;

use sha2::{Digest as _, Sha256};
use shared::limits::MAX_FETCHERS;
use shared::names;

/// Extension of the lists of fetchers.
pub(super) const EXT: &str = "fetchers";
/// Extension of the lists of an earlier version (JSON lists of look-alike keys).
pub(super) const OLD_EXT: &str = "fetched";

/// Bytes of one record: a SHA-256 digest.
const RECORD: usize = 32;
/// Largest list read: [`MAX_FETCHERS`] records; anything beyond is ignored.
const MAX_BYTES: u64 = (MAX_FETCHERS * RECORD) as u64;
/// Largest list of an earlier version read: [`MAX_FETCHERS`] quoted keys of up to 1 KiB.
const MAX_OLD_BYTES: u64 = (MAX_FETCHERS * 1024) as u64;

/// One fetcher of a file, as kept: the digest of its nick's look-alike key, so that nicks
/// that are the same name are one fetcher.
pub(crate) type Fetcher = [u8; RECORD];

/// The fetcher `nick` is. Takes rounds of normalisation: made before any lock is taken.
pub(crate) fn of(nick: &str) -> Fetcher {
    digest(&names::look_alike_key(nick))
}

fn digest(key: &str) -> Fetcher {
    Sha256::digest(key.as_bytes()).into()
}

/// Appends `fetcher` to the list at `path` (created if missing) and syncs it.
pub(super) fn append(path: &Path, fetcher: &Fetcher) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(fetcher)?;
    file.sync_data()
}

/// Reads the list at `path`: at most [`MAX_FETCHERS`] records. A record cut short by a
/// crash is cut off the file too, so that the next one appended is whole.
pub(super) fn read(path: &Path) -> io::Result<Vec<Fetcher>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(MAX_BYTES).read_to_end(&mut bytes)?;
    let torn = bytes.len() % RECORD;
    if torn != 0 && (bytes.len() as u64) < MAX_BYTES {
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len((bytes.len() - torn) as u64)?;
    }
    Ok(bytes
        .chunks_exact(RECORD)
        .map(|r| r.try_into().unwrap_or([0; RECORD]))
        .collect())
}

/// Turns the list of an earlier version at `old` into a list at `path`, and deletes it.
pub(super) fn convert(old: &Path, path: &Path) -> io::Result<Vec<Fetcher>> {
    let mut text = Vec::new();
    File::open(old)?
        .take(MAX_OLD_BYTES + 1)
        .read_to_end(&mut text)?;
    if text.len() as u64 > MAX_OLD_BYTES {
        return Err(io::Error::other("too large"));
    }
    let keys: Vec<String> = serde_json::from_slice(&text).map_err(io::Error::other)?;
    let fetchers: Vec<Fetcher> = keys.iter().take(MAX_FETCHERS).map(|k| digest(k)).collect();
    let mut file = File::create(path)?;
    file.write_all(&fetchers.concat())?;
    file.sync_all()?;
    fs::remove_file(old)?;
    Ok(fetchers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_list_of_the_longest_keys_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.fetchers");
        // U+FDFA's look-alike key is 18 characters: the longest keys there are. A record
        // is a digest, whatever the key (the others are made quicker).
        let nick = |n: usize| format!("{}{n:04}", "\u{fdfa}".repeat(28));
        names::check_nick(&nick(0)).unwrap();
        let all: Vec<Fetcher> = (0..MAX_FETCHERS)
            .map(|n| {
                if n < 10 {
                    of(&nick(n))
                } else {
                    digest(&n.to_string())
                }
            })
            .collect();
        fs::write(&path, all.concat()).unwrap();
        assert_eq!(read(&path).unwrap(), all);
        // Appending writes one record, whatever the length of the key.
        let before = fs::metadata(&path).unwrap().len();
        append(&path, &of(&nick(MAX_FETCHERS))).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), before + RECORD as u64);
        assert_eq!(
            read(&path).unwrap().len(),
            MAX_FETCHERS,
            "at most MAX_FETCHERS"
        );
    }

    #[test]
    fn a_record_cut_short_is_dropped_and_the_next_one_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.fetchers");
        append(&path, &of("ann")).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[7; 5])
            .unwrap();
        assert_eq!(read(&path).unwrap(), [of("ann")]);
        append(&path, &of("bob")).unwrap();
        assert_eq!(read(&path).unwrap(), [of("ann"), of("bob")]);
        assert_eq!(of("BOB"), of("b\u{043E}b"), "the same name is one fetcher");
    }
}
