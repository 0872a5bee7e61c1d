//! Buffers: one per room the client is in and one per private conversation, each with its
//! own messages, member list, scroll position, unread line and input draft.
//!
//! The buffer shown (the active one) lives in the [`App`]'s own fields, where the rest of
//! the app reads and changes it; the others wait in [`App::buffers`], each with its
//! [`State`] put aside. Switching swaps the states, and news for a buffer not shown is
//! dealt with by the same code as news for the one shown: its state is swapped in for
//! the time of it (`App::in_buffer`), then put back, and what arrived is counted in its
//! [`Activity`] for the status line.

use chat_client::sanitize;
use shared::names;

use super::reading::Reading;
use super::scrollback::Scrollback;
use super::search::Search;
use super::{App, Command, ConnState, pane::Key};
use crate::input::InputLine;

/// What a buffer shows: a room, or the private conversation with a nick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Room(String),
    Query(String),
}

impl Target {
    /// The name as the status line shows it: `dev`, `@bob` (not yet sanitised).
    pub fn label(&self) -> String {
        match self {
            Target::Room(room) => room.clone(),
            Target::Query(nick) => format!("@{nick}"),
        }
    }

    /// Whether this is `room`'s buffer (a name from the server, spelt as the server spells
    /// it; one typed is compared with [`Target::names_room`]).
    pub fn is_room(&self, room: &str) -> bool {
        matches!(self, Target::Room(r) if r == room)
    }

    /// Whether this is the room called `name`, compared as room names are.
    pub fn names_room(&self, name: &str) -> bool {
        matches!(self, Target::Room(r) if names::same_name(r, name))
    }

    /// Whether this is the private conversation with `nick`, compared as nicks are.
    pub fn is_query(&self, nick: &str) -> bool {
        matches!(self, Target::Query(n) if names::same_name(n, nick))
    }
}

/// What arrived in a buffer since it was last shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Messages said, acted or shared (joins and leaves are not counted).
    pub messages: usize,
    /// How many of them name this client.
    pub mentions: usize,
    /// How many of them are private messages to this client.
    pub private: usize,
}

impl Activity {
    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }

    /// Whether the buffer holds something addressed to this client.
    pub fn highlighted(&self) -> bool {
        self.mentions > 0 || self.private > 0
    }
}

/// A room's topic, as the server said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// Sanitised.
    pub text: String,
    /// Who set it, sanitised.
    pub by: String,
    pub time_ms: u64,
}

/// The state of a buffer that belongs to it alone: what the app's fields hold while it is
/// shown.
#[derive(Debug, Clone)]
pub struct State {
    pub room: String,
    pub query: Option<String>,
    pub members: Vec<String>,
    pub member_total: usize,
    pub scrollback: Scrollback,
    pub reading: Reading,
    pub last_seq: u64,
    pub highlight: Option<Key>,
    pub search: Option<Search>,
    pub input: InputLine,
    pub topic: Option<Topic>,
    pub joined: bool,
}

impl State {
    /// A fresh buffer for `target`.
    pub fn new(target: &Target) -> Self {
        let (room, query) = match target {
            Target::Room(room) => (room.clone(), None),
            Target::Query(nick) => (String::new(), Some(nick.clone())),
        };
        Self {
            reading: Reading::new(&room, None),
            room,
            query,
            members: Vec::new(),
            member_total: 0,
            scrollback: Scrollback::default(),
            last_seq: 0,
            highlight: None,
            search: None,
            input: InputLine::default(),
            topic: None,
            joined: true,
        }
    }
}

/// One buffer, in the order of the status line and of Alt-1…9.
#[derive(Debug, Clone)]
pub struct Buffer {
    pub target: Target,
    pub activity: Activity,
    /// `None` while the buffer is shown: its state is the app's.
    state: Option<Box<State>>,
}

impl Buffer {
    fn shown(target: Target) -> Self {
        Self {
            target,
            activity: Activity::default(),
            state: None,
        }
    }
}

/// Most room buffers open at once: the rooms one connection may be in. Apart from the
/// private conversations, so that messages from strangers never take a joined room's
/// place.
pub const MAX_ROOM_BUFFERS: usize = shared::limits::MAX_JOINED_ROOMS;

/// Most private conversations open at once. A private message from one more nick is
/// shown in the buffer shown, as it was before buffers.
pub const MAX_QUERY_BUFFERS: usize = 20;

