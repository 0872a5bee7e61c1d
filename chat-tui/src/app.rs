//! The application state and its update function.
//!
//! [`App::update`] turns one [`Event`] (a key, a paste, a mouse wheel, a resize, news from
//! the client library) into changes of the state and a list of [`Command`]s for the outside
//! world (send a frame, ring the bell, quit). It does no I/O, so every behaviour of the
//! client can be tested by feeding it events. The widgets in [`crate::ui`] only read it.
//!
//! Everything that came from the network is sanitised on its way in ([`chat_client::sanitize`]),
//! so nothing stored here can drive the terminal.
//!
//! One exception to "no I/O": Tab after `/send-file` lists a directory, through the
//! replaceable [`PathLister`], so that tests can give it a directory of their own.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use shared::names;
use shared::{ChatKind, ClientMsg, ErrorKind, FileInfo, RoomEvent, ServerMsg};

use crate::commands::{self, COMMANDS, Input};
use crate::input::InputLine;
use chat_client::Welcome;
use chat_client::transfer::progress::{Progress, bytes};
use chat_client::transfer::{self, TransferEvent, TransferId, local};
use chat_client::{pace, sanitize};

use crate::ui;

/// Entries kept in the message pane; older ones are dropped.
pub const MAX_SCROLLBACK: usize = 5000;
/// Lines remembered by the input history.
pub const MAX_HISTORY: usize = 500;
/// Lines one mouse wheel notch scrolls.
const WHEEL_LINES: usize = 3;

/// Something that happened, as the app sees it: the terminal's input, and the client
/// library's news, which the event loop maps into these (`event.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Key(KeyEvent),
    /// Text pasted in the terminal (bracketed paste).
    Paste(String),
    Mouse(MouseEvent),
    /// The terminal now has this many columns and rows.
    Resize(u16, u16),
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
    /// A message could not be sent.
    Refused {
        reason: String,
    },
    /// The client cannot go on.
    Fatal(String),
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
    Transfer(transfer::Request),
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

/// Settings fixed at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The server, as shown in the status line.
    pub server: String,
    /// When this process hosts the room: the address others should connect to.
    pub hosting: Option<String>,
    /// Ring the bell on mentions and private messages.
    pub bell: bool,
    /// Offset of local time from UTC, for the timestamps.
    pub utc_offset_secs: i32,
    /// Where `/get` saves files.
    pub download_dir: PathBuf,
}

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// A running transfer, as its progress bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub id: TransferId,
    pub direction: Direction,
    /// Sanitised name; until the file is known, what the user asked for.
    pub name: String,
    /// For a download, the server's file id.
    pub file_id: Option<u64>,
    /// Whether the file's size is known (the upload's file is open, the download began).
    pub started: bool,
    pub progress: Progress,
}

/// A function from a path being typed to its completions.
pub type ListPaths = dyn Fn(&str) -> Vec<String> + Send + Sync;

/// Lists the completions of a path being typed (see [`local::complete_path`]).
#[derive(Clone)]
pub struct PathLister(pub Arc<ListPaths>);

impl Default for PathLister {
    fn default() -> Self {
        Self(Arc::new(local::complete_path))
    }
}

impl fmt::Debug for PathLister {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PathLister")
    }
}

/// One entry of the message pane. All text is already sanitised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub time_ms: u64,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Chat {
        from: String,
        text: String,
        action: bool,
        own: bool,
        mention: bool,
    },
    Private {
        from: String,
        to: String,
        text: String,
        own: bool,
    },
    /// Something that happened in the room or on the server.
    Notice(String),
    /// Local information (help, queued messages).
    Info(String),
    Error(String),
}

/// Most bytes of an entry's text kept in the scrollback: the protocol's longest text with
/// room for every character to have been replaced by a wider visible symbol. A peer that
/// sends more (a hostile server is not held to the protocol's limits) is cut here, so the
/// scrollback's memory stays bounded.
const MAX_ENTRY_TEXT_BYTES: usize = 4 * shared::limits::MAX_TEXT_BYTES;

