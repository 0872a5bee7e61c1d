//! The app's side of the network: the connection's state as the status line shows it, the
//! client library's news about the connection, and the server's frames sorted to the
//! buffer they belong to (a room's, a private conversation's; what belongs to none goes to
//! the one shown), then to the part of the app they concern (the room in `room.rs`, files
//! in `transfers.rs`).

use std::time::Duration;

use chat_client::{Welcome, sanitize};
use shared::{ErrorKind, RoomEvent, ServerMsg, names};

use super::buffers::{MAX_ROOM_BUFFERS, Target};
use super::reading::HistoryInfo;
use super::room::mentions;
use super::{App, Command, members_count};

/// Where a server frame goes.
enum Route {
    /// The buffer shown.
    Here,
    /// Buffer `i`.
    Buffer(usize),
    /// Nowhere: about a room the client has left.
    Drop,
}

/// State of the connection, shown in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    Connected,
    Disconnected {
        reason: String,
    },
    Reconnecting {
        attempt: u32,
        delay: Duration,
        error: String,
    },
}

impl App {
    /// Back after a reconnect, in the welcome's room (the first of those the client was
    /// in; the client library joins the others again, and each `Joined4` catches its
    /// buffer up).
    pub(super) fn reconnected(&mut self, welcome: Welcome) -> Vec<Command> {
        self.several_rooms = welcome.rooms;
        // Away is per connection: a new one is not away.
        self.away = None;
        let found = self
            .room_buffer(&welcome.room)
            .or_else(|| self.named_room_buffer(&welcome.room));
        let i = match found {
            Some(i) => i,
            // Another room: one at a time, it takes the room buffer's place; several,
            // it gets a buffer of its own.
            None if !self.several_rooms => self.first_room_buffer(),
            None => match self.open_buffer(Target::Room(welcome.room.clone())) {
                Some(i) => i,
                None => self.first_room_buffer(),
            },
        };
        self.retarget(i, Target::Room(welcome.room.clone()));
        self.in_buffer(i, |app| app.reconnected_here(welcome))
    }

    /// The first room buffer (there is always one without the feature "rooms"), or the
    /// one shown.
    fn first_room_buffer(&self) -> usize {
        self.buffers
            .iter()
            .position(|b| matches!(b.target, Target::Room(_)))
            .unwrap_or(self.active)
    }

    /// [`App::reconnected`] in the welcome's room buffer: in the same room, the timeline
    /// catches up on what was missed; in another, it starts anew.
    fn reconnected_here(&mut self, welcome: Welcome) -> Vec<Command> {
        let Welcome {
            nick,
            room,
            members,
            total,
            seq,
            ..
        } = welcome;
        self.joined = true;
        self.conn = ConnState::Connected;
        self.slowed = None;
        // The server says again whether it keeps history (`HistoryInfo` follows its
        // welcome): one restarted without it must not leave "not loaded" markers that
        // never load.
        self.history_info = None;
        self.nick = nick;
        let same_room = room == self.room;
        self.room = room;
        self.members = members;
        self.member_total = total as usize;
        let commands = if same_room {
            self.entered(seq)
        } else {
            let room = self.room.clone();
            self.new_room(&room, seq)
        };
        self.notice_now(format!(
            "reconnected: #{} as {} ({})",
            sanitize::nick(&self.room),
            sanitize::nick(&self.nick),
            members_count(self.member_total)
        ));
        commands
    }

    pub(super) fn disconnected(&mut self, reason: String) {
        self.in_every_buffer(|app| {
            app.out_of_room();
            Vec::new()
        });
        self.error(format!("connection lost: {}", sanitize::text(&reason)));
        self.conn = ConnState::Disconnected { reason };
    }

    pub(super) fn queued(&mut self, waiting: usize) {
        self.queued = waiting;
        self.info(format!(
            "not connected: queued, {waiting} waiting to be sent after reconnecting"
        ));
    }

    pub(super) fn flushed(&mut self, sent: usize) {
        self.queued = 0;
        self.info(format!("sent {sent} queued message(s)"));
    }

