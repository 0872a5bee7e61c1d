//! The application state and its update function.
//!
//! [`App::update`] turns one [`Event`] (a key, a paste, a mouse wheel, news from the client
//! library) into changes of the state and a list of [`Command`]s for the outside world
//! (send a frame, start a transfer, ring the bell, quit). It does no I/O, so every
//! behaviour of the client can be tested by feeding it events. The widgets in
//! [`crate::ui`] read it, and the app knows nothing of them: not even the message pane's
//! size. The app moves the pane's scroll state; the pane, which alone knows how entries
//! wrap, clamps it when it draws (see [`scrollback`]).
//!
//! Everything that came from the network is sanitised on its way in
//! ([`chat_client::sanitize`]), so nothing stored here can drive the terminal.
//!
//! One exception to "no I/O": Tab after `/send-file` lists a directory, through the
//! replaceable [`PathLister`], so that tests can give it a directory of their own.
//!
//! - [`keys`]: the key map: keys and the mouse wheel become [`keys::Action`]s.
//! - `compose`: Enter: the input line becomes a chat line, a command or a transfer.
//! - [`history`]: the input history, walked with Up and Down.
//! - `alert`: the bell and desktop notifications for mentions and private messages.
//! - [`auth`]: the client's key and what the server says of it: `/whoami`, `/register`,
//!   the operators' commands, and a session the server stopped (kicked, banned).
//! - [`ignore`]: `/ignore` and `/unignore`.
//! - [`complete`]: Tab completion of commands, nicks and paths.
//! - [`paste`]: a paste of several lines, and its yes-or-no question.
//! - [`buffers`]: a buffer per room and per private conversation; the one shown lives in
//!   the app's fields, the others wait aside, and news for them is counted.
//! - [`network`]: the connection's state and news, and the server's frames sorted out.
//! - [`room`]: what is said in the room and who is in it.
//! - [`reading`]: the room's history as the pane reads it: the client library's timeline,
//!   the pages the view is about to need, the unread line and the read marker.
//! - [`search`]: `/search` and its view of hits.
//! - [`transfers`]: running transfers (their bars' state), offered and listed files.
//! - [`pane`]: what the message pane lists ([`pane::Item`]s in order of their keys) and
//!   its view, anchored to an item.
//! - [`scrollback`]: the app's own lines in the message pane.

mod alert;
pub mod auth;
pub mod buffers;
pub mod complete;
mod compose;
pub mod history;
pub mod ignore;
pub mod keys;
mod last;
pub mod network;
pub mod pane;
pub mod paste;
mod private;
pub mod reading;
pub mod room;
pub mod scrollback;
pub mod search;
mod sending;
#[cfg(test)]
mod testing;
mod topic;
pub mod transfers;

use std::path::PathBuf;
use std::time::Duration;

use chat_client::transfer::{TransferEvent, TransferId};
use chat_client::{Welcome, sanitize};
use crossterm::event::{KeyEvent, KeyEventKind, MouseEvent};
use shared::{ClientMsg, ServerMsg};

use crate::input::InputLine;

pub use buffers::{Activity, Buffer, Target, Topic};
pub use complete::PathLister;
pub use network::ConnState;
pub use paste::PendingPaste;
pub use reading::{HistoryInfo, Reading};
pub use scrollback::{Entry, EntryKind, Scrollback};
pub use search::Search;
pub use transfers::{Direction, Transfer};

use complete::Completion;
use history::History;
use keys::Action;
use pane::Key;

