//! Messages in both directions.
//!
//! The order of enum variants and struct fields is part of the wire format: bincode encodes
//! a variant as its index and a struct as its fields in order. Add new variants at the end
//! only, and raise [`PROTOCOL_VERSION`] when the format changes: the protocol only appends.

use std::cell::Cell;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// The newest version of this protocol, the one this crate speaks.
///
/// Version 2 added file transfer: the messages from `UploadStart` and `UploadReady` on, and
/// the error kinds from `FileTooLarge` on. Version 3 added `TooManyTransfers`, which
/// version 2 expressed as `RateLimited`, the same kind as the message-rate warning.
/// Version 4 added the negotiated handshake ([`ClientMsg::Hello4`], [`ServerMsg::Welcome4`]),
/// request ids ([`ClientMsg::Request`], [`ServerMsg::Reply`]), room messages with
/// sequence numbers ([`ServerMsg::Room`]) and paged member lists ([`MemberPage`]).
pub const PROTOCOL_VERSION: u16 = 4;

/// The oldest version a server of this crate serves. A client that says
/// `Hello { version: 3, .. }` gets exactly the frames of version 3.
pub const OLDEST_VERSION: u16 = 3;

/// Room a client joins when it names none.
pub const DEFAULT_ROOM: &str = "lobby";

/// A frame sent by a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First frame of a version 3 connection. Nothing else is accepted before it (or
    /// before [`ClientMsg::Hello4`]).
    Hello {
        /// The version the client speaks: 3 (a server refuses others here; version 4 and
        /// later start with [`ClientMsg::Hello4`]).
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
        #[serde(with = "chunk_data")]
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

    // ----- version 4 -------------------------------------------------------------------
    /// First frame of a connection that speaks version 4 or later: the versions the client
    /// speaks and the optional features it knows. Answered by [`ServerMsg::Welcome4`] (the
    /// version and features the server chose) or by [`ServerMsg::Error`].
    Hello4 {
        /// Oldest version the client speaks, at least 4.
        min_version: u16,
        /// Newest version the client speaks.
        max_version: u16,
        /// Names of the optional features the client knows; the server grants those it
        /// has too, and ignores the others.
        features: Vec<String>,
        /// Requested nick, as in [`ClientMsg::Hello`].
        nick: String,
        /// Room to start in; empty means [`DEFAULT_ROOM`].
        room: String,
    },
    /// A request with an id chosen by the client. Its answer, or the error it causes,
    /// comes back wrapped in [`ServerMsg::Reply`] with the same id, so that a client
    /// matches answers exactly. `msg` is any message but a hello or another `Request`
    /// (one inside another is malformed).
    Request {
        id: u32,
        #[serde(deserialize_with = "one_level")]
        msg: Box<ClientMsg>,
    },
    /// Ask for the members of the current room whose nicks sort after `after` (empty:
    /// from the first), at most [`MEMBER_PAGE`](crate::limits::MEMBER_PAGE) of them.
    /// Answered with [`ServerMsg::Members4`].
    WhoPage { after: String },

    // ----- version 4, feature "history" ([`FEATURE_HISTORY`]) -------------------------
    /// Ask for a page of `room`'s history, at most `limit` messages (the server caps it at
    /// [`ServerMsg::HistoryInfo`]'s `page`). With `presence` false, joins, leaves and
    /// renames are left out. Answered with [`ServerMsg::HistoryPage`].
    History {
        room: String,
        anchor: Anchor,
        limit: u32,
        presence: bool,
    },
    /// Catch up on `room`: what followed the sequence number `after`, the last one the
    /// client has (0: none, as at a first join, which gets the room's recent messages).
    /// Joins, leaves and renames are left out. Answered with [`ServerMsg::CaughtUp`].
    CatchUp { room: String, after: u64 },
    /// Search `room`'s messages for `words` (every word must appear), newest first, among
    /// the messages older than sequence number `before` (0: from the newest), at most
    /// `limit` hits (capped at [`ServerMsg::HistoryInfo`]'s `search`). Answered with
    /// [`ServerMsg::SearchHits`].
    Search {
        room: String,
        words: String,
        before: u64,
        limit: u32,
    },
    /// The client's user has read `room` up to sequence number `seq`. The server keeps it
    /// for the nick and says it in [`ServerMsg::CaughtUp`]. Not answered.
    MarkRead { room: String, seq: u64 },

    // ----- version 4, feature "rooms" ([`FEATURE_ROOMS`]) -----------------------------
    /// `msg` addressed to `room`, one of the rooms the client is in. Answered as `msg`
    /// says, or by [`ErrorKind::NotInRoom`]. With the feature, a client is in several
    /// rooms at once ([`ClientMsg::Join`] adds one), so every request about a room names
    /// it here.
    InRoom { room: String, msg: RoomRequest },
    /// Mark yourself away with `text` (why, until when), or back with an empty text.
    /// Answered by [`ServerMsg::Away`] about yourself.
    Away { text: String },

    // ----- version 4, feature "auth" ([`FEATURE_AUTH`]) -------------------------------
    /// Answer to [`ServerMsg::Challenge`], the client's second frame: the server's
    /// password (empty when the challenge asks for none), and optionally proof that the
    /// client holds an Ed25519 key. `key` is the 32-byte public key and `signature` the
    /// 64-byte signature of [`crate::auth::proof_message`] over the challenge's nonce;
    /// both empty for a client without a key. Answered by [`ServerMsg::Welcome4`] or by
    /// [`ServerMsg::Error`] (`WrongPassword`, `NickOwned`, `Banned`, `RateLimited`).
    Prove {
        password: String,
        #[serde(with = "serde_bytes")]
        key: Vec<u8>,
        #[serde(with = "serde_bytes")]
        signature: Vec<u8>,
    },
    /// Bind the client's current nick, and every nick that looks like it, to the key it
    /// proved at the handshake. Answered by [`ServerMsg::Registration`], or by
    /// [`ErrorKind::NotIdentified`] (no key proved) or [`ErrorKind::NickOwned`].
    Register,
    /// Release the client's current nick, registered to its key. Answered by
    /// [`ServerMsg::Registration`] with `owned` false, or by an error.
    Unregister,
    /// A request only an operator may make (a key listed in the server's
    /// configuration); anyone else gets [`ErrorKind::NotOperator`].
    Operate { msg: OperatorRequest },
    /// The private messages kept between the client and the owner of the nick `with`,
    /// older than the message id `before` (0: from the newest), at most `limit` (capped
    /// by the server's page size), newest last. Kept only between two clients that each
    /// proved the key their nick is registered to, and only with the feature history.
    /// Answered by [`ServerMsg::PrivateHistory`] (with no messages when `with` is not a
    /// registered nick: nothing is kept with it), or by [`ErrorKind::NoHistory`] or
    /// [`ErrorKind::NotIdentified`] (the client does not own its nick).
    PrivateHistory {
        with: String,
        before: u64,
        limit: u32,
    },
}