    pub(super) fn waiting(&mut self, waiting: usize) {
        self.waiting = waiting;
        if waiting == 0 {
            self.slowed = None;
            self.reading.outbox_drained(self.now_ms);
        }
    }

    /// A frame from the server, dealt with in the buffer it belongs to.
    pub(super) fn on_server(&mut self, msg: ServerMsg) -> Vec<Command> {
        match msg {
            ServerMsg::Joined4 { room, members, seq } => {
                return self.on_joined(room, members.names, members.total as usize, seq);
            }
            ServerMsg::Joined { room, members } => {
                let total = members.len();
                return self.on_joined(room, members, total, 0);
            }
            ServerMsg::Parted { room, reason } => {
                self.parted(&room, &reason);
                return Vec::new();
            }
            ServerMsg::HistoryInfo {
                page,
                catch_up,
                backlog,
                search,
                ..
            } => {
                let info = HistoryInfo {
                    page,
                    catch_up,
                    backlog,
                    search,
                };
                // Not about a room left: the server would refuse its history.
                return self.in_every_room(|app| {
                    if app.joined {
                        app.history_info(info)
                    } else {
                        Vec::new()
                    }
                });
            }
            // The answer to the user's `/join`: its room is shown.
            ServerMsg::Reply { id, msg } if self.owner_of(id).is_none() => {
                let joined = match msg.as_ref() {
                    ServerMsg::Joined4 { room, .. } => Some(room.clone()),
                    _ => None,
                };
                let commands = self.on_frame(ServerMsg::Reply { id, msg });
                if let Some(i) = joined.and_then(|room| self.room_buffer(&room)) {
                    self.switch_to(i);
                }
                return commands;
            }
            _ => {}
        }
        match self.route(&msg) {
            Route::Here => self.on_frame(msg),
            Route::Drop => Vec::new(),
            Route::Buffer(i) => {
                if let Some((mention, private)) = news(&msg, &self.nick)
                    .filter(|_| !self.ignored.contains(sender(&msg).unwrap_or_default()))
                {
                    self.count_activity(i, mention, private);
                }
                self.in_buffer(i, |app| app.on_frame(msg))
            }
        }
    }

    /// The buffer a frame belongs to; a private message opens its conversation's.
    fn route(&mut self, msg: &ServerMsg) -> Route {
        let of_room = |app: &App, room: &str| match app.room_buffer(room) {
            Some(i) => Route::Buffer(i),
            // Only a room left sends nothing to a buffer (late news); one at a time, the
            // one room is the room.
            None if app.several_rooms => Route::Drop,
            None => Route::Here,
        };
        let answer = |app: &App, room: &str| match app.room_buffer(room) {
            Some(i) => Route::Buffer(i),
            None => Route::Here,
        };
        match msg {
            ServerMsg::Room { room, .. }
            | ServerMsg::Chat { room, .. }
            | ServerMsg::Notice { room, .. } => of_room(self, room),
            ServerMsg::Members { room, .. }
            | ServerMsg::Members4 { room, .. }
            | ServerMsg::RoomMembers { room, .. }
            | ServerMsg::Files { room, .. }
            | ServerMsg::Topic { room, .. } => answer(self, room),
            // Nothing from an ignored nick opens a buffer.
            ServerMsg::Private { from, .. }
                if *from != self.nick && self.ignored.contains(from) =>
            {
                Route::Drop
            }
            ServerMsg::PrivateHistory { with, .. } => match self.query_buffer(with) {
                Some(i) => Route::Buffer(i),
                None => Route::Drop,
            },
            ServerMsg::Private { from, to, .. } => {
                let other = if *from == self.nick { to } else { from };
                match self.query(other) {
                    Some(i) => Route::Buffer(i),
                    None => Route::Here,
                }
            }
            // Someone's away text, after one's private message to them, shows where one
            // is: it answers what one just did.
            ServerMsg::Reply { id, .. } => match self.owner_of(*id) {
                Some(i) => Route::Buffer(i),
                None => Route::Here,
            },
            _ => Route::Here,
        }
    }

