//! Delivery: a room message queued for every member of its room, encoded once per protocol
//! version present there and copied into each member's queue under the registry's lock,
//! never waiting; a frame for one client; and the slow consumers this finds, cut off before
//! the lock is released.

use bytes::Bytes;
use shared::{ChatKind, FileInfo, RoomEvent, ServerMsg, wrap_reply};

use super::rooms::RoomName;
use super::{ClientId, Inner, Refusal, Registry};
use crate::history::Permit;
use crate::outbound::{Outbox, PushError, RoomFrames};

/// Who in a room does not get one of its messages.
#[derive(Debug, Clone, Copy)]
pub(super) enum Except {
    Nobody,
    /// The member who enters: its welcome or `Joined` names the message's sequence
    /// number instead.
    Entering(ClientId),
    /// The member who renamed itself, if it speaks version 3, which told no client of its
    /// own rename. A version 4 client gets the room's message too, or it would see a gap.
    RenamedInVersion3(ClientId),
}

impl Except {
    fn skips(self, member: ClientId, outbox: &Outbox) -> bool {
        match self {
            Except::Nobody => false,
            Except::Entering(id) => id == member,
            Except::RenamedInVersion3(id) => id == member && outbox.speaks() < 4,
        }
    }
}

impl Registry {
    /// Stamps a message (a `Chat` or an `Action`) and sends it to every member of `room`
    /// (one of the sender's rooms; its current room if `None`), the sender included: its client shows its own line from this echo,
    /// which answers the request `reply` if it had an id. Then it goes to the history,
    /// with the `permit` the sender took for it. Once the server is shutting down, nothing:
    /// it would reach no one, so it is neither stamped nor kept.
    pub(crate) fn say(
        &self,
        id: ClientId,
        room: Option<&str>,
        kind: ChatKind,
        text: String,
        reply: Option<u32>,
        permit: Option<Permit>,
    ) -> Result<(), Refusal> {
        let room = room.map(RoomName::new);
        self.with(|inner| {
            if inner.closing {
                return Ok(());
            }
            let room_key = inner.target(id, room.as_ref())?;
            let Some(client) = inner.clients.get(&id) else {
                return Ok(());
            };
            let from = client.nick.clone();
            let said = RoomEvent::Said { from, kind, text };
            if let Some(msg) = inner.stamp(&room_key, said) {
                inner.broadcast(&room_key, Except::Nobody, &msg, reply.map(|r| (id, r)));
                inner.record(&room_key, msg, permit);
            }
            Ok(())
        })
    }

    /// Tells every member of the room whose key is `room_key`, if it has any, that
    /// `file` was shared there, and the history; nothing once the server is shutting down
    /// (as [`Registry::say`]).
    pub(crate) fn offer(&self, room_key: &str, file: FileInfo) {
        self.with(|inner| {
            if inner.closing {
                return;
            }
            if let Some(msg) = inner.stamp(room_key, RoomEvent::Shared { file }) {
                inner.broadcast(room_key, Except::Nobody, &msg, None);
                inner.record(room_key, msg, None);
            }
        });
    }
}

impl Inner {
    /// Tells a room's members (but `except`) about an event, and the history.
    pub(super) fn notify(&mut self, key: &str, except: Except, event: RoomEvent) {
        if let Some(notice) = self.stamp(key, event) {
            self.broadcast(key, except, &notice, None);
            self.record(key, notice, None);
        }
    }

    /// Queues a room message for every member of a room (but `except`), encoded once
    /// per protocol version present and shared, not copied. `echo`: the sender and the id
    /// of its request, whose copy is that frame wrapped in a reply.
    pub(super) fn broadcast(
        &mut self,
        key: &str,
        except: Except,
        msg: &ServerMsg,
        echo: Option<(ClientId, u32)>,
    ) {
        if self.closing {
            return;
        }
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let frames = RoomFrames::new(msg);
        let echo = echo.and_then(|(sender, reply)| {
            let version = self.clients.get(&sender)?.outbox.speaks();
            let frame = frames.for_version(version);
            Some((
                sender,
                wrap_reply(reply, frame).unwrap_or_else(|_| frame.clone()),
            ))
        });
        for &(id, ref outbox) in &room.members {
            let pushed = match &echo {
                _ if except.skips(id, outbox) => continue,
                Some((sender, frame)) if *sender == id => outbox.push(frame),
                _ => outbox.push_room(&frames),
            };
            if pushed == Err(PushError::Full) {
                self.slow.push(id);
            }
        }
    }

    /// Queues a frame for one client.
    pub(super) fn send(&mut self, id: ClientId, frame: Bytes) {
        if self.closing {
            return;
        }
        let pushed = self.clients.get(&id).map(|c| c.outbox.push(&frame));
        if pushed == Some(Err(PushError::Full)) {
            self.slow.push(id);
        }
    }

