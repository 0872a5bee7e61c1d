//! The bans operators give: by IP address, or by key (a client's proved Ed25519 key), each
//! until a time or until lifted. They are kept in `bans.toml` in the data directory,
//! rewritten whole (to a temporary file, then renamed over the old one, readable by the
//! server's user only) at every change, so that they survive restarts and a crash never
//! leaves half a file. The file is read at start, where a file that cannot be used stops
//! the server in one line, and again on SIGHUP, where it keeps the bans in force.
//!
//! An expired ban is gone: it is not enforced, not listed, and not written again at the
//! next change. At most [`MAX_BANS`] bans are kept, so the file and every check stay small.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use shared::BanInfo;
use shared::auth::PublicKey;
use shared::limits::{MAX_NICK_CHARS, MAX_REASON_BYTES};

/// Name of the bans' file in the data directory.
pub const BANS_FILE: &str = "bans.toml";

/// Most bans kept at once; one more is refused until some are lifted or expire. A LAN has
/// a handful of troublemakers; a thousand bans is a file of some 200 KB, read at start and
/// searched at every login without noticeable cost.
pub const MAX_BANS: usize = 1_000;

/// Largest bans' file read: [`MAX_BANS`] bans of the longest reason, nick and key, with
/// room to spare. A larger file is not the server's and is refused.
pub const MAX_BANS_FILE_BYTES: u64 = 1024 * 1024;

/// What a ban keeps out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// Every connection from this address (an IPv4 address seen through IPv6 is itself).
    Address(IpAddr),
    /// Every client that proves this key, from any address.
    Key(PublicKey),
}

impl Target {
    /// An address or a key, as an operator or the file writes it.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(ip) = IpAddr::from_str(text) {
            return Some(Self::Address(ip.to_canonical()));
        }
        PublicKey::parse(text).ok().map(Self::Key)
    }
}

impl fmt::Display for Target {
    /// An address as usual, a key as 64 hex digits (`PublicKey::hex`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(ip) => ip.fmt(f),
            Self::Key(key) => f.write_str(&key.hex()),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "'{text}' is neither an IP address nor a key of 64 hex digits"
            ))
        })
    }
}

/// One ban, as kept in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ban {
    pub(crate) target: Target,
    /// The nick the ban named, when it named one (for the list, and to lift it by nick).
    #[serde(default)]
    pub(crate) nick: String,
    /// When it ends, milliseconds since the Unix epoch; 0: until lifted.
    #[serde(default)]
    pub(crate) until_ms: u64,
    #[serde(default)]
    pub(crate) reason: String,
    /// The operator's nick.
    #[serde(default)]
    pub(crate) by: String,
}

impl Ban {
    fn in_force(&self, now_ms: u64) -> bool {
        self.until_ms == 0 || self.until_ms > now_ms
    }

    /// What a client the ban keeps out is told: who, for how long still, and why.
    pub(crate) fn text(&self, now_ms: u64) -> String {
        let how_long = match self.until_ms {
            0 => "until unbanned".to_owned(),
            until => {
                let secs = until.saturating_sub(now_ms).div_ceil(1000);
                format!("for {} more", shared::units::duration(secs))
            }
        };
        let by = match self.by.as_str() {
            "" => "banned".to_owned(),
            by => format!("banned by {by}"),
        };
        match self.reason.as_str() {
            "" => format!("{by} {how_long}"),
            reason => format!("{by} {how_long}: {reason}"),
        }
    }

    fn info(&self) -> BanInfo {
        BanInfo {
            target: self.target.to_string(),
            nick: self.nick.clone(),
            until_ms: self.until_ms,
            reason: self.reason.clone(),
            by: self.by.clone(),
        }
    }
}

/// The file's layout: a list of `[[ban]]` tables.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    ban: Vec<Ban>,
}

/// A bans' file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BansError {
    #[error("cannot read the bans' file '{}': {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the bans' file '{}' is damaged: {why}; fix or remove it", path.display())]
    Damaged { path: PathBuf, why: String },
    #[error("cannot write the bans' file '{}': {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// A ban refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddError {
    /// [`MAX_BANS`] are in force already.
    Full,
    /// The file could not be written; the ban is not in force.
    Unwritten(String),
}

