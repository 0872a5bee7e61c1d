//! Who is connected, under which nick, in which room; and delivery to them.
//!
//! One [`std::sync::Mutex`] guards everything. It is never held across an `.await`: every
//! operation looks things up, stamps and encodes the message, and pushes it into the
//! members' queues without waiting ([`Outbox::push`]). Stamping and queueing under the same
//! lock is what gives every member of a room the same order of messages, with ids and
//! sequence numbers that increase in that order.
//!
//! A room message is encoded once for each protocol version present in its room
//! ([`RoomFrames`](crate::outbound::RoomFrames)), and its sender's copy, when the sender asked with a request id, is
//! that frame wrapped in a reply ([`shared::wrap_reply`]): never once per member.
//!
//! With the feature `rooms`, a client is in a set of rooms at once (at most
//! [`MAX_JOINED_ROOMS`](shared::limits::MAX_JOINED_ROOMS), possibly none), and its
//! requests name the room they are about; without it, a client is in exactly one room and
//! a join moves it. Either way a room lists its members the same way, so delivery to a
//! room does not depend on it.
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
//!
//! - `nicks`: nicks, renames, private messages, away texts.
//! - `rooms`: rooms, joining, moving between them and parting, member lists.
//! - `topics`: the rooms' topics, kept by the history when it is on.
//! - `stamp`: ids, sequence numbers and times of room messages, and their hand-over to
//!   the history once delivered.
//! - `fanout`: delivery to a room or to one client, and the slow consumers it finds.
//! - `keepalive`: the pass that pings silent clients and drops the dead.
//! - `lookup`: the client that goes by a nick, a room's member count.
//! - `removal`: clients an operator removes (a kick, a ban), told why.

mod fanout;
mod keepalive;
mod lookup;
mod nicks;
#[cfg(test)]
mod probe;
mod removal;
mod rooms;
mod stamp;
mod topics;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use shared::auth::PublicKey;
use shared::names::{self, NameKeys};
use shared::{ChatKind, ErrorKind, FEATURE_AUTH, Limits, MemberListAnswer, RoomEvent, ServerMsg};

use crate::auth::owners::Owners;
use crate::common::{ClientId, Refusal, now_ms};
use crate::history::{History, Topic};
use crate::outbound::{Outbox, encode};
use crate::sequences::{RoomSeq, Sequences};
use fanout::Except;
pub(crate) use nicks::Registered;
use nicks::nick_taken;
pub(crate) use removal::Seen;
use rooms::RoomName;

/// Where a client is: its nick and one of its rooms (the one a request is about).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Whereabouts {
    pub(crate) nick: String,
    /// The room's display name.
    pub(crate) room: String,
    /// The room's key ([`Inner::rooms`]).
    pub(crate) room_key: String,
    /// The room's latest sequence number.
    pub(crate) last_seq: u64,
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
    /// A frame the client gets right after its welcome, before anything else: the
    /// `HistoryInfo` of a client granted the feature "history".
    pub(crate) after_welcome: Option<&'a Bytes>,
    /// Whether the client was granted the feature "rooms".
    pub(crate) rooms: bool,
    /// The message of the day, shown after the welcome ([`motd_frame`]).
    pub(crate) motd: Option<&'a str>,
    /// The client's IP address, for the bans on addresses.
    pub(crate) ip: Option<IpAddr>,
    /// The key the client proved at the handshake (feature "auth"), if it proved one: it
    /// is told `Identified` right after the welcome.
    pub(crate) key: Option<PublicKey>,
    /// Whether that key is an operator's.
    pub(crate) operator: bool,
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

#[derive(Debug)]
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
    /// Where every room message goes once delivered ([`Inner::record`]).
    history: History,
    /// The nicks registered to keys (feature "auth"): checked at every login and rename
    /// under this lock, so that no one takes a nick as it is registered.
    owners: Owners,
}

/// A logged-in client. Kept small: every connection has one, idle or not.
#[derive(Debug)]
struct Client {
    nick: String,
    rooms: Rooms,
    outbox: Outbox,
    /// Why the client is away, if it is (feature "rooms").
    away: Option<Box<str>>,
    /// Its IP address (an IPv4 one seen through IPv6 as itself), for the bans on
    /// addresses.
    ip: Option<IpAddr>,
    /// The key it proved at the handshake (feature "auth"); boxed, so that a client
    /// without one costs a pointer.
    key: Option<Box<PublicKey>>,
}

