//! The user's own lines on their way: shown at once, dimmed and marked, until the server
//! has them. Each chat line and action goes out with a request id of its own; the server's
//! answer (its copy of the message, in a `Reply` with that id) takes the mark away, and
//! the message itself takes its place in the room. After a lost connection the client
//! library says what became of a line whose answer was lost: found in the room's history
//! (delivered), sent again (its answer comes as usual), or impossible to confirm (the mark
//! says so, and a line above says it was not sent again).

use chat_client::sanitize;
use shared::{ClientMsg, RoomRequest};

use super::scrollback::{EntryKind, SendState};
use super::{App, Command};

impl App {
    /// A chat line or an action typed by the user: shown as pending, sent with an id.
    pub(super) fn say(&mut self, msg: ClientMsg) -> Vec<Command> {
        let (text, action) = match &msg {
            ClientMsg::Chat { text } => (text.clone(), false),
            ClientMsg::Action { text } => (text.clone(), true),
            _ => return vec![Command::Send(msg)],
        };
        if !self.joined {
            self.error(format!(
                "you left {}: /join {} to talk there again",
                self.buffer_title(),
                sanitize::nick(&self.room)
            ));
            return Vec::new();
        }
        let request = if action {
            RoomRequest::Action { text: text.clone() }
        } else {
            RoomRequest::Chat { text: text.clone() }
        };
        let msg = self.to_room(self.room.clone(), request);
        let id = self.request_id();
        self.local(EntryKind::Sending {
            id,
            from: sanitize::nick(&self.nick).into_owned(),
            text: sanitize::text(&text).into_owned(),
            action,
            state: SendState::Pending,
        });
        vec![Command::Send(msg.with_id(id))]
    }

    /// The server answered the request `id`: a pending line of that id is no longer
    /// pending (its message, or the error it caused, is shown as it comes).
    pub(super) fn answered(&mut self, id: u32) {
        self.scrollback.remove_sending(id);
    }

    /// The library found a line whose answer was lost in the room's history.
    pub(super) fn delivered(&mut self, msg: &ClientMsg) {
        if let ClientMsg::Request { id, .. } = msg {
            self.scrollback.remove_sending(*id);
        }
    }

    /// The library cannot tell whether the server had this line, and did not send it
    /// again.
    pub(super) fn unconfirmed(&mut self, msg: &ClientMsg) {
        let (id, inner) = match msg {
            ClientMsg::Request { id, msg } => (Some(*id), msg.as_ref()),
            bare => (None, bare),
        };
        if let Some(id) = id {
            self.scrollback.unconfirmed(id);
        }
        let what = match inner {
            ClientMsg::Chat { text }
            | ClientMsg::Action { text }
            | ClientMsg::InRoom {
                msg: RoomRequest::Chat { text } | RoomRequest::Action { text },
                ..
            } => format!("\"{}\"", sanitize::text(text)),
            ClientMsg::Private { to, text } => format!(
                "the message to {} \"{}\"",
                sanitize::nick(to),
                sanitize::text(text)
            ),
            _ => return,
        };
        self.error(format!(
            "the connection was lost before the server confirmed {what}; it may not have \
             been delivered and was not sent again"
        ));
    }
}

#[cfg(test)]
mod tests {
    use shared::{ChatKind, RoomEvent, ServerMsg};

    use super::*;
    use crate::app::Event;
    use crate::app::testing::*;

    fn pending(app: &App) -> Vec<(u32, SendState)> {
        app.scrollback
            .entries()
            .iter()
            .filter_map(|(_, e)| match &e.kind {
                EntryKind::Sending { id, state, .. } => Some((*id, *state)),
                _ => None,
            })
            .collect()
    }

    fn echo(id: u32, text: &str) -> Event {
        let Event::Server(room) = room_msg(RoomEvent::Said {
            from: "alice".into(),
            kind: ChatKind::Say,
            text: text.into(),
        }) else {
            unreachable!()
        };
        Event::Server(ServerMsg::Reply {
            id,
            msg: Box::new(room),
        })
    }

    #[test]
    fn a_line_is_pending_until_the_server_answers_it() {
        let mut app = app();
        let sent = submit(&mut app, "hello");
        let [Command::Send(ClientMsg::Request { id, msg })] = sent.as_slice() else {
            panic!("{sent:?}");
        };
        assert_eq!(
            **msg,
            ClientMsg::Chat {
                text: "hello".into()
            }
        );
        assert_eq!(pending(&app), [(*id, SendState::Pending)]);
        assert!(matches!(last(&app), EntryKind::Sending { text, .. } if text == "hello"));
        // Another answer does not settle it.
        app.update(echo(id + 100, "hello"));
        assert_eq!(pending(&app).len(), 1);
        app.update(echo(*id, "hello"));
        assert!(pending(&app).is_empty());
        assert!(matches!(last(&app), EntryKind::Chat { own: true, text, .. } if text == "hello"));
    }

    #[test]
    fn a_pending_line_survives_a_disconnect_and_is_settled_by_the_library() {
        let mut app = app();
        submit(&mut app, "one");
        submit(&mut app, "/me two");
        let ids: Vec<u32> = pending(&app).into_iter().map(|(id, _)| id).collect();
        app.update(Event::Disconnected {
            reason: "no answer".into(),
        });
        assert_eq!(pending(&app).len(), 2);
        app.update(Event::Delivered {
            msg: ClientMsg::Chat { text: "one".into() }.with_id(ids[0]),
        });
        let action = ClientMsg::Action { text: "two".into() }.with_id(ids[1]);
        app.update(Event::Unconfirmed { msg: action });
        assert_eq!(pending(&app), [(ids[1], SendState::Unconfirmed)]);
        assert!(matches!(
            last(&app),
            EntryKind::Error(t) if t.contains("\"two\"") && t.contains("not sent again")
        ));
    }
}
