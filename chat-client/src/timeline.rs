//! One room's history as the client holds it: the messages it has, in order of sequence
//! number, and what it knows of the stretches it does not have. Pure data, no I/O: the
//! program feeds it what the server sends and asks it what to request next.
//!
//! # What goes in
//!
//! - [`Timeline::entered`] when the client is (again) in the room: after a welcome, a
//!   reconnect's welcome, or a `Joined4`, with the room's sequence number they carry. It
//!   answers with the [`Request`] to catch up ([`ClientMsg::CatchUp`]).
//! - [`Timeline::live`] for every `Room` frame of the room.
//! - [`Timeline::answered`] with every answer to a [`Request`] the timeline made (a
//!   `CaughtUp`, a `HistoryPage`, or an `Error`), and [`Timeline::left`] when the client is
//!   no longer in the room (disconnected, or it left): answers to what was in flight will
//!   never come, so nothing stays "loading".
//!
//! # What comes out
//!
//! - [`Timeline::items`]: the messages in ascending order, with the markers a view draws
//!   between them: [`Item::Beginning`], [`Item::NotLoaded`] (a gap, with its count when
//!   known, and whether it is loading), [`Item::Lost`] and [`Item::ReadMarker`].
//! - Requests: [`Timeline::older`] and [`Timeline::newer`] (to prefetch as the view nears
//!   the end of what is loaded, or to fill a gap scrolled to), [`Timeline::around`] (to
//!   jump to a search hit). Each returns `None` when there is nothing to ask or it is
//!   already asked; the program decides when to call them.
//! - [`Timeline::caught_up_to`]: the point a catch-up starts from.
//!
//! # How it knows
//!
//! Sequence numbers are covered by spans: `Held` (every message of the room in it is
//! here, except presence messages when they were asked without), `NotLoaded` (messages
//! the server has, not held, counted when known), `Lost` (the server failed to store them;
//! messages that came live may still be held there). What no answer spoke of is unknown,
//! and drawn as not loaded. A span is claimed only from what an answer says exactly (its
//! messages, `more_before`/`more_after`, a catch-up's `gap`, the `seq` of the welcome),
//! never from a page's length. Messages that arrive twice (live, then in a catch-up) are
//! kept once.
//!
//! The catch-up point is the highest sequence number below which everything is covered:
//! what was missed while away lies above it. A live message covers only its own number, so
//! a message that arrives during a catch-up never moves the point past what is unknown.
//!
//! # Memory
//!
//! At most [`Config::capacity`] messages are held, each cut to the protocol's limits
//! ([`crate::clip`]: a hostile server is not held to them): when more arrive, those
//! farthest from the view ([`Timeline::set_view`]) are dropped and their stretch becomes `NotLoaded`
//! again (with its count), so that it can be loaded anew; a dropped start of the room is
//! never taken for the beginning.

use std::collections::BTreeMap;

use shared::{Anchor, ClientMsg, SeqRange, ServerMsg, Stamped};

/// How a timeline behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Most messages held (at least 1): the newest when the view follows the newest, else
    /// half on each side of the view. Make it several pages (five or more), so that a page
    /// just loaded on one side of the view is not dropped at once.
    pub capacity: usize,
    /// Messages asked per page: the server's `HistoryInfo.page`, or less.
    pub page: u32,
    /// Whether pages bring joins, leaves and renames. A catch-up never does.
    pub presence: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            capacity: 5000,
            page: 100,
            presence: false,
        }
    }
}

/// Something a view of the room draws, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// Nothing older exists: the start of the room's history.
    Beginning,
    /// Sequence numbers `from` to `to` are not loaded. `count`: how many messages
    /// (joins, leaves and renames aside) they hold, when known; `loading`: a request for
    /// them is in flight. At the top, it is the older history; in the middle, a gap.
    NotLoaded {
        from: u64,
        to: u64,
        count: Option<u64>,
        loading: bool,
    },
    /// Sequence numbers `from` to `to`: the server failed to store what was said there
    /// (history is incomplete, and asking again will not fill it).
    Lost { from: u64, to: u64 },
    /// What follows is unread: `unread` messages at least (see [`Timeline::unread`]).
    /// Only when something was marked read and something newer is known.
    ReadMarker { unread: u64 },
    /// A message.
    Message(&'a Stamped),
}

