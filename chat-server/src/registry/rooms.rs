//! Rooms: the name that leads into a room (the same ignoring case, else the same look-alike
//! key, else a new room, keeping the spelling it was first given), the cap on their number,
//! entering, leaving and moving, and the sorted member lists, a page at a time. A room
//! exists while it has members.

use bytes::Bytes;
use shared::limits::{MAX_JOINED_ROOMS, MEMBER_PAGE};
use shared::names;
use shared::{ErrorKind, Member, MemberList, MemberListAnswer, RoomEvent, ServerMsg};

use super::fanout::Except;
use super::{ClientId, Inner, Refusal, Registry, Room, Rooms, Who};
use crate::outbound::encode_answer;

impl Registry {
    /// Joins `room` (already checked), answering `reply` with `Joined` and the room's
    /// members (then its topic, with the feature "rooms"). Without the feature, the client
    /// moves: the old room is told it left. With it, the room is added to the client's
    /// rooms, at most [`MAX_JOINED_ROOMS`], and becomes its current room. Joining a room
    /// one is in only answers. A new room beyond the maximum number of rooms is refused,
    /// and the client stays where it is.
    pub(crate) fn join(&self, id: ClientId, room: &str, reply: Option<u32>) -> Result<(), Refusal> {
        let room = RoomName::new(room);
        self.with(|inner| {
            let Some(client) = inner.clients.get(&id) else {
                return Ok(());
            };
            let new_key = inner.room_key(&room);
            let (many, version) = (client.many(), client.outbox.speaks());
            let already = client.rooms.contains(&new_key);
            if !already {
                if many && client.rooms.keys().len() >= MAX_JOINED_ROOMS {
                    return Err(Refusal {
                        kind: ErrorKind::TooManyRooms,
                        text: format!(
                            "you are in {MAX_JOINED_ROOMS} rooms, the most at once; part one \
                             before joining another"
                        ),
                    });
                }
                // Leaving a room one is alone in frees its place.
                let frees_one = !many
                    && client
                        .current()
                        .and_then(|key| inner.rooms.get(key))
                        .is_some_and(|r| r.members.len() == 1);
                inner.check_room_count(&new_key, frees_one)?;
            }
            let Some(client) = inner.clients.get_mut(&id) else {
                return Ok(());
            };
            if already {
                // The room one names last is the current one.
                if let Rooms::Many(keys) = &mut client.rooms {
                    keys.retain(|key| *key != new_key);
                    keys.push(new_key.clone());
                }
            } else {
                let old_key = match &mut client.rooms {
                    Rooms::One(key) => Some(std::mem::replace(key, new_key.clone())),
                    Rooms::Many(keys) => {
                        keys.push(new_key.clone());
                        None
                    }
                };
                let nick = client.nick.clone();
                if let Some(old_key) = old_key {
                    // Said before entering, so that a new room takes the name as given.
                    let new_name = inner
                        .rooms
                        .get(&new_key)
                        .map_or(room.name, |r| r.name.as_str())
                        .to_owned();
                    inner.exit(id, &old_key, format!("moved to {new_name}"));
                }
                inner.enter(id, &new_key, &room);
                inner.notify(&new_key, Except::Entering(id), RoomEvent::Joined { nick });
            }
            let answer = if version >= 4 {
                MemberListAnswer::Joined4 {
                    seq: inner.last_seq(&new_key),
                }
            } else {
                MemberListAnswer::Joined
            };
            let joined = inner.member_list(&new_key, answer, "", reply);
            inner.send(id, joined);
            inner.send_topic(id, &new_key);
            Ok(())
        })
    }

