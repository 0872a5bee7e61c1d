//! Who a client is (feature "auth"): the keys clients prove at the handshake, and what
//! the server decides from them.
//!
//! The handshake (`conn::handshake`) sends a challenge, checks the proof against the
//! stream's binding ([`crate::transport::Binding`]) and hands the proved key to the
//! registry, which keeps it beside the client's nick (`Registry::key_of`). [`Auth`] is
//! what connections ask about keys.

use shared::auth::PublicKey;

/// What the server knows about keys, lent to every connection.
#[derive(Debug, Default)]
pub(crate) struct Auth {}

impl Auth {
    pub(crate) fn new() -> Self {
        Self {}
    }

    /// Whether `key` is an operator's: the one place that says so. No key is yet: the
    /// server's configuration has no operators so far.
    pub(crate) fn is_operator(&self, key: &PublicKey) -> bool {
        let _ = key;
        false
    }
}