/// What an operator asks, inside [`ClientMsg::Operate`] (feature `auth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorRequest {
    /// Disconnect `nick`, telling it and its rooms `reason`. Answered by
    /// [`ServerMsg::Operated`].
    Kick { nick: String, reason: String },
    /// Keep `target` out for `seconds` (0: until unbanned), telling `reason`. `target`
    /// is a nick (its address is banned, and its key when it proved one) or an IP
    /// address. Whoever the ban covers and is connected is disconnected. Bans are kept
    /// across restarts. Answered by [`ServerMsg::Operated`].
    Ban {
        target: String,
        seconds: u64,
        reason: String,
    },
    /// Lift the bans on `target`, as [`OperatorRequest::Ban`] names it. Answered by
    /// [`ServerMsg::Operated`].
    Unban { target: String },
    /// The bans in force; answered by [`ServerMsg::Bans`].
    ListBans,
    /// Free the registered nick `nick` (its owner lost their key). Answered by
    /// [`ServerMsg::Registration`] with `owned` false.
    Release { nick: String },
    /// Let only operators set `room`'s topic (`locked`), or everyone again. Answered by
    /// [`ServerMsg::Operated`].
    LockTopic { room: String, locked: bool },
}

/// A request about one room, inside [`ClientMsg::InRoom`] (feature `rooms`).
///
/// Its own enum rather than a [`ClientMsg`] inside a `ClientMsg`, so that
/// `Request { InRoom { .. } }` stays two fixed levels and nothing nests further.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomRequest {
    /// Say `text` in the room; as [`ClientMsg::Chat`].
    Chat { text: String },
    /// Act in the room (`/me waves`); as [`ClientMsg::Action`].
    Action { text: String },
    /// The first page of the room's members; answered by [`ServerMsg::RoomMembers`].
    Who,
    /// The room's members whose nicks sort after `after`; answered by
    /// [`ServerMsg::RoomMembers`].
    WhoPage { after: String },
    /// Offer a file to the room; as [`ClientMsg::UploadStart`].
    UploadStart { name: String, size: u64 },
    /// The room's files; answered by [`ServerMsg::Files`].
    ListFiles,
    /// Leave the room, telling its members `reason`; answered by [`ServerMsg::Parted`].
    Part { reason: String },
    /// Set the room's topic (empty: none), at most
    /// [`MAX_TOPIC_BYTES`](crate::limits::MAX_TOPIC_BYTES); every member with the feature
    /// gets [`ServerMsg::Topic`], the setter included.
    SetTopic { text: String },
}

