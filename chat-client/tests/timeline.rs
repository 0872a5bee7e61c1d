//! The timeline driven hard: random interleavings of live messages, disconnects, catch-ups,
//! pages (before, after, around), failed requests, view moves and trims, against a model
//! server that answers as the protocol says. After every step the timeline must hold no
//! duplicate and nothing out of order, every message it was given must still be there (or
//! be remembered as not loaded), and every marker must tell the truth. At the end, paging
//! up to the beginning and back down must show every stored message once, in order.

use std::collections::{BTreeMap, BTreeSet};

use chat_client::shared::{
    Anchor, ChatKind, ClientMsg, ErrorKind, Gap, RoomEvent, SeqRange, ServerMsg, Stamped,
};
use chat_client::timeline::{Config, Item, Request, Timeline};
use proptest::prelude::*;

const ROOM: &str = "ops";

/// The room as the server keeps it.
#[derive(Debug, Default)]
struct Server {
    /// Every message stamped: seq -> (message, stored). A message not stored is lost.
    all: BTreeMap<u64, (Stamped, bool)>,
    last: u64,
    page: u32,
    catch_up: u32,
    backlog: u32,
    /// After 0, whether the older history shows as a gap from 1 (else `more_before`).
    gap_from_start: bool,
    read: u64,
}

fn message(seq: u64, talk: bool) -> Stamped {
    let event = if talk {
        RoomEvent::Said {
            from: "ann".into(),
            kind: ChatKind::Say,
            text: format!("m{seq}"),
        }
    } else {
        RoomEvent::Joined {
            nick: format!("n{seq}"),
        }
    };
    Stamped {
        id: seq,
        seq,
        time_ms: seq.saturating_mul(1000),
        event,
    }
}

impl Server {
    fn stamp(&mut self, talk: bool, stored: bool, jump: u64) -> Stamped {
        self.last += 1 + jump;
        let m = message(self.last, talk);
        self.all.insert(self.last, (m.clone(), stored));
        m
    }

    /// What history answers from: stored talk (pages here leave presence out).
    fn talk(&self) -> impl DoubleEndedIterator<Item = &Stamped> + '_ {
        self.all
            .values()
            .filter(|(m, stored)| *stored && m.event.is_talk())
            .map(|(m, _)| m)
    }

    fn lost_in(&self, from: u64, to: u64) -> Vec<SeqRange> {
        if from > to {
            return Vec::new();
        }
        self.all
            .range(from..=to)
            .filter(|(_, (_, stored))| !stored)
            .map(|(s, _)| SeqRange { from: *s, to: *s })
            .collect()
    }

    fn answer(&self, msg: &ClientMsg) -> ServerMsg {
        match msg {
            ClientMsg::CatchUp { room, after } => {
                assert_eq!(room, ROOM);
                let after = *after;
                let newer: Vec<&Stamped> = self.talk().filter(|m| m.seq > after).collect();
                let cap = if after == 0 {
                    self.backlog
                } else {
                    self.catch_up
                } as usize;
                let sent: Vec<Stamped> = newer[newer.len().saturating_sub(cap)..]
                    .iter()
                    .map(|m| (*m).clone())
                    .collect();
                let first = sent.first().map_or(self.last + 1, |m| m.seq);
                let unsent = (newer.len() - sent.len()) as u64;
                // As the server says it: from the first message missed to the last not
                // sent (a first join gets none, unless this server says one from 1).
                let gap = (unsent > 0 && (after > 0 || self.gap_from_start)).then(|| Gap {
                    from: if after == 0 { 1 } else { newer[0].seq },
                    to: newer[newer.len() - sent.len() - 1].seq,
                    count: unsent,
                });
                let below = gap.map_or(first, |g| g.from);
                ServerMsg::CaughtUp {
                    room: ROOM.into(),
                    more_before: self.talk().any(|m| m.seq < below),
                    lost: self.lost_in(after + 1, self.last),
                    messages: sent,
                    gap,
                    read: self.read,
                }
            }
            ClientMsg::History {
                room,
                anchor,
                limit,
                presence,
            } => {
                assert_eq!(room, ROOM);
                assert!(!presence);
                let limit = (*limit).min(self.page) as usize;
                let talk: Vec<&Stamped> = self.talk().collect();
                let (lo, hi) = match *anchor {
                    Anchor::Latest => (talk.len().saturating_sub(limit), talk.len()),
                    Anchor::Before(s) => {
                        let end = talk.partition_point(|m| m.seq < s);
                        (end.saturating_sub(limit), end)
                    }
                    Anchor::After(s) => {
                        let start = talk.partition_point(|m| m.seq <= s);
                        (start, (start + limit).min(talk.len()))
                    }
                    Anchor::Around(s) => {
                        let mid = talk.partition_point(|m| m.seq < s);
                        let before = limit / 2;
                        let lo = mid.saturating_sub(before);
                        (lo, (lo + limit).min(talk.len()))
                    }
                };
                let messages: Vec<Stamped> = talk[lo..hi].iter().map(|m| (*m).clone()).collect();
                // The page's span: what it speaks for, from its anchor to its far end.
                let (more_before, more_after) = (lo > 0, hi < talk.len());
                let span_lo = match *anchor {
                    _ if !more_before => 1,
                    Anchor::After(s) => s + 1,
                    _ => messages.first().map_or(u64::MAX, |m| m.seq),
                };
                let span_hi = match *anchor {
                    _ if !more_after => self.last,
                    Anchor::Before(s) => s - 1,
                    _ => messages.last().map_or(0, |m| m.seq),
                };
                ServerMsg::HistoryPage {
                    room: ROOM.into(),
                    more_before,
                    more_after,
                    lost: self.lost_in(span_lo, span_hi),
                    messages,
                }
            }
            other => panic!("not a history request: {other:?}"),
        }
    }
}

