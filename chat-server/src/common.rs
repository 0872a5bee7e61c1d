//! The few things that several parts of the server name: who a logged-in connection is,
//! a request turned down, and the wall clock that stamps messages and files. They live
//! here, below every part, so that no part imports another only for a type.

use std::time::{SystemTime, UNIX_EPOCH};

use shared::ErrorKind;

/// Identifies a logged-in connection for as long as the server runs (never reused).
pub(crate) type ClientId = u64;

/// A request turned down (by the registry, the file store, an upload); the connection
/// tells its client and stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) kind: ErrorKind,
    pub(crate) text: String,
}

impl Refusal {
    /// This refusal as a client without the feature "auth" can read it: a registered
    /// nick is a nick taken to it, with the same words.
    pub(crate) fn for_client(self, auth: bool) -> Self {
        match self.kind {
            ErrorKind::NickOwned if !auth => Self {
                kind: ErrorKind::NickTaken,
                ..self
            },
            _ => self,
        }
    }

    /// A request of the feature "rooms" (`InRoom`, `Away`, a `Part`) from a client that
    /// was not granted it.
    pub(crate) fn rooms_not_granted() -> Self {
        Self {
            kind: ErrorKind::Internal,
            text: "the feature \"rooms\" was not granted".into(),
        }
    }
}

/// Milliseconds since the Unix epoch; 0 if the clock is set before 1970.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