/// Most bytes of a nick in an entry: the longest nick with every character shown as a
/// `<U+XXXXX>` code point.
const MAX_ENTRY_NAME_BYTES: usize = 10 * shared::limits::MAX_NICK_CHARS;

impl EntryKind {
    /// Cuts every string of the entry to its bound; see [`MAX_ENTRY_TEXT_BYTES`].
    fn clip(&mut self) {
        match self {
            EntryKind::Chat { from, text, .. } => {
                clip(from, MAX_ENTRY_NAME_BYTES);
                clip(text, MAX_ENTRY_TEXT_BYTES);
            }
            EntryKind::Private { from, to, text, .. } => {
                clip(from, MAX_ENTRY_NAME_BYTES);
                clip(to, MAX_ENTRY_NAME_BYTES);
                clip(text, MAX_ENTRY_TEXT_BYTES);
            }
            EntryKind::Notice(text) | EntryKind::Info(text) | EntryKind::Error(text) => {
                clip(text, MAX_ENTRY_TEXT_BYTES);
            }
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
fn clip(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

/// A multi-line paste waiting for the user's yes or no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPaste {
    pub lines: Vec<String>,
    /// The input line as it was before the paste, restored if the user says no.
    previous: InputLine,
}

/// Tab completion in progress: pressing Tab again cycles through the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Completion {
    /// Byte offset where the completed word starts.
    start: usize,
    /// Byte length of what the last Tab inserted.
    inserted: usize,
    candidates: Vec<String>,
    index: usize,
}

#[derive(Debug, Clone)]
pub struct App {
    pub settings: Settings,
    pub nick: String,
    pub room: String,
    /// Members of the room, sorted, as the server named them (sanitised when drawn).
    pub members: Vec<String>,
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
    pub paths: PathLister,
    next_transfer: TransferId,
    messages: VecDeque<Entry>,
    /// How many wrapped lines the view is scrolled up from the bottom; 0 follows new text.
    scroll: usize,
    /// Entries that arrived while scrolled up.
    unseen: usize,
    size: (u16, u16),
    history: Vec<String>,
    history_pos: Option<usize>,
    draft: String,
    completion: Option<Completion>,
}

impl App {
    /// A connected app, from the server's welcome, at `now_ms` (for the first line's time).
    pub fn new(settings: Settings, welcome: Welcome, now_ms: u64) -> Self {
        let Welcome {
            nick,
            room,
            members,
            ..
        } = welcome;
        let mut app = App {
            settings,
            nick,
            room,
            members,
            conn: ConnState::Connected,
            queued: 0,
            waiting: 0,
            slowed: None,
            input: InputLine::default(),
            show_members: false,
            pending_paste: None,
            now_ms,
            transfers: Vec::new(),
            paths: PathLister::default(),
            next_transfer: 1,
            messages: VecDeque::new(),
            scroll: 0,
            unseen: 0,
            size: (80, 24),
            history: Vec::new(),
            history_pos: None,
            draft: String::new(),
            completion: None,
        };
        app.info(format!(
            "joined #{} as {} ({}); type /help for commands and keys",
            sanitize::nick(&app.room),
            sanitize::nick(&app.nick),
            members_count(app.members.len())
        ));
        app
    }

    pub fn messages(&self) -> &VecDeque<Entry> {
        &self.messages
    }

    pub fn scroll(&self) -> usize {
        self.scroll
    }

    pub fn unseen(&self) -> usize {
        self.unseen
    }

    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    pub fn update(&mut self, event: Event) -> Vec<Command> {
        match event {
            Event::Key(key) => self.on_key(key),
            Event::Paste(text) => {
                self.on_paste(&text);
                Vec::new()
            }
            Event::Mouse(mouse) => {
                match mouse.kind {
                    MouseEventKind::ScrollUp => self.scroll_up(WHEEL_LINES),
                    MouseEventKind::ScrollDown => self.scroll_down(WHEEL_LINES),
                    _ => {}
                }
                Vec::new()
            }
            Event::Resize(w, h) => {
                self.size = (w, h);
                Vec::new()
            }
            Event::Server(msg) => self.on_server(msg),
            Event::Transfer(event) => {
                self.on_transfer(event);
                Vec::new()
            }
            Event::Reconnected(welcome) => {
                self.reconnected(welcome);
                Vec::new()
            }
            Event::Disconnected { reason } => {
                self.error(format!("connection lost: {}", sanitize::text(&reason)));
                self.conn = ConnState::Disconnected { reason };
                Vec::new()
            }
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
                Vec::new()
            }
            Event::Queued { waiting } => {
                self.queued = waiting;
                self.info(format!(
                    "not connected: queued, {waiting} waiting to be sent after reconnecting"
                ));
                Vec::new()
            }
            Event::Flushed { sent } => {
                self.queued = 0;
                self.info(format!("sent {sent} queued message(s)"));
                Vec::new()
            }
            Event::Waiting { waiting } => {
                self.waiting = waiting;
                if waiting == 0 {
                    self.slowed = None;
                }
                Vec::new()
            }
            Event::Refused { reason } => {
                self.error(format!("not sent: {reason}"));
                Vec::new()
            }
            Event::Fatal(reason) => vec![Command::Fail(reason)],
        }
    }

    // ----- keys -------------------------------------------------------------------------

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if self.pending_paste.is_some() {
            return self.on_paste_answer(key);
        }
        if key.code != KeyCode::Tab {
            self.completion = None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let input = &mut self.input;
        match key.code {
            KeyCode::Char('c') if ctrl => return quit(String::new()),
            KeyCode::Char('l') if ctrl => return vec![Command::Redraw],
            KeyCode::Char('a') if ctrl => input.home(),
            KeyCode::Char('e') if ctrl => input.end(),
            KeyCode::Char('u') if ctrl => input.kill_to_start(),
            KeyCode::Char('k') if ctrl => input.kill_to_end(),
            KeyCode::Char('w') if ctrl => input.kill_word_back(),
            KeyCode::Char('d') if ctrl => input.delete(),
            KeyCode::Char('b') if alt => input.word_left(),
            KeyCode::Char('f') if alt => input.word_right(),
            KeyCode::Char(c) if !ctrl && !alt => input.insert_char(c),
            KeyCode::Left if ctrl || alt => input.word_left(),
            KeyCode::Right if ctrl || alt => input.word_right(),
            KeyCode::Left => input.left(),
            KeyCode::Right => input.right(),
            KeyCode::Home => input.home(),
            KeyCode::End => input.end(),
            KeyCode::Backspace if ctrl || alt => input.kill_word_back(),
            KeyCode::Backspace => input.backspace(),
            KeyCode::Delete => input.delete(),
            KeyCode::Up => self.history_prev(),
            KeyCode::Down => self.history_next(),
            KeyCode::PageUp => self.scroll_up(self.page()),
            KeyCode::PageDown => self.scroll_down(self.page()),
            KeyCode::Esc => self.scroll_to_bottom(),
            KeyCode::Tab => self.complete(),
            KeyCode::F(2) => self.show_members = !self.show_members,
            KeyCode::Enter => return self.submit(),
            _ => {}
        }
        Vec::new()
    }

    fn submit(&mut self) -> Vec<Command> {
        let line = self.input.text().to_owned();
        let parsed = match commands::parse(&line) {
            Ok(parsed) => parsed,
            Err(e) if e.is_empty() => return Vec::new(),
            Err(e) => {
                // The line stays in the input so that it can be corrected.
                self.error(e);
                return Vec::new();
            }
        };
        self.input.take();
        self.remember(line);
        self.scroll_to_bottom();
        let msg = match parsed {
            Input::Say(text) => ClientMsg::Chat { text },
            Input::Command(cmd) => match cmd {
                commands::Command::Help => {
                    self.help();
                    return Vec::new();
                }
                commands::Command::Clear => {
                    self.messages.clear();
                    return Vec::new();
                }
                commands::Command::Quit(reason) => return quit(reason),
                commands::Command::Nick(nick) => ClientMsg::Nick { nick },
                commands::Command::Join(room) => ClientMsg::Join { room },
                commands::Command::Who => ClientMsg::Who,
                commands::Command::Me(text) => ClientMsg::Action { text },
                commands::Command::Msg { to, text } => ClientMsg::Private { to, text },
                commands::Command::Files => ClientMsg::ListFiles,
                commands::Command::SendFile(path) => return self.send_file(path),
                commands::Command::Get(file_id) => return self.get(file_id),
                commands::Command::Cancel(id) => return self.cancel(id),
            },
        };
        vec![Command::Send(msg)]
    }

    fn help(&mut self) {
        self.info("commands:".into());
        for (name, args, what) in COMMANDS {
            self.info(format!("  {:<18} {what}", format!("{name} {args}")));
        }
        self.info("  //TEXT             send TEXT starting with a slash".into());
        self.info(format!(
            "files you /get are saved in {}",
            sanitize::text(&self.settings.download_dir.display().to_string())
        ));
        for line in KEYS_HELP {
            self.info((*line).into());
        }
    }

    fn remember(&mut self, line: String) {
        self.history_pos = None;
        if self.history.last() != Some(&line) {
            if self.history.len() == MAX_HISTORY {
                self.history.remove(0);
            }
            self.history.push(line);
        }
    }

    fn history_prev(&mut self) {
        let pos = match self.history_pos {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.input.text().to_owned();
                self.history.len() - 1
            }
            Some(pos) => pos.saturating_sub(1),
        };
        self.history_pos = Some(pos);
        self.input.set(self.history[pos].clone());
    }

