//! (filled in below)
/// A job for the writer.
#[derive(Debug)]
pub(super) enum Job {}