/// Whether a room message is said or acted (`/me`). An enum: on the wire, its variant
/// index as a varint (0 or 1).
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

    // ----- version 4: only in ServerMsg::Room --------------------------------------------
    /// `from` said `text` (a version 3 client gets [`ServerMsg::Chat`]).
    Said {
        from: String,
        kind: ChatKind,
        text: String,
    },
    /// `file` was shared in the room (a version 3 client gets [`ServerMsg::FileOffered`]).
    Shared { file: FileInfo },
}

impl RoomEvent {
    /// Whether the event is talk (something said, acted or shared: `Said`, `Shared`) as
    /// opposed to presence (`Joined`, `Left`, `Renamed`).
    ///
    /// This is the rule history replays and gap counts follow: a
    /// [`ClientMsg::CatchUp`], and a [`ClientMsg::History`] with `presence` false, bring
    /// talk only, and a [`Gap`]'s `count` counts talk only. The server's store and a
    /// client that counts what it holds against a gap must both decide by it.
    pub fn is_talk(&self) -> bool {
        // Every variant named: a new one must be placed on one side.
        match self {
            RoomEvent::Said { .. } | RoomEvent::Shared { .. } => true,
            RoomEvent::Joined { .. } | RoomEvent::Left { .. } | RoomEvent::Renamed { .. } => false,
        }
    }
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

    // ----- version 4, feature "history" ------------------------------------------------
    /// The server keeps no history (it was started without, or the client did not ask for
    /// the feature), or could not read it.
    NoHistory,
    /// The client asked about a room it is not in.
    NotInRoom,

    // ----- version 4, feature "rooms" --------------------------------------------------
    /// A `Join` beyond the rooms one connection may be in at once
    /// ([`MAX_JOINED_ROOMS`](crate::limits::MAX_JOINED_ROOMS)).
    TooManyRooms,

    // ----- version 4, feature "auth" ---------------------------------------------------
    /// The password was wrong or missing.
    WrongPassword,
    /// The nick, or one that looks like it, is registered to another key.
    NickOwned,
    /// The request needs a key, and the client proved none at the handshake.
    NotIdentified,
    /// The request needs an operator.
    NotOperator,
    /// The client's address or key is banned; the text says until when and why.
    Banned,
    /// An operator disconnected the client; the text says who and why.
    Kicked,
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
        /// The version of the hello, 3.
        version: u16,
        /// The nick the client got.
        nick: String,
        /// The room the client is in, spelt as when it was created.
        room: String,
        /// Members of that room, sorted; the first
        /// [`MEMBER_PAGE`](crate::limits::MEMBER_PAGE) of them in a larger room.
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
        #[serde(with = "chunk_data")]
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