impl App {
    /// The buffers for a new app: the welcome's room, shown.
    pub(super) fn first_buffer(room: &str) -> Vec<Buffer> {
        vec![Buffer::shown(Target::Room(room.to_owned()))]
    }

    /// What the buffer shown shows.
    pub fn target(&self) -> &Target {
        &self.buffers[self.active].target
    }

    /// Swaps the app's buffer fields with `state`.
    fn swap_state(&mut self, state: &mut State) {
        std::mem::swap(&mut self.room, &mut state.room);
        std::mem::swap(&mut self.query, &mut state.query);
        std::mem::swap(&mut self.members, &mut state.members);
        std::mem::swap(&mut self.member_total, &mut state.member_total);
        std::mem::swap(&mut self.scrollback, &mut state.scrollback);
        std::mem::swap(&mut self.reading, &mut state.reading);
        std::mem::swap(&mut self.last_seq, &mut state.last_seq);
        std::mem::swap(&mut self.highlight, &mut state.highlight);
        std::mem::swap(&mut self.search, &mut state.search);
        std::mem::swap(&mut self.input, &mut state.input);
        std::mem::swap(&mut self.topic, &mut state.topic);
        std::mem::swap(&mut self.joined, &mut state.joined);
    }

    /// Runs `f` with buffer `i` in the app's fields, as if it were shown (and its
    /// activity untouched). `f` may open buffers, not close them.
    pub(super) fn in_buffer<R>(&mut self, i: usize, f: impl FnOnce(&mut App) -> R) -> R {
        if i == self.active {
            return f(self);
        }
        let back = self.active;
        self.show(i);
        let result = f(self);
        self.show(back);
        result
    }

    /// Puts buffer `i`'s state in the app's fields, and the one shown's aside.
    fn show(&mut self, i: usize) {
        let mut state = self.buffers[i]
            .state
            .take()
            .expect("a buffer not shown has its state");
        self.swap_state(&mut state);
        self.buffers[self.active].state = Some(state);
        self.active = i;
    }

    /// Shows buffer `i`: its draft in the input line, its view where it was left.
    pub fn switch_to(&mut self, i: usize) {
        if i >= self.buffers.len() || i == self.active {
            return;
        }
        self.show(i);
        self.buffers[i].activity = Activity::default();
        self.completion = None;
    }

    /// The next buffer (`step` 1) or the one before (`step` -1), round.
    pub(super) fn switch_by(&mut self, step: isize) {
        let n = self.buffers.len();
        let i = if step < 0 {
            (self.active + n - step.unsigned_abs() % n) % n
        } else {
            (self.active + step.unsigned_abs()) % n
        };
        self.switch_to(i);
    }

    /// The buffer of the room `room` as the server spells it.
    pub(super) fn room_buffer(&self, room: &str) -> Option<usize> {
        self.buffers.iter().position(|b| b.target.is_room(room))
    }

    /// The buffer of the room called `name` (as typed, compared as room names are).
    pub(super) fn named_room_buffer(&self, name: &str) -> Option<usize> {
        self.buffers.iter().position(|b| b.target.names_room(name))
    }

    /// The buffer of the private conversation with `nick`.
    pub(super) fn query_buffer(&self, nick: &str) -> Option<usize> {
        self.buffers.iter().position(|b| b.target.is_query(nick))
    }

    /// Opens a buffer for `target` at the end (not shown); its index. `None` when
    /// [`MAX_ROOM_BUFFERS`] rooms, or [`MAX_QUERY_BUFFERS`] private conversations, are
    /// open: the caller says so where the user asked.
    pub(super) fn open_buffer(&mut self, target: Target) -> Option<usize> {
        let is_room = matches!(target, Target::Room(_));
        let same_kind = self
            .buffers
            .iter()
            .filter(|b| matches!(b.target, Target::Room(_)) == is_room)
            .count();
        if same_kind
            >= if is_room {
                MAX_ROOM_BUFFERS
            } else {
                MAX_QUERY_BUFFERS
            }
        {
            return None;
        }
        let mut state = State::new(&target);
        if matches!(target, Target::Room(_)) {
            // History is granted per connection: a room joined on it has it too.
            state.reading = match self.history_info {
                Some(info) if self.reading_granted() => Reading::granted(&state.room, info),
                info => Reading::new(&state.room, info),
            };
        }
        self.buffers.push(Buffer {
            target,
            activity: Activity::default(),
            state: Some(Box::new(state)),
        });
        Some(self.buffers.len() - 1)
    }