    /// Leaves `room` (feature "rooms"), one of the client's rooms: the client gets
    /// `Parted` (the answer to `reply`), the room's other members that it left and why
    /// (`reason`, cleaned already), and the room closes if it is now empty.
    pub(crate) fn part(
        &self,
        id: ClientId,
        room: &str,
        reason: String,
        reply: Option<u32>,
    ) -> Result<(), Refusal> {
        let room = RoomName::new(room);
        self.with(|inner| {
            let key = inner.target(id, Some(&room))?;
            let name = inner.room_name(&key);
            let Some(Rooms::Many(keys)) = inner.clients.get_mut(&id).map(|c| &mut c.rooms) else {
                // A client without the feature is always in its one room.
                return Err(Refusal {
                    kind: ErrorKind::Internal,
                    text: "the feature \"rooms\" was not granted".into(),
                });
            };
            keys.retain(|k| *k != key);
            inner.exit(id, &key, reason.clone());
            let parted = ServerMsg::Parted { room: name, reason };
            inner.send(id, encode_answer(reply, &parted));
            Ok(())
        })
    }

    /// Answers a `Who` or `WhoPage` about `room` (the current room if `None`) with a page
    /// of its members: `RoomMembers`, with their away texts, to a client with the feature
    /// "rooms"; `Members` or `Members4` to one without.
    pub(crate) fn who(
        &self,
        id: ClientId,
        room: Option<&str>,
        who: Who<'_>,
        reply: Option<u32>,
    ) -> Result<(), Refusal> {
        let room = room.map(RoomName::new);
        self.with(|inner| {
            let room_key = inner.target(id, room.as_ref())?;
            let Some(client) = inner.clients.get(&id) else {
                return Ok(());
            };
            let after = match who {
                Who::Plain => "",
                Who::After(after) => after,
            };
            let members = if client.many() {
                inner.room_members(&room_key, after, reply)
            } else {
                let answer = match who {
                    Who::Plain if client.outbox.speaks() < 4 => MemberListAnswer::Members,
                    _ => MemberListAnswer::Members4,
                };
                inner.member_list(&room_key, answer, after, reply)
            };
            inner.send(id, members);
            Ok(())
        })
    }
}

/// A room name as a client gave it, with its two keys ([`names::fold`] and
/// [`names::look_alike_key`]), made before the registry's lock is taken: the look-alike
/// key takes rounds of normalisation, which every other client would otherwise wait for.
#[derive(Debug)]
pub(crate) struct RoomName<'a> {
    pub(super) name: &'a str,
    fold: String,
    look: String,
}

impl<'a> RoomName<'a> {
    /// The keys of `name`, which should be a valid room name ([`names::check_room`]): the
    /// cost grows with its length.
    pub(crate) fn new(name: &'a str) -> Self {
        Self {
            name,
            fold: names::fold(name),
            look: names::look_alike_key(name),
        }
    }
}

impl Inner {
    /// The key of the room that `name` leads into: an existing room whose name is the
    /// same ignoring case, else one whose name looks the same, else a new room.
    pub(super) fn room_key(&self, name: &RoomName<'_>) -> String {
        if self.rooms.contains_key(&name.fold) {
            return name.fold.clone();
        }
        self.room_looks
            .get(&name.look)
            .unwrap_or(&name.fold)
            .clone()
    }

    /// Refuses to create the room `key` if it does not exist and there are already
    /// `max_rooms` rooms (`frees_one`: the client leaves a room that then closes).
    pub(super) fn check_room_count(&self, key: &str, frees_one: bool) -> Result<(), Refusal> {
        let after_leaving = self.rooms.len() - usize::from(frees_one);
        if self.rooms.contains_key(key) || after_leaving < self.max_rooms {
            return Ok(());
        }
        Err(Refusal {
            kind: ErrorKind::InvalidRoom,
            text: format!(
                "the server has {} rooms, its maximum; join one that exists",
                self.max_rooms
            ),
        })
    }

    /// Display name of a room; empty if it does not exist (cannot happen for a client's
    /// own room, which exists while the client is in it).
    pub(super) fn room_name(&self, key: &str) -> String {
        self.rooms
            .get(key)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    }

