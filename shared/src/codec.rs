//! Framing: a 4-byte big-endian length header, then a bincode 2 payload.
//!
//! TCP is a byte stream: two quick messages can arrive glued together, one message can arrive
//! in pieces. The header says where each payload ends. [`FrameCodec`] is a tokio-util
//! `Decoder`/`Encoder`, so `Framed` does the buffering; it checks the header before anything
//! else and turns every failure into a [`CodecError`] that says what went wrong.
//!
//! This is the only module that touches bincode.
//!
//! # Examples
//!
//! ```
//! use bytes::BytesMut;
//! use shared::{ClientCodec, ClientMsg, ServerCodec};
//! use tokio_util::codec::{Decoder, Encoder};
//!
//! let msg = ClientMsg::Chat { text: "你好 👋".into() };
//! let mut wire = BytesMut::new();
//! ClientCodec::default().encode(msg.clone(), &mut wire).unwrap();
//! // 4-byte big-endian length, then the payload.
//! assert_eq!(&wire[..4], &[0, 0, 0, (wire.len() - 4) as u8]);
//! let decoded = ServerCodec::default().decode(&mut wire).unwrap();
//! assert_eq!(decoded, Some(msg));
//! assert!(wire.is_empty());
//! ```

use std::io;
use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::codec::{Decoder, Encoder};

use crate::limits::{HEADER_LEN, MAX_FRAME_LEN};
use crate::protocol::{ClientMsg, ServerMsg};

/// Why a frame could not be read or written. The texts are for people: they name no
/// type and hold no debug formatting.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The socket failed.
    #[error("the connection failed: {0}")]
    Io(#[from] io::Error),
    /// A header announced a payload larger than [`MAX_FRAME_LEN`], or a message to send
    /// encodes to one. Nothing was allocated for it.
    #[error("a message of {len} bytes, more than the {max} allowed")]
    FrameTooLarge { len: u64, max: usize },
    /// The payload is not a valid message; the text says why, in words.
    #[error("a malformed message: {0}")]
    Malformed(String),
    /// The peer closed the connection in the middle of a frame.
    #[error("the connection closed in the middle of a message")]
    Truncated { buffered: usize },
}

/// How much memory bincode may count while it decodes a payload of `len` bytes.
///
/// bincode counts what it decodes by its size in memory, not by the bytes it reads: 8 for
/// every length and every integer, however short its varint. A payload of many short names
/// counts up to 8 times its length, so a limit of one frame would refuse valid frames well
/// below [`MAX_FRAME_LEN`] (a member list of a few hundred kilobytes). No byte counts more
/// than 8, so 8 times the payload lets every frame through, while a length declared beyond
/// it fails before anything is allocated for it: a small frame cannot make the decoder
/// allocate more than a small multiple of itself.
const fn decode_limit(len: usize) -> usize {
    8 * len
}

/// The payload sizes up to which a smaller decoding limit is used (bincode's limit is a
/// constant of its configuration): a chat line, a file chunk, any frame.
const SMALL_PAYLOAD: usize = 4096 + 256;
const CHUNK_PAYLOAD: usize = 64 * 1024 + 256;

/// The bincode configuration of the wire: little-endian, variable-length integers, and a
/// limit of `LIMIT` bytes of memory counted, so that a payload declaring a huge collection
/// fails instead of allocating.
fn bincode_config<const LIMIT: usize>() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<LIMIT>()
}

/// The configuration for encoding, whose size is checked against the frame afterwards.
fn encoding() -> impl bincode::config::Config {
    bincode::config::standard()
}

fn decode_with_limit<T: DeserializeOwned, const LIMIT: usize>(
    payload: &[u8],
) -> Result<(T, usize), CodecError> {
    bincode::serde::decode_from_slice(payload, bincode_config::<LIMIT>()).map_err(malformed)
}

