//! Who is connected, under which nick, in which room; and delivery to them.
//!
//! One [`std::sync::Mutex`] guards everything. It is never held across an `.await`: every
//! operation looks things up, stamps and encodes the message, and pushes it into the
//! members' queues without waiting ([`Outbox::push`]). Stamping and queueing under the same
//! lock is what gives every member of a room the same order of messages, with ids and
//! sequence numbers that increase in that order.
//!
//! A room message is encoded once for each protocol version present in its room
//! ([`RoomFrames`]), and its sender's copy, when the sender asked with a request id, is
//! that frame wrapped in a reply ([`shared::wrap_reply`]): never once per member.
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
use shared::limits::MEMBER_PAGE;
use shared::{
    ChatKind, ErrorKind, FileInfo, Limits, MemberList, MemberListAnswer, RoomEvent, ServerMsg,
    wrap_reply,
};

use shared::names;

use crate::outbound::{Outbox, PushError, RoomFrames, encode, encode_answer};
use crate::sequences::{RoomSeq, Sequences};

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

/// What the handshake settled, for the welcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Greeting<'a> {
    /// The protocol version the client speaks from now on.
    pub(crate) version: u16,
    /// The optional features granted (version 4).
    pub(crate) features: &'a [String],
    /// The server's limits (version 4).
    pub(crate) limits: &'a Limits,
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
    /// Message ids and the rooms' sequence numbers.
    sequences: Sequences,
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
    /// The room's sequence numbers.
    seq: RoomSeq,
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