    // ----- version 4 -------------------------------------------------------------------
    /// Successful answer to [`ClientMsg::Hello4`].
    Welcome4 {
        /// The version chosen: the newest both sides speak. It decides what the server
        /// sends from now on.
        version: u16,
        /// The features granted: those of the hello that the server has too.
        features: Vec<String>,
        /// The server's limits, for the client to respect.
        limits: Limits,
        /// The nick the client got.
        nick: String,
        /// The room the client is in, spelt as when it was created.
        room: String,
        /// The room's latest sequence number; the next room message has the next one.
        seq: u64,
        /// The first page of the room's members.
        members: MemberPage,
    },
    /// The answer to a [`ClientMsg::Request`], or the error it caused.
    Reply {
        /// The request's id.
        id: u32,
        #[serde(deserialize_with = "one_level")]
        msg: Box<ServerMsg>,
    },
    /// Something that happened in a room the client is in, stamped by the server: what a
    /// room's history holds. A version 3 client gets `Chat`, `Notice` or `FileOffered`.
    Room {
        /// Server-wide, strictly increasing message id.
        id: u64,
        /// The room's sequence number: one more than the room's previous message, so a
        /// gap means a message was missed.
        seq: u64,
        /// Server time, milliseconds since the Unix epoch (UTC).
        time_ms: u64,
        room: String,
        event: RoomEvent,
    },
    /// Answer to [`ClientMsg::Join`] in version 4: the client is now in `room`.
    Joined4 {
        room: String,
        /// The room's latest sequence number, as in `Welcome4`.
        seq: u64,
        members: MemberPage,
    },
    /// Answer to [`ClientMsg::Who`] or [`ClientMsg::WhoPage`] in version 4.
    Members4 { room: String, members: MemberPage },

    // ----- version 4, feature "history" ([`FEATURE_HISTORY`]) -------------------------
    /// Sent right after `Welcome4` when the feature `history` was granted: what the
    /// server keeps and how much it gives at once.
    HistoryInfo {
        /// Most messages in one [`ServerMsg::HistoryPage`].
        page: u32,
        /// Most messages in one [`ServerMsg::CaughtUp`] after a reconnect.
        catch_up: u32,
        /// Messages a first join gets ([`ClientMsg::CatchUp`] with `after` 0).
        backlog: u32,
        /// Most hits in one [`ServerMsg::SearchHits`].
        search: u32,
        /// Messages older than this many seconds are deleted; 0: kept whatever their age.
        max_age_secs: u64,
        /// Most messages kept per room; 0: no limit.
        max_per_room: u64,
    },
    /// Answer to [`ClientMsg::History`]: messages in ascending order of sequence number.
    /// The page may hold fewer than asked (a frame has a size limit): `more_before` and
    /// `more_after` say whether the room's history goes on, so that a short page is never
    /// taken for the end.
    HistoryPage {
        room: String,
        messages: Vec<Stamped>,
        more_before: bool,
        more_after: bool,
        /// Stretches within the page's span that the server failed to store (a full disk,
        /// a crash): history is incomplete there, and asking again will not fill them.
        lost: Vec<SeqRange>,
    },
    /// Answer to [`ClientMsg::CatchUp`]: the messages that followed `after`, in ascending
    /// order, the newest ones when there were more than the server gives at once.
    CaughtUp {
        room: String,
        messages: Vec<Stamped>,
        /// When more was missed than sent: the messages between `after` and the first one
        /// sent, which the client can fetch with [`ClientMsg::History`].
        gap: Option<Gap>,
        /// Whether the room's history has anything older than the first message sent
        /// (and than the gap).
        more_before: bool,
        /// The sequence number the nick last marked as read in the room; 0: none.
        read: u64,
        /// As in [`ServerMsg::HistoryPage`].
        lost: Vec<SeqRange>,
    },
    /// Answer to [`ClientMsg::Search`]: the hits, newest first.
    SearchHits {
        room: String,
        hits: Vec<Stamped>,
        /// Whether older hits may follow: ask again with `before` the last hit's sequence
        /// number.
        more: bool,
        /// False when the search ran out of time before looking at every message; the
        /// hits are then those it found.
        complete: bool,
    },

