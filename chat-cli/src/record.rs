//! What `listen` prints: one [`Record`] per event worth a line, written as plain text or
//! as a JSON object. Both come from the same record, so they always say the same thing.

use chat_client::clock::hh_mm;
use chat_client::sanitize;
use chat_client::shared::{ChatKind, FileInfo, RoomEvent, ServerMsg};
use chat_client::transfer::progress::bytes;
use serde_json::Value;

/// One line of output. Text is as it came from the network; the writers make it safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    /// Milliseconds since the Unix epoch: the server's stamp, or the local clock for what
    /// the server does not stamp.
    pub time: u64,
    pub room: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub text: Option<String>,
    /// A message's or a file's id.
    pub id: Option<u64>,
    /// A room message's sequence number in its room (protocol version 4).
    pub seq: Option<u64>,
    /// A file's size in bytes.
    pub size: Option<u64>,
}

/// What a record is about; its name is the JSON `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Action,
    Private,
    Join,
    Leave,
    Rename,
    File,
    Shutdown,
    /// This client is in the room: the first line, once listening has begun.
    Joined,
    Disconnected,
    Reconnected,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Action => "action",
            Kind::Private => "private",
            Kind::Join => "join",
            Kind::Leave => "leave",
            Kind::Rename => "rename",
            Kind::File => "file",
            Kind::Shutdown => "shutdown",
            Kind::Joined => "joined",
            Kind::Disconnected => "disconnected",
            Kind::Reconnected => "reconnected",
        }
    }
}

impl Record {
    pub fn new(kind: Kind, time: u64) -> Self {
        Self {
            kind,
            time,
            room: None,
            from: None,
            to: None,
            text: None,
            id: None,
            seq: None,
            size: None,
        }
    }

    /// The record of a frame from the server, if it is one that is printed; `now_ms` for
    /// frames without a time of their own. A room message reads the same in protocol
    /// version 4 (`Room`) as in version 3 (`Chat`, `Notice`, `FileOffered`).
    pub fn of(msg: ServerMsg, now_ms: u64) -> Option<Record> {
        let record = match msg {
            ServerMsg::Room {
                id,
                seq,
                time_ms,
                room,
                event,
            } => Record {
                seq: Some(seq),
                ..match event {
                    RoomEvent::Said { from, kind, text } => {
                        Self::said(id, time_ms, room, from, kind, text)
                    }
                    RoomEvent::Shared { file } => Self::file(file),
                    event => Self::notice(time_ms, room, event)?,
                }
            },
            ServerMsg::Chat {
                id,
                time_ms,
                room,
                from,
                kind,
                text,
            } => Self::said(id, time_ms, room, from, kind, text),
            ServerMsg::Private {
                id,
                time_ms,
                from,
                to,
                text,
            } => Record {
                from: Some(from),
                to: Some(to),
                text: Some(text),
                id: Some(id),
                ..Record::new(Kind::Private, time_ms)
            },
            ServerMsg::Notice {
                time_ms,
                room,
                event,
            } => Self::notice(time_ms, room, event)?,
            ServerMsg::FileOffered { file } => Self::file(file),
            ServerMsg::Shutdown { reason } => Record {
                text: Some(reason),
                ..Record::new(Kind::Shutdown, now_ms)
            },
            // The answer to a request is read as the message it is.
            ServerMsg::Reply { msg, .. } => return Record::of(*msg, now_ms),
            _ => return None,
        };
        Some(record)
    }

    fn said(
        id: u64,
        time_ms: u64,
        room: String,
        from: String,
        kind: ChatKind,
        text: String,
    ) -> Record {
        let kind = match kind {
            ChatKind::Say => Kind::Chat,
            ChatKind::Action => Kind::Action,
        };
        Record {
            room: Some(room),
            from: Some(from),
            text: Some(text),
            id: Some(id),
            ..Record::new(kind, time_ms)
        }
    }

    /// A join, departure or rename.
    fn notice(time_ms: u64, room: String, event: RoomEvent) -> Option<Record> {
        let (kind, from, to, text) = match event {
            RoomEvent::Joined { nick } => (Kind::Join, nick, None, None),
            RoomEvent::Left { nick, reason } => (Kind::Leave, nick, None, Some(reason)),
            RoomEvent::Renamed { old, new } => (Kind::Rename, old, Some(new), None),
            RoomEvent::Said { .. } | RoomEvent::Shared { .. } => return None,
        };
        Some(Record {
            room: Some(room),
            from: Some(from),
            to,
            text,
            ..Record::new(kind, time_ms)
        })
    }

