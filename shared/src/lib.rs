//! What the server and the clients of the chat room share: the wire protocol, and every
//! rule both ends apply, so that no end keeps a copy of its own that could drift.
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
//! - [`discovery`]: how a server announces itself on the LAN (DNS-SD): the service type,
//!   the TXT record's keys and the rules a client checks them by.
//! - [`config_file`]: reading a program's TOML settings file, with errors that name the
//!   key at fault.
//! - [`names`]: which nicks and room names are allowed, when two names are the same (case,
//!   look-alikes), and the order of a member list.
//! - [`file_name`]: a file name from the network made safe to show and to save.
//! - [`rate`]: what counts against the request rate, and the token bucket that both the
//!   server's limiter and the client's pacer are.
//! - [`units`]: sizes and durations written for people, and read back.
//! - [`text`]: text cut to a size in bytes without splitting a character.
//! - `tls` (feature `tls`): the build's one TLS crypto provider, the fingerprint of a
//!   server's key, and the first byte that tells TLS from frames.
//!
//! - `auth` (feature `tls`): what a client signs to prove its key, and how keys are
//!   written.
//!
//! docs/PROTOCOL.md describes the same thing byte by byte.

#[cfg(feature = "tls")]
pub mod auth;
pub mod codec;
pub mod config_file;
pub mod discovery;
pub mod file_name;
pub mod limits;
pub mod names;
pub mod protocol;
pub mod rate;
pub mod text;
#[cfg(feature = "tls")]
pub mod tls;
pub mod units;
pub mod views;

pub use codec::{
    ClientCodec, CodecError, FrameCodec, ServerCodec, encode_frame, encode_head, encoded_len,
    wrap_reply,
};
pub use protocol::{
    Anchor, BanInfo, ChatKind, ClientMsg, ErrorKind, FEATURE_AUTH, FEATURE_FETCHED,
    FEATURE_HISTORY, FEATURE_ROOMS, FetchCount, FileInfo, Gap, Limits, Member, MemberPage,
    OLDEST_VERSION, OperatorRequest, PROTOCOL_VERSION, PrivateLine, RoomEvent, RoomRequest,
    SeqRange, ServerMsg, Stamped,
};
pub use views::{AsVersion3, DownloadChunkHead, MemberList, MemberListAnswer, ReplyTo};
