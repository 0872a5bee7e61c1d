//! Messages in both directions.
//!
//! The order of enum variants and struct fields is part of the wire format: bincode encodes
//! a variant as its index and a struct as its fields in order. Add new variants at the end
//! only, and raise [`PROTOCOL_VERSION`] when the format changes.

use serde::{Deserialize, Serialize};

/// Version of this protocol. A client states it in [`ClientMsg::Hello`]; the server refuses a
/// client whose version differs with [`ErrorKind::VersionMismatch`].
pub const PROTOCOL_VERSION: u16 = 1;

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
}
