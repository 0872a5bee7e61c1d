//! A connection's transfers: the uploads it holds the lease of and its downloads, and the
//! answers to its file messages.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::auth::PublicKey;
use shared::file_name::clean_file_name;
use shared::limits::MAX_RAW_FILE_NAME_BYTES;
use shared::{ClientMsg, ErrorKind, ServerMsg};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::common::{ClientId, Refusal};
use crate::files::Files;
use crate::files::fetched::{self, Fetch};
use crate::files::handle::Handle;
use crate::files::{download, upload};
use crate::outbound::{FileLane, Outbox};
use crate::registry::Whereabouts;

/// Uploads one connection may have in progress at once. A client sends one file at a time
/// per progress bar; a few allow several, while one connection cannot reserve the whole
/// quota with empty uploads.
pub(crate) const MAX_UPLOADS_PER_CONNECTION: usize = 4;

/// Downloads one connection may have running at once; they share the connection's file
/// lane, so more would not be faster.
pub(crate) const MAX_DOWNLOADS_PER_CONNECTION: usize = 4;

/// Longest a resume waits for the upload's worker to finish the chunks queued before it.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection lends to the handling of one file message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer<'a> {
    pub(crate) files: &'a Arc<Files>,
    pub(crate) id: ClientId,
    /// The client's IP address, if it has one: its uploads share a part of the quota.
    pub(crate) address: Option<IpAddr>,
    pub(crate) outbox: &'a Outbox,
    pub(crate) lane: &'a FileLane,
    /// Whether the client has the feature "rooms": it may download a file of any of its
    /// rooms.
    pub(crate) rooms: bool,
    /// The key the client proved (feature "auth"), for an upload's start and resume;
    /// `None` for every other message.
    pub(crate) key: Option<PublicKey>,
}

/// Longest a second `UploadFinish` waits for the answer to the first (the worker flushes
/// the file to disk before it answers); past it, the refusal goes out regardless.
const FINISH_WAIT: Duration = Duration::from_secs(10);

/// A connection's uploads (the ones it holds the lease of) and downloads.
#[derive(Debug, Default)]
pub(crate) struct Transfers {
    uploads: HashMap<u64, Handle>,
    /// Uploads this connection has sent `UploadFinish` for, until their worker has
    /// answered: another message about one is answered after that answer.
    finishing: HashMap<u64, Handle>,
    downloads: HashMap<u64, JoinHandle<()>>,
}

impl Transfers {
    /// Whether chunks of an upload may be arriving, so that keeping a large read buffer
    /// is worth it.
    pub(crate) fn uploading(&self) -> bool {
        !self.uploads.is_empty()
    }

    /// Acts on a file message; returns the answer for the client, if there is one now.
    /// Other answers come later from the upload and download tasks, which wrap them as the
    /// answer to `reply` (the request's id) themselves. `place`: the room an `UploadStart`
    /// or a `ListFiles` is about, if found already; else the client's current room.
    pub(crate) async fn handle(
        &mut self,
        peer: Peer<'_>,
        reply: Option<u32>,
        msg: ClientMsg,
        place: Option<Whereabouts>,
    ) -> Option<ServerMsg> {
        let place = || place.or_else(|| peer.files.registry.whereabouts(peer.id));
        match msg {
            ClientMsg::UploadStart { name, size } => {
                Some(self.start(peer, place(), &name, size).await)
            }
            ClientMsg::UploadResume { token } => Some(self.resume(peer, &token).await),
            ClientMsg::UploadChunk {
                upload_id,
                offset,
                data,
            } => {
                let handle = self.upload(upload_id)?;
                if !handle.chunk(peer.id, reply, offset, data).await {
                    // The upload ended; its worker told the client why.
                    self.uploads.remove(&upload_id);
                }
                None
            }
            ClientMsg::UploadFinish { upload_id, sha256 } => {
                self.finishing.retain(|_, handle| !handle.is_closed());
                if let Some(handle) = self.uploads.remove(&upload_id) {
                    if handle.finish(peer.id, reply, sha256).await {
                        self.finishing.insert(upload_id, handle);
                    }
                    return None;
                }
                // Answers follow requests: the worker answers a finish of this upload
                // still in its hands first.
                if let Some(handle) = self.finishing.remove(&upload_id) {
                    let _ = timeout(FINISH_WAIT, handle.ended()).await;
                }
                Some(no_such_upload(upload_id))
            }
            ClientMsg::UploadCancel { upload_id } => {
                if let Some(handle) = self.uploads.remove(&upload_id) {
                    handle.cancel(peer.id).await;
                }
                None
            }
            ClientMsg::ListFiles => {
                let place = place()?;
                let files = peer.files.store.list(&place.room);
                let (id, nick, outbox) = (peer.id, &place.nick, peer.outbox);
                fetched::before_list(peer.files, id, nick, outbox, &place.room, &files);
                Some(ServerMsg::Files {
                    room: place.room,
                    files,
                })
            }
            ClientMsg::Download { file_id, offset } => self.download(peer, reply, file_id, offset),
            ClientMsg::DownloadCancel { file_id } => {
                if let Some(task) = self.downloads.remove(&file_id) {
                    task.abort();
                }
                None
            }
            // Not a file message: the connection handles it.
            _ => None,
        }
    }