/// One step of a run.
#[derive(Debug, Clone)]
enum Op {
    /// A message is stamped (talk or presence, stored or lost, after a jump of the room's
    /// numbers); a connected client gets it live.
    Say {
        talk: bool,
        lost: bool,
        jump: bool,
    },
    Disconnect,
    /// The client comes back (its own join takes a number it does not get).
    Reconnect,
    Older {
        pick: usize,
    },
    Newer {
        pick: usize,
    },
    Around {
        pick: usize,
    },
    /// The server reads a request: its answer is fixed now, sent later.
    Serve {
        pick: usize,
    },
    /// An answer read earlier arrives.
    Deliver {
        pick: usize,
    },
    /// A request fails.
    Fail {
        pick: usize,
    },
    View {
        pick: Option<usize>,
    },
    /// The user reads up to a point; the marker sent may be lost with the connection.
    Read {
        pick: usize,
        lose: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), prop::bool::weighted(0.05), prop::bool::weighted(0.03))
            .prop_map(|(talk, lost, jump)| Op::Say { talk: talk || !lost, lost, jump }),
        1 => Just(Op::Disconnect),
        1 => Just(Op::Reconnect),
        2 => any::<usize>().prop_map(|pick| Op::Older { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Newer { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Around { pick }),
        4 => any::<usize>().prop_map(|pick| Op::Serve { pick }),
        4 => any::<usize>().prop_map(|pick| Op::Deliver { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Fail { pick }),
        1 => prop::option::of(any::<usize>()).prop_map(|pick| Op::View { pick }),
        1 => (any::<usize>(), prop::bool::weighted(0.2)).prop_map(|(pick, lose)| Op::Read { pick, lose }),
    ]
}

/// A run: the server's settings, the timeline's, and the steps.
#[derive(Debug, Clone)]
struct Case {
    page: u32,
    catch_up: u32,
    backlog: u32,
    capacity: usize,
    gap_from_start: bool,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u32..7,
        1u32..9,
        0u32..9,
        4usize..40,
        any::<bool>(),
        prop::collection::vec(op(), 1..160),
    )
        .prop_map(
            |(page, catch_up, backlog, capacity, gap_from_start, ops)| Case {
                page,
                catch_up,
                backlog,
                capacity,
                gap_from_start,
                ops,
            },
        )
}

/// The client side of a run: the timeline, and what the model knows about it.
struct Run {
    server: Server,
    tl: Timeline,
    connected: bool,
    entry: u64,
    /// Requests sent, not read yet.
    sent: Vec<Request>,
    /// Requests read, with their answers, not delivered yet.
    read: Vec<(Request, ServerMsg)>,
    /// Every message the timeline took in.
    given: BTreeSet<u64>,
    /// Whether any message was lost (counts are checked only without).
    any_lost: bool,
    /// Whether a read marker was lost since the last catch-up.
    read_lost: bool,
}

