//! Who is connected, under which nick, in which room; and delivery to them.
//!
//! One [`std::sync::Mutex`] guards everything. It is never held across an `.await`: every
//! operation looks things up, stamps and encodes the message, and pushes it into the
//! members' queues without waiting ([`Outbox::push`]). Stamping and queueing under the same
//! lock is what gives every member of a room the same order of messages, with ids that
//! increase in that order.
//!
//! A member whose queue is full is a slow consumer: it is removed (its room is told), and
//! its queue is cut ([`Outbox::cut`]), which ends its connection.
//!
//! Nicks and rooms are unique as names ([`shared::names`]): ignoring case
//! ([`names::fold`]) and across look-alike characters ([`names::look_alike_key`]). A nick
//! is taken while a nick with either key is connected; a room name leads into the room
//! whose name has the same fold, else the same look-alike key, else to a new room. The
//! spelling a name was first given with is kept for display. A room exists while it has
//! members.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use shared::{
    ChatKind, ErrorKind, MemberList, MemberListAnswer, PROTOCOL_VERSION, RoomEvent, ServerMsg,
};

use shared::names;

use crate::outbound::{Outbox, PushError, encode};

/// Identifies a logged-in connection for as long as the server runs (never reused).
pub(crate) type ClientId = u64;

/// A request the registry turned down; the connection tells its client and stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) kind: ErrorKind,
    pub(crate) text: String,
}

/// Where a client is: its nick and its room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Whereabouts {
    pub(crate) nick: String,
    /// The room's display name.
    pub(crate) room: String,
    /// The room's key ([`Inner::rooms`]).
    pub(crate) room_key: String,
}

/// The server's view of every logged-in client and every room.
#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    /// The start of the clock that [`Registry::clock_ms`] reads.
    epoch: Instant,
}