    /// The handle of an upload this connection holds; `None` when the upload ended.
    fn upload(&mut self, upload_id: u64) -> Option<&Handle> {
        if self.uploads.get(&upload_id)?.is_closed() {
            self.uploads.remove(&upload_id);
            return None;
        }
        self.uploads.get(&upload_id)
    }

    async fn start(
        &mut self,
        peer: Peer<'_>,
        place: Option<Whereabouts>,
        name: &str,
        size: u64,
    ) -> ServerMsg {
        if name.len() > MAX_RAW_FILE_NAME_BYTES {
            return error(Refusal {
                kind: ErrorKind::InvalidFileName,
                text: format!(
                    "the file name is {} bytes, more than the {MAX_RAW_FILE_NAME_BYTES} allowed",
                    name.len()
                ),
            });
        }
        if let Some(refusal) = self.too_many_uploads() {
            return error(refusal);
        }
        let Some(place) = place else {
            return error(Refusal {
                kind: ErrorKind::Internal,
                text: "not in a room".into(),
            });
        };
        let origin = upload::Origin {
            name: clean_file_name(name),
            size,
            from: place.nick,
            room: place.room,
            room_key: place.room_key,
            address: peer.address,
            key: peer.key,
        };
        match upload::start(peer.files, origin, peer.id, peer.outbox.clone()).await {
            Ok((handle, ready)) => {
                self.uploads.insert(handle.id, handle);
                ready
            }
            Err(refusal) => error(refusal),
        }
    }

    async fn resume(&mut self, peer: Peer<'_>, token: &[u8]) -> ServerMsg {
        let refused = || {
            error(Refusal {
                kind: ErrorKind::NoSuchUpload,
                text: "no interrupted upload has this token (it may have expired)".into(),
            })
        };
        // Stored already: the sender lost the answer to its finish (its connection
        // dropped, or its client restarted) and learns it now instead of sending the
        // file again.
        let stored = || {
            let done = peer.files.store.finished(token, peer.files.upload_grace)?;
            Some(ServerMsg::UploadDone {
                upload_id: done.upload_id,
                file_id: done.file_id,
            })
        };
        let Some(handle) = peer.files.store.upload_by_token(token) else {
            return stored().unwrap_or_else(refused);
        };
        // An upload whose sender proved a key is that key's: a token alone does not take
        // it over. (An upload without one goes to whoever has its token, and its former
        // connection is told it lost it.)
        if handle.owner.is_some_and(|owner| peer.key != Some(owner)) {
            return error(Refusal {
                kind: ErrorKind::NoSuchUpload,
                text: "this upload belongs to the key its sender proved; only a client with \
                       that key can resume it"
                    .into(),
            });
        }
        if !self.uploads.contains_key(&handle.id) {
            if let Some(refusal) = self.too_many_uploads() {
                return error(refusal);
            }
        }
        let attached = timeout(ATTACH_TIMEOUT, handle.attach(peer.id, peer.outbox.clone()));
        let Ok(Some(offset)) = attached.await else {
            // The upload ended meanwhile: perhaps stored by the finish it was busy with.
            return stored().unwrap_or_else(refused);
        };
        let upload_id = handle.id;
        self.uploads.insert(upload_id, handle);
        ServerMsg::UploadReady {
            upload_id,
            token: token.to_vec(),
            offset,
        }
    }

