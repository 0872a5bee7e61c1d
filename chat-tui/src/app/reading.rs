//! The room's history as the pane reads it: the client library's
//! [`Timeline`](chat_client::timeline::Timeline) of the room turned into the pane's items
//! with the app's own lines among them, the requests the view needs, and the read marker.
//!
//! - When the client is in the room (a welcome, a reconnect's, a `Joined4`) and the server
//!   keeps history (it said `HistoryInfo`), the app catches up: the backlog, or what it
//!   missed, and the gap marker when it missed more than the server gives at once.
//! - After every draw ([`App::viewed`]), from what the pane showed ([`Seen`]): history not
//!   loaded within two screens of the view is asked for, one request per stretch at a time
//!   (the timeline says what to ask and whether it is already asked); the timeline's
//!   window follows the view, so memory stays bounded; and the newest message seen is
//!   marked read, at most once a second (and when leaving).
//! - The unread line is placed where the user had stopped reading when the client came
//!   back (the read marker a catch-up brings), and stays there: reading on moves the
//!   marker, not the line.
//! - A request that fails is not asked again for [`RETRY_AFTER_MS`], so that a server
//!   that refuses never gets a request per frame.

use std::collections::{HashMap, VecDeque};

use chat_client::timeline::{self, Request, Timeline};
use shared::{ClientMsg, ErrorKind, ServerMsg, Stamped};

use super::pane::{Item, ItemKind, Key, Marker, PaneState, Seen};
use super::room::own_rename;
use super::scrollback::Entry;
use super::{App, Command};
use crate::ui::messages::{Look, Unread};

/// Most room messages the app holds; those farthest from the view are dropped (and
/// loaded again when the view comes back to them).
pub const TIMELINE_CAPACITY: usize = 2000;

/// Messages asked per page when the server has not said its cap.
pub const PAGE: u32 = 100;

/// Shortest time between two read markers sent.
pub const MARK_READ_EVERY_MS: u64 = 1000;

/// Time before a request that failed is asked again.
pub const RETRY_AFTER_MS: u64 = 5000;

/// What the server said of its history (`HistoryInfo`): it keeps one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryInfo {
    pub page: u32,
    pub catch_up: u32,
    pub backlog: u32,
    pub search: u32,
}

/// Where the unread line goes: after the message `read`, `count` messages followed it
/// when the client came back; `since_ms` is when `read` was said, if it is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadLine {
    pub read: u64,
    pub count: u64,
    pub since_ms: Option<u64>,
}

/// The app's side of the room's history.
#[derive(Debug, Clone)]
pub struct Reading {
    pub timeline: Timeline,
    /// The requests in flight, by request id.
    requests: HashMap<u32, Request>,
    /// The room's sequence number at entry on the current connection, until the catch-up
    /// is sent (the server's `HistoryInfo` follows its welcome).
    entry: Option<u64>,
    pub unread_line: Option<UnreadLine>,
    /// The newest message seen, to be marked read.
    read_due: Option<u64>,
    /// When a read marker was last sent.
    read_sent_ms: Option<u64>,
    /// When a request last failed.
    failed_ms: Option<u64>,
    /// The last failure shown, so that it is shown once.
    failure_shown: Option<String>,
    /// Whether the server granted history on the current connection (it said
    /// `HistoryInfo` after its welcome).
    granted: bool,
}

impl Reading {
    pub fn new(room: &str, info: Option<HistoryInfo>) -> Self {
        Self {
            timeline: Timeline::new(room, config(info)),
            requests: HashMap::new(),
            entry: None,
            unread_line: None,
            read_due: None,
            read_sent_ms: None,
            failed_ms: None,
            failure_shown: None,
            granted: false,
        }
    }
}

fn config(info: Option<HistoryInfo>) -> timeline::Config {
    timeline::Config {
        capacity: TIMELINE_CAPACITY,
        page: info.map_or(PAGE, |i| i.page.max(1)),
        presence: false,
    }
}

impl App {
    /// The client is in the room, whose latest sequence number is `seq`: catch up when the
    /// server keeps history (else when it says so).
    pub(super) fn entered(&mut self, seq: u64) -> Vec<Command> {
        self.last_seq = self.last_seq.max(seq);
        self.reading.entry = Some(seq);
        self.catch_up()
    }