    // ----- version 4, feature "rooms" ([`FEATURE_ROOMS`]) -----------------------------
    /// Answer to [`RoomRequest::Part`]: the client is no longer in `room`.
    Parted { room: String, reason: String },
    /// `room`'s topic: sent right after the answer to a join when the room has one, and
    /// to every member when someone sets it (`text` empty: the topic was cleared).
    Topic {
        room: String,
        text: String,
        /// Who set it.
        by: String,
        /// When it was set, milliseconds since the Unix epoch (UTC).
        time_ms: u64,
    },
    /// `nick` is away (`text` says why), or back (`text` empty). The answer to
    /// [`ClientMsg::Away`], about yourself; and sent after the echo of a private message
    /// to a nick that is away.
    Away { nick: String, text: String },
    /// Answer to [`RoomRequest::Who`] and [`RoomRequest::WhoPage`]: a page of the room's
    /// members, each with its away text.
    RoomMembers {
        room: String,
        /// Members of the whole room.
        total: u32,
        /// At most [`MEMBER_PAGE`](crate::limits::MEMBER_PAGE) members taking at most
        /// [`MEMBER_PAGE_BYTES`](crate::limits::MEMBER_PAGE_BYTES) encoded (so often
        /// fewer), sorted as a [`MemberPage`]'s names.
        members: Vec<Member>,
        /// Whether more members follow the last one.
        more: bool,
    },

    // ----- version 4, feature "fetched" ([`FEATURE_FETCHED`]) -------------------------
    /// How many of `room`'s members have fetched files that the client shared: sent to
    /// the sharer (the connection whose nick is the files' `from`) when someone else
    /// completes a download of one of them (the whole file sent) for the first time, and
    /// right before the answer to a [`ClientMsg::ListFiles`] for the sharer's files of the
    /// list that someone fetched. The sharer is not counted on either side.
    Fetched {
        room: String,
        /// The room's members other than the sharer, when this was sent.
        members: u32,
        /// At most one entry per file a `Files` answer lists (1000).
        files: Vec<FetchCount>,
    },

    // ----- version 4, feature "auth" ([`FEATURE_AUTH`]) -------------------------------
    /// The server's answer to a [`ClientMsg::Hello4`] that asked for the feature, before
    /// anything else: prove who you are over `nonce` (32 random bytes), and give the
    /// password if `password`. The client answers with [`ClientMsg::Prove`].
    Challenge {
        #[serde(with = "serde_bytes")]
        nonce: Vec<u8>,
        password: bool,
    },
    /// Sent right after the welcome (and `HistoryInfo`) to a client that proved a key:
    /// whether its nick is registered to that key, and whether the key is an operator's.
    Identified { owner: bool, operator: bool },
    /// `nick` is now registered to the asking client's key (`owned`), or free.
    Registration { nick: String, owned: bool },
    /// Answer to an [`OperatorRequest`]: what was done, in one line for people.
    Operated { text: String },
    /// Answer to [`OperatorRequest::ListBans`].
    Bans { bans: Vec<BanInfo> },
    /// Answer to [`ClientMsg::PrivateHistory`]: the messages, oldest first, and whether
    /// older ones are kept too.
    PrivateHistory {
        with: String,
        messages: Vec<PrivateLine>,
        more: bool,
    },
}

/// A private message as history keeps it, in [`ServerMsg::PrivateHistory`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateLine {
    /// The id the server stamped it with, as [`ServerMsg::Private`] had it.
    pub id: u64,
    pub time_ms: u64,
    /// The sender's and the recipient's nicks when it was sent.
    pub from: String,
    pub to: String,
    pub text: String,
}

/// A ban in force, as [`ServerMsg::Bans`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanInfo {
    /// What is banned: an IP address, or a key as [`crate::auth::format_key`] writes it.
    pub target: String,
    /// The nick the ban was given by, when it named one; empty otherwise.
    pub nick: String,
    /// When it ends, milliseconds since the Unix epoch (UTC); 0: until unbanned.
    pub until_ms: u64,
    pub reason: String,
    /// The operator's nick when they banned.
    pub by: String,
}

/// How many distinct nicks other than its sharer have fetched a file, in
/// [`ServerMsg::Fetched`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchCount {
    pub file_id: u64,
    /// Distinct nicks (compared as names are, ignoring case), at most
    /// [`MAX_FETCHERS`](crate::limits::MAX_FETCHERS).
    pub by: u32,
}