    fn too_many_uploads(&mut self) -> Option<Refusal> {
        self.uploads.retain(|_, handle| !handle.is_closed());
        (self.uploads.len() >= MAX_UPLOADS_PER_CONNECTION).then(|| Refusal {
            kind: ErrorKind::TooManyTransfers,
            text: format!(
                "at most {MAX_UPLOADS_PER_CONNECTION} uploads at once per connection; \
                 finish or cancel one first"
            ),
        })
    }

    fn download(
        &mut self,
        peer: Peer<'_>,
        reply: Option<u32>,
        file_id: u64,
        offset: u64,
    ) -> Option<ServerMsg> {
        let failed = |kind, text| {
            Some(ServerMsg::DownloadFailed {
                file_id,
                kind,
                text,
            })
        };
        // A file of another room is as unknown as one that does not exist. With the
        // feature "rooms", any room the client is in will do.
        let registry = &peer.files.registry;
        let found = if peer.rooms {
            peer.files
                .store
                .find(file_id)
                .and_then(|f| Some((registry.in_room(peer.id, &f.room)?, f)))
                .ok_or_else(|| format!("no file {file_id} in the rooms you are in"))
        } else {
            let place = registry.whereabouts(peer.id)?;
            match peer.files.store.get(file_id, &place.room) {
                Some(file) => Ok((place, file)),
                None => Err(format!("no file {file_id} in #{}", place.room)),
            }
        };
        let (place, file) = match found {
            Ok(found) => found,
            Err(text) => return failed(ErrorKind::NoSuchFile, text),
        };
        if offset > file.size {
            let text = format!("offset {offset} is past the end ({} bytes)", file.size);
            return failed(ErrorKind::BadChunk, text);
        }
        // Asking again for a file being downloaded restarts it from the new offset.
        if let Some(old) = self.downloads.remove(&file_id) {
            old.abort();
        }
        self.downloads.retain(|_, task| !task.is_finished());
        if self.downloads.len() >= MAX_DOWNLOADS_PER_CONNECTION {
            let text =
                format!("at most {MAX_DOWNLOADS_PER_CONNECTION} downloads at once per connection");
            return failed(ErrorKind::TooManyTransfers, text);
        }
        let path = peer.files.store.data_path(file_id);
        let fetch = Fetch {
            files: Arc::clone(peer.files),
            file: file.clone(),
            nick: place.nick,
        };
        let task = download::start(file, path, offset, reply, peer.lane.clone(), fetch);
        self.downloads.insert(file_id, task);
        None
    }

    /// Stops the downloads and leaves the uploads to wait for a resume. Bounded by
    /// `limit`: a worker stuck on a slow disk notices the end of the connection by itself.
    pub(crate) async fn close(self, lease: ClientId, limit: Duration) {
        for task in self.downloads.values() {
            task.abort();
        }
        let detach_all = async {
            for handle in self.uploads.values() {
                handle.detach(lease).await;
            }
        };
        let _ = timeout(limit, detach_all).await;
    }
}

fn error(refusal: Refusal) -> ServerMsg {
    ServerMsg::Error {
        kind: refusal.kind,
        text: refusal.text,
    }
}

fn no_such_upload(upload_id: u64) -> ServerMsg {
    ServerMsg::UploadFailed {
        upload_id,
        kind: ErrorKind::NoSuchUpload,
        text: format!("no upload {upload_id} on this connection"),
    }
}