impl Run {
    fn new(c: &Case) -> Self {
        Run {
            server: Server {
                page: c.page,
                catch_up: c.catch_up,
                backlog: c.backlog,
                gap_from_start: c.gap_from_start,
                ..Server::default()
            },
            tl: Timeline::new(
                ROOM,
                Config {
                    capacity: c.capacity,
                    page: c.page,
                    presence: false,
                },
            ),
            connected: false,
            entry: 0,
            sent: Vec::new(),
            read: Vec::new(),
            given: BTreeSet::new(),
            any_lost: false,
            read_lost: false,
        }
    }

    fn connect(&mut self) {
        // The client's own join: stamped first, and the welcome names its number.
        self.server.stamp(false, true, 0);
        self.entry = self.server.last;
        self.connected = true;
        let catch_up = self.tl.entered(self.entry);
        assert_eq!(
            catch_up.message(),
            ClientMsg::CatchUp {
                room: ROOM.into(),
                after: self.tl.caught_up_to()
            }
        );
        self.sent.clear();
        self.read.clear();
        self.sent.push(catch_up);
    }

    fn seq_at(&self, pick: usize) -> u64 {
        1 + (pick as u64) % self.server.last.max(1)
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Say { talk, lost, jump } => {
                let m = self.server.stamp(talk, !lost, if jump { 7 } else { 0 });
                self.any_lost |= lost;
                if self.connected {
                    let seq = m.seq;
                    self.tl.live(m);
                    self.given.insert(seq);
                }
            }
            Op::Disconnect => {
                self.connected = false;
                self.sent.clear();
                self.read.clear();
                self.tl.left();
            }
            Op::Reconnect => {
                if !self.connected {
                    self.connect();
                }
            }
            Op::Older { pick } | Op::Newer { pick } | Op::Around { pick } => {
                if !self.connected {
                    return;
                }
                let seq = self.seq_at(pick);
                let request = match op {
                    Op::Older { .. } => self.tl.older(seq),
                    Op::Newer { .. } => self.tl.newer(seq),
                    _ => self.tl.around(seq),
                };
                self.sent.extend(request);
            }
            Op::Serve { pick } => {
                if !self.sent.is_empty() {
                    let request = self.sent.remove(pick % self.sent.len());
                    let answer = self.server.answer(&request.message());
                    self.read.push((request, answer));
                }
            }
            Op::Deliver { pick } => {
                if !self.read.is_empty() {
                    let (request, answer) = self.read.remove(pick % self.read.len());
                    self.deliver(&request, answer);
                }
            }
            Op::Fail { pick } => {
                if !self.sent.is_empty() {
                    let request = self.sent.remove(pick % self.sent.len());
                    let error = ServerMsg::Error {
                        kind: ErrorKind::NoHistory,
                        text: "no".into(),
                    };
                    assert!(!self.tl.answered(&request, error));
                }
            }
            Op::View { pick } => {
                let seq = pick.map(|p| self.seq_at(p));
                self.tl.set_view(seq);
            }
            Op::Read { pick, lose } => {
                let seq = self.seq_at(pick);
                let before = self.tl.read();
                let msg = self.tl.mark_read(seq);
                assert_eq!(self.tl.read(), before.max(seq));
                if let Some(msg) = msg {
                    assert!(self.connected);
                    assert_eq!(
                        msg,
                        ClientMsg::MarkRead {
                            room: ROOM.into(),
                            seq: self.tl.read()
                        }
                    );
                    if lose {
                        self.read_lost = true;
                    } else {
                        self.server.read = self.server.read.max(self.tl.read());
                    }
                } else if self.connected {
                    // Not sent: the server is known to have it already.
                    assert!(self.server.read >= self.tl.read() || self.read_lost);
                }
            }
        }
    }

    fn deliver(&mut self, request: &Request, answer: ServerMsg) {
        let is_catch_up = matches!(request.message(), ClientMsg::CatchUp { .. });
        let seqs: Vec<u64> = match &answer {
            ServerMsg::CaughtUp { messages, .. } | ServerMsg::HistoryPage { messages, .. } => {
                messages.iter().map(|m| m.seq).collect()
            }
            _ => Vec::new(),
        };
        assert!(
            self.tl.answered(request, answer),
            "a pending answer is used"
        );
        self.given.extend(seqs);
        if is_catch_up {
            self.read_lost = false;
            // Everything up to the welcome is now accounted for.
            assert!(
                self.tl.caught_up_to() >= self.entry,
                "catch-up point {} below the entry {}",
                self.tl.caught_up_to(),
                self.entry
            );
        }
    }

    /// Every invariant, after every step.
    fn check(&self) {
        let tl = &self.tl;
        assert!(tl.len() <= tl.config().capacity, "over capacity");
        let spans: Vec<(u64, u64, &str)> = tl.spans().collect();
        // Spans are disjoint and ordered.
        for w in spans.windows(2) {
            assert!(w[0].1 < w[1].0, "spans overlap: {spans:?}");
        }
        let span_of = |seq: u64| spans.iter().find(|(f, t, _)| *f <= seq && seq <= *t);
        // Held messages are the server's, each one in a held or lost span.
        for m in tl.messages() {
            assert_eq!(&self.server.all[&m.seq].0, m);
            let (_, _, what) = span_of(m.seq).expect("a held message is covered");
            assert_ne!(
                *what, "not loaded",
                "a not-loaded span holds message {}",
                m.seq
            );
        }
        // A held span holds every stored message the pages bring.
        for &(from, to, what) in &spans {
            if what == "held" {
                for m in self.server.talk().filter(|m| (from..=to).contains(&m.seq)) {
                    assert!(
                        tl.get(m.seq).is_some(),
                        "held span {from}..{to} misses {}",
                        m.seq
                    );
                }
            }
        }
        // Nothing given is forgotten: still held, or remembered as not loaded or lost.
        for &seq in &self.given {
            if tl.get(seq).is_none() {
                let talk = self.server.all[&seq].0.event.is_talk();
                match span_of(seq) {
                    Some((_, _, "not loaded" | "lost")) => {}
                    // Dropped, then loaded again by a page without presence.
                    Some((_, _, "held")) if !talk => {}
                    other => panic!("message {seq} was given and is gone ({other:?})"),
                }
            }
        }
        // Below the catch-up point, everything is covered.
        let p = tl.caught_up_to();
        let mut at = 1;
        for &(from, to, _) in &spans {
            if from > p {
                break;
            }
            assert_eq!(from, at, "hole below the catch-up point {p}: {spans:?}");
            at = to + 1;
        }
        assert!(
            p == 0 || at > p,
            "catch-up point {p} past the spans {spans:?}"
        );
        // The items: messages strictly increasing, markers in place and true.
        let items = tl.items();
        let mut last = 0u64;
        let mut prev_gap = false;
        for (i, item) in items.iter().enumerate() {
            match *item {
                Item::Beginning => {
                    assert_eq!(i, 0);
                    assert!(tl.at_beginning());
                    let first = tl.messages().next().map_or(0, |m| m.seq);
                    assert!(
                        self.server
                            .talk()
                            .all(|m| m.seq >= first || tl.get(m.seq).is_some()),
                        "beginning shown with older messages unloaded"
                    );
                }
                Item::Message(m) => {
                    assert!(m.seq > last, "order: {} after {last}", m.seq);
                    last = m.seq;
                    prev_gap = false;
                }
                Item::NotLoaded {
                    from, to, count, ..
                } => {
                    assert!(!prev_gap, "two gaps in a row");
                    assert!(from > last && from <= to, "gap {from}..{to} after {last}");
                    last = to;
                    prev_gap = true;
                    if let (Some(n), false) = (count, self.any_lost) {
                        let real = self
                            .server
                            .talk()
                            .filter(|m| (from..=to).contains(&m.seq))
                            .count();
                        assert_eq!(n, real as u64, "count of gap {from}..{to}");
                    }
                }
                Item::Lost { from, to } => {
                    assert!(from > last || last == 0, "lost {from}..{to} after {last}");
                    assert!((from..=to).all(|s| self.server.all.get(&s).is_none_or(|(_, st)| !st)));
                    prev_gap = false;
                }
                Item::ReadMarker { unread } => {
                    // Between the last item that starts at or before the marker and the
                    // first that starts after it.
                    assert!(unread > 0);
                    let start = |item: &Item| match *item {
                        Item::Message(m) => m.seq,
                        Item::NotLoaded { from, .. } | Item::Lost { from, .. } => from,
                        _ => 0,
                    };
                    assert!(i == 0 || start(&items[i - 1]) <= tl.read());
                    assert!(items.get(i + 1).is_some_and(|next| start(next) > tl.read()));
                }
            }
        }
    }
}

