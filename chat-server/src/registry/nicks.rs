//! Nicks: unique ignoring case and across look-alike spellings (a nick is taken while a
//! nick with either key is connected), a rename, and the private messages that find a
//! client by its nick.

use shared::auth::PublicKey;
use shared::names;
use shared::{ErrorKind, PrivateLine, RoomEvent, ServerMsg, wrap_reply};

use super::fanout::Except;
use super::{ClientId, Refusal, Registry};
use crate::common::now_ms;
use crate::outbound::{encode, encode_answer};

impl Registry {
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

    /// The nick of the client `id` and the key it proved, if it proved one.
    pub(crate) fn nick_and_key(&self, id: ClientId) -> Option<(String, Option<PublicKey>)> {
        let inner = self.lock();
        let client = inner.clients.get(&id)?;
        Some((client.nick.clone(), client.key.as_deref().copied()))
    }

    /// Sends a private message to the client called `to` (any case, any look-alike
    /// spelling: only one such nick can be connected) and echoes it to its sender, as the
    /// answer to `reply`. When both proved a key, returns the message with the two keys
    /// (the sender's first), for history to keep if both own their nicks.
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
                ) => Some((
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

pub(super) fn nick_taken(nick: &str) -> Refusal {
    Refusal {
        kind: ErrorKind::NickTaken,
        text: format!("the nick '{nick}' is taken"),
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
