//! The room: what is said in it (chat lines, actions, private messages, mentions) and who
//! is in it (joins, leaves, renames, member lists), kept in the server's order.

use chat_client::sanitize;
use shared::{ChatKind, RoomEvent, Stamped, names};

use super::alert::Call;
use super::scrollback::{Entry, EntryKind};
use super::transfers::{Shares, offer_text};
use super::{App, Command, members_count};

impl App {
    /// A version 4 room message: something said, a file shared, or a member's news. It
    /// goes to the room's timeline, which the pane shows.
    pub(super) fn in_room(&mut self, room: &str, message: Stamped, commands: &mut Vec<Command>) {
        self.room_news(room, &message.event, commands);
        if room == self.room {
            self.live(message);
        }
    }

    /// What a room message changes besides the pane: the member list, and the bell when
    /// someone names this client.
    fn room_news(&mut self, room: &str, event: &RoomEvent, commands: &mut Vec<Command>) {
        let here = room == self.room;
        match event {
            RoomEvent::Said { from, text, .. } => {
                let own = *from == self.nick;
                if !own && mentions(text, &self.nick) && !self.ignored.contains(from) {
                    self.alert(Call::Mention, from, text, commands);
                }
            }
            RoomEvent::Joined { nick } => {
                // A nick already listed is not counted twice.
                if here && !self.members.contains(nick) {
                    names::insert_member(&mut self.members, nick.clone());
                    self.member_total += 1;
                }
            }
            RoomEvent::Left { nick, .. } => {
                if here {
                    self.members.retain(|m| m != nick);
                    self.member_total = self.member_total.saturating_sub(1);
                }
            }
            RoomEvent::Renamed { old, new } => {
                if here {
                    self.members.retain(|m| m != old);
                    names::insert_member(&mut self.members, new.clone());
                }
            }
            RoomEvent::Shared { .. } => {}
        }
    }

    /// A room message in a version 3 frame, which has no sequence number: a line of the
    /// app's own after the newest message.
    pub(super) fn in_room_v3(
        &mut self,
        time_ms: u64,
        room: &str,
        event: RoomEvent,
        commands: &mut Vec<Command>,
    ) {
        // The server's own words (the message of the day) have no sender: no nick can be
        // empty.
        if let RoomEvent::Said { from, text, .. } = &event
            && from.is_empty()
        {
            let text = format!("server: {}", sanitize::text(text));
            self.push(Entry {
                time_ms,
                kind: EntryKind::Notice(text),
            });
            return;
        }
        self.room_news(room, &event, commands);
        // One's own rename is told by `NickChanged`, which follows.
        if matches!(&event, RoomEvent::Renamed { old, .. } if *old == self.nick) {
            return;
        }
        if matches!(&event, RoomEvent::Said { from, .. } if self.ignored.contains(from)) {
            return;
        }
        let message = Stamped {
            id: 0,
            seq: 0,
            time_ms,
            event,
        };
        let entry = message_entry(&message, room, &self.nick, &self.shares);
        self.push(entry);
        self.scrollback.state_mut().arrived();
    }
    /// A private message, to or from this client; one from someone else rings.
    pub(super) fn private(
        &mut self,
        time_ms: u64,
        from: &str,
        to: &str,
        text: &str,
        commands: &mut Vec<Command>,
    ) {
        let own = from == self.nick;
        if !own && self.ignored.contains(from) {
            return;
        }
        if !own {
            self.alert(Call::Private, from, text, commands);
        }
        self.push(Entry {
            time_ms,
            kind: EntryKind::Private {
                from: sanitize::nick(from).into_owned(),
                to: sanitize::nick(to).into_owned(),
                text: sanitize::text(text).into_owned(),
                own,
            },
        });
        self.scrollback.state_mut().arrived();
    }

    /// This client is now in `room`, of `total` members (`members` is their first page).
    pub(super) fn joined(&mut self, room: String, members: Vec<String>, total: usize) {
        self.in_room_now("you joined", room, members, total);
    }

    /// This client is in `room` again (after a reconnect), as [`App::joined`] says.
    pub(super) fn rejoined(&mut self, room: String, members: Vec<String>, total: usize) {
        self.in_room_now("back in", room, members, total);
    }

