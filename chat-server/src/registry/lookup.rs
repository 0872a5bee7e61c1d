//! Questions about one client or one room asked from outside a room's traffic: who goes
//! by a nick, and how many a room holds (a file's "fetched by N of M members").

use shared::names;

use super::Registry;
use super::rooms::RoomName;
use crate::common::ClientId;
use crate::outbound::Outbox;

impl Registry {
    /// The client whose nick is `nick` as names compare (ignoring case and look-alikes),
    /// with its queue.
    pub(crate) fn client_named(&self, nick: &str) -> Option<(ClientId, Outbox)> {
        let (key, look) = (names::fold(nick), names::look_alike_key(nick));
        let inner = self.lock();
        let id = *inner.nicks.get(&key).or_else(|| inner.looks.get(&look))?;
        let client = inner.clients.get(&id)?;
        Some((id, client.outbox.clone()))
    }

    /// How many members the room named `room` has now (as a join would find it), `but`
    /// not counted; 0 when the room is empty.
    pub(crate) fn member_count(&self, room: &str, but: ClientId) -> u32 {
        let room = RoomName::new(room);
        let inner = self.lock();
        let Some(room) = inner.rooms.get(&inner.room_key(&room)) else {
            return 0;
        };
        let count = room.members.iter().filter(|(id, _)| *id != but).count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }
}