/// A room member as [`ServerMsg::RoomMembers`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub nick: String,
    /// Why the member is away; empty when it is not.
    pub away: String,
}

impl ServerMsg {
    /// A [`ServerMsg::Room`] as history keeps it: its room, and the message without it;
    /// `None` for any other message. The reverse of [`Stamped::into_room_msg`].
    pub fn into_stamped(self) -> Option<(String, Stamped)> {
        match self {
            ServerMsg::Room {
                id,
                seq,
                time_ms,
                room,
                event,
            } => Some((
                room,
                Stamped {
                    id,
                    seq,
                    time_ms,
                    event,
                },
            )),
            _ => None,
        }
    }

    /// The id of the request this answers, and the answer itself: `(Some(id), msg)` for a
    /// [`ServerMsg::Reply`], `(None, self)` for anything else.
    pub fn into_reply(self) -> (Option<u32>, ServerMsg) {
        match self {
            ServerMsg::Reply { id, msg } => (Some(id), *msg),
            other => (None, other),
        }
    }
}

impl ClientMsg {
    /// A version 4 hello that asks for no optional feature.
    pub fn hello4(nick: &str, room: &str) -> Self {
        ClientMsg::Hello4 {
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            features: Vec::new(),
            nick: nick.to_owned(),
            room: room.to_owned(),
        }
    }

    /// `self` with the request id `id`.
    pub fn with_id(self, id: u32) -> Self {
        ClientMsg::Request {
            id,
            msg: Box::new(self),
        }
    }
}

/// The server's limits, told in [`ServerMsg::Welcome4`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest payload of a frame, in bytes.
    pub max_frame: u32,
    /// Longest text of a chat, action or private message, in bytes of UTF-8.
    pub max_text: u32,
    /// Most names in one [`MemberPage`].
    pub member_page: u32,
    /// Requests a second the client may keep up after its burst; 0: no limit.
    pub msg_rate: u32,
    /// Requests the client may send at once before `msg_rate` applies; 0 when there is
    /// no rate limit.
    pub msg_burst: u32,
    /// Largest file the server accepts, in bytes.
    pub max_file_size: u64,
}

/// The name of the optional feature that brings history ([`ClientMsg::History`] and the
/// messages after it). Asked in [`ClientMsg::Hello4`] and granted in
/// [`ServerMsg::Welcome4`] when the server keeps history.
pub const FEATURE_HISTORY: &str = "history";

/// The name of the optional feature that lets a connection be in several rooms at once
/// ([`ClientMsg::Join`] adds a room, [`ClientMsg::InRoom`] addresses one), with room
/// topics and away texts.
pub const FEATURE_ROOMS: &str = "rooms";

/// The name of the optional feature that tells a file's sharer how many members have
/// fetched it ([`ServerMsg::Fetched`]). Every server of this crate grants it.
pub const FEATURE_FETCHED: &str = "fetched";

/// The name of the optional feature that brings the password, keys and operators: the
/// handshake's [`ServerMsg::Challenge`] and [`ClientMsg::Prove`], registered nicks and
/// [`OperatorRequest`]s. Every server of this crate grants it.
pub const FEATURE_AUTH: &str = "auth";

/// A room message as history keeps it: a [`ServerMsg::Room`] without its room, which the
/// answer names once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped {
    pub id: u64,
    pub seq: u64,
    pub time_ms: u64,
    pub event: RoomEvent,
}

impl Stamped {
    /// The message as a live [`ServerMsg::Room`] of `room` brings it. The reverse of
    /// [`ServerMsg::into_stamped`].
    pub fn into_room_msg(self, room: impl Into<String>) -> ServerMsg {
        let Stamped {
            id,
            seq,
            time_ms,
            event,
        } = self;
        ServerMsg::Room {
            id,
            seq,
            time_ms,
            room: room.into(),
            event,
        }
    }
}

/// Where a page of history is taken from, by sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Anchor {
    /// The newest messages.
    Latest,
    /// The messages just before this sequence number (not including it).
    Before(u64),
    /// The messages just after this sequence number (not including it).
    After(u64),
    /// The messages around this sequence number, including it when it exists: as many
    /// before as after, within the limit.
    Around(u64),
}

