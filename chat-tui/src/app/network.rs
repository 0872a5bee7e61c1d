//! The app's side of the network: the connection's state as the status line shows it, the
//! client library's news about the connection, and the server's frames sorted to the part
//! of the app they concern (the room in `room.rs`, files in `transfers.rs`).

use std::time::Duration;

use chat_client::{Welcome, sanitize};
use shared::{ErrorKind, RoomEvent, ServerMsg, names};

use super::reading::HistoryInfo;
use super::{App, Command, members_count};

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
    /// Back after a reconnect: in the same room, the timeline catches up on what was
    /// missed; in another (the old one could not be rejoined), it starts anew.
    pub(super) fn reconnected(&mut self, welcome: Welcome) -> Vec<Command> {
        let Welcome {
            nick,
            room,
            members,
            total,
            seq,
        } = welcome;
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
        self.out_of_room();
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

    pub(super) fn on_server(&mut self, msg: ServerMsg) -> Vec<Command> {
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
            ServerMsg::Joined4 { room, members, seq } => {
                commands.extend(self.new_room(&room, seq));
                self.joined(room, members.names, members.total as usize);
            }
            ServerMsg::Joined { room, members } => {
                let total = members.len();
                commands.extend(self.new_room(&room, 0));
                self.joined(room, members, total);
            }
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
            ServerMsg::Shutdown { reason } => {
                self.notice_now(format!("server shutting down: {}", sanitize::text(&reason)));
            }
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
            ServerMsg::HistoryInfo {
                page,
                catch_up,
                backlog,
                search,
                ..
            } => {
                return self.history_info(HistoryInfo {
                    page,
                    catch_up,
                    backlog,
                    search,
                });
            }
            // The client library answers pings; a welcome after a reconnect arrives as
            // Event::Reconnected.
            ServerMsg::Ping { .. }
            | ServerMsg::Pong { .. }
            | ServerMsg::Welcome { .. }
            | ServerMsg::Welcome4 { .. } => {}
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
            // Feature "rooms", which this client does not ask for yet.
            ServerMsg::Parted { .. }
            | ServerMsg::Topic { .. }
            | ServerMsg::Away { .. }
            | ServerMsg::RoomMembers { .. } => {}
        }
        commands
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
