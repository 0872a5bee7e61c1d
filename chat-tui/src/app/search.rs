//! `/search WORDS`: the server searches the room's history and the hits are listed in a
//! view of their own, newest first, over the message pane. Up and Down choose a hit,
//! Enter shows it where it was said (the history around it is loaded), Esc goes back.
//!
//! Each search is a request with an id of its own (`App::request_id`), so that the answer
//! to an earlier search, late, is never taken for the answer to the current one.

use shared::{ClientMsg, ErrorKind, ServerMsg, Stamped};

use super::keys::SearchAction;
use super::{App, Command, ConnState};

/// Hits asked for at once when the server has not said its cap.
pub const SEARCH_LIMIT: u32 = 100;

/// Most hits the view keeps (each cut to the protocol's limits, [`chat_client::clip`]);
/// older ones are not asked for beyond it.
pub const MAX_SEARCH_HITS: usize = 1000;

/// What the view says when the connection was lost before the server answered.
pub const SEARCH_CUT_OFF: &str = "the connection was lost before the server answered: search again";

/// What the view says of a search typed while disconnected (a search is not kept for
/// after the reconnect: its answer would belong to the connection that is gone).
pub const SEARCH_NOT_CONNECTED: &str = "not connected: search again once reconnected";

/// Where a search is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchState {
    /// Waiting for the server's answer.
    Searching,
    /// The server answered. `more`: older hits can be asked for (the view does when the
    /// choice comes near the end). `complete` false: the server stopped looking when its
    /// time ran out.
    Done { more: bool, complete: bool },
    /// The search could not be done: the server's words, or the connection was lost
    /// before the answer came.
    Failed(String),
}

/// The search view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The room searched (not yet sanitised).
    pub room: String,
    /// The words, as typed.
    pub words: String,
    /// The hits, newest first (not yet sanitised).
    pub hits: Vec<Stamped>,
    /// The chosen hit.
    pub selected: usize,
    pub state: SearchState,
    /// The id of the request waiting for its answer.
    waiting: Option<u32>,
}

impl Search {
    /// The chosen hit.
    pub fn chosen(&self) -> Option<&Stamped> {
        self.hits.get(self.selected)
    }

    /// The id of the request waiting for its answer, if one is.
    pub fn waiting(&self) -> Option<u32> {
        self.waiting
    }
}

impl App {
    /// `/search WORDS`: opens the view and asks the server (when connected: the client
    /// library keeps no request for after a reconnect).
    pub(super) fn search(&mut self, words: String) -> Vec<Command> {
        if self.conn != ConnState::Connected {
            self.search = Some(Search {
                room: self.room.clone(),
                words,
                hits: Vec::new(),
                selected: 0,
                state: SearchState::Failed(SEARCH_NOT_CONNECTED.into()),
                waiting: None,
            });
            return Vec::new();
        }
        let id = self.request_id();
        self.search = Some(Search {
            room: self.room.clone(),
            words: words.clone(),
            hits: Vec::new(),
            selected: 0,
            state: SearchState::Searching,
            waiting: Some(id),
        });
        vec![Command::Send(
            ClientMsg::Search {
                room: self.room.clone(),
                words,
                before: 0,
                limit: self.search_limit(),
            }
            .with_id(id),
        )]
    }

    fn search_limit(&self) -> u32 {
        self.history_info
            .as_ref()
            .map_or(SEARCH_LIMIT, |i| i.search.max(1))
    }

    /// The answer to the request `id`, if it is the search's: taken, and `None` returned.
    pub(super) fn search_answer(&mut self, id: u32, msg: ServerMsg) -> Option<ServerMsg> {
        let Some(search) = self.search.as_mut().filter(|s| s.waiting == Some(id)) else {
            return Some(msg);
        };
        search.waiting = None;
        match msg {
            ServerMsg::SearchHits {
                hits,
                more,
                complete,
                ..
            } => {
                let room = MAX_SEARCH_HITS.saturating_sub(search.hits.len());
                let cut = hits.len() > room;
                search
                    .hits
                    .extend(hits.into_iter().take(room).map(|mut hit| {
                        chat_client::clip::message(&mut hit);
                        hit
                    }));
                search.state = SearchState::Done {
                    more: more && !cut && search.hits.len() < MAX_SEARCH_HITS,
                    complete,
                };
            }
            ServerMsg::Error { kind, text } => {
                search.state = SearchState::Failed(match kind {
                    ErrorKind::NoHistory => format!(
                        "this server keeps no history to search ({})",
                        chat_client::sanitize::text(&text)
                    ),
                    _ => chat_client::sanitize::text(&text).into_owned(),
                });
            }
            other => return Some(other),
        }
        None
    }

