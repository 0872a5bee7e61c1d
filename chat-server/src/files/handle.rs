//! An upload's handle: how connections, and the store's index of tokens, reach the upload's
//! worker (see `upload`), and the token that proves ownership of an upload. Both sides
//! need these types, so they live here, apart from either.

use shared::auth::PublicKey;
use shared::limits::UPLOAD_TOKEN_BYTES;
use tokio::sync::{mpsc, oneshot};

use crate::common::ClientId;
use crate::outbound::Outbox;

/// Proof of ownership of an upload, handed to its sender.
pub(crate) type Token = [u8; UPLOAD_TOKEN_BYTES];

/// Commands a worker holds before a sending connection waits: enough to keep the disk
/// busy while the next chunks cross the network, 512 KiB of data at most.
const COMMAND_QUEUE: usize = 8;

/// Chunks a worker writes in one trip to the blocking pool, at most: what waits in its
/// queue when it is done with the previous trip. Each trip is two thread wake-ups; one per
/// 64 KiB chunk was a fifth of the server's time during an upload.
pub(super) const BATCH: usize = COMMAND_QUEUE;

/// A way to reach an upload's worker.
#[derive(Debug, Clone)]
pub(crate) struct Handle {
    pub(crate) id: u64,
    /// The key its sender proved (feature "auth"), if it proved one: only a connection
    /// that proved the same key may resume it.
    pub(crate) owner: Option<PublicKey>,
    tx: mpsc::Sender<Command>,
}

/// What a connection asks of an upload. Each carries the asking connection's lease; a
/// chunk and a finish the id of their request, if they had one, for the answer they cause.
#[derive(Debug)]
pub(super) enum Command {
    Chunk {
        lease: ClientId,
        reply: Option<u32>,
        offset: u64,
        data: Vec<u8>,
    },
    Finish {
        lease: ClientId,
        reply: Option<u32>,
        sha256: Vec<u8>,
    },
    Cancel {
        lease: ClientId,
    },
    /// The connection holding the lease is gone.
    Detach {
        lease: ClientId,
    },
    /// Take the lease; answered with the bytes received so far.
    Attach {
        lease: ClientId,
        outbox: Outbox,
        offset: oneshot::Sender<u64>,
    },
}

impl Handle {
    /// A handle that reaches no worker, for the store's own tests.
    #[cfg(test)]
    pub(crate) fn detached() -> Self {
        Self {
            id: 0,
            owner: None,
            tx: mpsc::channel(1).0,
        }
    }

    pub(crate) fn with_id(mut self, id: u64) -> Self {
        self.id = id;
        self
    }

    /// Whether the worker has ended (the upload was stored, failed, or was cancelled).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Waits until the worker has ended and sent its last answer (it closes its queue
    /// only then), so that an answer the connection gives about the upload follows it.
    pub(crate) async fn ended(&self) {
        self.tx.closed().await;
    }

    /// Passes a chunk on, waiting for room. `false`: the upload has ended.
    pub(crate) async fn chunk(
        &self,
        lease: ClientId,
        reply: Option<u32>,
        offset: u64,
        data: Vec<u8>,
    ) -> bool {
        let command = Command::Chunk {
            lease,
            reply,
            offset,
            data,
        };
        self.tx.send(command).await.is_ok()
    }

    /// Asks the worker to verify and store the upload; it answers the client itself.
    pub(crate) async fn finish(
        &self,
        lease: ClientId,
        reply: Option<u32>,
        sha256: Vec<u8>,
    ) -> bool {
        let command = Command::Finish {
            lease,
            reply,
            sha256,
        };
        self.tx.send(command).await.is_ok()
    }

    pub(crate) async fn cancel(&self, lease: ClientId) {
        let _ = self.tx.send(Command::Cancel { lease }).await;
    }

    /// Tells the worker its connection is gone, so that it lets go of the connection's
    /// queue and starts the grace period.
    pub(crate) async fn detach(&self, lease: ClientId) {
        let _ = self.tx.send(Command::Detach { lease }).await;
    }

    /// Moves the lease to the connection `lease` and returns the bytes the server holds,
    /// or `None` if the upload ended meanwhile.
    pub(crate) async fn attach(&self, lease: ClientId, outbox: Outbox) -> Option<u64> {
        let (offset, received) = oneshot::channel();
        let command = Command::Attach {
            lease,
            outbox,
            offset,
        };
        self.tx.send(command).await.ok()?;
        received.await.ok()
    }
}

/// A new upload's handle (its id is set once the store accepts it), and the receiving end
/// of its worker's commands.
pub(super) fn channel() -> (Handle, mpsc::Receiver<Command>) {
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let handle = Handle {
        id: 0,
        owner: None,
        tx,
    };
    (handle, rx)
}
