//! A connection's file lane: a short queue of file data beside the chat queue, which the
//! writer drains only when no chat frame waits. Downloads wait for room in it instead of
//! failing, so a client busy downloading is never a slow consumer.

use std::sync::Arc;

use bytes::Bytes;

use super::queue::{PushError, Shared, wake_writer};

/// Frames of file data queued for one connection. Each is a chunk of up to 64 KiB, and the
/// download tasks read ahead only this far, so a connection's downloads hold at most a
/// quarter of a megabyte on the server, while the writer always has the next chunk ready.
const FILE_LANE_FRAMES: usize = 4;

/// The sending end of a connection's file lane: frames of file data that wait for room
/// instead of failing when the lane is full.
#[derive(Debug, Clone)]
pub(crate) struct FileLane {
    shared: Arc<Shared>,
}

impl FileLane {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Queues `frame`, waiting for room. An error means the queue has closed.
    pub(crate) async fn send(&self, frame: Bytes) -> Result<(), PushError> {
        let mut frame = Some(frame);
        self.shared
            .wait_for_room(|queue| {
                if queue.closed {
                    return Some(Err(PushError::Closed));
                }
                let files = queue.files.get_or_insert_default();
                if files.len() >= FILE_LANE_FRAMES {
                    return None;
                }
                files.extend(frame.take());
                Some(Ok(()))
            })
            .await?;
        wake_writer(self.shared.lock());
        Ok(())
    }
}
