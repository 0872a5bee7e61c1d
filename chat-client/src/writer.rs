//! A connection's writer: its own task with two inputs, the chat queue (every frame the
//! user sends, pings and pongs, a transfer's requests) and the file lane (upload chunks,
//! see [`crate::transfer`]). It takes a chunk only when no chat frame is waiting, so a line
//! typed during a large upload waits behind one chunk at most.

use futures::SinkExt;
use futures::stream::SplitSink;
use shared::ClientMsg;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::handshake::Conn;
use crate::offline::worth_keeping;
use crate::transfer;

/// The session's end of a running writer.
#[derive(Debug)]
pub(crate) struct Writer {
    /// The chat queue. Closing it makes the writer send what is queued and close the
    /// connection (the client leaves).
    pub(crate) chat: mpsc::UnboundedSender<ClientMsg>,
    /// The file lane, for the transfers.
    pub(crate) lane: mpsc::Sender<ClientMsg>,
    /// Stops the writer at once: the connection is over.
    pub(crate) stop: oneshot::Sender<()>,
    pub(crate) task: JoinHandle<WriterEnd>,
}

/// What a connection's writer hands back when it stops.
#[derive(Debug)]
pub(crate) struct WriterEnd {
    /// Why it stopped, if a write failed.
    pub(crate) error: Option<String>,
    /// A frame of the user's that may not have gone out.
    pub(crate) unsent: Option<ClientMsg>,
    /// Frames that were still waiting in the chat queue.
    pub(crate) chat: mpsc::UnboundedReceiver<ClientMsg>,
}

/// Starts the writer of a connection on its sending half.
pub(crate) fn spawn<S>(sink: SplitSink<Conn<S>, ClientMsg>) -> Writer
where
    S: AsyncWrite + Send + 'static,
{
    let (chat, chat_rx) = mpsc::unbounded_channel();
    let (lane, lane_rx) = mpsc::channel(transfer::LANE_FRAMES);
    let (stop, stop_rx) = oneshot::channel();
    let task = tokio::spawn(write_frames(sink, chat_rx, lane_rx, stop_rx));
    Writer {
        chat,
        lane,
        stop,
        task,
    }
}

/// Writes frames until the chat queue closes (the client leaves), a write fails, or `stop`
/// says the connection is over. A chunk of the file lane is written only when no chat
/// frame is waiting.
async fn write_frames<S: AsyncWrite>(
    mut sink: SplitSink<Conn<S>, ClientMsg>,
    mut chat: mpsc::UnboundedReceiver<ClientMsg>,
    mut lane: mpsc::Receiver<ClientMsg>,
    mut stop: oneshot::Receiver<()>,
) -> WriterEnd {
    loop {
        let msg = tokio::select! {
            biased;
            _ = &mut stop => break,
            msg = chat.recv() => match msg {
                Some(msg) => msg,
                None => {
                    let _ = sink.close().await;
                    break;
                }
            },
            Some(msg) = lane.recv() => msg,
        };
        // Only the user's frames are worth keeping if the write fails; chunks are large.
        let keep = worth_keeping(&msg).then(|| msg.clone());
        let written = tokio::select! {
            biased;
            _ = &mut stop => Err(None),
            written = sink.send(msg) => written.map_err(|e| Some(e.to_string())),
        };
        if let Err(error) = written {
            return WriterEnd {
                error,
                unsent: keep,
                chat,
            };
        }
    }
    WriterEnd {
        error: None,
        unsent: None,
        chat,
    }
}
