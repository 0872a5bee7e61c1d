//! Who has fetched a file (feature `fetched`): the distinct nicks that completed a
//! download of it, told to the file's sharer as "fetched by N of M members".
//!
//! A download counts once the whole file has been handed to the connection (its
//! `DownloadEnd` queued after the last chunk), whatever offset it resumed from. Nicks are
//! compared as names are (ignoring case and look-alikes, [`shared::names`]); the sharer is
//! counted on neither side. The index keeps each file's fetchers
//! ([`MAX_FETCHERS`](shared::limits::MAX_FETCHERS) at most) and the store writes them
//! beside the file (`ID.fetched`), so counts survive a restart.
//!
//! Only a connection granted the feature hears of counts: [`Sharers`] holds those.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use shared::{FetchCount, FileInfo, ServerMsg};
use tokio::task::spawn_blocking;
use tracing::warn;

use crate::common::ClientId;
use crate::files::Files;
use crate::outbound::{Outbox, encode};

/// The connections granted the feature `fetched`.
#[derive(Debug, Default)]
pub(crate) struct Sharers(Mutex<HashSet<ClientId>>);

impl Sharers {
    /// Connection `id` hears of counts from now on.
    pub(crate) fn add(&self, id: ClientId) {
        self.lock().insert(id);
    }

    /// Connection `id` has ended.
    pub(crate) fn remove(&self, id: ClientId) {
        self.lock().remove(&id);
    }

    pub(crate) fn has(&self, id: ClientId) -> bool {
        self.lock().contains(&id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<ClientId>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A download under way, to be counted once it has sent the whole file.
#[derive(Debug)]
pub(crate) struct Fetch {
    pub(crate) files: Arc<Files>,
    pub(crate) file: FileInfo,
    /// The downloader's nick when it asked.
    pub(crate) nick: String,
}

impl Fetch {
    /// Counts the downloader as a fetcher of the file, if it is new to it and not its
    /// sharer, and tells the sharer (if connected with the feature) the new count.
    pub(crate) async fn completed(self) {
        let Fetch { files, file, nick } = self;
        if shared::names::same_name(&nick, &file.from) {
            return;
        }
        let recorded = {
            let files = Arc::clone(&files);
            let id = file.id;
            spawn_blocking(move || files.store.fetched(id, &nick)).await
        };
        let by = match recorded {
            Ok(Ok(Some(by))) => by,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                warn!(file = file.id, error = %e, "cannot keep who fetched a file");
                return;
            }
        };
        let Some((sharer, outbox)) = files.registry.client_named(&file.from) else {
            return;
        };
        if files.sharers.has(sharer) {
            let counts = vec![FetchCount {
                file_id: file.id,
                by,
            }];
            tell(&files, sharer, &outbox, &file.room, counts);
        }
    }
}

/// Queues for `sharer` the counts of its files of `room`, before the answer to its
/// `ListFiles` (`listed`: the files of the answer); nothing without the feature or when
/// none of them was fetched.
pub(crate) fn before_list(
    files: &Files,
    sharer: ClientId,
    nick: &str,
    outbox: &Outbox,
    room: &str,
    listed: &[FileInfo],
) {
    if !files.sharers.has(sharer) {
        return;
    }
    let counts = files.store.fetch_counts(listed, nick);
    if !counts.is_empty() {
        tell(files, sharer, outbox, room, counts);
    }
}

fn tell(files: &Files, sharer: ClientId, outbox: &Outbox, room: &str, counts: Vec<FetchCount>) {
    let members = files.registry.member_count(room, sharer);
    let msg = ServerMsg::Fetched {
        room: room.to_owned(),
        members,
        files: counts,
    };
    // A full queue is the registry's to notice (the next room message finds it).
    let _ = outbox.push(&encode(&msg));
}
