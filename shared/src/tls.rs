//! TLS as both ends use it (with the feature `tls`): the one crypto provider of the build,
//! the protocol version, the fingerprint of a server's key, and the first byte that tells
//! a TLS stream from a plaintext one.
//!
//! # The fingerprint
//!
//! A server is known by the SHA-256 of its public key (the DER SubjectPublicKeyInfo of its
//! certificate), not of the certificate: a certificate can be made again for the same key
//! without breaking anyone's pin. It is written two ways:
//!
//! - for people ([`Fingerprint`]'s `Display`): 64 lowercase hex digits in 16 groups of 4
//!   joined by `:`, such as `3f2a:9c01:…`, short enough to read aloud group by group;
//! - stored (the pin files, the `fp` key of the LAN announcement): the same 64 digits
//!   without separators ([`Fingerprint::hex`]).
//!
//! [`Fingerprint::parse`] reads either, in either case, and ignores spaces, `:` and `-`
//! between digits.
//!
//! # Plaintext or TLS: the first byte
//!
//! A TLS client's first bytes are a TLS record, whose first byte is
//! [`TLS_HANDSHAKE_RECORD`] (`0x16`). A plaintext frame starts with its 4-byte big-endian
//! length, below 16 MiB, so its first byte is `0x00`. Each end looks at that byte to say
//! in one line that the other speaks the other way (docs/PROTOCOL.md, section 1).

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::ParsedCertificate;
use sha2::{Digest, Sha256};

/// The first byte of a TLS handshake record: what a TLS client sends first.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Whether a stream whose first byte is `first` carries TLS rather than frames.
pub fn is_tls(first: u8) -> bool {
    first == TLS_HANDSHAKE_RECORD
}

/// Whether `first`, the first byte a peer sent, starts a plaintext frame: its length's
/// high byte, 0 for every frame the protocol allows. A TLS alert (`0x15`) is not one.
pub fn is_plaintext_frame(first: u8) -> bool {
    first == 0
}

/// What a TLS server tells a plaintext client, in a plaintext `Error` frame
/// (docs/PROTOCOL.md, section 1).
pub const TLS_ONLY: &str = "this server uses TLS: connect without --plaintext";

/// What a plaintext server tells a TLS client, in a plaintext `Error` frame; what a TLS
/// client says when the server answers in plaintext.
pub const NOT_TLS: &str = "this server does not use TLS: connect with --plaintext";

/// The TLS versions both ends speak: 1.3 only.
pub static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// The crypto provider of every TLS configuration in the build: *ring*'s. Configurations
/// are built with it explicitly (`builder_with_provider`), never from a process default,
/// so that no other provider pulled in by a dependency can make rustls panic.
///
/// Its TLS 1.3 cipher suites are *ring*'s, AES-128-GCM first: a server picks the first
/// of its own order that the client offers, and AES-128 does the work of AES-256 in 10
/// rounds instead of 14, on every byte of every delivery, with a security margin a chat
/// on a LAN does not need more of.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| {
        use rustls::crypto::ring::{cipher_suite, default_provider};
        Arc::new(CryptoProvider {
            cipher_suites: vec![
                cipher_suite::TLS13_AES_128_GCM_SHA256,
                cipher_suite::TLS13_AES_256_GCM_SHA384,
                cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            ],
            ..default_provider()
        })
    }))
}

/// Digits in a fingerprint: a SHA-256 digest in hex.
pub const FINGERPRINT_DIGITS: usize = 64;

/// The SHA-256 of a server's public key (its DER SubjectPublicKeyInfo).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER SubjectPublicKeyInfo.
    pub fn of_public_key(spki_der: &[u8]) -> Self {
        Self(Sha256::digest(spki_der).into())
    }

    /// The fingerprint of the public key in a DER certificate.
    ///
    /// # Errors
    ///
    /// The certificate cannot be parsed; the error says why, in rustls's words.
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Result<Self, rustls::Error> {
        let parsed = ParsedCertificate::try_from(cert)?;
        Ok(Self::of_public_key(&parsed.subject_public_key_info()))
    }

    /// The 64 lowercase hex digits without separators: the stored form.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a fingerprint written either way (see the module's doc).
    ///
    /// # Errors
    ///
    /// A sentence for a person: what is wrong with `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_hex32(text, "a fingerprint").map(Self)
    }
}

/// 32 bytes written as 64 hex digits, in either case, with any spaces, `:` and `-`
/// between them: how fingerprints and keys are read. `what` names the thing in the
/// error, a sentence for a person.
pub(crate) fn parse_hex32(text: &str, what: &str) -> Result<[u8; 32], String> {
    let mut digits = Vec::with_capacity(FINGERPRINT_DIGITS);
    for c in text.chars() {
        match c {
            ' ' | ':' | '-' => {}
            c => match c.to_digit(16) {
                Some(d) => digits.push(d as u8),
                None => {
                    return Err(format!(
                        "{what} is {FINGERPRINT_DIGITS} hex digits (0-9, a-f), \
                         and '{c}' is not one"
                    ));
                }
            },
        }
    }
    if digits.len() != FINGERPRINT_DIGITS {
        return Err(format!(
            "{what} is {FINGERPRINT_DIGITS} hex digits, and this has {}",
            digits.len()
        ));
    }
    let mut bytes = [0; 32];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = pair[0] << 4 | pair[1];
    }
    Ok(bytes)
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_grouped(f, &self.0)
    }
}

/// 32 bytes as people read them: 16 groups of 4 lowercase hex digits joined by `:`, the
/// form fingerprints and keys are shown in.
pub(crate) fn write_grouped(f: &mut fmt::Formatter<'_>, bytes: &[u8; 32]) -> fmt::Result {
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        if i > 0 {
            f.write_str(":")?;
        }
        write!(f, "{:02x}{:02x}", pair[0], pair[1])?;
    }
    Ok(())
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_back_in_every_form() {
        let fp = Fingerprint::of_public_key(b"key");
        let shown = fp.to_string();
        assert_eq!(shown.len(), 64 + 15);
        assert_eq!(shown.split(':').count(), 16);
        assert_eq!(Fingerprint::parse(&shown), Ok(fp));
        assert_eq!(Fingerprint::parse(&fp.hex()), Ok(fp));
        assert_eq!(Fingerprint::parse(&shown.to_uppercase()), Ok(fp));
        assert_eq!(Fingerprint::parse(&shown.replace(':', " ")), Ok(fp));
        assert_eq!(fp.hex().len(), FINGERPRINT_DIGITS);
    }

    #[test]
    fn a_bad_fingerprint_says_why() {
        assert_eq!(
            Fingerprint::parse("abcd:zz"),
            Err("a fingerprint is 64 hex digits (0-9, a-f), and 'z' is not one".into())
        );
        assert_eq!(
            Fingerprint::parse("abcd"),
            Err("a fingerprint is 64 hex digits, and this has 4".into())
        );
    }

    #[test]
    fn frames_and_tls_records_start_apart() {
        assert!(is_tls(0x16));
        // A frame's first byte: its length is below 16 MiB.
        assert!(!is_tls(0x00));
        const { assert!(crate::limits::MAX_FRAME_LEN < 1 << 24) };
    }
}
