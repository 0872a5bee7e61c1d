//! The client's own key: an Ed25519 key pair that proves who the client is, whatever its
//! nick or address (docs/PROTOCOL.md, feature `auth`). A nick registered with it can then
//! be used only by a client that holds the key, and a server's operators are named by
//! their keys.
//!
//! The key is made on first use and kept in one file, [`Identity::default_path`]
//! (`identity.key` in the user's data directory for `lanchat`, beside the servers' pins),
//! readable by the user only. It is kept as PEM, the `PRIVATE KEY` block of a PKCS#8
//! document: the standard text form, so that the file can be copied to another machine,
//! checked (`openssl pkey -in identity.key -noout -text`) or made by another tool
//! (`openssl genpkey -algorithm ed25519`).
//!
//! The file is written whole or not at all: beside its place under a name of its own, then
//! linked into place only if nothing is there yet, so that two programs starting at once
//! end up with one key, and a crash leaves no half-written key. A file that cannot be read
//! or does not hold a key is an error, never replaced: the key owns nicks, and a new one
//! would lose them.

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use shared::auth::{PublicKey, proof_message};

/// Name of the key file in the user's data directory.
pub const IDENTITY_FILE: &str = "identity.key";

/// The PEM label of a PKCS#8 private key (RFC 7468, section 10).
const PEM_TAG: &str = "PRIVATE KEY";

/// Largest key file read: an Ed25519 key in PEM is about 170 bytes; room for comments.
const MAX_FILE_BYTES: u64 = 16 * 1024;

/// Permissions of a new key file (Unix): readable and writable by the user only.
const FILE_MODE: u32 = 0o600;

/// Permissions of the data directory when the key file makes it (Unix).
const DIR_MODE: u32 = 0o700;

/// The client's key pair.
pub struct Identity {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

/// Why the key file could not be used: its path and the reason, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityError {
    pub path: PathBuf,
    pub why: String,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot use the key file '{}': {}",
            self.path.display(),
            self.why
        )
    }
}

impl std::error::Error for IdentityError {}

impl Identity {
    /// The user's key file: `identity.key` in the data directory of `lanchat`, shared by
    /// every program on this library (`$XDG_DATA_HOME/lanchat/`, else
    /// `~/.local/share/lanchat/` on Linux); `None` without a home directory.
    pub fn default_path() -> Option<PathBuf> {
        crate::trust::Pins::default_path().map(|pins| pins.with_file_name(IDENTITY_FILE))
    }

    /// A new key pair, in memory only.
    ///
    /// # Panics
    ///
    /// The system's random number generator fails.
    pub fn generate() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .expect("the system's random number generator works");
        Self::from_pkcs8(pkcs8.as_ref()).expect("ring reads the key it made")
    }

    /// The key in the file `path`, made there first if there is no file.
    ///
    /// Returns whether it was made now.
    ///
    /// # Errors
    ///
    /// The file exists and cannot be read or holds no key (it is left as it is), or it
    /// cannot be made.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), IdentityError> {
        match Self::load(path) {
            Ok(identity) => return Ok((identity, false)),
            Err(e) if !is_missing(path) => return Err(e),
            Err(_) => {}
        }
        let error = |why: String| IdentityError {
            path: path.to_owned(),
            why,
        };
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| error("the system gave no random bytes to make a key".into()))?;
        let text = pem::encode(&pem::Pem::new(PEM_TAG, pkcs8.as_ref()));
        match write_new(path, text.as_bytes()) {
            Ok(()) => {}
            // Another program made it meanwhile: that one is the key.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Self::load(path).map(|identity| (identity, false));
            }
            Err(e) => return Err(error(format!("cannot write it: {e}"))),
        }
        let identity = Self::from_pkcs8(pkcs8.as_ref()).map_err(error)?;
        Ok((identity, true))
    }

    /// The key in the file `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or holds no Ed25519 private key.
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let error = |why: String| IdentityError {
            path: path.to_owned(),
            why,
        };
        let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| error(e.to_string()))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(error(format!(
                "larger than {MAX_FILE_BYTES} bytes, so not a key"
            )));
        }
        let block = pem::parse(&bytes).map_err(|_| {
            error(format!(
                "it holds no '{PEM_TAG}' block (the file is damaged, or not a key file)"
            ))
        })?;
        if block.tag() != PEM_TAG {
            return Err(error(format!(
                "it holds a '{}' block, not a '{PEM_TAG}'",
                block.tag()
            )));
        }
        Self::from_pkcs8(block.contents()).map_err(error)
    }

    /// The key pair in a PKCS#8 document (version 1 as OpenSSL writes it, or version 2
    /// with the public key as *ring* does).
    fn from_pkcs8(document: &[u8]) -> Result<Self, String> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(document)
            .map_err(|_| "it does not hold an Ed25519 private key".to_owned())?;
        let public = PublicKey::from_bytes(pair.public_key().as_ref())
            .map_err(|e| format!("its public key is malformed: {e}"))?;
        Ok(Self { pair, public })
    }

    /// The public key: what a server knows the client by.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The signature that answers a challenge of `nonce` on a connection whose binding
    /// is `binding` ([`shared::auth::proof_message`]).
    pub fn prove(&self, nonce: &[u8], binding: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&proof_message(nonce, binding))
            .as_ref()
            .to_vec()
    }
}

