//! Keys and what proves them (feature `tls`; docs/PROTOCOL.md, feature `auth`).
//!
//! A client may hold an Ed25519 key pair. At the handshake the server sends a
//! [`Challenge`](crate::ServerMsg::Challenge) with 32 random bytes, and the client signs
//! [`proof_message`]: a fixed context, the nonce, and the *binding*, 32 bytes exported
//! from the TLS session under [`EXPORTER_LABEL`] (empty on a plaintext connection). The
//! binding ties the signature to this one TLS session: a relay in the middle holds two
//! sessions with two different exports, so a signature it passes on proves nothing to the
//! server at the other end.
//!
//! Ed25519 is *ring*'s, the crypto provider TLS already uses: no second crypto library.
//!
//! A key is written as 64 lowercase hex digits ([`PublicKey::hex`]), the form of the
//! server's configuration (`operators`) and of `BanInfo::target`; [`PublicKey::parse`]
//! also reads the grouped form (`3f2a:9c01:…`) that [`PublicKey`]'s `Display` shows.

use std::fmt;

use ring::signature::{ED25519, UnparsedPublicKey};

use crate::tls::{parse_hex32, write_grouped};

/// Bytes in a challenge's nonce.
pub const NONCE_BYTES: usize = 32;

/// Bytes in an Ed25519 public key.
pub const KEY_BYTES: usize = 32;

/// Bytes in an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;

/// The label under which both ends export the binding from the TLS session (RFC 8446,
/// section 7.5), with no context.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-lanchat-auth";

/// Bytes exported from the TLS session as the binding.
pub const BINDING_BYTES: usize = 32;

/// What the signature is over, so that it can mean nothing else: this context (with its
/// version), then the nonce, then the binding.
const CONTEXT: &[u8] = b"lanchat auth 1\0";

/// The bytes a client signs to answer a challenge: [`CONTEXT`], `nonce`, `binding`.
pub fn proof_message(nonce: &[u8], binding: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(CONTEXT.len() + nonce.len() + binding.len());
    message.extend_from_slice(CONTEXT);
    message.extend_from_slice(nonce);
    message.extend_from_slice(binding);
    message
}

/// An Ed25519 public key: who a client is, whatever its nick or address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_BYTES]);

/// Why a proof was refused, for the server's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("a key is {KEY_BYTES} bytes, not {0}")]
    KeyLength(usize),
    #[error("the signature does not verify")]
    BadSignature,
}

impl PublicKey {
    /// The key in `bytes`, which must be [`KEY_BYTES`] long.
    ///
    /// # Errors
    ///
    /// `bytes` is not a key's length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| ProofError::KeyLength(bytes.len()))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    /// Whether `signature` signs [`proof_message`]`(nonce, binding)` with this key.
    ///
    /// # Errors
    ///
    /// The signature does not verify (including one of the wrong length).
    pub fn verify(&self, nonce: &[u8], binding: &[u8], signature: &[u8]) -> Result<(), ProofError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&proof_message(nonce, binding), signature)
            .map_err(|_| ProofError::BadSignature)
    }

    /// The 64 lowercase hex digits without separators: the stored form.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a key written either way (see the module's doc).
    ///
    /// # Errors
    ///
    /// A sentence for a person: what is wrong with `text`.
    pub fn parse(text: &str) -> Result<Self, String> {
        parse_hex32(text, "a key").map(Self)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_grouped(f, &self.0)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    fn pair() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a key");
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("its own pkcs8")
    }

    #[test]
    fn a_proof_verifies_only_for_its_nonce_binding_and_key() {
        let client = pair();
        let key = PublicKey::from_bytes(client.public_key().as_ref()).expect("32 bytes");
        let (nonce, binding) = ([7; NONCE_BYTES], [9; BINDING_BYTES]);
        let signature = client.sign(&proof_message(&nonce, &binding));
        assert_eq!(key.verify(&nonce, &binding, signature.as_ref()), Ok(()));
        // Another session (a relay's), another nonce, another key: refused.
        let refused = Err(ProofError::BadSignature);
        assert_eq!(key.verify(&nonce, &[8; 32], signature.as_ref()), refused);
        assert_eq!(key.verify(&[6; 32], &binding, signature.as_ref()), refused);
        let other = PublicKey::from_bytes(pair().public_key().as_ref()).expect("32 bytes");
        assert_eq!(other.verify(&nonce, &binding, signature.as_ref()), refused);
        assert_eq!(key.verify(&nonce, &binding, &[0; 3]), refused);
    }

    #[test]
    fn a_key_reads_back_in_both_forms() {
        let key = PublicKey([0xab; 32]);
        assert_eq!(PublicKey::parse(&key.hex()), Ok(key));
        assert_eq!(PublicKey::parse(&key.to_string().to_uppercase()), Ok(key));
        assert_eq!(key.hex().len(), 64);
        assert!(
            PublicKey::parse("abc")
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert_eq!(
            PublicKey::from_bytes(&[1; 31]),
            Err(ProofError::KeyLength(31))
        );
    }
}
