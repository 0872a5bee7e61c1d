//! File transfer through the server: uploads stored for a room, downloads by its members.
//!
//! - File names from clients are cleaned by [`shared::file_name`] before anyone sees them.
//! - `index`: what is known of the files in memory: the stored files by room, the uploads
//!   in progress by token, the quota's accounting.
//! - `store`: the files on disk (their contents and metadata, the free space), and the
//!   index behind its lock.
//! - `upload`: one task per upload that writes and hashes its chunks, verifies, stores,
//!   and offers the file to the room; or waits for a resume, or deletes what it received.
//! - `download`: one task per download that reads chunks into the connection's file lane.
//! - `handle`: how connections and the store reach an upload's worker, and its token.
//! - `transfers`: a connection's uploads and downloads, and the answers to its file
//!   messages.
//! - `fetched`: who has fetched each file, told to its sharer (feature `fetched`).

pub(crate) mod download;
pub(crate) mod fetched;
pub(crate) mod handle;
mod index;
pub(crate) mod store;
mod transfers;
pub(crate) mod upload;

pub(crate) use transfers::{Peer, Transfers};

use std::sync::Arc;
use std::time::Duration;

use crate::registry::Registry;
use store::FileStore;

/// What file transfer works with: the store, and the registry, which knows each client's
/// room and tells a room of a file stored for it. Shared by the connections and the
/// upload workers, which outlive their connection.
#[derive(Debug)]
pub(crate) struct Files {
    pub(crate) store: FileStore,
    pub(crate) registry: Arc<Registry>,
    /// How long an upload whose connection ended waits for a resume.
    pub(crate) upload_grace: Duration,
    /// How long an upload whose sender is connected may go without data.
    pub(crate) upload_stall: Duration,
    /// The connections that hear how many have fetched their files.
    pub(crate) sharers: fetched::Sharers,
}