fn run(c: &Case) -> Run {
    let mut run = Run::new(c);
    run.connect();
    for op in &c.ops {
        run.step(op);
        run.check();
    }
    run
}

/// Serves and delivers everything in flight.
fn drain(run: &mut Run) {
    while let Some(request) = run.sent.pop() {
        let answer = run.server.answer(&request.message());
        run.deliver(&request, answer);
        run.check();
    }
    while let Some((request, answer)) = run.read.pop() {
        run.deliver(&request, answer);
        run.check();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn any_mix_keeps_order_and_tells_the_truth(c in case()) {
        exercise(&c)?;
    }
}

/// A run, then a scroll to the beginning and back.
fn exercise(c: &Case) -> Result<(), TestCaseError> {
    let mut run = run(c);
    if !run.connected {
        run.connect();
    }
    // A catch-up that failed is asked again.
    run.sent.extend(run.tl.catch_up());
    drain(&mut run);
    // Caught up: everything the server stamped is accounted for.
    prop_assert!(run.tl.caught_up_to() >= run.entry);

    // Page up to the beginning, then back down to the newest: every stored message is
    // seen, once each way, in order.
    let stored: Vec<u64> = run.server.talk().map(|m| m.seq).collect();
    let mut seen_up: Vec<u64> = Vec::new();
    let mut view = run.server.last + 1;
    for _ in 0..10_000 {
        run.tl.set_view(Some(view));
        let above = run.tl.held_above(view);
        let stretch: Vec<u64> = run
            .tl
            .messages()
            .rev()
            .map(|m| m.seq)
            .filter(|s| *s < view)
            .take(above)
            .collect();
        seen_up.extend(
            stretch
                .iter()
                .copied()
                .filter(|s| stored.binary_search(s).is_ok()),
        );
        view = stretch.last().copied().unwrap_or(view);
        run.tl.set_view(Some(view));
        let Some(request) = run.tl.older(view) else {
            break;
        };
        let answer = run.server.answer(&request.message());
        run.deliver(&request, answer);
        run.check();
    }
    let items = run.tl.items();
    prop_assert_eq!(items.first(), Some(&Item::Beginning));
    drop(items);
    seen_up.reverse();
    prop_assert_eq!(&seen_up, &stored, "scrolling up: each once, in order");

    let mut seen_down: Vec<u64> = Vec::new();
    let mut at = 0u64;
    for _ in 0..10_000 {
        run.tl.set_view(Some(at.max(1)));
        let below = run.tl.held_below(at);
        let stretch: Vec<u64> = run
            .tl
            .messages()
            .map(|m| m.seq)
            .filter(|s| *s > at)
            .take(below)
            .collect();
        seen_down.extend(
            stretch
                .iter()
                .copied()
                .filter(|s| stored.binary_search(s).is_ok()),
        );
        at = stretch.last().copied().unwrap_or(at);
        run.tl.set_view(Some(at.max(1)));
        let Some(request) = run.tl.newer(at) else {
            break;
        };
        let answer = run.server.answer(&request.message());
        run.deliver(&request, answer);
        run.check();
    }
    prop_assert_eq!(&seen_down, &stored, "scrolling down: each once, in order");
    Ok(())
}

/// A small timeline for the examples below.
fn timeline(capacity: usize) -> Timeline {
    Timeline::new(
        ROOM,
        Config {
            capacity,
            page: 3,
            presence: false,
        },
    )
}

fn said(seq: u64) -> Stamped {
    message(seq, true)
}

fn seqs(tl: &Timeline) -> Vec<u64> {
    tl.messages().map(|m| m.seq).collect()
}

#[test]
fn a_catch_up_with_a_gap_shows_it_counted_and_a_live_message_does_not_move_the_point() {
    let mut tl = timeline(100);
    let first = tl.entered(10);
    assert_eq!(
        first.message(),
        ClientMsg::CatchUp {
            room: ROOM.into(),
            after: 0
        }
    );
    let answer = ServerMsg::CaughtUp {
        room: ROOM.into(),
        messages: (8..=10).map(said).collect(),
        gap: None,
        more_before: true,
        read: 9,
        lost: vec![],
    };
    assert!(tl.answered(&first, answer));
    assert_eq!(tl.caught_up_to(), 10);
    assert_eq!(tl.read(), 9);
    assert_eq!(tl.unread(), 1);

    // Away while 11..=50 are said; back at 51 (its own join).
    tl.left();
    let again = tl.entered(51);
    assert_eq!(
        again.message(),
        ClientMsg::CatchUp {
            room: ROOM.into(),
            after: 10
        }
    );
    // A live message before the answer: the point stays.
    assert!(tl.live(said(52)));
    assert_eq!(tl.caught_up_to(), 10);
    let answer = ServerMsg::CaughtUp {
        room: ROOM.into(),
        messages: (48..=50).map(said).collect(),
        gap: Some(Gap {
            from: 11,
            to: 47,
            count: 37,
        }),
        more_before: true,
        read: 9,
        lost: vec![],
    };
    assert!(tl.answered(&again, answer));
    assert_eq!(tl.caught_up_to(), 52);
    assert_eq!(seqs(&tl), vec![8, 9, 10, 48, 49, 50, 52]);
    let items = tl.items();
    assert!(matches!(
        items[0],
        Item::NotLoaded {
            from: 1,
            to: 7,
            count: None,
            loading: false
        }
    ));
    assert!(items.contains(&Item::NotLoaded {
        from: 11,
        to: 47,
        count: Some(37),
        loading: false
    }));
    assert_eq!(tl.unread(), 1 + 37 + 4);
    let marker = items
        .iter()
        .position(|i| matches!(i, Item::ReadMarker { .. }))
        .unwrap();
    assert_eq!(items[marker - 1], Item::Message(&said(9)));
    assert_eq!(items[marker], Item::ReadMarker { unread: 42 });

    // Scrolled to the gap from below: its newest part is asked, then its count shrinks.
    let fill = tl.older(48).unwrap();
    assert_eq!(fill.anchor(), Some(Anchor::Before(48)));
    assert!(tl.items().contains(&Item::NotLoaded {
        from: 11,
        to: 47,
        count: Some(37),
        loading: true
    }));
    assert_eq!(tl.older(48), None, "already loading");
    let page = ServerMsg::HistoryPage {
        room: ROOM.into(),
        messages: (45..=47).map(said).collect(),
        more_before: true,
        more_after: true,
        lost: vec![],
    };
    assert!(tl.answered(&fill, page));
    assert!(tl.items().contains(&Item::NotLoaded {
        from: 11,
        to: 44,
        count: Some(34),
        loading: false
    }));
}

#[test]
fn a_dropped_start_is_not_loaded_again_never_the_beginning() {
    let mut tl = timeline(4);
    let catch_up = tl.entered(6);
    let answer = ServerMsg::CaughtUp {
        room: ROOM.into(),
        messages: (1..=6).map(said).collect(),
        gap: None,
        more_before: false,
        read: 0,
        lost: vec![],
    };
    assert!(tl.answered(&catch_up, answer));
    // Following the newest: the two oldest are dropped.
    assert_eq!(seqs(&tl), vec![3, 4, 5, 6]);
    assert!(!tl.at_beginning());
    assert_eq!(
        tl.items()[0],
        Item::NotLoaded {
            from: 1,
            to: 2,
            count: Some(2),
            loading: false
        }
    );
    let older = tl.older(3).unwrap();
    assert_eq!(older.anchor(), Some(Anchor::Before(3)));
    tl.set_view(Some(1));
    let page = ServerMsg::HistoryPage {
        room: ROOM.into(),
        messages: vec![said(1), said(2)],
        more_before: false,
        more_after: true,
        lost: vec![],
    };
    assert!(tl.answered(&older, page));
    // Back at the beginning; the newest are dropped now, remembered as not loaded.
    assert_eq!(tl.items()[0], Item::Beginning);
    assert_eq!(seqs(&tl), vec![1, 2, 3, 4]);
    assert_eq!(tl.newer(4).unwrap().anchor(), Some(Anchor::After(4)));
    assert_eq!(tl.caught_up_to(), 6);
}

#[test]
fn a_search_hit_is_loaded_around_and_answers_after_a_reconnect_are_ignored() {
    let mut tl = timeline(100);
    let catch_up = tl.entered(100);
    let answer = ServerMsg::CaughtUp {
        room: ROOM.into(),
        messages: (98..=100).map(said).collect(),
        gap: None,
        more_before: true,
        read: 0,
        lost: vec![SeqRange { from: 99, to: 99 }],
    };
    assert!(tl.answered(&catch_up, answer));
    assert!(tl.items().contains(&Item::Lost { from: 99, to: 99 }));
    assert_eq!(tl.around(98), None, "held: scroll to it");
    let around = tl.around(40).unwrap();
    assert_eq!(around.anchor(), Some(Anchor::Around(40)));
    assert_eq!(tl.view(), Some(40));
    // The connection drops: the answer never comes, nothing stays loading.
    tl.left();
    assert!(!tl.loading());
    let stale = ServerMsg::HistoryPage {
        room: ROOM.into(),
        messages: (39..=41).map(said).collect(),
        more_before: true,
        more_after: true,
        lost: vec![],
    };
    assert!(!tl.answered(&around, stale));
    assert_eq!(seqs(&tl), vec![98, 99, 100]);
}

// ----- a hostile server ----------------------------------------------------------------

/// Sequence numbers a hostile server might send: small, near the top of the range, or
/// anything.
fn hostile_seq() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..8, (0u64..8).prop_map(|d| u64::MAX - d), any::<u64>(),]
}

