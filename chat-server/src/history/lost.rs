//! (filled in below)
/// Lost ranges not yet written.
#[derive(Debug)]
pub(super) struct Pending;
