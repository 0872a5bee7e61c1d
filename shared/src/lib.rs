//! The wire protocol of the chat room, shared by the server and the clients.
//!
//! # Layout
//!
//! - [`protocol`]: the messages in both directions ([`ClientMsg`], [`ServerMsg`]) and the
//!   types they carry. Plain serde data, no I/O.
//! - [`codec`]: framing. Every frame is a 4-byte big-endian length followed by a bincode 2
//!   payload; [`codec::FrameCodec`] is a tokio-util `Encoder`/`Decoder`, and
//!   [`codec::encode_frame`] encodes a message once into bytes that many sockets can share.
//!   All bincode use lives in that module, so a change of format touches one file.
//! - [`limits`]: every size limit the protocol defines, used by both ends.
//! - [`config_file`]: reading a program's TOML settings file, with errors that name the
//!   key at fault.
//!
//! docs/PROTOCOL.md describes the same thing byte by byte.

pub mod codec;
pub mod config_file;
pub mod limits;
pub mod protocol;

pub use codec::{ClientCodec, CodecError, FrameCodec, ServerCodec, encode_frame};
pub use protocol::{
    ChatKind, ClientMsg, ErrorKind, FileInfo, MemberList, MemberListAnswer, PROTOCOL_VERSION,
    RoomEvent, ServerMsg,
};