    /// `answer` with the room's name and a page of its members' nicks, sorted
    /// case-insensitively: the first [`MEMBER_PAGE`] after `after` (from the first if it is
    /// empty), encoded as the answer to `reply`. The nicks are borrowed, not copied: a join
    /// storm in a room of thousands would otherwise copy every nick at each join.
    pub(super) fn member_list(
        &self,
        key: &str,
        answer: MemberListAnswer<'_>,
        after: &str,
        reply: Option<u32>,
    ) -> Bytes {
        let Some(room) = self.rooms.get(key) else {
            let list = MemberList {
                answer,
                room: "",
                members: &[],
                total: 0,
                more: false,
            };
            return encode_answer(reply, &list);
        };
        let nick = |id: &ClientId| self.clients.get(id).map(|c| c.nick.as_str());
        let start = self.page_start(room, after);
        let page: Vec<&str> = room.members[start..]
            .iter()
            .filter_map(|(id, _)| nick(id))
            .take(MEMBER_PAGE)
            .collect();
        let list = MemberList {
            answer,
            room: &room.name,
            members: &page,
            total: u32::try_from(room.members.len()).unwrap_or(u32::MAX),
            more: start + page.len() < room.members.len(),
        };
        encode_answer(reply, &list)
    }

    /// Where the page of a room's members after `after` starts. The list is sorted by the
    /// order of [`names::cmp_members`], so this is a binary search.
    fn page_start(&self, room: &Room, after: &str) -> usize {
        if after.is_empty() {
            return 0;
        }
        room.members.partition_point(|(id, _)| {
            self.clients
                .get(id)
                .is_some_and(|c| names::cmp_members(&c.nick, after).is_le())
        })
    }

    /// `RoomMembers` (feature "rooms"): the room's name and a page of its members, each
    /// with its away text, the first [`MEMBER_PAGE`] after `after`, encoded as the answer
    /// to `reply`.
    pub(super) fn room_members(&self, key: &str, after: &str, reply: Option<u32>) -> Bytes {
        let Some(room) = self.rooms.get(key) else {
            let empty = ServerMsg::RoomMembers {
                room: String::new(),
                total: 0,
                members: Vec::new(),
                more: false,
            };
            return encode_answer(reply, &empty);
        };
        let start = self.page_start(room, after);
        let members: Vec<Member> = room.members[start..]
            .iter()
            .filter_map(|(id, _)| self.clients.get(id))
            .take(MEMBER_PAGE)
            .map(|c| Member {
                nick: c.nick.clone(),
                away: c.away.as_deref().unwrap_or_default().to_owned(),
            })
            .collect();
        let more = start + members.len() < room.members.len();
        let page = ServerMsg::RoomMembers {
            room: room.name.clone(),
            total: u32::try_from(room.members.len()).unwrap_or(u32::MAX),
            members,
            more,
        };
        encode_answer(reply, &page)
    }

    /// Adds a client to the room `key` ([`Inner::room_key`]), creating the room as `name`
    /// if needed, with the topic the history keeps for it.
    pub(super) fn enter(&mut self, id: ClientId, key: &str, name: &RoomName<'_>) {
        if !self.rooms.contains_key(key) {
            let room = Room {
                name: name.name.to_owned(),
                members: Vec::new(),
                seq: self.sequences.open_room(key),
                topic: self.history.topic(key),
            };
            self.rooms.insert(key.to_owned(), room);
            self.room_looks.insert(name.look.clone(), key.to_owned());
        }
        self.seat(id, key);
    }

    /// Puts a client at its place, by nick, among the members of the room `key` (moving
    /// it there if it was elsewhere in the list).
    pub(super) fn seat(&mut self, id: ClientId, key: &str) {
        let (Some(client), Some(room)) = (self.clients.get(&id), self.rooms.get_mut(key)) else {
            return;
        };
        room.remove_member(id);
        let clients = &self.clients;
        let at = room.members.partition_point(|(member, _)| {
            clients
                .get(member)
                .is_some_and(|m| names::cmp_members(&m.nick, &client.nick).is_lt())
        });
        room.members.insert(at, (id, client.outbox.clone()));
    }

