//! Clients an operator removes: one by its nick (a kick), or every one a ban covers.
//! Each is taken out of the registry at once (its rooms told why), told why itself, and
//! its connection told to close once that is flushed ([`Outbox::remove`]).

use std::net::IpAddr;

use bytes::Bytes;
use shared::auth::PublicKey;

use super::rooms::RoomName;
use super::{ClientId, Registry};

/// What an operator's request knows of a connected client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) id: ClientId,
    /// The nick as it is spelt.
    pub(crate) nick: String,
    pub(crate) ip: Option<IpAddr>,
    /// The key it proved, if it proved one.
    pub(crate) key: Option<PublicKey>,
}

impl Registry {
    /// The client whose nick is `nick`, as names compare (ignoring case and look-alikes).
    pub(crate) fn seen(&self, nick: &str) -> Option<Seen> {
        let (id, _) = self.client_named(nick)?;
        self.seen_id(id)
    }

    /// The client `id`, if it is logged in.
    pub(crate) fn seen_id(&self, id: ClientId) -> Option<Seen> {
        let inner = self.lock();
        let client = inner.clients.get(&id)?;
        Some(Seen {
            id,
            nick: client.nick.clone(),
            ip: client.ip,
            key: client.key.as_deref().copied(),
        })
    }

    /// The key of the room that the name `room` leads into (ignoring case and
    /// look-alikes, as a join would), and its name as shown: the existing room's, or
    /// `room` itself.
    pub(crate) fn room_named(&self, room: &str) -> (String, String) {
        let name = RoomName::new(room);
        let inner = self.lock();
        let key = inner.room_key(&name);
        let shown = Some(inner.room_name(&key))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| room.to_owned());
        (key, shown)
    }

    /// Removes every client that `covers` picks: each of its rooms is told it left for
    /// `reason`; it gets `told(auth)` (`auth`: whether it was granted the feature "auth",
    /// and so can read that feature's errors) as its last frame. Returns their nicks.
    pub(crate) fn remove_where(
        &self,
        covers: impl Fn(&Seen) -> bool,
        reason: &str,
        told: impl Fn(bool) -> Bytes,
    ) -> Vec<String> {
        self.with(|inner| {
            let picked: Vec<ClientId> = inner
                .clients
                .iter()
                .filter(|(id, client)| {
                    covers(&Seen {
                        id: **id,
                        nick: client.nick.clone(),
                        ip: client.ip,
                        key: client.key.as_deref().copied(),
                    })
                })
                .map(|(&id, _)| id)
                .collect();
            let mut removed = Vec::with_capacity(picked.len());
            for id in picked {
                let Some(client) = inner.remove(id, reason.to_owned()) else {
                    continue;
                };
                // A full queue: the client does not read, and is cut off instead.
                if client.outbox.push(&told(client.outbox.has_auth())).is_ok() {
                    client.outbox.remove();
                } else {
                    client.outbox.cut();
                }
                removed.push(client.nick);
            }
            removed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::probe::login;
    use shared::{RoomEvent, ServerMsg};

    #[tokio::test]
    async fn a_removed_client_is_told_and_its_room_sees_it_leave() {
        let reg = Registry::default();
        let mut ann = login(&reg, "ann", "lobby", 4096);
        let mut bob = login(&reg, "Bob", "lobby", 4096);
        ann.drain();
        bob.drain();
        let seen = reg.seen("bob").unwrap();
        assert_eq!(seen.nick, "Bob");
        let told = |auth: bool| {
            assert!(!auth, "a version 3 client was not granted auth");
            crate::outbound::encode(&ServerMsg::Shutdown {
                reason: "kicked by ann: spam".into(),
            })
        };
        let removed = reg.remove_where(|c| c.id == seen.id, "kicked by ann: spam", told);
        assert_eq!(removed, ["Bob"]);
        let last = bob.drain();
        assert!(
            matches!(last.as_slice(), [ServerMsg::Shutdown { reason }] if reason == "kicked by ann: spam"),
            "{last:?}"
        );
        let seen_by_ann = ann.drain();
        assert!(
            matches!(
                seen_by_ann.as_slice(),
                [ServerMsg::Notice { event: RoomEvent::Left { nick, reason }, .. }]
                    if nick == "Bob" && reason == "kicked by ann: spam"
            ),
            "{seen_by_ann:?}"
        );
        assert!(reg.seen("bob").is_none());
        assert!(!reg.leave(seen.id, "closed"), "gone already");
    }
}