    fn catch_up(&mut self) -> Vec<Command> {
        if !self.reading.granted {
            return Vec::new();
        }
        let Some(seq) = self.reading.entry.take() else {
            return Vec::new();
        };
        let request = self.reading.timeline.entered(seq);
        vec![self.send_request(request)]
    }

    /// `HistoryInfo`: the server keeps history. It follows the welcome.
    pub(super) fn history_info(&mut self, info: HistoryInfo) -> Vec<Command> {
        self.reading.granted = true;
        // The first time, the timeline is made again with the server's page size; after
        // a reconnect it keeps what it holds, to catch up from there.
        if self.history_info.is_none() {
            self.history_info = Some(info);
            let room = self.reading.timeline.room().to_owned();
            // Nothing is held before the first catch-up but live messages, which a new
            // timeline takes again from the catch-up.
            let held: Vec<Stamped> = self.reading.timeline.messages().cloned().collect();
            self.reading.timeline = Timeline::new(room, config(Some(info)));
            for message in held {
                self.reading.timeline.live(message);
            }
        }
        self.catch_up()
    }

    /// In a new room (`/join`): its own timeline, and none of the old room's lines.
    pub(super) fn new_room(&mut self, room: &str, seq: u64) -> Vec<Command> {
        let granted = self.reading.granted;
        self.reading = Reading::new(room, self.history_info);
        self.reading.granted = granted;
        self.scrollback.new_room();
        self.highlight = None;
        self.last_seq = 0;
        self.entered(seq)
    }

    /// The connection is gone: what was asked will not be answered.
    pub(super) fn out_of_room(&mut self) {
        self.reading.timeline.left();
        self.reading.requests.clear();
        self.reading.granted = false;
    }

    fn send_request(&mut self, request: Request) -> Command {
        let id = self.request_id();
        let msg = request.message().with_id(id);
        self.reading.requests.insert(id, request);
        Command::Send(msg)
    }

    /// A live room message of this room.
    pub(super) fn live(&mut self, message: Stamped) {
        self.last_seq = self.last_seq.max(message.seq);
        if self.reading.timeline.live(message) {
            self.scrollback.state_mut().arrived();
        }
    }

    /// The answer to the request `id`, if the timeline asked it: taken, and `None`
    /// returned.
    pub(super) fn history_answer(&mut self, id: u32, msg: ServerMsg) -> Option<ServerMsg> {
        let Some(request) = self.reading.requests.remove(&id) else {
            return Some(msg);
        };
        let caught_up = matches!(msg, ServerMsg::CaughtUp { .. });
        if let ServerMsg::Error { kind, text } = &msg {
            self.reading.failed_ms = Some(self.now_ms);
            self.reading.timeline.forget(&request);
            let why = chat_client::sanitize::text(text);
            let line = match kind {
                ErrorKind::NoHistory => format!("history is not available: {why}"),
                _ => format!("history could not be loaded: {why}"),
            };
            // Once, not once per request.
            if self.reading.failure_shown.as_ref() != Some(&line) {
                self.error(line.clone());
                self.reading.failure_shown = Some(line);
            }
            if self.scrollback.state().target().is_some() {
                self.scrollback.state_mut().forget_target();
            }
            return None;
        }
        if let ServerMsg::CaughtUp { messages, .. } = &msg
            && let Some(newest) = messages.last()
        {
            self.last_seq = self.last_seq.max(newest.seq);
        }
        if let ServerMsg::HistoryPage { messages, .. } = &msg
            && let Some(newest) = messages.last()
        {
            self.last_seq = self.last_seq.max(newest.seq);
        }
        self.reading.failed_ms = None;
        self.reading.timeline.answered(&request, msg);
        if caught_up {
            self.place_unread_line();
        }
        None
    }