/// Decodes one payload (without its header) into a message.
///
/// The whole payload must be consumed: trailing bytes are malformed.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CodecError> {
    let len = payload.len();
    let (msg, used) = if len <= SMALL_PAYLOAD {
        decode_with_limit::<T, { decode_limit(SMALL_PAYLOAD) }>(payload)
    } else if len <= CHUNK_PAYLOAD {
        decode_with_limit::<T, { decode_limit(CHUNK_PAYLOAD) }>(payload)
    } else {
        decode_with_limit::<T, { decode_limit(MAX_FRAME_LEN) }>(payload)
    }?;
    if used != payload.len() {
        return Err(CodecError::Malformed(format!(
            "{} bytes after the end of the message",
            payload.len() - used
        )));
    }
    Ok(msg)
}

/// Says in words what was wrong with a payload. bincode's own texts are its errors'
/// debug formatting.
fn malformed(error: bincode::error::DecodeError) -> CodecError {
    use bincode::error::DecodeError as E;
    let what = match error {
        E::UnexpectedEnd { .. } => "it ends too early".to_owned(),
        E::LimitExceeded | E::OutsideUsizeRange(_) => {
            "it declares a length larger than a frame".to_owned()
        }
        E::InvalidIntegerType { .. } => "a number is wider than its field".to_owned(),
        E::Utf8 { .. } => "a text is not valid UTF-8".to_owned(),
        E::InvalidBooleanValue(byte) => format!("{byte} where a boolean (0 or 1) belongs"),
        // What serde says: an unknown variant index, or a message wrapped twice.
        E::OtherString(text) => variant_in_words(&text).unwrap_or(text),
        E::Other(text) => text.to_owned(),
        _ => "it does not decode".to_owned(),
    };
    CodecError::Malformed(what)
}

/// serde's "invalid value: integer `99`, expected variant index 0 <= i < 24" in words.
fn variant_in_words(text: &str) -> Option<String> {
    let rest = text.strip_prefix("invalid value: integer `")?;
    let (found, rest) = rest.split_once('`')?;
    let max = rest.strip_prefix(", expected variant index 0 <= i < ")?;
    let max: u32 = max.parse().ok()?;
    Some(format!(
        "unknown kind {found} (this side knows 0 to {})",
        max.saturating_sub(1)
    ))
}

/// Appends one whole frame (header and payload) for `msg` to `dst`.
fn encode_into<T: Serialize>(msg: &T, dst: &mut BytesMut) -> Result<(), CodecError> {
    let start = dst.len();
    dst.put_u32(0); // placeholder, patched below once the payload length is known
    let written = bincode::serde::encode_into_std_write(msg, &mut (&mut *dst).writer(), encoding());
    match written.map_err(|_| unencodable()).and_then(header) {
        Ok(header) => {
            dst[start..start + HEADER_LEN].copy_from_slice(&header);
            Ok(())
        }
        Err(e) => {
            dst.truncate(start);
            Err(e)
        }
    }
}