    fn file(file: FileInfo) -> Record {
        Record {
            room: Some(file.room),
            from: Some(file.from),
            text: Some(file.name),
            id: Some(file.id),
            size: Some(file.size),
            ..Record::new(Kind::File, file.time_ms)
        }
    }

    /// The plain line: local `HH:MM`, then the event, with everything from the network
    /// made safe for a terminal.
    pub fn plain(&self, utc_offset_secs: i32) -> String {
        let nick = |s: &Option<String>| sanitize::nick(s.as_deref().unwrap_or("")).into_owned();
        let text = |s: &Option<String>| sanitize::text(s.as_deref().unwrap_or("")).into_owned();
        let (from, to, room, body) = (
            nick(&self.from),
            nick(&self.to),
            nick(&self.room),
            text(&self.text),
        );
        let what = match self.kind {
            Kind::Chat => format!("<{from}> {body}"),
            Kind::Action => format!("* {from} {body}"),
            Kind::Private => format!("*{from} -> {to}* {body}"),
            Kind::Join => format!("-- {from} joined #{room}"),
            Kind::Leave if body.is_empty() => format!("-- {from} left #{room}"),
            Kind::Leave => format!("-- {from} left #{room} ({body})"),
            Kind::Rename => format!("-- {from} is now known as {to}"),
            Kind::File => format!(
                "-- {from} shares {} ({}): file {}",
                nick(&self.text),
                bytes(self.size.unwrap_or(0)),
                self.id.unwrap_or(0)
            ),
            Kind::Shutdown => format!("-- the server is shutting down: {body}"),
            Kind::Joined => format!("-- joined #{room} as {from}"),
            Kind::Disconnected => format!("-- connection lost: {body}; reconnecting"),
            Kind::Reconnected => format!("-- reconnected: #{room} as {from}"),
        };
        format!("{} {what}", hh_mm(self.time, utc_offset_secs))
    }

