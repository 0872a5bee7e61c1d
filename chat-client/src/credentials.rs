//! What the client proves at the handshake (feature `auth`): its key ([`Identity`]) and
//! the server's password, and where a program finds the password.
//!
//! The password is kept in memory only, for the reconnects; it is never written anywhere
//! and never shown (its `Debug` says only whether there is one). A program takes it from
//! a file (`--password-file`), from [`PASSWORD_ENV`], or asks for it.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use crate::identity::Identity;

/// The environment variable a password may come from.
pub const PASSWORD_ENV: &str = "CHAT_PASSWORD";

/// Longest password read from a file or the environment, in bytes: far beyond any
/// password typed, and a bound on what a mistaken path makes the client read.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The key and the password a connection proves, as far as the client has them.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The client's key; `None`: the client proves none (it can then not own a nick).
    pub identity: Option<Arc<Identity>>,
    /// The server's password, given when the server asks for one; `None`: none known
    /// (the handshake then stops with [`crate::ConnectError::NeedsPassword`]).
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("identity", &self.identity)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

/// The password in the file `path`: its first line, without the line's end. Nothing
/// else is taken off, so that a password may begin or end with spaces.
///
/// # Errors
///
/// The file cannot be read, is not text, is larger than a password, or its first line is
/// empty; the message names the file.
pub fn read_password_file(path: &Path) -> Result<String, String> {
    let error = |why: &str| format!("cannot read the password file '{}': {why}", path.display());
    let file = std::fs::File::open(path).map_err(|e| error(&e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_to_end(&mut bytes)
        .map_err(|e| error(&e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| error("it is not UTF-8 text"))?;
    let line = text.split('\n').next().unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(line);
    password_text(line).map_err(|why| error(&why))
}

/// The password in [`PASSWORD_ENV`], if it is set.
///
/// # Errors
///
/// It is set but empty, not UTF-8, or longer than [`MAX_PASSWORD_BYTES`].
pub fn password_from_env() -> Result<Option<String>, String> {
    match std::env::var(PASSWORD_ENV) {
        Ok(text) => password_text(&text)
            .map(Some)
            .map_err(|why| format!("{PASSWORD_ENV}: {why}")),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{PASSWORD_ENV} is not UTF-8")),
    }
}

/// `text` as a password: not empty, not longer than [`MAX_PASSWORD_BYTES`].
///
/// # Errors
///
/// Why it is not one.
pub fn password_text(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the password is empty".into());
    }
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "longer than {MAX_PASSWORD_BYTES} bytes, so not a password"
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        for (text, password) in [
            ("s3cret\n", "s3cret"),
            ("s3cret", "s3cret"),
            (" two words \r\nsecond line\n", " two words "),
            ("pässwörd\n", "pässwörd"),
        ] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(
                read_password_file(&path).as_deref(),
                Ok(password),
                "{text:?}"
            );
        }
        for (bytes, says) in [
            (b"\nx".to_vec(), "the password is empty"),
            (vec![0xff, 0xfe], "not UTF-8"),
            (vec![b'a'; MAX_PASSWORD_BYTES + 1], "longer than"),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let error = read_password_file(&path).unwrap_err();
            assert!(error.contains(says) && error.contains("'"), "{error}");
        }
        let error = read_password_file(&dir.path().join("none")).unwrap_err();
        assert!(error.contains("none"), "{error}");
    }

    #[test]
    fn the_password_is_never_shown() {
        let credentials = Credentials {
            identity: None,
            password: Some("hunter2".into()),
        };
        let shown = format!("{credentials:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("hidden"),
            "{shown}"
        );
    }
}