    /// Whether the server keeps history on the current connection (it said `HistoryInfo`
    /// since the welcome).
    fn reading_granted(&self) -> bool {
        self.conn == ConnState::Connected && self.history_info.is_some()
    }

    /// The private conversation with `nick`: its buffer, opened if need be.
    pub(super) fn query(&mut self, nick: &str) -> Option<usize> {
        match self.query_buffer(nick) {
            Some(i) => Some(i),
            None => {
                let opened = self.open_buffer(Target::Query(nick.to_owned()));
                if opened.is_some() {
                    self.want_private(nick);
                }
                opened
            }
        }
    }

    /// Closes buffer `i` (never the last one); the one before it is shown if it was.
    pub(super) fn close_buffer(&mut self, i: usize) {
        if self.buffers.len() <= 1 || i >= self.buffers.len() {
            return;
        }
        if i == self.active {
            self.switch_to(if i == 0 { 1 } else { i - 1 });
        }
        self.buffers.remove(i);
        if self.active > i {
            self.active -= 1;
        }
    }

    /// Renames the buffer shown's target (the server spells a room as it was created).
    pub(super) fn retarget(&mut self, i: usize, target: Target) {
        self.buffers[i].target = target;
    }

    /// Counts what arrived in buffer `i` while it is not shown.
    pub(super) fn count_activity(&mut self, i: usize, mention: bool, private: bool) {
        if i == self.active {
            return;
        }
        let activity = &mut self.buffers[i].activity;
        activity.messages += 1;
        activity.mentions += usize::from(mention);
        activity.private += usize::from(private);
    }

    /// `/buffer N`, Alt-N: shows the buffer numbered `n` (from 1).
    pub(super) fn buffer_number(&mut self, n: usize) {
        if n == 0 || n > self.buffers.len() {
            self.error(format!(
                "no buffer {n}: {} open (the status line numbers them)",
                self.buffers.len()
            ));
            return;
        }
        self.switch_to(n - 1);
    }

    /// Runs `f` in every buffer, collecting the commands.
    pub(super) fn in_every_buffer(
        &mut self,
        mut f: impl FnMut(&mut App) -> Vec<Command>,
    ) -> Vec<Command> {
        let mut commands = Vec::new();
        for i in 0..self.buffers.len() {
            commands.extend(self.in_buffer(i, &mut f));
        }
        commands
    }

    /// Runs `f` in every room buffer, collecting the commands.
    pub(super) fn in_every_room(
        &mut self,
        mut f: impl FnMut(&mut App) -> Vec<Command>,
    ) -> Vec<Command> {
        let mut commands = Vec::new();
        for i in 0..self.buffers.len() {
            if matches!(self.buffers[i].target, Target::Room(_)) {
                commands.extend(self.in_buffer(i, &mut f));
            }
        }
        commands
    }

    /// The buffer not shown whose requests include `id` (a page of history, a search, a
    /// line on its way).
    pub(super) fn owner_of(&self, id: u32) -> Option<usize> {
        self.buffers.iter().position(|b| {
            b.state.as_ref().is_some_and(|s| {
                s.reading.awaits(id) || s.scrollback.sending(id) || {
                    s.search.as_ref().and_then(Search::waiting) == Some(id)
                }
            })
        })
    }

    /// The name the title and notices give the buffer shown: `#dev`, `bob`.
    pub fn buffer_title(&self) -> String {
        match self.target() {
            Target::Room(room) => format!("#{}", sanitize::nick(room)),
            Target::Query(nick) => sanitize::nick(nick).into_owned(),
        }
    }
}

/// The commands that open, leave and close buffers.
impl App {
    /// `/join ROOM`: a room already joined is shown; another is joined (in a buffer of its
    /// own when the server lets the client be in several rooms, else moving there).
    pub(super) fn join_command(&mut self, room: String) -> Vec<Command> {
        if self.several_rooms
            && let Some(i) = self.named_room_buffer(&room)
            && self.in_buffer(i, |app| app.joined)
        {
            self.switch_to(i);
            return Vec::new();
        }
        self.join(room)
    }