fn hostile_messages() -> impl Strategy<Value = Vec<Stamped>> {
    prop::collection::vec((hostile_seq(), any::<bool>()), 0..5).prop_map(|m| {
        m.into_iter()
            .map(|(seq, talk)| message(seq, talk))
            .collect()
    })
}

fn hostile_ranges() -> impl Strategy<Value = Vec<SeqRange>> {
    prop::collection::vec(
        (hostile_seq(), hostile_seq()).prop_map(|(from, to)| SeqRange { from, to }),
        0..3,
    )
}

/// An answer as a hostile server might make it: any numbers, in any order.
fn hostile_answer() -> impl Strategy<Value = ServerMsg> {
    let gap = prop::option::of((hostile_seq(), hostile_seq(), hostile_seq()))
        .prop_map(|g| g.map(|(from, to, count)| Gap { from, to, count }));
    prop_oneof![
        (
            hostile_messages(),
            gap,
            any::<bool>(),
            hostile_seq(),
            hostile_ranges()
        )
            .prop_map(|(messages, gap, more_before, read, lost)| {
                ServerMsg::CaughtUp {
                    room: ROOM.into(),
                    messages,
                    gap,
                    more_before,
                    read,
                    lost,
                }
            }),
        (
            hostile_messages(),
            any::<bool>(),
            any::<bool>(),
            hostile_ranges()
        )
            .prop_map(|(messages, more_before, more_after, lost)| {
                ServerMsg::HistoryPage {
                    room: ROOM.into(),
                    messages,
                    more_before,
                    more_after,
                    lost,
                }
            }),
    ]
}

