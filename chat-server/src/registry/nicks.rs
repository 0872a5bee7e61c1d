//! Nicks: unique ignoring case and across look-alike spellings (a nick is taken while a
//! nick with either key is connected), a rename, and the private messages that find a
//! client by its nick.

use shared::names::{self, NameKeys};
use shared::{ErrorKind, PrivateLine, RoomEvent, ServerMsg, wrap_reply};

use shared::auth::PublicKey;

use super::fanout::Except;
use super::{ClientId, Inner, Refusal, Registry};
use crate::auth::owners::Snapshot;
use crate::common::now_ms;
use crate::outbound::{encode, encode_answer};

impl Registry {
    /// Renames a client to `nick` (already checked). Changing only the case (or the look
    /// alike spelling) of one's own nick is allowed; taking someone else's is not, nor a
    /// nick registered to another key (`NickOwned`), connected or not.
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
            let keys = NameKeys::of(nick);
            inner.owners.check(nick, &keys, client.key.as_deref())?;
            let NameKeys {
                fold: new_key,
                look: new_look,
            } = keys;
            let someone_else = |holder: Option<&ClientId>| holder.is_some_and(|&h| h != id);
            if someone_else(inner.nicks.get(&new_key)) || someone_else(inner.looks.get(&new_look)) {
                return Err(nick_taken(nick));
            }
            if client.nick != nick {
                let old = std::mem::replace(&mut client.nick, nick.to_owned());
                let rooms = client.rooms.keys().to_vec();
                inner.nicks.remove(&names::fold(&old));
                inner.looks.remove(&names::look_alike_key(&old));
                inner.nicks.insert(new_key, id);
                inner.looks.insert(new_look, id);
                // Every room the client is in is told, once each.
                for room_key in &rooms {
                    // The new nick may sort elsewhere.
                    inner.seat(id, room_key);
                    let renamed = RoomEvent::Renamed {
                        old: old.clone(),
                        new: nick.to_owned(),
                    };
                    inner.notify(room_key, Except::RenamedInVersion3(id), renamed);
                }
            }
            let changed = ServerMsg::NickChanged {
                nick: nick.to_owned(),
            };
            inner.send(id, encode_answer(reply, &changed));
            Ok(())
        })
    }

    /// The key the client `id` proved, if its nick is registered to it: an owner's.
    pub(crate) fn owned_key(&self, id: ClientId) -> Option<PublicKey> {
        let inner = self.lock();
        let client = inner.clients.get(&id)?;
        let key = client.key.as_deref()?;
        inner.owns(&client.nick, key).then_some(*key)
    }

    /// The key `nick` (or a look-alike of it) is registered to.
    pub(crate) fn owner_of(&self, nick: &str) -> Option<PublicKey> {
        let keys = NameKeys::of(nick);
        self.lock().owners.key_of(&keys)
    }

    /// Sends a private message to the client called `to` (any case, any look-alike
    /// spelling: only one such nick can be connected) and echoes it to its sender, as the
    /// answer to `reply`. When both own their nicks (registered to the keys they proved),
    /// returns the message with the two keys (the sender's first), for history to keep.
    pub(crate) fn private(
        &self,
        id: ClientId,
        to: &str,
        text: String,
        reply: Option<u32>,
    ) -> Result<Option<(PrivateLine, PublicKey, PublicKey)>, Refusal> {
        self.with(|inner| {
            let Some((from, from_key)) = inner
                .clients
                .get(&id)
                .map(|c| (c.nick.clone(), c.key.as_deref().copied()))
            else {
                return Ok(None);
            };
            let target = inner
                .nicks
                .get(&names::fold(to))
                .or_else(|| inner.looks.get(&names::look_alike_key(to)))
                .copied();
            let Some((target, to, away, to_key)) = target.and_then(|t| {
                let c = inner.clients.get(&t)?;
                Some((t, c.nick.clone(), c.away.clone(), c.key.as_deref().copied()))
            }) else {
                return Err(Refusal {
                    kind: ErrorKind::NoSuchNick,
                    text: format!("no one here is called '{to}'"),
                });
            };
            let msg = ServerMsg::Private {
                id: inner.sequences.next_id(),
                time_ms: now_ms(),
                from,
                to: to.clone(),
                text,
            };
            let frame = encode(&msg);
            let kept = match (msg, from_key, to_key) {
                (
                    ServerMsg::Private {
                        id,
                        time_ms,
                        from,
                        to,
                        text,
                    },
                    Some(a),
                    Some(b),
                ) if inner.owns(&from, &a) && inner.owns(&to, &b) => Some((
                    PrivateLine {
                        id,
                        time_ms,
                        from,
                        to,
                        text,
                    },
                    a,
                    b,
                )),
                _ => None,
            };
            if target != id {
                inner.send(target, frame.clone());
            }
            let echo = match reply {
                Some(r) => wrap_reply(r, &frame).unwrap_or(frame),
                None => frame,
            };
            inner.send(id, echo);
            // An away nick's text follows the echo, to a sender whose protocol has it.
            let many = inner.clients.get(&id).is_some_and(|c| c.many());
            if let Some(text) = away.filter(|_| many) {
                let text = text.into_string();
                inner.send(id, encode(&ServerMsg::Away { nick: to, text }));
            }
            Ok(kept)
        })
    }

    /// Marks the client away with `text` (checked already), or back when it is empty
    /// (feature "rooms"); answers `Away` about itself, to `reply`.
    pub(crate) fn away(&self, id: ClientId, text: String, reply: Option<u32>) {
        self.with(|inner| {
            let Some(client) = inner.clients.get_mut(&id) else {
                return;
            };
            client.away = (!text.is_empty()).then(|| text.clone().into_boxed_str());
            let nick = client.nick.clone();
            inner.send(id, encode_answer(reply, &ServerMsg::Away { nick, text }));
        });
    }
}