/// Sequence numbers `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub from: u64,
    pub to: u64,
}

/// Messages a catch-up did not send: those with sequence numbers `from` to `to` (both
/// included), `count` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub from: u64,
    pub to: u64,
    pub count: u64,
}

/// A page of a room's member list, sorted case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemberPage {
    /// Members of the whole room.
    pub total: u32,
    /// At most [`MEMBER_PAGE`](crate::limits::MEMBER_PAGE) nicks.
    pub names: Vec<String>,
    /// Whether more names follow the last one: ask for them with
    /// [`ClientMsg::WhoPage`] `{ after: <the last name> }`.
    pub more: bool,
}

thread_local! {
    /// Whether this thread is decoding the message inside a `Request` or a `Reply`.
    static WRAPPED: Cell<bool> = const { Cell::new(false) };
}

/// Decodes the message inside a `Request` or `Reply`, refusing one that is wrapped again.
///
/// bincode has no depth limit, so without this a frame of a megabyte of nested wrappers
/// would recurse half a million times and overflow the stack. One level is all the
/// protocol has.
fn one_level<'de, D, T>(deserializer: D) -> Result<Box<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    /// Leaves the thread as it found it, even if decoding unwinds.
    struct Inside;
    impl Drop for Inside {
        fn drop(&mut self) {
            WRAPPED.set(false);
        }
    }
    if WRAPPED.get() {
        return Err(D::Error::custom("a message wrapped twice"));
    }
    WRAPPED.set(true);
    let _inside = Inside;
    T::deserialize(deserializer).map(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<RoomEvent> {
        vec![
            RoomEvent::Joined { nick: "ann".into() },
            RoomEvent::Left {
                nick: "ann".into(),
                reason: "quit".into(),
            },
            RoomEvent::Renamed {
                old: "ann".into(),
                new: "anna".into(),
            },
            RoomEvent::Said {
                from: "ann".into(),
                kind: ChatKind::Say,
                text: "hi".into(),
            },
            RoomEvent::Said {
                from: "ann".into(),
                kind: ChatKind::Action,
                text: "waves".into(),
            },
            RoomEvent::Shared {
                file: FileInfo {
                    id: 1,
                    name: "a.txt".into(),
                    size: 2,
                    sha256: vec![0; 32],
                    from: "ann".into(),
                    time_ms: 3,
                    room: "lobby".into(),
                },
            },
        ]
    }

    #[test]
    fn talk_is_what_is_said_acted_or_shared() {
        let talk: Vec<bool> = events().iter().map(RoomEvent::is_talk).collect();
        assert_eq!(talk, [false, false, false, true, true, true]);
    }

    #[test]
    fn a_stamped_message_and_its_room_frame_are_one_another() {
        for event in events() {
            let stamped = Stamped {
                id: 9,
                seq: u64::MAX,
                time_ms: 5,
                event: event.clone(),
            };
            let msg = stamped.clone().into_room_msg("lobby");
            assert_eq!(
                msg,
                ServerMsg::Room {
                    id: 9,
                    seq: u64::MAX,
                    time_ms: 5,
                    room: "lobby".into(),
                    event,
                }
            );
            assert_eq!(msg.into_stamped(), Some(("lobby".to_owned(), stamped)));
        }
        assert_eq!(ServerMsg::Pong { token: 1 }.into_stamped(), None);
    }
}

/// The data of a chunk ([`ClientMsg::UploadChunk`], [`ServerMsg::DownloadChunk`]): written
/// as serde_bytes writes it (a length, then the bytes), read by copying the bytes out of
/// the frame. serde_bytes reads through `deserialize_byte_buf`, for which bincode
/// allocates a zeroed buffer before copying into it; with jemalloc a zeroed 64 KiB
/// buffer is fresh pages from the kernel, a page fault for each of its 16 pages, which
/// cost more than the copy and the checksum of the chunk together.
mod chunk_data {
    use std::fmt;

    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(data: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(data)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_bytes(Copied)
    }

    struct Copied;

    impl<'de> Visitor<'de> for Copied {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }

        /// Formats without a bytes type write a sequence of numbers.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(byte) = seq.next_element()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}
