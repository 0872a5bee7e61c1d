//! Nicks registered to keys (feature "auth"): a registered nick, and every nick that is
//! the same name ([`shared::names::NameKeys::same`]: equal ignoring case, or alike to the
//! eye), can be used only by a client that proved the nick's key, even while its owner is
//! offline.
//!
//! [`Owners`] is the table, kept by the registry under its lock, so that a login or a
//! rename is checked against it in the same step that takes the nick. Its changes are
//! kept in [`FILE`] in the data directory ([`OwnersFile`]): one line per nick, the key in
//! 64 hex digits then the nick, rewritten whole (a new file renamed over the old one),
//! readable by the server's user only. A file rather than a table of the history's
//! database, so that it works with the history off too. Limits: [`MAX_PER_KEY`] nicks
//! per key, [`MAX_NICKS`] in all.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use shared::ErrorKind;
use shared::auth::PublicKey;
use shared::names::{NameKeys, check_nick};

use crate::common::Refusal;

/// The file of registered nicks in the data directory.
pub const FILE: &str = "registered-nicks";

/// Most nicks one key may register.
pub const MAX_PER_KEY: usize = 5;

/// Most nicks registered on one server: years of a LAN's people, and a file of about a
/// megabyte at most.
pub const MAX_NICKS: usize = 10_000;

/// Largest file of registered nicks read at start.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// A registered nick.
#[derive(Debug, Clone)]
struct Entry {
    /// As registered, for display.
    nick: String,
    /// Its look-alike key; its fold is its key in [`Owners::by_fold`].
    look: String,
    key: PublicKey,
}

/// Every registered nick, found by either key of its name.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    /// By the fold of the nick.
    by_fold: HashMap<String, Entry>,
    /// The look-alike key of each nick to its fold.
    by_look: HashMap<String, String>,
    /// Changes so far: a snapshot with a higher number is newer.
    generation: u64,
}

/// The table as the file holds it, after a change: written by [`OwnersFile::keep`].
#[derive(Debug)]
pub(crate) struct Snapshot {
    generation: u64,
    text: String,
}

impl Owners {
    /// The registration that `nick` (whose keys are `keys`) falls under, if any, when it
    /// is not `key`'s: `NickOwned`, saying which registered nick it is or looks like.
    /// `Ok(true)` when a registration of `key` covers it, `Ok(false)` when none does.
    pub(crate) fn check(
        &self,
        nick: &str,
        keys: &NameKeys,
        key: Option<&PublicKey>,
    ) -> Result<bool, Refusal> {
        let same = self.by_fold.get(&keys.fold);
        let alike = self
            .by_look
            .get(&keys.look)
            .and_then(|fold| self.by_fold.get(fold));
        let mut owned = false;
        for (entry, exact) in [(same, true), (alike, false)] {
            let Some(entry) = entry else { continue };
            if Some(&entry.key) != key {
                return Err(owned_by_another(nick, &entry.nick, exact));
            }
            owned = true;
        }
        Ok(owned)
    }

    /// The key the name of `keys` is registered to, under its spelling or a look-alike.
    pub(crate) fn key_of(&self, keys: &NameKeys) -> Option<PublicKey> {
        self.by_fold
            .get(&keys.fold)
            .or_else(|| {
                self.by_look
                    .get(&keys.look)
                    .and_then(|fold| self.by_fold.get(fold))
            })
            .map(|entry| entry.key)
    }

    /// Registers `nick` to `key`. `Ok(None)` when it was registered to `key` already
    /// (under this spelling or one that is the same name).
    pub(crate) fn register(
        &mut self,
        nick: &str,
        keys: &NameKeys,
        key: &PublicKey,
    ) -> Result<Option<Snapshot>, Refusal> {
        if self.check(nick, keys, Some(key))? {
            return Ok(None);
        }
        let refused = |text: String| Refusal {
            kind: ErrorKind::Internal,
            text,
        };
        if self.by_fold.values().filter(|e| e.key == *key).count() >= MAX_PER_KEY {
            return Err(refused(format!(
                "your key has {MAX_PER_KEY} nicks registered, the most it may; unregister one first"
            )));
        }
        if self.by_fold.len() >= MAX_NICKS {
            return Err(refused(format!(
                "this server has {MAX_NICKS} nicks registered, the most it keeps"
            )));
        }
        self.insert(nick, keys, *key);
        Ok(Some(self.snapshot()))
    }

    /// Frees the registration of `key` that covers `nick`: its nick as registered, and the
    /// table to keep. `Ok(None)` when no registration covers `nick`; `NickOwned` when
    /// another key's does.
    pub(crate) fn unregister(
        &mut self,
        nick: &str,
        keys: &NameKeys,
        key: &PublicKey,
    ) -> Result<Option<(String, Snapshot)>, Refusal> {
        if !self.check(nick, keys, Some(key))? {
            return Ok(None);
        }
        // Every registration that covers it is `key`'s (checked): all are freed.
        Ok(self.release(keys))
    }

