//! The user's lines (`Chat`, `Action`, `Private`) handed to a connection and not yet
//! answered by the server, so that none is lost with a connection that dies silently.
//!
//! The server answers every line it takes: a line sent with a request id by a `Reply` with
//! that id (the sender's copy of the message, or the error it caused), a bare line by the
//! sender's bare copy. Until then the line is *unanswered*; the keepalive
//! ([`crate::keepalive`]) pings a server that leaves a line unanswered for
//! [`ANSWER_WAIT`]. When the connection is lost, the unanswered lines are *in doubt*: the
//! server may have taken a line whose answer went down with the connection. After the
//! reconnect the session asks the room's history for the messages after the last one it
//! saw ([`Doubt::check`]), and [`Doubt::settle`] sorts each line: found there (delivered,
//! not sent again), not there (sent again), or impossible to tell (reported, not sent
//! again, so that nothing is ever said twice).

use std::collections::VecDeque;

use shared::{Anchor, ChatKind, ClientMsg, RoomEvent, RoomRequest, ServerMsg, Stamped};
use tokio::time::Instant;

/// Most unanswered lines remembered; past it the oldest is forgotten (a live server
/// answers within milliseconds and a dead one is noticed within seconds, so this is never
/// reached in practice). The same bound as the offline queue.
pub const MAX_UNANSWERED: usize = crate::offline::MAX_QUEUED;

/// Most messages asked of the room's history to settle the lines in doubt.
pub const CHECK_LIMIT: u32 = 500;

/// The request id of the history check: the library's own, above those of the transfers.
pub(crate) const CHECK_REQUEST_ID: u32 = crate::transfer::LAST_TRANSFER_REQUEST_ID + 1;

/// A line sent and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// As the user sent it (with its request id, if any).
    pub(crate) msg: ClientMsg,
    /// The nick it was sent under: the one its copy in the history names.
    pub(crate) nick: String,
    /// When it went to the writer.
    pub(crate) sent: Instant,
}

/// Whether `msg` is a line this module follows: a chat line, an action or a private
/// message with text (an empty text gets no answer), addressed to a room or not.
pub(crate) fn followed(msg: &ClientMsg) -> bool {
    match msg {
        ClientMsg::Request { msg, .. } => followed(msg),
        ClientMsg::InRoom {
            msg: RoomRequest::Chat { text } | RoomRequest::Action { text },
            ..
        } => !text.is_empty(),
        ClientMsg::Chat { text } | ClientMsg::Action { text } | ClientMsg::Private { text, .. } => {
            !text.is_empty()
        }
        _ => false,
    }
}

/// The lines sent on the current connection and not yet answered, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Unanswered {
    lines: VecDeque<Line>,
}

impl Unanswered {
    /// `msg` went to the writer under `nick`, at `now`.
    pub(crate) fn sent(&mut self, msg: &ClientMsg, nick: &str, now: Instant) {
        if !followed(msg) {
            return;
        }
        if self.lines.len() >= MAX_UNANSWERED {
            tracing::warn!("too many unanswered lines; the oldest is no longer followed");
            self.lines.pop_front();
        }
        self.lines.push_back(Line {
            msg: msg.clone(),
            nick: nick.to_owned(),
            sent: now,
        });
    }

    /// When the oldest unanswered line was sent.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.lines.front().map(|line| line.sent)
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The server's frame `msg` arrived: the line it answers, if any, is answered.
    pub(crate) fn heard(&mut self, msg: &ServerMsg) {
        let found = match msg {
            ServerMsg::Reply { id, .. } => self.lines.iter().position(
                |line| matches!(line.msg, ClientMsg::Request { id: mine, .. } if mine == *id),
            ),
            bare => self
                .lines
                .iter()
                .position(|line| bare_echo(&line.msg, &line.nick, bare)),
        };
        if let Some(at) = found {
            self.lines.remove(at);
        }
    }

    /// `msg` never left (the writer handed it back): it is not in doubt, it is simply
    /// unsent.
    pub(crate) fn unsent(&mut self, msg: &ClientMsg) {
        if let Some(at) = self.lines.iter().position(|line| line.msg == *msg) {
            self.lines.remove(at);
        }
    }

    /// Everything unanswered, oldest first; none is then.
    pub(crate) fn take(&mut self) -> Vec<Line> {
        self.lines.drain(..).collect()
    }
}

/// Whether `msg` is the server's bare copy of the bare line `line` sent by `nick`.
fn bare_echo(line: &ClientMsg, nick: &str, msg: &ServerMsg) -> bool {
    let line = &plain(line);
    match (line, msg) {
        (ClientMsg::Chat { .. } | ClientMsg::Action { .. }, ServerMsg::Room { event, .. }) => {
            said_echo(line, nick, event)
        }
        (
            ClientMsg::Private { to, text },
            ServerMsg::Private {
                from,
                to: whom,
                text: said,
                ..
            },
        ) => from == nick && whom == to && said == text,
        _ => false,
    }
}

