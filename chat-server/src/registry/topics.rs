//! The rooms' topics (feature "rooms"): set by any member, told to the members with the
//! feature (the others get nothing: their protocol has no topic), and to a client right
//! after it enters a room that has one. The room holds its topic while it exists; the
//! history keeps it beyond that, across restarts, when it is on
//! ([`History::set_topic`](crate::history::History::set_topic)).

use bytes::Bytes;
use shared::{ServerMsg, wrap_reply};

use super::rooms::RoomName;
use super::{ClientId, Inner, Refusal, Registry};
use crate::common::now_ms;
use crate::history::Topic;
use crate::outbound::encode;

impl Registry {
    /// Sets the topic of `room` (one of the client's rooms) to `text` (checked already;
    /// empty: no topic). Every member with the feature gets `Topic`, the setter as the
    /// answer to `reply`.
    pub(crate) fn set_topic(
        &self,
        id: ClientId,
        room: &str,
        text: String,
        reply: Option<u32>,
    ) -> Result<(), Refusal> {
        let room = RoomName::new(room);
        self.with(|inner| {
            let key = inner.target(id, Some(&room))?;
            let Some(by) = inner.clients.get(&id).map(|c| c.nick.clone()) else {
                return Ok(());
            };
            let topic = Topic {
                text,
                by,
                time_ms: now_ms(),
            };
            let kept = (!topic.text.is_empty()).then(|| topic.clone());
            let Some(state) = inner.rooms.get_mut(&key) else {
                return Ok(());
            };
            state.topic.clone_from(&kept);
            let name = state.name.clone();
            inner.history.set_topic(&key, &name, kept);
            let frame = topic_frame(&name, topic);
            inner.tell_many(&key, &frame, Some((id, reply)));
            Ok(())
        })
    }
}

impl Inner {
    /// Sends the client `id`, if it has the feature "rooms", the topic of the room `key`,
    /// if it has one: right after the answer that puts it in the room.
    pub(super) fn send_topic(&mut self, id: ClientId, key: &str) {
        if !self.clients.get(&id).is_some_and(|c| c.many()) {
            return;
        }
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        if let Some(topic) = room.topic.clone() {
            let frame = topic_frame(&room.name, topic);
            self.send(id, frame);
        }
    }

    /// Queues `frame` for the members of the room `key` that have the feature "rooms";
    /// `answer`: the member whose request it answers, and the request's id.
    fn tell_many(&mut self, key: &str, frame: &Bytes, answer: Option<(ClientId, Option<u32>)>) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let told: Vec<ClientId> = room
            .members
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| self.clients.get(id).is_some_and(|c| c.many()))
            .collect();
        for member in told {
            let frame = match answer {
                Some((asker, Some(reply))) if asker == member => {
                    wrap_reply(reply, frame).unwrap_or_else(|_| frame.clone())
                }
                _ => frame.clone(),
            };
            self.send(member, frame);
        }
    }
}

fn topic_frame(room: &str, topic: Topic) -> Bytes {
    encode(&ServerMsg::Topic {
        room: room.to_owned(),
        text: topic.text,
        by: topic.by,
        time_ms: topic.time_ms,
    })
}