    /// Frees every registration that covers `nick`, whatever its key (an operator's
    /// `Release`, for an owner who lost their key): the nick as registered, and the table
    /// to keep; `None` when none covers it.
    pub(crate) fn release(&mut self, keys: &NameKeys) -> Option<(String, Snapshot)> {
        let folds = [
            Some(keys.fold.clone()),
            self.by_look.get(&keys.look).cloned(),
        ];
        let mut freed = None;
        for fold in folds.into_iter().flatten() {
            if let Some(entry) = self.by_fold.remove(&fold) {
                self.by_look.remove(&entry.look);
                freed.get_or_insert(entry.nick);
            }
        }
        freed.map(|nick| (nick, self.snapshot()))
    }

    fn insert(&mut self, nick: &str, keys: &NameKeys, key: PublicKey) {
        let entry = Entry {
            nick: nick.to_owned(),
            look: keys.look.clone(),
            key,
        };
        self.by_look.insert(keys.look.clone(), keys.fold.clone());
        self.by_fold.insert(keys.fold.clone(), entry);
    }

    /// The table as the file holds it, numbered after the change just made.
    fn snapshot(&mut self) -> Snapshot {
        self.generation += 1;
        let mut entries: Vec<&Entry> = self.by_fold.values().collect();
        entries.sort_by(|a, b| (a.key, &a.nick).cmp(&(b.key, &b.nick)));
        let mut text = String::from("# Nicks registered to keys: the key, then the nick.\n");
        for entry in entries {
            let _ = writeln!(text, "{} {}", entry.key.hex(), entry.nick);
        }
        Snapshot {
            generation: self.generation,
            text,
        }
    }

    /// Reads the table from the file's text.
    ///
    /// # Errors
    ///
    /// A line that is not a key and a valid nick, or a nick registered twice; the message
    /// names the line.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut owners = Self::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |problem: String| format!("line {}: {problem}", number + 1);
            let Some((key, nick)) = line.split_once(' ') else {
                return Err(at("not a key then a nick".into()));
            };
            let key = PublicKey::parse(key).map_err(at)?;
            check_nick(nick).map_err(|e| at(format!("the nick {e}")))?;
            let keys = NameKeys::of(nick);
            if let Err(refusal) = owners.check(nick, &keys, None) {
                return Err(at(refusal.text));
            }
            if owners.by_fold.len() >= MAX_NICKS {
                return Err(at(format!("more than {MAX_NICKS} nicks")));
            }
            owners.insert(nick, &keys, key);
        }
        Ok(owners)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_fold.len()
    }
}

/// The refusal of `nick`, which is (`exact`) or looks like the nick `registered` of
/// another key.
fn owned_by_another(nick: &str, registered: &str, exact: bool) -> Refusal {
    let text = if exact {
        format!("the nick {registered} is registered")
    } else {
        format!("the nick {nick} looks like the registered nick {registered}")
    };
    Refusal {
        kind: ErrorKind::NickOwned,
        text,
    }
}

/// Where the table is kept; `None` in a server that keeps nothing (some tests).
#[derive(Debug, Default)]
pub(crate) struct OwnersFile {
    path: Option<PathBuf>,
    /// The generation last written: an older snapshot that comes late is not written
    /// over a newer one. Held while writing, so that writes do not interleave.
    written: Mutex<u64>,
}

impl OwnersFile {
    /// The file in `data_dir`.
    pub(crate) fn in_dir(data_dir: &Path) -> Self {
        Self {
            path: Some(data_dir.join(FILE)),
            written: Mutex::new(0),
        }
    }