/// The bans in force, and their file.
#[derive(Debug)]
pub(crate) struct Bans {
    /// `None`: kept in memory only (a server without a data directory of its own, in
    /// tests of the registry).
    path: Option<PathBuf>,
    bans: Mutex<Vec<Ban>>,
    /// Held by whoever changes the bans (an operator's request, a reload) from reading
    /// them to putting the new ones in force, across the file's write and its fsync: the
    /// changes follow one another, and the handshakes' checks ([`Bans::find`]), which take
    /// only `bans`, never wait for the disk.
    changing: Mutex<()>,
}

impl Bans {
    /// Bans kept in memory only.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Self {
        Self {
            path: None,
            bans: Mutex::default(),
            changing: Mutex::default(),
        }
    }

    /// The bans kept in `dir` ([`BANS_FILE`]), none if there is no file yet. Expired ones
    /// are dropped.
    pub(crate) fn open(dir: &Path, now_ms: u64) -> Result<Self, BansError> {
        let path = dir.join(BANS_FILE);
        let bans = read(&path, now_ms)?;
        Ok(Self {
            path: Some(path),
            bans: Mutex::new(bans),
            changing: Mutex::default(),
        })
    }

    /// Reads the file again (edited by hand), in place of the bans in memory. On an error
    /// the bans in force stay as they were. Returns how many are in force.
    pub(crate) fn reload(&self, now_ms: u64) -> Result<usize, BansError> {
        let Some(path) = &self.path else {
            return Ok(self.lock().len());
        };
        let _changing = self.changing();
        let bans = read(path, now_ms)?;
        let count = bans.len();
        *self.lock() = bans;
        Ok(count)
    }

    /// Puts `bans` in force (replacing any on the same target) and writes the file. All or
    /// nothing: on an error none is in force.
    pub(crate) fn add(&self, new: Vec<Ban>, now_ms: u64) -> Result<(), AddError> {
        let _changing = self.changing();
        let mut next: Vec<Ban> = self
            .lock()
            .iter()
            .filter(|b| b.in_force(now_ms) && !new.iter().any(|n| n.target == b.target))
            .cloned()
            .collect();
        next.extend(new);
        if next.len() > MAX_BANS {
            return Err(AddError::Full);
        }
        self.write(&next)
            .map_err(|e| AddError::Unwritten(e.to_string()))?;
        *self.lock() = next;
        Ok(())
    }

    /// Lifts the bans on `target` (an address, a key) or given under the nick `target`
    /// (as names compare), and writes the file. Returns the bans lifted.
    pub(crate) fn remove(&self, target: &str, now_ms: u64) -> Result<Vec<Ban>, BansError> {
        let parsed = Target::parse(target);
        let named = |b: &Ban| {
            Some(b.target) == parsed
                || (!b.nick.is_empty() && shared::names::same_name(&b.nick, target))
        };
        let _changing = self.changing();
        let (lifted, kept): (Vec<Ban>, Vec<Ban>) = self
            .lock()
            .iter()
            .filter(|b| b.in_force(now_ms))
            .cloned()
            .partition(|b| named(b));
        if lifted.is_empty() {
            return Ok(lifted);
        }
        self.write(&kept)?;
        *self.lock() = kept;
        Ok(lifted)
    }

    /// The ban in force that keeps out a client from `ip` with `key`, if any (the
    /// address's first).
    pub(crate) fn find(
        &self,
        ip: Option<IpAddr>,
        key: Option<&PublicKey>,
        now_ms: u64,
    ) -> Option<Ban> {
        let targets = [
            ip.map(|ip| Target::Address(ip.to_canonical())),
            key.map(|k| Target::Key(*k)),
        ];
        let bans = self.lock();
        targets.iter().flatten().find_map(|target| {
            bans.iter()
                .find(|b| b.target == *target && b.in_force(now_ms))
                .cloned()
        })
    }

    /// The bans in force, in the order given.
    pub(crate) fn list(&self, now_ms: u64) -> Vec<BanInfo> {
        self.lock()
            .iter()
            .filter(|b| b.in_force(now_ms))
            .map(Ban::info)
            .collect()
    }

    /// Writes `bans` to the file: a temporary file beside it, readable and writable by
    /// this user only, synced, then renamed over the old one. A few kilobytes, written
    /// only when an operator bans or lifts a ban.
    fn write(&self, bans: &[Ban]) -> Result<(), BansError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let error = |error| BansError::Write {
            path: path.clone(),
            error,
        };
        let body = toml::to_string(&File { ban: bans.to_vec() })
            .map_err(|e| error(std::io::Error::other(e.to_string())))?;
        let text = format!(
            "# chat-server's bans, rewritten by the server at every ban and unban. Each has a\n\
             # target (an IP address or a key of 64 hex digits), and may have a nick, until_ms\n\
             # (when it ends, milliseconds since 1970 UTC; 0 or none: until unbanned), a reason\n\
             # and by (the operator). Edited by hand, SIGHUP makes the server read it again.\n\n\
             {body}"
        );
        crate::private_file::write(path, &text).map_err(error)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Ban>> {
        // A list replaced whole: a panic elsewhere cannot leave it half changed.
        self.bans.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changing(&self) -> MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The bans in force in the file at `path`; none if there is no file.
fn read(path: &Path, now_ms: u64) -> Result<Vec<Ban>, BansError> {
    let text =
        crate::private_file::read(path, MAX_BANS_FILE_BYTES).map_err(|error| BansError::Read {
            path: path.to_owned(),
            error,
        })?;
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let damaged = |why: String| BansError::Damaged {
        path: path.to_owned(),
        why,
    };
    let file: File = toml::from_str(&text).map_err(|e| {
        // toml's message spans several lines (the line quoted, a caret): the first says it.
        let message = e.message().to_owned();
        match e.span() {
            Some(span) => {
                let line = text[..span.start].matches('\n').count() + 1;
                damaged(format!("line {line}: {message}"))
            }
            None => damaged(message),
        }
    })?;
    // Cut as a request would be, so that a list of them fits in one answer.
    let bans: Vec<Ban> = file
        .ban
        .into_iter()
        .filter(|b| b.in_force(now_ms))
        .map(|b| Ban {
            nick: cut(b.nick, 4 * MAX_NICK_CHARS),
            reason: cut(b.reason, MAX_REASON_BYTES),
            by: cut(b.by, 4 * MAX_NICK_CHARS),
            ..b
        })
        .collect();
    if bans.len() > MAX_BANS {
        return Err(damaged(format!(
            "it holds {} bans in force, more than the {MAX_BANS} a server keeps",
            bans.len()
        )));
    }
    Ok(bans)
}

/// `text` cut to at most `max` bytes, on a character's boundary.
pub(crate) fn cut(text: String, max: usize) -> String {
    let end = shared::text::cut(&text, max).len();
    let mut text = text;
    text.truncate(end);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn ban(target: &str, until_ms: u64) -> Ban {
        Ban {
            target: Target::parse(target).unwrap(),
            nick: "bob".into(),
            until_ms,
            reason: "spam".into(),
            by: "ann".into(),
        }
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn bans_are_kept_in_a_private_file_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let bans = Bans::open(dir.path(), NOW).unwrap();
        let key = PublicKey::from_bytes(&[7; 32]).unwrap();
        bans.add(vec![ban("10.0.0.7", 0), ban(&key.hex(), NOW + 60_000)], NOW)
            .unwrap();
        let again = Bans::open(dir.path(), NOW).unwrap();
        assert_eq!(again.list(NOW), bans.list(NOW));
        assert_eq!(again.list(NOW).len(), 2);
        assert!(again.find(ip("10.0.0.7"), None, NOW).is_some());
        // An IPv4 address seen through an IPv6 socket is the same address.
        assert!(again.find(ip("::ffff:10.0.0.7"), None, NOW).is_some());
        assert!(again.find(ip("10.0.0.8"), Some(&key), NOW).is_some());
        assert!(again.find(ip("10.0.0.8"), None, NOW).is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(BANS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!dir.path().join("bans.toml.tmp").exists());
    }

    #[test]
    fn an_expired_ban_is_gone_and_dropped_at_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let bans = Bans::open(dir.path(), NOW).unwrap();
        bans.add(vec![ban("10.0.0.7", NOW + 1000)], NOW).unwrap();
        assert!(bans.find(ip("10.0.0.7"), None, NOW + 999).is_some());
        let later = NOW + 1000;
        assert!(bans.find(ip("10.0.0.7"), None, later).is_none());
        assert!(bans.list(later).is_empty());
        assert!(
            Bans::open(dir.path(), later)
                .unwrap()
                .list(later)
                .is_empty()
        );
        bans.add(vec![ban("10.0.0.9", 0)], later).unwrap();
        let text = std::fs::read_to_string(dir.path().join(BANS_FILE)).unwrap();
        assert!(!text.contains("10.0.0.7"), "{text}");
        assert!(text.contains("10.0.0.9"), "{text}");
    }

    #[test]
    fn bans_are_bounded_and_a_ban_again_replaces_the_first() {
        let bans = Bans::in_memory();
        let many: Vec<Ban> = (0..MAX_BANS)
            .map(|n| ban(&format!("10.{}.{}.1", n / 256, n % 256), 0))
            .collect();
        bans.add(many, NOW).unwrap();
        assert_eq!(
            bans.add(vec![ban("192.168.0.1", 0)], NOW),
            Err(AddError::Full)
        );
        // The same target again: replaced, not added.
        bans.add(vec![ban("10.0.0.1", NOW + 5)], NOW).unwrap();
        assert_eq!(bans.list(NOW).len(), MAX_BANS);
        // Once some expire, there is room again.
        bans.add(vec![ban("192.168.0.1", 0)], NOW + 10).unwrap();
    }

    #[test]
    fn lifting_goes_by_target_or_by_nick() {
        let bans = Bans::in_memory();
        let key = PublicKey::from_bytes(&[9; 32]).unwrap();
        bans.add(vec![ban("10.0.0.7", 0), ban(&key.to_string(), 0)], NOW)
            .unwrap();
        bans.add(
            vec![Ban {
                nick: "carol".into(),
                ..ban("10.0.0.8", 0)
            }],
            NOW,
        )
        .unwrap();
        assert_eq!(bans.remove("10.0.0.8", NOW).unwrap().len(), 1);
        assert_eq!(bans.remove("nobody", NOW).unwrap().len(), 0);
        // By the nick they named: its address and its key.
        assert_eq!(bans.remove("BOB", NOW).unwrap().len(), 2);
        assert!(bans.list(NOW).is_empty());
    }

    #[test]
    fn a_damaged_file_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(BANS_FILE);
        for (text, expected) in [
            (
                "[[ban]]\ntarget = \"10.0.0.7\"\nuntil_ms = \"soon\"\n",
                "line 3: invalid type",
            ),
            (
                "[[ban]]\ntarget = \"bob\"\n",
                "'bob' is neither an IP address nor a key",
            ),
            ("not toml at all", "line 1"),
            (
                "[[ban]]\ntarget = \"10.0.0.7\"\ncolour = 1\n",
                "unknown field `colour`",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = Bans::open(dir.path(), NOW).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("the bans' file '{}' is damaged: ", path.display())),
                "{error}"
            );
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
        // A hand edit that breaks the file keeps the bans in force at a reload.
        std::fs::write(&path, "[[ban]]\ntarget = \"10.0.0.7\"\n").unwrap();
        let bans = Bans::open(dir.path(), NOW).unwrap();
        std::fs::write(&path, "[[ban]\n").unwrap();
        assert!(bans.reload(NOW).is_err());
        assert!(bans.find(ip("10.0.0.7"), None, NOW).is_some());
    }

    #[test]
    fn the_text_says_who_how_long_and_why() {
        assert_eq!(
            ban("10.0.0.7", NOW + 3_600_000).text(NOW),
            "banned by ann for 1h00m more: spam"
        );
        let forever = Ban {
            reason: String::new(),
            ..ban("10.0.0.7", 0)
        };
        assert_eq!(forever.text(NOW), "banned by ann until unbanned");
    }
}
