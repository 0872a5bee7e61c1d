//! Messages in both directions.
//!
//! The order of enum variants and struct fields is part of the wire format: bincode encodes
//! a variant as its index and a struct as its fields in order. Add new variants at the end
//! only, and raise [`PROTOCOL_VERSION`] when the format changes.

use serde::{Deserialize, Serialize};

/// Version of this protocol. A client states it in [`ClientMsg::Hello`]; the server refuses a
/// client whose version differs with [`ErrorKind::VersionMismatch`].
///
/// Version 2 added file transfer: the messages from `UploadStart` and `UploadReady` on, and
/// the error kinds from `FileTooLarge` on. Version 3 added `TooManyTransfers`, which
/// version 2 expressed as `RateLimited`, the same kind as the message-rate warning.
pub const PROTOCOL_VERSION: u16 = 3;

/// Room a client joins when it names none.
pub const DEFAULT_ROOM: &str = "lobby";

/// A frame sent by a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First frame of every connection. Nothing else is accepted before it.
    Hello {
        /// Must equal the server's [`PROTOCOL_VERSION`].
        version: u16,
        /// Requested nick; refused if taken (case-insensitively) or invalid.
        nick: String,
        /// Room to start in; empty means [`DEFAULT_ROOM`].
        room: String,
    },
    /// A message to the current room.
    Chat { text: String },
    /// An action to the current room (`/me waves`).
    Action { text: String },
    /// A private message to one nick, wherever it is.
    Private { to: String, text: String },
    /// Leave the current room and join another (created on demand).
    Join { room: String },
    /// Change nick.
    Nick { nick: String },
    /// Ask for the member list of the current room; answered with [`ServerMsg::Members`].
    Who,
    /// Ask the server for a [`ServerMsg::Pong`] with the same token.
    Ping { token: u64 },
    /// Answer to a [`ServerMsg::Ping`].
    Pong { token: u64 },
    /// Leave the server; the room is told the reason.
    Quit { reason: String },

    // ----- file transfer (version 2) ---------------------------------------------------
    /// Offer a file of `size` bytes to the current room. Answered by
    /// [`ServerMsg::UploadReady`] (send the data from its `offset`) or by
    /// [`ServerMsg::Error`] if the server refuses before any data is sent.
    UploadStart {
        /// The file's name as the sender knows it; the server cleans it (basename only,
        /// no control or invisible characters) and never uses it as a path.
        name: String,
        size: u64,
    },
    /// The next piece of an upload: `offset` must equal the bytes sent so far, `data` is at
    /// most [`MAX_CHUNK_BYTES`](crate::limits::MAX_CHUNK_BYTES) long.
    UploadChunk {
        upload_id: u64,
        offset: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// All bytes are sent; `sha256` is the SHA-256 of the whole file (32 bytes). Answered
    /// by [`ServerMsg::UploadDone`] or [`ServerMsg::UploadFailed`].
    UploadFinish {
        upload_id: u64,
        #[serde(with = "serde_bytes")]
        sha256: Vec<u8>,
    },
    /// Abandon an upload; the server deletes what it received. Not answered.
    UploadCancel { upload_id: u64 },
    /// Take over an interrupted upload, on any connection of the same server, with the
    /// token [`ServerMsg::UploadReady`] gave. Answered like `UploadStart`.
    UploadResume {
        #[serde(with = "serde_bytes")]
        token: Vec<u8>,
    },
    /// Ask for the files of the current room; answered with [`ServerMsg::Files`].
    ListFiles,
    /// Fetch a file of the current room from byte `offset` on. Answered by
    /// [`ServerMsg::DownloadStart`], chunks and [`ServerMsg::DownloadEnd`], or by
    /// [`ServerMsg::DownloadFailed`].
    Download { file_id: u64, offset: u64 },
    /// Stop a download. Not answered; chunks already on their way may still arrive.
    DownloadCancel { file_id: u64 },
}

/// Whether a room message is said or acted (`/me`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatKind {
    Say,
    Action,
}