/// Something that happened, as the app sees it: the terminal's input, and the client
/// library's news, which the event loop maps into these (`event.rs`). A resize is not
/// one: nothing in the app depends on the terminal's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Key(KeyEvent),
    /// The terminal gained (`true`) or lost the focus.
    Focus(bool),
    /// Text pasted in the terminal (bracketed paste).
    Paste(String),
    Mouse(MouseEvent),
    /// A frame from the server.
    Server(ServerMsg),
    /// Back in a room after a reconnect: who and where the client now is.
    Reconnected(Welcome),
    /// The connection is gone; the client is reconnecting.
    Disconnected {
        reason: String,
    },
    /// The next attempt to reconnect is in `delay`.
    Reconnecting {
        attempt: u32,
        delay: Duration,
        error: String,
    },
    /// Messages typed while disconnected wait for the connection: `waiting` of them.
    Queued {
        waiting: usize,
    },
    /// After the reconnect, the `sent` messages that waited went out.
    Flushed {
        sent: usize,
    },
    /// Messages waiting for their turn at the client's pace: `waiting` of them.
    Waiting {
        waiting: usize,
    },
    /// A line whose answer was lost with the connection was found in the room's history.
    Delivered {
        msg: ClientMsg,
    },
    /// A line whose answer was lost with the connection may not have been delivered, and
    /// was not sent again.
    Unconfirmed {
        msg: ClientMsg,
    },
    /// A message could not be sent.
    Refused {
        reason: String,
    },
    /// The client cannot go on.
    Fatal(String),
    /// The server does not want the client back as it is (kicked, banned, a password
    /// refused): disconnected until `/reconnect`.
    Stopped {
        reason: String,
    },
    /// News of a file transfer.
    Transfer(TransferEvent),
}

/// What the app asks the outside world to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Hand a frame to the client library.
    Send(ClientMsg),
    /// Ring the terminal bell.
    Bell,
    /// Clear and redraw the whole terminal (Ctrl-L).
    Redraw,
    /// Leave normally.
    Quit,
    /// Leave with an error message and exit code 2.
    Fail(String),
    /// Start or cancel a file transfer.
    Transfer(chat_client::transfer::Request),
    /// Start an upload into this room (the server lets the client be in several).
    UploadTo {
        room: String,
        request: chat_client::transfer::Request,
    },
    /// Raise a desktop notification (sanitised text).
    Notify { title: String, body: String },
    /// Write the ignore list into the configuration file.
    SaveIgnore(Vec<String>),
    /// Connect again (after the server stopped the session).
    Reconnect,
}

/// Settings fixed at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The server, as shown in the status line.
    pub server: String,
    /// When this process hosts the room: the address others should connect to.
    pub hosting: Option<String>,
    /// When this process hosts the room over TLS: its key's fingerprint, in the form
    /// people compare (groups of hex digits).
    pub hosting_key: Option<String>,
    /// Ring the bell on mentions and private messages.
    pub bell: bool,
    /// Offset of local time from UTC, for the timestamps.
    pub utc_offset_secs: i32,
    /// Where `/get` saves files.
    pub download_dir: PathBuf,
    /// What the configuration file chose.
    pub choices: Choices,
    /// This client's key, which it proves to the server; `None`: it has none.
    pub key: Option<shared::auth::PublicKey>,
}

/// What the configuration file chose for the app ([`crate::cli::Cli::choices`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    /// The mouse wheel scrolls (the terminal reports the mouse to the client).
    pub mouse: bool,
    /// The member list is shown at start.
    pub members: bool,
    /// Mentions and private messages raise a desktop notification while the terminal is
    /// not focused.
    pub notify: bool,
    /// The sequence that carries a notification.
    pub notify_with: crate::terminal::notify::NotifyWith,
    /// Nicks ignored at start.
    pub ignore: Vec<String>,
    /// The configuration file `/ignore` writes to.
    pub config_path: Option<PathBuf>,
}