    /// Takes `room` and its members, and says so in one line that starts with `said`.
    fn in_room_now(&mut self, said: &str, room: String, members: Vec<String>, total: usize) {
        self.room = room;
        self.members = members;
        self.member_total = total;
        self.notice_now(format!(
            "{said} #{} ({})",
            sanitize::nick(&self.room),
            members_count(self.member_total)
        ));
    }

    /// The answer to `/who`: `total` when the list is the first page of a larger room.
    pub(super) fn members_of(&mut self, room: String, members: Vec<String>, total: Option<usize>) {
        let list: Vec<_> = members.iter().map(|m| sanitize::nick(m)).collect();
        let count = total.unwrap_or(members.len());
        let rest = match total {
            Some(total) => format!(", and {} more", total.saturating_sub(members.len())),
            None => String::new(),
        };
        self.notice_now(format!(
            "members of #{} ({count}): {}{rest}",
            sanitize::nick(&room),
            list.join(", ")
        ));
        if room == self.room {
            self.member_total = count;
            self.members = members;
        }
    }
}

/// How a room message looks in the pane, for this client (`nick`): sanitised, cut to the
/// pane's bounds, its own lines and the lines naming it marked.
pub fn message_entry(message: &Stamped, room: &str, nick: &str, shares: &Shares) -> Entry {
    let room = sanitize::nick(room);
    let kind = match &message.event {
        RoomEvent::Said { from, kind, text } => {
            let own = from == nick;
            EntryKind::Chat {
                from: sanitize::nick(from).into_owned(),
                text: sanitize::text(text).into_owned(),
                action: *kind == ChatKind::Action,
                own,
                mention: !own && mentions(text, nick),
            }
        }
        RoomEvent::Shared { file } => EntryKind::Notice(offer_text(file, shares)),
        RoomEvent::Joined { nick } => {
            EntryKind::Notice(format!("{} joined #{room}", sanitize::nick(nick)))
        }
        RoomEvent::Left { nick, reason } => {
            let reason = sanitize::text(reason);
            EntryKind::Notice(if reason.is_empty() {
                format!("{} left #{room}", sanitize::nick(nick))
            } else {
                format!("{} left #{room} ({reason})", sanitize::nick(nick))
            })
        }
        RoomEvent::Renamed { old, new } => EntryKind::Notice(format!(
            "{} is now known as {}",
            sanitize::nick(old),
            sanitize::nick(new)
        )),
    };
    let mut entry = Entry {
        time_ms: message.time_ms,
        kind,
    };
    entry.kind.clip();
    entry
}

/// Whether a room message is this client's own rename (to `nick`), which the pane leaves
/// out: `NickChanged` says it.
pub fn own_rename(message: &Stamped, nick: &str) -> bool {
    matches!(&message.event, RoomEvent::Renamed { new, .. } if new == nick)
}

/// Whether `text` names `nick` or one of the highlight words ([`crate::prefs`]).
pub fn mentions(text: &str, nick: &str) -> bool {
    names(text, nick)
        || crate::prefs::current()
            .highlight
            .iter()
            .any(|word| names(text, word))
}

