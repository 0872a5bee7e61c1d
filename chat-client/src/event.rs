//! What the client tells its user: the library's own events.

use std::time::Duration;

use shared::{ClientMsg, ServerMsg};

use crate::handshake::Welcome;
use crate::transfer::TransferEvent;

/// News from the session, in the order it happened. Text in it comes from the network and
/// is not sanitised ([`crate::sanitize`] makes it safe to print).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Connected again after a drop, in the welcome's room, under the current nick. With
    /// the feature "rooms", the other rooms are being joined again: each one's `Joined4`
    /// follows as an [`Event::Server`].
    Reconnected(Welcome),
    /// A frame from the server. Pings are answered by the session and not passed on, and
    /// the frames of a transfer go to its task (see [`Event::Transfer`]).
    Server(ServerMsg),
    /// The connection is gone; the session reconnects by itself.
    Disconnected { reason: String },
    /// The next attempt to reconnect is in `delay`.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        error: String,
    },
    /// A message was kept while disconnected; `waiting` are now kept.
    Queued { waiting: usize },
    /// After reconnecting, the kept messages were handed to the new connection (those
    /// beyond the client's pace then wait, see [`Event::Waiting`]).
    Flushed { sent: usize },
    /// Frames waiting for their turn at the client's pace ([`crate::pace`]): `waiting` of
    /// them now. Sent when the number changes; 0 when all are out.
    Waiting { waiting: usize },
    /// A line sent before the connection was lost, whose answer was lost with it, was
    /// found in the room's history after the reconnect: the server had it, and it is not
    /// sent again. `msg` is the line as it was sent (with its request id, if any).
    Delivered { msg: ClientMsg },
    /// A line sent before the connection was lost, whose answer was lost with it, of which
    /// the client cannot tell whether the server had it (a private message, which no
    /// history keeps; a server without history; a room changed meanwhile): it is not sent
    /// again, so that nothing is ever said twice. The user may send it again.
    Unconfirmed { msg: ClientMsg },
    /// A message could not be sent and was not kept.
    Refused { reason: String },
    /// The session cannot go on (the server now speaks another protocol version); it has
    /// ended.
    Fatal(String),
    /// The server does not want the client back as it is: it kicked or banned it, or
    /// refused a reconnect (a wrong or missing password, a ban, its nick registered to
    /// another key). `reason` says why, in the server's words. The session does not
    /// reconnect by itself, so as not to knock again and again;
    /// [`crate::Client::reconnect`] tries once more, and what is sent meanwhile is
    /// refused ([`Event::Refused`]).
    Stopped { reason: String },
    /// News of a file transfer, from the transfer's own task.
    Transfer(TransferEvent),
}
