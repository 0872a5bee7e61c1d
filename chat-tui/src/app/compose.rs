//! Sending what was typed: Enter turns the input line into a chat line, a frame of a
//! command, a transfer, or something local (`/help`, `/clear`); a line that does not parse
//! stays in the input line with an error above it.

use chat_client::sanitize;
use chat_client::transfer;
use shared::{ClientMsg, RoomRequest};

use super::keys::KEYS_HELP;
use super::pane::Scroll;
use super::{App, Command};
use crate::commands::{self, COMMANDS, Input};

impl App {
    /// Enter.
    pub(super) fn submit(&mut self) -> Vec<Command> {
        let line = self.input.text().to_owned();
        let parsed = match commands::parse(&line) {
            Ok(parsed) => parsed,
            Err(e) if e.is_empty() => return Vec::new(),
            Err(e) => {
                // The line stays in the input so that it can be corrected.
                self.error(e);
                return Vec::new();
            }
        };
        self.input.take();
        self.history.remember(line);
        self.scrollback.scroll(Scroll::Bottom);
        let msg = match parsed {
            Input::Say(text) => match self.query.clone() {
                Some(to) => ClientMsg::Private { to, text },
                None => return self.say(ClientMsg::Chat { text }),
            },
            Input::Command(cmd) => match cmd {
                commands::Command::Help => {
                    self.help();
                    return Vec::new();
                }
                commands::Command::Clear => {
                    self.scrollback.clear(self.last_seq);
                    self.highlight = None;
                    return Vec::new();
                }
                commands::Command::Search(words) => {
                    if self.room_for("search").is_none() {
                        return Vec::new();
                    }
                    return self.search(words);
                }
                commands::Command::Quit(reason) => return self.quit(reason),
                commands::Command::Nick(nick) => ClientMsg::Nick { nick },
                commands::Command::Join(room) => return self.join_command(room),
                commands::Command::Who => match self.room_for("who") {
                    Some(room) => self.to_room(room, RoomRequest::Who),
                    None => return Vec::new(),
                },
                commands::Command::Me(text) => {
                    if self.query.is_some() {
                        self.error("/me: only in a room's buffer".into());
                        return Vec::new();
                    }
                    return self.say(ClientMsg::Action { text });
                }
                commands::Command::Msg { to, text } => ClientMsg::Private { to, text },
                commands::Command::Files => match self.room_for("files") {
                    Some(room) => self.to_room(room, RoomRequest::ListFiles),
                    None => return Vec::new(),
                },
                commands::Command::SendFile(path) => return self.send_file_here(path),
                commands::Command::Part(args) => return self.part_command(&args),
                commands::Command::Query(nick) => {
                    self.query_command(&nick);
                    return Vec::new();
                }
                commands::Command::Close => return self.close_command(),
                commands::Command::Buffer(n) => {
                    self.buffer_number(n);
                    return Vec::new();
                }
                commands::Command::Topic(text) => return self.topic_command(text),
                commands::Command::Away(text) => return self.away_command(text),
                commands::Command::Last(words) => {
                    self.last(&words);
                    return Vec::new();
                }
                commands::Command::Get(file_id) => return self.get(file_id),
                commands::Command::Cancel(id) => return self.cancel(id),
                commands::Command::Ignore(nick) => return self.ignore(nick),
                commands::Command::Unignore(nick) => return self.unignore(nick),
                commands::Command::WhoAmI => {
                    self.whoami();
                    return Vec::new();
                }
                commands::Command::Register => return self.register_command(true),
                commands::Command::Unregister => return self.register_command(false),
                commands::Command::Reconnect => return self.reconnect_command(),
                commands::Command::LockTopic(locked) => return self.lock_topic_command(locked),
                commands::Command::Operate(operate) => return self.operate_command(operate),
            },
        };
        vec![Command::Send(msg)]
    }

    /// `/send-file PATH` in the buffer shown: the upload goes to its room.
    fn send_file_here(&mut self, path: String) -> Vec<Command> {
        let Some(room) = self.room_for("send-file") else {
            return Vec::new();
        };
        let commands = self.send_file(path);
        if !self.several_rooms {
            return commands;
        }
        commands
            .into_iter()
            .map(|command| match command {
                Command::Transfer(request @ transfer::Request::Upload { .. }) => {
                    Command::UploadTo {
                        room: room.clone(),
                        request,
                    }
                }
                other => other,
            })
            .collect()
    }