    /// After a catch-up: the line goes after the last message read, when some followed.
    fn place_unread_line(&mut self) {
        let timeline = &self.reading.timeline;
        let read = timeline.read();
        let count = timeline.unread();
        self.reading.unread_line = (read > 0 && count > 0).then(|| UnreadLine {
            read,
            count,
            since_ms: timeline.get(read).map(|m| m.time_ms),
        });
    }

    /// Shows the room message `seq` (a search hit) in the middle of the pane, loading the
    /// history around it first when it is not held.
    pub(super) fn jump_to(&mut self, seq: u64) -> Vec<Command> {
        let key = Key::message(seq);
        self.highlight = Some(key);
        self.scrollback.state_mut().show(key);
        match self.reading.timeline.around(seq) {
            Some(request) => vec![self.send_request(request)],
            None => Vec::new(),
        }
    }

    /// What the pane draws: the items, how to draw them, and the view to move.
    pub fn pane(&mut self) -> (Vec<Item<'_>>, Look<'_>, &mut PaneState) {
        let cleared = self.scrollback.cleared();
        let (entries, state) = self.scrollback.split();
        let (items, look) = pane_items(
            &self.reading,
            entries,
            cleared,
            self.history_info.is_some(),
            &self.nick,
        );
        let look = Look {
            utc_offset_secs: self.settings.utc_offset_secs,
            highlight: self.highlight,
            ..look
        };
        (items, look, state)
    }