/// Whether the room event `event` is what the chat or action `line`, sent by `nick`,
/// became.
fn said_echo(line: &ClientMsg, nick: &str, event: &RoomEvent) -> bool {
    let line = &plain(line);
    match (line, event) {
        (
            ClientMsg::Chat { text } | ClientMsg::Action { text },
            RoomEvent::Said {
                from,
                kind,
                text: said,
            },
        ) => from == nick && said == text && *kind == kind_of(line),
        _ => false,
    }
}

/// A line addressed to a room (`InRoom`) as the room-less line it says; others as they
/// are.
fn plain(line: &ClientMsg) -> ClientMsg {
    match line {
        ClientMsg::InRoom {
            msg: RoomRequest::Chat { text },
            ..
        } => ClientMsg::Chat { text: text.clone() },
        ClientMsg::InRoom {
            msg: RoomRequest::Action { text },
            ..
        } => ClientMsg::Action { text: text.clone() },
        other => other.clone(),
    }
}

fn kind_of(line: &ClientMsg) -> ChatKind {
    match line {
        ClientMsg::Action { .. } => ChatKind::Action,
        _ => ChatKind::Say,
    }
}

/// The lines in doubt after a lost connection, and where the room's history stood then.
#[derive(Debug, Default)]
pub(crate) struct Doubt {
    pub(crate) lines: Vec<Line>,
    /// The room they were said in, and the last sequence number seen in it.
    pub(crate) room: String,
    pub(crate) after: u64,
}

/// What became of the lines in doubt.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    /// Found in the room's history: the server had them.
    pub(crate) delivered: Vec<ClientMsg>,
    /// Certainly not in the history: to be sent again, in order.
    pub(crate) resend: Vec<ClientMsg>,
    /// Impossible to tell (private messages are not kept in history, or the history did
    /// not reach far enough): reported, not sent again.
    pub(crate) unknown: Vec<ClientMsg>,
}