    /// `/part [ROOM] [REASON]`: leaves ROOM (written with or without `#`), or the
    /// buffer's room.
    pub(super) fn part_command(&mut self, args: &str) -> Vec<Command> {
        if !self.several_rooms {
            self.error(format!(
                "/part: {}; /join another room to move there",
                super::topic::NEEDS_ROOMS
            ));
            return Vec::new();
        }
        let (first, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        let named = first.strip_prefix('#').map(str::to_owned).or_else(|| {
            self.named_room_buffer(first)
                .filter(|_| !first.is_empty())
                .map(|_| first.to_owned())
        });
        let (i, reason) = match named {
            Some(name) => match self.named_room_buffer(&name) {
                Some(i) => (i, rest.trim()),
                None => {
                    self.error(format!("/part: you are not in #{}", sanitize::nick(&name)));
                    return Vec::new();
                }
            },
            None if self.query.is_some() => {
                self.error("/part: this buffer is a private conversation: /close closes it".into());
                return Vec::new();
            }
            None => (self.active, args),
        };
        if reason.len() > shared::limits::MAX_REASON_BYTES {
            self.error(format!(
                "/part: reason longer than {} bytes",
                shared::limits::MAX_REASON_BYTES
            ));
            return Vec::new();
        }
        let Target::Room(room) = self.buffers[i].target.clone() else {
            return Vec::new();
        };
        if !self.in_buffer(i, |app| app.joined) {
            self.error(format!(
                "/part: you already left #{}",
                sanitize::nick(&room)
            ));
            return Vec::new();
        }
        let part = shared::RoomRequest::Part {
            reason: reason.to_owned(),
        };
        vec![Command::Send(shared::ClientMsg::InRoom { room, msg: part })]
    }

    /// `/close`: closes the buffer shown; a room's is left first (its buffer closes when
    /// the server says so). The last buffer stays.
    pub(super) fn close_command(&mut self) -> Vec<Command> {
        if self.buffers.len() <= 1 {
            self.error("/close: the last buffer stays open; /quit leaves".into());
            return Vec::new();
        }
        if self.query.is_some() || !self.joined {
            self.close_buffer(self.active);
            return Vec::new();
        }
        if !self.several_rooms {
            self.error(format!(
                "/close: {}; /join another room to move there",
                super::topic::NEEDS_ROOMS
            ));
            return Vec::new();
        }
        self.part_command("")
    }

    /// `/query NICK`: shows the private conversation with NICK, opened if need be.
    pub(super) fn query_command(&mut self, nick: &str) {
        match self.query(nick) {
            Some(i) => self.switch_to(i),
            None => self.error(format!(
                "at most {MAX_QUERY_BUFFERS} private conversations are open at once: \
                 /close one first"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use shared::{ChatKind, ClientMsg, MemberPage, RoomEvent, RoomRequest, ServerMsg};

    use super::*;
    use crate::app::Event;
    use crate::app::scrollback::EntryKind;
    use crate::app::testing::*;

    /// alice in the lobby on a server that lets her be in several rooms.
    fn several() -> App {
        let mut app = app();
        app.several_rooms = true;
        app
    }

    fn joined4(room: &str, seq: u64) -> ServerMsg {
        ServerMsg::Joined4 {
            room: room.into(),
            seq,
            members: MemberPage {
                total: 2,
                names: vec!["alice".into(), "bob".into()],
                more: false,
            },
        }
    }

    /// `/join ROOM` and the server's answer to it.
    fn join(app: &mut App, room: &str, seq: u64) {
        let sent = submit(app, &format!("/join {room}"));
        let [Command::Send(ClientMsg::Request { id, msg })] = sent.as_slice() else {
            panic!("{sent:?}");
        };
        assert_eq!(**msg, ClientMsg::Join { room: room.into() });
        app.update(Event::Server(ServerMsg::Reply {
            id: *id,
            msg: Box::new(joined4(room, seq)),
        }));
    }

    fn said(room: &str, seq: u64, from: &str, text: &str) -> Event {
        Event::Server(ServerMsg::Room {
            id: seq,
            seq,
            time_ms: T,
            room: room.into(),
            event: RoomEvent::Said {
                from: from.into(),
                kind: ChatKind::Say,
                text: text.into(),
            },
        })
    }

    fn alt(c: char) -> Event {
        Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT))
    }

    fn labels(app: &App) -> Vec<String> {
        app.buffers.iter().map(|b| b.target.label()).collect()
    }

    #[test]
    fn join_adds_a_buffer_shown_and_talk_goes_to_its_room() {
        let mut app = several();
        join(&mut app, "dev", 4);
        join(&mut app, "ops", 9);
        assert_eq!(labels(&app), ["lobby", "dev", "ops"]);
        assert_eq!((app.active, app.room.as_str()), (2, "ops"));
        let sent = submit(&mut app, "hi ops");
        let [Command::Send(ClientMsg::Request { msg, .. })] = sent.as_slice() else {
            panic!("{sent:?}");
        };
        assert_eq!(
            **msg,
            ClientMsg::InRoom {
                room: "ops".into(),
                msg: RoomRequest::Chat {
                    text: "hi ops".into()
                }
            }
        );
        app.update(alt('2'));
        assert_eq!(
            submit(&mut app, "/who"),
            [Command::Send(ClientMsg::InRoom {
                room: "dev".into(),
                msg: RoomRequest::Who
            })]
        );
        // A room already joined is shown, not joined again.
        assert_eq!(submit(&mut app, "/join OPS"), []);
        assert_eq!(app.active, 2);
    }

    /// A room joined on a connection whose server keeps history catches up at once.
    #[test]
    fn strangers_private_messages_never_take_a_rooms_buffer() {
        let mut app = several();
        for n in 0..MAX_QUERY_BUFFERS + 5 {
            app.update(Event::Server(ServerMsg::Private {
                id: n as u64,
                time_ms: T,
                from: format!("stranger{n}"),
                to: "alice".into(),
                text: format!("hello {n}"),
            }));
        }
        let queries = app
            .buffers
            .iter()
            .filter(|b| matches!(b.target, Target::Query(_)))
            .count();
        assert_eq!(queries, MAX_QUERY_BUFFERS);
        // The ones beyond are shown where the user is, with no error line.
        let last_one = format!("hello {}", MAX_QUERY_BUFFERS + 4);
        assert!(
            matches!(last(&app), EntryKind::Private { text, .. } if text == last_one),
            "{:?}",
            last(&app)
        );
        join(&mut app, "dev", 4);
        assert_eq!(app.target(), &Target::Room("dev".into()));
        assert_eq!(submit(&mut app, "/query zed"), []);
        assert!(matches!(last(&app), EntryKind::Error(t) if t.contains("/close one first")));
    }

    #[test]
    fn a_room_joined_catches_up_in_its_own_buffer() {
        let mut app = several();
        app.update(Event::Server(ServerMsg::HistoryInfo {
            page: 100,
            catch_up: 500,
            backlog: 50,
            search: 100,
            max_age_secs: 0,
            max_per_room: 0,
        }));
        let sent = submit(&mut app, "/join dev");
        let [Command::Send(ClientMsg::Request { id, .. })] = sent.as_slice() else {
            panic!("{sent:?}");
        };
        let commands = app.update(Event::Server(ServerMsg::Reply {
            id: *id,
            msg: Box::new(joined4("dev", 4)),
        }));
        let catch_up: Vec<&ClientMsg> = commands
            .iter()
            .filter_map(|c| match c {
                Command::Send(ClientMsg::Request { msg, .. }) => Some(msg.as_ref()),
                _ => None,
            })
            .collect();
        assert_eq!(
            catch_up,
            [&ClientMsg::CatchUp {
                room: "dev".into(),
                after: 0
            }]
        );
        assert_eq!(app.reading.timeline.room(), "dev");
    }

    #[test]
    fn news_in_buffers_not_shown_is_counted_with_mentions_and_private_apart() {
        let mut app = several();
        join(&mut app, "dev", 4);
        app.update(alt('1'));
        app.update(said("dev", 5, "bob", "build is green"));
        app.update(said("dev", 6, "bob", "alice: look"));
        app.update(said("dev", 7, "alice", "mine does not count"));
        app.update(Event::Server(ServerMsg::Room {
            id: 8,
            seq: 8,
            time_ms: T,
            room: "dev".into(),
            event: RoomEvent::Joined {
                nick: "carol".into(),
            },
        }));
        assert_eq!(
            app.buffers[1].activity,
            Activity {
                messages: 2,
                mentions: 1,
                private: 0
            }
        );
        // The buffer shown counts nothing.
        app.update(chat("bob", "in the lobby"));
        assert!(app.buffers[0].activity.is_empty());
        // A private message opens its conversation's buffer, not shown.
        let bell = app.update(Event::Server(ServerMsg::Private {
            id: 9,
            time_ms: T,
            from: "carol".into(),
            to: "alice".into(),
            text: "psst".into(),
        }));
        assert_eq!(bell, [Command::Bell]);
        assert_eq!(labels(&app), ["lobby", "dev", "@carol"]);
        assert_eq!(app.active, 0);
        assert_eq!(app.buffers[2].activity.private, 1);
        // Shown, a buffer's news is read; its members are its own.
        app.update(Event::Key(KeyEvent::new(KeyCode::Right, KeyModifiers::ALT)));
        assert_eq!(app.active, 1);
        assert!(app.buffers[1].activity.is_empty());
        assert_eq!(app.members, ["alice", "bob", "carol"]);
        assert!(matches!(last(&app), EntryKind::Notice(t) if t == "carol joined #dev"));
        app.update(ctrl('n'));
        assert!(matches!(last(&app), EntryKind::Private { text, .. } if text == "psst"));
        app.update(ctrl('n'));
        assert_eq!(app.active, 0, "round to the first");
        assert_eq!(app.members, ["alice", "bob", "bobby", "carol"]);
    }

    /// An ignored nick opens no buffer and counts as no news.
    #[test]
    fn an_ignored_nick_opens_nothing_and_counts_nothing() {
        let mut app = several();
        join(&mut app, "dev", 4);
        submit(&mut app, "/ignore mallory");
        app.update(said("lobby", 11, "mallory", "alice: look at me"));
        let commands = app.update(Event::Server(ServerMsg::Private {
            id: 9,
            time_ms: T,
            from: "mallory".into(),
            to: "alice".into(),
            text: "psst".into(),
        }));
        assert_eq!(commands, []);
        assert_eq!(labels(&app), ["lobby", "dev"]);
        assert!(app.buffers[0].activity.is_empty());
    }

    #[test]
    fn the_draft_and_the_scroll_position_belong_to_each_buffer() {
        let mut app = several();
        for i in 0..40 {
            app.update(chat("bob", &format!("line {i}")));
        }
        join(&mut app, "dev", 4);
        app.update(alt('1'));
        draw(&mut app, 60, 12);
        app.update(key(KeyCode::PageUp));
        type_str(&mut app, "half a thought");
        app.update(alt('2'));
        assert!(app.input.is_empty());
        assert!(app.scrollback.state().following());
        type_str(&mut app, "dev draft");
        app.update(alt('1'));
        assert_eq!(app.input.text(), "half a thought");
        assert!(!app.scrollback.state().following());
        app.update(alt('2'));
        assert_eq!(app.input.text(), "dev draft");
        // A number without a buffer says so.
        app.update(alt('7'));
        assert_eq!(app.active, 1);
        assert!(matches!(last(&app), EntryKind::Error(t) if t.starts_with("no buffer 7")));
    }

    #[test]
    fn query_opens_a_conversation_without_sending_and_talk_there_is_private() {
        let mut app = several();
        assert_eq!(submit(&mut app, "/query bob"), []);
        assert_eq!(labels(&app), ["lobby", "@bob"]);
        assert_eq!(app.active, 1);
        assert_eq!(
            submit(&mut app, "hello you"),
            [Command::Send(ClientMsg::Private {
                to: "bob".into(),
                text: "hello you".into()
            })]
        );
        // Room commands say where they belong.
        assert_eq!(submit(&mut app, "/who"), []);
        assert!(
            matches!(last(&app), EntryKind::Error(t) if t.contains("private conversation with bob"))
        );
        // The echo lands here; bob's away text too.
        app.update(Event::Server(ServerMsg::Private {
            id: 3,
            time_ms: T,
            from: "alice".into(),
            to: "bob".into(),
            text: "hello you".into(),
        }));
        app.update(Event::Server(ServerMsg::Away {
            nick: "bob".into(),
            text: "lunch".into(),
        }));
        assert_eq!(last(&app), EntryKind::Notice("bob is away: lunch".into()));
        assert_eq!(submit(&mut app, "/close"), []);
        assert_eq!(labels(&app), ["lobby"]);
        assert_eq!(submit(&mut app, "/close"), []);
        assert!(matches!(last(&app), EntryKind::Error(t) if t.contains("last buffer")));
    }

    #[test]
    fn part_leaves_a_room_and_its_buffer_closes_when_the_server_says_so() {
        let mut app = several();
        join(&mut app, "dev", 4);
        join(&mut app, "ops", 9);
        app.update(alt('1'));
        assert_eq!(
            submit(&mut app, "/part #dev gone fishing"),
            [Command::Send(ClientMsg::InRoom {
                room: "dev".into(),
                msg: RoomRequest::Part {
                    reason: "gone fishing".into()
                }
            })]
        );
        assert_eq!(
            submit(&mut app, "/part see you"),
            [Command::Send(ClientMsg::InRoom {
                room: "lobby".into(),
                msg: RoomRequest::Part {
                    reason: "see you".into()
                }
            })]
        );
        assert_eq!(submit(&mut app, "/part #nowhere"), []);
        app.update(Event::Server(ServerMsg::Parted {
            room: "dev".into(),
            reason: "gone fishing".into(),
        }));
        assert_eq!(labels(&app), ["lobby", "ops"]);
        assert_eq!(app.active, 0);
        assert_eq!(
            last(&app),
            EntryKind::Notice("you left #dev (gone fishing)".into())
        );
        // Late news of the room left goes nowhere.
        app.update(said("dev", 5, "bob", "anyone?"));
        assert!(app.buffers.iter().all(|b| b.activity.is_empty()));
        // The buffer shown parted: the one before is shown.
        app.update(alt('2'));
        app.update(Event::Server(ServerMsg::Parted {
            room: "ops".into(),
            reason: String::new(),
        }));
        assert_eq!((labels(&app), app.active), (vec!["lobby".to_owned()], 0));
        // The last room stays, left.
        app.update(Event::Server(ServerMsg::Parted {
            room: "lobby".into(),
            reason: String::new(),
        }));
        assert!(!app.joined);
        assert_eq!(submit(&mut app, "still here?"), []);
        assert!(matches!(last(&app), EntryKind::Error(t) if t.contains("you left #lobby")));
    }

    #[test]
    fn after_a_reconnect_every_room_catches_up_in_its_buffer() {
        let mut app = several();
        join(&mut app, "dev", 4);
        let info = || {
            Event::Server(ServerMsg::HistoryInfo {
                page: 100,
                catch_up: 500,
                backlog: 50,
                search: 100,
                max_age_secs: 0,
                max_per_room: 0,
            })
        };
        // Both rooms catch up (nothing was said before).
        for command in app.update(info()) {
            if let Command::Send(ClientMsg::Request { id, msg }) = command
                && let ClientMsg::CatchUp { room, .. } = *msg
            {
                app.update(Event::Server(ServerMsg::Reply {
                    id,
                    msg: Box::new(ServerMsg::CaughtUp {
                        room,
                        messages: Vec::new(),
                        gap: None,
                        more_before: false,
                        read: 0,
                        lost: Vec::new(),
                    }),
                }));
            }
        }
        app.update(said("dev", 5, "bob", "before the cut"));
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        app.update(Event::Reconnected(chat_client::Welcome {
            nick: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            total: 1,
            seq: 12,
            rooms: true,
        }));
        let catch_ups = |commands: Vec<Command>| -> Vec<(String, u64)> {
            commands
                .into_iter()
                .filter_map(|c| match c {
                    Command::Send(ClientMsg::Request { msg, .. }) => match *msg {
                        ClientMsg::CatchUp { room, after } => Some((room, after)),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        };
        assert_eq!(catch_ups(app.update(info())), [("lobby".to_owned(), 10)]);
        // The client library joins dev again: its answer catches dev up from where it was.
        assert_eq!(
            catch_ups(app.update(Event::Server(joined4("dev", 8)))),
            [("dev".to_owned(), 5)]
        );
        assert_eq!(labels(&app), ["lobby", "dev"]);
        assert_eq!(app.active, 1, "the buffer shown stays shown");
    }

    #[test]
    fn without_several_rooms_join_moves_and_part_says_why_not() {
        let mut app = app();
        let sent = submit(&mut app, "/join dev");
        let Some(Command::Send(ClientMsg::Request { id, .. })) = sent.last() else {
            panic!("{sent:?}");
        };
        app.update(Event::Server(ServerMsg::Reply {
            id: *id,
            msg: Box::new(joined4("dev", 3)),
        }));
        assert_eq!(labels(&app), ["dev"]);
        assert_eq!(
            submit(&mut app, "hi"),
            [Command::Send(
                ClientMsg::Chat { text: "hi".into() }.with_id(2)
            )]
        );
        assert_eq!(submit(&mut app, "/part"), []);
        assert!(matches!(last(&app), EntryKind::Error(t) if t.contains("one room per connection")));
        assert_eq!(submit(&mut app, "/away lunch"), []);
        assert_eq!(submit(&mut app, "/who"), [Command::Send(ClientMsg::Who)]);
    }

    #[test]
    fn topic_away_and_members_with_their_away_texts() {
        let mut app = several();
        assert_eq!(submit(&mut app, "/topic"), []);
        assert_eq!(
            last(&app),
            EntryKind::Info("#lobby has no topic; /topic TEXT sets one".into())
        );
        assert_eq!(
            submit(&mut app, "/topic ship it"),
            [Command::Send(ClientMsg::InRoom {
                room: "lobby".into(),
                msg: RoomRequest::SetTopic {
                    text: "ship it".into()
                }
            })]
        );
        app.update(Event::Server(ServerMsg::Topic {
            room: "lobby".into(),
            text: "ship it".into(),
            by: "alice".into(),
            time_ms: T,
        }));
        assert_eq!(
            last(&app),
            EntryKind::Notice("topic of #lobby: ship it (set by alice)".into())
        );
        assert_eq!(app.topic.as_ref().map(|t| t.text.as_str()), Some("ship it"));
        assert_eq!(
            submit(&mut app, "/away back at 2"),
            [Command::Send(ClientMsg::Away {
                text: "back at 2".into()
            })]
        );
        app.update(Event::Server(ServerMsg::Away {
            nick: "alice".into(),
            text: "back at 2".into(),
        }));
        assert_eq!(app.away.as_deref(), Some("back at 2"));
        app.update(Event::Server(ServerMsg::RoomMembers {
            room: "lobby".into(),
            total: 2,
            members: vec![
                shared::Member {
                    nick: "alice".into(),
                    away: "back at 2".into(),
                },
                shared::Member {
                    nick: "bob".into(),
                    away: String::new(),
                },
            ],
            more: false,
        }));
        assert_eq!(
            last(&app),
            EntryKind::Notice("members of #lobby (2): alice (away: back at 2), bob".into())
        );
        app.update(Event::Server(ServerMsg::Away {
            nick: "alice".into(),
            text: String::new(),
        }));
        assert_eq!(app.away, None);
        assert_eq!(last(&app), EntryKind::Notice("you are back".into()));
    }

    #[test]
    fn last_lists_what_the_buffer_holds() {
        let mut app = several();
        app.update(chat("bob", "deploy to prod at noon"));
        app.update(chat("carol", "lunch?"));
        app.update(chat("bob", "Deploy done, PROD is fine"));
        submit(&mut app, "/last deploy prod");
        let infos: Vec<String> = app
            .scrollback
            .entries()
            .iter()
            .filter_map(|(_, e)| match &e.kind {
                EntryKind::Info(t) if t.contains("/last") || t.starts_with("  ") => Some(t.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            infos,
            [
                "/last deploy prod: 2 lines in #lobby:",
                "  22:13 <bob> deploy to prod at noon",
                "  22:13 <bob> Deploy done, PROD is fine"
            ]
        );
        submit(&mut app, "/last nothing-like-it");
        assert_eq!(
            last(&app),
            EntryKind::Info("/last nothing-like-it: nothing in #lobby holds it".into())
        );
    }

    #[test]
    fn a_shutdown_says_its_reason_once() {
        assert_eq!(
            crate::app::network::shutdown_line("server shutting down"),
            "the server is shutting down"
        );
        assert_eq!(
            crate::app::network::shutdown_line("maintenance until 3"),
            "the server is shutting down: maintenance until 3"
        );
        assert_eq!(
            crate::app::network::shutdown_line(""),
            "the server is shutting down"
        );
    }
}
