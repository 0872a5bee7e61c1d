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
//! - [`views`]: borrowed forms of server messages that encode to the same bytes as the
//!   owned ones: member lists, replies, and room messages as version 3 reads them.
//!
//! docs/PROTOCOL.md describes the same thing byte by byte.

pub mod codec;
pub mod limits;
pub mod protocol;
pub mod views;

pub use codec::{ClientCodec, CodecError, FrameCodec, ServerCodec, encode_frame, wrap_reply};
pub use protocol::{
    ChatKind, ClientMsg, ErrorKind, FileInfo, Limits, MemberPage, OLDEST_VERSION, PROTOCOL_VERSION,
    RoomEvent, ServerMsg,
};
pub use views::{AsVersion3, MemberList, MemberListAnswer, ReplyTo};
