//! Room messages from the network cut to the protocol's limits, so that what a program
//! keeps of them is bounded.
//!
//! A server is held to the limits of [`shared::limits`] only by its good will: a hostile
//! one can send a text of nearly a frame (1 MiB). A program that keeps many messages (a
//! [`Timeline`](crate::timeline::Timeline) holds thousands, a search view a thousand hits)
//! cuts each one first, and so holds at most about [`MAX_MESSAGE_BYTES`] per message.

use shared::limits::{
    MAX_FILE_NAME_BYTES, MAX_NICK_CHARS, MAX_REASON_BYTES, MAX_ROOM_CHARS, MAX_TEXT_BYTES,
    SHA256_BYTES,
};
use shared::{FileInfo, RoomEvent, Stamped};

/// What marks a cut.
const CUT: char = '…';

/// Most bytes of one character of UTF-8: a nick or room name of `n` characters takes at
/// most `n` times this.
const MAX_CHAR_BYTES: usize = 4;

/// Most bytes the strings of one message hold once cut: less than the sum of every
/// limit, with a mark for each of the four strings a message has at most.
pub const MAX_MESSAGE_BYTES: usize = MAX_TEXT_BYTES
    + MAX_REASON_BYTES
    + MAX_FILE_NAME_BYTES
    + SHA256_BYTES
    + (2 * MAX_NICK_CHARS + MAX_ROOM_CHARS) * MAX_CHAR_BYTES
    + 4 * MAX_CHAR_BYTES;

/// Cuts every string of `message` to the protocol's limit for it, marking a cut with `…`;
/// a message within the limits is left as it is.
pub fn message(message: &mut Stamped) {
    match &mut message.event {
        RoomEvent::Said { from, text, .. } => {
            chars(from, MAX_NICK_CHARS);
            bytes(text, MAX_TEXT_BYTES);
        }
        RoomEvent::Joined { nick } => chars(nick, MAX_NICK_CHARS),
        RoomEvent::Left { nick, reason } => {
            chars(nick, MAX_NICK_CHARS);
            bytes(reason, MAX_REASON_BYTES);
        }
        RoomEvent::Renamed { old, new } => {
            chars(old, MAX_NICK_CHARS);
            chars(new, MAX_NICK_CHARS);
        }
        RoomEvent::Shared { file } => {
            let FileInfo {
                name,
                sha256,
                from,
                room,
                ..
            } = file;
            bytes(name, MAX_FILE_NAME_BYTES);
            sha256.truncate(SHA256_BYTES);
            sha256.shrink_to_fit();
            chars(from, MAX_NICK_CHARS);
            chars(room, MAX_ROOM_CHARS);
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, then marks the cut (`…`, so
/// the result may be up to 3 bytes longer than `max`). The one rule for every text a
/// client keeps cut.
pub fn bytes(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let end = shared::text::cut(s, max).len();
    s.truncate(end);
    s.push(CUT);
    s.shrink_to_fit();
}

/// Cuts `s` to at most `max` characters, then marks the cut.
fn chars(s: &mut String, max: usize) {
    if let Some((end, _)) = s.char_indices().nth(max) {
        s.truncate(end);
        s.push(CUT);
        s.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use shared::ChatKind;

    use super::*;

    fn stamped(event: RoomEvent) -> Stamped {
        Stamped {
            id: 1,
            seq: 1,
            time_ms: 0,
            event,
        }
    }

    /// The bytes of a message's strings.
    fn size(m: &Stamped) -> usize {
        match &m.event {
            RoomEvent::Said { from, text, .. } => from.len() + text.len(),
            RoomEvent::Joined { nick } => nick.len(),
            RoomEvent::Left { nick, reason } => nick.len() + reason.len(),
            RoomEvent::Renamed { old, new } => old.len() + new.len(),
            RoomEvent::Shared { file } => {
                file.name.len() + file.sha256.len() + file.from.len() + file.room.len()
            }
        }
    }

    #[test]
    fn a_message_beyond_the_limits_is_cut_and_marked() {
        let huge = "名".repeat(300_000);
        let mut said = stamped(RoomEvent::Said {
            from: huge.clone(),
            kind: ChatKind::Say,
            text: "x".repeat(1 << 20),
        });
        message(&mut said);
        let RoomEvent::Said { from, text, .. } = &said.event else {
            unreachable!()
        };
        assert_eq!(from.chars().count(), MAX_NICK_CHARS + 1);
        assert!(from.ends_with("名…"));
        assert_eq!(text.len(), MAX_TEXT_BYTES + CUT.len_utf8());
        assert!(size(&said) <= MAX_MESSAGE_BYTES);

        let mut shared = stamped(RoomEvent::Shared {
            file: FileInfo {
                id: 1,
                name: huge.clone(),
                size: 1,
                sha256: vec![7; 1 << 20],
                from: huge.clone(),
                time_ms: 0,
                room: huge.clone(),
            },
        });
        message(&mut shared);
        assert!(size(&shared) <= MAX_MESSAGE_BYTES, "{}", size(&shared));
        let mut left = stamped(RoomEvent::Left {
            nick: huge.clone(),
            reason: huge,
        });
        message(&mut left);
        assert!(size(&left) <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn a_message_within_the_limits_is_left_as_it_is() {
        let said = stamped(RoomEvent::Said {
            from: "名".repeat(MAX_NICK_CHARS),
            kind: ChatKind::Action,
            text: "y".repeat(MAX_TEXT_BYTES),
        });
        let mut kept = said.clone();
        message(&mut kept);
        assert_eq!(kept, said);
    }
}
