//! The client's key and what the server says of it (feature `auth`): whether the client
//! owns its nick and is an operator (`Identified`, said once, and `@` before the nick in
//! the status line), `/whoami`, `/register` and `/unregister`, the operators' commands
//! (`/kick`, `/ban`, `/unban`, `/bans`, `/release`, `/topic -lock`) and their answers, and
//! a session the server stopped (a kick, a ban, a password refused on a reconnect), which
//! stays disconnected until `/reconnect`.

use chat_client::clock::hh_mm;
use chat_client::sanitize;
use shared::{BanInfo, ClientMsg, OperatorRequest};

use super::network::ConnState;
use super::{App, Command};
use crate::commands::Operate;

/// What the server said of the client's key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// The nick the client is known to own (registered to its key), if any.
    pub owns: Option<String>,
    /// The client's key is one of the server's operators'.
    pub operator: bool,
}

impl App {
    /// `Identified`, after each welcome: said when it is news (not again after every
    /// reconnect).
    pub(super) fn identified(&mut self, owner: bool, operator: bool) {
        let owns = owner.then(|| self.nick.clone());
        let nick = sanitize::nick(&self.nick).into_owned();
        if owner && self.standing.owns != owns {
            self.notice_now(format!(
                "you own the nick {nick}: it is registered to your key"
            ));
        }
        if operator && !self.standing.operator {
            self.notice_now(
                "you are an operator on this server (/help lists the operators' commands)".into(),
            );
        }
        self.standing = Standing { owns, operator };
    }

    /// `Registration`: `nick` is now registered to the client's key, or free.
    pub(super) fn registration(&mut self, nick: &str, owned: bool) {
        let shown = sanitize::nick(nick);
        if owned {
            self.notice_now(format!(
                "the nick {shown} is registered to your key: only you can use it, and nicks \
                 that look like it, even while you are away"
            ));
            self.standing.owns = Some(nick.to_owned());
        } else {
            self.notice_now(format!("the nick {shown} is free: anyone may use it"));
            if self.standing.owns.as_deref() == Some(nick) {
                self.standing.owns = None;
            }
        }
    }

    /// `Operated`: what an operator's request did.
    pub(super) fn operated(&mut self, text: &str) {
        self.notice_now(sanitize::text(text).into_owned());
    }

    /// `Bans`: the bans in force, one line each.
    pub(super) fn bans(&mut self, bans: &[BanInfo]) {
        if bans.is_empty() {
            self.notice_now("no bans".into());
            return;
        }
        self.notice_now(format!("bans in force ({}):", bans.len()));
        for ban in bans {
            let line = self.ban_line(ban);
            self.info(line);
        }
    }

    /// One ban as `/bans` lists it.
    fn ban_line(&self, ban: &BanInfo) -> String {
        let mut line = format!("  {}", sanitize::nick(&ban.target));
        if !ban.nick.is_empty() {
            line.push_str(&format!(" ({})", sanitize::nick(&ban.nick)));
        }
        if ban.until_ms == 0 {
            line.push_str(" until /unban");
        } else {
            line.push_str(&format!(
                " until {}",
                date_time(ban.until_ms, self.settings.utc_offset_secs)
            ));
        }
        if !ban.by.is_empty() {
            line.push_str(&format!(", by {}", sanitize::nick(&ban.by)));
        }
        let reason = sanitize::text(&ban.reason);
        if !reason.is_empty() {
            line.push_str(&format!(": {reason}"));
        }
        line
    }

    /// The server stopped the session (`reason`, its words): out of every room, and
    /// disconnected until `/reconnect`.
    pub(super) fn stopped(&mut self, reason: String) {
        self.in_every_buffer(|app| {
            app.out_of_room();
            Vec::new()
        });
        self.error(format!(
            "{}; disconnected (/reconnect tries again, /quit leaves)",
            sanitize::text(&reason)
        ));
        self.conn = ConnState::Disconnected { reason };
    }

    /// `/reconnect`.
    pub(super) fn reconnect_command(&mut self) -> Vec<Command> {
        if self.conn == ConnState::Connected {
            self.info("/reconnect: connected already".into());
            return Vec::new();
        }
        self.info("reconnecting…".into());
        vec![Command::Reconnect]
    }

