//! What rooms and people say of themselves: a room's topic (`/topic`, shown in the
//! buffer's title line), being away (`/away`), and the member list with away texts
//! (`/who`, `/names`). These need the feature "rooms"; without it, the commands say so.

use chat_client::clock::hh_mm;
use chat_client::sanitize;
use shared::{ClientMsg, Member, RoomRequest};

use super::buffers::Topic;
use super::{App, Command};

/// What a command that needs several rooms says to a server without them.
pub const NEEDS_ROOMS: &str = "this server keeps one room per connection, without topics, away \
                               texts or parting";

impl App {
    /// `Topic`: the room's topic is `text` (empty: none), set by `by` at `time_ms`.
    pub(super) fn topic_said(&mut self, room: &str, text: &str, by: &str, time_ms: u64) {
        // Cut to the protocol's limit first: a server that sends more is not believed, and
        // the title line draws the topic every frame.
        let text = shared::text::cut(text, shared::limits::MAX_TOPIC_BYTES);
        let text = sanitize::text(text).into_owned();
        let by = sanitize::nick(by).into_owned();
        let room = sanitize::nick(room);
        if text.is_empty() {
            // Only a change says that there is none.
            if self.topic.take().is_some() {
                self.notice_now(format!("{by} cleared the topic of #{room}"));
            }
            return;
        }
        self.notice_now(format!("topic of #{room}: {text} (set by {by})"));
        self.topic = Some(Topic { text, by, time_ms });
    }

    /// `/topic`: shows the topic; `/topic TEXT` sets it, `/topic -delete` clears it.
    pub(super) fn topic_command(&mut self, text: Option<String>) -> Vec<Command> {
        let Some(room) = self.room_for("topic") else {
            return Vec::new();
        };
        match text {
            None => {
                let line = match &self.topic {
                    Some(topic) => format!(
                        "topic of {}: {} (set by {} at {})",
                        self.buffer_title(),
                        topic.text,
                        topic.by,
                        hh_mm(topic.time_ms, self.settings.utc_offset_secs)
                    ),
                    None => format!("{} has no topic; /topic TEXT sets one", self.buffer_title()),
                };
                self.info(line);
                Vec::new()
            }
            Some(text) if self.several_rooms => vec![Command::Send(ClientMsg::InRoom {
                room,
                msg: RoomRequest::SetTopic { text },
            })],
            Some(_) => {
                self.error(format!("/topic: {NEEDS_ROOMS}"));
                Vec::new()
            }
        }
    }

    /// `Away`: `nick` is away (`text`), or back (empty).
    pub(super) fn away_said(&mut self, nick: &str, text: &str) {
        // Cut to the protocol's limit first: a server that sends more is not believed, and
        // the title line draws the topic every frame.
        let text = shared::text::cut(text, shared::limits::MAX_TOPIC_BYTES);
        let text = sanitize::text(text).into_owned();
        if nick == self.nick {
            if text.is_empty() {
                self.away = None;
                self.notice_now("you are back".into());
            } else {
                self.notice_now(format!("you are away: {text}"));
                self.away = Some(text);
            }
        } else if !text.is_empty() {
            self.notice_now(format!("{} is away: {text}", sanitize::nick(nick)));
        }
    }

    /// `/away [MESSAGE]`: away with the message, or back without one.
    pub(super) fn away_command(&mut self, text: String) -> Vec<Command> {
        if !self.several_rooms {
            self.error(format!("/away: {NEEDS_ROOMS}"));
            return Vec::new();
        }
        vec![Command::Send(ClientMsg::Away { text })]
    }

    /// `RoomMembers`: a page of `room`'s members, with their away texts.
    pub(super) fn room_members(
        &mut self,
        room: String,
        total: usize,
        members: Vec<Member>,
        more: bool,
    ) {
        let list: Vec<String> = members
            .iter()
            .map(|m| {
                let nick = sanitize::nick(&m.nick);
                if m.away.is_empty() {
                    nick.into_owned()
                } else {
                    format!("{nick} (away: {})", sanitize::text(&m.away))
                }
            })
            .collect();
        let rest = if more {
            format!(", and {} more", total.saturating_sub(members.len()))
        } else {
            String::new()
        };
        self.notice_now(format!(
            "members of #{} ({total}): {}{rest}",
            sanitize::nick(&room),
            list.join(", ")
        ));
        if room == self.room {
            self.member_total = total;
            self.members = members.into_iter().map(|m| m.nick).collect();
        }
    }

    /// The room a room command (`/who`, `/files`, `/send-file`, `/topic`) is about: the
    /// buffer shown's; said when it is a private conversation or a room left.
    pub(super) fn room_for(&mut self, command: &str) -> Option<String> {
        if let Some(nick) = &self.query {
            let line = format!(
                "/{command}: this buffer is the private conversation with {}; switch to a \
                 room's buffer (Alt-1…9)",
                sanitize::nick(nick)
            );
            self.error(line);
            return None;
        }
        if !self.joined {
            let line = format!(
                "/{command}: you left {}; /join {} to go back",
                self.buffer_title(),
                sanitize::nick(&self.room)
            );
            self.error(line);
            return None;
        }
        Some(self.room.clone())
    }

    /// `msg` about the room `room`: addressed to it when the client may be in several.
    pub(super) fn to_room(&self, room: String, msg: RoomRequest) -> ClientMsg {
        if self.several_rooms {
            return ClientMsg::InRoom { room, msg };
        }
        match msg {
            RoomRequest::Chat { text } => ClientMsg::Chat { text },
            RoomRequest::Action { text } => ClientMsg::Action { text },
            RoomRequest::Who => ClientMsg::Who,
            RoomRequest::WhoPage { after } => ClientMsg::WhoPage { after },
            RoomRequest::UploadStart { name, size } => ClientMsg::UploadStart { name, size },
            RoomRequest::ListFiles => ClientMsg::ListFiles,
            // Not asked without the feature (see `NEEDS_ROOMS`); the server would say
            // it was not granted.
            msg @ (RoomRequest::Part { .. } | RoomRequest::SetTopic { .. }) => {
                ClientMsg::InRoom { room, msg }
            }
        }
    }
}