/// A change to the registered nicks: the answer for the client, and the table to keep
/// when it changed (see `crate::auth::owners`).
#[derive(Debug)]
pub(crate) struct Registered {
    pub(crate) answer: ServerMsg,
    pub(crate) keep: Option<Snapshot>,
}

impl Registry {
    /// Registers the client's current nick to the key it proved (feature "auth").
    pub(crate) fn register(&self, id: ClientId) -> Result<Registered, Refusal> {
        let mut inner = self.lock();
        let (nick, key) = identified(&inner, id)?;
        let keep = inner.owners.register(&nick, &NameKeys::of(&nick), &key)?;
        Ok(Registered {
            answer: ServerMsg::Registration { nick, owned: true },
            keep,
        })
    }

    /// Frees the client's current nick from the key it proved, if that key holds it.
    pub(crate) fn unregister(&self, id: ClientId) -> Result<Registered, Refusal> {
        let mut inner = self.lock();
        let (nick, key) = identified(&inner, id)?;
        let (nick, keep) = match inner.owners.unregister(&nick, &NameKeys::of(&nick), &key)? {
            Some((registered, keep)) => (registered, Some(keep)),
            None => (nick, None),
        };
        Ok(Registered {
            answer: ServerMsg::Registration { nick, owned: false },
            keep,
        })
    }
}

impl Registry {
    /// Frees the registered nick `nick` and its look-alikes, whoever holds it (an
    /// operator's `Release`). Answered `Registration { owned: false }` whether or not it
    /// was registered; the table is kept only when it changed.
    pub(crate) fn release(&self, nick: &str) -> Registered {
        let mut inner = self.lock();
        let (nick, keep) = match inner.owners.release(&NameKeys::of(nick)) {
            Some((registered, keep)) => (registered, Some(keep)),
            None => (nick.to_owned(), None),
        };
        Registered {
            answer: ServerMsg::Registration { nick, owned: false },
            keep,
        }
    }
}

/// The nick of the client `id` and the key it proved; `NotIdentified` without one.
fn identified(inner: &Inner, id: ClientId) -> Result<(String, PublicKey), Refusal> {
    let client = inner.clients.get(&id).ok_or_else(|| Refusal {
        kind: ErrorKind::NotInRoom,
        text: "you are not logged in".into(),
    })?;
    let key = client.key.as_deref().copied().ok_or_else(|| Refusal {
        kind: ErrorKind::NotIdentified,
        text: "registering a nick needs a key, and your client proved none when it connected"
            .into(),
    })?;
    Ok((client.nick.clone(), key))
}

pub(super) fn nick_taken(nick: &str) -> Refusal {
    Refusal {
        kind: ErrorKind::NickTaken,
        text: format!("the nick '{nick}' is taken"),
    }
}

impl Inner {
    /// Whether `nick` is registered to `key`.
    fn owns(&self, nick: &str, key: &PublicKey) -> bool {
        self.owners.check(nick, &NameKeys::of(nick), Some(key)) == Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::probe::{login, refused_login};

    #[tokio::test]
    async fn nicks_are_unique_ignoring_case() {
        let reg = Registry::default();
        let _bob = login(&reg, "bob", "lobby", 4096);
        let refused = refused_login(&reg, "BOB", "other");
        assert_eq!(refused.kind, ErrorKind::NickTaken);
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
}