    /// `Joined4` (or a version 3 `Joined`): the client is in `room`. A room that has a
    /// buffer is joined again (after a reconnect) and catches up; a new one gets a
    /// buffer, shown, or one at a time takes the room buffer's place.
    fn on_joined(
        &mut self,
        room: String,
        members: Vec<String>,
        total: usize,
        seq: u64,
    ) -> Vec<Command> {
        let found = self
            .room_buffer(&room)
            .or_else(|| self.named_room_buffer(&room));
        if let Some(i) = found {
            self.retarget(i, Target::Room(room.clone()));
            return self.in_buffer(i, |app| {
                let commands = if app.joined {
                    app.entered(seq)
                } else {
                    // Parted, then joined again: what was held is stale.
                    app.new_room(&room, seq)
                };
                app.joined = true;
                // Joined again (after a reconnect): the members, and one line.
                app.rejoined(room, members, total);
                commands
            });
        }
        let i = if self.several_rooms {
            match self.open_buffer(Target::Room(room.clone())) {
                Some(i) => i,
                None => {
                    // Only a server that lets one connection into more rooms than the
                    // protocol allows gets here.
                    self.error(format!(
                        "#{}: at most {MAX_ROOM_BUFFERS} rooms have buffers",
                        sanitize::nick(&room)
                    ));
                    return Vec::new();
                }
            }
        } else {
            self.first_room_buffer()
        };
        self.retarget(i, Target::Room(room.clone()));
        let commands = self.in_buffer(i, |app| {
            let commands = app.new_room(&room, seq);
            app.joined = true;
            app.topic = None;
            app.joined(room, members, total);
            commands
        });
        self.switch_to(i);
        commands
    }

    /// `Parted`: the client left `room`; its buffer closes (the last one stays, saying
    /// so).
    fn parted(&mut self, room: &str, reason: &str) {
        let Some(i) = self.room_buffer(room) else {
            return;
        };
        let reason = sanitize::text(reason);
        let line = if reason.is_empty() {
            format!("you left #{}", sanitize::nick(room))
        } else {
            format!("you left #{} ({reason})", sanitize::nick(room))
        };
        if self.buffers.len() > 1 {
            self.close_buffer(i);
            self.notice_now(line);
        } else {
            self.in_buffer(i, |app| {
                app.joined = false;
                app.members.clear();
                app.member_total = 0;
                app.notice_now(format!("{line}; /join a room to talk again"));
            });
        }
    }

