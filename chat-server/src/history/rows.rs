//! How a stamped message is laid out in a row of `messages`, and back.
//!
//! Every event fits the same columns: `nick` (who), `text` (what was said, the reason of a
//! leave, the new nick of a rename, the name of a shared file) and, for a shared file only,
//! `file` (its id, size, time and SHA-256 in a fixed layout). The `kind` keeps talk (said,
//! acted, shared) apart from presence (joined, left, renamed) so that a replay without
//! presence is one range of the partial index `messages_talk`.

use rusqlite::Row;
use shared::{ChatKind, FileInfo, RoomEvent, Stamped};

/// A chat.
pub(super) const SAY: i64 = 0;
/// An action (`/me`).
pub(super) const ACTION: i64 = 1;
/// A file shared in the room.
pub(super) const SHARED: i64 = 2;
/// The first kind that is not talk, as one literal for both Rust and SQL.
macro_rules! first_presence_kind {
    () => {
        3
    };
}

/// Someone entered the room.
pub(super) const JOINED: i64 = first_presence_kind!();
/// Someone left the room.
pub(super) const LEFT: i64 = 4;
/// Someone changed nick.
pub(super) const RENAMED: i64 = 5;

/// What is talk ([`RoomEvent::is_talk`]: said, acted, shared, every kind below [`JOINED`])
/// as a row says it in SQL: every query and the partial index `messages_talk` use it, and
/// the writer asks SQLite for it (`SELECT {TALK}`) rather than compare kinds again. A
/// literal, not a parameter: SQLite uses a partial index only for a query whose `WHERE`
/// holds the index's own term. A test checks it against `is_talk` for every kind.
pub(super) const TALK: &str = concat!("kind < ", first_presence_kind!());

/// Presence (joined, left, renamed: every other kind), as the partial index
/// `messages_presence` says it.
pub(super) const PRESENCE: &str = concat!("kind >= ", first_presence_kind!());

/// `TALK` as a condition added to a query, unless presence is wanted too.
pub(super) fn talk_unless(presence: bool) -> String {
    if presence {
        String::new()
    } else {
        format!(" AND {TALK}")
    }
}

/// The columns every query selects, in the order [`stamped`] reads them.
pub(super) const COLUMNS: &str = "id, seq, time_ms, kind, nick, text, file";

/// Bytes of the `file` column: id, size and time (8 bytes each, little-endian), SHA-256.
const FILE_BYTES: usize = 24 + shared::limits::SHA256_BYTES;

/// The row of one event: its kind, nick, text and file columns.
#[derive(Debug)]
pub(super) struct Columns<'a> {
    pub(super) kind: i64,
    pub(super) nick: &'a str,
    pub(super) text: &'a str,
    pub(super) file: Option<Vec<u8>>,
}

/// The columns of `event`.
pub(super) fn columns(event: &RoomEvent) -> Columns<'_> {
    let (kind, nick, text, file) = match event {
        RoomEvent::Said { from, kind, text } => {
            let kind = match kind {
                ChatKind::Say => SAY,
                ChatKind::Action => ACTION,
            };
            (kind, from.as_str(), text.as_str(), None)
        }
        RoomEvent::Shared { file } => {
            let mut blob = Vec::with_capacity(FILE_BYTES);
            blob.extend_from_slice(&file.id.to_le_bytes());
            blob.extend_from_slice(&file.size.to_le_bytes());
            blob.extend_from_slice(&file.time_ms.to_le_bytes());
            blob.extend_from_slice(&file.sha256);
            (SHARED, file.from.as_str(), file.name.as_str(), Some(blob))
        }
        RoomEvent::Joined { nick } => (JOINED, nick.as_str(), "", None),
        RoomEvent::Left { nick, reason } => (LEFT, nick.as_str(), reason.as_str(), None),
        RoomEvent::Renamed { old, new } => (RENAMED, old.as_str(), new.as_str(), None),
    };
    Columns {
        kind,
        nick,
        text,
        file,
    }
}

/// The file id of a shared file's event, if it is one.
pub(super) fn file_id(event: &RoomEvent) -> Option<u64> {
    match event {
        RoomEvent::Shared { file } => Some(file.id),
        _ => None,
    }
}