/// The header of a frame whose payload is `len` bytes: its length, big-endian; refused
/// above [`MAX_FRAME_LEN`]. The one place every encoder writes a header.
fn header(len: usize) -> Result<[u8; HEADER_LEN], CodecError> {
    if len > MAX_FRAME_LEN {
        return Err(CodecError::FrameTooLarge {
            len: len as u64,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(u32::try_from(len)
        .expect("MAX_FRAME_LEN fits in u32")
        .to_be_bytes())
}

/// The frame of [`ServerMsg::Reply`] `{ id, msg }`, made from
/// the frame of `msg`: the sender's copy of a room message is the frame every member gets,
/// wrapped, so the message is encoded once.
pub fn wrap_reply(id: u32, frame: &[u8]) -> Result<Bytes, CodecError> {
    let payload = frame.get(HEADER_LEN..).unwrap_or_default();
    let mut buf = BytesMut::with_capacity(frame.len() + 8);
    buf.put_u32(0); // the header, patched below
    // A variant index and a request id are both varint u32s.
    let prefix = (crate::views::index::REPLY, id);
    bincode::serde::encode_into_std_write(prefix, &mut (&mut buf).writer(), encoding())
        .map_err(|_| unencodable())?;
    buf.extend_from_slice(payload);
    let header = header(buf.len() - HEADER_LEN)?;
    buf[..HEADER_LEN].copy_from_slice(&header);
    Ok(buf.freeze())
}

/// An encoding failure (bincode's text for it is debug formatting). Only a message that
/// serde cannot describe fails; every message of the protocol can be encoded.
fn unencodable() -> CodecError {
    CodecError::Malformed("the message could not be encoded".to_owned())
}

/// Encodes `msg` once into a complete frame that can be written to many sockets.
///
/// The server uses this to broadcast: one encoding, shared by every recipient.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Bytes, CodecError> {
    let mut buf = BytesMut::with_capacity(64);
    encode_into(msg, &mut buf)?;
    Ok(buf.freeze())
}

/// How many bytes `value` takes in a payload, without encoding it anywhere: what a sender
/// that fills a frame up to a budget (a page of `RoomMembers`) counts item by item.
pub fn encoded_len<T: Serialize>(value: &T) -> usize {
    let mut size = bincode::enc::write::SizeWriter::default();
    // Encoding into a counter cannot fail but for a type serde cannot encode, which takes
    // no room then.
    let _ = bincode::serde::encode_into_writer(value, &mut size, encoding());
    size.bytes_written
}

/// The start of the frame of `head`, a message whose last field is `tail` bytes sent right
/// after it ([`DownloadChunkHead`](crate::views::DownloadChunkHead)): the header counts
/// them. The buffer has room for them, so that they can be read into it.
pub fn encode_head<T: Serialize>(head: &T, tail: usize) -> Result<Vec<u8>, CodecError> {
    let mut frame = Vec::with_capacity(32 + tail);
    frame.extend_from_slice(&[0; HEADER_LEN]); // the header, patched below
    let len = bincode::serde::encode_into_std_write(head, &mut frame, encoding())
        .map_err(|_| unencodable())?;
    let header = header(len + tail)?;
    frame[..HEADER_LEN].copy_from_slice(&header);
    frame.reserve_exact(tail);
    Ok(frame)
}

/// A tokio-util codec that decodes frames into `In` and encodes `Out` into frames.
///
/// Use [`ClientCodec`] on the client side and [`ServerCodec`] on the server side.
pub struct FrameCodec<In, Out> {
    _types: PhantomData<fn(Out) -> In>,
}

/// Codec for a client: reads [`ServerMsg`], writes [`ClientMsg`].
pub type ClientCodec = FrameCodec<ServerMsg, ClientMsg>;

/// Codec for the server: reads [`ClientMsg`], writes [`ServerMsg`].
pub type ServerCodec = FrameCodec<ClientMsg, ServerMsg>;

impl<In, Out> std::fmt::Debug for FrameCodec<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameCodec").finish_non_exhaustive()
    }
}

impl<In, Out> Default for FrameCodec<In, Out> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<In: DeserializeOwned, Out> Decoder for FrameCodec<In, Out> {
    type Item = In;
    type Error = CodecError;

    /// Check, then parse, then advance: an incomplete frame is `Ok(None)`.
    ///
    /// Unlike tokio-util's `LengthDelimitedCodec`, this reserves nothing for the announced
    /// length: the buffer grows with the bytes that actually arrive. Otherwise four bytes
    /// announcing a 1 MiB frame would cost the receiver 1 MiB until the peer timed out.
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        let Some(header) = src.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header);
        if len as usize > MAX_FRAME_LEN {
            return Err(CodecError::FrameTooLarge {
                len: u64::from(len),
                max: MAX_FRAME_LEN,
            });
        }
        if src.len() < HEADER_LEN + len as usize {
            return Ok(None);
        }
        // Parse in place, then advance: splitting the payload off would turn the buffer
        // into a shared one (an allocation and atomic counts) for every frame.
        let frame_len = HEADER_LEN + len as usize;
        let msg = decode_payload(&src[HEADER_LEN..frame_len]);
        src.advance(frame_len);
        msg.map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        match self.decode(src)? {
            Some(msg) => Ok(Some(msg)),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl<In, Out: Serialize> Encoder<Out> for FrameCodec<In, Out> {
    type Error = CodecError;

    fn encode(&mut self, msg: Out, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode_into(&msg, dst)
    }
}