impl Client {
    /// The key of the current room, if the client is in one.
    fn current(&self) -> Option<&String> {
        self.rooms.keys().last()
    }

    /// Whether the client was granted the feature "rooms".
    fn many(&self) -> bool {
        matches!(self.rooms, Rooms::Many(_))
    }
}

/// The keys of a client's rooms ([`Inner::rooms`]).
#[derive(Debug)]
enum Rooms {
    /// Without the feature "rooms": exactly one room (a join moves), held as before the
    /// feature, without a list.
    One(String),
    /// With it: in the order joined, the last being the current room, which a request that
    /// names none is about; at most [`MAX_JOINED_ROOMS`](shared::limits::MAX_JOINED_ROOMS),
    /// possibly none.
    Many(Vec<String>),
}

impl Rooms {
    fn keys(&self) -> &[String] {
        match self {
            Rooms::One(key) => std::slice::from_ref(key),
            Rooms::Many(keys) => keys,
        }
    }

    fn contains(&self, key: &str) -> bool {
        self.keys().iter().any(|k| k == key)
    }
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
    /// The room's topic, if it has one (feature "rooms").
    topic: Option<Topic>,
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

/// Which member list a client asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Who<'a> {
    /// `Who`: the whole list in version 3 (its first [`MEMBER_PAGE`](shared::limits::MEMBER_PAGE) names), the first
    /// page in version 4.
    Plain,
    /// `WhoPage`: the page of names after this one.
    After(&'a str),
}

impl Registry {
    /// An empty registry that allows at most `max_rooms` rooms at once, keeping no
    /// history.
    pub(crate) fn new(max_rooms: usize) -> Self {
        Self::with_history(max_rooms, History::off(), 0)
    }

    /// An empty registry that allows at most `max_rooms` rooms at once, hands every room
    /// message to `history` once delivered, and hands out message ids after `last_id`
    /// (where the history's last run stopped), so that none repeats.
    pub(crate) fn with_history(max_rooms: usize, history: History, last_id: u64) -> Self {
        let inner = Inner {
            next_client: 0,
            sequences: Sequences::after(last_id, history.clone()),
            last_ping: 0,
            closing: false,
            clients: HashMap::new(),
            nicks: HashMap::new(),
            looks: HashMap::new(),
            rooms: HashMap::new(),
            room_looks: HashMap::new(),
            max_rooms,
            slow: Vec::new(),
            history,
            owners: Owners::default(),
        };
        Self {
            inner: Mutex::new(inner),
            epoch: Instant::now(),
        }
    }

    /// This registry with the nicks registered so far (read at start).
    pub(crate) fn with_owners(mut self, owners: Owners) -> Self {
        self.inner
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .owners = owners;
        self
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
        let room = RoomName::new(room);
        self.with(|inner| {
            let keys = NameKeys::of(nick);
            let owner = inner.owners.check(nick, &keys, greeting.key.as_ref())?;
            let NameKeys { fold: key, look } = keys;
            if inner.nicks.contains_key(&key) || inner.looks.contains_key(&look) {
                return Err(nick_taken(nick));
            }
            let room_key = inner.room_key(&room);
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
            if greeting.features.iter().any(|f| f == FEATURE_AUTH) {
                outbox.grant_auth();
            }
            let client = Client {
                nick: nick.to_owned(),
                rooms: match greeting.rooms {
                    true => Rooms::Many(vec![room_key.clone()]),
                    false => Rooms::One(room_key.clone()),
                },
                outbox,
                away: None,
                ip: greeting.ip.map(|ip| ip.to_canonical()),
                key: greeting.key.map(Box::new),
            };
            inner.clients.insert(id, client);
            inner.enter(id, &room_key, &room);

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
            if let Some(frame) = greeting.after_welcome {
                inner.send(id, frame.clone());
            }
            if greeting.key.is_some() {
                let identified = ServerMsg::Identified {
                    owner,
                    operator: greeting.operator,
                };
                inner.send(id, encode(&identified));
            }
            if let Some(motd) = greeting.motd {
                let name = inner.room_name(&room_key);
                inner.send(id, motd_frame(greeting.version, &name, motd));
            }
            inner.send_topic(id, &room_key);
            if let Some(notice) = notice {
                inner.broadcast(&room_key, Except::Entering(id), &notice, None);
                inner.record(&room_key, notice, None);
            }
            Ok(id)
        })
    }

    /// The nick and current room of a logged-in client; `None` if it is in no room (with
    /// the feature "rooms").
    pub(crate) fn whereabouts(&self, id: ClientId) -> Option<Whereabouts> {
        let inner = self.lock();
        let key = inner.clients.get(&id)?.current()?;
        inner.whereabouts(id, key)
    }