    /// A frame in the buffer it belongs to (the one in the app's fields).
    fn on_frame(&mut self, msg: ServerMsg) -> Vec<Command> {
        let mut commands = Vec::new();
        match msg {
            // Version 4 room messages, and their version 3 forms.
            msg @ ServerMsg::Room { .. } => {
                if let Some((room, message)) = msg.into_stamped() {
                    self.in_room(&room, message, &mut commands);
                }
            }
            ServerMsg::Chat {
                time_ms,
                room,
                from,
                kind,
                text,
                ..
            } => {
                let said = RoomEvent::Said { from, kind, text };
                self.in_room_v3(time_ms, &room, said, &mut commands);
            }
            ServerMsg::Notice {
                time_ms,
                room,
                event,
            } => self.in_room_v3(time_ms, &room, event, &mut commands),
            ServerMsg::FileOffered { file } => self.offered(&file),
            ServerMsg::Private {
                time_ms,
                from,
                to,
                text,
                ..
            } => self.private(time_ms, &from, &to, &text, &mut commands),
            msg @ (ServerMsg::Joined4 { .. }
            | ServerMsg::Joined { .. }
            | ServerMsg::Parted { .. }
            | ServerMsg::HistoryInfo { .. }) => return self.on_server(msg),
            ServerMsg::Members4 { room, members } => {
                let more = members.more.then_some(members.total as usize);
                self.members_of(room, members.names, more);
            }
            ServerMsg::Members { room, members } => self.members_of(room, members, None),
            ServerMsg::NickChanged { nick } => {
                self.members.retain(|m| *m != self.nick);
                names::insert_member(&mut self.members, nick.clone());
                self.nick = nick;
                self.notice_now(format!(
                    "you are now known as {}",
                    sanitize::nick(&self.nick)
                ));
            }
            ServerMsg::Error {
                kind: ErrorKind::RateLimited,
                text,
            } => {
                // Once, not once per line held back.
                if self.slowed.as_ref() != Some(&text) {
                    self.notice_now(format!("server: {}", sanitize::text(&text)));
                    self.slowed = Some(text);
                }
            }
            ServerMsg::Error { text, .. } => {
                self.error(format!("server: {}", sanitize::text(&text)));
            }
            ServerMsg::Shutdown { reason } => self.notice_now(shutdown_line(&reason)),
            // The answers to the app's own requests (a search, a page of history) go where
            // they were asked; any other answer is the answer itself.
            ServerMsg::Reply { id, msg } => {
                self.answered(id);
                let Some(msg) = self.search_answer(id, *msg) else {
                    return commands;
                };
                let Some(msg) = self.history_answer(id, msg) else {
                    return commands;
                };
                commands.extend(self.join_answer(id, &msg));
                commands.extend(self.on_server(msg));
                return commands;
            }
            // The client library answers pings; a welcome after a reconnect arrives as
            // Event::Reconnected.
            ServerMsg::Ping { .. }
            | ServerMsg::Pong { .. }
            | ServerMsg::Welcome { .. }
            | ServerMsg::Welcome4 { .. } => {}
            // Answered by the client library in the handshake.
            ServerMsg::Challenge { .. } => {}
            ServerMsg::Identified { owner, operator } => self.identified(owner, operator),
            ServerMsg::Registration { nick, owned } => self.registration(&nick, owned),
            ServerMsg::Operated { text } => self.operated(&text),
            ServerMsg::Bans { bans } => self.bans(&bans),
            ServerMsg::PrivateHistory { messages, more, .. } => {
                self.private_history(messages, more);
            }
            ServerMsg::Files { room, files } => self.list_files(&room, &files),
            ServerMsg::Fetched { members, files, .. } => self.fetched(members, &files),
            // The client library hands these to the transfers they belong to.
            ServerMsg::UploadReady { .. }
            | ServerMsg::UploadDone { .. }
            | ServerMsg::UploadFailed { .. }
            | ServerMsg::DownloadStart { .. }
            | ServerMsg::DownloadChunk { .. }
            | ServerMsg::DownloadEnd { .. }
            | ServerMsg::DownloadFailed { .. } => {}
            // Answers to requests no longer waited for (asked before a reconnect, or a
            // search closed meanwhile).
            ServerMsg::HistoryPage { .. }
            | ServerMsg::CaughtUp { .. }
            | ServerMsg::SearchHits { .. } => {}
            ServerMsg::Topic {
                room,
                text,
                by,
                time_ms,
            } => self.topic_said(&room, &text, &by, time_ms),
            ServerMsg::Away { nick, text } => self.away_said(&nick, &text),
            ServerMsg::RoomMembers {
                room,
                total,
                members,
                more,
            } => self.room_members(room, total as usize, members, more),
        }
        commands
    }
}

/// Whether a frame is news that counts in a buffer's activity, and whether it names this
/// client (`nick`) or is a private message to it: `Some((mention, private))`.
fn news(msg: &ServerMsg, nick: &str) -> Option<(bool, bool)> {
    match msg {
        ServerMsg::Room {
            event: RoomEvent::Said { from, text, .. },
            ..
        }
        | ServerMsg::Chat { from, text, .. } => {
            (from != nick).then(|| (mentions(text, nick), false))
        }
        ServerMsg::Room {
            event: RoomEvent::Shared { .. },
            ..
        } => Some((false, false)),
        ServerMsg::Private { from, .. } => (from != nick).then_some((false, true)),
        _ => None,
    }
}

/// Who said a message that counts as news.
fn sender(msg: &ServerMsg) -> Option<&str> {
    match msg {
        ServerMsg::Room {
            event: RoomEvent::Said { from, .. },
            ..
        }
        | ServerMsg::Chat { from, .. }
        | ServerMsg::Private { from, .. } => Some(from),
        _ => None,
    }
}

