//! (filled in below)
/// The read-only connections.
#[derive(Debug)]
pub(super) struct Pool;