/// Something that happened in a room, told to its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomEvent {
    /// `nick` entered the room.
    Joined { nick: String },
    /// `nick` left the room (moved, quit, timed out, was disconnected).
    Left { nick: String, reason: String },
    /// `old` is now known as `new`.
    Renamed { old: String, new: String },
}

/// Machine-readable reason carried by [`ServerMsg::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The hello's version is not the server's; the connection is closed.
    VersionMismatch,
    /// The nick is already in use (compared case-insensitively).
    NickTaken,
    /// The nick is empty, too long or holds forbidden characters.
    InvalidNick,
    /// The room name is empty, too long or holds forbidden characters.
    InvalidRoom,
    /// A frame other than `Hello` arrived before the handshake; the connection is closed.
    NotLoggedIn,
    /// A second `Hello` arrived on the same connection.
    AlreadyLoggedIn,
    /// A frame could not be decoded; the connection is closed.
    MalformedFrame,
    /// A frame header announced more than the maximum frame size; the connection is closed.
    FrameTooLarge,
    /// A text is longer than the protocol allows.
    TextTooLong,
    /// A private message named a nick that is not connected.
    NoSuchNick,
    /// The client did not read fast enough and its queue filled up; the connection is closed.
    SlowConsumer,
    /// The client was silent too long, or left a frame half sent; the connection is closed.
    Timeout,
    /// The server has no room for another connection.
    ServerFull,
    /// The client sends faster than the server allows.
    RateLimited,
    /// Anything else; the text says what.
    Internal,

    // ----- file transfer (version 2) ---------------------------------------------------
    /// The file is larger than the server accepts.
    FileTooLarge,
    /// The file does not fit in the server's storage quota.
    QuotaExceeded,
    /// The server's disk has no room for the file.
    DiskFull,
    /// The file name is unusable (longer than the protocol allows).
    InvalidFileName,
    /// The data received does not have the SHA-256 the sender announced; nothing is kept.
    ChecksumMismatch,
    /// No file with that id in the client's room.
    NoSuchFile,
    /// No upload with that id on this connection, or no partial upload with that token.
    NoSuchUpload,
    /// A chunk at the wrong offset, too long, past the announced size, or a finish before
    /// all the bytes arrived; the upload is abandoned.
    BadChunk,
    /// An `UploadStart` or `UploadResume` beyond the uploads one connection may run at
    /// once, or (in `DownloadFailed`) a download beyond the downloads it may run at once.
    TooManyTransfers,
}

/// A file stored on the server for a room, as listed and offered to its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Server-wide file id; what a client asks for in [`ClientMsg::Download`].
    pub id: u64,
    /// Cleaned name: no path, no control or invisible characters, at most
    /// [`MAX_FILE_NAME_BYTES`](crate::limits::MAX_FILE_NAME_BYTES) bytes.
    pub name: String,
    pub size: u64,
    /// SHA-256 of the contents, 32 bytes.
    #[serde(with = "serde_bytes")]
    pub sha256: Vec<u8>,
    /// Nick of the uploader when the upload began.
    pub from: String,
    /// When the upload completed, milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// The room the file belongs to; only its members can list or fetch it.
    pub room: String,
}