#[derive(Debug, Clone)]
enum Hostile {
    Entered(u64),
    Left,
    Live(u64, bool),
    Answer(usize, ServerMsg),
    Older(u64),
    Newer(u64),
    Around(u64),
    View(Option<u64>),
    Read(u64),
}

fn hostile_op() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        1 => hostile_seq().prop_map(Hostile::Entered),
        1 => Just(Hostile::Left),
        3 => (hostile_seq(), any::<bool>()).prop_map(|(s, t)| Hostile::Live(s, t)),
        4 => (any::<usize>(), hostile_answer()).prop_map(|(p, a)| Hostile::Answer(p, a)),
        2 => hostile_seq().prop_map(Hostile::Older),
        1 => hostile_seq().prop_map(Hostile::Newer),
        1 => hostile_seq().prop_map(Hostile::Around),
        1 => prop::option::of(hostile_seq()).prop_map(Hostile::View),
        1 => hostile_seq().prop_map(Hostile::Read),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Whatever numbers a server sends (sequence numbers, gaps, counts and read markers
    /// up to `u64::MAX`, out of order, overlapping), the timeline neither panics nor
    /// overflows (tests run with overflow checks), and what it draws stays in order, each
    /// message once.
    #[test]
    fn numbers_from_a_hostile_server_never_break_the_timeline(
        capacity in 1usize..12,
        ops in prop::collection::vec(hostile_op(), 1..60),
    ) {
        let mut tl = Timeline::new(ROOM, Config { capacity, page: 3, presence: false });
        let mut asked: Vec<Request> = Vec::new();
        for op in ops {
            match op {
                Hostile::Entered(seq) => asked.push(tl.entered(seq)),
                Hostile::Left => tl.left(),
                Hostile::Live(seq, talk) => {
                    tl.live(message(seq, talk));
                }
                Hostile::Answer(pick, answer) => {
                    if !asked.is_empty() {
                        let request = asked.remove(pick % asked.len());
                        tl.answered(&request, answer);
                    }
                }
                Hostile::Older(seq) => asked.extend(tl.older(seq)),
                Hostile::Newer(seq) => asked.extend(tl.newer(seq)),
                Hostile::Around(seq) => asked.extend(tl.around(seq)),
                Hostile::View(seq) => tl.set_view(seq),
                Hostile::Read(seq) => {
                    tl.mark_read(seq);
                }
            }
            asked.extend(tl.catch_up());
            prop_assert!(tl.len() <= capacity);
            let spans: Vec<(u64, u64, &str)> = tl.spans().collect();
            for w in spans.windows(2) {
                prop_assert!(w[0].1 < w[1].0, "spans overlap: {:?}", spans);
            }
            let mut last: Option<u64> = None;
            for item in tl.items() {
                if let Item::Message(m) = item {
                    prop_assert!(last.is_none_or(|l| m.seq > l), "{} after {:?}", m.seq, last);
                    last = Some(m.seq);
                }
            }
            tl.unread();
            tl.at_beginning();
            let view = tl.view().unwrap_or(u64::MAX);
            tl.held_above(view);
            tl.held_below(view);
        }
    }
}