    /// A key while the search view is open.
    pub(super) fn search_key(&mut self, action: SearchAction) -> Vec<Command> {
        let Some(search) = self.search.as_mut() else {
            return Vec::new();
        };
        let page = self.scrollback.state().rows().saturating_sub(3).max(1);
        let last = search.hits.len().saturating_sub(1);
        match action {
            SearchAction::Up(n) => search.selected = search.selected.saturating_sub(n),
            SearchAction::Down(n) => search.selected = (search.selected + n).min(last),
            SearchAction::PageUp => search.selected = search.selected.saturating_sub(page),
            SearchAction::PageDown => search.selected = (search.selected + page).min(last),
            SearchAction::Close => {
                self.search = None;
                return Vec::new();
            }
            SearchAction::Show => {
                let Some(hit) = search.chosen() else {
                    return Vec::new();
                };
                let seq = hit.seq;
                self.search = None;
                return self.jump_to(seq);
            }
        }
        self.more_hits(page)
    }

    /// The connection is gone: an answer awaited will never come, so the view says so
    /// rather than "searching…" for ever. The hits already listed stay.
    pub(super) fn search_cut_off(&mut self) {
        if let Some(search) = self.search.as_mut()
            && search.waiting.take().is_some()
        {
            search.state = SearchState::Failed(SEARCH_CUT_OFF.into());
        }
    }