    /// The items the pane lists, oldest first.
    pub fn items(&self) -> Vec<Item<'_>> {
        pane_items(
            &self.reading,
            self.scrollback.entries(),
            self.scrollback.cleared(),
            self.history_info.is_some(),
            &self.nick,
        )
        .0
    }

    /// After a draw, from what the pane showed: asks for history the view is about to
    /// need, lets the timeline drop what is far from the view, and marks read the newest
    /// message seen (at most once a second).
    pub fn viewed(&mut self) -> Vec<Command> {
        let Some(seen) = self.scrollback.state().seen().copied() else {
            return Vec::new();
        };
        if !self.reading.granted {
            return Vec::new();
        }
        let view = (!seen.following).then_some(seen.bottom.seq);
        self.reading.timeline.set_view(view);
        let mut commands = self.fetch_near(&seen);
        if let Some(seq) = seen.newest_seq
            && seq > self.reading.timeline.read()
        {
            self.reading.read_due = Some(seq);
        }
        commands.extend(self.mark_read(false));
        commands
    }

    /// The requests for the stretches not loaded within reach of the view.
    fn fetch_near(&mut self, seen: &Seen) -> Vec<Command> {
        if self
            .reading
            .failed_ms
            .is_some_and(|t| self.now_ms < t.saturating_add(RETRY_AFTER_MS))
        {
            return Vec::new();
        }
        // Stretches above what holds the view are loaded from their newer end, those
        // below from their older end: what arrives then never moves the view.
        let anchor = if seen.following {
            Key::LAST
        } else {
            seen.bottom
        };
        let wanted: Vec<(u64, u64, bool)> = self
            .reading
            .timeline
            .items()
            .iter()
            .filter_map(|item| match *item {
                timeline::Item::NotLoaded {
                    from,
                    to,
                    loading: false,
                    ..
                } => {
                    let key = Key::marker(from);
                    let near = key >= seen.near_top && key <= seen.near_bottom;
                    near.then_some((from, to, key < anchor))
                }
                _ => None,
            })
            .collect();
        let mut commands = Vec::new();
        for (from, to, above) in wanted {
            let request = if above {
                self.reading.timeline.older(to.saturating_add(1))
            } else {
                self.reading.timeline.newer(from.saturating_sub(1))
            };
            if let Some(request) = request {
                commands.push(self.send_request(request));
            }
        }
        commands
    }

    /// Sends the read marker when one is due and a second has passed since the last, or
    /// `now` when leaving.
    fn mark_read(&mut self, now: bool) -> Option<Command> {
        let seq = self.reading.read_due?;
        let recent = self
            .reading
            .read_sent_ms
            .is_some_and(|t| self.now_ms < t.saturating_add(MARK_READ_EVERY_MS));
        if recent && !now {
            return None;
        }
        self.reading.read_due = None;
        let msg = self.reading.timeline.mark_read(seq)?;
        self.reading.read_sent_ms = Some(self.now_ms);
        Some(Command::Send(msg))
    }

    /// When the app wants to be woken without an event (ms since the epoch): a read
    /// marker waiting for its second, or a failed request's retry.
    pub fn wake_at(&self) -> Option<u64> {
        if !self.reading.granted {
            return None;
        }
        let read = self
            .reading
            .read_due
            .map(|_| self.reading.read_sent_ms.unwrap_or(0) + MARK_READ_EVERY_MS);
        let retry = self
            .reading
            .failed_ms
            .map(|t| t + RETRY_AFTER_MS)
            .filter(|t| *t > self.now_ms);
        match (read, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The frames to send before leaving: the read marker still waiting, then the quit.
    pub fn leaving(&mut self, reason: String) -> Vec<ClientMsg> {
        let mut frames = Vec::new();
        if let Some(Command::Send(msg)) = self.mark_read(true) {
            frames.push(msg);
        }
        frames.push(ClientMsg::Quit { reason });
        frames
    }
}

/// The pane's items: the timeline's messages and markers (markers only when the server
/// keeps history) with the app's own lines among them, from `cleared` on; and the look
/// that goes with them (the unread line, whether the list ends at the newest).
fn pane_items<'a>(
    reading: &'a Reading,
    entries: &'a VecDeque<(Key, Entry)>,
    cleared: Key,
    history: bool,
    nick: &'a str,
) -> (Vec<Item<'a>>, Look<'a>) {
    let unread_line = if history { reading.unread_line } else { None };
    let mut items: Vec<Item<'a>> = Vec::new();
    let mut locals = entries.iter().peekable();
    let mut unread: Option<Unread> = None;
    // A stretch not loaded hides the app's lines written while it was held.
    let mut hidden: Option<(u64, u64)> = None;
    let push_local = |items: &mut Vec<Item<'a>>, hidden: Option<(u64, u64)>, k: &Key, entry| {
        let in_gap = hidden.is_some_and(|(from, to)| (from..=to).contains(&k.seq));
        if !in_gap && *k >= cleared {
            items.push(Item {
                key: *k,
                kind: ItemKind::Local(entry),
            });
        }
    };
    for item in reading.timeline.items() {
        let (key, kind, gap) = match item {
            timeline::Item::Message(m) => {
                if own_rename(m, nick) {
                    continue;
                }
                (Key::message(m.seq), ItemKind::Message(m), None)
            }
            timeline::Item::Beginning => (Key::FIRST, ItemKind::Marker(Marker::Beginning), None),
            timeline::Item::NotLoaded {
                from,
                to,
                count,
                loading,
            } => {
                let marker = Marker::NotLoaded { count, loading };
                (
                    Key::marker(from),
                    ItemKind::Marker(marker),
                    Some((from, to)),
                )
            }
            timeline::Item::Lost { from, to } => (
                Key::marker(from),
                ItemKind::Marker(Marker::Lost { from, to }),
                None,
            ),
            // The app places its own unread line (see `UnreadLine`).
            timeline::Item::ReadMarker { .. } => continue,
        };
        if matches!(kind, ItemKind::Marker(_)) && !history {
            continue;
        }
        while let Some((k, entry)) = locals.next_if(|(k, _)| *k < key) {
            push_local(&mut items, hidden, k, entry);
        }
        hidden = gap;
        if key < cleared {
            continue;
        }
        if let Some(line) = unread_line
            && unread.is_none()
            && key.seq > line.read
            && key != Key::FIRST
        {
            unread = Some(Unread {
                before: key,
                count: line.count,
                since_ms: line.since_ms,
            });
        }
        items.push(Item { key, kind });
    }
    for (k, entry) in locals {
        push_local(&mut items, hidden, k, entry);
    }
    let live_end = !matches!(
        items.last(),
        Some(Item {
            kind: ItemKind::Marker(Marker::NotLoaded { .. }),
            ..
        })
    );
    let look = Look {
        nick,
        room: reading.timeline.room(),
        utc_offset_secs: 0,
        unread,
        highlight: None,
        live_end,
    };
    (items, look)
}
