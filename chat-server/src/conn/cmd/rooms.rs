//! `Join`, `Nick`, `Who` and `WhoPage`: joining (or moving), renaming, and a room's
//! member list.

use shared::ErrorKind;
use shared::names::{check_nick, check_room};

use crate::common::ClientId;
use crate::conn::Client;
use crate::conn::ending::Ending;
use crate::registry::Who;

impl Client {
    /// Joins `room`: adds it to the client's rooms with the feature "rooms", moves the
    /// client there without.
    pub(super) fn join(&self, id: ClientId, reply: Option<u32>, room: &str) -> Result<(), Ending> {
        match check_room(room) {
            Err(e) => self.refuse(reply, ErrorKind::InvalidRoom, format!("the room name {e}")),
            Ok(()) => match self.ctx.registry.join(id, room, reply) {
                Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
                Ok(()) => Ok(()),
            },
        }
    }

    /// Renames the client to `nick`.
    pub(super) fn rename(
        &self,
        id: ClientId,
        reply: Option<u32>,
        nick: &str,
    ) -> Result<(), Ending> {
        match check_nick(nick) {
            Err(e) => self.refuse(reply, ErrorKind::InvalidNick, format!("the nick {e}")),
            Ok(()) => match self.ctx.registry.rename(id, nick, reply) {
                Err(refusal) => self.refused(reply, Err(refusal.for_client(self.auth))),
                Ok(()) => Ok(()),
            },
        }
    }

    /// Answers with a page of the members of `room` (the current room if `None`).
    pub(super) fn who(
        &self,
        id: ClientId,
        reply: Option<u32>,
        room: Option<&str>,
        who: Who<'_>,
    ) -> Result<(), Ending> {
        let answered = self.ctx.registry.who(id, room, who, reply);
        self.refused(reply, answered)
    }
}