    /// Takes a client out of a room, drops the room if it is now empty, and tells the rest
    /// that it left.
    pub(super) fn exit(&mut self, id: ClientId, key: &str, reason: String) {
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        room.remove_member(id);
        if room.members.is_empty() {
            let look = names::look_alike_key(&room.name);
            self.rooms.remove(key);
            self.room_looks.remove(&look);
            return;
        }
        let Some(nick) = self.clients.get(&id).map(|c| c.nick.clone()) else {
            return;
        };
        self.notify(key, Except::Nobody, RoomEvent::Left { nick, reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::probe::{
        Probe, login, login_as, login_rooms, login4, refused_login, room_events,
    };
    use shared::{ChatKind, ServerMsg};

    #[tokio::test]
    async fn rooms_are_found_ignoring_case_and_keep_their_first_spelling() {
        let reg = Registry::default();
        let mut a = login(&reg, "a", "Dev", 4096);
        let mut b = login(&reg, "b", "dEV", 4096);
        let ServerMsg::Welcome { room, members, .. } = b.next().unwrap() else {
            panic!("expected welcome");
        };
        assert_eq!(room, "Dev");
        assert_eq!(members, ["a", "b"]);
        a.drain();
        reg.say(a.id, None, ChatKind::Say, "hi".into(), None, None)
            .unwrap();
        assert!(matches!(b.next(), Some(ServerMsg::Chat { ref room, .. }) if room == "Dev"));
    }

    #[tokio::test]
    async fn look_alike_room_names_lead_into_the_same_room() {
        let reg = Registry::default();
        let mut first = login(&reg, "first", "lobby", 1 << 16);
        first.drain();
        // A Cyrillic о, fullwidth letters, a capital I for the l, and all in capitals.
        let spellings = [
            "l\u{043E}bby",
            "\u{FF4C}\u{FF4F}\u{FF42}\u{FF42}\u{FF59}",
            "Iobby",
            "LOBBY",
        ];
        for (n, spelling) in spellings.into_iter().enumerate() {
            let mut guest = login(&reg, &format!("guest{n}"), spelling, 1 << 16);
            let ServerMsg::Welcome { room, .. } = guest.next().unwrap() else {
                panic!("expected welcome");
            };
            assert_eq!(room, "lobby", "{spelling:?}");
        }
        assert_eq!(reg.lock().rooms.len(), 1);
        reg.say(first.id, None, ChatKind::Say, "one room".into(), None, None)
            .unwrap();
        let heard = first.drain();
        assert!(
            matches!(heard.last(), Some(ServerMsg::Chat { room, .. }) if room == "lobby"),
            "{heard:?}"
        );
        // Moving there by a look-alike spelling is moving nowhere.
        reg.join(first.id, "\u{FF4C}obby", None).unwrap();
        assert!(matches!(
            first.drain().as_slice(),
            [ServerMsg::Joined { room, .. }] if room == "lobby"
        ));
        // Another name is another room, and a room that closes takes its keys along.
        let other = login(&reg, "other", "lobby2", 4096);
        assert_eq!(reg.lock().rooms.len(), 2);
        reg.join(other.id, "elsewhere", None).unwrap();
        assert_eq!(reg.lock().room_looks.len(), 2);
    }

    #[tokio::test]
    async fn rooms_beyond_the_maximum_are_refused() {
        let reg = Registry::new(2);
        let mut a = login(&reg, "a", "one", 4096);
        let _b = login(&reg, "b", "two", 4096);
        let refused = refused_login(&reg, "c", "three");
        assert_eq!(refused.kind, ErrorKind::InvalidRoom);
        // Existing rooms can still be entered, in any case.
        let c = login(&reg, "c", "ONE", 4096);
        a.drain();
        let refused = reg.join(a.id, "three", None).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::InvalidRoom);
        assert!(a.drain().is_empty(), "refused before anything was sent");
        // Alone in "one", a may move to a new room, since "one" closes behind it.
        assert!(reg.leave(c.id, "bye"));
        reg.join(a.id, "three", None).unwrap();
        let last = a.drain().pop();
        assert!(matches!(last, Some(ServerMsg::Joined { room, .. }) if room == "three"));
    }

    #[tokio::test]
    async fn the_last_member_out_drops_the_room() {
        let reg = Registry::default();
        let a = login(&reg, "a", "tmp", 4096);
        reg.join(a.id, "elsewhere", None).unwrap();
        assert!(!reg.lock().rooms.contains_key("tmp"));
        assert!(reg.leave(a.id, "bye"));
        assert!(reg.lock().rooms.is_empty());
        assert!(reg.lock().nicks.is_empty());
        assert!(reg.lock().looks.is_empty());
        assert!(reg.lock().room_looks.is_empty());
    }

    #[tokio::test]
    async fn member_lists_stay_sorted_through_joins_renames_and_leaves() {
        let reg = Registry::default();
        let mut ann = login(&reg, "carl", "lobby", 1 << 16);
        let bob = login(&reg, "Bob", "lobby", 1 << 16);
        let _dora = login(&reg, "dora", "LOBBY", 1 << 16);
        let _ada = login(&reg, "ada", "lobby", 1 << 16);
        let who = |probe: &mut Probe| {
            reg.who(probe.id, None, Who::Plain, None).unwrap();
            match probe.drain().pop() {
                Some(ServerMsg::Members { members, .. }) => members,
                other => panic!("expected the members, got {other:?}"),
            }
        };
        assert_eq!(who(&mut ann), ["ada", "Bob", "carl", "dora"]);
        reg.rename(bob.id, "eve", None).unwrap();
        assert_eq!(who(&mut ann), ["ada", "carl", "dora", "eve"]);
        assert!(reg.leave(bob.id, "bye"));
        assert_eq!(who(&mut ann), ["ada", "carl", "dora"]);
    }

    #[tokio::test]
    async fn member_lists_are_paged_however_large_the_room() {
        let reg = Registry::default();
        // Thousands of the longest nicks: 32 characters of 4 bytes each.
        let nick = |i: usize| format!("{i:04}{}", "🦀".repeat(28));
        let count = 2 * MEMBER_PAGE + 345;
        let mut first = login4(&reg, &nick(0), "crowd");
        for i in 1..count {
            let _ = login_as(&reg, 4, &nick(i), "crowd", 1 << 20).unwrap();
        }
        let mut old = login(&reg, "old", "crowd", 1 << 20);
        old.drain();
        first.drain();
        let mut names = Vec::new();
        let mut after = String::new();
        for _ in 0..10 {
            reg.who(first.id, None, Who::After(&after), None).unwrap();
            let Some(ServerMsg::Members4 { members, .. }) = first.next() else {
                panic!("a page");
            };
            assert!(members.names.len() <= MEMBER_PAGE);
            assert_eq!(members.total as usize, count + 1);
            names.extend(members.names.iter().cloned());
            match members.names.last() {
                Some(last) if members.more => after.clone_from(last),
                _ => break,
            }
        }
        let mut expected: Vec<String> = (0..count).map(nick).collect();
        expected.push("old".into());
        expected.sort_by(|a, b| names::cmp_members(a, b));
        assert_eq!(names, expected, "every member once, in order");
        // A version 3 list is cut at a page, and fits a frame.
        reg.who(old.id, None, Who::Plain, None).unwrap();
        let Some(ServerMsg::Members { members, .. }) = old.next() else {
            panic!("a list");
        };
        assert_eq!(members.len(), MEMBER_PAGE);
    }

    #[tokio::test]
    async fn with_the_feature_a_join_adds_a_room_up_to_the_limit() {
        let reg = Registry::default();
        let mut ann = login_rooms(&reg, "ann", "r0");
        for n in 1..MAX_JOINED_ROOMS {
            reg.join(ann.id, &format!("r{n}"), None).unwrap();
        }
        let refused = reg.join(ann.id, "one-too-many", None).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::TooManyRooms);
        assert!(refused.text.contains("20 rooms"), "{}", refused.text);
        // Joining a room one is in is answered again, and makes it the current room.
        ann.drain();
        reg.join(ann.id, "R3", Some(7)).unwrap();
        let again = ann.drain();
        assert!(
            matches!(&again[..], [ServerMsg::Reply { id: 7, .. }]),
            "{again:?}"
        );
        assert_eq!(reg.whereabouts(ann.id).unwrap().room, "r3");
        // Each room lists ann; a room-less chat goes to the current room only.
        let mut bob = login_rooms(&reg, "bob", "r0");
        reg.join(bob.id, "r3", None).unwrap();
        bob.drain();
        reg.say(ann.id, None, ChatKind::Say, "hi".into(), None, None)
            .unwrap();
        let heard = bob.drain();
        assert!(
            matches!(&heard[..], [ServerMsg::Room { room, .. }] if room == "r3"),
            "{heard:?}"
        );
    }

    #[tokio::test]
    async fn a_part_tells_the_parter_and_the_rest_and_leaves_the_other_rooms_alone() {
        let reg = Registry::default();
        let mut ann = login_rooms(&reg, "ann", "one");
        reg.join(ann.id, "two", None).unwrap();
        let mut bob = login_rooms(&reg, "bob", "one");
        reg.join(bob.id, "two", None).unwrap();
        ann.drain();
        bob.drain();
        reg.part(ann.id, "ONE", "bye".into(), Some(3)).unwrap();
        let parted = ann.next().unwrap().into_reply();
        assert!(
            matches!(&parted, (Some(3), ServerMsg::Parted { room, reason }) if room == "one" && reason == "bye"),
            "{parted:?}"
        );
        let left = room_events(&bob.drain());
        assert!(
            matches!(&left[..], [(_, RoomEvent::Left { nick, reason })] if nick == "ann" && reason == "bye"),
            "{left:?}"
        );
        let refused = reg.part(ann.id, "one", String::new(), None).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NotInRoom);
        let refused = reg
            .say(ann.id, Some("one"), ChatKind::Say, "x".into(), None, None)
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NotInRoom);
        // "two" is the current room still; parting it too leaves ann in none.
        reg.part(ann.id, "two", String::new(), None).unwrap();
        let refused = reg
            .say(ann.id, None, ChatKind::Say, "x".into(), None, None)
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NotInRoom);
        assert!(reg.whereabouts(ann.id).is_none());
    }

    #[tokio::test]
    async fn a_rename_and_a_leave_are_told_in_every_room_once() {
        let reg = Registry::default();
        let ann = login_rooms(&reg, "ann", "one");
        reg.join(ann.id, "two", None).unwrap();
        reg.join(ann.id, "three", None).unwrap();
        let mut bob = login_rooms(&reg, "bob", "one");
        reg.join(bob.id, "two", None).unwrap();
        let mut old = login(&reg, "old", "three", 1 << 16);
        bob.drain();
        old.drain();
        reg.rename(ann.id, "anna", None).unwrap();
        assert!(reg.leave(ann.id, "bye"));
        let rooms = |msgs: Vec<ServerMsg>| -> Vec<String> {
            msgs.into_iter()
                .map(|m| match m {
                    ServerMsg::Room { room, event, .. } => format!("{room}: {event:?}"),
                    ServerMsg::Notice { room, event, .. } => format!("{room}: {event:?}"),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        let seen = rooms(bob.drain());
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen[0].starts_with("one: Renamed") && seen[1].starts_with("two: Renamed"));
        assert!(seen[2].starts_with("one: Left") && seen[3].starts_with("two: Left"));
        let seen = rooms(old.drain());
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[0].starts_with("three: Renamed") && seen[1].starts_with("three: Left"));
    }

    #[tokio::test]
    async fn topics_go_to_the_members_with_the_feature_and_to_whoever_enters() {
        let reg = Registry::default();
        let mut ann = login_rooms(&reg, "ann", "lobby");
        let mut new = login4(&reg, "new", "lobby");
        let mut old = login(&reg, "old", "lobby", 1 << 16);
        ann.drain();
        new.drain();
        old.drain();
        reg.set_topic(ann.id, "Lobby", "welcome".into(), Some(9))
            .unwrap();
        let set = ann.next().unwrap().into_reply();
        assert!(
            matches!(&set, (Some(9), ServerMsg::Topic { room, text, by, .. }) if room == "lobby" && text == "welcome" && by == "ann"),
            "{set:?}"
        );
        assert!(new.drain().is_empty() && old.drain().is_empty());
        // Told after the welcome of a client with the feature, and after its Joined4.
        let mut bob = login_rooms(&reg, "bob", "lobby");
        let got = bob.drain();
        assert!(
            matches!(&got[..], [ServerMsg::Welcome4 { .. }, ServerMsg::Topic { text, .. }] if text == "welcome"),
            "{got:?}"
        );
        ann.drain();
        let mut cat = login_rooms(&reg, "cat", "elsewhere");
        cat.drain();
        reg.join(cat.id, "lobby", None).unwrap();
        let got = cat.drain();
        assert!(
            matches!(&got[..], [ServerMsg::Joined4 { .. }, ServerMsg::Topic { by, .. }] if by == "ann"),
            "{got:?}"
        );
        // Cleared: told as an empty topic, and not sent to whoever enters next.
        reg.set_topic(bob.id, "lobby", String::new(), None).unwrap();
        assert!(
            matches!(ann.drain().pop(), Some(ServerMsg::Topic { text, .. }) if text.is_empty())
        );
        let mut dan = login_rooms(&reg, "dan", "lobby");
        assert!(matches!(&dan.drain()[..], [ServerMsg::Welcome4 { .. }]));
        // Kept while the room exists, not after without history.
        reg.set_topic(bob.id, "lobby", "again".into(), None)
            .unwrap();
        for id in [ann.id, new.id, old.id, bob.id, cat.id, dan.id] {
            assert!(reg.leave(id, "bye"));
        }
        let mut eve = login_rooms(&reg, "eve", "lobby");
        assert!(matches!(&eve.drain()[..], [ServerMsg::Welcome4 { .. }]));
    }

    #[tokio::test]
    async fn away_texts_show_in_room_members_and_after_a_private_message() {
        let reg = Registry::default();
        let mut ann = login_rooms(&reg, "ann", "lobby");
        let mut bob = login_rooms(&reg, "bob", "lobby");
        let mut old = login(&reg, "old", "lobby", 1 << 16);
        reg.away(ann.id, "lunch".into(), Some(1));
        let answer = ann.drain().pop().unwrap().into_reply();
        assert!(
            matches!(&answer, (Some(1), ServerMsg::Away { nick, text }) if nick == "ann" && text == "lunch"),
            "{answer:?}"
        );
        bob.drain();
        reg.who(bob.id, Some("lobby"), Who::Plain, None).unwrap();
        let Some(ServerMsg::RoomMembers {
            members,
            total,
            more,
            ..
        }) = bob.next()
        else {
            panic!("room members");
        };
        assert_eq!((total, more), (3, false));
        let listed: Vec<(&str, &str)> = members
            .iter()
            .map(|m| (m.nick.as_str(), m.away.as_str()))
            .collect();
        assert_eq!(listed, [("ann", "lunch"), ("bob", ""), ("old", "")]);
        // A page after a nick.
        reg.who(bob.id, None, Who::After("ann"), None).unwrap();
        let Some(ServerMsg::RoomMembers { members, .. }) = bob.next() else {
            panic!("room members");
        };
        assert_eq!(members.len(), 2);
        // A private message to an away nick: the echo, then the away text; not to a
        // sender without the feature.
        reg.private(bob.id, "ANN", "there?".into(), None).unwrap();
        let got = bob.drain();
        assert!(
            matches!(&got[..], [ServerMsg::Private { .. }, ServerMsg::Away { nick, text }] if nick == "ann" && text == "lunch"),
            "{got:?}"
        );
        old.drain();
        reg.private(old.id, "ann", "there?".into(), None).unwrap();
        assert!(matches!(&old.drain()[..], [ServerMsg::Private { .. }]));
        // Back: no more away text.
        reg.away(ann.id, String::new(), None);
        reg.private(bob.id, "ann", "back?".into(), None).unwrap();
        assert!(matches!(&bob.drain()[..], [ServerMsg::Private { .. }]));
    }
}
