//! Who a client is (feature "auth"): the keys clients prove at the handshake, and what
//! the server decides from them.
//!
//! The handshake (`conn::handshake`) sends a challenge, checks the proof against the
//! stream's binding ([`crate::transport::Binding`]) and hands the proved key to the
//! registry, which keeps it beside the client's nick (`Registry::key_of`). [`Auth`] is
//! what connections ask about keys; who is an operator is the configuration's
//! (`conn::Live::is_operator`), which a reload changes.

/// What the server knows about keys, lent to every connection.
#[derive(Debug, Default)]
pub(crate) struct Auth {}

impl Auth {
    pub(crate) fn new() -> Self {
        Self {}
    }
}