    /// `/help`: the commands, where downloads go, and the keys.
    fn help(&mut self) {
        self.info("commands:".into());
        for (name, args, what) in COMMANDS {
            self.info(format!("  {:<18} {what}", format!("{name} {args}")));
        }
        self.info("  //TEXT             send TEXT starting with a slash".into());
        self.info(format!(
            "files you /get are saved in {}",
            sanitize::text(&self.settings.download_dir.display().to_string())
        ));
        for line in KEYS_HELP {
            self.info((*line).into());
        }
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::app::Event;
    use crate::app::scrollback::EntryKind;
    use crate::app::testing::*;

    #[test]
    fn typing_and_enter_sends_a_chat_line() {
        let mut app = app();
        let out = submit(&mut app, "hello 你好");
        let [Command::Send(ClientMsg::Request { msg, .. })] = out.as_slice() else {
            panic!("{out:?}");
        };
        assert_eq!(
            **msg,
            ClientMsg::Chat {
                text: "hello 你好".into()
            }
        );
        assert!(app.input.is_empty());
    }

    #[test]
    fn blank_line_sends_nothing() {
        let mut app = app();
        assert!(submit(&mut app, "   ").is_empty());
    }

    #[test]
    fn commands_become_frames() {
        let mut app = app();
        let cases = [
            (
                "/nick bob2",
                ClientMsg::Nick {
                    nick: "bob2".into(),
                },
            ),
            (
                "/join #rust",
                ClientMsg::Join {
                    room: "rust".into(),
                }
                .with_id(1),
            ),
            ("/who", ClientMsg::Who),
            (
                "/me waves",
                ClientMsg::Action {
                    text: "waves".into(),
                }
                .with_id(2),
            ),
            (
                "/msg bob hi",
                ClientMsg::Private {
                    to: "bob".into(),
                    text: "hi".into(),
                },
            ),
        ];
        for (line, msg) in cases {
            assert_eq!(submit(&mut app, line), [Command::Send(msg)], "{line}");
        }
    }

    #[test]
    fn quit_by_command_and_by_ctrl_c() {
        let mut app = app();
        assert_eq!(
            submit(&mut app, "/quit bye"),
            [
                Command::Send(ClientMsg::Quit {
                    reason: "bye".into()
                }),
                Command::Quit
            ]
        );
        assert_eq!(
            app.update(ctrl('c')),
            [
                Command::Send(ClientMsg::Quit {
                    reason: String::new()
                }),
                Command::Quit
            ]
        );
    }

    #[test]
    fn bad_command_is_an_inline_error_and_keeps_the_line() {
        let mut app = app();
        assert!(submit(&mut app, "/nope").is_empty());
        assert_eq!(
            last(&app),
            EntryKind::Error("unknown command /nope; type /help for the list".into())
        );
        assert_eq!(app.input.text(), "/nope");
    }

    #[test]
    fn help_and_clear() {
        let mut app = app();
        submit(&mut app, "/help");
        let text: Vec<_> = app
            .scrollback
            .entries()
            .iter()
            .filter_map(|(_, e)| match &e.kind {
                EntryKind::Info(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert!(text.iter().any(|t| t.contains("/msg NICK TEXT")));
        assert!(text.iter().any(|t| t.contains("F2 member list")));
        submit(&mut app, "/clear");
        assert!(app.items().is_empty(), "{:?}", app.items());
    }

    #[test]
    fn editing_keys() {
        let mut app = app();
        type_str(&mut app, "one two three");
        app.update(ctrl('w'));
        assert_eq!(app.input.text(), "one two ");
        app.update(ctrl('a'));
        app.update(key(KeyCode::Delete));
        assert_eq!(app.input.text(), "ne two ");
        app.update(Event::Key(KeyEvent::new(
            KeyCode::Right,
            KeyModifiers::CONTROL,
        )));
        app.update(ctrl('k'));
        assert_eq!(app.input.text(), "ne");
        app.update(ctrl('e'));
        app.update(key(KeyCode::Backspace));
        assert_eq!(app.input.text(), "n");
        app.update(ctrl('u'));
        assert!(app.input.is_empty());
    }

    #[test]
    fn history_walks_back_and_returns_to_the_draft() {
        let mut app = app();
        submit(&mut app, "first");
        submit(&mut app, "second");
        type_str(&mut app, "draft");
        app.update(key(KeyCode::Up));
        assert_eq!(app.input.text(), "second");
        app.update(key(KeyCode::Up));
        app.update(key(KeyCode::Up));
        assert_eq!(app.input.text(), "first");
        app.update(key(KeyCode::Down));
        assert_eq!(app.input.text(), "second");
        app.update(key(KeyCode::Down));
        assert_eq!(app.input.text(), "draft");
    }

    #[test]
    fn sending_jumps_back_to_the_newest() {
        let mut app = app();
        for i in 0..50 {
            app.update(chat("bob", &format!("line {i}")));
        }
        app.update(key(KeyCode::PageUp));
        assert!(!app.scrollback.state().following());
        submit(&mut app, "hi");
        assert!(app.scrollback.state().following());
    }
}