/// A request the timeline wants sent. Send [`Request::message`] (with a request id), and
/// give the request back with its answer to [`Timeline::answered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    room: String,
    ask: Ask,
    /// Matches the answer to what is in flight.
    token: u64,
    /// The room's sequence number at entry on the connection the request goes out on:
    /// the server's latest number when it reads the request is at least this.
    entry: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    CatchUp {
        after: u64,
    },
    Page {
        anchor: Anchor,
        limit: u32,
        presence: bool,
    },
}

impl Request {
    /// The frame to send.
    pub fn message(&self) -> ClientMsg {
        match self.ask {
            Ask::CatchUp { after } => ClientMsg::CatchUp {
                room: self.room.clone(),
                after,
            },
            Ask::Page {
                anchor,
                limit,
                presence,
            } => ClientMsg::History {
                room: self.room.clone(),
                anchor,
                limit,
                presence,
            },
        }
    }

    /// The page's anchor; `None` for a catch-up.
    pub fn anchor(&self) -> Option<Anchor> {
        match self.ask {
            Ask::Page { anchor, .. } => Some(anchor),
            Ask::CatchUp { .. } => None,
        }
    }

    /// Where the awaited messages go: the sequence number the request aims at.
    fn target(&self) -> u64 {
        match self.ask {
            Ask::CatchUp { after } => after.saturating_add(1),
            Ask::Page { anchor, .. } => match anchor {
                Anchor::Before(s) => s.saturating_sub(1),
                Anchor::After(s) => s.saturating_add(1),
                Anchor::Around(s) => s,
                Anchor::Latest => u64::MAX,
            },
        }
    }
}

/// What a span of sequence numbers holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Every message in it is held (presence aside when pages leave it out).
    Held,
    /// The server has it, none of it is held; that many messages when known.
    NotLoaded(Option<u64>),
    /// The server failed to store it.
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    to: u64,
    kind: Kind,
}

/// One room's history as the client holds it. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Timeline {
    room: String,
    config: Config,
    messages: BTreeMap<u64, Stamped>,
    /// Disjoint spans by their first sequence number; adjacent spans of one kind are merged.
    spans: BTreeMap<u64, Span>,
    caught_up: u64,
    /// The room's sequence number at entry on the current connection; `None` when out.
    entry: Option<u64>,
    /// The sequence number the view shows; `None`: it follows the newest.
    view: Option<u64>,
    read: u64,
    /// The read marker the server has, as far as this side knows.
    told: u64,
    pending: Vec<Request>,
    next_token: u64,
}

impl Timeline {
    /// An empty timeline of `room` (spelt as the server spells it).
    pub fn new(room: impl Into<String>, config: Config) -> Self {
        Self {
            room: room.into(),
            config: Config {
                capacity: config.capacity.max(1),
                page: config.page.max(1),
                ..config
            },
            messages: BTreeMap::new(),
            spans: BTreeMap::new(),
            caught_up: 0,
            entry: None,
            view: None,
            read: 0,
            told: 0,
            pending: Vec::new(),
            next_token: 0,
        }
    }

    /// The room.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// The configuration.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Messages asked per page from now on (at least 1): the server's `HistoryInfo.page`,
    /// once it has said it.
    pub fn set_page(&mut self, page: u32) {
        self.config.page = page.max(1);
    }

