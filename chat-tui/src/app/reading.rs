//! The room's history as the pane reads it: the client library's [`Timeline`] of the room
//! turned into the pane's items with the app's own lines among them, the requests the view
//! needs, and the read marker.
//!
//! - When the client is in the room (a welcome, a reconnect's, a `Joined4`) and the server
//!   keeps history (it said `HistoryInfo`), the app catches up: the backlog, or what it
//!   missed, and the gap marker when it missed more than the server gives at once.
//! - After every draw ([`App::viewed`]), from what the pane showed ([`Seen`]): the history
//!   beyond the ends of what is held is asked for when the view comes within two screens
//!   of it, so that scrolling rarely waits; a gap between held messages (a long absence)
//!   shows as "N messages not loaded" and is asked for once it is on screen. One request
//!   per stretch at a time (the timeline says what to ask and whether it is already
//!   asked). The timeline's window follows the view, so memory stays bounded; and the
//!   newest message seen is marked read, at most once a second (and when leaving), and
//!   never ahead of what the user sends: a read marker counts against the client's pace
//!   like any request, so it waits until nothing has waited for a second.
//! - The unread line is placed where the user had stopped reading when the client came
//!   back (the read marker a catch-up brings), and stays there: reading on moves the
//!   marker, not the line.
//! - A request that fails is not asked again for [`RETRY_AFTER_MS`], so that a server
//!   that refuses never gets a request per frame.
//! - `/join` leaves the room: its read marker goes out with the `Join`, before it, and
//!   nothing more is asked about the room until the server answers (it would answer
//!   `NotInRoom`); a refused join takes up the room again. Answers still due for a room
//!   left (or for the search closed with it) are dropped when they come, whatever they
//!   say.

use std::collections::{HashMap, VecDeque};

use chat_client::timeline::{self, Request, Timeline};
use shared::{ClientMsg, ErrorKind, RoomEvent, ServerMsg, Stamped};

use super::ignore::IgnoreList;
use super::pane::{Item, ItemKind, Key, Marker, PaneState, Seen};
use super::room::own_rename;
use super::scrollback::Entry;
use super::transfers::NO_SHARES;
use super::{App, Command, ConnState};
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

/// Most requests of rooms left whose answers are still awaited, to be dropped. A room
/// has a few in flight at a time (a catch-up, a page at each end, one per gap on screen,
/// a search); beyond this, the oldest are forgotten.
pub const MAX_ABANDONED: usize = 64;

