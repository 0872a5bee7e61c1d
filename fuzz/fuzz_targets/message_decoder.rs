//! An arbitrary payload decoded with the production bincode configuration, as both
//! `ClientMsg` and `ServerMsg`.
//!
//! Decoding never panics. When it succeeds, the message encodes into a frame within the
//! limit whose payload decodes to the same message, and encoding that again gives the same
//! bytes: the canonical encoding is a fixed point. A server message also survives the
//! server's own rewrites: wrapped in a reply, and in the shape a version 3 client reads.

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::codec::decode_payload;
use shared::limits::{HEADER_LEN, MAX_FRAME_LEN};
use shared::{AsVersion3, ClientMsg, ServerMsg, encode_frame, wrap_reply};

fuzz_target!(|payload: &[u8]| {
    round_trip::<ClientMsg>(payload);
    round_trip::<ServerMsg>(payload);
    if let Ok(msg) = decode_payload::<ServerMsg>(payload) {
        rewrites(msg);
    }
});

/// What the server does to a message before it sends it.
fn rewrites(msg: ServerMsg) {
    let frame = encode_frame(&msg).expect("a decoded message encodes");
    // A reply inside a reply does not decode, so a decoded message is never wrapped twice.
    if !matches!(msg, ServerMsg::Reply { .. }) {
        if let Ok(wrapped) = wrap_reply(7, &frame) {
            let back: ServerMsg = decode_payload(&wrapped[HEADER_LEN..]).expect("decodes");
            assert_eq!(back.into_reply(), (Some(7), msg.clone()));
        }
    }
    // As version 3 reads it: never a variant of version 4 for a room message.
    let old = encode_frame(&AsVersion3(&msg)).expect("encodes");
    let old: ServerMsg = decode_payload(&old[HEADER_LEN..]).expect("decodes");
    if matches!(msg, ServerMsg::Room { .. }) {
        assert!(matches!(
            old,
            ServerMsg::Chat { .. } | ServerMsg::Notice { .. } | ServerMsg::FileOffered { .. }
        ));
    } else {
        assert_eq!(old, msg);
    }
}

fn round_trip<T>(payload: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let Ok(msg) = decode_payload::<T>(payload) else {
        return;
    };
    let frame = encode_frame(&msg).expect("a decoded message encodes");
    let header = u32::from_be_bytes(*frame.first_chunk::<HEADER_LEN>().unwrap()) as usize;
    assert_eq!(header, frame.len() - HEADER_LEN);
    assert!(header <= MAX_FRAME_LEN);
    // Varints may be sent longer than needed; the canonical form is never longer.
    assert!(header <= payload.len(), "re-encoding grew the payload");
    let again: T = decode_payload(&frame[HEADER_LEN..]).expect("a re-encoded payload decodes");
    assert_eq!(again, msg);
    let frame_again = encode_frame(&again).expect("encodes again");
    assert_eq!(frame_again, frame, "encoding is not a fixed point");
}