impl Doubt {
    /// More lines in doubt, after a connection lost in `room` whose last message seen was
    /// `after`. Lines still in doubt from an earlier connection stay first.
    pub(crate) fn add(&mut self, lines: Vec<Line>, room: &str, after: u64) {
        if lines.is_empty() {
            return;
        }
        if self.lines.is_empty() {
            self.room = room.to_owned();
            self.after = after;
        }
        self.lines.extend(lines);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The request that settles the room's lines: the messages after the last one seen.
    pub(crate) fn check(&self, page: u32) -> ClientMsg {
        ClientMsg::History {
            room: self.room.clone(),
            anchor: Anchor::After(self.after),
            limit: page.clamp(1, CHECK_LIMIT),
            presence: false,
        }
        .with_id(CHECK_REQUEST_ID)
    }

    /// Sorts the lines by the history's `messages` after the point of the loss
    /// (`complete`: they are all the room holds after it; `None`: no history to look in).
    pub(crate) fn settle(&mut self, history: Option<(&[Stamped], bool)>) -> Settled {
        let mut settled = Settled::default();
        let mut used = vec![false; history.map_or(0, |(m, _)| m.len())];
        for Line { msg, nick, .. } in std::mem::take(&mut self.lines) {
            let inner = match &msg {
                ClientMsg::Request { msg, .. } => msg.as_ref(),
                bare => bare,
            };
            let Some((messages, complete)) = history else {
                settled.unknown.push(msg);
                continue;
            };
            // A private message is in no history; a line of another room is not in this
            // one's (one room's history is checked).
            let elsewhere = matches!(inner, ClientMsg::InRoom { room, .. }
                if !shared::names::same_name(room, &self.room));
            if matches!(inner, ClientMsg::Private { .. }) || elsewhere {
                settled.unknown.push(msg);
                continue;
            }
            // The first copy not yet matched: two equal lines are two messages.
            let found = messages.iter().enumerate().position(|(i, m)| {
                !used[i] && m.seq > self.after && said_echo(inner, &nick, &m.event)
            });
            match found {
                Some(i) => {
                    used[i] = true;
                    settled.delivered.push(msg);
                }
                None if complete => settled.resend.push(msg),
                None => settled.unknown.push(msg),
            }
        }
        settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(text: &str) -> ClientMsg {
        ClientMsg::Chat { text: text.into() }
    }

    fn said(seq: u64, from: &str, text: &str) -> Stamped {
        Stamped {
            id: seq,
            seq,
            time_ms: 0,
            event: RoomEvent::Said {
                from: from.into(),
                kind: ChatKind::Say,
                text: text.into(),
            },
        }
    }

    fn echo(id: Option<u32>, from: &str, text: &str) -> ServerMsg {
        let room = said(5, from, text).into_room_msg("ops");
        match id {
            Some(id) => ServerMsg::Reply {
                id,
                msg: Box::new(room),
            },
            None => room,
        }
    }

    #[test]
    fn a_line_is_answered_by_its_reply_or_its_bare_copy() {
        let mut sent = Unanswered::default();
        sent.sent(&chat("one").with_id(3), "ann", Instant::now());
        sent.sent(&chat("two"), "ann", Instant::now());
        sent.sent(&ClientMsg::Who, "ann", Instant::now());
        sent.sent(&chat(""), "ann", Instant::now());
        assert_eq!(sent.lines.len(), 2, "only lines with text are followed");
        // Someone else saying the same is no answer; nor is another id.
        sent.heard(&echo(None, "bob", "two"));
        sent.heard(&echo(Some(4), "ann", "one"));
        assert_eq!(sent.lines.len(), 2);
        sent.heard(&echo(None, "ann", "two"));
        assert_eq!(sent.lines.len(), 1);
        // An error in the reply answers it too: the server had it.
        sent.heard(&ServerMsg::Reply {
            id: 3,
            msg: Box::new(ServerMsg::Error {
                kind: shared::ErrorKind::RateLimited,
                text: "slow".into(),
            }),
        });
        assert!(sent.is_empty());
    }

    #[test]
    fn a_line_handed_back_unsent_is_not_in_doubt() {
        let mut sent = Unanswered::default();
        sent.sent(&chat("a").with_id(1), "ann", Instant::now());
        sent.sent(&chat("b").with_id(2), "ann", Instant::now());
        sent.unsent(&chat("b").with_id(2));
        let left: Vec<_> = sent.take().into_iter().map(|l| l.msg).collect();
        assert_eq!(left, [chat("a").with_id(1)]);
    }

    #[test]
    fn following_is_bounded() {
        let mut sent = Unanswered::default();
        for i in 0..MAX_UNANSWERED + 5 {
            sent.sent(&chat(&i.to_string()), "ann", Instant::now());
        }
        let left = sent.take();
        assert_eq!(left.len(), MAX_UNANSWERED);
        assert_eq!(left[0].msg, chat("5"));
    }

    fn doubt(lines: &[ClientMsg]) -> Doubt {
        let mut doubt = Doubt::default();
        let lines = lines
            .iter()
            .map(|msg| Line {
                msg: msg.clone(),
                nick: "ann".into(),
                sent: Instant::now(),
            })
            .collect();
        doubt.add(lines, "ops", 10);
        doubt
    }

    #[test]
    fn lines_found_in_the_history_are_delivered_the_others_sent_again() {
        let one = chat("one").with_id(1);
        let two = chat("two").with_id(2);
        let again = chat("one").with_id(3);
        let mut doubt = doubt(&[one.clone(), two.clone(), again.clone()]);
        assert_eq!(
            doubt.check(100),
            ClientMsg::History {
                room: "ops".into(),
                anchor: Anchor::After(10),
                limit: 100,
                presence: false
            }
            .with_id(CHECK_REQUEST_ID)
        );
        // "one" was taken once, by someone else too; "two" never arrived.
        let history = [said(11, "bob", "two"), said(12, "ann", "one")];
        let settled = doubt.settle(Some((&history, true)));
        assert_eq!(
            settled,
            Settled {
                delivered: vec![one],
                resend: vec![two, again],
                unknown: vec![],
            }
        );
        assert!(doubt.is_empty());
    }

    #[test]
    fn what_cannot_be_told_is_reported_not_sent_again() {
        let private = ClientMsg::Private {
            to: "bob".into(),
            text: "psst".into(),
        };
        let line = chat("hi");
        // A page that does not reach the end of the history.
        let mut partial = doubt(&[line.clone(), private.clone()]);
        let settled = partial.settle(Some((&[said(11, "bob", "x")], false)));
        assert_eq!(settled.unknown, [line.clone(), private.clone()]);
        // No history at all.
        let mut none = doubt(std::slice::from_ref(&line));
        assert_eq!(none.settle(None).unknown, [line]);
    }

    #[test]
    fn a_later_loss_keeps_the_first_point() {
        let mut doubt = doubt(&[chat("a")]);
        doubt.add(
            vec![Line {
                msg: chat("b"),
                nick: "ann".into(),
                sent: Instant::now(),
            }],
            "ops",
            30,
        );
        assert_eq!((doubt.after, doubt.lines.len()), (10, 2));
    }
}
