//! The rooms whose topic only operators may set (an operator's `LockTopic`), by the
//! look-alike key of the room's name (`shared::names::look_alike_key`): every room whose
//! name looks like a locked one's is locked, so that a look-alike room opened once the
//! locked room is empty cannot take its place with a topic of its own. Kept in
//! `locked-topics.toml` in the data directory, rewritten whole at each change
//! ([`crate::private_file`]), so that a lock outlives its room's last member and a restart
//! whether the history is on or off. At most [`MAX_LOCKED_TOPICS`] rooms.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

/// Name of the file in the data directory.
pub const LOCKS_FILE: &str = "locked-topics.toml";

/// Most rooms whose topic is locked at once: as many as rooms may exist by default.
pub const MAX_LOCKED_TOPICS: usize = 1_000;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rooms: BTreeSet<String>,
}

/// The locked rooms, and their file.
#[derive(Debug)]
pub(crate) struct TopicLocks {
    /// `None`: in memory only (tests).
    path: Option<PathBuf>,
    rooms: Mutex<BTreeSet<String>>,
}

impl TopicLocks {
    #[cfg(test)]
    pub(crate) fn in_memory() -> Self {
        Self {
            path: None,
            rooms: Mutex::default(),
        }
    }

    /// The locks kept in `dir`, none if there is no file yet.
    ///
    /// # Errors
    ///
    /// The file cannot be read or is not what the server writes: one line naming it.
    pub(crate) fn open(dir: &Path) -> Result<Self, String> {
        let path = dir.join(LOCKS_FILE);
        let damaged = |why: String| {
            format!(
                "the locked topics' file '{}' is damaged: {why}; fix or remove it",
                path.display()
            )
        };
        let text = crate::private_file::read(&path, 1024 * 1024)
            .map_err(|e| format!("cannot read '{}': {e}", path.display()))?;
        let rooms = match text {
            None => BTreeSet::new(),
            Some(text) => {
                let file: File =
                    toml::from_str(&text).map_err(|e| damaged(e.message().to_owned()))?;
                if file.rooms.len() > MAX_LOCKED_TOPICS {
                    return Err(damaged(format!("more than {MAX_LOCKED_TOPICS} rooms")));
                }
                file.rooms
            }
        };
        Ok(Self {
            path: Some(path),
            rooms: Mutex::new(rooms),
        })
    }

    pub(crate) fn is_locked(&self, room_key: &str) -> bool {
        self.lock().contains(room_key)
    }

    /// Locks the room `room_key` (`locked`) or unlocks it, and writes the file.
    ///
    /// # Errors
    ///
    /// [`MAX_LOCKED_TOPICS`] rooms are locked already, or the file cannot be written;
    /// nothing changed.
    pub(crate) fn set(&self, room_key: &str, locked: bool) -> Result<(), String> {
        let mut rooms = self.lock();
        if rooms.contains(room_key) == locked {
            return Ok(());
        }
        let mut next = rooms.clone();
        if locked {
            if next.len() >= MAX_LOCKED_TOPICS {
                return Err(format!(
                    "the topics of {MAX_LOCKED_TOPICS} rooms are locked already, the most \
                     the server keeps; unlock some first"
                ));
            }
            next.insert(room_key.to_owned());
        } else {
            next.remove(room_key);
        }
        if let Some(path) = &self.path {
            let body = toml::to_string(&File {
                rooms: next.clone(),
            })
            .map_err(|e| e.to_string())?;
            let text = format!(
                "# The rooms (by the look-alike key of their name) whose topic only operators may set;\n\
                 # rewritten by the server at every lock and unlock.\n{body}"
            );
            crate::private_file::write(path, &text)
                .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
        }
        *rooms = next;
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<String>> {
        // A set replaced whole: never left half changed.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_are_kept_across_a_reopening_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let locks = TopicLocks::open(dir.path()).unwrap();
        locks.set("lobby", true).unwrap();
        locks.set("music", true).unwrap();
        locks.set("music", false).unwrap();
        let again = TopicLocks::open(dir.path()).unwrap();
        assert!(again.is_locked("lobby"));
        assert!(!again.is_locked("music"));
        let memory = TopicLocks::in_memory();
        for n in 0..MAX_LOCKED_TOPICS {
            memory.set(&format!("room{n}"), true).unwrap();
        }
        let error = memory.set("one-more", true).unwrap_err();
        assert!(error.contains("1000 rooms are locked already"), "{error}");
        std::fs::write(dir.path().join(LOCKS_FILE), "rooms = 3\n").unwrap();
        let error = TopicLocks::open(dir.path()).unwrap_err();
        assert!(error.contains("is damaged: invalid type"), "{error}");
    }
}