/// The line that says the server is shutting down, its reason said once: a server's
/// reason is often "server shutting down" itself.
pub fn shutdown_line(reason: &str) -> String {
    let reason = sanitize::text(reason);
    let said = reason.trim().trim_end_matches('.').to_lowercase();
    if said.is_empty() || said.contains("shutting down") || said.contains("shut down") {
        "the server is shutting down".to_owned()
    } else {
        format!("the server is shutting down: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use shared::{MemberPage, RoomEvent};

    use super::*;
    use crate::app::Event;
    use crate::app::scrollback::EntryKind;
    use crate::app::testing::*;

    #[test]
    fn server_errors_are_shown() {
        let mut app = app();
        app.update(Event::Server(ServerMsg::Error {
            kind: ErrorKind::NoSuchNick,
            text: "no such nick: zed".into(),
        }));
        assert_eq!(
            last(&app),
            EntryKind::Error("server: no such nick: zed".into())
        );
    }

    #[test]
    fn connection_states() {
        let mut app = app();
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        assert_eq!(
            app.conn,
            ConnState::Disconnected {
                reason: "reset".into()
            }
        );
        app.update(Event::Reconnecting {
            attempt: 2,
            delay: Duration::from_secs(1),
            error: "refused".into(),
        });
        assert!(matches!(
            app.conn,
            ConnState::Reconnecting { attempt: 2, .. }
        ));
        app.update(Event::Queued { waiting: 1 });
        assert_eq!(app.queued, 1);
        app.update(Event::Reconnected(Welcome {
            nick: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            total: 1,
            seq: 20,
            rooms: false,
        }));
        app.update(Event::Flushed { sent: 1 });
        assert_eq!((app.conn.clone(), app.queued), (ConnState::Connected, 0));
        app.update(Event::Refused {
            reason: "queue full".into(),
        });
        assert_eq!(last(&app), EntryKind::Error("not sent: queue full".into()));
        assert_eq!(
            app.update(Event::Fatal("version".into())),
            [Command::Fail("version".into())]
        );
    }

    #[test]
    fn the_servers_rate_warning_shows_once() {
        let mut app = app();
        let warning = || {
            Event::Server(ServerMsg::Error {
                kind: ErrorKind::RateLimited,
                text: "you send faster than 10 messages a second".into(),
            })
        };
        let before = app.scrollback.entries().len();
        app.update(Event::Waiting { waiting: 30 });
        for _ in 0..5 {
            app.update(warning());
        }
        assert_eq!(app.scrollback.entries().len(), before + 1);
        assert_eq!(
            last(&app),
            EntryKind::Notice("server: you send faster than 10 messages a second".into())
        );
        // Once all is sent, a new warning is news again.
        app.update(Event::Waiting { waiting: 0 });
        app.update(warning());
        assert_eq!(app.scrollback.entries().len(), before + 2);
    }

    #[test]
    fn a_page_of_members_says_how_many_more_there_are() {
        let mut app = app();
        app.update(Event::Server(ServerMsg::Reply {
            id: 9,
            msg: Box::new(ServerMsg::Members4 {
                room: "lobby".into(),
                members: MemberPage {
                    total: 1500,
                    names: vec!["alice".into(), "bob".into()],
                    more: true,
                },
            }),
        }));
        assert_eq!(
            last(&app),
            EntryKind::Notice("members of #lobby (1500): alice, bob, and 1498 more".into())
        );
    }

    /// Version 4 tells a renamer of its own rename before the answer: one line, not two.
    #[test]
    fn ones_own_rename_is_told_once() {
        let mut app = app();
        let before = app.scrollback.entries().len();
        app.update(room_msg(RoomEvent::Renamed {
            old: "alice".into(),
            new: "alicia".into(),
        }));
        app.update(Event::Server(ServerMsg::Reply {
            id: 3,
            msg: Box::new(ServerMsg::NickChanged {
                nick: "alicia".into(),
            }),
        }));
        assert_eq!(app.scrollback.entries().len(), before + 1);
        assert_eq!(
            last(&app),
            EntryKind::Notice("you are now known as alicia".into())
        );
        assert_eq!(app.members, ["alicia", "bob", "bobby", "carol"]);
    }
}
