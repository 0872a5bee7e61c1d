//! Every way a connection ends is an [`Ending`]: the reason the room is told, the last
//! frame the client gets where the connection still allows one, and whether the writer
//! gets time to flush. [`Connection::close`] carries it out.

use bytes::Bytes;
use futures::FutureExt;
use shared::limits::MAX_REASON_BYTES;
use shared::{CodecError, ErrorKind, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tracing::{debug, info};

use super::context::Policy;
use super::{Client, Connection, seconds};
use crate::outbound::{Stopped, encode};

/// How and why a connection ends.
#[derive(Debug)]
pub(super) struct Ending {
    /// Told to the room in the `Left` notice, and logged.
    reason: String,
    /// Last frame for the client, if the connection still allows one; encoded already.
    last_frame: Option<Bytes>,
    /// Whether the writer gets time to flush. Not when it has already ended, nor when it
    /// is stuck behind a client that does not read.
    flush: bool,
    /// Whether closing logs the ending; not when it was logged already, in its own words.
    log: bool,
}

impl Ending {
    pub(super) fn closed() -> Self {
        Self::quiet("connection closed")
    }

    pub(super) fn quit(reason: String) -> Self {
        let reason = reason_or(reason, MAX_REASON_BYTES, "quit");
        Self {
            reason,
            last_frame: None,
            flush: true,
            log: true,
        }
    }

    pub(super) fn shutdown() -> Self {
        let reason = "server shutting down";
        Self {
            reason: reason.into(),
            last_frame: Some(encode(&ServerMsg::Shutdown {
                reason: reason.into(),
            })),
            flush: true,
            log: true,
        }
    }

    /// The client is told `kind` and `text`; the room is told `reason`.
    pub(super) fn refused(kind: ErrorKind, text: String, reason: &str) -> Self {
        Self {
            reason: reason.into(),
            last_frame: Some(encode(&ServerMsg::Error { kind, text })),
            flush: true,
            log: true,
        }
    }

    /// As [`Ending::refused`], for a refusal logged already.
    pub(super) fn refused_unlogged(kind: ErrorKind, text: String) -> Self {
        Self {
            log: false,
            ..Self::refused(kind, text, "wrong transport")
        }
    }

    /// As [`Ending::closed`], for an ending logged already.
    pub(super) fn unlogged() -> Self {
        Self {
            log: false,
            ..Self::closed()
        }
    }

    /// A frame that could not be read. The client is told why in words, the room that
    /// it left with no protocol detail.
    pub(super) fn codec(error: CodecError) -> Self {
        match error {
            CodecError::FrameTooLarge { len, max } => Self::refused(
                ErrorKind::FrameTooLarge,
                format!("the server could not read a message of {len} bytes: {max} at most"),
                "sent a message too large",
            ),
            CodecError::Malformed(why) => Self::refused(
                ErrorKind::MalformedFrame,
                format!("the server could not read a message: {why}"),
                "sent a malformed message",
            ),
            // The peer closed its sending side mid-frame; it may still read.
            CodecError::Truncated { .. } => Self::refused(
                ErrorKind::MalformedFrame,
                "the connection closed in the middle of a message".to_owned(),
                "connection lost",
            ),
            CodecError::Io(_) => Self::quiet("connection lost"),
        }
    }

    pub(super) fn slow_consumer() -> Self {
        Self {
            reason: "slow consumer".into(),
            last_frame: None,
            flush: false,
            log: true,
        }
    }

    /// The writer stopped: the client was cut off as a slow consumer, or the socket failed.
    pub(super) fn stopped(stopped: Stopped, policy: &Policy) -> Self {
        match stopped {
            Stopped::Cut => Self::slow_consumer(),
            Stopped::ShuttingDown => Self::shutdown(),
            // Out of its rooms already, told why, and logged by the operator's request.
            Stopped::Removed => Self {
                reason: "removed by an operator".into(),
                last_frame: None,
                flush: true,
                log: false,
            },
            Stopped::TimedOut => {
                let text = format!("nothing received for {}", seconds(policy.idle_timeout));
                Self::refused(ErrorKind::Timeout, text, "timed out")
            }
            Stopped::Failed(error) => {
                debug!(%error, "could not write to the client");
                Self::writer_gone()
            }
        }
    }

    pub(super) fn writer_gone() -> Self {
        Self {
            reason: "connection closed".into(),
            last_frame: None,
            flush: false,
            log: true,
        }
    }

    pub(super) fn quiet(reason: &str) -> Self {
        Self {
            reason: reason.into(),
            last_frame: None,
            flush: true,
            log: true,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Takes the client out of its room (telling the room why), queues the last frame if
    /// there is one, and gives the writer a bounded time to flush before the socket
    /// closes.
    pub(super) async fn close(self, ending: Ending) {
        let Connection {
            mut frames,
            mut writer,
            client:
                Client {
                    outbox,
                    ctx,
                    policy,
                    peer,
                    id,
                    transfers,
                    ..
                },
        } = self;
        if let (Some(transfers), Some(id)) = (transfers, id) {
            // First, so that what the uploads' workers say as they let go is flushed too.
            transfers.close(id, policy.flush_timeout).await;
        }
        if let Some(id) = id {
            ctx.files.sharers.remove(id);
            // False if the client was already removed as a slow consumer.
            if ctx.registry.leave(id, &ending.reason) {
                info!(%peer, client = id, reason = %ending.reason, "left");
            }
        } else if ending.log {
            info!(%peer, reason = %ending.reason, "refused");
        }
        if let Some(last) = ending.last_frame {
            // Nothing more can be done if the queue is full or closed.
            let _ = outbox.push(&last);
        }
        let mut closed = false;
        if ending.flush {
            // Writes what is queued and closes the stream's sending side.
            let flushing = writer.finish(frames.get_mut());
            match timeout(policy.flush_timeout, flushing).await {
                Err(_elapsed) => debug!(%peer, "writer did not flush in time"),
                Ok(Err(stopped)) => debug!(%peer, ?stopped, "writer stopped while flushing"),
                Ok(Ok(())) => closed = true,
            }
        }
        if !closed {
            // Without a flush, the sending side is still closed before the stream is
            // dropped, as far as that can be done without waiting (at once for TCP).
            let _ = frames.get_mut().shutdown().now_or_never();
        }
        // Closes the queue: the upload workers and downloads still holding it stop.
        drop(writer);
        drop(outbox);
        drop(frames);
    }
}

/// A reason a client gives for leaving a room (a `Quit`, a `Part`), as the room is told
/// it: cut to `max` bytes, `default` when empty.
pub(super) fn reason_or(reason: String, max: usize, default: &str) -> String {
    let reason = truncate(reason, max);
    if reason.is_empty() {
        default.to_owned()
    } else {
        reason
    }
}

/// Cuts `text` to at most `max` bytes without splitting a character.
fn truncate(mut text: String, max: usize) -> String {
    let end = shared::text::cut(&text, max).len();
    text.truncate(end);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("hello".into(), 10), "hello");
        assert_eq!(truncate("hello".into(), 3), "hel");
        // "é" is two bytes: cutting at 1 would split it.
        assert_eq!(truncate("éa".into(), 1), "");
        assert_eq!(truncate("aé".into(), 2), "a");
        assert_eq!(truncate("👋👋".into(), 5), "👋");
    }

    #[test]
    fn quit_reason_is_bounded_and_never_empty() {
        assert_eq!(Ending::quit(String::new()).reason, "quit");
        let long = "x".repeat(MAX_REASON_BYTES * 2);
        assert_eq!(Ending::quit(long).reason.len(), MAX_REASON_BYTES);
    }

    fn last_frame(ending: &Ending) -> Option<ServerMsg> {
        let frame = ending.last_frame.as_ref()?;
        Some(shared::codec::decode_payload(&frame[4..]).expect("server frames decode"))
    }

    #[test]
    fn codec_errors_map_to_error_frames() {
        let ending = Ending::codec(CodecError::FrameTooLarge { len: 5, max: 4 });
        assert!(matches!(
            last_frame(&ending),
            Some(ServerMsg::Error {
                kind: ErrorKind::FrameTooLarge,
                ..
            })
        ));
        let ending = Ending::codec(CodecError::Malformed("it ends too early".into()));
        assert_eq!(ending.reason, "sent a malformed message");
        let Some(ServerMsg::Error { text, .. }) = last_frame(&ending) else {
            panic!("an error frame");
        };
        assert_eq!(
            text,
            "the server could not read a message: it ends too early"
        );
        let ending = Ending::codec(CodecError::Truncated { buffered: 3 });
        assert_eq!(ending.reason, "connection lost");
        let ending = Ending::codec(CodecError::Io(std::io::ErrorKind::ConnectionReset.into()));
        assert!(ending.last_frame.is_none());
    }
}