/// What the server said of its history (`HistoryInfo`): it keeps one, and gives at most
/// this much at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryInfo {
    /// Messages in a page.
    pub page: u32,
    /// Messages in a catch-up after a reconnect.
    pub catch_up: u32,
    /// Messages a first join gets.
    pub backlog: u32,
    /// Hits in an answer to a search.
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
    /// When the last frames waiting at the client's pace went out.
    drained_ms: Option<u64>,
    /// When a request last failed.
    failed_ms: Option<u64>,
    /// The last failure shown, so that it is shown once.
    failure_shown: Option<String>,
    /// Whether the server granted history on the current connection (it said
    /// `HistoryInfo` after its welcome).
    granted: bool,
    /// The catch-up failed: it is asked again after [`RETRY_AFTER_MS`].
    catch_up_failed: bool,
    /// The request id of a `Join` sent and not answered yet: the room is being left, and
    /// nothing more is asked about it.
    leaving: Option<u32>,
    /// Requests about rooms left whose answers may still come, oldest first: their
    /// answers are dropped. At most [`MAX_ABANDONED`].
    abandoned: VecDeque<u32>,
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
            drained_ms: None,
            failed_ms: None,
            failure_shown: None,
            granted: false,
            catch_up_failed: false,
            leaving: None,
            abandoned: VecDeque::new(),
        }
    }

    /// A room's reading on a connection whose server keeps history (it said
    /// `HistoryInfo`): the catch-up goes as soon as the room is entered.
    pub fn granted(room: &str, info: HistoryInfo) -> Self {
        Self {
            granted: true,
            ..Self::new(room, Some(info))
        }
    }

    /// Whether the request `id` is this room's: awaited, or abandoned with a room left.
    pub fn awaits(&self, id: u32) -> bool {
        self.requests.contains_key(&id) || self.abandoned.contains(&id) || self.leaving == Some(id)
    }

    /// Nothing waits at the client's pace any more, as of `now_ms`.
    pub fn outbox_drained(&mut self, now_ms: u64) {
        self.drained_ms = Some(now_ms);
    }

    /// When the read marker due may go: a second after the last one, and a second after
    /// the user's own frames stopped waiting. `None` when none is due.
    fn read_at(&self) -> Option<u64> {
        self.read_due?;
        let after = |t: Option<u64>| t.map_or(0, |t| t.saturating_add(MARK_READ_EVERY_MS));
        Some(after(self.read_sent_ms).max(after(self.drained_ms)))
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
        // While leaving, the catch-up waits: the join may be refused.
        if !self.reading.granted || self.reading.leaving.is_some() {
            return Vec::new();
        }
        let Some(seq) = self.reading.entry.take() else {
            return Vec::new();
        };
        let request = self.reading.timeline.entered(seq);
        vec![self.send_request(request)]
    }

    /// `HistoryInfo`: the server keeps history. It follows every welcome.
    pub(super) fn history_info(&mut self, info: HistoryInfo) -> Vec<Command> {
        self.reading.granted = true;
        self.history_info = Some(info);
        self.reading.timeline.set_page(info.page);
        self.catch_up()
    }

    /// `/join ROOM`: the read marker still due for the room being left goes first, while
    /// the client is still in it, then the `Join` (with an id, so that a refusal is known
    /// for what it is); until its answer, nothing more is asked about the room.
    pub(super) fn join(&mut self, room: String) -> Vec<Command> {
        let id = self.request_id();
        // In several rooms at once, nothing is left: the room joined gets a buffer.
        if self.several_rooms {
            return vec![Command::Send(ClientMsg::Join { room }.with_id(id))];
        }
        let mut commands: Vec<Command> = self.mark_read(true).into_iter().collect();
        // Disconnected, the `Join` waits in the client library's queue and goes first
        // after the reconnect; what the app asks meanwhile about the room it is back in
        // is answered after the `Join`'s answer, and dropped then.
        if self.conn == ConnState::Connected {
            self.reading.leaving = Some(id);
        }
        commands.push(Command::Send(ClientMsg::Join { room }.with_id(id)));
        commands
    }

    /// An answer to the request `id`, before it is dealt with: when it answers the `Join`
    /// awaited, the room is left (the answer is `Joined4`) or not (a refusal: the room's
    /// history is asked for again, the catch-up first if it waited).
    pub(super) fn join_answer(&mut self, id: u32, msg: &ServerMsg) -> Vec<Command> {
        if self.reading.leaving != Some(id) {
            return Vec::new();
        }
        self.reading.leaving = None;
        match msg {
            ServerMsg::Error { .. } => self.catch_up(),
            _ => Vec::new(),
        }
    }

    /// In a new room (`/join`): its own timeline, and none of the old room's lines.
    pub(super) fn new_room(&mut self, room: &str, seq: u64) -> Vec<Command> {
        let old = std::mem::replace(&mut self.reading, Reading::new(room, self.history_info));
        self.reading.granted = old.granted;
        // A later `Join` may be waiting for its answer still.
        self.reading.leaving = old.leaving;
        // What was asked about the old room, or searched in it, is answered for nothing.
        let mut abandoned = old.abandoned;
        abandoned.extend(old.requests.into_keys());
        abandoned.extend(self.search.take().and_then(|s| s.waiting()));
        let excess = abandoned.len().saturating_sub(MAX_ABANDONED);
        abandoned.drain(..excess);
        self.reading.abandoned = abandoned;
        self.scrollback.new_room();
        self.highlight = None;
        self.last_seq = 0;
        self.entered(seq)
    }

    /// The connection is gone: what was asked will not be answered, the search's answer
    /// and the join's included.
    pub(super) fn out_of_room(&mut self) {
        self.search_cut_off();
        self.reading.timeline.left();
        self.reading.requests.clear();
        self.reading.abandoned.clear();
        self.reading.leaving = None;
        self.reading.granted = false;
        self.reading.catch_up_failed = false;
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
        // About a room left: of no use, and its refusal (`NotInRoom`) is no news.
        if let Some(at) = self.reading.abandoned.iter().position(|a| *a == id) {
            self.reading.abandoned.remove(at);
            return None;
        }
        let Some(request) = self.reading.requests.remove(&id) else {
            return Some(msg);
        };
        let caught_up = matches!(msg, ServerMsg::CaughtUp { .. });
        if let ServerMsg::Error { kind, text } = &msg {
            self.reading.failed_ms = Some(self.now_ms);
            self.reading.timeline.forget(&request);
            self.reading.catch_up_failed |= request.anchor().is_none();
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
            // A search hit that cannot be loaded is not waited for.
            if matches!(request.anchor(), Some(shared::Anchor::Around(_))) {
                self.scrollback.state_mut().forget_target();
                self.highlight = None;
            }
            return None;
        }
        if let ServerMsg::CaughtUp { messages, .. } | ServerMsg::HistoryPage { messages, .. } = &msg
            && let Some(newest) = messages.last()
        {
            self.last_seq = self.last_seq.max(newest.seq);
        }
        self.reading.failed_ms = None;
        self.reading.catch_up_failed &= !caught_up;
        self.reading.timeline.answered(&request, msg);
        if caught_up {
            self.place_unread_line();
        }
        self.target_loaded();
        None
    }

    /// The history around a search hit came without it (deleted since, by retention):
    /// the view stops waiting for it, and says so.
    fn target_loaded(&mut self) {
        let Some(target) = self.scrollback.state().target() else {
            return;
        };
        let timeline = &self.reading.timeline;
        if timeline.get(target.seq).is_some() || timeline.loading() {
            return;
        }
        self.scrollback.state_mut().forget_target();
        self.highlight = None;
        self.info("that message is no longer in the room's history".into());
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
        // The room is being left: its history is not asked for, nor waited for.
        if self.reading.leaving.is_some() {
            return Vec::new();
        }
        // Not connected, a hit not held cannot be loaded (nor asked for later: the
        // request would not be kept).
        if self.conn != ConnState::Connected && self.reading.timeline.get(seq).is_none() {
            self.info("not connected: that message can be shown once reconnected".into());
            return Vec::new();
        }
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
            &self.ignored,
        );
        let look = Look {
            utc_offset_secs: self.settings.utc_offset_secs,
            highlight: self.highlight,
            shares: &self.shares,
            ..look
        };
        (items, look, state)
    }

    /// The items the pane lists, oldest first (for tests: the pane builds its own).
    #[cfg(test)]
    pub fn items(&self) -> Vec<Item<'_>> {
        pane_items(
            &self.reading,
            self.scrollback.entries(),
            self.scrollback.cleared(),
            self.history_info.is_some(),
            &self.nick,
            &self.ignored,
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
        // Nothing is asked about a room being left: the server would answer `NotInRoom`.
        if !self.reading.granted || self.reading.leaving.is_some() {
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
        if self.reading.catch_up_failed
            && let Some(request) = self.reading.timeline.catch_up()
        {
            self.reading.catch_up_failed = false;
            return vec![self.send_request(request)];
        }
        let anchor = if seen.following {
            Key::LAST
        } else {
            seen.bottom
        };
        // The ends of what is held load before the view gets there; a gap between held
        // messages shows what it is ("N messages not loaded") and loads once on screen.
        let items: Vec<timeline::Item<'_>> = self
            .reading
            .timeline
            .items()
            .into_iter()
            .filter(|i| !matches!(i, timeline::Item::ReadMarker { .. }))
            .collect();
        let ends = [0, items.len().saturating_sub(1)];
        let wanted: Vec<(u64, u64, bool, bool)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match *item {
                timeline::Item::NotLoaded {
                    from,
                    to,
                    loading: false,
                    ..
                } => {
                    let key = Key::marker(from);
                    let (top, bottom) = if ends.contains(&i) {
                        (seen.near_top, seen.near_bottom)
                    } else {
                        (seen.top, seen.bottom)
                    };
                    let near = top <= key && key <= bottom;
                    near.then_some((from, to, key < anchor, ends.contains(&i)))
                }
                _ => None,
            })
            .collect();
        // The timeline keeps half its capacity on each side of the view: a page beyond
        // that would be dropped as soon as it came (on a very tall terminal), so the ends
        // wait until the view comes closer.
        let view = seen.bottom.seq;
        let page = self.reading.timeline.config().page as usize;
        let room = TIMELINE_CAPACITY / 2;
        let room_above = self.reading.timeline.held_above(view) + page <= room;
        let room_below = self.reading.timeline.held_below(view) + page <= room;
        let mut commands = Vec::new();
        for (from, to, above, end) in wanted {
            if end && !(if above { room_above } else { room_below }) {
                continue;
            }
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

    /// Sends the read marker when one is due, a second has passed since the last one and
    /// since the user's own frames stopped waiting, and none wait; or `now` when leaving.
    fn mark_read(&mut self, now: bool) -> Option<Command> {
        if self.reading.leaving.is_some() {
            return None;
        }
        let seq = self.reading.read_due?;
        let early = self.waiting > 0 || self.reading.read_at().is_some_and(|t| self.now_ms < t);
        if early && !now {
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
        if !self.reading.granted || self.reading.leaving.is_some() {
            return None;
        }
        // While frames wait at the pace, their going out (an event) is the wake.
        let read = self.reading.read_at().filter(|_| self.waiting == 0);
        let retry = self
            .reading
            .failed_ms
            .map(|t| t.saturating_add(RETRY_AFTER_MS))
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
pub(super) fn pane_items<'a>(
    reading: &'a Reading,
    entries: &'a VecDeque<(Key, Entry)>,
    cleared: Key,
    history: bool,
    nick: &'a str,
    ignored: &IgnoreList,
) -> (Vec<Item<'a>>, Look<'a>) {
    let unread_line = if history { reading.unread_line } else { None };
    let mut items: Vec<Item<'a>> = Vec::new();
    let mut locals = entries.iter().peekable();
    let mut unread: Option<Unread> = None;
    // Whether the unread line's place is passed: it shows only if that place does (not
    // when `/clear` hid it).
    let mut unread_placed = false;
    // A line written where messages are not loaded now shows after their marker.
    let push_local = |items: &mut Vec<Item<'a>>, k: &Key, entry| {
        if *k >= cleared {
            items.push(Item {
                key: *k,
                kind: ItemKind::Local(entry),
            });
        }
    };
    let mut live_end = true;
    for item in reading.timeline.items() {
        live_end = !matches!(item, timeline::Item::NotLoaded { .. });
        let (key, kind) = match item {
            timeline::Item::Message(m) => {
                if own_rename(m, nick)
                    || matches!(&m.event, RoomEvent::Said { from, .. } if ignored.contains(from))
                {
                    continue;
                }
                (Key::message(m.seq), ItemKind::Message(m))
            }
            timeline::Item::Beginning => (Key::FIRST, ItemKind::Marker(Marker::Beginning)),
            timeline::Item::NotLoaded {
                from,
                count,
                loading,
                ..
            } => {
                let marker = Marker::NotLoaded { count, loading };
                (Key::marker(from), ItemKind::Marker(marker))
            }
            timeline::Item::Lost { from, to } => (
                Key::marker(from),
                ItemKind::Marker(Marker::Lost { from, to }),
            ),
            // The app places its own unread line (see `UnreadLine`).
            timeline::Item::ReadMarker { .. } => continue,
        };
        if matches!(kind, ItemKind::Marker(_)) && !history {
            continue;
        }
        while let Some((k, entry)) = locals.next_if(|(k, _)| *k < key) {
            push_local(&mut items, k, entry);
        }
        if let Some(line) = unread_line
            && !unread_placed
            && key.seq > line.read
            && key != Key::FIRST
        {
            unread_placed = true;
            unread = (key >= cleared).then_some(Unread {
                before: key,
                count: line.count,
                since_ms: line.since_ms,
            });
        }
        if key < cleared {
            continue;
        }
        items.push(Item { key, kind });
    }
    for (k, entry) in locals {
        push_local(&mut items, k, entry);
    }
    // Without history, nothing is said to be missing: the list ends at the newest.
    let live_end = live_end || !history;
    let look = Look {
        nick,
        room: reading.timeline.room(),
        utc_offset_secs: 0,
        unread,
        highlight: None,
        live_end,
        shares: &NO_SHARES,
    };
    (items, look)
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;
    use shared::{Anchor, ChatKind, Gap, RoomEvent};

    use super::*;
    use crate::app::Event;
    use crate::app::testing::*;

    fn info() -> Event {
        Event::Server(ServerMsg::HistoryInfo {
            page: 100,
            catch_up: 500,
            backlog: 50,
            search: 100,
            max_age_secs: 0,
            max_per_room: 0,
        })
    }

    /// `m{seq}` from bob, said `seq` seconds after `T`.
    fn said(seq: u64) -> Stamped {
        Stamped {
            id: seq,
            seq,
            time_ms: T + seq * 1000,
            event: RoomEvent::Said {
                from: "bob".into(),
                kind: ChatKind::Say,
                text: format!("m{seq}"),
            },
        }
    }

    fn range(seqs: std::ops::RangeInclusive<u64>) -> Vec<Stamped> {
        seqs.map(said).collect()
    }

    fn live(seq: u64) -> Event {
        Event::Server(said(seq).into_room_msg("lobby"))
    }

    /// The requests among `commands`: `(id, frame)`.
    fn requests(commands: &[Command]) -> Vec<(u32, ClientMsg)> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Send(ClientMsg::Request { id, msg }) => Some((*id, (**msg).clone())),
                _ => None,
            })
            .collect()
    }

    /// The one request among `commands`.
    fn one_request(commands: &[Command]) -> (u32, ClientMsg) {
        match requests(commands).as_slice() {
            [one] => one.clone(),
            other => panic!("expected one request, got {other:?} of {commands:?}"),
        }
    }

    fn reply(id: u32, msg: ServerMsg) -> Event {
        Event::Server(ServerMsg::Reply {
            id,
            msg: Box::new(msg),
        })
    }

    fn caught_up(
        messages: Vec<Stamped>,
        gap: Option<Gap>,
        more_before: bool,
        read: u64,
    ) -> ServerMsg {
        ServerMsg::CaughtUp {
            room: "lobby".into(),
            messages,
            gap,
            more_before,
            read,
            lost: Vec::new(),
        }
    }

    fn page(messages: Vec<Stamped>, more_before: bool, more_after: bool) -> ServerMsg {
        ServerMsg::HistoryPage {
            room: "lobby".into(),
            messages,
            more_before,
            more_after,
            lost: Vec::new(),
        }
    }

    /// alice, caught up on `m6`..`m10` of the lobby, having read up to `m8`.
    fn caught_up_app() -> App {
        let mut app = app();
        let (id, catch_up) = one_request(&app.update(info()));
        assert_eq!(
            catch_up,
            ClientMsg::CatchUp {
                room: "lobby".into(),
                after: 0
            }
        );
        assert!(
            app.update(reply(id, caught_up(range(6..=10), None, true, 8)))
                .is_empty()
        );
        app
    }

    fn screen(app: &mut App) -> Vec<String> {
        draw(app, 60, 12)
    }

    #[test]
    fn the_backlog_then_the_unread_line_then_the_newest() {
        let mut app = caught_up_app();
        let rows = screen(&mut app);
        assert_eq!(
            rows[..9],
            [
                "──────────────── older messages not loaded ─────────────────",
                "22:13 <bob> m6",
                "22:13 <bob> m7",
                "22:13 <bob> m8",
                "──────────────── 2 new messages since 22:13 ────────────────",
                "22:13 <bob> m9",
                "22:13 <bob> m10",
                "22:13 -- joined #lobby as alice (4 members); type /help for",
                "      commands and keys",
            ]
        );
    }

    #[test]
    fn scrolling_up_loads_older_pages_once_at_a_time_down_to_the_beginning() {
        let mut app = caught_up_app();
        screen(&mut app);
        let (id, older) = one_request(&app.viewed());
        assert_eq!(
            older,
            ClientMsg::History {
                room: "lobby".into(),
                anchor: Anchor::Before(6),
                limit: 100,
                presence: false
            }
        );
        screen(&mut app);
        assert!(requests(&app.viewed()).is_empty(), "one request at a time");
        assert_eq!(
            screen(&mut app)[0],
            "───────────────────────── loading… ─────────────────────────"
        );
        app.update(reply(id, page(range(1..=5), false, true)));
        app.update(key(KeyCode::PageUp));
        let rows = screen(&mut app);
        assert_eq!(
            rows[0],
            "─────────────────── beginning of #lobby ────────────────────"
        );
        assert_eq!(rows[1], "22:13 <bob> m1");
        assert!(requests(&app.viewed()).is_empty(), "nothing older to ask");
    }

    #[test]
    fn a_gap_shows_what_is_missing_and_loads_once_scrolled_to() {
        let mut app = app();
        let (id, _) = one_request(&app.update(info()));
        let gap = Gap {
            from: 11,
            to: 40,
            count: 30,
        };
        app.update(reply(id, caught_up(range(1..=10), None, false, 0)));
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        app.update(Event::Reconnected(chat_client::Welcome {
            nick: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            total: 1,
            seq: 100,
            rooms: false,
        }));
        // The server says it keeps history again: then the app catches up from where it was.
        let (id, catch_up) = one_request(&app.update(info()));
        assert_eq!(
            catch_up,
            ClientMsg::CatchUp {
                room: "lobby".into(),
                after: 10
            }
        );
        app.update(reply(id, caught_up(range(41..=100), Some(gap), true, 0)));
        let mut asked = Vec::new();
        let mut shown = false;
        for _ in 0..10 {
            let rows = screen(&mut app);
            asked = requests(&app.viewed());
            let on_screen = rows.iter().any(|r| r.contains("30 messages not loaded"));
            assert_eq!(
                on_screen,
                !asked.is_empty(),
                "asked exactly when on screen: {rows:#?}"
            );
            if on_screen {
                shown = true;
                break;
            }
            app.update(key(KeyCode::PageUp));
        }
        assert!(shown, "the gap never came on screen");
        match asked.as_slice() {
            [(_, ClientMsg::History { anchor, .. })] => {
                assert_eq!(*anchor, Anchor::Before(41), "from its end next to the view");
            }
            other => panic!("{other:?}"),
        }
        assert!(screen(&mut app).iter().any(|r| r.contains("loading…")));
    }

    /// On a terminal taller than the timeline's window can feed, the ends are not asked for
    /// beyond what the window keeps, so no page is dropped as soon as it comes.
    #[test]
    fn a_huge_terminal_asks_no_more_than_the_window_keeps() {
        const TOP: u64 = 100_000;
        let mut app = app();
        let (id, _) = one_request(&app.update(info()));
        app.update(reply(id, caught_up(range(TOP - 49..=TOP), None, true, 0)));
        let mut asked = 0;
        let mut oldest = TOP - 49;
        for _ in 0..50 {
            draw(&mut app, 80, 2000);
            let requests = requests(&app.viewed());
            let Some((id, ClientMsg::History { anchor, limit, .. })) = requests.first().cloned()
            else {
                break;
            };
            assert_eq!(anchor, Anchor::Before(oldest));
            asked += 1;
            let from = oldest - u64::from(limit);
            app.update(reply(id, page(range(from..=oldest - 1), true, true)));
            oldest = from;
        }
        let held = app.reading.timeline.len();
        assert!(asked >= 5, "asked {asked} pages");
        assert!(
            held <= TIMELINE_CAPACITY / 2 + 100,
            "{held} held after {asked} pages"
        );
        assert_eq!(
            app.reading.timeline.messages().next().map(|m| m.seq),
            Some(oldest),
            "none dropped as it came"
        );
    }

    #[test]
    fn the_newest_seen_is_marked_read_at_most_once_a_second_and_when_leaving() {
        let mut app = caught_up_app();
        screen(&mut app);
        let read = ClientMsg::MarkRead {
            room: "lobby".into(),
            seq: 10,
        };
        assert!(app.viewed().contains(&Command::Send(read)));
        assert_eq!(app.wake_at(), None, "nothing more to mark");
        app.update(live(11));
        screen(&mut app);
        assert!(
            !app.viewed()
                .iter()
                .any(|c| matches!(c, Command::Send(ClientMsg::MarkRead { .. })))
        );
        assert_eq!(app.wake_at(), Some(T + 1000));
        app.now_ms = T + 1000;
        let read = ClientMsg::MarkRead {
            room: "lobby".into(),
            seq: 11,
        };
        assert!(app.viewed().contains(&Command::Send(read)));
        // Reading on moves the marker, not the line.
        assert!(
            screen(&mut app)
                .iter()
                .any(|r| r.contains("2 new messages since"))
        );
        app.update(live(12));
        screen(&mut app);
        app.viewed();
        assert_eq!(
            submit(&mut app, "/quit"),
            [
                Command::Send(ClientMsg::MarkRead {
                    room: "lobby".into(),
                    seq: 12
                }),
                Command::Send(ClientMsg::Quit {
                    reason: String::new()
                }),
                Command::Quit
            ]
        );
    }

    #[test]
    fn the_read_marker_waits_for_what_the_user_sends() {
        let mut app = caught_up_app();
        app.update(Event::Waiting { waiting: 3 });
        screen(&mut app);
        assert!(marked(&app.viewed()).is_empty(), "not while lines wait");
        assert_eq!(app.wake_at(), None, "their going out wakes the app");
        app.now_ms = T + 5000;
        app.update(Event::Waiting { waiting: 0 });
        screen(&mut app);
        assert!(marked(&app.viewed()).is_empty(), "not at once");
        assert_eq!(app.wake_at(), Some(T + 6000));
        app.now_ms = T + 6000;
        assert_eq!(marked(&app.viewed()), [10]);
    }

    /// The read markers among `commands`.
    fn marked(commands: &[Command]) -> Vec<u64> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Send(ClientMsg::MarkRead { seq, .. }) => Some(*seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_view_scrolled_up_marks_read_only_what_it_showed() {
        let mut app = caught_up_app();
        for seq in 11..=40 {
            app.update(live(seq));
        }
        screen(&mut app);
        app.update(key(KeyCode::PageUp));
        app.update(key(KeyCode::PageUp));
        screen(&mut app);
        let marked = marked(&app.viewed());
        assert_eq!(marked.len(), 1);
        assert!(marked[0] < 40, "{marked:?}");
    }

    #[test]
    fn a_failed_request_is_said_once_and_asked_again_later() {
        let mut app = app();
        let (id, _) = one_request(&app.update(info()));
        let refusal = || ServerMsg::Error {
            kind: ErrorKind::NoHistory,
            text: "the history cannot be read".into(),
        };
        app.update(reply(id, refusal()));
        assert_eq!(
            last(&app),
            crate::app::EntryKind::Error(
                "history is not available: the history cannot be read".into()
            )
        );
        screen(&mut app);
        assert!(app.viewed().is_empty(), "not at once");
        app.now_ms = T + RETRY_AFTER_MS;
        let (id, again) = one_request(&app.viewed());
        assert!(matches!(again, ClientMsg::CatchUp { after: 0, .. }));
        let lines = app.scrollback.entries().len();
        app.update(reply(id, refusal()));
        assert_eq!(app.scrollback.entries().len(), lines, "said once");
    }

    /// A server restarted without history: after the reconnect, what is held shows
    /// without markers of what would never load.
    #[test]
    fn back_on_a_server_without_history_no_marker_promises_what_never_loads() {
        let mut app = caught_up_app();
        assert!(
            screen(&mut app)
                .iter()
                .any(|r| r.contains("older messages not loaded"))
        );
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        app.update(Event::Reconnected(chat_client::Welcome {
            nick: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            total: 1,
            seq: 12,
            rooms: false,
        }));
        app.update(live(13));
        let rows = screen(&mut app);
        assert!(!rows.iter().any(|r| r.contains("not loaded")), "{rows:#?}");
        assert!(rows.contains(&"22:13 <bob> m6".to_owned()), "{rows:#?}");
        assert!(rows.contains(&"22:13 <bob> m13".to_owned()), "{rows:#?}");
        assert_eq!(app.viewed(), []);
    }

    #[test]
    fn without_history_the_pane_shows_live_messages_and_asks_nothing() {
        let mut app = app();
        app.update(live(11));
        app.update(live(12));
        let rows = screen(&mut app);
        assert_eq!(rows[2..4], ["22:13 <bob> m11", "22:13 <bob> m12"]);
        assert!(!rows.iter().any(|r| r.contains("not loaded")));
        assert!(app.viewed().is_empty());
        assert_eq!(app.wake_at(), None);
        assert_eq!(
            submit(&mut app, "/quit"),
            [
                Command::Send(ClientMsg::Quit {
                    reason: String::new()
                }),
                Command::Quit
            ]
        );
    }

    #[test]
    fn live_messages_and_catch_up_never_show_one_twice_or_out_of_order() {
        let mut app = app();
        let (id, _) = one_request(&app.update(info()));
        // Live ones arrive before the catch-up's answer, which holds them too.
        app.update(live(12));
        app.update(live(11));
        app.update(reply(id, caught_up(range(1..=12), None, false, 0)));
        app.update(live(12));
        app.update(live(13));
        let seqs: Vec<u64> = app.items().iter().filter_map(|i| i.kind.seq()).collect();
        assert_eq!(seqs, (1..=13).collect::<Vec<_>>());
    }

    #[test]
    fn enter_on_a_hit_loads_the_history_around_it_and_shows_it_highlighted() {
        let mut app = caught_up_app();
        screen(&mut app);
        let (id, _) = one_request(&submit(&mut app, "/search m3"));
        app.update(reply(
            id,
            ServerMsg::SearchHits {
                room: "lobby".into(),
                hits: vec![said(3)],
                more: false,
                complete: true,
            },
        ));
        let rows = screen(&mut app);
        assert!(rows[0].starts_with(" \"m3\" in #lobby: 1 hit"), "{rows:#?}");
        assert_eq!(rows[1], "14 Nov 2023 22:13 <bob> m3");
        let (id, around) = one_request(&app.update(key(KeyCode::Enter)));
        assert!(app.search.is_none());
        assert!(matches!(
            around,
            ClientMsg::History {
                anchor: Anchor::Around(3),
                ..
            }
        ));
        app.update(reply(id, page(range(1..=5), false, true)));
        let rows = screen(&mut app);
        let at = rows.iter().position(|r| r == "22:13 <bob> m3");
        assert!(matches!(at, Some(2..=4)), "{rows:#?}");
        assert_eq!(app.highlight, Some(Key::message(3)));
        // Esc goes back to the newest, and the highlight goes.
        app.update(key(KeyCode::Esc));
        assert!(app.scrollback.state().following());
        assert_eq!(app.highlight, None);
    }

    #[test]
    fn a_hit_deleted_since_is_said_and_not_waited_for() {
        let mut app = caught_up_app();
        let (id, around) = one_request(&app.jump_to(3));
        assert!(matches!(around, ClientMsg::History { .. }));
        // Retention took it: the page around it holds its neighbours only.
        app.update(reply(
            id,
            page(vec![said(2), said(4), said(5)], false, true),
        ));
        assert_eq!(app.scrollback.state().target(), None);
        assert_eq!(app.highlight, None);
        assert_eq!(
            last(&app),
            crate::app::EntryKind::Info("that message is no longer in the room's history".into())
        );
    }

    fn joined4(room: &str, seq: u64) -> ServerMsg {
        ServerMsg::Joined4 {
            room: room.into(),
            seq,
            members: shared::MemberPage {
                total: 1,
                names: vec!["alice".into()],
                more: false,
            },
        }
    }

    /// Between `/join` and its answer, the server has the client in the new room: a page
    /// or a read marker about the old one would come back as `NotInRoom`. The marker due
    /// goes before the `Join`, and nothing follows it.
    #[test]
    fn nothing_is_asked_about_a_room_being_left() {
        let mut app = caught_up_app();
        screen(&mut app);
        let commands = app.viewed();
        assert_eq!(marked(&commands), [10]);
        let (id, _) = one_request(&commands);
        app.update(reply(id, page(range(3..=5), true, true)));
        app.update(live(11));
        screen(&mut app);
        let commands = app.viewed();
        assert!(marked(&commands).is_empty(), "within the second");
        let (id, _) = one_request(&commands);
        app.update(reply(id, page(range(2..=2), true, true)));
        let commands = submit(&mut app, "/join #rust");
        let join_id = match commands.as_slice() {
            [
                Command::Send(ClientMsg::MarkRead { room, seq: 11 }),
                Command::Send(ClientMsg::Request { id, msg }),
            ] if room == "lobby"
                && **msg
                    == ClientMsg::Join {
                        room: "rust".into(),
                    } =>
            {
                *id
            }
            other => panic!("{other:?}"),
        };
        // More said, seen a second later; then scrolled to where older pages load:
        // nothing is asked.
        app.now_ms = T + 5000;
        app.update(live(12));
        screen(&mut app);
        assert_eq!(app.viewed(), [], "no read marker of the lobby");
        for _ in 0..5 {
            app.update(key(KeyCode::PageUp));
            screen(&mut app);
            assert_eq!(app.viewed(), [], "nothing about the lobby");
        }
        assert_eq!(app.wake_at(), None);
        assert_eq!(
            submit(&mut app, "/quit"),
            [
                Command::Send(ClientMsg::Quit {
                    reason: String::new()
                }),
                Command::Quit
            ],
            "no read marker of the lobby"
        );
        // A search hit of the lobby is not loaded either.
        assert_eq!(app.jump_to(3), []);
        assert_eq!(app.scrollback.state().target(), None);
        // The answer: the new room's catch-up.
        let (_, catch_up) = one_request(&app.update(reply(join_id, joined4("rust", 7))));
        assert_eq!(
            catch_up,
            ClientMsg::CatchUp {
                room: "rust".into(),
                after: 0
            }
        );
    }

    /// A join the server refuses leaves the client where it was: its history goes on.
    #[test]
    fn a_refused_join_takes_up_the_room_again() {
        let mut app = caught_up_app();
        let commands = submit(&mut app, "/join #full");
        let Some(Command::Send(ClientMsg::Request { id, .. })) = commands.last() else {
            panic!("{commands:?}");
        };
        screen(&mut app);
        assert_eq!(app.viewed(), []);
        app.update(reply(
            *id,
            ServerMsg::Error {
                kind: ErrorKind::ServerFull,
                text: "the server has too many rooms".into(),
            },
        ));
        assert_eq!(
            last(&app),
            crate::app::EntryKind::Error("server: the server has too many rooms".into())
        );
        screen(&mut app);
        let (_, older) = one_request(&app.viewed());
        assert!(
            matches!(older, ClientMsg::History { ref room, anchor: Anchor::Before(6), .. } if room == "lobby"),
            "{older:?}"
        );
    }

    /// Answers still due for a room left (asked before the `Join`, or after it by a
    /// client that did not know) are dropped when they come, refusals included.
    #[test]
    fn answers_about_a_room_left_are_dropped_silently() {
        let mut app = caught_up_app();
        screen(&mut app);
        let (page_id, _) = one_request(&app.viewed());
        let (search_id, _) = one_request(&submit(&mut app, "/search m"));
        app.update(Event::Server(joined4("rust", 7)));
        let lines = app.scrollback.entries().len();
        let not_in_room = || ServerMsg::Error {
            kind: ErrorKind::NotInRoom,
            text: "you can only ask about the room you are in, rust".into(),
        };
        assert_eq!(app.update(reply(page_id, not_in_room())), []);
        assert_eq!(app.update(reply(search_id, not_in_room())), []);
        assert_eq!(app.scrollback.entries().len(), lines, "no line said");
        assert!(app.search.is_none());
        assert!(!app.items().iter().any(|i| i.kind.seq() == Some(5)));
    }

    /// `/clear` clears the screen, not the history: scrolling up shows what was there,
    /// and loads what is older as ever.
    #[test]
    fn clear_empties_the_screen_and_scrolling_up_brings_the_history_back() {
        let mut app = caught_up_app();
        screen(&mut app);
        let (id, _) = one_request(&app.viewed());
        app.update(reply(id, page(range(3..=5), true, true)));
        submit(&mut app, "/clear");
        app.update(live(11));
        let rows = screen(&mut app);
        assert_eq!(rows[0], "22:13 <bob> m11", "{rows:#?}");
        assert!(rows[1..10].iter().all(|r| r.is_empty()), "{rows:#?}");
        assert_eq!(app.viewed(), [], "nothing above is asked for");
        app.update(key(KeyCode::PageUp));
        let rows = screen(&mut app);
        assert!(rows.contains(&"22:13 <bob> m3".to_owned()), "{rows:#?}");
        assert!(rows.iter().any(|r| r.contains("older messages not loaded")));
        let (_, older) = one_request(&app.viewed());
        assert!(
            matches!(
                older,
                ClientMsg::History {
                    anchor: Anchor::Before(3),
                    ..
                }
            ),
            "{older:?}"
        );
        // Back at the newest, the screen is as /clear left it.
        app.update(key(KeyCode::Esc));
        let rows = screen(&mut app);
        assert_eq!(rows[0], "22:13 <bob> m11", "{rows:#?}");
    }

    /// Typed while disconnected, the `Join` goes out first after the reconnect: the
    /// catch-up of the room the client is back in is answered `NotInRoom`, after the
    /// `Join`'s answer, and dropped.
    #[test]
    fn a_join_typed_while_disconnected_drops_the_old_rooms_answers() {
        let mut app = caught_up_app();
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        let join_id = match submit(&mut app, "/join #rust").as_slice() {
            [Command::Send(ClientMsg::Request { id, msg })]
                if **msg
                    == ClientMsg::Join {
                        room: "rust".into(),
                    } =>
            {
                *id
            }
            other => panic!("{other:?}"),
        };
        app.update(Event::Reconnected(chat_client::Welcome {
            nick: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            total: 1,
            seq: 12,
            rooms: false,
        }));
        let (catch_up_id, _) = one_request(&app.update(info()));
        let (_, catch_up) = one_request(&app.update(reply(join_id, joined4("rust", 7))));
        assert!(matches!(catch_up, ClientMsg::CatchUp { ref room, .. } if room == "rust"));
        let lines = app.scrollback.entries().len();
        let refusal = ServerMsg::Error {
            kind: ErrorKind::NotInRoom,
            text: "you can only ask about the room you are in, rust".into(),
        };
        assert_eq!(app.update(reply(catch_up_id, refusal)), []);
        assert_eq!(app.scrollback.entries().len(), lines, "no line said");
    }

    /// A search hit not held cannot be loaded while disconnected: said, not waited for
    /// (after the reconnect it would be taken for a message deleted since).
    #[test]
    fn a_hit_not_held_cannot_be_shown_while_disconnected() {
        let mut app = caught_up_app();
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        assert_eq!(app.jump_to(3), []);
        assert_eq!(app.scrollback.state().target(), None);
        assert_eq!(
            last(&app),
            crate::app::EntryKind::Info(
                "not connected: that message can be shown once reconnected".into()
            )
        );
        // One held is shown.
        assert_eq!(app.jump_to(7), []);
        assert_eq!(app.highlight, Some(Key::message(7)));
    }

    #[test]
    fn a_new_room_has_a_timeline_of_its_own() {
        let mut app = caught_up_app();
        submit(&mut app, "/search m");
        let (_, catch_up) = one_request(&app.update(Event::Server(ServerMsg::Joined4 {
            room: "rust".into(),
            seq: 7,
            members: shared::MemberPage {
                total: 1,
                names: vec!["alice".into()],
                more: false,
            },
        })));
        assert_eq!(
            catch_up,
            ClientMsg::CatchUp {
                room: "rust".into(),
                after: 0
            }
        );
        let rows = screen(&mut app);
        assert_eq!(
            rows[0],
            "───────────────────────── loading… ─────────────────────────"
        );
        assert!(rows[1].contains("you joined #rust"), "{rows:#?}");
        assert!(!rows.iter().any(|r| r.contains("m10")));
    }
}
