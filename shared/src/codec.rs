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

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// A header announced a payload larger than [`MAX_FRAME_LEN`], or a message to send
    /// encodes to one. Nothing was allocated for it.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge { len: u64, max: usize },
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed in the middle of a frame ({buffered} bytes unread)")]
    Truncated { buffered: usize },
}

/// The bincode configuration of the wire: little-endian, variable-length integers, and a
/// byte limit so that a payload declaring a huge collection fails instead of allocating.
fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Decodes one payload (without its header) into a message.
///
/// The whole payload must be consumed: trailing bytes are malformed.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, CodecError> {
    let (msg, used) = bincode::serde::decode_from_slice(payload, bincode_config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(CodecError::Malformed(format!(
            "{} trailing bytes after the message",
            payload.len() - used
        )));
    }
    Ok(msg)
}

/// Appends one whole frame (header and payload) for `msg` to `dst`.
fn encode_into<T: Serialize>(msg: &T, dst: &mut BytesMut) -> Result<(), CodecError> {
    let start = dst.len();
    dst.put_u32(0); // placeholder, patched below once the payload length is known
    let written =
        bincode::serde::encode_into_std_write(msg, &mut (&mut *dst).writer(), bincode_config());
    let result = match written {
        Ok(len) if len <= MAX_FRAME_LEN => {
            let header = u32::try_from(len)
                .expect("MAX_FRAME_LEN fits in u32")
                .to_be_bytes();
            dst[start..start + HEADER_LEN].copy_from_slice(&header);
            return Ok(());
        }
        Ok(len) => CodecError::FrameTooLarge {
            len: len as u64,
            max: MAX_FRAME_LEN,
        },
        Err(e) => CodecError::Malformed(e.to_string()),
    };
    dst.truncate(start);
    Err(result)
}

/// Encodes `msg` once into a complete frame that can be written to many sockets.
///
/// The server uses this to broadcast: one encoding, shared by every recipient.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Bytes, CodecError> {
    let mut buf = BytesMut::with_capacity(64);
    encode_into(msg, &mut buf)?;
    Ok(buf.freeze())
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