    /// Removes every client found to be a slow consumer, ending its connection. Telling a
    /// room may find more; each round removes a client, so this ends.
    pub(super) fn evict_slow(&mut self) {
        while let Some(id) = self.slow.pop() {
            if let Some(client) = self.remove(id, "slow consumer".to_owned()) {
                client.outbox.cut();
                tracing::warn!(
                    client = id,
                    nick = %client.nick,
                    "disconnected a slow consumer: its outbound queue is full"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Who;
    use crate::registry::probe::{login, login4};

    #[tokio::test]
    async fn a_full_queue_evicts_the_member_and_tells_the_room() {
        let reg = Registry::default();
        let mut talker = login(&reg, "talker", "lobby", 4096);
        let sleeper = login(&reg, "sleeper", "lobby", 80); // welcome + one chat frame
        talker.drain();
        reg.say(talker.id, None, ChatKind::Say, "one".into(), None, None)
            .unwrap();
        reg.say(talker.id, None, ChatKind::Say, "two".into(), None, None)
            .unwrap();
        let seen = talker.drain();
        assert!(seen.iter().any(|m| matches!(
            m,
            ServerMsg::Notice { event: RoomEvent::Left { nick, reason }, .. }
                if nick == "sleeper" && reason == "slow consumer"
        )));
        assert!(!reg.leave(sleeper.id, "connection closed"), "already gone");
        // The nick is free again.
        let _again = login(&reg, "sleeper", "lobby", 4096);
    }

    #[tokio::test]
    async fn nothing_is_delivered_once_closing() {
        let reg = Registry::default();
        let mut a = login(&reg, "a", "lobby", 4096);
        let b = login(&reg, "b", "lobby", 4096);
        a.drain();
        reg.close();
        reg.say(b.id, None, ChatKind::Say, "late".into(), None, None)
            .unwrap();
        assert!(reg.leave(b.id, "server shutting down"));
        assert!(a.drain().is_empty());
    }

    /// What is said or shared once the server is shutting down reaches no one, so it is
    /// not stamped (the room's numbers stay) and not kept in history either.
    #[tokio::test]
    async fn nothing_is_stamped_or_kept_once_closing() {
        let data = tempfile::tempdir().unwrap();
        let settings = crate::history::HistorySettings::new(data.path().join("h.sqlite3"));
        let (history, resume) = crate::history::History::open(settings).unwrap();
        let reg = Registry::with_history(10, history.clone(), resume.last_id);
        let a = login(&reg, "a", "lobby", 4096);
        reg.say(a.id, None, ChatKind::Say, "early".into(), None, None)
            .unwrap();
        let (seq, recorded) = (
            reg.whereabouts(a.id).unwrap().last_seq,
            history.last_recorded(),
        );
        reg.close();
        let permit = history.admit().await;
        reg.say(a.id, None, ChatKind::Say, "late".into(), None, Some(permit))
            .unwrap();
        let file = FileInfo {
            id: 1,
            name: "f".into(),
            size: 0,
            sha256: vec![0; 32],
            from: "a".into(),
            time_ms: 0,
            room: "lobby".into(),
        };
        reg.offer("lobby", file);
        assert_eq!(reg.whereabouts(a.id).unwrap().last_seq, seq, "stamped");
        assert_eq!(history.last_recorded(), recorded, "kept");
        history.close().await;
    }

    #[tokio::test]
    async fn each_member_gets_the_frame_of_its_version() {
        let reg = Registry::default();
        let mut old = login(&reg, "old", "lobby", 1 << 16);
        let mut new = login4(&reg, "new", "lobby");
        old.drain();
        new.drain();
        reg.say(old.id, None, ChatKind::Action, "waves".into(), None, None)
            .unwrap();
        let said_old = old.drain();
        let said_new = new.drain();
        assert!(
            matches!(&said_old[..], [ServerMsg::Chat { text, kind: ChatKind::Action, .. }] if text == "waves"),
            "{said_old:?}"
        );
        let [ServerMsg::Room { id, event, .. }] = &said_new[..] else {
            panic!("{said_new:?}");
        };
        let ServerMsg::Chat { id: old_id, .. } = &said_old[0] else {
            unreachable!()
        };
        assert_eq!(id, old_id, "one message, one id, in both shapes");
        assert!(matches!(event, RoomEvent::Said { from, .. } if from == "old"));
        // Notices too.
        let _late = login(&reg, "late", "lobby", 1 << 16);
        assert!(matches!(old.drain()[..], [ServerMsg::Notice { .. }]));
        assert!(matches!(new.drain()[..], [ServerMsg::Room { .. }]));
    }

    #[tokio::test]
    async fn answers_carry_the_id_of_their_request() {
        let reg = Registry::default();
        let mut ann = login4(&reg, "ann", "lobby");
        let mut bob = login4(&reg, "bob", "lobby");
        ann.drain();
        bob.drain();
        reg.say(ann.id, None, ChatKind::Say, "hi".into(), Some(41), None)
            .unwrap();
        // The sender's echo is the answer; the others get the plain room message.
        let echo = ann.next().unwrap().into_reply();
        assert!(
            matches!(echo, (Some(41), ServerMsg::Room { .. })),
            "{echo:?}"
        );
        assert!(matches!(bob.next(), Some(ServerMsg::Room { .. })));
        reg.private(ann.id, "bob", "psst".into(), Some(42)).unwrap();
        assert!(matches!(
            ann.next().unwrap().into_reply(),
            (Some(42), ServerMsg::Private { .. })
        ));
        assert!(matches!(bob.next(), Some(ServerMsg::Private { .. })));
        reg.rename(ann.id, "anne", Some(43)).unwrap();
        // The room's message (ann's too: she would see a gap), then the answer.
        let renamed = ann.drain();
        assert!(
            matches!(
                &renamed[..],
                [
                    ServerMsg::Room {
                        event: RoomEvent::Renamed { .. },
                        ..
                    },
                    ServerMsg::Reply { id: 43, .. }
                ]
            ),
            "{renamed:?}"
        );
        assert!(matches!(bob.next(), Some(ServerMsg::Room { .. })));
        reg.who(ann.id, None, Who::Plain, Some(44)).unwrap();
        assert!(matches!(
            ann.next().unwrap().into_reply(),
            (Some(44), ServerMsg::Members4 { .. })
        ));
        reg.join(ann.id, "rust", Some(45)).unwrap();
        let joined = ann.drain().pop().unwrap().into_reply();
        assert!(
            matches!(joined, (Some(45), ServerMsg::Joined4 { ref room, .. }) if room == "rust")
        );
    }
}
