//! Borrowed forms of server messages for the server's busy paths. Each encodes to exactly
//! the bytes of an owned [`ServerMsg`] (tests compare them), without copying names and
//! texts into one first.
//!
//! - [`MemberList`]: a welcome, joined or members answer made of borrowed nicks.
//! - [`ReplyTo`]: a [`ServerMsg::Reply`] around a borrowed message.
//! - [`DownloadChunkHead`]: a [`ServerMsg::DownloadChunk`] up to its data, so that a
//!   server sends a chunk as this head and then the file's bytes.
//! - [`AsVersion3`]: a version 4 room message ([`ServerMsg::Room`]) in the shape a version
//!   3 client reads (`Chat`, `Notice` or `FileOffered`).
//!
//! [`ServerMsg`]: crate::ServerMsg
//! [`ServerMsg::Reply`]: crate::ServerMsg::Reply
//! [`ServerMsg::Room`]: crate::ServerMsg::Room

use serde::ser::{SerializeStruct, SerializeStructVariant};
use serde::{Serialize, Serializer};

use crate::protocol::{Limits, RoomEvent, ServerMsg};

/// Indexes of the `ServerMsg` variants written here, as its derived `Serialize` numbers
/// them; a test checks each against the owned message.
pub(crate) mod index {
    pub const WELCOME: u32 = 0;
    pub const CHAT: u32 = 1;
    pub const NOTICE: u32 = 3;
    pub const JOINED: u32 = 4;
    pub const MEMBERS: u32 = 5;
    pub const FILE_OFFERED: u32 = 14;
    pub const DOWNLOAD_CHUNK: u32 = 17;
    pub const WELCOME4: u32 = 20;
    pub const REPLY: u32 = 21;
    pub const JOINED4: u32 = 23;
    pub const MEMBERS4: u32 = 24;
}

/// A [`ServerMsg`] that carries a room's member list (`Welcome`, `Joined`, `Members` or
/// their version 4 forms), made of borrowed names, so that a server answers a client in a
/// room of thousands without copying every name first.
#[derive(Debug, Clone, Copy)]
pub struct MemberList<'a> {
    pub answer: MemberListAnswer<'a>,
    pub room: &'a str,
    /// Sorted, as the owned messages' lists are; at most a page.
    pub members: &'a [&'a str],
    /// Version 4 only ([`MemberPage`](crate::MemberPage)): members of the whole room...
    pub total: u32,
    /// ...and whether more names follow `members`.
    pub more: bool,
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
    /// [`ServerMsg::Welcome4`].
    Welcome4 {
        version: u16,
        features: &'a [String],
        limits: &'a Limits,
        nick: &'a str,
        seq: u64,
    },
    /// [`ServerMsg::Joined4`].
    Joined4 { seq: u64 },
    /// [`ServerMsg::Members4`].
    Members4,
}

/// A [`MemberPage`](crate::MemberPage) of borrowed names.
struct Page<'a> {
    total: u32,
    names: &'a [&'a str],
    more: bool,
}

impl Serialize for Page<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut page = serializer.serialize_struct("MemberPage", 3)?;
        page.serialize_field("total", &self.total)?;
        page.serialize_field("names", self.names)?;
        page.serialize_field("more", &self.more)?;
        page.end()
    }
}

impl Serialize for MemberList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use MemberListAnswer as A;
        let page = Page {
            total: self.total,
            names: self.members,
            more: self.more,
        };
        let (index, name, fields) = match self.answer {
            A::Welcome { .. } => (index::WELCOME, "Welcome", 4),
            A::Joined => (index::JOINED, "Joined", 2),
            A::Members => (index::MEMBERS, "Members", 2),
            A::Welcome4 { .. } => (index::WELCOME4, "Welcome4", 7),
            A::Joined4 { .. } => (index::JOINED4, "Joined4", 3),
            A::Members4 => (index::MEMBERS4, "Members4", 2),
        };
        let mut msg = serializer.serialize_struct_variant("ServerMsg", index, name, fields)?;
        match self.answer {
            A::Welcome { version, nick } => {
                msg.serialize_field("version", &version)?;
                msg.serialize_field("nick", nick)?;
                msg.serialize_field("room", self.room)?;
                msg.serialize_field("members", self.members)?;
            }
            A::Joined | A::Members => {
                msg.serialize_field("room", self.room)?;
                msg.serialize_field("members", self.members)?;
            }
            A::Welcome4 {
                version,
                features,
                limits,
                nick,
                seq,
            } => {
                msg.serialize_field("version", &version)?;
                msg.serialize_field("features", features)?;
                msg.serialize_field("limits", limits)?;
                msg.serialize_field("nick", nick)?;
                msg.serialize_field("room", self.room)?;
                msg.serialize_field("seq", &seq)?;
                msg.serialize_field("members", &page)?;
            }
            A::Joined4 { seq } => {
                msg.serialize_field("room", self.room)?;
                msg.serialize_field("seq", &seq)?;
                msg.serialize_field("members", &page)?;
            }
            A::Members4 => {
                msg.serialize_field("room", self.room)?;
                msg.serialize_field("members", &page)?;
            }
        }
        msg.end()
    }
}