    fn history_next(&mut self) {
        let Some(pos) = self.history_pos else { return };
        if pos + 1 < self.history.len() {
            self.history_pos = Some(pos + 1);
            self.input.set(self.history[pos + 1].clone());
        } else {
            self.history_pos = None;
            self.input.set(std::mem::take(&mut self.draft));
        }
    }

    /// Tab: completes the word before the cursor with a command (at the start of the line)
    /// or a member's nick, or the path after `/send-file`; each further Tab offers the next
    /// candidate.
    fn complete(&mut self) {
        if let Some(c) = &mut self.completion {
            c.index = (c.index + 1) % c.candidates.len();
            let (start, end) = (c.start, c.start + c.inserted);
            let next = c.candidates[c.index].clone();
            c.inserted = next.len();
            self.input.replace_range(start..end, &next);
            return;
        }
        let before = &self.input.text()[..self.input.cursor()];
        if let Some(typed) = before.strip_prefix(SEND_FILE) {
            let candidates = (self.paths.0)(typed);
            self.complete_with(SEND_FILE.len(), candidates);
            // One candidate, a folder most often: the next Tab looks inside it.
            if self
                .completion
                .as_ref()
                .is_some_and(|c| c.candidates.len() == 1)
            {
                self.completion = None;
            }
            return;
        }
        let start = before.rfind(char::is_whitespace).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        let word = &before[start..];
        if word.is_empty() {
            return;
        }
        let candidates: Vec<String> = if start == 0 && word.starts_with('/') {
            COMMANDS
                .iter()
                .filter(|(name, _, _)| name.starts_with(word))
                .map(|(name, _, _)| format!("{name} "))
                .collect()
        } else {
            let word = word.to_lowercase();
            let suffix = if start == 0 { ": " } else { " " };
            self.members
                .iter()
                .filter(|m| **m != self.nick && m.to_lowercase().starts_with(&word))
                .map(|m| format!("{m}{suffix}"))
                .collect()
        };
        self.complete_with(start, candidates);
    }