    /// The JSON object, on one line, `type` first and `time` last. Text is exact;
    /// characters a terminal could act on are `\u` escapes, so that printing the line is
    /// safe too.
    pub fn json(&self) -> String {
        let mut fields = vec![("type", Value::from(self.kind.name()))];
        let strings = [
            ("room", &self.room),
            ("from", &self.from),
            ("to", &self.to),
            ("text", &self.text),
        ];
        for (key, value) in strings {
            if let Some(value) = value {
                fields.push((key, Value::from(value.as_str())));
            }
        }
        for (key, value) in [("id", self.id), ("seq", self.seq), ("size", self.size)] {
            if let Some(value) = value {
                fields.push((key, Value::from(value)));
            }
        }
        fields.push(("time", Value::from(self.time)));
        sanitize::json_object(&fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14 22:13:20 UTC.
    const T: u64 = 1_700_000_000_000;

    fn chat(kind: ChatKind, from: &str, text: &str) -> ServerMsg {
        ServerMsg::Chat {
            id: 7,
            time_ms: T,
            room: "ops".into(),
            from: from.into(),
            kind,
            text: text.into(),
        }
    }

    fn plain(msg: ServerMsg) -> String {
        Record::of(msg, 0).expect("printed").plain(0)
    }

    #[test]
    fn plain_lines() {
        assert_eq!(
            plain(chat(ChatKind::Say, "bob", "deploy done")),
            "22:13 <bob> deploy done"
        );
        assert_eq!(
            plain(chat(ChatKind::Action, "bob", "waves")),
            "22:13 * bob waves"
        );
        let private = ServerMsg::Private {
            id: 8,
            time_ms: T,
            from: "bob".into(),
            to: "bot".into(),
            text: "psst".into(),
        };
        assert_eq!(plain(private), "22:13 *bob -> bot* psst");
        let notice = |event| ServerMsg::Notice {
            time_ms: T,
            room: "ops".into(),
            event,
        };
        let joined = notice(RoomEvent::Joined { nick: "ann".into() });
        assert_eq!(plain(joined), "22:13 -- ann joined #ops");
        let left = notice(RoomEvent::Left {
            nick: "ann".into(),
            reason: "bye".into(),
        });
        assert_eq!(plain(left), "22:13 -- ann left #ops (bye)");
        let quiet = notice(RoomEvent::Left {
            nick: "ann".into(),
            reason: String::new(),
        });
        assert_eq!(plain(quiet), "22:13 -- ann left #ops");
        let renamed = notice(RoomEvent::Renamed {
            old: "ann".into(),
            new: "anna".into(),
        });
        assert_eq!(plain(renamed), "22:13 -- ann is now known as anna");
        let file = FileInfo {
            id: 3,
            name: "build.log".into(),
            size: 2048,
            sha256: vec![0; 32],
            from: "ci".into(),
            time_ms: T,
            room: "ops".into(),
        };
        assert_eq!(
            plain(ServerMsg::FileOffered { file }),
            "22:13 -- ci shares build.log (2.0 KiB): file 3"
        );
        let at = Record::of(
            ServerMsg::Shutdown {
                reason: "bye".into(),
            },
            T,
        )
        .expect("printed")
        .plain(3600);
        assert_eq!(at, "23:13 -- the server is shutting down: bye");
    }

    /// Protocol version 4 brings room messages as `Room`, and an answer in a `Reply`:
    /// they print as their version 3 forms did.
    #[test]
    fn version_4_room_messages_print_as_version_3_ones() {
        let room = |event| ServerMsg::Room {
            id: 7,
            seq: 40,
            time_ms: T,
            room: "ops".into(),
            event,
        };
        let said = room(RoomEvent::Said {
            from: "bob".into(),
            kind: ChatKind::Say,
            text: "deploy done".into(),
        });
        let v4 = Record::of(said.clone(), 0).expect("printed");
        assert_eq!(v4.seq, Some(40));
        assert_eq!(
            Some(Record {
                seq: None,
                ..v4.clone()
            }),
            Record::of(chat(ChatKind::Say, "bob", "deploy done"), 0)
        );
        assert!(
            v4.json()
                .ends_with(r#","id":7,"seq":40,"time":1700000000000}"#)
        );
        let answer = ServerMsg::Reply {
            id: 1,
            msg: Box::new(said),
        };
        assert_eq!(plain(answer), "22:13 <bob> deploy done");
        let joined = room(RoomEvent::Joined { nick: "ann".into() });
        assert_eq!(plain(joined), "22:13 -- ann joined #ops");
    }

    #[test]
    fn frames_that_are_not_messages_print_nothing() {
        for msg in [
            ServerMsg::Pong { token: 1 },
            ServerMsg::Members {
                room: "ops".into(),
                members: vec![],
            },
            ServerMsg::NickChanged { nick: "x".into() },
        ] {
            assert_eq!(Record::of(msg, T), None);
        }
    }

    #[test]
    fn plain_lines_cannot_drive_the_terminal_and_stay_one_line() {
        let line = plain(chat(
            ChatKind::Say,
            "m\u{200b}allory",
            "\x1b[2J\x1b]52;c;aGk=\x07two\nlines \u{9b}31m \u{202e}txt.exe",
        ));
        assert_eq!(
            line,
            "22:13 <m<U+200B>allory> ␛[2J␛]52;c;aGk=␇two␊lines <U+009B>31m <U+202E>txt.exe"
        );
    }

    #[test]
    fn json_lines_are_exact_and_safe() {
        let text = "\x1b[2J hi \u{9b} \u{202e} \u{7f} \"quoted\" 你好";
        let line = Record::of(chat(ChatKind::Say, "bob", text), 0)
            .expect("printed")
            .json();
        assert!(!line.contains('\n'));
        assert!(
            !line.chars().any(sanitize::is_unsafe),
            "raw control in {line}"
        );
        let value: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["type"], "chat");
        assert_eq!(value["room"], "ops");
        assert_eq!(value["from"], "bob");
        assert_eq!(value["text"], text);
        assert_eq!(value["id"], 7);
        assert_eq!(value["time"], T);
        assert!(value.get("to").is_none() && value.get("size").is_none());
        assert!(line.starts_with(r#"{"type":"chat","room":"ops","from":"bob","text":"#));
        assert!(line.ends_with(r#","id":7,"time":1700000000000}"#));
    }

    #[test]
    fn every_kind_has_its_json_type() {
        let line = Record {
            to: Some("anna".into()),
            from: Some("ann".into()),
            ..Record::new(Kind::Rename, T)
        }
        .json();
        let value: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(value["type"], "rename");
        assert_eq!(value["to"], "anna");
    }
}