impl Default for Choices {
    fn default() -> Self {
        Self {
            mouse: true,
            members: false,
            notify: true,
            notify_with: crate::terminal::notify::NotifyWith::Osc777,
            ignore: Vec::new(),
            config_path: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct App {
    pub settings: Settings,
    pub nick: String,
    /// Every buffer, in order; the one shown is `buffers[active]`, whose state is in the
    /// fields below (from `room` to `joined`, see [`buffers`]).
    pub buffers: Vec<Buffer>,
    pub active: usize,
    /// Whether the server lets the client be in several rooms at once (the feature
    /// "rooms"): `/join` then adds a room. Without it, `/join` moves.
    pub several_rooms: bool,
    /// This client's away text, while it is away.
    pub away: Option<String>,
    /// The room shown; empty in a private conversation.
    pub room: String,
    /// The nick of the private conversation shown, if it is one.
    pub query: Option<String>,
    /// The room's topic, if it has one.
    pub topic: Option<Topic>,
    /// Whether the client is in the room shown (false after `/part`, when it was the last
    /// buffer).
    pub joined: bool,
    /// Members of the room, in the server's order, as the server named them (sanitised
    /// when drawn).
    pub members: Vec<String>,
    /// How many members the room has. In a room larger than a page of names (1,000), more
    /// than `members` holds: the server says the total, and joins and leaves move it.
    pub member_total: usize,
    pub conn: ConnState,
    /// Messages waiting for the connection to come back.
    pub queued: usize,
    /// Messages waiting for their turn at the client's pace ([`chat_client::pace`]).
    pub waiting: usize,
    /// The server's last "you send too fast" warning, shown once until the client has
    /// caught up; repeats of it are not shown again.
    slowed: Option<String>,
    pub input: InputLine,
    pub show_members: bool,
    pub pending_paste: Option<PendingPaste>,
    /// Current time in milliseconds since the epoch, for entries made locally. Set by the
    /// event loop before each update, so that `update` itself reads no clock.
    pub now_ms: u64,
    /// Running transfers, oldest first.
    pub transfers: Vec<Transfer>,
    /// How many have fetched the files this client shared.
    pub shares: transfers::Shares,
    pub paths: PathLister,
    next_transfer: TransferId,
    /// The app's own lines in the message pane, and how far the pane is scrolled.
    pub scrollback: Scrollback,
    /// The room's history: its timeline, what is asked, the unread line, the read marker.
    pub reading: Reading,
    /// What the server said of its history; `None`: it keeps none (or has not said yet).
    pub history_info: Option<HistoryInfo>,
    /// The highest sequence number known in the room: the app's own lines go after it.
    pub last_seq: u64,
    /// The item shown highlighted: the search hit jumped to.
    pub highlight: Option<Key>,
    /// The search view, while it is open.
    pub search: Option<Search>,
    /// The id of the next request of the app's own.
    next_request: u32,
    history: History,
    completion: Option<Completion>,
    /// Whether the terminal has the focus (it says when it loses it).
    focused: bool,
    /// Nicks whose lines are not shown.
    pub ignored: ignore::IgnoreList,
    /// What the server said of the client's key: the nick it owns, operator or not.
    pub standing: auth::Standing,
    /// Private conversations opened since the last update, whose kept messages to ask
    /// for ([`private`]).
    private_wanted: Vec<String>,
}

impl App {
    /// A connected app, from the server's welcome, at `now_ms` (for the first line's time).
    pub fn new(settings: Settings, welcome: Welcome, now_ms: u64) -> Self {
        let Welcome {
            nick,
            room,
            members,
            total,
            seq,
            rooms,
        } = welcome;
        let mut app = App {
            buffers: Self::first_buffer(&room),
            active: 0,
            several_rooms: rooms,
            away: None,
            query: None,
            topic: None,
            joined: true,
            reading: Reading::new(&room, None),
            history_info: None,
            last_seq: 0,
            highlight: None,
            search: None,
            next_request: 1,
            member_total: total as usize,
            show_members: settings.choices.members,
            ignored: ignore::IgnoreList::new(&settings.choices.ignore),
            private_wanted: Vec::new(),
            focused: true,
            settings,
            nick,
            room,
            members,
            conn: ConnState::Connected,
            queued: 0,
            waiting: 0,
            slowed: None,
            input: InputLine::default(),
            pending_paste: None,
            now_ms,
            transfers: Vec::new(),
            shares: transfers::Shares::default(),
            paths: PathLister::default(),
            next_transfer: 1,
            scrollback: Scrollback::default(),
            history: History::default(),
            completion: None,
            standing: auth::Standing::default(),
        };
        // No history before the server says it keeps some (`HistoryInfo`, which follows).
        app.entered(seq);
        app.info(format!(
            "joined #{} as {} ({}); type /help for commands and keys",
            sanitize::nick(&app.room),
            sanitize::nick(&app.nick),
            members_count(app.member_total)
        ));
        if let Some(key) = app.settings.hosting_key.clone() {
            // In full once, where it can be read and copied: the status line has room
            // for its start only.
            app.info(format!(
                "this server's TLS key is {key}; others are asked to trust it when they \
                 first connect"
            ));
        }
        app
    }

    pub fn update(&mut self, event: Event) -> Vec<Command> {
        let mut commands = self.handle(event);
        commands.extend(self.ask_private());
        commands
    }

    fn handle(&mut self, event: Event) -> Vec<Command> {
        match event {
            Event::Key(key) => return self.on_key(key),
            Event::Focus(focused) => self.focus(focused),
            Event::Paste(text) => self.on_paste(&text),
            Event::Mouse(mouse) => {
                if let Some(action) = keys::wheel(mouse) {
                    return self.act(action);
                }
            }
            Event::Server(msg) => return self.on_server(msg),
            Event::Transfer(event) => self.on_transfer(event),
            Event::Reconnected(welcome) => return self.reconnected(welcome),
            Event::Disconnected { reason } => self.disconnected(reason),
            Event::Reconnecting {
                attempt,
                delay,
                error,
            } => {
                self.conn = ConnState::Reconnecting {
                    attempt,
                    delay,
                    error,
                };
            }
            Event::Queued { waiting } => self.queued(waiting),
            Event::Flushed { sent } => self.flushed(sent),
            Event::Waiting { waiting } => self.waiting(waiting),
            Event::Delivered { msg } => {
                let i = self.line_owner(&msg);
                self.in_buffer(i, |app| app.delivered(&msg));
            }
            Event::Unconfirmed { msg } => {
                let i = self.line_owner(&msg);
                self.in_buffer(i, |app| app.unconfirmed(&msg));
            }
            Event::Refused { reason } => self.error(format!("not sent: {reason}")),
            Event::Fatal(reason) => return vec![Command::Fail(reason)],
            Event::Stopped { reason } => self.stopped(reason),
        }
        Vec::new()
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        // A paste waiting for its yes or no takes every key.
        if self.pending_paste.is_some() {
            return self.on_paste_answer(key);
        }
        let action = keys::action(key);
        if action != Some(Action::Complete) {
            self.completion = None;
        }
        match action {
            Some(action) => self.act(action),
            None => Vec::new(),
        }
    }

    /// The search view takes the keys that choose and show a hit; the others keep their
    /// meaning.
    fn search_or(&mut self, action: Action) -> Option<Vec<Command>> {
        self.search.as_ref()?;
        let action = keys::search_action(action, self.input.is_empty())?;
        Some(self.search_key(action))
    }

    /// Does what a key or the wheel asked for.
    fn act(&mut self, action: Action) -> Vec<Command> {
        if let Some(commands) = self.search_or(action) {
            return commands;
        }
        match action {
            Action::Edit(edit) => self.input.apply(edit),
            Action::HistoryBack => self.history.back(&mut self.input),
            Action::HistoryForward => self.history.forward(&mut self.input),
            Action::Scroll(scroll) => {
                if scroll == pane::Scroll::Bottom {
                    self.highlight = None;
                }
                self.scrollback.scroll(scroll);
            }
            Action::Complete => self.complete(),
            Action::ToggleMembers => self.show_members = !self.show_members,
            Action::Submit => return self.submit(),
            Action::Redraw => return vec![Command::Redraw],
            Action::Buffer(n) => self.buffer_number(n),
            Action::BufferBy(step) => self.switch_by(step),
            Action::Quit => return self.quit(String::new()),
        }
        Vec::new()
    }

    /// The buffer a line of the user's was typed in (the one shown when it is not known).
    fn line_owner(&self, msg: &ClientMsg) -> usize {
        match msg {
            ClientMsg::Request { id, .. } => self.owner_of(*id).unwrap_or(self.active),
            _ => self.active,
        }
    }

    /// A fresh id for a request of the app's own (a search, a page of history): its answer
    /// comes back with it. The ids the client library keeps for itself are never used.
    pub(crate) fn request_id(&mut self) -> u32 {
        const LAST: u32 = chat_client::transfer::FIRST_OWN_REQUEST_ID - 1;
        let id = self.next_request;
        self.next_request = if id >= LAST { 1 } else { id + 1 };
        id
    }

    /// The input history of earlier runs, oldest first; `notice`: why it could not all
    /// be read.
    pub fn restore_history(&mut self, lines: Vec<String>, notice: Option<String>) {
        self.history.restore(lines);
        if let Some(notice) = notice {
            self.error(sanitize::text(&notice).into_owned());
        }
    }

    /// Lines sent since the last call, for the input history file.
    pub fn take_unsaved_history(&mut self) -> Vec<String> {
        self.history.take_unsaved()
    }

    /// A line of the app's own, after the newest room message known.
    fn push(&mut self, entry: Entry) {
        self.scrollback.push(self.last_seq, entry);
    }

    /// Leave: the read marker still waiting, the quit, and the end of the loop.
    fn quit(&mut self, reason: String) -> Vec<Command> {
        let mut commands: Vec<Command> = self
            .leaving(reason)
            .into_iter()
            .map(Command::Send)
            .collect();
        commands.push(Command::Quit);
        commands
    }

    /// A warning about the run itself (a setting), shown as an error line.
    pub fn warn(&mut self, text: String) {
        self.error(text);
    }

    fn info(&mut self, text: String) {
        self.local(EntryKind::Info(text));
    }

    fn error(&mut self, text: String) {
        self.local(EntryKind::Error(text));
    }

    fn notice_now(&mut self, text: String) {
        self.local(EntryKind::Notice(text));
    }

    /// An entry made here, stamped with the current time.
    fn local(&mut self, kind: EntryKind) {
        self.push(Entry {
            time_ms: self.now_ms,
            kind,
        });
    }
}

/// `1 member`, `5 members`.
pub fn members_count(n: usize) -> String {
    if n == 1 {
        "1 member".into()
    } else {
        format!("{n} members")
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyModifiers, MouseEventKind};

    use super::testing::*;
    use super::*;

    #[test]
    fn f2_toggles_the_member_list() {
        let mut app = app();
        app.update(key(KeyCode::F(2)));
        assert!(app.show_members);
        app.update(key(KeyCode::F(2)));
        assert!(!app.show_members);
    }

    /// Where the view ends up is the pane's to say (`ui/messages.rs` tests it); the app
    /// moves it and counts what arrives meanwhile.
    #[test]
    fn scrolled_up_the_app_counts_new_messages_until_the_bottom() {
        let mut app = app();
        app.update(key(KeyCode::PageUp));
        app.update(chat("bob", "new one"));
        app.update(chat("bob", "and another"));
        assert_eq!(app.scrollback.state().unseen(), 2);
        let wheel = |kind| {
            Event::Mouse(MouseEvent {
                kind,
                column: 0,
                row: 0,
                modifiers: KeyModifiers::NONE,
            })
        };
        app.update(wheel(MouseEventKind::ScrollUp));
        // Never drawn, a page is one row: up one page and one notch of the wheel.
        let (_, moves, _) = app.scrollback.state_mut().begin_draw(0);
        assert_eq!(moves, 1 + keys::WHEEL_ROWS as isize);
        app.update(wheel(MouseEventKind::ScrollDown));
        assert_eq!(app.scrollback.state().unseen(), 2);
        app.update(key(KeyCode::Esc));
        assert!(app.scrollback.state().following());
        assert_eq!(app.scrollback.state().unseen(), 0);
    }

    #[test]
    fn a_key_release_does_nothing() {
        let mut app = app();
        let mut release = crossterm::event::KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert!(app.update(Event::Key(release)).is_empty());
        assert!(app.input.is_empty());
    }
}