/// Whether `text` holds `nick` as a whole word, in any case.
fn names(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let nick = nick.to_lowercase();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(&nick).any(|(i, _)| {
        !is_word(text[..i].chars().next_back()) && !is_word(text[i + nick.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use shared::{MemberPage, ServerMsg};

    use super::*;
    use crate::app::Event;
    use crate::app::scrollback::{MAX_ENTRY_NAME_BYTES, MAX_ENTRY_TEXT_BYTES};
    use crate::app::testing::*;

    #[test]
    fn chat_from_the_server_is_sanitised_and_marked() {
        let mut app = app();
        assert!(app.update(chat("bob", "\x1b[2Jhi")).is_empty());
        assert_eq!(
            last(&app),
            EntryKind::Chat {
                from: "bob".into(),
                text: "␛[2Jhi".into(),
                action: false,
                own: false,
                mention: false,
            }
        );
        app.update(chat("alice", "mine"));
        assert!(matches!(last(&app), EntryKind::Chat { own: true, .. }));
    }

    #[test]
    fn mention_is_highlighted_and_rings_unless_turned_off() {
        let mut app = app();
        assert_eq!(app.update(chat("bob", "hey Alice!")), [Command::Bell]);
        assert!(matches!(last(&app), EntryKind::Chat { mention: true, .. }));
        // Not a word of its own: no mention.
        assert!(app.update(chat("bob", "malice")).is_empty());
        // One's own line naming oneself does not ring.
        assert!(app.update(chat("alice", "alice here")).is_empty());
        app.settings.bell = false;
        assert!(app.update(chat("bob", "alice?")).is_empty());
        assert!(matches!(last(&app), EntryKind::Chat { mention: true, .. }));
    }

    #[test]
    fn private_message_rings() {
        let mut app = app();
        let pm = |from: &str, to: &str| {
            Event::Server(ServerMsg::Private {
                id: 2,
                time_ms: T,
                from: from.into(),
                to: to.into(),
                text: "psst".into(),
            })
        };
        assert_eq!(app.update(pm("bob", "alice")), [Command::Bell]);
        assert!(app.update(pm("alice", "bob")).is_empty());
        // Both in the conversation's buffer.
        app.switch_to(app.query_buffer("bob").expect("bob's buffer"));
        assert!(matches!(last(&app), EntryKind::Private { own: true, .. }));
    }

    #[test]
    fn the_message_of_the_day_is_the_servers_line() {
        let mut app = app();
        app.update(Event::Server(ServerMsg::Notice {
            time_ms: 1,
            room: "lobby".into(),
            event: RoomEvent::Said {
                from: String::new(),
                kind: ChatKind::Say,
                text: "welcome to the office".into(),
            },
        }));
        assert_eq!(
            last(&app),
            EntryKind::Notice("server: welcome to the office".into())
        );
    }

    #[test]
    fn room_events_keep_the_member_list() {
        let mut app = app();
        let notice = room_msg;
        app.update(notice(RoomEvent::Joined {
            nick: "dave".into(),
        }));
        app.update(notice(RoomEvent::Left {
            nick: "bobby".into(),
            reason: "bye".into(),
        }));
        app.update(notice(RoomEvent::Renamed {
            old: "carol".into(),
            new: "caz".into(),
        }));
        assert_eq!(app.members, ["alice", "bob", "caz", "dave"]);
        assert_eq!(
            last(&app),
            EntryKind::Notice("carol is now known as caz".into())
        );
        app.update(Event::Server(ServerMsg::NickChanged {
            nick: "alicia".into(),
        }));
        assert_eq!(app.nick, "alicia");
        assert_eq!(app.members, ["alicia", "bob", "caz", "dave"]);
        app.update(Event::Server(ServerMsg::Joined4 {
            room: "rust".into(),
            seq: 3,
            members: MemberPage {
                total: 2,
                names: vec!["alicia".into(), "ferris".into()],
                more: false,
            },
        }));
        assert_eq!((app.room.as_str(), app.members.len()), ("rust", 2));
    }

    /// In a room larger than one page of names, the count is the server's total, moved by
    /// joins and leaves, not the length of the page.
    #[test]
    fn a_room_larger_than_a_page_counts_every_member() {
        let mut app = app();
        let page: Vec<String> = (0..1000).map(|n| format!("n{n:04}")).collect();
        app.update(Event::Server(ServerMsg::Joined4 {
            room: "big".into(),
            seq: 9,
            members: MemberPage {
                total: 2500,
                names: page,
                more: true,
            },
        }));
        assert_eq!(app.member_total, 2500);
        assert_eq!(
            last(&app),
            EntryKind::Notice("you joined #big (2500 members)".into())
        );
        app.update(Event::Server(ServerMsg::Notice {
            time_ms: T,
            room: "big".into(),
            event: RoomEvent::Joined { nick: "zed".into() },
        }));
        app.update(Event::Server(ServerMsg::Notice {
            time_ms: T,
            room: "big".into(),
            event: RoomEvent::Left {
                nick: "n0001".into(),
                reason: "quit".into(),
            },
        }));
        app.update(Event::Server(ServerMsg::Notice {
            time_ms: T,
            room: "big".into(),
            event: RoomEvent::Left {
                nick: "z9999".into(),
                reason: "quit".into(),
            },
        }));
        assert_eq!(app.member_total, 2499, "one joined, two left");
        assert_eq!(app.members.len(), 1000, "the page: zed in, n0001 out");
    }

    /// What the version 3 messages said, the version 4 ones say too (and the other way).
    #[test]
    fn version_3_room_messages_read_like_version_4_ones() {
        let mut app = app();
        app.update(Event::Server(ServerMsg::Chat {
            id: 1,
            time_ms: T,
            room: "lobby".into(),
            from: "bob".into(),
            kind: ChatKind::Action,
            text: "waves".into(),
        }));
        let v3 = last(&app).clone();
        app.update(room_msg(RoomEvent::Said {
            from: "bob".into(),
            kind: ChatKind::Action,
            text: "waves".into(),
        }));
        assert_eq!(last(&app), v3);
        app.update(notice(
            "lobby",
            RoomEvent::Joined {
                nick: "dave".into(),
            },
        ));
        assert_eq!(last(&app), EntryKind::Notice("dave joined #lobby".into()));
    }

    /// The client keeps its member list in the server's order (case-folded), so a join, a
    /// rename or a nick change puts a member where the server's next list would have it.
    #[test]
    fn members_are_kept_in_the_servers_order() {
        let mut app = app();
        app.update(Event::Server(ServerMsg::Joined {
            room: "dev".into(),
            members: vec!["alice".into(), "Amy".into(), "bo".into(), "zed".into()],
        }));
        let notice = |event| notice("dev", event);
        app.update(notice(RoomEvent::Joined {
            nick: "Carl".into(),
        }));
        assert_eq!(app.members, ["alice", "Amy", "bo", "Carl", "zed"]);
        app.update(notice(RoomEvent::Renamed {
            old: "zed".into(),
            new: "Bea".into(),
        }));
        assert_eq!(app.members, ["alice", "Amy", "Bea", "bo", "Carl"]);
        app.update(Event::Server(ServerMsg::NickChanged { nick: "Zoe".into() }));
        assert_eq!(app.members, ["Amy", "Bea", "bo", "Carl", "Zoe"]);
    }

    #[test]
    fn an_oversized_message_from_a_hostile_server_is_cut_in_the_scrollback() {
        let mut app = app();
        let huge_nick = "名".repeat(100_000);
        app.update(chat(&huge_nick, &"x".repeat(1 << 20)));
        let EntryKind::Chat { from, text, .. } = last(&app) else {
            panic!("a chat entry");
        };
        assert!(
            from.len() <= MAX_ENTRY_NAME_BYTES + '…'.len_utf8(),
            "{}",
            from.len()
        );
        assert!(
            text.len() <= MAX_ENTRY_TEXT_BYTES + '…'.len_utf8(),
            "{}",
            text.len()
        );
        assert!(from.ends_with("名…") && text.ends_with("x…"));
        // What the timeline holds of it is cut too, to the protocol's limits.
        let held = app.reading.timeline.messages().last().expect("held");
        let RoomEvent::Said { text, .. } = &held.event else {
            panic!("{held:?}");
        };
        assert!(text.len() <= shared::limits::MAX_TEXT_BYTES + '…'.len_utf8());
        // A text within the protocol's limit is kept whole.
        let longest = "y".repeat(shared::limits::MAX_TEXT_BYTES);
        app.update(chat("bob", &longest));
        assert!(matches!(last(&app), EntryKind::Chat { text, .. } if *text == longest));
    }

    #[test]
    fn mentions_match_whole_words_only() {
        assert!(mentions("hi alice", "alice"));
        assert!(mentions("ALICE: look", "alice"));
        assert!(mentions("@alice!", "alice"));
        assert!(!mentions("malice", "alice"));
        assert!(!mentions("alice_b", "alice"));
        assert!(mentions("你好 alice", "alice"));
        assert!(!mentions("anything", ""));
    }
}