impl Default for Registry {
    /// A registry without a limit on the number of rooms.
    fn default() -> Self {
        Self::new(usize::MAX)
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_client: ClientId,
    /// Last message id handed out; ids start at 1.
    last_message: u64,
    /// Last keepalive ping token handed out.
    last_ping: u64,
    /// Set once the server shuts down: from then on nothing is delivered, so that the
    /// `Shutdown` frame is the last one every client gets.
    closing: bool,
    clients: HashMap<ClientId, Client>,
    /// Folded nick to client.
    nicks: HashMap<String, ClientId>,
    /// Look-alike key of each nick to its client.
    looks: HashMap<String, ClientId>,
    /// Rooms by the fold of their name (as first given).
    rooms: HashMap<String, Room>,
    /// Look-alike key of each room's name to the room's key in `rooms`.
    room_looks: HashMap<String, String>,
    /// Most rooms at once.
    max_rooms: usize,
    /// Clients whose queue was found full during the current operation; removed before
    /// the lock is released.
    slow: Vec<ClientId>,
}

#[derive(Debug)]
struct Client {
    nick: String,
    /// Key of the client's room.
    room: String,
    outbox: Outbox,
}

#[derive(Debug)]
struct Room {
    /// The name as first given, for display.
    name: String,
    /// Sorted by nick ([`names::cmp_members`]), so that a member list is
    /// read off in order instead of sorted at every join. A list, not a map: a broadcast
    /// walks it front to back, and it costs 16 bytes per member.
    members: Vec<(ClientId, Outbox)>,
}

impl Room {
    /// Takes `id` out of the member list, if it is there (a linear scan: a few
    /// microseconds in a room of ten thousand, once per leave or rename).
    fn remove_member(&mut self, id: ClientId) {
        if let Some(at) = self.members.iter().position(|(member, _)| *member == id) {
            self.members.remove(at);
        }
    }
}

impl Registry {
    /// An empty registry that allows at most `max_rooms` rooms at once.
    pub(crate) fn new(max_rooms: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                max_rooms,
                ..Inner::default()
            }),
            epoch: Instant::now(),
        }
    }

    /// Logs a client in under `nick` (already checked) into `room` (already checked, not
    /// empty): queues its `Welcome` and tells the room's other members.
    pub(crate) fn login(
        &self,
        nick: &str,
        room: &str,
        outbox: Outbox,
    ) -> Result<ClientId, Refusal> {
        self.with(|inner| {
            let key = names::fold(nick);
            let look = names::look_alike_key(nick);
            if inner.nicks.contains_key(&key) || inner.looks.contains_key(&look) {
                return Err(nick_taken(nick));
            }
            let room_key = inner.room_key(room);
            inner.check_room_count(&room_key, false)?;
            inner.next_client += 1;
            let id = inner.next_client;
            inner.nicks.insert(key, id);
            inner.looks.insert(look, id);
            if inner.closing {
                // Logged in as the server shuts down: told at once, like everyone else.
                outbox.shut_down();
            }
            outbox.heard(self.clock_ms(Instant::now()));
            let client = Client {
                nick: nick.to_owned(),
                room: room_key.clone(),
                outbox,
            };
            inner.clients.insert(id, client);
            inner.enter(id, &room_key, room);

            // The welcome is queued before the room can send this client anything else.
            let welcome = MemberListAnswer::Welcome {
                version: PROTOCOL_VERSION,
                nick,
            };
            let welcome = inner.member_list(&room_key, welcome);
            inner.send(id, welcome);
            let joined = RoomEvent::Joined {
                nick: nick.to_owned(),
            };
            inner.notify(&room_key, Some(id), joined);
            Ok(id)
        })
    }

    /// Stamps a message (a `Chat` or an `Action`) and sends it to every member of the
    /// sender's room, the sender included: its client shows its own line from this echo.
    pub(crate) fn say(&self, id: ClientId, kind: ChatKind, text: String) {
        self.with(|inner| {
            let Some(client) = inner.clients.get(&id) else {
                return;
            };
            let (room_key, from) = (client.room.clone(), client.nick.clone());
            let msg = ServerMsg::Chat {
                id: inner.next_message_id(),
                time_ms: now_ms(),
                room: inner.room_name(&room_key),
                from,
                kind,
                text,
            };
            inner.broadcast(&room_key, None, &encode(&msg));
        });
    }

    /// Sends a private message to the client called `to` (any case, any look-alike
    /// spelling: only one such nick can be connected) and echoes it to its sender.
    pub(crate) fn private(&self, id: ClientId, to: &str, text: String) -> Result<(), Refusal> {
        self.with(|inner| {
            let Some(from) = inner.clients.get(&id).map(|c| c.nick.clone()) else {
                return Ok(());
            };
            let target = inner
                .nicks
                .get(&names::fold(to))
                .or_else(|| inner.looks.get(&names::look_alike_key(to)))
                .copied();
            let Some((target, to)) =
                target.and_then(|t| Some((t, inner.clients.get(&t)?.nick.clone())))
            else {
                return Err(Refusal {
                    kind: ErrorKind::NoSuchNick,
                    text: format!("no one here is called '{to}'"),
                });
            };
            let msg = ServerMsg::Private {
                id: inner.next_message_id(),
                time_ms: now_ms(),
                from,
                to,
                text,
            };
            let frame = encode(&msg);
            if target != id {
                inner.send(target, frame.clone());
            }
            inner.send(id, frame);
            Ok(())
        })
    }

    /// Moves a client to `room` (already checked): the old room is told it left, the new
    /// room that it joined, and the client gets `Joined` with the new room's members.
    /// Joining the room one is in only answers `Joined`. A new room beyond the maximum
    /// number of rooms is refused, and the client stays where it is.
    pub(crate) fn join(&self, id: ClientId, room: &str) -> Result<(), Refusal> {
        self.with(|inner| {
            let Some(client) = inner.clients.get(&id) else {
                return Ok(());
            };
            let old_key = client.room.clone();
            let new_key = inner.room_key(room);
            if new_key != old_key {
                // Leaving a room one is alone in frees its place.
                let frees_one = inner
                    .rooms
                    .get(&old_key)
                    .is_some_and(|r| r.members.len() == 1);
                inner.check_room_count(&new_key, frees_one)?;
            }
            let Some(client) = inner.clients.get_mut(&id) else {
                return Ok(());
            };
            if new_key != client.room {
                let old_key = std::mem::replace(&mut client.room, new_key.clone());
                let nick = client.nick.clone();
                // Said before entering, so that a new room takes the name as given.
                let new_name = inner
                    .rooms
                    .get(&new_key)
                    .map_or(room, |r| r.name.as_str())
                    .to_owned();
                inner.exit(id, &old_key, format!("moved to {new_name}"));
                inner.enter(id, &new_key, room);
                inner.notify(&new_key, Some(id), RoomEvent::Joined { nick });
            }
            let joined = inner.member_list(&new_key, MemberListAnswer::Joined);
            inner.send(id, joined);
            Ok(())
        })
    }

    /// Renames a client to `nick` (already checked). Changing only the case (or the look
    /// alike spelling) of one's own nick is allowed; taking someone else's is not.
    pub(crate) fn rename(&self, id: ClientId, nick: &str) -> Result<(), Refusal> {
        self.with(|inner| {
            let Some(client) = inner.clients.get_mut(&id) else {
                return Ok(());
            };
            let new_key = names::fold(nick);
            let new_look = names::look_alike_key(nick);
            let someone_else = |holder: Option<&ClientId>| holder.is_some_and(|&h| h != id);
            if someone_else(inner.nicks.get(&new_key)) || someone_else(inner.looks.get(&new_look)) {
                return Err(nick_taken(nick));
            }
            if client.nick != nick {
                let old = std::mem::replace(&mut client.nick, nick.to_owned());
                let room_key = client.room.clone();
                inner.nicks.remove(&names::fold(&old));
                inner.looks.remove(&names::look_alike_key(&old));
                inner.nicks.insert(new_key, id);
                inner.looks.insert(new_look, id);
                // The new nick may sort elsewhere.
                inner.seat(id, &room_key);
                let renamed = RoomEvent::Renamed {
                    old,
                    new: nick.to_owned(),
                };
                inner.notify(&room_key, Some(id), renamed);
            }
            let changed = ServerMsg::NickChanged {
                nick: nick.to_owned(),
            };
            inner.send(id, encode(&changed));
            Ok(())
        })
    }

    /// Answers a client's `Who` with the members of its room.
    pub(crate) fn who(&self, id: ClientId) {
        self.with(|inner| {
            let Some(client) = inner.clients.get(&id) else {
                return;
            };
            let room_key = client.room.clone();
            let members = inner.member_list(&room_key, MemberListAnswer::Members);
            inner.send(id, members);
        });
    }

    /// The nick and room of a logged-in client.
    pub(crate) fn whereabouts(&self, id: ClientId) -> Option<Whereabouts> {
        let inner = self.lock();
        let client = inner.clients.get(&id)?;
        Some(Whereabouts {
            nick: client.nick.clone(),
            room: inner.room_name(&client.room),
            room_key: client.room.clone(),
        })
    }

    /// Sends an encoded frame (a file offer) to every member of the room whose key is
    /// `room_key`, if it has any.
    pub(crate) fn offer(&self, room_key: &str, frame: &Bytes) {
        self.with(|inner| inner.broadcast(room_key, None, frame));
    }

    /// Forgets a client: frees its nick, and tells its room that it left and why. Returns
    /// false if it was already gone (removed as a slow consumer).
    pub(crate) fn leave(&self, id: ClientId, reason: &str) -> bool {
        self.with(|inner| inner.remove(id, reason.to_owned()).is_some())
    }

    /// Stops all delivery, for shutdown: every client is about to be told `Shutdown` by
    /// its own connection, and nothing may follow that.
    /// Every connection learns it through its queue ([`Outbox::shut_down`]).
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closing = true;
        for client in inner.clients.values() {
            client.outbox.shut_down();
        }
    }

    /// `at` in milliseconds since the registry was made: the monotonic clock of the
    /// keepalive, which connections stamp with [`Outbox::heard`]. (Not the wall clock of
    /// message stamps, [`now_ms`].)
    pub(crate) fn clock_ms(&self, at: Instant) -> u64 {
        millis(at.saturating_duration_since(self.epoch))
    }

    /// The keepalive, for every logged-in client at once: one that completed no frame for
    /// `ping_after` is pinged (once), one silent for `drop_after` is told to end (its
    /// connection says why and leaves). One pass over the clients every so often costs
    /// less than a timer per connection, and keeps every idle connection smaller.
    pub(crate) fn keep_alive(&self, ping_after: Duration, drop_after: Duration) {
        let now = self.clock_ms(Instant::now());
        let (ping_ms, drop_ms) = (millis(ping_after), millis(drop_after));
        self.with(|inner| {
            let mut pings = Vec::new();
            for (&id, client) in &inner.clients {
                let (heard, pinged) = client.outbox.last_heard();
                let silent = now.saturating_sub(heard);
                if silent >= drop_ms {
                    client.outbox.time_out();
                } else if silent >= ping_ms && !pinged && client.outbox.mark_pinged(heard) {
                    pings.push(id);
                }
            }
            for id in pings {
                inner.last_ping += 1;
                let ping = ServerMsg::Ping {
                    token: inner.last_ping,
                };
                inner.send(id, encode(&ping));
            }
        });
    }

    /// Runs `f` under the lock, then disconnects the slow consumers it found.
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self.lock();
        let result = f(&mut inner);
        inner.evict_slow();
        result
    }

    /// The data stays consistent even if a thread panicked while holding the lock (every
    /// operation is a handful of map updates), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// The key of the room that the name `name` leads into: an existing room whose name is
    /// the same ignoring case, else one whose name looks the same, else a new room.
    fn room_key(&self, name: &str) -> String {
        let fold = names::fold(name);
        if self.rooms.contains_key(&fold) {
            return fold;
        }
        self.room_looks
            .get(&names::look_alike_key(name))
            .cloned()
            .unwrap_or(fold)
    }

    /// Refuses to create the room `key` if it does not exist and there are already
    /// `max_rooms` rooms (`frees_one`: the client leaves a room that then closes).
    fn check_room_count(&self, key: &str, frees_one: bool) -> Result<(), Refusal> {
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

    fn next_message_id(&mut self) -> u64 {
        self.last_message += 1;
        self.last_message
    }

    /// Display name of a room; empty if it does not exist (cannot happen for a client's
    /// own room, which exists while the client is in it).
    fn room_name(&self, key: &str) -> String {
        self.rooms
            .get(key)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    }

    /// `answer` with the room's name and its members' nicks, sorted case-insensitively,
    /// encoded. The nicks are borrowed, not copied: a join storm in a room of thousands
    /// would otherwise copy every nick (and a folded copy for sorting) at each join.
    fn member_list(&self, key: &str, answer: MemberListAnswer<'_>) -> Bytes {
        let Some(room) = self.rooms.get(key) else {
            return encode(&MemberList {
                answer,
                room: "",
                members: &[],
            });
        };
        let nicks: Vec<&str> = room
            .members
            .iter()
            .filter_map(|(id, _)| self.clients.get(id))
            .map(|c| c.nick.as_str())
            .collect();
        encode(&MemberList {
            answer,
            room: &room.name,
            members: &nicks,
        })
    }

    /// Adds a client to the room `key` ([`Inner::room_key`]), creating the room as `name`
    /// if needed.
    fn enter(&mut self, id: ClientId, key: &str, name: &str) {
        if !self.rooms.contains_key(key) {
            let room = Room {
                name: name.to_owned(),
                members: Vec::new(),
            };
            self.rooms.insert(key.to_owned(), room);
            self.room_looks
                .insert(names::look_alike_key(name), key.to_owned());
        }
        self.seat(id, key);
    }

    /// Puts a client at its place, by nick, among the members of the room `key` (moving
    /// it there if it was elsewhere in the list).
    fn seat(&mut self, id: ClientId, key: &str) {
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
    fn exit(&mut self, id: ClientId, key: &str, reason: String) {
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
        self.notify(key, None, RoomEvent::Left { nick, reason });
    }

    /// Removes a client entirely, telling its room. Returns it if it was there.
    fn remove(&mut self, id: ClientId, reason: String) -> Option<Client> {
        let room_key = self.clients.get(&id)?.room.clone();
        self.exit(id, &room_key, reason);
        let client = self.clients.remove(&id)?;
        self.nicks.remove(&names::fold(&client.nick));
        self.looks.remove(&names::look_alike_key(&client.nick));
        Some(client)
    }

    /// Removes every client found to be a slow consumer, ending its connection. Telling a
    /// room may find more; each round removes a client, so this ends.
    fn evict_slow(&mut self) {
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

    /// Tells a room's members (except `except`) about an event.
    fn notify(&mut self, key: &str, except: Option<ClientId>, event: RoomEvent) {
        let notice = ServerMsg::Notice {
            time_ms: now_ms(),
            room: self.room_name(key),
            event,
        };
        self.broadcast(key, except, &encode(&notice));
    }

    /// Queues one encoded frame for every member of a room (except `except`); the frame is
    /// shared, not copied.
    fn broadcast(&mut self, key: &str, except: Option<ClientId>, frame: &Bytes) {
        if self.closing {
            return;
        }
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        for &(id, ref outbox) in &room.members {
            if Some(id) != except && outbox.push(frame) == Err(PushError::Full) {
                self.slow.push(id);
            }
        }
    }

    /// Queues a frame for one client.
    fn send(&mut self, id: ClientId, frame: Bytes) {
        if self.closing {
            return;
        }
        let pushed = self.clients.get(&id).map(|c| c.outbox.push(&frame));
        if pushed == Some(Err(PushError::Full)) {
            self.slow.push(id);
        }
    }
}

fn nick_taken(nick: &str) -> Refusal {
    Refusal {
        kind: ErrorKind::NickTaken,
        text: format!("the nick '{nick}' is taken"),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch; 0 if the clock is set before 1970.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::queue;
    use bytes::BytesMut;
    use shared::ClientCodec;
    use tokio_util::codec::Decoder;

    /// A logged-in client whose queue the test reads directly.
    struct Probe {
        id: ClientId,
        outbox: Outbox,
        read: BytesMut,
    }

    impl Probe {
        fn next(&mut self) -> Option<ServerMsg> {
            self.read.extend_from_slice(&self.outbox.take_now());
            ClientCodec::default()
                .decode(&mut self.read)
                .expect("server frames decode")
        }

        fn drain(&mut self) -> Vec<ServerMsg> {
            std::iter::from_fn(|| self.next()).collect()
        }
    }

    fn login(reg: &Registry, nick: &str, room: &str, limit_bytes: usize) -> Probe {
        let outbox = queue(limit_bytes);
        let id = reg.login(nick, room, outbox.clone()).unwrap();
        Probe {
            id,
            outbox,
            read: BytesMut::new(),
        }
    }

    #[tokio::test]
    async fn welcome_lists_members_sorted_and_others_hear_the_join() {
        let reg = Registry::default();
        let mut bob = login(&reg, "bob", "lobby", 4096);
        let mut alice = login(&reg, "Alice", "lobby", 4096);
        assert!(matches!(bob.next(), Some(ServerMsg::Welcome { .. })));
        let welcome = alice.next().unwrap();
        let ServerMsg::Welcome { members, room, .. } = welcome else {
            panic!("expected welcome, got {welcome:?}");
        };
        assert_eq!(members, ["Alice", "bob"]);
        assert_eq!(room, "lobby");
        let notice = bob.next().unwrap();
        assert!(matches!(
            notice,
            ServerMsg::Notice { event: RoomEvent::Joined { ref nick }, .. } if nick == "Alice"
        ));
        assert!(alice.next().is_none());
    }

    #[tokio::test]
    async fn keepalive_pings_a_silent_client_once_then_times_it_out() {
        let reg = Registry::default();
        let mut quiet = login(&reg, "quiet", "lobby", 4096);
        quiet.drain();
        let hour = Duration::from_secs(3600);
        // Heard from at login: nothing is due yet.
        reg.keep_alive(hour, hour);
        assert!(quiet.drain().is_empty());
        // Silent for longer than the ping interval: one ping, however often the pass runs.
        std::thread::sleep(Duration::from_millis(5));
        reg.keep_alive(Duration::from_millis(1), hour);
        reg.keep_alive(Duration::from_millis(1), hour);
        let pings = quiet.drain();
        assert!(
            matches!(pings.as_slice(), [ServerMsg::Ping { .. }]),
            "{pings:?}"
        );
        assert!(!quiet.outbox.timed_out());
        // Heard from again: pinged again once it falls silent.
        quiet.outbox.heard(reg.clock_ms(Instant::now()));
        std::thread::sleep(Duration::from_millis(5));
        reg.keep_alive(Duration::from_millis(1), hour);
        assert!(matches!(quiet.drain().as_slice(), [ServerMsg::Ping { .. }]));
        // Silent for the idle timeout: told to end.
        reg.keep_alive(Duration::from_millis(1), Duration::from_millis(1));
        assert!(quiet.outbox.timed_out());
    }

    #[tokio::test]
    async fn member_lists_stay_sorted_through_joins_renames_and_leaves() {
        let reg = Registry::default();
        let mut ann = login(&reg, "carl", "lobby", 1 << 16);
        let bob = login(&reg, "Bob", "lobby", 1 << 16);
        let _dora = login(&reg, "dora", "LOBBY", 1 << 16);
        let _ada = login(&reg, "ada", "lobby", 1 << 16);
        let who = |probe: &mut Probe| {
            reg.who(probe.id);
            match probe.drain().pop() {
                Some(ServerMsg::Members { members, .. }) => members,
                other => panic!("expected the members, got {other:?}"),
            }
        };
        assert_eq!(who(&mut ann), ["ada", "Bob", "carl", "dora"]);
        reg.rename(bob.id, "eve").unwrap();
        assert_eq!(who(&mut ann), ["ada", "carl", "dora", "eve"]);
        assert!(reg.leave(bob.id, "bye"));
        assert_eq!(who(&mut ann), ["ada", "carl", "dora"]);
    }

    #[tokio::test]
    async fn nicks_are_unique_ignoring_case() {
        let reg = Registry::default();
        let _bob = login(&reg, "bob", "lobby", 4096);
        let outbox = queue(8);
        let refused = reg.login("BOB", "other", outbox).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NickTaken);
    }

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
        reg.say(a.id, ChatKind::Say, "hi".into());
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
        reg.say(first.id, ChatKind::Say, "one room".into());
        let heard = first.drain();
        assert!(
            matches!(heard.last(), Some(ServerMsg::Chat { room, .. }) if room == "lobby"),
            "{heard:?}"
        );
        // Moving there by a look-alike spelling is moving nowhere.
        reg.join(first.id, "\u{FF4C}obby").unwrap();
        assert!(matches!(
            first.drain().as_slice(),
            [ServerMsg::Joined { room, .. }] if room == "lobby"
        ));
        // Another name is another room, and a room that closes takes its keys along.
        let other = login(&reg, "other", "lobby2", 4096);
        assert_eq!(reg.lock().rooms.len(), 2);
        reg.join(other.id, "elsewhere").unwrap();
        assert_eq!(reg.lock().room_looks.len(), 2);
    }

    #[tokio::test]
    async fn a_private_message_finds_a_look_alike_spelling() {
        let reg = Registry::default();
        let mut bob = login(&reg, "bob", "lobby", 4096);
        let ann = login(&reg, "ann", "lobby", 4096);
        bob.drain();
        reg.private(ann.id, "B\u{043E}B", "hi".into()).unwrap();
        assert!(matches!(
            bob.drain().as_slice(),
            [ServerMsg::Private { to, .. }] if to == "bob"
        ));
    }

    #[tokio::test]
    async fn ids_increase_across_rooms_and_private_messages() {
        let reg = Registry::default();
        let mut a = login(&reg, "a", "one", 4096);
        let mut b = login(&reg, "b", "two", 4096);
        reg.say(a.id, ChatKind::Say, "x".into());
        reg.private(a.id, "B", "y".into()).unwrap();
        reg.say(b.id, ChatKind::Action, "z".into());
        let ids: Vec<u64> = a
            .drain()
            .into_iter()
            .chain(b.drain())
            .filter_map(|m| match m {
                ServerMsg::Chat { id, .. } | ServerMsg::Private { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        // a sees its chat (1) and its private echo (2); b sees the private (2) and its action (3).
        assert_eq!(ids, [1, 2, 2, 3]);
    }

    #[tokio::test]
    async fn a_full_queue_evicts_the_member_and_tells_the_room() {
        let reg = Registry::default();
        let mut talker = login(&reg, "talker", "lobby", 4096);
        let sleeper = login(&reg, "sleeper", "lobby", 80); // welcome + one chat frame
        talker.drain();
        reg.say(talker.id, ChatKind::Say, "one".into());
        reg.say(talker.id, ChatKind::Say, "two".into());
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
    async fn look_alike_nicks_are_taken() {
        let reg = Registry::default();
        let _bob = login(&reg, "bob", "lobby", 4096);
        // Cyrillic о, Greek ο, fullwidth letters.
        for nick in ["b\u{043E}b", "B\u{03BF}b", "\u{FF42}\u{FF4F}\u{FF42}"] {
            let outbox = queue(8);
            let refused = reg.login(nick, "lobby", outbox).unwrap_err();
            assert_eq!(refused.kind, ErrorKind::NickTaken, "{nick:?}");
        }
        let bobby = login(&reg, "bobby", "lobby", 4096);
        // Renaming to a look-alike of someone else's nick is refused; of one's own, not.
        let refused = reg
            .rename(bobby.id, "\u{0412}\u{041E}\u{0412}")
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NickTaken);
        reg.rename(bobby.id, "b\u{043E}bby").unwrap();
        reg.rename(bobby.id, "BOBBY").unwrap();
    }

    #[tokio::test]
    async fn rooms_beyond_the_maximum_are_refused() {
        let reg = Registry::new(2);
        let mut a = login(&reg, "a", "one", 4096);
        let _b = login(&reg, "b", "two", 4096);
        let outbox = queue(4096);
        let refused = reg.login("c", "three", outbox).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::InvalidRoom);
        // Existing rooms can still be entered, in any case.
        let c = login(&reg, "c", "ONE", 4096);
        a.drain();
        let refused = reg.join(a.id, "three").unwrap_err();
        assert_eq!(refused.kind, ErrorKind::InvalidRoom);
        assert!(a.drain().is_empty(), "refused before anything was sent");
        // Alone in "one", a may move to a new room, since "one" closes behind it.
        assert!(reg.leave(c.id, "bye"));
        reg.join(a.id, "three").unwrap();
        let last = a.drain().pop();
        assert!(matches!(last, Some(ServerMsg::Joined { room, .. }) if room == "three"));
    }

    #[tokio::test]
    async fn the_last_member_out_drops_the_room() {
        let reg = Registry::default();
        let a = login(&reg, "a", "tmp", 4096);
        reg.join(a.id, "elsewhere").unwrap();
        assert!(!reg.lock().rooms.contains_key("tmp"));
        assert!(reg.leave(a.id, "bye"));
        assert!(reg.lock().rooms.is_empty());
        assert!(reg.lock().nicks.is_empty());
        assert!(reg.lock().looks.is_empty());
        assert!(reg.lock().room_looks.is_empty());
    }

    #[tokio::test]
    async fn nothing_is_delivered_once_closing() {
        let reg = Registry::default();
        let mut a = login(&reg, "a", "lobby", 4096);
        let b = login(&reg, "b", "lobby", 4096);
        a.drain();
        reg.close();
        reg.say(b.id, ChatKind::Say, "late".into());
        assert!(reg.leave(b.id, "server shutting down"));
        assert!(a.drain().is_empty());
    }
}