impl fmt::Debug for Identity {
    /// The public key only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.public)
    }
}

/// Whether nothing is at `path` (not even a broken link).
fn is_missing(path: &Path) -> bool {
    matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == io::ErrorKind::NotFound)
}

/// Writes a new file at `path` holding `contents`, readable by the user only: written
/// beside it, flushed, then linked into place only if nothing is there
/// ([`io::ErrorKind::AlreadyExists`] then).
fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
        builder.create(&dir)?;
    }
    let mut temp = tempfile::Builder::new();
    temp.prefix(".identity.").suffix(".tmp");
    #[cfg(unix)]
    temp.permissions(std::os::unix::fs::PermissionsExt::from_mode(FILE_MODE));
    #[cfg(not(unix))]
    let _ = FILE_MODE;
    let mut temp = temp.tempfile_in(&dir)?;
    temp.write_all(contents)?;
    temp.as_file().sync_all()?;
    // On failure the temporary file is deleted as it is dropped.
    temp.persist_noclobber(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_key_is_made_once_readable_by_the_user_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lanchat").join(IDENTITY_FILE);
        let (made, created) = Identity::load_or_create(&path).unwrap();
        assert!(created);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
        let (again, created) = Identity::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.public_key(), made.public_key());
        assert_eq!(
            Identity::load(&path).unwrap().public_key(),
            made.public_key()
        );
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_damaged_key_file_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDENTITY_FILE);
        let (made, _) = Identity::load_or_create(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let cases = [
            ("garbage\n".to_owned(), "holds no 'PRIVATE KEY' block"),
            (
                text.replace("PRIVATE KEY", "CERTIFICATE"),
                "a 'CERTIFICATE' block",
            ),
            (
                pem::encode(&pem::Pem::new(PEM_TAG, vec![1, 2, 3])),
                "does not hold an Ed25519 private key",
            ),
            (text[..text.len() / 2].to_owned(), "holds no 'PRIVATE KEY'"),
            ("x".repeat(20_000), "larger than"),
        ];
        for (damaged, says) in cases {
            std::fs::write(&path, &damaged).unwrap();
            let error = Identity::load_or_create(&path).unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
            assert!(error.contains(IDENTITY_FILE), "names the file: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                damaged,
                "not replaced"
            );
        }
        // Unreadable: refused too, never made anew.
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&path).is_err() {
            let error = Identity::load_or_create(&path).unwrap_err().to_string();
            assert!(error.contains("ermission denied"), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            Identity::load(&path).unwrap().public_key(),
            made.public_key()
        );
    }

    #[test]
    fn a_key_made_by_openssl_is_read() {
        // `openssl genpkey -algorithm ed25519`: PKCS#8 version 1, without the public key.
        let openssl = "-----BEGIN PRIVATE KEY-----\n\
                       MC4CAQAwBQYDK2VwBCIEIHEX9p8bWCHOBT8ak6spT53jqsq2CTXfqVw9D6Y6hbKO\n\
                       -----END PRIVATE KEY-----\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(IDENTITY_FILE);
        std::fs::write(&path, openssl).unwrap();
        let identity = Identity::load(&path).unwrap();
        assert_eq!(identity.public_key().hex().len(), 64);
    }

    #[test]
    fn a_proof_verifies_with_the_public_key_for_its_session_only() {
        let identity = Identity::generate();
        let (nonce, binding) = ([3; 32], [4; 32]);
        let signature = identity.prove(&nonce, &binding);
        assert_eq!(signature.len(), shared::auth::SIGNATURE_BYTES);
        let key = identity.public_key();
        assert_eq!(key.verify(&nonce, &binding, &signature), Ok(()));
        assert!(key.verify(&nonce, &[5; 32], &signature).is_err());
        assert!(key.verify(&[9; 32], &binding, &signature).is_err());
        assert!(
            Identity::generate()
                .public_key()
                .verify(&nonce, &binding, &signature)
                .is_err()
        );
    }
}