/// A frame sent by the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// Successful answer to [`ClientMsg::Hello`].
    Welcome {
        /// The server's [`PROTOCOL_VERSION`].
        version: u16,
        /// The nick the client got.
        nick: String,
        /// The room the client is in.
        room: String,
        /// Members of that room, the client included, sorted.
        members: Vec<String>,
    },
    /// A message in a room, stamped by the server.
    Chat {
        /// Server-wide, strictly increasing message id.
        id: u64,
        /// Server time, milliseconds since the Unix epoch (UTC).
        time_ms: u64,
        room: String,
        /// Nick of the sender, as the server knows it.
        from: String,
        kind: ChatKind,
        text: String,
    },
    /// A private message, delivered to its target and echoed to its sender.
    Private {
        id: u64,
        time_ms: u64,
        from: String,
        to: String,
        text: String,
    },
    /// Something happened in a room the client is in.
    Notice {
        time_ms: u64,
        room: String,
        event: RoomEvent,
    },
    /// Answer to [`ClientMsg::Join`]: the client is now in `room`.
    Joined { room: String, members: Vec<String> },
    /// Answer to [`ClientMsg::Who`]: the members of `room`, sorted.
    Members { room: String, members: Vec<String> },
    /// Answer to [`ClientMsg::Nick`]: the client's nick is now `nick`.
    NickChanged { nick: String },
    /// The server checks that the client is alive; answer with [`ClientMsg::Pong`].
    Ping { token: u64 },
    /// Answer to [`ClientMsg::Ping`].
    Pong { token: u64 },
    /// A request failed, or the connection is about to be closed.
    Error { kind: ErrorKind, text: String },
    /// The server is shutting down; the connection closes after this frame.
    Shutdown { reason: String },

    // ----- file transfer (version 2) ---------------------------------------------------
    /// Answer to [`ClientMsg::UploadStart`] or [`ClientMsg::UploadResume`]: send chunks of
    /// `upload_id` from `offset` on (0 for a new upload, the bytes the server holds for a
    /// resumed one).
    UploadReady {
        upload_id: u64,
        /// 16 random bytes that let [`ClientMsg::UploadResume`] take the upload over after
        /// a disconnect. Keep it secret: it is the only proof of ownership.
        #[serde(with = "serde_bytes")]
        token: Vec<u8>,
        offset: u64,
    },
    /// The upload is verified and stored as `file_id`; the room gets
    /// [`ServerMsg::FileOffered`] right after.
    UploadDone { upload_id: u64, file_id: u64 },
    /// The upload failed and the server kept nothing of it.
    UploadFailed {
        upload_id: u64,
        kind: ErrorKind,
        text: String,
    },
    /// A file was shared in the client's room.
    FileOffered { file: FileInfo },
    /// Answer to [`ClientMsg::ListFiles`]: the files of `room`, oldest first.
    Files { room: String, files: Vec<FileInfo> },
    /// A download begins: chunks of `file` follow from `offset` on.
    DownloadStart { file: FileInfo, offset: u64 },
    /// The next piece of a download, at `offset`, at most
    /// [`MAX_CHUNK_BYTES`](crate::limits::MAX_CHUNK_BYTES) long.
    DownloadChunk {
        file_id: u64,
        offset: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Every byte of the download has been sent.
    DownloadEnd { file_id: u64 },
    /// The download could not start or stopped; `kind` says why.
    DownloadFailed {
        file_id: u64,
        kind: ErrorKind,
        text: String,
    },
}

/// A [`ServerMsg`] that carries a room's member list (`Welcome`, `Joined` or `Members`),
/// made of borrowed names. It encodes to exactly the bytes of the owned message, so a
/// server answers a client in a room of thousands without copying every name first.
#[derive(Debug, Clone, Copy)]
pub struct MemberList<'a> {
    pub answer: MemberListAnswer<'a>,
    pub room: &'a str,
    /// Sorted, as the owned messages' lists are.
    pub members: &'a [&'a str],
}

/// Which message a [`MemberList`] is.
#[derive(Debug, Clone, Copy)]
pub enum MemberListAnswer<'a> {
    /// [`ServerMsg::Welcome`].
    Welcome { version: u16, nick: &'a str },
    /// [`ServerMsg::Joined`].
    Joined,
    /// [`ServerMsg::Members`].
    Members,
}

impl Serialize for MemberList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStructVariant;
        // Names and indexes of the variants of `ServerMsg`, as its derived `Serialize`
        // writes them; a test compares the bytes.
        let (index, variant, fields) = match self.answer {
            MemberListAnswer::Welcome { .. } => (0, "Welcome", 4),
            MemberListAnswer::Joined => (4, "Joined", 2),
            MemberListAnswer::Members => (5, "Members", 2),
        };
        let mut msg = serializer.serialize_struct_variant("ServerMsg", index, variant, fields)?;
        if let MemberListAnswer::Welcome { version, nick } = self.answer {
            msg.serialize_field("version", &version)?;
            msg.serialize_field("nick", nick)?;
        }
        msg.serialize_field("room", self.room)?;
        msg.serialize_field("members", self.members)?;
        msg.end()
    }
}
