//! Telling the user that someone wants them: the bell, and a desktop notification while
//! the terminal is not focused, for a mention or a private message. Both can be turned
//! off (`bell`, `notify` in the configuration file).

use chat_client::sanitize;

use super::{App, Command};

/// What called for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A line in the room naming this client (or a highlight word).
    Mention,
    /// A private message.
    Private,
}

impl App {
    /// The terminal gained (`true`) or lost the focus.
    pub(super) fn focus(&mut self, focused: bool) {
        tracing::info!(focused, "terminal focus");
        self.focused = focused;
    }

    /// Rings and notifies for `call` from `from` saying `text`, as the settings allow.
    pub(super) fn alert(&self, call: Call, from: &str, text: &str, commands: &mut Vec<Command>) {
        if self.settings.bell {
            commands.push(Command::Bell);
        }
        if self.settings.choices.notify && !self.focused {
            let from = sanitize::nick(from);
            let title = match call {
                Call::Mention => format!("{from} in #{}", sanitize::nick(&self.room)),
                Call::Private => format!("{from} (private)"),
            };
            commands.push(Command::Notify {
                title,
                body: sanitize::text(text).into_owned(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::super::Event;
    use super::super::testing::*;
    use super::*;

    fn notifications(commands: &[Command]) -> Vec<(String, String)> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Notify { title, body } => Some((title.clone(), body.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_mention_or_a_private_message_notifies_only_while_unfocused() {
        let mut app = app();
        assert_eq!(app.update(chat("bob", "hi alice")), [Command::Bell]);
        app.update(Event::Focus(false));
        let out = app.update(chat("bob", "alice: \x1b]0;x look"));
        assert_eq!(out[0], Command::Bell);
        assert_eq!(
            notifications(&out),
            [(
                "bob in #lobby".to_owned(),
                "alice: \u{241b}]0;x look".to_owned()
            )]
        );
        assert!(notifications(&app.update(chat("bob", "no name here"))).is_empty());
        let pm = Event::Server(shared::ServerMsg::Private {
            id: 99,
            time_ms: T,
            from: "carol".into(),
            to: "alice".into(),
            text: "psst".into(),
        });
        assert_eq!(
            notifications(&app.update(pm.clone())),
            [("carol (private)".to_owned(), "psst".to_owned())]
        );
        app.update(Event::Focus(true));
        assert!(notifications(&app.update(pm.clone())).is_empty());
        // Both off.
        app.settings.bell = false;
        app.settings.choices.notify = false;
        app.update(Event::Focus(false));
        assert!(app.update(pm).is_empty());
        app.update(key(KeyCode::Esc));
    }
}
