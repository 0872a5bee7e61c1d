//! Trust on first use: the servers' keys this user has accepted ("pins"), and why a key
//! is refused ([`TrustError`]).
//!
//! A pin is the fingerprint of a server's public key (`shared::tls::Fingerprint`), kept
//! under the server's identity: its name as announced on the LAN when it was found that
//! way, else the `HOST:PORT` the user gave. Addresses move on a LAN (DHCP); a name the
//! user picked stays. The pins live in one text file, [`Pins::default_path`]: one line a
//! server, `FINGERPRINT IDENTITY` (64 hex digits, a space, the identity to the end of the
//! line), at most [`MAX_PINS`] of them.
//!
//! The rules are SSH's: the first connection to a server shows its fingerprint and asks
//! (or takes `--trust FINGERPRINT`); from then on another key is refused, never asked
//! about, and the only way past it is to forget the old pin on purpose (`--forget`).

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use shared::tls::Fingerprint;

/// Name of the pin file in the user's data directory.
pub const PINS_FILE: &str = "known_servers";

/// Most pins the file holds; a longer file is refused as damaged rather than read
/// without bound.
pub const MAX_PINS: usize = 10_000;

/// Longest identity kept, in bytes: a server's name is at most 63, an address less.
const MAX_IDENTITY_BYTES: usize = 255;

/// Largest pin file read: [`MAX_PINS`] lines of the longest fingerprint and identity, and
/// room for comments.
const MAX_FILE_BYTES: u64 = (MAX_PINS * (64 + 1 + MAX_IDENTITY_BYTES + 1)) as u64 + 64 * 1024;

/// The pin file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    path: PathBuf,
}

impl Pins {
    /// The pins in the file `path` (which may not exist yet).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The user's pin file: `known_servers` in the data directory of `lanchat`, shared by
    /// every program on this library (`$XDG_DATA_HOME/lanchat/`, else
    /// `~/.local/share/lanchat/` on Linux); `None` without a home directory.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "lanchat")
            .map(|dirs| dirs.data_dir().join(PINS_FILE))
    }

    /// The user's pin file ([`Pins::default_path`]); `None` without a home directory.
    pub fn of_user() -> Option<Self> {
        Self::default_path().map(Self::at)
    }

    /// Where the pins are kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pin of `identity`, if the user accepted a key for it.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or is damaged; the message names it.
    pub fn get(&self, identity: &str) -> io::Result<Option<Fingerprint>> {
        // As `add` kept it.
        let identity = clean(identity);
        Ok(self
            .read()?
            .into_iter()
            .find(|(id, _)| *id == identity)
            .map(|(_, fp)| fp))
    }

    /// Keeps `fingerprint` as the pin of `identity`, replacing any other.
    ///
    /// # Errors
    ///
    /// The file or its directory cannot be read or written; the message names it.
    pub fn add(&self, identity: &str, fingerprint: Fingerprint) -> io::Result<()> {
        let identity = clean(identity);
        let mut pins = self.read()?;
        pins.retain(|(id, _)| *id != identity);
        pins.push((identity, fingerprint));
        self.write(&pins)
    }

    /// Forgets the pin of `identity`; whether there was one.
    ///
    /// # Errors
    ///
    /// As [`Pins::add`].
    pub fn forget(&self, identity: &str) -> io::Result<bool> {
        let identity = clean(identity);
        let mut pins = self.read()?;
        let before = pins.len();
        pins.retain(|(id, _)| *id != identity);
        if pins.len() == before {
            return Ok(false);
        }
        self.write(&pins)?;
        Ok(true)
    }

    fn read(&self) -> io::Result<Vec<(String, Fingerprint)>> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error(&e.to_string())),
        };
        // Read no more than a full file can hold, whatever is there.
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| self.error(&e.to_string()))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(self.error(&format!("larger than {MAX_FILE_BYTES} bytes")));
        }
        let mut pins = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((fp, identity)) = line.split_once(' ') else {
                return Err(self.error(&format!("line {} holds no server", n + 1)));
            };
            let fp =
                Fingerprint::parse(fp).map_err(|e| self.error(&format!("line {}: {e}", n + 1)))?;
            if pins.len() == MAX_PINS {
                return Err(self.error(&format!("more than {MAX_PINS} servers")));
            }
            pins.push((clean(identity), fp));
        }
        Ok(pins)
    }

    fn write(&self, pins: &[(String, Fingerprint)]) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.error(&e.to_string()))?;
        }
        let mut text = String::from(
            "# Servers whose keys were accepted: SHA-256 of the key, then the server.\n",
        );
        for (identity, fp) in pins {
            text.push_str(&format!("{} {identity}\n", fp.hex()));
        }
        // Written aside, then renamed over: a crash leaves the old file or the new.
        let aside = self.path.with_extension("new");
        std::fs::write(&aside, text)
            .and_then(|()| std::fs::rename(&aside, &self.path))
            .map_err(|e| self.error(&e.to_string()))
    }

    fn error(&self, why: &str) -> io::Error {
        io::Error::other(format!(
            "cannot use the known servers file '{}': {why}",
            self.path.display()
        ))
    }
}