    /// Where a logged-in client is, if the room name `room` leads into one of its rooms
    /// (ignoring case and look-alikes, as a `Join` would): [`Registry::place`] of
    /// `Some(room)`, without the reason when it is not.
    pub(crate) fn in_room(&self, id: ClientId, room: &str) -> Option<Whereabouts> {
        self.place(id, Some(room)).ok()
    }

    /// Where a request about `room` (the current room if `None`) finds the client:
    /// `NotInRoom` if it is not in that room, or in none. Check a name first
    /// ([`names::check_room`]): its keys are made before the lock is taken, at a cost that
    /// grows with its length.
    pub(crate) fn place(&self, id: ClientId, room: Option<&str>) -> Result<Whereabouts, Refusal> {
        let room = room.map(RoomName::new);
        let inner = self.lock();
        let key = inner.target(id, room.as_ref())?;
        inner.whereabouts(id, &key).ok_or_else(|| Refusal {
            kind: ErrorKind::NotInRoom,
            text: "you are not logged in".into(),
        })
    }

    /// Forgets a client: frees its nick, and tells each of its rooms that it left and why. Returns
    /// false if it was already gone (removed as a slow consumer).
    pub(crate) fn leave(&self, id: ClientId, reason: &str) -> bool {
        self.with(|inner| inner.remove(id, reason.to_owned()).is_some())
    }

    /// The key the client `id` proved at the handshake, if it proved one (feature
    /// "auth").
    pub(crate) fn key_of(&self, id: ClientId) -> Option<PublicKey> {
        self.lock().clients.get(&id)?.key.as_deref().copied()
    }

    /// How many clients are logged in, in every room: the number of people the server
    /// announces on the LAN.
    pub(crate) fn people(&self) -> usize {
        self.lock().clients.len()
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

/// The message of the day as a client of `version` can read it, in its first room
/// `room`, said by no one (an empty `from`, which no nick is): in version 4 a `Notice`
/// of something said; in version 3, whose notices carry no text, a `Chat` with id 0.
fn motd_frame(version: u16, room: &str, text: &str) -> Bytes {
    let (time_ms, room, text) = (now_ms(), room.to_owned(), text.to_owned());
    let msg = if version >= 4 {
        ServerMsg::Notice {
            time_ms,
            room,
            event: RoomEvent::Said {
                from: String::new(),
                kind: ChatKind::Say,
                text,
            },
        }
    } else {
        ServerMsg::Chat {
            id: 0,
            time_ms,
            room,
            from: String::new(),
            kind: ChatKind::Say,
            text,
        }
    };
    encode(&msg)
}

impl Inner {
    /// The client `id` in the room `key`.
    fn whereabouts(&self, id: ClientId, key: &str) -> Option<Whereabouts> {
        let client = self.clients.get(&id)?;
        Some(Whereabouts {
            nick: client.nick.clone(),
            room: self.room_name(key),
            room_key: key.to_owned(),
            last_seq: self.last_seq(key),
        })
    }

    /// The key of the room a request of the client `id` is about: `room`, which must be
    /// one of its rooms, or its current room when the request names none. Refused with
    /// `NotInRoom` otherwise.
    fn target(&self, id: ClientId, room: Option<&RoomName<'_>>) -> Result<String, Refusal> {
        let not_in = |text: String| Refusal {
            kind: ErrorKind::NotInRoom,
            text,
        };
        let Some(client) = self.clients.get(&id) else {
            return Err(not_in("you are not logged in".into()));
        };
        match room {
            None => client
                .current()
                .cloned()
                .ok_or_else(|| not_in("you are in no room; join one first".into())),
            Some(room) => {
                let key = self.room_key(room);
                if client.rooms.contains(&key) {
                    Ok(key)
                } else {
                    Err(not_in(format!("you are not in the room {}", room.name)))
                }
            }
        }
    }

    /// Removes a client entirely, telling each of its rooms. Returns it if it was there.
    fn remove(&mut self, id: ClientId, reason: String) -> Option<Client> {
        let rooms = self.clients.get(&id)?.rooms.keys().to_vec();
        for key in &rooms {
            self.exit(id, key, reason.clone());
        }
        let client = self.clients.remove(&id)?;
        self.nicks.remove(&names::fold(&client.nick));
        self.looks.remove(&names::look_alike_key(&client.nick));
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::probe::login;

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
}