/// Who in a room does not get one of its messages.
#[derive(Debug, Clone, Copy)]
enum Except {
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

/// Which member list a client asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Who<'a> {
    /// `Who`: the whole list in version 3 (its first [`MEMBER_PAGE`] names), the first
    /// page in version 4.
    Plain,
    /// `WhoPage`: the page of names after this one.
    After(&'a str),
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
    /// empty), speaking the greeting's version from now on: queues its welcome and tells
    /// the room's other members.
    pub(crate) fn login(
        &self,
        nick: &str,
        room: &str,
        outbox: Outbox,
        greeting: &Greeting<'_>,
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
            outbox.liveness().heard(self.clock_ms(Instant::now()));
            // Its queue knows the version, which decides the frames it gets.
            outbox.set_speaks(greeting.version);
            let client = Client {
                nick: nick.to_owned(),
                room: room_key.clone(),
                outbox,
            };
            inner.clients.insert(id, client);
            inner.enter(id, &room_key, room);

            // Stamped first, so that the welcome names the notice's sequence number; the
            // welcome is queued before the room can send this client anything else.
            let joined = RoomEvent::Joined {
                nick: nick.to_owned(),
            };
            let notice = inner.stamp(&room_key, joined);
            let welcome = if greeting.version >= 4 {
                MemberListAnswer::Welcome4 {
                    version: greeting.version,
                    features: greeting.features,
                    limits: greeting.limits,
                    nick,
                    seq: inner.last_seq(&room_key),
                }
            } else {
                MemberListAnswer::Welcome {
                    version: greeting.version,
                    nick,
                }
            };
            let welcome = inner.member_list(&room_key, welcome, "", None);
            inner.send(id, welcome);
            if let Some(notice) = notice {
                inner.broadcast(&room_key, Except::Entering(id), &notice, None);
            }
            Ok(id)
        })
    }

    /// Stamps a message (a `Chat` or an `Action`) and sends it to every member of the
    /// sender's room, the sender included: its client shows its own line from this echo,
    /// which answers the request `reply` if it had an id.
    pub(crate) fn say(&self, id: ClientId, kind: ChatKind, text: String, reply: Option<u32>) {
        self.with(|inner| {
            let Some(client) = inner.clients.get(&id) else {
                return;
            };
            let (room_key, from) = (client.room.clone(), client.nick.clone());
            let said = RoomEvent::Said { from, kind, text };
            if let Some(msg) = inner.stamp(&room_key, said) {
                inner.broadcast(&room_key, Except::Nobody, &msg, reply.map(|r| (id, r)));
            }
        });
    }

    /// Sends a private message to the client called `to` (any case, any look-alike
    /// spelling: only one such nick can be connected) and echoes it to its sender, as the
    /// answer to `reply`.
    pub(crate) fn private(
        &self,
        id: ClientId,
        to: &str,
        text: String,
        reply: Option<u32>,
    ) -> Result<(), Refusal> {
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
                id: inner.sequences.next_id(),
                time_ms: now_ms(),
                from,
                to,
                text,
            };
            let frame = encode(&msg);
            if target != id {
                inner.send(target, frame.clone());
            }
            let echo = match reply {
                Some(r) => wrap_reply(r, &frame).unwrap_or(frame),
                None => frame,
            };
            inner.send(id, echo);
            Ok(())
        })
    }

    /// Moves a client to `room` (already checked): the old room is told it left, the new
    /// room that it joined, and the client gets `Joined` with the new room's members, as
    /// the answer to `reply`. Joining the room one is in only answers `Joined`. A new room
    /// beyond the maximum number of rooms is refused, and the client stays where it is.
    pub(crate) fn join(&self, id: ClientId, room: &str, reply: Option<u32>) -> Result<(), Refusal> {
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
            let version = client.outbox.speaks();
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
            Ok(())
        })
    }

    /// Renames a client to `nick` (already checked). Changing only the case (or the look
    /// alike spelling) of one's own nick is allowed; taking someone else's is not.
    pub(crate) fn rename(
        &self,
        id: ClientId,
        nick: &str,
        reply: Option<u32>,
    ) -> Result<(), Refusal> {
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
                inner.notify(&room_key, Except::RenamedInVersion3(id), renamed);
            }
            let changed = ServerMsg::NickChanged {
                nick: nick.to_owned(),
            };
            inner.send(id, encode_answer(reply, &changed));
            Ok(())
        })
    }

    /// Answers a client's `Who` or `WhoPage` with the members of its room.
    pub(crate) fn who(&self, id: ClientId, who: Who<'_>, reply: Option<u32>) {
        self.with(|inner| {
            let Some(client) = inner.clients.get(&id) else {
                return;
            };
            let room_key = client.room.clone();
            let (answer, after) = match who {
                Who::Plain if client.outbox.speaks() < 4 => (MemberListAnswer::Members, ""),
                Who::Plain => (MemberListAnswer::Members4, ""),
                Who::After(after) => (MemberListAnswer::Members4, after),
            };
            let members = inner.member_list(&room_key, answer, after, reply);
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

    /// Tells every member of the room whose key is `room_key`, if it has any, that
    /// `file` was shared there.
    pub(crate) fn offer(&self, room_key: &str, file: FileInfo) {
        self.with(|inner| {
            if let Some(msg) = inner.stamp(room_key, RoomEvent::Shared { file }) {
                inner.broadcast(room_key, Except::Nobody, &msg, None);
            }
        });
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
    /// keepalive, which connections stamp through [`Outbox::liveness`]. (Not the wall clock of
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
                let (heard, pinged) = client.outbox.liveness().last_heard();
                let silent = now.saturating_sub(heard);
                if silent >= drop_ms {
                    client.outbox.time_out();
                } else if silent >= ping_ms
                    && !pinged
                    && client.outbox.liveness().mark_pinged(heard)
                {
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

    /// Display name of a room; empty if it does not exist (cannot happen for a client's
    /// own room, which exists while the client is in it).
    fn room_name(&self, key: &str) -> String {
        self.rooms
            .get(key)
            .map(|r| r.name.clone())
            .unwrap_or_default()
    }

    /// `answer` with the room's name and a page of its members' nicks, sorted
    /// case-insensitively: the first [`MEMBER_PAGE`] after `after` (from the first if it is
    /// empty), encoded as the answer to `reply`. The nicks are borrowed, not copied: a join
    /// storm in a room of thousands would otherwise copy every nick at each join.
    fn member_list(
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
        // The list is sorted by the same order, so the page starts after a binary search.
        let start = if after.is_empty() {
            0
        } else {
            room.members.partition_point(|(id, _)| {
                nick(id).is_some_and(|n| names::cmp_members(n, after).is_le())
            })
        };
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

    /// The latest sequence number of the room `key`; 0 if it does not exist (cannot
    /// happen for a client's own room).
    fn last_seq(&self, key: &str) -> u64 {
        self.rooms.get(key).map_or(0, |r| r.seq.last())
    }

    /// Stamps `event` as the next message of the room `key`, with an id and the room's
    /// next sequence number; `None` if the room does not exist.
    fn stamp(&mut self, key: &str, event: RoomEvent) -> Option<ServerMsg> {
        let room = self.rooms.get_mut(key)?;
        let (id, seq) = self.sequences.next_in(&mut room.seq);
        Some(ServerMsg::Room {
            id,
            seq,
            time_ms: now_ms(),
            room: room.name.clone(),
            event,
        })
    }

    /// Adds a client to the room `key` ([`Inner::room_key`]), creating the room as `name`
    /// if needed.
    fn enter(&mut self, id: ClientId, key: &str, name: &str) {
        if !self.rooms.contains_key(key) {
            let room = Room {
                name: name.to_owned(),
                members: Vec::new(),
                seq: self.sequences.open_room(key),
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
        self.notify(key, Except::Nobody, RoomEvent::Left { nick, reason });
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

    /// Tells a room's members (but `except`) about an event.
    fn notify(&mut self, key: &str, except: Except, event: RoomEvent) {
        if let Some(notice) = self.stamp(key, event) {
            self.broadcast(key, except, &notice, None);
        }
    }

    /// Queues a room message for every member of a room (but `except`), encoded once
    /// per protocol version present and shared, not copied. `echo`: the sender and the id
    /// of its request, whose copy is that frame wrapped in a reply.
    fn broadcast(
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
    use shared::limits::MEMBER_PAGE;
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

    fn limits() -> Limits {
        Limits {
            max_frame: 1 << 20,
            max_text: 4096,
            member_page: MEMBER_PAGE as u32,
            msg_rate: 10,
            msg_burst: 20,
            max_file_size: 1 << 30,
        }
    }

    /// Logs a client in speaking `version`.
    fn login_as(
        reg: &Registry,
        version: u16,
        nick: &str,
        room: &str,
        limit_bytes: usize,
    ) -> Result<Probe, Refusal> {
        let outbox = queue(limit_bytes);
        let limits = limits();
        let greeting = Greeting {
            version,
            features: &[],
            limits: &limits,
        };
        let id = reg.login(nick, room, outbox.clone(), &greeting)?;
        Ok(Probe {
            id,
            outbox,
            read: BytesMut::new(),
        })
    }

    /// A version 3 client: the registry's first tests predate version 4 and hold for it
    /// unchanged.
    fn login(reg: &Registry, nick: &str, room: &str, limit_bytes: usize) -> Probe {
        login_as(reg, 3, nick, room, limit_bytes).unwrap()
    }

    fn login4(reg: &Registry, nick: &str, room: &str) -> Probe {
        login_as(reg, 4, nick, room, 1 << 20).unwrap()
    }

    fn refused_login(reg: &Registry, nick: &str, room: &str) -> Refusal {
        login_as(reg, 3, nick, room, 8).err().expect("refused")
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
        quiet.outbox.liveness().heard(reg.clock_ms(Instant::now()));
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
            reg.who(probe.id, Who::Plain, None);
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
    async fn nicks_are_unique_ignoring_case() {
        let reg = Registry::default();
        let _bob = login(&reg, "bob", "lobby", 4096);
        let refused = refused_login(&reg, "BOB", "other");
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
        reg.say(a.id, ChatKind::Say, "hi".into(), None);
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
        reg.say(first.id, ChatKind::Say, "one room".into(), None);
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
    async fn a_private_message_finds_a_look_alike_spelling() {
        let reg = Registry::default();
        let mut bob = login(&reg, "bob", "lobby", 4096);
        let ann = login(&reg, "ann", "lobby", 4096);
        bob.drain();
        reg.private(ann.id, "B\u{043E}B", "hi".into(), None)
            .unwrap();
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
        reg.say(a.id, ChatKind::Say, "x".into(), None);
        reg.private(a.id, "B", "y".into(), None).unwrap();
        reg.say(b.id, ChatKind::Action, "z".into(), None);
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
    async fn a_full_queue_evicts_the_member_and_tells_the_room() {
        let reg = Registry::default();
        let mut talker = login(&reg, "talker", "lobby", 4096);
        let sleeper = login(&reg, "sleeper", "lobby", 80); // welcome + one chat frame
        talker.drain();
        reg.say(talker.id, ChatKind::Say, "one".into(), None);
        reg.say(talker.id, ChatKind::Say, "two".into(), None);
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
            let refused = refused_login(&reg, nick, "lobby");
            assert_eq!(refused.kind, ErrorKind::NickTaken, "{nick:?}");
        }
        let bobby = login(&reg, "bobby", "lobby", 4096);
        // Renaming to a look-alike of someone else's nick is refused; of one's own, not.
        let refused = reg
            .rename(bobby.id, "\u{0412}\u{041E}\u{0412}", None)
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::NickTaken);
        reg.rename(bobby.id, "b\u{043E}bby", None).unwrap();
        reg.rename(bobby.id, "BOBBY", None).unwrap();
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
    async fn nothing_is_delivered_once_closing() {
        let reg = Registry::default();
        let mut a = login(&reg, "a", "lobby", 4096);
        let b = login(&reg, "b", "lobby", 4096);
        a.drain();
        reg.close();
        reg.say(b.id, ChatKind::Say, "late".into(), None);
        assert!(reg.leave(b.id, "server shutting down"));
        assert!(a.drain().is_empty());
    }

    /// The room messages a version 4 client got: (seq, event).
    fn room_events(msgs: &[ServerMsg]) -> Vec<(u64, RoomEvent)> {
        msgs.iter()
            .filter_map(|m| match m.clone().into_reply().1 {
                ServerMsg::Room { seq, event, .. } => Some((seq, event)),
                _ => None,
            })
            .collect()
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
        reg.say(ann.id, ChatKind::Say, "hi".into(), None);
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

    #[tokio::test]
    async fn each_member_gets_the_frame_of_its_version() {
        let reg = Registry::default();
        let mut old = login(&reg, "old", "lobby", 1 << 16);
        let mut new = login4(&reg, "new", "lobby");
        old.drain();
        new.drain();
        reg.say(old.id, ChatKind::Action, "waves".into(), None);
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
        reg.say(ann.id, ChatKind::Say, "hi".into(), Some(41));
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
        reg.who(ann.id, Who::Plain, Some(44));
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
            reg.who(first.id, Who::After(&after), None);
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
        reg.who(old.id, Who::Plain, None);
        let Some(ServerMsg::Members { members, .. }) = old.next() else {
            panic!("a list");
        };
        assert_eq!(members.len(), MEMBER_PAGE);
    }
}
