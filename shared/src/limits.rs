//! Limits of the protocol. Both sides enforce them; docs/PROTOCOL.md lists them too.

/// Largest payload a frame may carry, in bytes (the 4-byte header not counted).
///
/// Chat needs a few kilobytes; a file chunk ([`MAX_CHUNK_BYTES`]) needs a little over 64 KiB.
/// A header announcing more is refused before anything is allocated.
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

/// Most bytes of file data in one `UploadChunk` or `DownloadChunk`.
///
/// 64 KiB: large enough that the per-frame cost (header, hashing call, system call) is lost
/// in the data, small enough that a chat frame queued behind one waits well under a
/// millisecond on a LAN.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// Longest file name the server keeps, in bytes of UTF-8 (the common file-system limit).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Longest file name a client may send in `UploadStart`, in bytes of UTF-8. The server cleans
/// it down to at most [`MAX_FILE_NAME_BYTES`]; anything longer is refused outright.
pub const MAX_RAW_FILE_NAME_BYTES: usize = 4096;

/// Length of an upload token, in bytes.
pub const UPLOAD_TOKEN_BYTES: usize = 16;

/// Length of a SHA-256 digest, in bytes.
pub const SHA256_BYTES: usize = 32;

/// Most distinct nicks a server counts as having fetched one file (feature `fetched`);
/// past it the count stays there. It keeps each file's list of fetchers (about 40 bytes a
/// nick on disk) bounded.
pub const MAX_FETCHERS: usize = 10_000;

/// Most names in one member list: a `Welcome`, `Joined` or `Members` of any version, or a
/// version 4 [`MemberPage`](crate::MemberPage). A list of the longest nicks (32 characters
/// of 4 bytes) takes 129 KiB, so every answer fits in a frame however large the room; a
/// version 4 client fetches the rest page by page.
pub const MEMBER_PAGE: usize = 1000;

/// Most rooms one connection may be in at once (feature `rooms`); a `Join` beyond it is
/// refused with `TooManyRooms`.
pub const MAX_JOINED_ROOMS: usize = 20;

/// Longest room topic, in bytes of UTF-8.
pub const MAX_TOPIC_BYTES: usize = 512;

/// Longest away text, in bytes of UTF-8.
pub const MAX_AWAY_BYTES: usize = 256;