    /// Reads the table at start; an absent file is an empty table.
    ///
    /// # Errors
    ///
    /// The file cannot be read, is too large, or holds a bad line; the message names it.
    pub(crate) fn load(&self) -> anyhow::Result<Owners> {
        let Some(path) = &self.path else {
            return Ok(Owners::default());
        };
        let named = |problem: String| {
            anyhow::anyhow!(
                "cannot use the registered nicks '{}': {problem}",
                path.display()
            )
        };
        let text = match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Owners::default()),
            Err(e) => return Err(named(e.to_string())),
            Ok(meta) if meta.len() > MAX_FILE_BYTES => {
                return Err(named(format!("larger than {MAX_FILE_BYTES} bytes")));
            }
            Ok(_) => std::fs::read_to_string(path).map_err(|e| named(e.to_string()))?,
        };
        Owners::parse(&text).map_err(named)
    }

    /// Writes `snapshot` (unless a newer one was written already), on the blocking pool:
    /// to a new file, readable by the server's user only, flushed to disk, then renamed
    /// over the old one, so that a crash leaves one or the other whole.
    pub(crate) async fn keep(self: &std::sync::Arc<Self>, snapshot: Snapshot) -> io::Result<()> {
        let this = std::sync::Arc::clone(self);
        tokio::task::spawn_blocking(move || this.write(&snapshot))
            .await
            .map_err(io::Error::other)?
    }

    fn write(&self, snapshot: &Snapshot) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if snapshot.generation <= *written {
            return Ok(());
        }
        let fresh = path.with_extension("new");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&fresh)?;
        file.write_all(snapshot.text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&fresh, path)?;
        // The rename itself reaches the disk with the directory.
        if let Some(dir) = path.parent() {
            if let Ok(dir) = std::fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        *written = snapshot.generation;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes(&[n; 32]).unwrap()
    }

    fn register(owners: &mut Owners, nick: &str, k: u8) -> Result<Option<Snapshot>, Refusal> {
        owners.register(nick, &NameKeys::of(nick), &key(k))
    }

    fn check(owners: &Owners, nick: &str, k: Option<u8>) -> Result<bool, Refusal> {
        owners.check(nick, &NameKeys::of(nick), k.map(key).as_ref())
    }

    #[test]
    fn a_registered_nick_and_its_look_alikes_belong_to_its_key() {
        let mut owners = Owners::default();
        assert!(register(&mut owners, "bob", 1).unwrap().is_some());
        assert_eq!(check(&owners, "bob", Some(1)), Ok(true));
        assert_eq!(check(&owners, "BOB", Some(1)), Ok(true));
        assert_eq!(check(&owners, "bobby", Some(2)), Ok(false));
        let refused = check(&owners, "Bob", Some(2)).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NickOwned);
        assert_eq!(refused.text, "the nick bob is registered");
        let refused = check(&owners, "b\u{043E}b", None).unwrap_err();
        assert_eq!(
            refused.text,
            "the nick b\u{043E}b looks like the registered nick bob"
        );
        // Registering again, or a spelling that is the same name: nothing changes.
        assert!(register(&mut owners, "BOB", 1).unwrap().is_none());
        // Another key cannot register it, nor a look-alike of it.
        assert_eq!(
            register(&mut owners, "b\u{043E}b", 2).unwrap_err().kind,
            ErrorKind::NickOwned
        );
        assert_eq!(owners.len(), 1);
    }

    #[test]
    fn unregistering_frees_the_nick_for_anyone() {
        let mut owners = Owners::default();
        register(&mut owners, "bob", 1).unwrap();
        let refused = owners
            .unregister("bob", &NameKeys::of("bob"), &key(2))
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NickOwned);
        let (nick, _) = owners
            .unregister("BOB", &NameKeys::of("BOB"), &key(1))
            .unwrap()
            .unwrap();
        assert_eq!(nick, "bob");
        assert_eq!(check(&owners, "bob", Some(2)), Ok(false));
        assert!(
            owners
                .unregister("bob", &NameKeys::of("bob"), &key(1))
                .unwrap()
                .is_none()
        );
        assert_eq!(owners.len(), 0);
    }

    #[test]
    fn a_key_registers_at_most_five_nicks() {
        let mut owners = Owners::default();
        for n in 0..MAX_PER_KEY {
            register(&mut owners, &format!("nick{n}"), 1).unwrap();
        }
        let refused = register(&mut owners, "another", 1).unwrap_err();
        assert!(
            refused.text.contains("5 nicks registered"),
            "{}",
            refused.text
        );
        register(&mut owners, "another", 2).unwrap();
    }

    #[test]
    fn the_file_reads_back_and_a_bad_line_is_named() {
        let mut owners = Owners::default();
        register(&mut owners, "bob", 1).unwrap();
        let snapshot = register(&mut owners, "ann", 2).unwrap().unwrap();
        let again = Owners::parse(&snapshot.text).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(
            check(&again, "BOB", Some(2)).unwrap_err().kind,
            ErrorKind::NickOwned
        );
        assert_eq!(check(&again, "ann", Some(2)), Ok(true));
        let error = Owners::parse("# c\n\nabc bob\n").unwrap_err();
        assert!(error.starts_with("line 3: "), "{error}");
        let hex = key(1).hex();
        let error = Owners::parse(&format!("{hex} bob\n{hex} B\u{043E}B\n")).unwrap_err();
        assert!(error.contains("line 2: "), "{error}");
        let error = Owners::parse(&format!("{hex}\n")).unwrap_err();
        assert_eq!(error, "line 1: not a key then a nick");
    }

    #[tokio::test]
    async fn the_file_is_written_whole_private_and_newest_last() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(OwnersFile::in_dir(dir.path()));
        assert_eq!(file.load().unwrap().len(), 0, "no file: no nicks");
        let mut owners = Owners::default();
        let first = register(&mut owners, "bob", 1).unwrap().unwrap();
        let second = register(&mut owners, "ann", 2).unwrap().unwrap();
        file.keep(second).await.unwrap();
        // A snapshot older than the one written is not written over it.
        file.keep(first).await.unwrap();
        let read = file.load().unwrap();
        assert_eq!(read.len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(FILE), "nonsense\n").unwrap();
        let error = file.load().unwrap_err().to_string();
        assert!(
            error.contains("registered-nicks") && error.contains("line 1"),
            "{error}"
        );
    }
}