/// The numbers at the very top: a welcome at `u64::MAX`, a message there, and a catch-up
/// from there.
#[test]
fn a_room_at_the_last_sequence_number_is_drawn_and_caught_up() {
    let mut tl = timeline(100);
    let first = tl.entered(u64::MAX);
    let answer = ServerMsg::CaughtUp {
        room: ROOM.into(),
        messages: vec![said(u64::MAX - 1), said(u64::MAX)],
        gap: None,
        more_before: true,
        read: u64::MAX,
        lost: vec![],
    };
    assert!(tl.answered(&first, answer));
    assert_eq!(tl.caught_up_to(), u64::MAX);
    let drawn: Vec<u64> = tl
        .items()
        .iter()
        .filter_map(|i| match i {
            Item::Message(m) => Some(m.seq),
            _ => None,
        })
        .collect();
    assert_eq!(drawn, [u64::MAX - 1, u64::MAX], "each once");
    let older = tl.older(u64::MAX - 1).expect("older ones to ask");
    assert_eq!(older.anchor(), Some(Anchor::Before(u64::MAX - 1)));

    // Back, with nothing new: the catch-up from the top has nothing to follow.
    tl.left();
    let again = tl.entered(u64::MAX);
    assert_eq!(
        again.message(),
        ClientMsg::CatchUp {
            room: ROOM.into(),
            after: u64::MAX
        }
    );
    let answer = ServerMsg::CaughtUp {
        room: ROOM.into(),
        messages: vec![],
        gap: None,
        more_before: true,
        read: u64::MAX,
        lost: vec![],
    };
    assert!(tl.answered(&again, answer));
    assert_eq!(tl.caught_up_to(), u64::MAX);
    assert_eq!(tl.unread(), 0);
    assert_eq!(tl.newer(u64::MAX), None);
}

/// A hostile server's oversized messages are kept cut to the protocol's limits, live or
/// paged, so that the timeline's memory is bounded in bytes.
#[test]
fn oversized_messages_are_kept_cut_to_the_limits() {
    let huge = |seq: u64| Stamped {
        event: RoomEvent::Said {
            from: "n".repeat(100_000),
            kind: ChatKind::Say,
            text: "x".repeat(1 << 20),
        },
        ..said(seq)
    };
    let mut tl = timeline(100);
    let catch_up = tl.entered(2);
    let answer = ServerMsg::CaughtUp {
        room: ROOM.into(),
        messages: vec![huge(1), huge(2)],
        gap: None,
        more_before: false,
        read: 0,
        lost: vec![],
    };
    assert!(tl.answered(&catch_up, answer));
    assert!(tl.live(huge(3)));
    assert_eq!(tl.len(), 3);
    for m in tl.messages() {
        let RoomEvent::Said { from, text, .. } = &m.event else {
            panic!("{m:?}");
        };
        assert!(from.len() + text.len() <= chat_client::clip::MAX_MESSAGE_BYTES);
        assert!(text.ends_with("x…"), "marked");
    }
}
