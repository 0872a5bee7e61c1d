//! `Join`, `Nick`, `Who` and `WhoPage`: moving, renaming, and the room's member list.

use shared::ErrorKind;
use shared::names::{check_nick, check_room};

use crate::common::ClientId;
use crate::conn::Client;
use crate::conn::ending::Ending;
use crate::registry::Who;

impl Client {
    /// Moves the client to `room`.
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
                Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
                Ok(()) => Ok(()),
            },
        }
    }

    /// Answers with a page of the room's members.
    pub(super) fn who(&self, id: ClientId, reply: Option<u32>, who: Who<'_>) -> Result<(), Ending> {
        self.ctx.registry.who(id, who, reply);
        Ok(())
    }
}
