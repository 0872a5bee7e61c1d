//! Private messages kept by the server: when this client owns its nick and the server
//! keeps history, a private conversation that opens shows what the two owners said
//! before, above what arrives.

use chat_client::sanitize;
use shared::{ClientMsg, PrivateLine};

use super::scrollback::{Entry, EntryKind};
use super::{App, Command};

/// Kept messages asked for when a conversation opens: a screenful and more, in one page.
pub const PRIVATE_BACKLOG: u32 = 100;

impl App {
    /// Whether the server keeps this client's private messages: it owns its nick and
    /// the server keeps history.
    fn keeps_private(&self) -> bool {
        self.standing.owns.as_ref() == Some(&self.nick) && self.history_info.is_some()
    }

    /// The conversation with `nick` opened: ask for its kept messages at the next update.
    pub(super) fn want_private(&mut self, nick: &str) {
        if self.keeps_private() {
            self.private_wanted.push(nick.to_owned());
        }
    }

    /// The requests for the conversations opened since the last update.
    pub(super) fn ask_private(&mut self) -> Vec<Command> {
        self.private_wanted
            .drain(..)
            .map(|with| {
                Command::Send(ClientMsg::PrivateHistory {
                    with,
                    before: 0,
                    limit: PRIVATE_BACKLOG,
                })
            })
            .collect()
    }

    /// The kept messages of the conversation shown, oldest first: above what is there,
    /// without the ones already shown (the message that opened the conversation is kept
    /// too).
    pub(super) fn private_history(&mut self, messages: Vec<PrivateLine>, more: bool) {
        let mut older: Vec<Entry> = Vec::with_capacity(messages.len() + 1);
        if more {
            older.push(Entry {
                time_ms: messages.first().map_or(0, |l| l.time_ms),
                kind: EntryKind::Info("earlier private messages are kept on the server".into()),
            });
        }
        for line in messages {
            if self.ignored.contains(&line.from) && line.from != self.nick {
                continue;
            }
            let entry = Entry {
                time_ms: line.time_ms,
                kind: EntryKind::Private {
                    own: line.from == self.nick,
                    from: sanitize::nick(&line.from).into_owned(),
                    to: sanitize::nick(&line.to).into_owned(),
                    text: sanitize::text(&line.text).into_owned(),
                },
            };
            let shown = self.scrollback.entries().iter().any(|(_, e)| *e == entry);
            if !shown {
                older.push(entry);
            }
        }
        self.scrollback.prepend(older);
    }
}

#[cfg(test)]
mod tests {
    use shared::ServerMsg;

    use super::*;
    use crate::app::Event;
    use crate::app::reading::HistoryInfo;
    use crate::app::testing::*;

    fn line(id: u64, from: &str, to: &str, text: &str) -> PrivateLine {
        PrivateLine {
            id,
            time_ms: 1_000 * id,
            from: from.into(),
            to: to.into(),
            text: text.into(),
        }
    }

    fn texts(app: &App) -> Vec<String> {
        app.scrollback
            .entries()
            .iter()
            .filter_map(|(_, e)| match &e.kind {
                EntryKind::Private { text, .. } | EntryKind::Info(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_owner_sees_what_was_said_before_above_the_message_that_opened_the_conversation() {
        let mut app = app();
        app.history_info = Some(HistoryInfo {
            page: 100,
            catch_up: 100,
            backlog: 50,
            search: 50,
        });
        app.update(Event::Server(ServerMsg::Identified {
            owner: true,
            operator: false,
        }));
        let commands = app.update(Event::Server(ServerMsg::Private {
            id: 9,
            time_ms: 9_000,
            from: "bob".into(),
            to: "alice".into(),
            text: "again".into(),
        }));
        assert!(commands.iter().any(|c| matches!(
            c,
            Command::Send(ClientMsg::PrivateHistory { with, before: 0, .. }) if with == "bob"
        )));
        app.update(Event::Server(ServerMsg::PrivateHistory {
            with: "bob".into(),
            messages: vec![
                line(3, "alice", "bob", "hi bob"),
                line(4, "bob", "alice", "hi alice"),
                line(9, "bob", "alice", "again"),
            ],
            more: true,
        }));
        let i = app.query_buffer("bob").expect("bob's buffer");
        app.switch_to(i);
        assert_eq!(
            texts(&app),
            [
                "earlier private messages are kept on the server",
                "hi bob",
                "hi alice",
                "again"
            ]
        );
    }

    #[test]
    fn a_client_that_owns_no_nick_asks_for_nothing() {
        let mut app = app();
        app.history_info = Some(HistoryInfo {
            page: 100,
            catch_up: 100,
            backlog: 50,
            search: 50,
        });
        let commands = app.update(Event::Server(ServerMsg::Private {
            id: 9,
            time_ms: 9_000,
            from: "bob".into(),
            to: "alice".into(),
            text: "again".into(),
        }));
        assert!(
            !commands
                .iter()
                .any(|c| matches!(c, Command::Send(ClientMsg::PrivateHistory { .. })))
        );
    }
}
