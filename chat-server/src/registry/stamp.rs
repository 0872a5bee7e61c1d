//! Stamping: every room message gets a server-wide id, its room's next sequence number
//! (both from [`crate::sequences`]) and the time, under the registry's lock, so that every
//! member sees the room's messages in the same order. Once delivered, still under the
//! lock, it is handed to the history ([`Inner::record`]), which so gets the messages in
//! stamp order, and which never makes the registry wait.

use shared::{RoomEvent, ServerMsg, Stamped};

use super::Inner;
use crate::common::now_ms;
use crate::history::Permit;

impl Inner {
    /// Stamps `event` as the next message of the room `key`, with an id and the room's
    /// next sequence number; `None` if the room does not exist.
    pub(super) fn stamp(&mut self, key: &str, event: RoomEvent) -> Option<ServerMsg> {
        let room = self.rooms.get_mut(key)?;
        let (id, seq) = self.sequences.next_in(&mut room.seq);
        let stamped = Stamped {
            id,
            seq,
            time_ms: now_ms(),
            event,
        };
        Some(stamped.into_room_msg(room.name.clone()))
    }

    /// Hands `msg`, a room message of the room `key` that [`Inner::stamp`] made and that
    /// has been delivered, to the history, with the `permit` its sender took (a chat or an
    /// action). Every stamped message goes there, delivered to someone or not: what
    /// happened in the room.
    pub(super) fn record(&self, key: &str, msg: ServerMsg, permit: Option<Permit>) {
        if let Some((room, stamped)) = msg.into_stamped() {
            self.history.record(key, room, stamped, permit);
        }
    }

    /// The latest sequence number of the room `key`; 0 if it does not exist (cannot
    /// happen for a client's own room).
    pub(super) fn last_seq(&self, key: &str) -> u64 {
        self.rooms.get(key).map_or(0, |r| r.seq.last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::registry::probe::{login, login4, room_events};
    use shared::{ChatKind, FileInfo};

    #[tokio::test]
    async fn ids_increase_across_rooms_and_private_messages() {
        let reg = Registry::default();
        let mut a = login(&reg, "a", "one", 4096);
        let mut b = login(&reg, "b", "two", 4096);
        reg.say(a.id, None, ChatKind::Say, "x".into(), None, None)
            .unwrap();
        reg.private(a.id, "B", "y".into(), None).unwrap();
        reg.say(b.id, None, ChatKind::Action, "z".into(), None, None)
            .unwrap();
        let id = |m: &ServerMsg| match m {
            ServerMsg::Chat { id, .. } | ServerMsg::Private { id, .. } => Some(*id),
            _ => None,
        };
        let seen_by_a: Vec<u64> = a.drain().iter().filter_map(id).collect();
        let seen_by_b: Vec<u64> = b.drain().iter().filter_map(id).collect();
        // a sees its chat and its private echo; b sees the private and its action.
        let [chat, private] = seen_by_a[..] else {
            panic!("{seen_by_a:?}")
        };
        assert_eq!(seen_by_b, [private, private + 1]);
        assert!(chat < private);
    }

    #[tokio::test]
    async fn room_messages_carry_gapless_sequence_numbers_and_the_welcome_the_latest() {
        let reg = Registry::default();
        let mut ann = login4(&reg, "ann", "lobby");
        let welcome = ann.next().unwrap();
        let ServerMsg::Welcome4 { seq, members, .. } = welcome else {
            panic!("expected a version 4 welcome, got {welcome:?}");
        };
        assert_eq!(members.names, ["ann"]);
        let mut bob = login4(&reg, "bob", "lobby");
        let Some(ServerMsg::Welcome4 { seq: bob_seq, .. }) = bob.next() else {
            panic!("a welcome");
        };
        reg.say(ann.id, None, ChatKind::Say, "hi".into(), None, None)
            .unwrap();
        reg.rename(bob.id, "rob", None).unwrap();
        // Another room's traffic takes ids, not this room's numbers.
        let _other = login4(&reg, "zed", "elsewhere");
        let file = FileInfo {
            id: 1,
            name: "f".into(),
            size: 0,
            sha256: vec![0; 32],
            from: "ann".into(),
            time_ms: 0,
            room: "lobby".into(),
        };
        reg.offer("lobby", file);
        assert!(reg.leave(bob.id, "bye"));
        let seen = room_events(&ann.drain());
        let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (seq + 1..seq + 6).collect::<Vec<_>>(), "{seen:?}");
        assert!(matches!(seen[0].1, RoomEvent::Joined { ref nick } if nick == "bob"));
        // Bob's welcome names its own join notice: the next message it gets follows it.
        assert_eq!(bob_seq, seq + 1);
        assert!(matches!(seen[4].1, RoomEvent::Left { .. }));
    }
}
