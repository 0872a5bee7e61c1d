//! Limits of the protocol. Both sides enforce them; docs/PROTOCOL.md lists them too.

/// Largest payload a frame may carry, in bytes (the 4-byte header not counted).
///
/// Chat needs a few kilobytes; file chunks, added in a later protocol version, need at most
/// about a megabyte. A header announcing more is refused before anything is allocated.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// Size of the length header in front of every payload.
pub const HEADER_LEN: usize = 4;

/// Longest chat, action or private message text, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 4096;

/// Longest nick, in characters (Unicode scalar values).
pub const MAX_NICK_CHARS: usize = 32;

/// Longest room name, in characters (Unicode scalar values).
pub const MAX_ROOM_CHARS: usize = 32;

/// Longest reason text a client may give when it quits, in bytes of UTF-8.
pub const MAX_REASON_BYTES: usize = 256;