    /// Asks for older hits when the choice is within a page of the last one.
    fn more_hits(&mut self, page: usize) -> Vec<Command> {
        let near_end = self
            .search
            .as_ref()
            .is_some_and(|s| s.selected + page >= s.hits.len());
        let Some(search) = self.search.as_ref() else {
            return Vec::new();
        };
        let (SearchState::Done { more: true, .. }, false, Some(last)) =
            (&search.state, search.waiting.is_some(), search.hits.last())
        else {
            return Vec::new();
        };
        if !near_end {
            return Vec::new();
        }
        let (room, words, before) = (search.room.clone(), search.words.clone(), last.seq);
        let limit = self.search_limit();
        let id = self.request_id();
        if let Some(search) = self.search.as_mut() {
            search.waiting = Some(id);
            search.state = SearchState::Searching;
        }
        vec![Command::Send(
            ClientMsg::Search {
                room,
                words,
                before,
                limit,
            }
            .with_id(id),
        )]
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;
    use shared::{ChatKind, RoomEvent};

    use super::*;
    use crate::app::Event;
    use crate::app::testing::*;

    fn hit(seq: u64, text: &str) -> Stamped {
        Stamped {
            id: seq,
            seq,
            time_ms: T,
            event: RoomEvent::Said {
                from: "bob".into(),
                kind: ChatKind::Say,
                text: text.into(),
            },
        }
    }

    fn answer(id: u32, hits: Vec<Stamped>, more: bool) -> Event {
        Event::Server(ServerMsg::Reply {
            id,
            msg: Box::new(ServerMsg::SearchHits {
                room: "lobby".into(),
                hits,
                more,
                complete: true,
            }),
        })
    }

    fn sent_id(commands: &[Command]) -> u32 {
        match commands {
            [Command::Send(ClientMsg::Request { id, msg })] => {
                assert!(matches!(**msg, ClientMsg::Search { .. }), "{msg:?}");
                *id
            }
            other => panic!("expected one search request, got {other:?}"),
        }
    }

    #[test]
    fn a_search_opens_the_view_and_takes_its_own_answer_only() {
        let mut app = app();
        let first = sent_id(&submit(&mut app, "/search deploy"));
        let second = sent_id(&submit(&mut app, "/search deploy now"));
        assert_ne!(first, second);
        // The late answer to the first search is not the second's.
        app.update(answer(first, vec![hit(3, "deploy")], false));
        assert!(app.search.as_ref().unwrap().hits.is_empty());
        app.update(answer(
            second,
            vec![hit(9, "deploy now"), hit(4, "now deploy")],
            false,
        ));
        let search = app.search.as_ref().unwrap();
        assert_eq!(search.words, "deploy now");
        assert_eq!(search.hits.len(), 2);
        assert_eq!(
            search.state,
            SearchState::Done {
                more: false,
                complete: true
            }
        );
    }

    #[test]
    fn up_and_down_choose_esc_closes() {
        let mut app = app();
        let id = sent_id(&submit(&mut app, "/search x"));
        app.update(answer(
            id,
            (1..=5).rev().map(|s| hit(s, "x")).collect(),
            false,
        ));
        app.update(key(KeyCode::Down));
        app.update(key(KeyCode::Down));
        assert_eq!(app.search.as_ref().unwrap().chosen().unwrap().seq, 3);
        for _ in 0..10 {
            app.update(key(KeyCode::Down));
        }
        assert_eq!(app.search.as_ref().unwrap().selected, 4);
        app.update(key(KeyCode::Up));
        assert_eq!(app.search.as_ref().unwrap().selected, 3);
        // Up and Down did not walk the input history meanwhile.
        assert!(app.input.is_empty());
        app.update(key(KeyCode::Esc));
        assert!(app.search.is_none());
    }

    #[test]
    fn older_hits_are_asked_for_near_the_end_once_at_a_time() {
        let mut app = app();
        let id = sent_id(&submit(&mut app, "/search x"));
        app.update(answer(
            id,
            (11..=20).rev().map(|s| hit(s, "x")).collect(),
            true,
        ));
        // Nothing asked until the choice is within a page of the end (the pane was never
        // drawn: a page is one row).
        for _ in 0..8 {
            assert!(app.update(key(KeyCode::Down)).is_empty());
        }
        let more = app.update(key(KeyCode::Down));
        let more = match more.as_slice() {
            [Command::Send(ClientMsg::Request { id, msg })] => {
                assert_eq!(
                    **msg,
                    ClientMsg::Search {
                        room: "lobby".into(),
                        words: "x".into(),
                        before: 11,
                        limit: SEARCH_LIMIT
                    }
                );
                *id
            }
            other => panic!("{other:?}"),
        };
        assert!(app.update(key(KeyCode::Down)).is_empty(), "one at a time");
        app.update(answer(more, vec![hit(5, "x")], false));
        assert_eq!(app.search.as_ref().unwrap().hits.len(), 11);
        for _ in 0..20 {
            assert!(app.update(key(KeyCode::Down)).is_empty(), "no more to ask");
        }
    }

    /// A hostile server's hits are kept cut to the protocol's limits.
    #[test]
    fn oversized_hits_are_kept_cut() {
        let mut app = app();
        let id = sent_id(&submit(&mut app, "/search x"));
        let huge = "x".repeat(1 << 20);
        app.update(answer(id, vec![hit(2, &huge), hit(1, "x")], false));
        let hits = &app.search.as_ref().unwrap().hits;
        let RoomEvent::Said { text, .. } = &hits[0].event else {
            panic!("{hits:?}");
        };
        assert_eq!(text.len(), shared::limits::MAX_TEXT_BYTES + '…'.len_utf8());
        assert_eq!(hits[1], hit(1, "x"));
    }

    #[test]
    fn a_server_without_history_says_so_in_the_view() {
        let mut app = app();
        let id = sent_id(&submit(&mut app, "/search x"));
        app.update(Event::Server(ServerMsg::Reply {
            id,
            msg: Box::new(ServerMsg::Error {
                kind: ErrorKind::NoHistory,
                text: "history is off".into(),
            }),
        }));
        assert_eq!(
            app.search.as_ref().unwrap().state,
            SearchState::Failed("this server keeps no history to search (history is off)".into())
        );
    }

    /// A search waiting when the connection drops is never answered: the view says so,
    /// and a later answer with its id (from a connection that is gone) is not taken.
    #[test]
    fn a_search_cut_off_by_a_lost_connection_says_so_and_keeps_its_hits() {
        let mut app = app();
        let id = sent_id(&submit(&mut app, "/search x"));
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        let search = app.search.as_ref().unwrap();
        assert_eq!(search.state, SearchState::Failed(SEARCH_CUT_OFF.into()));
        app.update(answer(id, vec![hit(1, "x")], false));
        assert!(app.search.as_ref().unwrap().hits.is_empty());

        // Back, then cut off while asking for older hits: those found stay listed.
        app.update(Event::Reconnected(chat_client::Welcome {
            nick: "alice".into(),
            room: "lobby".into(),
            members: vec!["alice".into()],
            total: 1,
            seq: 12,
            rooms: false,
        }));
        let id = sent_id(&submit(&mut app, "/search y"));
        app.update(answer(
            id,
            (11..=20).rev().map(|s| hit(s, "y")).collect(),
            true,
        ));
        for _ in 0..9 {
            app.update(key(KeyCode::Down));
        }
        assert_eq!(
            app.search.as_ref().unwrap().state,
            SearchState::Searching,
            "older hits asked"
        );
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        let search = app.search.as_ref().unwrap();
        assert_eq!(search.state, SearchState::Failed(SEARCH_CUT_OFF.into()));
        assert_eq!(search.hits.len(), 10);
    }

    /// The client library does not keep a search for after a reconnect: typed while
    /// disconnected, the view says so at once rather than wait for nothing.
    #[test]
    fn a_search_while_disconnected_says_so_and_sends_nothing() {
        let mut app = app();
        app.update(Event::Disconnected {
            reason: "reset".into(),
        });
        assert_eq!(submit(&mut app, "/search x"), []);
        let search = app.search.as_ref().unwrap();
        assert_eq!(
            search.state,
            SearchState::Failed(SEARCH_NOT_CONNECTED.into())
        );
    }

    #[test]
    fn typing_in_the_search_view_goes_to_the_input_line_and_enter_sends_it() {
        let mut app = app();
        let id = sent_id(&submit(&mut app, "/search x"));
        app.update(answer(id, vec![hit(1, "x")], false));
        let out = submit(&mut app, "hello");
        assert_eq!(
            out,
            [Command::Send(
                ClientMsg::Chat {
                    text: "hello".into()
                }
                .with_id(id + 1)
            )]
        );
        assert!(app.search.is_some(), "the view stays");
    }
}
