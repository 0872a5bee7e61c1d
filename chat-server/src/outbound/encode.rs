//! Frames encoded once, by whoever produces them: [`encode`], [`encode_answer`], and a room
//! message's frame for each protocol version present in its room ([`RoomFrames`]).

use std::cell::OnceCell;

use bytes::Bytes;
use serde::Serialize;
use shared::{AsVersion3, ErrorKind, ReplyTo, ServerMsg, encode_frame};

/// Encodes `msg` into a frame for [`Outbox::push`](super::Outbox::push).
///
/// Encoding fails only for a message larger than the maximum frame (a member list of
/// thousands of long names, say). The failure is logged and the client gets an `Internal`
/// error in its place, so that it is not left waiting for an answer.
pub(crate) fn encode(msg: &impl Serialize) -> Bytes {
    encode_answer(None, msg)
}

/// Encodes `msg` as the answer to the request `reply` (wrapped in a `Reply` with its id),
/// or as itself when the request had no id. What [`encode`] says of a failure holds, and
/// the `Internal` error in its place carries the id too.
pub(crate) fn encode_answer(reply: Option<u32>, msg: &impl Serialize) -> Bytes {
    let encoded = match reply {
        Some(id) => encode_frame(&ReplyTo { id, msg }),
        None => encode_frame(msg),
    };
    encoded.unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not encode a frame");
        let fallback = ServerMsg::Error {
            kind: ErrorKind::Internal,
            text: "the server could not encode its answer".into(),
        };
        // Cannot fail: the fallback is a few bytes. An empty frame would write nothing.
        match reply {
            Some(id) => encode_frame(&ReplyTo { id, msg: &fallback }),
            None => encode_frame(&fallback),
        }
        .unwrap_or_default()
    })
}

/// A room message ([`ServerMsg::Room`]), encoded for each protocol version the first time
/// a member of that version needs it: a broadcast encodes once per version present in the
/// room, never once per member.
#[derive(Debug)]
pub(crate) struct RoomFrames<'a> {
    msg: &'a ServerMsg,
    version_3: OnceCell<Bytes>,
    version_4: OnceCell<Bytes>,
}

impl<'a> RoomFrames<'a> {
    pub(crate) fn new(msg: &'a ServerMsg) -> Self {
        Self {
            msg,
            version_3: OnceCell::new(),
            version_4: OnceCell::new(),
        }
    }

    /// The frame for a client that speaks `version`.
    pub(crate) fn for_version(&self, version: u16) -> &Bytes {
        if version >= 4 {
            self.version_4.get_or_init(|| encode(self.msg))
        } else {
            self.version_3.get_or_init(|| encode(&AsVersion3(self.msg)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::queue;

    /// A room message encoded for each version on first need, once.
    #[test]
    fn room_frames_encode_once_per_version() {
        let msg = ServerMsg::Room {
            id: 7,
            seq: 3,
            time_ms: 1,
            room: "lobby".into(),
            event: shared::RoomEvent::Joined { nick: "ann".into() },
        };
        let frames = RoomFrames::new(&msg);
        let v4 = frames.for_version(4).clone();
        assert_eq!(v4, encode(&msg));
        assert_eq!(
            frames.for_version(4).as_ptr(),
            v4.as_ptr(),
            "not encoded again"
        );
        assert_eq!(frames.for_version(3), &encode(&AsVersion3(&msg)));
        let old = queue(1024);
        let new = queue(1024);
        new.set_speaks(4);
        old.push_room(&frames).unwrap();
        new.push_room(&frames).unwrap();
        assert_eq!(old.take_now(), encode(&AsVersion3(&msg)));
        assert_eq!(new.take_now(), v4);
    }
}