    /// `/whoami`: the nick, whether the client owns it, and its key in both forms.
    pub(super) fn whoami(&mut self) {
        let nick = sanitize::nick(&self.nick).into_owned();
        let owned = if self.standing.owns.as_deref() == Some(self.nick.as_str()) {
            "you own it: it is registered to your key"
        } else {
            "it is not registered to your key (/register makes it yours)"
        };
        self.info(format!("you are {nick}; {owned}"));
        if self.standing.operator {
            self.info("you are an operator on this server".into());
        }
        match self.settings.key {
            Some(key) => {
                self.info(format!("your key: {key}"));
                self.info(format!(
                    "as a server's operators list writes it: {}",
                    key.hex()
                ));
            }
            None => self.info(NO_KEY.into()),
        }
    }

    /// `/register` (`true`) or `/unregister`: about the current nick.
    pub(super) fn register_command(&mut self, register: bool) -> Vec<Command> {
        if self.settings.key.is_none() {
            let command = if register { "register" } else { "unregister" };
            self.error(format!("/{command}: {NO_KEY}"));
            return Vec::new();
        }
        let msg = if register {
            ClientMsg::Register
        } else {
            ClientMsg::Unregister
        };
        vec![Command::Send(msg.with_id(self.request_id()))]
    }

    /// An operator's command; whether the client is one is the server's to say.
    pub(super) fn operate_command(&mut self, operate: Operate) -> Vec<Command> {
        let msg = match operate {
            Operate::Kick { nick, reason } => OperatorRequest::Kick { nick, reason },
            Operate::Ban {
                target,
                seconds,
                reason,
            } => OperatorRequest::Ban {
                target,
                seconds,
                reason,
            },
            Operate::Unban(target) => OperatorRequest::Unban { target },
            Operate::Bans => OperatorRequest::ListBans,
            Operate::Release(nick) => OperatorRequest::Release { nick },
        };
        self.operate(msg)
    }

    /// `/topic -lock` (`true`) or `-unlock`, about the buffer's room.
    pub(super) fn lock_topic_command(&mut self, locked: bool) -> Vec<Command> {
        let Some(room) = self.room_for("topic") else {
            return Vec::new();
        };
        self.operate(OperatorRequest::LockTopic { room, locked })
    }

    fn operate(&mut self, msg: OperatorRequest) -> Vec<Command> {
        let msg = ClientMsg::Operate { msg }.with_id(self.request_id());
        vec![Command::Send(msg)]
    }
}

/// Said where the client has no key to prove.
const NO_KEY: &str = "this client has no key (there is no home directory to keep one in): \
                      start chat-tui with --identity PATH";

/// A server time as the local `YYYY-MM-DD HH:MM`.
fn date_time(time_ms: u64, utc_offset_secs: i32) -> String {
    let secs = i64::try_from(time_ms / 1000).unwrap_or(i64::MAX / 2) + i64::from(utc_offset_secs);
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(at) => format!(
            "{:04}-{:02}-{:02} {}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            hh_mm(time_ms, utc_offset_secs)
        ),
        // Out of the calendar (a hostile server's time): the time of day alone.
        Err(_) => hh_mm(time_ms, utc_offset_secs),
    }
}

#[cfg(test)]
mod tests {
    use shared::{ErrorKind, ServerMsg};

    use super::*;
    use crate::app::Event;
    use crate::app::scrollback::EntryKind;
    use crate::app::testing::*;