    /// Puts the first candidate in place of the text from `start` to the cursor.
    fn complete_with(&mut self, start: usize, candidates: Vec<String>) {
        let Some(first) = candidates.first().cloned() else {
            return;
        };
        let end = self.input.cursor();
        self.input.replace_range(start..end, &first);
        self.completion = Some(Completion {
            start,
            inserted: first.len(),
            candidates,
            index: 0,
        });
    }

    // ----- paste ------------------------------------------------------------------------

    /// A paste goes into the input line. One of several lines is not sent at once: the
    /// input line asks first, so that a wrong clipboard does not flood the room.
    fn on_paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.strip_suffix('\n').unwrap_or(&text);
        if !text.contains('\n') {
            self.input.insert(text);
            return;
        }
        let previous = self.input.clone();
        let (before, after) = previous.text().split_at(previous.cursor());
        let whole = format!("{before}{text}{after}");
        let lines: Vec<String> = whole
            .split('\n')
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut clean = InputLine::default();
                clean.insert(l);
                clean.take()
            })
            .collect();
        self.pending_paste = Some(PendingPaste { lines, previous });
        self.input.take();
    }

    fn on_paste_answer(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(paste) = self.pending_paste.take() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => {
                if let Some(long) = paste.lines.iter().find(|l| commands::parse(l).is_err()) {
                    let why = commands::parse(long).err().unwrap_or_default();
                    self.error(format!("paste not sent: {why}"));
                    self.input = paste.previous;
                    return Vec::new();
                }
                self.scroll_to_bottom();
                // Beyond the client's burst, lines go at its pace; say how long that takes.
                let lines = paste.lines.len();
                let at_once = if self.waiting == 0 {
                    pace::BURST as usize
                } else {
                    0
                };
                let later = lines.saturating_sub(at_once);
                if later > 0 {
                    let secs = (self.waiting + later).div_ceil(pace::RATE as usize);
                    self.info(format!(
                        "sending {lines} lines, {later} of them at {} a second (about {secs} s) \
                         so that the server does not take them for a flood",
                        pace::RATE
                    ));
                }
                // Pasted lines are text, never commands, whatever they start with.
                paste
                    .lines
                    .into_iter()
                    .map(|text| Command::Send(ClientMsg::Chat { text }))
                    .collect()
            }
            KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                self.info(format!("paste of {} lines dropped", paste.lines.len()));
                self.input = paste.previous;
                Vec::new()
            }
            _ => {
                self.pending_paste = Some(paste);
                Vec::new()
            }
        }
    }

    // ----- network ----------------------------------------------------------------------

    fn reconnected(&mut self, welcome: Welcome) {
        let Welcome {
            nick,
            room,
            members,
            ..
        } = welcome;
        self.conn = ConnState::Connected;
        self.slowed = None;
        self.nick = nick;
        self.room = room;
        self.members = members;
        self.notice_now(format!(
            "reconnected: #{} as {} ({})",
            sanitize::nick(&self.room),
            sanitize::nick(&self.nick),
            members_count(self.members.len())
        ));
    }

    fn on_server(&mut self, msg: ServerMsg) -> Vec<Command> {
        let mut commands = Vec::new();
        match msg {
            // Version 4 room messages, and their version 3 forms.
            ServerMsg::Room {
                time_ms,
                room,
                event,
                ..
            } => match event {
                RoomEvent::Said { from, kind, text } => {
                    self.said(time_ms, &from, kind, &text, &mut commands);
                }
                RoomEvent::Shared { file } => self.offered(&file),
                event => self.room_event(time_ms, &room, event),
            },
            ServerMsg::Chat {
                time_ms,
                from,
                kind,
                text,
                ..
            } => self.said(time_ms, &from, kind, &text, &mut commands),
            ServerMsg::Notice {
                time_ms,
                room,
                event,
            } => self.room_event(time_ms, &room, event),
            ServerMsg::FileOffered { file } => self.offered(&file),
            ServerMsg::Private {
                time_ms,
                from,
                to,
                text,
                ..
            } => {
                let own = from == self.nick;
                if !own && self.settings.bell {
                    commands.push(Command::Bell);
                }
                self.push(Entry {
                    time_ms,
                    kind: EntryKind::Private {
                        from: sanitize::nick(&from).into_owned(),
                        to: sanitize::nick(&to).into_owned(),
                        text: sanitize::text(&text).into_owned(),
                        own,
                    },
                });
            }
            ServerMsg::Joined4 { room, members, .. } => self.joined(room, members.names),
            ServerMsg::Joined { room, members } => self.joined(room, members),
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
            // The answer to a request with an id is the answer itself.
            ServerMsg::Reply { msg, .. } => return self.on_server(*msg),
            // The client library answers pings; a welcome after a reconnect arrives as
            // Event::Reconnected.
            ServerMsg::Ping { .. }
            | ServerMsg::Pong { .. }
            | ServerMsg::Welcome { .. }
            | ServerMsg::Welcome4 { .. } => {}
            ServerMsg::Files { room, files } => self.list_files(&room, &files),
            // The client library hands these to the transfers they belong to.
            ServerMsg::UploadReady { .. }
            | ServerMsg::UploadDone { .. }
            | ServerMsg::UploadFailed { .. }
            | ServerMsg::DownloadStart { .. }
            | ServerMsg::DownloadChunk { .. }
            | ServerMsg::DownloadEnd { .. }
            | ServerMsg::DownloadFailed { .. } => {}
        }
        commands
    }

    /// A chat line or an action in the room.
    fn said(
        &mut self,
        time_ms: u64,
        from: &str,
        kind: ChatKind,
        text: &str,
        commands: &mut Vec<Command>,
    ) {
        let own = from == self.nick;
        let mention = !own && mentions(text, &self.nick);
        if mention && self.settings.bell {
            commands.push(Command::Bell);
        }
        self.push(Entry {
            time_ms,
            kind: EntryKind::Chat {
                from: sanitize::nick(from).into_owned(),
                text: sanitize::text(text).into_owned(),
                action: kind == ChatKind::Action,
                own,
                mention,
            },
        });
    }

    /// Someone joined, left or was renamed in `room`.
    fn room_event(&mut self, time_ms: u64, room: &str, event: RoomEvent) {
        let here = room == self.room;
        let room = sanitize::nick(room);
        let text = match event {
            RoomEvent::Joined { nick } => {
                if here {
                    names::insert_member(&mut self.members, nick.clone());
                }
                format!("{} joined #{room}", sanitize::nick(&nick))
            }
            RoomEvent::Left { nick, reason } => {
                if here {
                    self.members.retain(|m| *m != nick);
                }
                let reason = sanitize::text(&reason);
                if reason.is_empty() {
                    format!("{} left #{room}", sanitize::nick(&nick))
                } else {
                    format!("{} left #{room} ({reason})", sanitize::nick(&nick))
                }
            }
            RoomEvent::Renamed { old, new } => {
                if here {
                    self.members.retain(|m| *m != old);
                    names::insert_member(&mut self.members, new.clone());
                }
                // One's own rename is told by `NickChanged`, which follows.
                if old == self.nick {
                    return;
                }
                format!(
                    "{} is now known as {}",
                    sanitize::nick(&old),
                    sanitize::nick(&new)
                )
            }
            // Not notices; `on_server` shows them.
            RoomEvent::Said { .. } | RoomEvent::Shared { .. } => return,
        };
        self.push(Entry {
            time_ms,
            kind: EntryKind::Notice(text),
        });
    }

    fn joined(&mut self, room: String, members: Vec<String>) {
        self.room = room;
        self.members = members;
        self.notice_now(format!(
            "you joined #{} ({})",
            sanitize::nick(&self.room),
            members_count(self.members.len())
        ));
    }

    /// The answer to `/who`: `total` when the list is the first page of a larger room.
    fn members_of(&mut self, room: String, members: Vec<String>, total: Option<usize>) {
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
            self.members = members;
        }
    }

    // ----- transfers --------------------------------------------------------------------

    fn new_transfer(
        &mut self,
        direction: Direction,
        name: String,
        file_id: Option<u64>,
    ) -> TransferId {
        let id = self.next_transfer;
        self.next_transfer += 1;
        self.transfers.push(Transfer {
            id,
            direction,
            name,
            file_id,
            started: false,
            progress: Progress::new(0),
        });
        id
    }

    fn send_file(&mut self, path: String) -> Vec<Command> {
        // What the bar shows until the task has opened the file.
        let shown = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(&path);
        let shown = sanitize::nick(shown).into_owned();
        let id = self.new_transfer(Direction::Up, shown, None);
        vec![Command::Transfer(transfer::Request::Upload { id, path })]
    }

    fn get(&mut self, file_id: u64) -> Vec<Command> {
        if let Some(t) = self.transfers.iter().find(|t| t.file_id == Some(file_id)) {
            self.error(format!(
                "file {file_id} is already being downloaded ([{}])",
                t.id
            ));
            return Vec::new();
        }
        let id = self.new_transfer(Direction::Down, format!("file {file_id}"), Some(file_id));
        vec![Command::Transfer(transfer::Request::Download {
            id,
            file_id,
            dir: self.settings.download_dir.clone(),
        })]
    }

    fn cancel(&mut self, id: Option<TransferId>) -> Vec<Command> {
        let found = match id {
            Some(id) => self.transfers.iter().find(|t| t.id == id),
            None => self.transfers.last(),
        };
        match found {
            Some(t) => vec![Command::Transfer(transfer::Request::Cancel { id: t.id })],
            None if self.transfers.is_empty() => {
                self.error("no transfer is running".into());
                Vec::new()
            }
            None => {
                let running: Vec<String> =
                    self.transfers.iter().map(|t| t.id.to_string()).collect();
                self.error(format!(
                    "no transfer {}; running: {}",
                    id.unwrap_or_default(),
                    running.join(", ")
                ));
                Vec::new()
            }
        }
    }

    fn on_transfer(&mut self, event: TransferEvent) {
        let now = self.now_ms;
        let Some(at) = self.transfers.iter().position(|t| t.id == event.id()) else {
            return;
        };
        let t = &mut self.transfers[at];
        let what = match t.direction {
            Direction::Up => "upload",
            Direction::Down => "download",
        };
        match event {
            TransferEvent::Started { name, size, .. } => {
                t.name = sanitize::nick(&name).into_owned();
                t.started = true;
                t.progress = Progress::new(size);
                t.progress.sample(0, now);
                let text = match t.direction {
                    Direction::Up => format!(
                        "sending {} ({}) to #{}",
                        t.name,
                        bytes(size),
                        sanitize::nick(&self.room)
                    ),
                    Direction::Down => format!("downloading {} ({})", t.name, bytes(size)),
                };
                let text = format!("[{}] {text}", t.id);
                self.info(text);
            }
            TransferEvent::Progress { done, .. } => t.progress.sample(done, now),
            TransferEvent::Resumed { offset, .. } => {
                t.progress.restart(offset, now);
                let text = format!(
                    "[{}] {what} of {} resumed at {} of {}",
                    t.id,
                    t.name,
                    bytes(offset),
                    bytes(t.progress.total)
                );
                self.notice_now(text);
            }
            TransferEvent::Restarted { reason, .. } => {
                t.progress.restart(0, now);
                let text = format!(
                    "[{}] {what} of {}: {}",
                    t.id,
                    t.name,
                    sanitize::text(&reason)
                );
                self.notice_now(text);
            }
            TransferEvent::Uploaded { file_id, .. } => {
                let t = self.transfers.remove(at);
                self.info(format!(
                    "[{}] sent {} ({}), checksum verified by the server: file {file_id}",
                    t.id,
                    t.name,
                    bytes(t.progress.total)
                ));
            }
            TransferEvent::Saved { path, .. } => {
                let t = self.transfers.remove(at);
                self.info(format!(
                    "[{}] saved {} ({}) as {}, SHA-256 verified",
                    t.id,
                    t.name,
                    bytes(t.progress.total),
                    sanitize::text(&path.display().to_string())
                ));
            }
            TransferEvent::Failed { reason, .. } => {
                let t = self.transfers.remove(at);
                self.error(format!(
                    "[{}] {what} of {} failed: {}",
                    t.id,
                    t.name,
                    sanitize::text(&reason)
                ));
            }
            TransferEvent::Cancelled { .. } => {
                let t = self.transfers.remove(at);
                self.info(format!("[{}] {what} of {} cancelled", t.id, t.name));
            }
        }
    }

    fn offered(&mut self, file: &FileInfo) {
        self.push(Entry {
            time_ms: file.time_ms,
            kind: EntryKind::Notice(format!(
                "{} shares {} ({}): type /get {} to download it",
                sanitize::nick(&file.from),
                sanitize::nick(&file.name),
                bytes(file.size),
                file.id
            )),
        });
    }

    fn list_files(&mut self, room: &str, files: &[FileInfo]) {
        let room = sanitize::nick(room);
        if files.is_empty() {
            self.notice_now(format!(
                "no files shared in #{room} yet; /send-file PATH shares one"
            ));
            return;
        }
        self.notice_now(format!("files in #{room} ({}):", files.len()));
        for file in files {
            self.notice_now(format!(
                "  /get {:<4} {}  {}  from {}",
                file.id,
                sanitize::nick(&file.name),
                bytes(file.size),
                sanitize::nick(&file.from)
            ));
        }
    }

    // ----- message pane -----------------------------------------------------------------

    fn push(&mut self, mut entry: Entry) {
        entry.kind.clip();
        if self.scroll > 0 {
            // Keep the view where it is: it now ends this many lines further from the bottom.
            self.scroll += ui::entry_height(self, &entry);
            self.unseen += 1;
        }
        if self.messages.len() == MAX_SCROLLBACK {
            self.messages.pop_front();
        }
        self.messages.push_back(entry);
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

    fn local(&mut self, kind: EntryKind) {
        self.push(Entry {
            time_ms: self.now_ms,
            kind,
        });
    }

    /// Rows of the message pane: what PageUp/PageDown move by (less one row of overlap).
    fn page(&self) -> usize {
        let area = Rect::new(0, 0, self.size.0, self.size.1);
        usize::from(
            ui::layout(area, self.show_members, self.transfers.len())
                .messages
                .height,
        )
        .saturating_sub(1)
        .max(1)
    }

    fn scroll_up(&mut self, lines: usize) {
        let area = Rect::new(0, 0, self.size.0, self.size.1);
        let height = usize::from(
            ui::layout(area, self.show_members, self.transfers.len())
                .messages
                .height,
        );
        // Only as far as the oldest line reaching the top of the pane.
        let wanted = self.scroll + lines;
        let mut total = 0;
        for entry in self.messages.iter().rev() {
            total += ui::entry_height(self, entry);
            if total >= wanted + height {
                break;
            }
        }
        self.scroll = wanted.min(total.saturating_sub(height));
        if self.scroll == 0 {
            self.unseen = 0;
        }
    }

    fn scroll_down(&mut self, lines: usize) {
        self.scroll = self.scroll.saturating_sub(lines);
        if self.scroll == 0 {
            self.unseen = 0;
        }
    }

    fn scroll_to_bottom(&mut self) {
        self.scroll = 0;
        self.unseen = 0;
    }
}

/// The command whose argument Tab completes as a path.
const SEND_FILE: &str = "/send-file ";

/// The key list of `/help`.
pub const KEYS_HELP: &[&str] = &[
    "keys:",
    "  Enter send · Tab complete nick, command or /send-file path · Up/Down input history",
    "  Left/Right, Ctrl/Alt-Left/Right move by character/word · Home/End, Ctrl-A/E",
    "  Backspace/Delete · Ctrl-W delete word · Ctrl-U/Ctrl-K delete to start/end",
    "  PageUp/PageDown, mouse wheel scroll · Esc back to the newest · F2 member list",
    "  Ctrl-L redraw · Ctrl-C quit",
];

fn quit(reason: String) -> Vec<Command> {
    vec![Command::Send(ClientMsg::Quit { reason }), Command::Quit]
}

fn members_count(n: usize) -> String {
    if n == 1 {
        "1 member".into()
    } else {
        format!("{n} members")
    }
}

/// Whether `text` names `nick` as a whole word, ignoring case.
pub fn mentions(text: &str, nick: &str) -> bool {
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
mod tests;