/// An identity as a pin keeps it: one line, bounded.
/// `text` as one word for a POSIX shell, quoted so that pasting the command runs nothing
/// else, whatever a server called itself.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn clean(identity: &str) -> String {
    let one_line: String = identity
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    shared::text::cut(one_line.trim(), MAX_IDENTITY_BYTES).to_owned()
}

/// Why a server's key was not accepted; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustError {
    /// No key was accepted for this server yet.
    Unknown { identity: String, seen: Fingerprint },
    /// The server's key is not the one accepted before.
    Changed {
        identity: String,
        pinned: Fingerprint,
        seen: Fingerprint,
    },
    /// `--trust` named another key than the server's.
    NotTrusted {
        identity: String,
        given: Fingerprint,
        seen: Fingerprint,
    },
}

impl TrustError {
    /// The server's identity, as the pins keep it.
    pub fn identity(&self) -> &str {
        match self {
            Self::Unknown { identity, .. }
            | Self::Changed { identity, .. }
            | Self::NotTrusted { identity, .. } => identity,
        }
    }

    /// The fingerprint of the key the server presented.
    pub fn seen(&self) -> Fingerprint {
        match self {
            Self::Unknown { seen, .. }
            | Self::Changed { seen, .. }
            | Self::NotTrusted { seen, .. } => *seen,
        }
    }
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { identity, seen } => write!(
                f,
                "the server {identity} is not known yet; its key's fingerprint is {seen}. \
                 If the server's operator shows the same one (the server prints it beside \
                 'listening on'), connect again with --trust {seen}"
            ),
            Self::Changed {
                identity,
                pinned,
                seen,
            } => write!(
                f,
                "REFUSED: the key of the server {identity} has changed. It was {pinned}, it \
                 is now {seen}. Someone may be posing as the server; or its operator gave it \
                 a new key: ask them. If the new key is right, forget the old one with \
                 chat-tui --forget {}, then connect again",
                shell_quoted(&clean(identity))
            ),
            Self::NotTrusted {
                identity,
                given,
                seen,
            } => write!(
                f,
                "REFUSED: the server {identity} presented the key {seen}, not {given} as \
                 --trust says"
            ),
        }
    }
}

impl std::error::Error for TrustError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_kept_replaced_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::at(dir.path().join("sub").join(PINS_FILE));
        let (a, b) = (
            Fingerprint::of_public_key(b"a"),
            Fingerprint::of_public_key(b"b"),
        );
        assert_eq!(pins.get("Office chat").unwrap(), None);
        pins.add("Office chat", a).unwrap();
        pins.add("10.0.0.2:7878", b).unwrap();
        assert_eq!(pins.get("Office chat").unwrap(), Some(a));
        pins.add("Office chat", b).unwrap();
        assert_eq!(pins.get("Office chat").unwrap(), Some(b));
        assert!(pins.forget("Office chat").unwrap());
        assert!(!pins.forget("Office chat").unwrap());
        assert_eq!(pins.get("Office chat").unwrap(), None);
        assert_eq!(pins.get("10.0.0.2:7878").unwrap(), Some(b));
    }

    #[test]
    fn an_identity_is_found_as_it_was_kept() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::at(dir.path().join(PINS_FILE));
        let a = Fingerprint::of_public_key(b"a");
        let long = "x".repeat(MAX_IDENTITY_BYTES + 10);
        for identity in ["  Office\tchat ", long.as_str()] {
            pins.add(identity, a).unwrap();
            assert_eq!(pins.get(identity).unwrap(), Some(a), "{identity:?}");
        }
    }

    #[test]
    fn a_pin_file_too_large_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PINS_FILE);
        let comment = format!("# {}\n", "x".repeat(1000));
        let file = comment.repeat(usize::try_from(MAX_FILE_BYTES).unwrap() / 1000 + 10);
        std::fs::write(&path, file).unwrap();
        let error = Pins::at(&path).get("server").unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
    }

    #[test]
    fn a_server_name_is_one_word_in_the_forget_command() {
        let a = Fingerprint::of_public_key(b"a");
        let text = TrustError::Changed {
            identity: "x'$(touch pwned)'".into(),
            pinned: a,
            seen: a,
        }
        .to_string();
        assert!(
            text.contains(r"chat-tui --forget 'x'\''$(touch pwned)'\''', then"),
            "{text}"
        );
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PINS_FILE);
        std::fs::write(&path, "nothex server\n").unwrap();
        let error = Pins::at(&path).get("server").unwrap_err().to_string();
        assert!(error.contains("known_servers"), "{error}");
        assert!(error.contains("line 1"), "{error}");
    }

    #[test]
    fn a_changed_key_says_what_changed_and_how_to_forget() {
        let (a, b) = (
            Fingerprint::of_public_key(b"a"),
            Fingerprint::of_public_key(b"b"),
        );
        let text = TrustError::Changed {
            identity: "127.0.0.1:7878".into(),
            pinned: a,
            seen: b,
        }
        .to_string();
        assert!(text.contains(&a.to_string()) && text.contains(&b.to_string()));
        assert!(
            text.contains("chat-tui --forget '127.0.0.1:7878'"),
            "{text}"
        );
    }
}