    /// The messages held, in ascending order of sequence number.
    pub fn messages(&self) -> impl DoubleEndedIterator<Item = &Stamped> + '_ {
        self.messages.values()
    }

    /// How many messages are held.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether no message is held.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The message with sequence number `seq`, if held.
    pub fn get(&self, seq: u64) -> Option<&Stamped> {
        self.messages.get(&seq)
    }

    /// The highest sequence number below which nothing is unknown: what a catch-up asks to
    /// follow. 0 until a first catch-up is answered.
    pub fn caught_up_to(&self) -> u64 {
        self.caught_up
    }

    /// Whether the start of the room's history is known (and nothing of it dropped).
    pub fn at_beginning(&self) -> bool {
        // Known from 1 up to the oldest message held, with nothing to load on the way.
        let mut at = 1;
        for (&from, s) in &self.spans {
            if from != at || matches!(s.kind, Kind::NotLoaded(_)) {
                return false;
            }
            if self.messages.range(from..=s.to).next().is_some() {
                return true;
            }
            at = s.to.saturating_add(1);
        }
        at > 1
    }

    /// Whether a request is in flight.
    pub fn loading(&self) -> bool {
        !self.pending.is_empty()
    }

    // ----- what goes in ----------------------------------------------------------------

    /// The client is in the room: a welcome, a reconnect's welcome or a `Joined4` said the
    /// room's latest sequence number is `seq`. Returns the catch-up to send (from
    /// [`Timeline::caught_up_to`], 0 the first time). Requests in flight before are
    /// forgotten: their connection is gone.
    pub fn entered(&mut self, seq: u64) -> Request {
        self.pending.clear();
        self.entry = Some(seq);
        self.request(Ask::CatchUp {
            after: self.caught_up,
        })
    }

    /// The catch-up to send again (after one failed): `None` when out of the room or one is
    /// in flight.
    pub fn catch_up(&mut self) -> Option<Request> {
        self.entry?;
        if self
            .pending
            .iter()
            .any(|p| matches!(p.ask, Ask::CatchUp { .. }))
        {
            return None;
        }
        Some(self.request(Ask::CatchUp {
            after: self.caught_up,
        }))
    }

    /// The client is no longer in the room (disconnected, or it left): what was in flight
    /// is forgotten.
    pub fn left(&mut self) {
        self.pending.clear();
        self.entry = None;
    }

    /// A live `Room` frame of the room. Returns false when it was already held (or lies
    /// where a gap's count would no longer be true, which a server never causes).
    pub fn live(&mut self, mut message: Stamped) -> bool {
        let seq = message.seq;
        if seq == 0 || self.messages.contains_key(&seq) {
            return false;
        }
        if let Some((_, span)) = self.span_at(seq)
            && matches!(span.kind, Kind::NotLoaded(_))
        {
            return false;
        }
        crate::clip::message(&mut message);
        self.messages.insert(seq, message);
        self.cover(seq, seq, Kind::Held);
        self.settle();
        true
    }

    /// The answer to `request`: a `CaughtUp` or `HistoryPage` (unwrapped from its `Reply`),
    /// or an `Error`. Returns false when the answer was not used: the request was no longer
    /// in flight (made before a reconnect), the answer is about another room, or it is an
    /// error (then the request is simply no longer in flight, and can be made again).
    pub fn answered(&mut self, request: &Request, answer: ServerMsg) -> bool {
        let Some(at) = self.pending.iter().position(|p| p.token == request.token) else {
            return false;
        };
        self.pending.swap_remove(at);
        match (request.ask, answer) {
            (
                Ask::CatchUp { after },
                ServerMsg::CaughtUp {
                    room,
                    messages,
                    gap,
                    more_before,
                    read,
                    lost,
                },
            ) if room == self.room => {
                // Every number here may come from the network, up to `u64::MAX`: a number
                // one past another is `None` when there is none (past the last).
                let top = top_of(&messages, request.entry).max(after);
                // Where the messages sent start being all there is.
                let talk_from = match gap {
                    Some(gap) => gap.to.checked_add(1),
                    None if after > 0 => after.checked_add(1),
                    None => messages.first().map_or(top.checked_add(1), |m| Some(m.seq)),
                }
                .map(|from| from.max(1));
                // The messages first, so that a gap's count is cut by what they fill.
                if let Some(from) = talk_from {
                    self.insert(messages, from, top);
                    if from <= top {
                        self.cover(from, top, Kind::Held);
                    }
                }
                if let Some(gap) = gap {
                    // The gap runs from the first message missed to the last one not sent:
                    // what lies around it, up to `after` and to the first sent, holds none.
                    if let Some(next) = after.checked_add(1)
                        && after > 0
                        && gap.from > next
                    {
                        self.cover(next, gap.from - 1, Kind::Held);
                    }
                    self.not_loaded(gap.from, gap.to, Some(gap.count));
                }
                // Older than everything the answer speaks of: only a first catch-up (from
                // 0) says it, by `more_before`.
                let lowest = match (gap, talk_from) {
                    (Some(g), Some(from)) => Some(g.from.min(from)),
                    (Some(g), None) => Some(g.from),
                    (None, from) => from,
                };
                // `None` (all of it) is below the last number.
                let below = lowest.map_or(Some(u64::MAX), |l| l.checked_sub(1));
                if let Some(below) = below
                    && after == 0
                    && below >= 1
                {
                    if more_before {
                        self.not_loaded(1, below, None);
                    } else {
                        self.cover(1, below, Kind::Held);
                    }
                }
                self.lost(&lost);
                self.read = self.read.max(read);
                self.told = read;
                self.settle();
                true
            }
            (
                Ask::Page { anchor, .. },
                ServerMsg::HistoryPage {
                    room,
                    messages,
                    more_before,
                    more_after,
                    lost,
                },
            ) if room == self.room => {
                let first = messages.first().map(|m| m.seq);
                let last = messages.last().map(|m| m.seq);
                let lo = if !more_before {
                    Some(1)
                } else if let Anchor::After(s) = anchor {
                    s.checked_add(1)
                } else {
                    first
                }
                .map(|lo| lo.max(1));
                let hi = if !more_after {
                    let bound = match anchor {
                        Anchor::Before(s) => s.saturating_sub(1),
                        Anchor::After(s) => s,
                        _ => 0,
                    };
                    Some(top_of(&messages, request.entry).max(bound))
                } else if let Anchor::Before(s) = anchor {
                    Some(s.saturating_sub(1))
                } else {
                    last
                };
                if let (Some(lo), Some(hi)) = (lo, hi)
                    && lo <= hi
                {
                    self.insert(messages, lo, hi);
                    self.cover(lo, hi, Kind::Held);
                }
                self.lost(&lost);
                self.settle();
                true
            }
            _ => false,
        }
    }

    /// Forgets `request` without an answer (it could not be sent). It can be made again.
    pub fn forget(&mut self, request: &Request) {
        self.pending.retain(|p| p.token != request.token);
    }

    // ----- the view and what to ask -----------------------------------------------------

    /// The view shows `seq` (`None`: it follows the newest). When more than
    /// [`Config::capacity`] messages are held, those farthest from it are dropped.
    pub fn set_view(&mut self, seq: Option<u64>) {
        self.view = seq;
        self.trim();
    }

    /// The view's position, as last set.
    pub fn view(&self) -> Option<u64> {
        self.view
    }

    /// The page to ask for the messages just older than the loaded stretch that holds (or
    /// ends just above) `seq`: to prefetch as the view nears its top, or to fill the gap
    /// above it. `None` when the beginning is there, that gap is already loading, or the
    /// client is not in the room.
    pub fn older(&mut self, seq: u64) -> Option<Request> {
        self.entry?;
        let (from, to) = self.gap_below(seq)?;
        if self.is_loading(from, to) {
            return None;
        }
        // A stretch up to the last number there is: the newest page.
        let anchor = to.checked_add(1).map_or(Anchor::Latest, Anchor::Before);
        Some(self.page(anchor))
    }

    /// The page to ask for the messages just newer than the loaded stretch that holds (or
    /// ends just below) `seq`: to fill the gap below it as the view scrolls down. `None`
    /// when the stretch reaches the newest (live messages follow), that gap is loading, or
    /// the client is not in the room.
    pub fn newer(&mut self, seq: u64) -> Option<Request> {
        self.entry?;
        let (from, to) = self.gap_above(seq)?;
        if self.is_loading(from, to) {
            return None;
        }
        Some(self.page(Anchor::After(from.saturating_sub(1))))
    }

    /// The page to ask for the messages around `seq` (a search hit), and the view moves
    /// there. `None` when `seq` is held or not in a gap (no request needed: scroll to it),
    /// a request for it is in flight, or the client is not in the room.
    pub fn around(&mut self, seq: u64) -> Option<Request> {
        self.view = Some(seq);
        if self.messages.contains_key(&seq) || self.entry.is_none() {
            return None;
        }
        if self.closed(seq) {
            return None;
        }
        if self.pending.iter().any(|p| p.target() == seq) {
            return None;
        }
        Some(self.page(Anchor::Around(seq)))
    }

    /// How many messages are held older than `seq` before a gap or the beginning: what is
    /// left to scroll through before the view needs [`Timeline::older`].
    pub fn held_above(&self, seq: u64) -> usize {
        let stop = self.gap_below(seq).map_or(0, |(_, to)| to);
        if stop >= seq {
            return 0;
        }
        self.messages.range(stop + 1..seq).count()
    }

    /// How many messages are held newer than `seq` before a gap or the newest.
    pub fn held_below(&self, seq: u64) -> usize {
        let stop = self.gap_above(seq).map_or(u64::MAX, |(from, _)| from);
        if stop <= seq.saturating_add(1) {
            return 0;
        }
        self.messages.range(seq + 1..stop).count()
    }

    // ----- read marker ------------------------------------------------------------------

    /// The highest sequence number marked read (0: none).
    pub fn read(&self) -> u64 {
        self.read
    }

    /// The user has read up to `seq` (the newest message seen; call it as often as the
    /// view likes, and again once a catch-up is answered). Returns the `MarkRead` to send
    /// when the server is not known to have the marker: it moved forward, or a catch-up
    /// said the server has less (a marker sent before a disconnect may have been lost).
    /// `None` while out of the room.
    pub fn mark_read(&mut self, seq: u64) -> Option<ClientMsg> {
        self.read = self.read.max(seq);
        if self.read <= self.told || self.entry.is_none() {
            return None;
        }
        self.told = self.read;
        Some(ClientMsg::MarkRead {
            room: self.room.clone(),
            seq: self.read,
        })
    }

    /// Messages newer than the read marker (joins, leaves and renames aside): those held,
    /// plus the counts of gaps wholly after the marker. At least that many (a gap of
    /// unknown count adds nothing).
    pub fn unread(&self) -> u64 {
        // Nothing follows the last number there is.
        let Some(next) = self.read.checked_add(1) else {
            return 0;
        };
        let held = self
            .messages
            .range(next..)
            .filter(|(_, m)| m.event.is_talk())
            .count() as u64;
        // Counts come from the server: their sum is kept from overflowing.
        self.spans
            .range(next..)
            .filter_map(|(_, s)| match s.kind {
                Kind::NotLoaded(Some(n)) => Some(n),
                _ => None,
            })
            .fold(held, u64::saturating_add)
    }

    // ----- what comes out ---------------------------------------------------------------

    /// Everything a view draws, oldest first. Markers mean something only when the server
    /// keeps history (the feature was granted): without it, a view shows the messages.
    pub fn items(&self) -> Vec<Item<'_>> {
        let mut out = Vec::with_capacity(self.messages.len() + 4);
        if self.at_beginning() {
            out.push(Item::Beginning);
        }
        // The not-loaded stretch being drawn, merged across unknown and `NotLoaded` pieces
        // (and the stretches known empty between them): (from, to, count).
        let mut gap: Option<(u64, u64, Option<u64>)> = None;
        let flush = |out: &mut Vec<Item<'_>>, gap: &mut Option<(u64, u64, Option<u64>)>| {
            if let Some((from, to, count)) = gap.take() {
                out.push(Item::NotLoaded {
                    from,
                    to,
                    count,
                    loading: self.is_loading(from, to),
                });
            }
        };
        let extend = |gap: &mut Option<(u64, u64, Option<u64>)>, from: u64, to: u64, count| {
            *gap = Some(match *gap {
                Some((f, _, c)) => (f, to, add(c, count)),
                None => (from, to, count),
            });
        };
        // The first number not drawn yet; `None` once the last number there is is drawn.
        let mut at = Some(1u64);
        for (from, span) in self.spans.iter().map(|(f, s)| (*f, *s)) {
            let Some(next) = at else { break };
            if from > next {
                extend(&mut gap, next, from - 1, None);
            }
            let mut held = self
                .messages
                .range(from..=span.to)
                .map(|(_, m)| m)
                .peekable();
            match span.kind {
                Kind::NotLoaded(count) => extend(&mut gap, from, span.to, count),
                Kind::Held if held.peek().is_none() => {
                    if let Some((_, to, _)) = &mut gap {
                        *to = span.to;
                    }
                }
                Kind::Held | Kind::Lost => {
                    flush(&mut out, &mut gap);
                    if span.kind == Kind::Lost {
                        out.push(Item::Lost { from, to: span.to });
                    }
                    out.extend(held.map(Item::Message));
                }
            }
            at = span.to.checked_add(1);
        }
        // What is unknown up to the newest number known.
        let end = self.end();
        if let Some(next) = at
            && next <= end
        {
            extend(&mut gap, next, end, None);
        }
        flush(&mut out, &mut gap);
        // The read marker, before the first thing that starts after it.
        let unread = self.unread();
        if self.read > 0 && unread > 0 {
            let start = |item: &Item<'_>| match *item {
                Item::Message(m) => m.seq,
                Item::NotLoaded { from, .. } | Item::Lost { from, .. } => from,
                Item::Beginning | Item::ReadMarker { .. } => 0,
            };
            if let Some(at) = out.iter().position(|i| start(i) > self.read) {
                out.insert(at, Item::ReadMarker { unread });
            }
        }
        out
    }

    /// The stretches of sequence numbers known, for tests and diagnostics: `(from, to,
    /// what)`, where `what` is `"held"`, `"lost"` or `"not loaded"`.
    pub fn spans(&self) -> impl Iterator<Item = (u64, u64, &'static str)> + '_ {
        self.spans.iter().map(|(from, s)| {
            let what = match s.kind {
                Kind::Held => "held",
                Kind::Lost => "lost",
                Kind::NotLoaded(_) => "not loaded",
            };
            (*from, s.to, what)
        })
    }

    // ----- inside -----------------------------------------------------------------------

    fn request(&mut self, ask: Ask) -> Request {
        self.next_token += 1;
        let request = Request {
            room: self.room.clone(),
            ask,
            token: self.next_token,
            entry: self.entry,
        };
        self.pending.push(request.clone());
        request
    }

    fn page(&mut self, anchor: Anchor) -> Request {
        self.request(Ask::Page {
            anchor,
            limit: self.config.page,
            presence: self.config.presence,
        })
    }

    fn is_loading(&self, from: u64, to: u64) -> bool {
        self.pending
            .iter()
            .any(|p| (from..=to).contains(&p.target()))
    }

    /// The span that holds `seq`.
    fn span_at(&self, seq: u64) -> Option<(u64, Span)> {
        self.spans
            .range(..=seq)
            .next_back()
            .filter(|(_, s)| s.to >= seq)
            .map(|(f, s)| (*f, *s))
    }

    /// The highest sequence number anything is known of (a span, or the entry).
    fn end(&self) -> u64 {
        self.spans
            .last_key_value()
            .map_or(0, |(_, s)| s.to)
            .max(self.entry.unwrap_or(0))
    }

    /// Whether `seq` (in `1..=end`) is held or lost: not something to load.
    fn closed(&self, seq: u64) -> bool {
        matches!(self.span_at(seq), Some((_, s)) if matches!(s.kind, Kind::Held | Kind::Lost))
    }

    /// The lowest number of the not-loaded stretch that holds `seq`.
    fn open_down(&self, mut seq: u64) -> u64 {
        while seq > 1 {
            match self.span_at(seq - 1) {
                Some((_, s)) if s.kind == Kind::Held || s.kind == Kind::Lost => return seq,
                Some((from, _)) => seq = from,
                None => {
                    seq = self
                        .spans
                        .range(..seq)
                        .next_back()
                        .map_or(1, |(_, s)| s.to.saturating_add(1));
                }
            }
        }
        1
    }

    /// The highest number of the not-loaded stretch that holds `seq`, at most `end`.
    fn open_up(&self, mut seq: u64, end: u64) -> u64 {
        while seq < end {
            match self.span_at(seq + 1) {
                Some((_, s)) if s.kind == Kind::Held || s.kind == Kind::Lost => return seq,
                Some((_, s)) => seq = s.to,
                None => {
                    seq = self
                        .spans
                        .range(seq + 1..)
                        .next()
                        .map_or(end, |(from, _)| from - 1)
                        .min(end);
                }
            }
        }
        seq.min(end)
    }

    /// The not-loaded stretch that holds `seq`, or else the first one below it past the
    /// held and lost spans: `(from, to)`. `None` when those reach the beginning.
    fn gap_below(&self, seq: u64) -> Option<(u64, u64)> {
        let end = self.end();
        let mut at = seq.min(end.saturating_add(1));
        if at == 0 {
            return None;
        }
        if at <= end && !self.closed(at) {
            return Some((self.open_down(at), self.open_up(at, end)));
        }
        loop {
            let below = at - 1;
            if below == 0 {
                return None;
            }
            match self.span_at(below) {
                Some((from, s)) if s.kind == Kind::Held || s.kind == Kind::Lost => at = from,
                _ => return Some((self.open_down(below), below)),
            }
        }
    }

    /// The not-loaded stretch that holds `seq`, or else the first one above it past the
    /// held and lost spans: `(from, to)`. `None` when those reach the newest known.
    fn gap_above(&self, seq: u64) -> Option<(u64, u64)> {
        let end = self.end();
        let mut at = seq.max(1);
        if at > end {
            return None;
        }
        if !self.closed(at) {
            return Some((self.open_down(at), self.open_up(at, end)));
        }
        loop {
            at = self.span_at(at).map_or(at, |(_, s)| s.to);
            let above = at.checked_add(1)?;
            if above > end {
                return None;
            }
            if !self.closed(above) {
                return Some((above, self.open_up(above, end)));
            }
            at = above;
        }
    }

    /// Keeps the messages of an answer that covers `from..=to` (a server sends no other).
    fn insert(&mut self, messages: Vec<Stamped>, from: u64, to: u64) {
        for mut m in messages {
            if (from..=to).contains(&m.seq) && !self.messages.contains_key(&m.seq) {
                crate::clip::message(&mut m);
                self.messages.insert(m.seq, m);
            }
        }
    }

    fn lost(&mut self, lost: &[SeqRange]) {
        for r in lost {
            if r.from >= 1 && r.from <= r.to {
                self.cover(r.from, r.to, Kind::Lost);
            }
        }
    }

    /// Marks the unknown parts of `from..=to` as not loaded, and parts known as not loaded
    /// with their count renewed. `count` holds for the whole stretch: the parts get it
    /// less what is held in it when they are one piece, and no count otherwise.
    fn not_loaded(&mut self, from: u64, to: u64, count: Option<u64>) {
        if from > to || from == 0 {
            return;
        }
        let pieces = self.pieces(from, to);
        let mut open: Vec<(u64, u64)> = Vec::new();
        for (a, b, k) in pieces {
            if matches!(k, None | Some(Kind::NotLoaded(_))) {
                match open.last_mut() {
                    Some(last) if last.1.checked_add(1) == Some(a) => last.1 = b,
                    _ => open.push((a, b)),
                }
            }
        }
        let held = self.talk_in(from, to);
        let count = match open.as_slice() {
            [_] => count.map(|n| n.saturating_sub(held)),
            _ => None,
        };
        for (a, b) in open {
            self.cover(a, b, Kind::NotLoaded(count));
        }
    }

    /// The parts of `from..=to`: `(a, b, kind)`, `None` where nothing is known.
    fn pieces(&self, from: u64, to: u64) -> Vec<(u64, u64, Option<Kind>)> {
        let mut out = Vec::new();
        let mut at = from;
        let start = self.span_at(from).map_or(from, |(f, _)| f);
        for (&f, s) in self.spans.range(start..=to) {
            let a = f.max(from);
            if a > at {
                out.push((at, a - 1, None));
            }
            let b = s.to.min(to);
            out.push((a, b, Some(s.kind)));
            at = b.saturating_add(1);
            if b == u64::MAX {
                return out;
            }
        }
        if at <= to {
            out.push((at, to, None));
        }
        out
    }

    /// Sets `from..=to` to `kind`. `Held` never overrides `Lost` (a stretch the server
    /// lost stays marked). A `NotLoaded` span cut by `Held` at one end keeps its count less
    /// the messages now held in the part cut off (they were what it counted); cut in two,
    /// or by something else, its count is no longer known.
    fn cover(&mut self, from: u64, to: u64, kind: Kind) {
        // Sequence numbers start at 1; a stretch ends after it starts.
        let from = from.max(1);
        if from > to {
            return;
        }
        if kind == Kind::Held {
            for (a, b, k) in self.pieces(from, to) {
                if k != Some(Kind::Lost) && k != Some(Kind::Held) {
                    self.set(a, b, Kind::Held);
                }
            }
        } else {
            self.set(from, to, kind);
        }
        self.merge_around(from, to);
    }

    fn set(&mut self, from: u64, to: u64, kind: Kind) {
        // Cut the span that starts before `from` and the one that ends after `to`.
        let mut left: Option<(u64, Span)> = None;
        let mut right: Option<(u64, Span)> = None;
        if let Some((f, s)) = self.span_at(from)
            && f < from
        {
            left = Some((f, s));
        }
        if let Some((f, s)) = self.span_at(to)
            && s.to > to
        {
            right = Some((f, s));
        }
        let inside: Vec<u64> = self.spans.range(from..=to).map(|(f, _)| *f).collect();
        for f in inside {
            self.spans.remove(&f);
        }
        let both = matches!((left, right), (Some((a, _)), Some((b, _))) if a == b);
        if let Some((f, s)) = left {
            let k = match s.kind {
                Kind::NotLoaded(c) if !both && kind == Kind::Held => {
                    Kind::NotLoaded(c.map(|n| n.saturating_sub(self.talk_in(from, s.to))))
                }
                Kind::NotLoaded(_) => Kind::NotLoaded(None),
                k => k,
            };
            self.spans.insert(
                f,
                Span {
                    to: from - 1,
                    kind: k,
                },
            );
        }
        if let Some((f, s)) = right {
            let k = match s.kind {
                Kind::NotLoaded(c) if !both && kind == Kind::Held => {
                    Kind::NotLoaded(c.map(|n| n.saturating_sub(self.talk_in(f, to))))
                }
                Kind::NotLoaded(_) => Kind::NotLoaded(None),
                k => k,
            };
            self.spans.insert(to + 1, Span { to: s.to, kind: k });
        }
        self.spans.insert(from, Span { to, kind });
    }

    /// Merges adjacent spans of one kind around `from..=to`.
    fn merge_around(&mut self, from: u64, to: u64) {
        let start = self
            .spans
            .range(..from)
            .next_back()
            .map_or(from, |(f, _)| *f);
        let keys: Vec<u64> = self
            .spans
            .range(start..)
            .take_while(|(f, _)| **f <= to.saturating_add(1))
            .map(|(f, _)| *f)
            .collect();
        let mut current: Option<(u64, Span)> = None;
        for f in keys {
            let s = self.spans[&f];
            match current {
                Some((cf, cs)) if cs.to.checked_add(1) == Some(f) => {
                    let merged = match (cs.kind, s.kind) {
                        (Kind::Held, Kind::Held) => Some(Kind::Held),
                        (Kind::Lost, Kind::Lost) => Some(Kind::Lost),
                        (Kind::NotLoaded(a), Kind::NotLoaded(b)) => {
                            Some(Kind::NotLoaded(add(a, b)))
                        }
                        _ => None,
                    };
                    if let Some(kind) = merged {
                        self.spans.remove(&f);
                        let span = Span { to: s.to, kind };
                        self.spans.insert(cf, span);
                        current = Some((cf, span));
                        continue;
                    }
                    current = Some((f, s));
                }
                _ => current = Some((f, s)),
            }
        }
    }

    /// Messages held in `from..=to` that count: talk, as gap counts count
    /// ([`RoomEvent::is_talk`](shared::RoomEvent::is_talk)).
    fn talk_in(&self, from: u64, to: u64) -> u64 {
        if from > to {
            return 0;
        }
        self.messages
            .range(from..=to)
            .filter(|(_, m)| m.event.is_talk())
            .count() as u64
    }

    /// After every change: move the catch-up point, and keep within capacity.
    fn settle(&mut self) {
        while let Some(next) = self.caught_up.checked_add(1)
            && let Some((_, s)) = self.span_at(next)
        {
            self.caught_up = s.to;
        }
        self.trim();
    }

    /// Drops the messages farthest from the view beyond capacity; their stretches become
    /// not loaded, counted. It drops an eighth of the capacity more than needed, so that a
    /// timeline at capacity is not walked again for every live message.
    fn trim(&mut self) {
        let len = self.messages.len();
        if len <= self.config.capacity {
            return;
        }
        let cap = self.config.capacity - self.config.capacity / 8;
        // Keep `cap` messages: the newest when following, else centred on the view.
        let first_kept = match self.view {
            None => len - cap,
            Some(v) => {
                let rank = self.messages.range(..v).count();
                rank.saturating_sub(cap / 2).min(len - cap)
            }
        };
        let seqs: Vec<u64> = self.messages.keys().copied().collect();
        let lo = seqs[first_kept];
        let hi = seqs[first_kept + cap - 1];
        if first_kept > 0 {
            self.drop_range(1, lo - 1);
        }
        if first_kept + cap < len {
            self.drop_range(hi + 1, u64::MAX);
        }
    }

    /// Drops the messages of `from..=to`: held stretches there become not loaded, and so
    /// do lost ones (a page that covers them again says them again), so that the spans a
    /// server's answers made stay within the window too.
    fn drop_range(&mut self, from: u64, to: u64) {
        for (a, b, k) in self.pieces(from, to) {
            if matches!(k, Some(Kind::Held | Kind::Lost)) {
                let n = self.talk_in(a, b);
                self.set(a, b, Kind::NotLoaded(Some(n)));
            }
        }
        let seqs: Vec<u64> = self.messages.range(from..=to).map(|(s, _)| *s).collect();
        for s in seqs {
            self.messages.remove(&s);
        }
        self.merge_around(from, to.min(u64::MAX - 1));
    }
}

/// The top of what an answer covers: its last message, and at least the room's number at
/// entry on the connection it was asked on.
fn top_of(messages: &[Stamped], entry: Option<u64>) -> u64 {
    messages.last().map_or(0, |m| m.seq).max(entry.unwrap_or(0))
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(a?.saturating_add(b?))
}
