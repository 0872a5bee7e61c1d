//! The requests of the feature "rooms": `InRoom`, a request about one of the client's
//! rooms (the room-less requests of the same name, plus `Part` and `SetTopic`), and
//! `Away`. A room the client is not in is answered `NotInRoom`, by the registry, which
//! compares room names as a `Join` does.

use shared::limits::{MAX_AWAY_BYTES, MAX_REASON_BYTES, MAX_TOPIC_BYTES};
use shared::names::check_room;
use shared::{ChatKind, ClientMsg, ErrorKind, RoomRequest};

use super::Later;
use super::talk::check_length;
use crate::common::ClientId;
use crate::conn::Client;
use crate::conn::ending::{Ending, reason_or};
use crate::history::Permit;
use crate::registry::Who;

/// The reason a `Part` without one tells the room.
const PART_REASON: &str = "part";

impl Client {
    /// Acts on `msg` about `room`; as [`Client::handle`] does.
    pub(super) fn in_room(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        room: &str,
        msg: RoomRequest,
        permit: Option<Permit>,
    ) -> Result<Option<Later>, Ending> {
        // Checked first: a name can be as long as a frame, and its keys are made for the
        // registry from it.
        if let Err(e) = check_room(room) {
            let text = format!("the room name {e}");
            self.refuse(reply, ErrorKind::NotInRoom, text)?;
            return Ok(None);
        }
        let done = match msg {
            RoomRequest::Chat { text } => {
                self.say(id, reply, Some(room), ChatKind::Say, text, permit)
            }
            RoomRequest::Action { text } => {
                self.say(id, reply, Some(room), ChatKind::Action, text, permit)
            }
            RoomRequest::Who => self.who(id, reply, Some(room), Who::Plain),
            RoomRequest::WhoPage { after } => self.who(id, reply, Some(room), Who::After(&after)),
            RoomRequest::UploadStart { name, size } => {
                let msg = ClientMsg::UploadStart { name, size };
                return self.file_in(id, reply, Some(room), msg);
            }
            RoomRequest::ListFiles => {
                return self.file_in(id, reply, Some(room), ClientMsg::ListFiles);
            }
            RoomRequest::Part { reason } => {
                let reason = reason_or(reason, MAX_REASON_BYTES, PART_REASON);
                let parted = self.ctx.registry.part(id, room, reason, reply);
                self.refused(reply, parted)
            }
            RoomRequest::SetTopic { text } => match check_length("topic", &text, MAX_TOPIC_BYTES) {
                Err(refusal) => self.refused(reply, Err(refusal)),
                Ok(()) => {
                    let place = self.ctx.registry.place(id, Some(room));
                    let locked = place
                        .as_ref()
                        .ok()
                        .and_then(|at| self.topic_locked(id, &at.room));
                    if let Some((kind, text)) = locked {
                        return self.refuse(reply, kind, text).map(|()| None);
                    }
                    let set = self.ctx.registry.set_topic(id, room, text, reply);
                    self.refused(reply, set)
                }
            },
        };
        done.map(|()| None)
    }

    /// A file message about `room` (the current room if `None`), once the room is found:
    /// an `UploadStart` or a `ListFiles` of a client with the feature.
    pub(super) fn file_in(
        &self,
        id: ClientId,
        reply: Option<u32>,
        room: Option<&str>,
        msg: ClientMsg,
    ) -> Result<Option<Later>, Ending> {
        match self.ctx.registry.place(id, room) {
            Ok(place) => Ok(Some(Later::File(msg, Some(place)))),
            Err(refusal) => self.refused(reply, Err(refusal)).map(|()| None),
        }
    }

    /// Marks the client away with `text`, or back when it is empty.
    pub(super) fn away(
        &self,
        id: ClientId,
        reply: Option<u32>,
        text: String,
    ) -> Result<(), Ending> {
        match check_length("away text", &text, MAX_AWAY_BYTES) {
            Err(refusal) => self.refused(reply, Err(refusal)),
            Ok(()) => {
                self.ctx.registry.away(id, text, reply);
                Ok(())
            }
        }
    }
}
