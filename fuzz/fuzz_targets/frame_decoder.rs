//! Arbitrary bytes fed to `FrameCodec` in arbitrary pieces, as a socket would deliver them.
//!
//! Input: two bytes that choose where the stream is cut, then the stream itself. Both
//! codecs (the server's, reading `ClientMsg`, and the client's, reading `ServerMsg`) must:
//! - never panic;
//! - never take a frame longer than the limit, and refuse a header past it before its
//!   payload arrives;
//! - never grow the buffer beyond what actually arrived (the announced length reserves
//!   nothing);
//! - give the same messages and the same outcome however the stream is cut;
//! - at the end of the stream, report leftover bytes as a truncated frame.

#![no_main]

use std::fmt::Debug;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::codec::{FrameCodec, decode_payload};
use shared::limits::{HEADER_LEN, MAX_FRAME_LEN};
use shared::{ClientMsg, CodecError, ServerMsg, encode_frame};
use tokio_util::codec::Decoder;

fuzz_target!(|input: &[u8]| {
    let Some((cut_seed, stream)) = input.split_first_chunk::<2>() else {
        return;
    };
    let seed = u16::from_le_bytes(*cut_seed);
    check::<ClientMsg>(stream, seed);
    check::<ServerMsg>(stream, seed);
});

/// What a decoder made of a whole stream.
#[derive(Debug, PartialEq)]
struct Outcome<T> {
    messages: Vec<T>,
    /// The error that ended decoding, as text (`CodecError` has no `PartialEq`).
    error: Option<String>,
}

fn check<T>(stream: &[u8], seed: u16)
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let whole = decode(stream, &[stream.len()]);
    let pieces = decode(stream, &cuts(stream.len(), seed));
    assert_eq!(
        whole, pieces,
        "the outcome depends on where the stream is cut"
    );
    let bytes_of_one = decode(stream, &vec![1; stream.len()]);
    assert_eq!(whole, bytes_of_one, "byte-by-byte delivery differs");
    // Whatever came out is a message that encodes back into a frame within the limit.
    for msg in &whole.messages {
        let frame = encode_frame(msg).expect("a decoded message encodes");
        assert!(frame.len() <= HEADER_LEN + MAX_FRAME_LEN);
        let again: T = decode_payload(&frame[HEADER_LEN..]).expect("a re-encoded frame decodes");
        assert_eq!(&again, msg);
    }
}

/// Piece lengths that add up to `len`, drawn from `seed`: mostly small, sometimes large.
fn cuts(len: usize, seed: u16) -> Vec<usize> {
    let mut state = u32::from(seed) | 1;
    let mut pieces = Vec::new();
    let mut left = len;
    while left > 0 {
        // xorshift32: cheap and deterministic, so a finding replays exactly.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let piece = if state % 8 == 0 {
            state as usize % (left + 1)
        } else {
            state as usize % 7
        }
        .clamp(1, left);
        pieces.push(piece);
        left -= piece;
    }
    pieces
}

/// Decodes `stream` delivered in pieces of the given lengths, then ends it.
fn decode<T: DeserializeOwned>(stream: &[u8], pieces: &[usize]) -> Outcome<T> {
    let mut codec = FrameCodec::<T, ()>::default();
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let mut fed = 0;
    for &piece in pieces {
        buf.extend_from_slice(&stream[fed..fed + piece]);
        fed += piece;
        loop {
            let before = buf.len();
            let result = codec.decode(&mut buf);
            // The buffer holds what arrived and nothing reserved for what was announced.
            assert!(
                buf.capacity() <= 4 * fed + 64,
                "capacity {} after {fed} bytes",
                buf.capacity()
            );
            match result {
                Ok(Some(msg)) => {
                    let used = before - buf.len();
                    assert!(used > HEADER_LEN - 1 && used <= HEADER_LEN + MAX_FRAME_LEN);
                    messages.push(msg);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "an incomplete frame consumes nothing");
                    if let Some(header) = buf.first_chunk::<HEADER_LEN>() {
                        let len = u32::from_be_bytes(*header) as usize;
                        assert!(len <= MAX_FRAME_LEN, "a header past the limit was accepted");
                    }
                    break;
                }
                Err(e) => {
                    return Outcome {
                        messages,
                        error: Some(describe(&e)),
                    };
                }
            }
        }
    }
    let error = match codec.decode_eof(&mut buf) {
        Ok(None) => {
            assert!(buf.is_empty());
            None
        }
        Ok(Some(_)) => panic!("a whole frame was left after decode returned None"),
        Err(e) => {
            if let CodecError::Truncated { buffered } = e {
                assert_eq!(buffered, buf.len());
                assert!(buffered > 0);
            }
            Some(describe(&e))
        }
    };
    Outcome { messages, error }
}

fn describe(e: &CodecError) -> String {
    if let CodecError::FrameTooLarge { len, max } = e {
        assert!(*len > *max as u64 && *max == MAX_FRAME_LEN);
    }
    e.to_string()
}
