//! `History`, `CatchUp`, `Search` and `MarkRead`: a room's stored history (see
//! [`crate::history`]), for a client granted the feature "history", about the room it is
//! in.
//!
//! A request is checked at once, as it is read ([`Client::query`]): the feature, the room,
//! the words. Then the connection awaits the store's answer before it reads its next frame
//! ([`Connection::ask`]), while its writer goes on sending what the room says meanwhile.
//! So answers come in the order of the requests, as every other answer does, and the
//! answer covers everything stamped before the request was read (the store first waits
//! for its writer to have stored up to there). The pause is short: a page or a catch-up
//! takes a millisecond or two, a search is cut off by the store after a few tens of
//! milliseconds, and the whole wait is bounded by [`QUERY_BOUND`], after which the client
//! is told to ask again. The request rate bounds how often a client can ask.
//!
//! An answer can be most of a frame (the store cuts it to fit one), more than a client's
//! whole outgoing queue holds: it is not pushed into the queue but written beside it, and
//! the next request is read once it is written (`Writer::write_now`). So a client that
//! asks is never taken for a slow consumer because of its own answer, and it holds at most
//! one answer on the server beyond its queue.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use shared::auth::PublicKey;
use shared::limits::MAX_TEXT_BYTES;
use shared::names::{check_room, fold};
use shared::{Anchor, ClientMsg, ErrorKind, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::common::ClientId;
use crate::conn::ending::Ending;
use crate::conn::{Client, Connection};
use crate::history::{HistoryError, QUERIES_AT_ONCE, QUERY_WAIT};
use crate::outbound::encode_answer;
use crate::registry::Whereabouts;

/// The longest a connection waits for the store's answer before it tells the client the
/// history is busy. The store's own waits are shorter (it answers "busy" itself when its
/// writer has not caught up within 5 s); this only bounds a disk that hangs.
pub(in crate::conn) const QUERY_BOUND: Duration = Duration::from_secs(10);

/// A history request that passed its checks, for [`Connection::ask`].
#[derive(Debug)]
pub(in crate::conn) enum Query {
    /// About a room: the client's room (the one the request named) and nick, and whose
    /// read marker a catch-up carries ([`Client::reader`]).
    Room {
        here: Whereabouts,
        reader: String,
        ask: Ask,
    },
    /// The private messages kept between two owners' keys (`mine`, the asker's, and
    /// `theirs`), the other named `with` as the asker named them.
    Private {
        mine: PublicKey,
        theirs: Option<PublicKey>,
        with: String,
        before: u64,
        limit: u32,
    },
}

/// What a [`Query`] about a room asks the store.
#[derive(Debug)]
pub(in crate::conn) enum Ask {
    Page {
        anchor: Anchor,
        limit: u32,
        presence: bool,
    },
    CatchUp {
        after: u64,
    },
    Search {
        words: String,
        before: u64,
        limit: u32,
    },
}

impl Client {
    /// Checks a `History`, `CatchUp` or `Search`: `Some` when the store is to answer it,
    /// `None` when the client has been told why not.
    pub(super) fn query(
        &self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
    ) -> Result<Option<Query>, Ending> {
        let (room, ask) = match msg {
            ClientMsg::History {
                room,
                anchor,
                limit,
                presence,
            } => (
                room,
                Ask::Page {
                    anchor,
                    limit,
                    presence,
                },
            ),
            ClientMsg::CatchUp { room, after } => (room, Ask::CatchUp { after }),
            ClientMsg::Search {
                room,
                words,
                before,
                limit,
            } => {
                if words.len() > MAX_TEXT_BYTES {
                    let text = format!(
                        "the words to search for are {} bytes, more than the {MAX_TEXT_BYTES} \
                         allowed",
                        words.len()
                    );
                    self.refuse(reply, ErrorKind::TextTooLong, text)?;
                    return Ok(None);
                }
                (
                    room,
                    Ask::Search {
                        words,
                        before,
                        limit,
                    },
                )
            }
            _ => return Ok(None),
        };
        Ok(self.allowed(id, reply, &room)?.map(|here| Query::Room {
            reader: self.reader(id, &here.nick),
            here,
            ask,
        }))
    }

    /// Keeps how far the client (its key, or its nick: [`Client::reader`]) has read its
    /// room; not answered. A number beyond
    /// the room's latest is taken as the latest, so that a client cannot mark unread what
    /// has not been said yet.
    pub(super) fn mark_read(
        &self,
        id: ClientId,
        reply: Option<u32>,
        room: &str,
        seq: u64,
    ) -> Result<(), Ending> {
        if let Some(here) = self.allowed(id, reply, room)? {
            let seq = seq.min(here.last_seq);
            let reader = self.reader(id, &here.nick);
            self.ctx.history.mark_read(&reader, &here.room_key, seq);
        }
        Ok(())
    }

    /// Whose read markers the client's are: its key's, written in hex, when it proved one
    /// (feature "auth"), so that they follow their owner to every device whatever its
    /// nick; else its nick's (folded). The two cannot meet: a nick is at most 32
    /// characters, a key 64 hex digits.
    fn reader(&self, id: ClientId, nick: &str) -> String {
        match self.ctx.registry.key_of(id) {
            Some(key) => key.hex(),
            None => fold(nick),
        }
    }

    /// Where the client is, if it may ask about `room`: history is kept, the client was
    /// granted the feature, and `room` is the room it is in, or one of them with the
    /// feature "rooms" (a name that cannot be a room's is not). Otherwise it is told why (`NoHistory`, `NotInRoom`) and `None` is
    /// returned.
    fn allowed(
        &self,
        id: ClientId,
        reply: Option<u32>,
        room: &str,
    ) -> Result<Option<Whereabouts>, Ending> {
        if !self.ctx.history.is_on() {
            self.send(reply, &HistoryError::Off.to_msg())?;
            return Ok(None);
        }
        if !self.history {
            let text =
                "history was not granted: ask for the feature \"history\" in the hello".to_owned();
            self.refuse(reply, ErrorKind::NoHistory, text)?;
            return Ok(None);
        }
        // Checked first: a name can be as long as a frame, and its keys are made for the
        // registry from it.
        let invalid = check_room(room).err();
        let not_in = match invalid {
            None => match self.ctx.registry.place(id, Some(room)) {
                Ok(here) => return Ok(Some(here)),
                Err(refusal) => refusal.text,
            },
            Some(_) => String::new(),
        };
        if self.rooms {
            // In a set of rooms: the registry says which is wrong, as for any request.
            let text = match invalid {
                Some(e) => format!("the room name {e}"),
                None => not_in,
            };
            self.refuse(reply, ErrorKind::NotInRoom, text)?;
            return Ok(None);
        }
        let only_here = match self.ctx.registry.whereabouts(id) {
            Some(here) => format!("you can only ask about the room you are in, {}", here.room),
            None => "you are in no room".to_owned(),
        };
        let text = match invalid {
            Some(e) => format!("the room name {e}; {only_here}"),
            None => only_here,
        };
        self.refuse(reply, ErrorKind::NotInRoom, text)?;
        Ok(None)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Asks the store, and sends its answer (or why there is none) to the request `reply`.
    /// The client's writer goes on meanwhile; nothing more is read from the client until
    /// the answer is queued.
    pub(in crate::conn) async fn ask(
        &mut self,
        reply: Option<u32>,
        query: Query,
    ) -> Result<(), Ending> {
        let history = &self.client.ctx.history;
        let asking = async {
            let (here, reader, ask) = match query {
                Query::Room { here, reader, ask } => (here, reader, ask),
                Query::Private {
                    mine,
                    theirs,
                    with,
                    before,
                    limit,
                } => {
                    return match theirs {
                        Some(theirs) => {
                            history
                                .private_page(&mine, &theirs, with, before, limit)
                                .await
                        }
                        // Nothing is kept with a nick no one owns.
                        None => Ok(ServerMsg::PrivateHistory {
                            with,
                            messages: Vec::new(),
                            more: false,
                        }),
                    };
                }
            };
            let (key, name) = (here.room_key.as_str(), here.room.as_str());
            match ask {
                Ask::Page {
                    anchor,
                    limit,
                    presence,
                } => history.page(key, name, anchor, limit, presence).await,
                Ask::CatchUp { after } => history.catch_up(key, name, after, &reader).await,
                Ask::Search {
                    words,
                    before,
                    limit,
                } => history.search(key, name, &words, before, limit).await,
            }
        };
        let bounded = tokio::time::timeout(QUERY_BOUND, asking);
        tokio::pin!(bounded);
        let (writer, stream) = (&mut self.writer, self.frames.get_mut());
        let answer = tokio::select! {
            answer = &mut bounded => answer,
            stopped = writer.run(stream) => {
                return Err(Ending::stopped(stopped, &self.client.policy));
            }
        };
        match answer {
            Ok(Ok(answer)) => {
                // Up to a frame: more than the client's whole queue may hold, so it is
                // written beside the queue (see `Writer::write_now`), before the next
                // request is read.
                let frame = encode_answer(reply, &answer);
                let (writer, stream) = (&mut self.writer, self.frames.get_mut());
                writer
                    .write_now(stream, &frame)
                    .await
                    .map_err(|stopped| Ending::stopped(stopped, &self.client.policy))
            }
            Ok(Err(e)) => {
                warn_about(&e);
                self.client.send(reply, &e.to_msg())
            }
            Err(_elapsed) => {
                if let Some(more) = NO_ANSWER.due(Instant::now()) {
                    tracing::warn!(
                        "history: a query got no answer within {} s; the client is told the \
                         history is busy{}",
                        QUERY_BOUND.as_secs(),
                        since(more)
                    );
                }
                self.client.send(reply, &HistoryError::Busy.to_msg())
            }
        }
    }
}

/// How often at most one kind of history warning is logged: a database that fails every
/// query, or a crowd of searches, must not write a line per request.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Queries that failed to read the database.
static UNREADABLE: Warnings = Warnings::new();
/// Queries that waited too long for their turn.
static CROWDED: Warnings = Warnings::new();
/// Queries that got no answer within [`QUERY_BOUND`].
static NO_ANSWER: Warnings = Warnings::new();

/// Logs, once in a while, what the operator should know of a query that got no answer:
/// the one place such a query is logged (the store logs none).
fn warn_about(e: &HistoryError) {
    let now = Instant::now();
    match e {
        HistoryError::Unreadable(detail) => {
            if let Some(more) = UNREADABLE.due(now) {
                tracing::warn!(
                    "history: a query could not read the database: {detail}{}",
                    since(more)
                );
            }
        }
        HistoryError::Crowded => {
            if let Some(more) = CROWDED.due(now) {
                tracing::warn!(
                    "history: a query waited {} s without its turn ({} run at once); the \
                     client is told the history is busy{}",
                    QUERY_WAIT.as_secs(),
                    QUERIES_AT_ONCE,
                    since(more)
                );
            }
        }
        // Said once by the store's writer (storing failed), or not a fault.
        HistoryError::Busy | HistoryError::Off => {}
    }
}

/// The end of a warning line: how many like it were not logged since the last one.
fn since(more: u64) -> String {
    match more {
        0 => String::new(),
        n => format!(" ({n} more like it since the last such line)"),
    }
}

/// One kind of warning, logged at most once every [`WARN_EVERY`], counting the others.
#[derive(Debug)]
struct Warnings {
    /// When the last line was logged, and how many were not since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl Warnings {
    const fn new() -> Self {
        Self {
            state: Mutex::new((None, 0)),
        }
    }

    /// Whether a line may be logged `now`: `Some(n)`, `n` being how many were not since
    /// the last; `None` (and one more counted) otherwise.
    fn due(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, skipped) = &mut *state;
        if last.is_some_and(|last| now.saturating_duration_since(last) < WARN_EVERY) {
            *skipped += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_logged_at_most_once_a_while_and_counts_the_others() {
        let warnings = Warnings::new();
        let start = Instant::now();
        assert_eq!(warnings.due(start), Some(0));
        for _ in 0..5 {
            assert_eq!(warnings.due(start + WARN_EVERY / 2), None);
        }
        assert_eq!(warnings.due(start + WARN_EVERY), Some(5));
        assert_eq!(warnings.due(start + WARN_EVERY), None);
        assert_eq!(warnings.due(start + 3 * WARN_EVERY), Some(1));
    }
}
