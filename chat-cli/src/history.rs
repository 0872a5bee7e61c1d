//! `history` and `search`: what the server's history of the room holds, printed as
//! `listen` prints (plain lines or JSON), then exit.
//!
//! `history` pages back from the newest message until it has `--limit` messages or the
//! room's history has no more, and prints them oldest first. `search` asks for the hits
//! of every word, newest first, page after page up to `--limit`. Both ask the server
//! with request ids and read nothing but the answers: the room's live messages meanwhile
//! are not theirs to print.

use std::time::Duration;

use chat_client::shared::{Anchor, ClientMsg, ErrorKind, ServerMsg, Stamped};
use chat_client::{Client, Event, Welcome, sanitize};
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::Failure;
use crate::listen::{Format, Output};
use crate::record::Record;

/// Longest wait for one answer of the server.
pub const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Most messages `history` prints, and most hits `search` prints: what one run may ask
/// the server for (it sends them in pages of its own size).
pub const MAX_LIMIT: u32 = 10_000;

/// What is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// The newest `limit` messages.
    History { limit: u32 },
    /// The newest `limit` messages holding every one of `words`.
    Search { words: String, limit: u32 },
}

/// Asks, prints, and returns once everything asked is printed.
pub async fn run(
    client: &Client,
    mut events: mpsc::Receiver<Event>,
    welcome: &Welcome,
    query: Query,
    format: Format,
) -> Result<(), Failure> {
    let mut out = Output::stdout(format);
    let mut asker = Asker {
        client,
        events: &mut events,
        next_id: 1,
    };
    let room = welcome.room.clone();
    match query {
        Query::History { limit } => {
            let mut pages: Vec<Vec<Stamped>> = Vec::new();
            let mut held = 0usize;
            let mut anchor = Anchor::Latest;
            let want = limit as usize;
            while held < want {
                let ask = ClientMsg::History {
                    room: room.clone(),
                    anchor,
                    limit: u32::try_from(want - held).unwrap_or(u32::MAX),
                    presence: false,
                };
                let (mut messages, more_before) = match asker.ask(ask).await? {
                    ServerMsg::HistoryPage {
                        messages,
                        more_before,
                        ..
                    } => (messages, more_before),
                    _ => return Err(unexpected("a page of history")),
                };
                let Some(first) = messages.first().map(|m| m.seq) else {
                    break;
                };
                // Never more than asked, each cut to the protocol's limits, whatever the
                // server sends: what is held stays bounded by `limit`.
                messages.drain(..messages.len().saturating_sub(want - held));
                messages.iter_mut().for_each(chat_client::clip::message);
                held += messages.len();
                pages.push(messages);
                if !more_before {
                    break;
                }
                anchor = Anchor::Before(first);
            }
            // The newest `limit`, oldest first.
            let messages = pages.into_iter().rev().flatten();
            for message in messages {
                if !print(&mut out, &room, message).await? {
                    return Ok(());
                }
            }
        }
        Query::Search { words, limit } => {
            let mut printed = 0u32;
            let mut before = 0;
            let mut complete = true;
            while printed < limit {
                let ask = ClientMsg::Search {
                    room: room.clone(),
                    words: words.clone(),
                    before,
                    limit: limit - printed,
                };
                let (hits, more, whole) = match asker.ask(ask).await? {
                    ServerMsg::SearchHits {
                        hits,
                        more,
                        complete,
                        ..
                    } => (hits, more, complete),
                    _ => return Err(unexpected("search hits")),
                };
                complete &= whole;
                let Some(last) = hits.last().map(|m| m.seq) else {
                    break;
                };
                for hit in hits.into_iter().take((limit - printed) as usize) {
                    printed += 1;
                    if !print(&mut out, &room, hit).await? {
                        return Ok(());
                    }
                }
                if !more {
                    break;
                }
                before = last;
            }
            if !complete {
                eprintln!(
                    "chat-cli: the search ran out of time before looking at every message; \
                     older hits may be missing"
                );
            }
        }
    }
    Ok(())
}

/// Prints one message of the room; `Ok(false)` when standard output is closed.
async fn print(out: &mut Output, room: &str, message: Stamped) -> Result<bool, Failure> {
    let time_ms = message.time_ms;
    match Record::of(message.into_room_msg(room), time_ms) {
        Some(record) => out.write(&record).await,
        None => Ok(true),
    }
}

/// Sends requests with ids and waits for their answers.
struct Asker<'a> {
    client: &'a Client,
    events: &'a mut mpsc::Receiver<Event>,
    next_id: u32,
}

impl Asker<'_> {
    /// Sends `msg` with a fresh id and returns its answer; a refusal is a failure, said in
    /// words.
    async fn ask(&mut self, msg: ClientMsg) -> Result<ServerMsg, Failure> {
        let id = self.next_id;
        self.next_id += 1;
        self.client.send(msg.with_id(id));
        loop {
            let event = timeout(ANSWER_WAIT, self.events.recv())
                .await
                .map_err(|_| {
                    Failure(format!(
                        "no answer from the server within {} s",
                        ANSWER_WAIT.as_secs()
                    ))
                })?;
            let answer = match event {
                None => return Err(Failure("the connection's session ended".into())),
                Some(Event::Server(ServerMsg::Reply { id: got, msg })) if got == id => *msg,
                Some(Event::Disconnected { reason }) => {
                    return Err(Failure(format!(
                        "the connection was lost before the server answered: {reason}"
                    )));
                }
                Some(Event::Fatal(reason) | Event::Stopped { reason }) => {
                    return Err(Failure(reason));
                }
                Some(_) => continue,
            };
            return match answer {
                ServerMsg::Error {
                    kind: ErrorKind::NoHistory,
                    text,
                } => Err(Failure(format!(
                    "the server keeps no history here: {}",
                    sanitize::text(&text)
                ))),
                ServerMsg::Error { text, .. } => Err(Failure(format!(
                    "the server refused: {}",
                    sanitize::text(&text)
                ))),
                answer => Ok(answer),
            };
        }
    }
}

/// An answer of another kind than asked.
fn unexpected(want: &str) -> Failure {
    Failure(format!(
        "the server answered with something other than {want}"
    ))
}