/// The message of a row selected with [`COLUMNS`], in the room spelt `room_name`; `None`
/// for a row this version cannot read (an unknown kind, a damaged file column), which is
/// left out rather than failing the whole answer.
pub(super) fn stamped(row: &Row<'_>, room_name: &str) -> rusqlite::Result<Option<Stamped>> {
    let id: u64 = row.get(0)?;
    let seq: u64 = row.get(1)?;
    let time_ms: u64 = row.get(2)?;
    let kind: i64 = row.get(3)?;
    let nick: String = row.get(4)?;
    let text: String = row.get(5)?;
    let event = match kind {
        SAY | ACTION => RoomEvent::Said {
            from: nick,
            kind: if kind == SAY {
                ChatKind::Say
            } else {
                ChatKind::Action
            },
            text,
        },
        SHARED => {
            let blob: Option<Vec<u8>> = row.get(6)?;
            let Some(file) = blob.and_then(|b| file_info(&b, nick, text, room_name)) else {
                return Ok(None);
            };
            RoomEvent::Shared { file }
        }
        JOINED => RoomEvent::Joined { nick },
        LEFT => RoomEvent::Left { nick, reason: text },
        RENAMED => RoomEvent::Renamed {
            old: nick,
            new: text,
        },
        _ => return Ok(None),
    };
    Ok(Some(Stamped {
        id,
        seq,
        time_ms,
        event,
    }))
}

/// The file of a `file` column.
fn file_info(blob: &[u8], from: String, name: String, room: &str) -> Option<FileInfo> {
    if blob.len() != FILE_BYTES {
        return None;
    }
    let word = |at: usize| u64::from_le_bytes(blob[at..at + 8].try_into().expect("8 bytes"));
    Some(FileInfo {
        id: word(0),
        name,
        size: word(8),
        sha256: blob[24..].to_vec(),
        from,
        time_ms: word(16),
        room: room.to_owned(),
    })
}

/// An upper bound of the bytes `msg` takes in a frame: every integer as its longest
/// varint, every string with the longest length prefix. Answers are cut by it, so a page
/// never outgrows a frame.
pub(super) fn encoded_bound(msg: &Stamped) -> usize {
    /// A u64 varint at its longest, and a length prefix.
    const INT: usize = 9;
    let strings: &[&str] = match &msg.event {
        RoomEvent::Said { from, text, .. } => &[from, text],
        RoomEvent::Shared { file } => &[&file.name, &file.from, &file.room, ""],
        RoomEvent::Joined { nick } => &[nick],
        RoomEvent::Left { nick, reason } => &[nick, reason],
        RoomEvent::Renamed { old, new } => &[old, new],
    };
    let bytes: usize = strings.iter().map(|s| s.len() + INT).sum();
    let file = match &msg.event {
        RoomEvent::Shared { file } => file.sha256.len() + 3 * INT,
        _ => 0,
    };
    // id, seq, time, the event's variant and a chat kind.
    5 * INT + bytes + file
}

/// SQLite stores integers signed; ids, sequence numbers and times are far below 2^63.
pub(super) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<RoomEvent> {
        vec![
            RoomEvent::Said {
                from: "ann".into(),
                kind: ChatKind::Say,
                text: "hello 👋".into(),
            },
            RoomEvent::Said {
                from: "ann".into(),
                kind: ChatKind::Action,
                text: "waves".into(),
            },
            RoomEvent::Shared {
                file: FileInfo {
                    id: 7,
                    name: "notes.txt".into(),
                    size: 1234,
                    sha256: (0..32).collect(),
                    from: "bob".into(),
                    time_ms: 99,
                    room: "Lobby".into(),
                },
            },
            RoomEvent::Joined { nick: "cy".into() },
            RoomEvent::Left {
                nick: "cy".into(),
                reason: "bye".into(),
            },
            RoomEvent::Renamed {
                old: "cy".into(),
                new: "cyd".into(),
            },
        ]
    }

    #[test]
    fn talk_is_said_acted_and_shared_and_presence_the_rest() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let sql = format!("SELECT {TALK}, {PRESENCE} FROM (SELECT ?1 AS kind)");
        for event in samples() {
            let kind = columns(&event).kind;
            let (talk, presence): (bool, bool) = db
                .query_row(&sql, [kind], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            let said = event.is_talk();
            assert_eq!((talk, presence), (said, !said), "kind {kind}");
        }
    }

    #[test]
    fn every_event_comes_back_as_it_went_in() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE m(id INTEGER PRIMARY KEY, seq, time_ms, kind, nick, text, file)",
        )
        .unwrap();
        for (i, event) in samples().into_iter().enumerate() {
            let c = columns(&event);
            let id = i as i64 + 1;
            db.execute(
                "INSERT INTO m VALUES (?1, ?1, 5, ?2, ?3, ?4, ?5)",
                rusqlite::params![id, c.kind, c.nick, c.text, c.file],
            )
            .unwrap();
            let back = db
                .query_row(
                    &format!("SELECT {COLUMNS} FROM m WHERE id = ?1"),
                    [id],
                    |r| stamped(r, "Lobby"),
                )
                .unwrap()
                .unwrap();
            assert_eq!(back.event, event);
            assert_eq!((back.id, back.seq, back.time_ms), (id as u64, id as u64, 5));
            let frame = shared::encode_frame(&back).unwrap();
            assert!(frame.len() - shared::limits::HEADER_LEN <= encoded_bound(&back));
        }
    }
}