    fn lines(app: &App, from: usize) -> Vec<String> {
        app.scrollback
            .entries()
            .iter()
            .skip(from)
            .map(|(_, e)| match &e.kind {
                EntryKind::Info(t) | EntryKind::Notice(t) | EntryKind::Error(t) => t.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn identified_is_said_once_and_marks_the_operator() {
        let mut app = app();
        let before = app.scrollback.entries().len();
        let identified = || {
            Event::Server(ServerMsg::Identified {
                owner: true,
                operator: true,
            })
        };
        app.update(identified());
        assert_eq!(
            lines(&app, before),
            [
                "you own the nick alice: it is registered to your key",
                "you are an operator on this server (/help lists the operators' commands)"
            ]
        );
        assert!(app.standing.operator);
        // After a reconnect, the same: nothing new to say.
        app.update(identified());
        assert_eq!(app.scrollback.entries().len(), before + 2);
    }

    #[test]
    fn whoami_shows_the_key_in_both_forms() {
        let mut app = app();
        let key = app.settings.key.expect("a key");
        let before = app.scrollback.entries().len();
        assert!(submit(&mut app, "/whoami").is_empty());
        assert_eq!(
            lines(&app, before),
            [
                "you are alice; it is not registered to your key (/register makes it yours)"
                    .to_owned(),
                format!("your key: {key}"),
                format!("as a server's operators list writes it: {}", key.hex()),
            ]
        );
        app.settings.key = None;
        assert!(submit(&mut app, "/register").is_empty());
        assert!(
            last_text(&app).contains("--identity PATH"),
            "{}",
            last_text(&app)
        );
    }

    #[test]
    fn register_and_operator_commands_are_requests() {
        let mut app = app();
        let sent = |out: Vec<Command>| match out.as_slice() {
            [Command::Send(ClientMsg::Request { msg, .. })] => (**msg).clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(sent(submit(&mut app, "/register")), ClientMsg::Register);
        assert_eq!(sent(submit(&mut app, "/unregister")), ClientMsg::Unregister);
        assert_eq!(
            sent(submit(&mut app, "/kick bob spam")),
            ClientMsg::Operate {
                msg: OperatorRequest::Kick {
                    nick: "bob".into(),
                    reason: "spam".into()
                }
            }
        );
        assert_eq!(
            sent(submit(&mut app, "/ban bob 2h flood")),
            ClientMsg::Operate {
                msg: OperatorRequest::Ban {
                    target: "bob".into(),
                    seconds: 7200,
                    reason: "flood".into()
                }
            }
        );
        assert_eq!(
            sent(submit(&mut app, "/bans")),
            ClientMsg::Operate {
                msg: OperatorRequest::ListBans
            }
        );
        assert_eq!(
            sent(submit(&mut app, "/topic -lock")),
            ClientMsg::Operate {
                msg: OperatorRequest::LockTopic {
                    room: "lobby".into(),
                    locked: true
                }
            }
        );
    }

    #[test]
    fn answers_and_refusals_are_clear_lines() {
        let mut app = app();
        let reply = |msg| {
            Event::Server(ServerMsg::Reply {
                id: 1,
                msg: Box::new(msg),
            })
        };
        let before = app.scrollback.entries().len();
        app.update(reply(ServerMsg::Registration {
            nick: "alice".into(),
            owned: true,
        }));
        assert_eq!(app.standing.owns.as_deref(), Some("alice"));
        app.update(reply(ServerMsg::Error {
            kind: ErrorKind::NotOperator,
            text: "not an operator".into(),
        }));
        app.update(reply(ServerMsg::Operated {
            text: "kicked bob: spam".into(),
        }));
        app.update(reply(ServerMsg::Bans {
            bans: vec![
                BanInfo {
                    target: "10.0.0.7".into(),
                    nick: "bob".into(),
                    until_ms: T + 3_600_000,
                    reason: "flood".into(),
                    by: "alice".into(),
                },
                BanInfo {
                    target: "ab".repeat(32),
                    nick: String::new(),
                    until_ms: 0,
                    reason: String::new(),
                    by: "alice".into(),
                },
            ],
        }));
        app.update(reply(ServerMsg::Registration {
            nick: "alice".into(),
            owned: false,
        }));
        assert_eq!(app.standing.owns, None);
        assert_eq!(
            lines(&app, before),
            [
                "the nick alice is registered to your key: only you can use it, and nicks \
                 that look like it, even while you are away"
                    .to_owned(),
                "server: not an operator".to_owned(),
                "kicked bob: spam".to_owned(),
                "bans in force (2):".to_owned(),
                "  10.0.0.7 (bob) until 2023-11-14 23:13, by alice: flood".to_owned(),
                format!("  {} until /unban, by alice", "ab".repeat(32)),
                "the nick alice is free: anyone may use it".to_owned(),
            ]
        );
    }

    #[test]
    fn a_kicked_client_stays_disconnected_until_asked() {
        let mut app = app();
        assert_eq!(
            submit(&mut app, "/reconnect"),
            [],
            "connected: nothing to do"
        );
        app.update(Event::Stopped {
            reason: "kicked by carol: spam".into(),
        });
        assert!(matches!(app.conn, ConnState::Disconnected { .. }));
        assert_eq!(
            last_text(&app),
            "kicked by carol: spam; disconnected (/reconnect tries again, /quit leaves)"
        );
        assert_eq!(submit(&mut app, "/reconnect"), [Command::Reconnect]);
    }

    fn last_text(app: &App) -> String {
        lines(app, app.scrollback.entries().len() - 1).remove(0)
    }
}