/// [`ServerMsg::Reply`] `{ id, msg }` around a borrowed message (a [`ServerMsg`] or one
/// of the views here).
#[derive(Debug, Clone, Copy)]
pub struct ReplyTo<'a, T: ?Sized> {
    pub id: u32,
    pub msg: &'a T,
}

impl<T: Serialize + ?Sized> Serialize for ReplyTo<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut reply =
            serializer.serialize_struct_variant("ServerMsg", index::REPLY, "Reply", 2)?;
        reply.serialize_field("id", &self.id)?;
        reply.serialize_field("msg", self.msg)?;
        reply.end()
    }
}

/// A [`ServerMsg::DownloadChunk`] of `len` bytes without the bytes: encoded with
/// [`encode_head`](crate::codec::encode_head) and followed by the `len` bytes, it is the
/// chunk's frame, exactly (a test compares them). A server reads a file straight into the
/// frame, or has the kernel send the file's bytes after the head, instead of copying them
/// into a message first.
#[derive(Debug, Clone, Copy)]
pub struct DownloadChunkHead {
    pub file_id: u64,
    pub offset: u64,
    pub len: usize,
}

impl Serialize for DownloadChunkHead {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut msg = serializer.serialize_struct_variant(
            "ServerMsg",
            index::DOWNLOAD_CHUNK,
            "DownloadChunk",
            3,
        )?;
        msg.serialize_field("file_id", &self.file_id)?;
        msg.serialize_field("offset", &self.offset)?;
        // Bytes are written as their length (a u64, as every length) and then themselves.
        msg.serialize_field("data", &(self.len as u64))?;
        msg.end()
    }
}

/// A message as a version 3 client gets it: a [`ServerMsg::Room`] becomes the `Chat`,
/// `Notice` or `FileOffered` of version 3 (without the sequence number, and a notice
/// without its id); any other message is itself.
#[derive(Debug, Clone, Copy)]
pub struct AsVersion3<'a>(pub &'a ServerMsg);

impl Serialize for AsVersion3<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ServerMsg::Room {
            id,
            time_ms,
            room,
            event,
            ..
        } = self.0
        else {
            return self.0.serialize(serializer);
        };
        match event {
            RoomEvent::Said { from, kind, text } => {
                let mut msg =
                    serializer.serialize_struct_variant("ServerMsg", index::CHAT, "Chat", 6)?;
                msg.serialize_field("id", id)?;
                msg.serialize_field("time_ms", time_ms)?;
                msg.serialize_field("room", room)?;
                msg.serialize_field("from", from)?;
                msg.serialize_field("kind", kind)?;
                msg.serialize_field("text", text)?;
                msg.end()
            }
            RoomEvent::Shared { file } => {
                let mut msg = serializer.serialize_struct_variant(
                    "ServerMsg",
                    index::FILE_OFFERED,
                    "FileOffered",
                    1,
                )?;
                msg.serialize_field("file", file)?;
                msg.end()
            }
            RoomEvent::Joined { .. } | RoomEvent::Left { .. } | RoomEvent::Renamed { .. } => {
                let mut msg =
                    serializer.serialize_struct_variant("ServerMsg", index::NOTICE, "Notice", 3)?;
                msg.serialize_field("time_ms", time_ms)?;
                msg.serialize_field("room", room)?;
                msg.serialize_field("event", event)?;
                msg.end()
            }
        }
    }
}
