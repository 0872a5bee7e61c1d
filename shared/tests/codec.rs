//! Codec tests: every message round-trips, and any byte string, split anywhere, ends in
//! frames or an error — never a panic, never an allocation past the frame limit.

use bytes::BytesMut;
use proptest::prelude::*;
use serde::Serialize;
use shared::codec::decode_payload;
use shared::limits::{
    MAX_CHUNK_BYTES, MAX_FRAME_LEN, MAX_NICK_CHARS, MAX_RAW_FILE_NAME_BYTES, MAX_TEXT_BYTES,
    MEMBER_PAGE,
};
use shared::{
    AsVersion3, ChatKind, ClientCodec, ClientMsg, CodecError, DownloadChunkHead, ErrorKind,
    FileInfo, Limits, MemberList, MemberListAnswer, MemberPage, PROTOCOL_VERSION, ReplyTo,
    RoomEvent, ServerCodec, ServerMsg, encode_frame, encode_head, wrap_reply,
};
use tokio_util::codec::{Decoder, Encoder};

fn every_client_msg() -> Vec<ClientMsg> {
    vec![
        ClientMsg::Hello {
            version: PROTOCOL_VERSION,
            nick: "ann".into(),
            room: "lobby".into(),
        },
        ClientMsg::Hello {
            version: u16::MAX,
            nick: "".into(),
            room: "".into(),
        },
        ClientMsg::Chat {
            text: "hello 你好 👩‍👩‍👧 ❤️".into(),
        },
        ClientMsg::Chat {
            text: "x".repeat(MAX_TEXT_BYTES),
        },
        ClientMsg::Action {
            text: "waves".into(),
        },
        ClientMsg::Private {
            to: "bob".into(),
            text: "psst".into(),
        },
        ClientMsg::Join {
            room: "rust".into(),
        },
        ClientMsg::Nick {
            nick: "ann2".into(),
        },
        ClientMsg::Who,
        ClientMsg::Ping { token: 0 },
        ClientMsg::Pong { token: u64::MAX },
        ClientMsg::Quit {
            reason: "bye".into(),
        },
        ClientMsg::UploadStart {
            name: "report 📄.pdf".into(),
            size: u64::MAX,
        },
        ClientMsg::UploadStart {
            name: "x".repeat(MAX_RAW_FILE_NAME_BYTES),
            size: 0,
        },
        ClientMsg::UploadChunk {
            upload_id: 1,
            offset: 0,
            data: vec![],
        },
        ClientMsg::UploadChunk {
            upload_id: u64::MAX,
            offset: 1 << 40,
            data: (0..MAX_CHUNK_BYTES).map(|i| i as u8).collect(),
        },
        ClientMsg::UploadFinish {
            upload_id: 3,
            sha256: vec![0xab; 32],
        },
        ClientMsg::UploadCancel { upload_id: 3 },
        ClientMsg::UploadResume {
            token: (0..16).collect(),
        },
        ClientMsg::ListFiles,
        ClientMsg::Download {
            file_id: 9,
            offset: 65_536,
        },
        ClientMsg::DownloadCancel { file_id: 9 },
        ClientMsg::hello4("ann", "lobby"),
        ClientMsg::Hello4 {
            min_version: 4,
            max_version: u16::MAX,
            features: vec!["history".into(), "".into()],
            nick: "".into(),
            room: "".into(),
        },
        ClientMsg::Chat { text: "hi".into() }.with_id(0),
        ClientMsg::UploadStart {
            name: "a".into(),
            size: 1,
        }
        .with_id(u32::MAX),
        ClientMsg::WhoPage { after: "".into() },
        ClientMsg::WhoPage {
            after: "bob".into(),
        }
        .with_id(7),
    ]
}

fn limits() -> Limits {
    Limits {
        max_frame: MAX_FRAME_LEN as u32,
        max_text: MAX_TEXT_BYTES as u32,
        member_page: MEMBER_PAGE as u32,
        msg_rate: 10,
        msg_burst: 20,
        max_file_size: 4 << 30,
    }
}

fn page(names: &[&str], total: u32, more: bool) -> MemberPage {
    MemberPage {
        total,
        names: names.iter().map(|n| n.to_string()).collect(),
        more,
    }
}

/// One `Room` message of every event.
fn room_msgs() -> Vec<ServerMsg> {
    let events = [
        RoomEvent::Said {
            from: "ann".into(),
            kind: ChatKind::Action,
            text: "waves".into(),
        },
        RoomEvent::Joined { nick: "bob".into() },
        RoomEvent::Left {
            nick: "bob".into(),
            reason: "quit".into(),
        },
        RoomEvent::Renamed {
            old: "bob".into(),
            new: "rob".into(),
        },
        RoomEvent::Shared { file: file_info() },
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| ServerMsg::Room {
            id: 1000 + i as u64,
            seq: 40 + i as u64,
            time_ms: 1_764_000_000_000,
            room: "lobby".into(),
            event,
        })
        .collect()
}

fn file_info() -> FileInfo {
    FileInfo {
        id: 7,
        name: "notes.txt".into(),
        size: 1_000_000,
        sha256: vec![0x5a; 32],
        from: "ann".into(),
        time_ms: 1_764_000_000_000,
        room: "lobby".into(),
    }
}

fn every_error_kind() -> Vec<ErrorKind> {
    use ErrorKind::*;
    vec![
        VersionMismatch,
        NickTaken,
        InvalidNick,
        InvalidRoom,
        NotLoggedIn,
        AlreadyLoggedIn,
        MalformedFrame,
        FrameTooLarge,
        TextTooLong,
        NoSuchNick,
        SlowConsumer,
        Timeout,
        ServerFull,
        RateLimited,
        Internal,
        FileTooLarge,
        QuotaExceeded,
        DiskFull,
        InvalidFileName,
        ChecksumMismatch,
        NoSuchFile,
        NoSuchUpload,
        BadChunk,
        TooManyTransfers,
    ]
}

fn every_server_msg() -> Vec<ServerMsg> {
    let mut all = vec![
        ServerMsg::Welcome {
            version: 1,
            nick: "ann".into(),
            room: "lobby".into(),
            members: vec!["ann".into(), "bob".into()],
        },
        ServerMsg::Welcome {
            version: 1,
            nick: "a".into(),
            room: "r".into(),
            members: vec![],
        },
        ServerMsg::Private {
            id: 251,
            time_ms: 1_700_000_000_000,
            from: "ann".into(),
            to: "bob".into(),
            text: "hi".into(),
        },
        ServerMsg::Joined {
            room: "rust".into(),
            members: vec!["ann".into()],
        },
        ServerMsg::Members {
            room: "rust".into(),
            members: vec!["ann".into(), "bob".into()],
        },
        ServerMsg::NickChanged {
            nick: "ann2".into(),
        },
        ServerMsg::Ping { token: 65_536 },
        ServerMsg::Pong { token: 7 },
        ServerMsg::Shutdown {
            reason: "server shutting down".into(),
        },
        ServerMsg::UploadReady {
            upload_id: 1,
            token: vec![0xee; 16],
            offset: 0,
        },
        ServerMsg::UploadDone {
            upload_id: 1,
            file_id: 7,
        },
        ServerMsg::UploadFailed {
            upload_id: 1,
            kind: ErrorKind::ChecksumMismatch,
            text: "the checksum does not match".into(),
        },
        ServerMsg::FileOffered { file: file_info() },
        ServerMsg::Files {
            room: "lobby".into(),
            files: vec![file_info(), file_info()],
        },
        ServerMsg::Files {
            room: "empty".into(),
            files: vec![],
        },
        ServerMsg::DownloadStart {
            file: file_info(),
            offset: 4096,
        },
        ServerMsg::DownloadChunk {
            file_id: 7,
            offset: 4096,
            data: vec![0; MAX_CHUNK_BYTES],
        },
        ServerMsg::DownloadEnd { file_id: 7 },
        ServerMsg::DownloadFailed {
            file_id: 7,
            kind: ErrorKind::NoSuchFile,
            text: "no file 7 in this room".into(),
        },
    ];
    for kind in [ChatKind::Say, ChatKind::Action] {
        all.push(ServerMsg::Chat {
            id: u64::MAX,
            time_ms: 0,
            room: "lobby".into(),
            from: "ann".into(),
            kind,
            text: "日本語テキスト".into(),
        });
    }
    for event in [
        RoomEvent::Joined { nick: "bob".into() },
        RoomEvent::Left {
            nick: "bob".into(),
            reason: "slow consumer".into(),
        },
        RoomEvent::Renamed {
            old: "bob".into(),
            new: "rob".into(),
        },
    ] {
        all.push(ServerMsg::Notice {
            time_ms: 1,
            room: "lobby".into(),
            event,
        });
    }
    for kind in every_error_kind() {
        all.push(ServerMsg::Error {
            kind,
            text: format!("{kind:?}"),
        });
    }
    all.extend(room_msgs());
    all.extend([
        ServerMsg::Welcome4 {
            version: PROTOCOL_VERSION,
            features: vec![],
            limits: limits(),
            nick: "ann".into(),
            room: "lobby".into(),
            seq: 41,
            members: page(&["ann", "bob"], 2, false),
        },
        ServerMsg::Joined4 {
            room: "rust".into(),
            seq: u64::MAX,
            members: page(&["ann"], 5000, true),
        },
        ServerMsg::Members4 {
            room: "rust".into(),
            members: MemberPage::default(),
        },
        ServerMsg::Reply {
            id: 3,
            msg: Box::new(ServerMsg::Error {
                kind: ErrorKind::TextTooLong,
                text: "too long".into(),
            }),
        },
        ServerMsg::Reply {
            id: u32::MAX,
            msg: Box::new(room_msgs().remove(0)),
        },
    ]);
    all
}

#[test]
fn every_client_message_round_trips() {
    for msg in every_client_msg() {
        let mut wire = BytesMut::new();
        ClientCodec::default()
            .encode(msg.clone(), &mut wire)
            .unwrap();
        let header = u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize;
        assert_eq!(header, wire.len() - 4, "header of {msg:?}");
        assert_eq!(ServerCodec::default().decode(&mut wire).unwrap(), Some(msg));
        assert!(wire.is_empty());
    }
}

#[test]
fn every_server_message_round_trips() {
    for msg in every_server_msg() {
        let mut wire = BytesMut::from(&encode_frame(&msg).unwrap()[..]);
        assert_eq!(ClientCodec::default().decode(&mut wire).unwrap(), Some(msg));
        assert!(wire.is_empty());
    }
}

#[test]
fn frames_written_back_to_back_come_out_one_by_one() {
    let msgs = every_client_msg();
    let mut wire = BytesMut::new();
    let mut enc = ClientCodec::default();
    for m in &msgs {
        enc.encode(m.clone(), &mut wire).unwrap();
    }
    let mut dec = ServerCodec::default();
    let mut out = Vec::new();
    while let Some(m) = dec.decode(&mut wire).unwrap() {
        out.push(m);
    }
    assert_eq!(out, msgs);
}

/// The byte fields use serde_bytes so that they are copied in one go, not serialised byte
/// by byte; the wire format is the same as a plain `Vec<u8>` (a length, then the bytes).
#[test]
fn byte_fields_encode_like_a_plain_vector_of_bytes() {
    #[derive(Serialize)]
    struct Plain {
        upload_id: u64,
        offset: u64,
        data: Vec<u8>,
    }
    #[derive(Serialize)]
    enum PlainClientMsg {
        _V0,
        _V1,
        _V2,
        _V3,
        _V4,
        _V5,
        _V6,
        _V7,
        _V8,
        _V9,
        _V10,
        UploadChunk(Plain),
    }
    let data: Vec<u8> = (0..=255).collect();
    let ours = encode_frame(&ClientMsg::UploadChunk {
        upload_id: 1,
        offset: 2,
        data: data.clone(),
    })
    .unwrap();
    let plain = encode_frame(&PlainClientMsg::UploadChunk(Plain {
        upload_id: 1,
        offset: 2,
        data,
    }))
    .unwrap();
    assert_eq!(ours, plain);
}

/// A chunk's head and then its bytes are the chunk's frame, whatever the length (a
/// length's varint grows at 251 and 65,536).
#[test]
fn a_chunk_head_then_its_bytes_is_the_chunks_frame() {
    for (file_id, offset, len) in [
        (0, 0, 0),
        (1, 2, 1),
        (300, 70_000, 250),
        (u64::MAX, u64::MAX, 251),
        (7, 1 << 40, 65_535),
        (7, 1 << 40, MAX_CHUNK_BYTES),
    ] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let head = DownloadChunkHead {
            file_id,
            offset,
            len,
        };
        let mut frame = encode_head(&head, len).unwrap();
        frame.extend_from_slice(&data);
        let owned = ServerMsg::DownloadChunk {
            file_id,
            offset,
            data,
        };
        assert_eq!(frame, encode_frame(&owned).unwrap(), "{len} bytes");
    }
    let too_long = DownloadChunkHead {
        file_id: 1,
        offset: 0,
        len: MAX_FRAME_LEN,
    };
    assert!(matches!(
        encode_head(&too_long, MAX_FRAME_LEN),
        Err(CodecError::FrameTooLarge { .. })
    ));
}

#[test]
fn the_largest_chunks_fit_in_a_frame() {
    for msg in [
        encode_frame(&ClientMsg::UploadChunk {
            upload_id: u64::MAX,
            offset: u64::MAX,
            data: vec![0; MAX_CHUNK_BYTES],
        }),
        encode_frame(&ServerMsg::DownloadChunk {
            file_id: u64::MAX,
            offset: u64::MAX,
            data: vec![0; MAX_CHUNK_BYTES],
        }),
    ] {
        assert!(msg.unwrap().len() <= MAX_FRAME_LEN);
    }
}

#[test]
fn oversized_header_is_refused_before_allocating() {
    for len in [u32::MAX, MAX_FRAME_LEN as u32 + 1] {
        let mut wire = BytesMut::from(&len.to_be_bytes()[..]);
        let err = ServerCodec::default().decode(&mut wire).unwrap_err();
        assert!(
            matches!(err, CodecError::FrameTooLarge { len: l, max } if l == u64::from(len) && max == MAX_FRAME_LEN),
            "{err}"
        );
        assert!(
            wire.capacity() < 1024,
            "nothing reserved for the announced length"
        );
    }
}

#[test]
fn header_at_the_maximum_is_accepted_and_waits_for_the_payload() {
    let mut wire = BytesMut::from(&(MAX_FRAME_LEN as u32).to_be_bytes()[..]);
    assert!(ServerCodec::default().decode(&mut wire).unwrap().is_none());
}

#[test]
fn small_payload_declaring_a_huge_vector_is_an_error_not_an_abort() {
    // Welcome { version 1, nick "a", room "r", members: length 2^64-1 }.
    let payload = [
        0u8, 1, 1, b'a', 1, b'r', 253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    let mut wire = BytesMut::new();
    wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    wire.extend_from_slice(&payload);
    let err = ClientCodec::default().decode(&mut wire).unwrap_err();
    assert!(matches!(err, CodecError::Malformed(_)), "{err}");
}

#[test]
fn bad_enum_tag_missing_field_and_trailing_bytes_are_malformed() {
    // An unknown variant, a Ping without its token, a Who followed by a stray byte.
    for payload in [&[99u8][..], &[7], &[6, 0xff]] {
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        wire.extend_from_slice(payload);
        let err = ServerCodec::default().decode(&mut wire).unwrap_err();
        assert!(
            matches!(err, CodecError::Malformed(_)),
            "{payload:?}: {err}"
        );
    }
}

#[test]
fn invalid_utf8_is_malformed() {
    let payload = [1u8, 2, 0xc3, 0x28];
    let mut wire = BytesMut::new();
    wire.extend_from_slice(&4u32.to_be_bytes());
    wire.extend_from_slice(&payload);
    let err = ServerCodec::default().decode(&mut wire).unwrap_err();
    assert!(matches!(err, CodecError::Malformed(_)), "{err}");
}

#[test]
fn frame_cut_off_by_a_close_is_truncated() {
    let mut wire = BytesMut::from(&encode_frame(&ClientMsg::Who).unwrap()[..]);
    wire.extend_from_slice(&[0, 0, 0, 9, 1]);
    let mut dec = ServerCodec::default();
    assert_eq!(dec.decode_eof(&mut wire).unwrap(), Some(ClientMsg::Who));
    let err = dec.decode_eof(&mut wire).unwrap_err();
    assert!(matches!(err, CodecError::Truncated { .. }), "{err}");
}

#[test]
fn message_too_big_to_send_is_refused_and_leaves_the_buffer_as_it_was() {
    let mut wire = BytesMut::from(&b"keep"[..]);
    let err = ClientCodec::default()
        .encode(
            ClientMsg::Chat {
                text: "x".repeat(MAX_FRAME_LEN),
            },
            &mut wire,
        )
        .unwrap_err();
    assert!(matches!(err, CodecError::FrameTooLarge { .. }), "{err}");
    assert_eq!(&wire[..], b"keep");
}

/// Feeds `bytes` to a decoder in pieces cut at `cuts`, collecting what comes out.
fn decode_in_pieces(bytes: &[u8], cuts: &[usize]) -> (Vec<ClientMsg>, Option<CodecError>) {
    let mut dec = ServerCodec::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let mut from = 0;
    for to in points {
        buf.extend_from_slice(&bytes[from..to]);
        from = to;
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
            // The limit holds whatever the input: nothing grows past one frame plus slack.
            assert!(buf.capacity() <= 2 * MAX_FRAME_LEN + bytes.len());
        }
    }
    (out, None)
}

fn arb_client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (any::<u16>(), ".{0,40}", ".{0,40}").prop_map(|(version, nick, room)| ClientMsg::Hello {
            version,
            nick,
            room
        }),
        ".{0,200}".prop_map(|text| ClientMsg::Chat { text }),
        ".{0,200}".prop_map(|text| ClientMsg::Action { text }),
        (".{0,40}", ".{0,200}").prop_map(|(to, text)| ClientMsg::Private { to, text }),
        ".{0,40}".prop_map(|room| ClientMsg::Join { room }),
        ".{0,40}".prop_map(|nick| ClientMsg::Nick { nick }),
        Just(ClientMsg::Who),
        any::<u64>().prop_map(|token| ClientMsg::Ping { token }),
        any::<u64>().prop_map(|token| ClientMsg::Pong { token }),
        ".{0,60}".prop_map(|reason| ClientMsg::Quit { reason }),
        (".{0,60}", any::<u64>()).prop_map(|(name, size)| ClientMsg::UploadStart { name, size }),
        (
            any::<u64>(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(upload_id, offset, data)| ClientMsg::UploadChunk {
                upload_id,
                offset,
                data
            }),
        (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(upload_id, sha256)| ClientMsg::UploadFinish { upload_id, sha256 }),
        proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|token| ClientMsg::UploadResume { token }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(file_id, offset)| ClientMsg::Download { file_id, offset }),
        (
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec(".{0,10}", 0..4),
            ".{0,40}",
            ".{0,40}"
        )
            .prop_map(|(min_version, max_version, features, nick, room)| {
                ClientMsg::Hello4 {
                    min_version,
                    max_version,
                    features,
                    nick,
                    room,
                }
            }),
        (any::<u32>(), ".{0,200}").prop_map(|(id, text)| ClientMsg::Chat { text }.with_id(id)),
        ".{0,40}".prop_map(|after| ClientMsg::WhoPage { after }),
    ]
}

/// The payload of a real message with a few bytes overwritten.
fn payload_near_a_message() -> impl Strategy<Value = Vec<u8>> {
    (
        arb_client_msg(),
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    )
        .prop_map(|(msg, edits)| {
            let mut payload = encode_frame(&msg).unwrap()[4..].to_vec();
            for (at, byte) in edits {
                let len = payload.len();
                payload[at % len] = byte;
            }
            payload
        })
}

proptest! {
    #[test]
    fn any_messages_split_anywhere_come_out_whole(
        msgs in prop::collection::vec(arb_client_msg(), 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let mut wire = BytesMut::new();
        let mut enc = ClientCodec::default();
        for m in &msgs {
            enc.encode(m.clone(), &mut wire).unwrap();
        }
        let (out, err) = decode_in_pieces(&wire, &cuts);
        prop_assert!(err.is_none());
        prop_assert_eq!(out, msgs);
    }

    #[test]
    fn any_bytes_split_anywhere_end_in_frames_or_an_error(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let _ = decode_in_pieces(&bytes, &cuts);
    }

    #[test]
    fn any_payload_that_decodes_encodes_back_to_the_same_message(
        payload in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            payload_near_a_message(),
        ],
    ) {
        if let Ok(msg) = decode_payload::<ClientMsg>(&payload) {
            let frame = encode_frame(&msg).unwrap();
            prop_assert!(frame.len() - 4 <= payload.len());
            prop_assert_eq!(decode_payload::<ClientMsg>(&frame[4..]).unwrap(), msg);
        }
        if let Ok(msg) = decode_payload::<ServerMsg>(&payload) {
            let frame = encode_frame(&msg).unwrap();
            prop_assert!(frame.len() - 4 <= payload.len());
            prop_assert_eq!(decode_payload::<ServerMsg>(&frame[4..]).unwrap(), msg);
        }
    }

    #[test]
    fn any_payload_in_a_valid_frame_decodes_or_errs(
        payload in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        wire.extend_from_slice(&payload);
        let _ = ServerCodec::default().decode(&mut wire.clone());
        let _ = ClientCodec::default().decode(&mut wire);
    }
}

#[test]
fn a_header_alone_reserves_nothing_for_the_announced_payload() {
    let mut wire = BytesMut::with_capacity(16);
    wire.extend_from_slice(&(MAX_FRAME_LEN as u32).to_be_bytes());
    wire.extend_from_slice(&[0; 8]);
    assert!(ServerCodec::default().decode(&mut wire).unwrap().is_none());
    assert!(
        wire.capacity() < 1024,
        "capacity grew to {}",
        wire.capacity()
    );
}

#[test]
fn borrowed_member_lists_encode_as_the_owned_messages() {
    let names = ["Ann", "bob", "鈴木", "🦀"];
    let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let page = MemberPage {
        total: 9000,
        names: owned.clone(),
        more: true,
    };
    let features = vec!["history".to_owned()];
    let limits = limits();
    let cases = [
        (
            MemberListAnswer::Welcome {
                version: 3,
                nick: "bob",
            },
            ServerMsg::Welcome {
                version: 3,
                nick: "bob".into(),
                room: "lobby".into(),
                members: owned.clone(),
            },
        ),
        (
            MemberListAnswer::Joined,
            ServerMsg::Joined {
                room: "lobby".into(),
                members: owned.clone(),
            },
        ),
        (
            MemberListAnswer::Members,
            ServerMsg::Members {
                room: "lobby".into(),
                members: owned.clone(),
            },
        ),
        (
            MemberListAnswer::Welcome4 {
                version: 4,
                features: &features,
                limits: &limits,
                nick: "bob",
                seq: 300,
            },
            ServerMsg::Welcome4 {
                version: 4,
                features: features.clone(),
                limits: limits.clone(),
                nick: "bob".into(),
                room: "lobby".into(),
                seq: 300,
                members: page.clone(),
            },
        ),
        (
            MemberListAnswer::Joined4 { seq: 7 },
            ServerMsg::Joined4 {
                room: "lobby".into(),
                seq: 7,
                members: page.clone(),
            },
        ),
        (
            MemberListAnswer::Members4,
            ServerMsg::Members4 {
                room: "lobby".into(),
                members: page.clone(),
            },
        ),
    ];
    for (answer, msg) in cases {
        let borrowed = MemberList {
            answer,
            room: "lobby",
            members: &names,
            total: 9000,
            more: true,
        };
        assert_eq!(
            encode_frame(&borrowed).unwrap(),
            encode_frame(&msg).unwrap(),
            "{msg:?}"
        );
        // Wrapped, by the borrowed reply and by rewrapping the frame.
        let owned_reply = encode_frame(&ServerMsg::Reply {
            id: 70_000,
            msg: Box::new(msg),
        })
        .unwrap();
        let reply = ReplyTo {
            id: 70_000,
            msg: &borrowed,
        };
        assert_eq!(encode_frame(&reply).unwrap(), owned_reply);
        let frame = encode_frame(&borrowed).unwrap();
        assert_eq!(wrap_reply(70_000, &frame).unwrap(), owned_reply);
    }
}

#[test]
fn room_messages_as_version_3_are_the_version_3_messages() {
    let expected = |msg: &ServerMsg| -> ServerMsg {
        let ServerMsg::Room {
            id,
            time_ms,
            room,
            event,
            ..
        } = msg.clone()
        else {
            unreachable!()
        };
        match event {
            RoomEvent::Said { from, kind, text } => ServerMsg::Chat {
                id,
                time_ms,
                room,
                from,
                kind,
                text,
            },
            RoomEvent::Shared { file } => ServerMsg::FileOffered { file },
            event => ServerMsg::Notice {
                time_ms,
                room,
                event,
            },
        }
    };
    for msg in room_msgs() {
        assert_eq!(
            encode_frame(&AsVersion3(&msg)).unwrap(),
            encode_frame(&expected(&msg)).unwrap(),
            "{msg:?}"
        );
    }
    // Anything else is itself.
    let pong = ServerMsg::Pong { token: 9 };
    assert_eq!(
        encode_frame(&AsVersion3(&pong)).unwrap(),
        encode_frame(&pong).unwrap()
    );
}

#[test]
fn a_reply_wraps_the_frame_of_its_message() {
    let unwrapped = every_server_msg()
        .into_iter()
        .filter(|m| !matches!(m, ServerMsg::Reply { .. }));
    for msg in unwrapped {
        let frame = encode_frame(&msg).unwrap();
        for id in [0, 250, 251, 65_536, u32::MAX] {
            let wrapped = wrap_reply(id, &frame).unwrap();
            let mut wire = BytesMut::from(&wrapped[..]);
            let decoded = ClientCodec::default().decode(&mut wire).unwrap().unwrap();
            assert_eq!(decoded.into_reply(), (Some(id), msg.clone()));
        }
    }
    let largest = encode_frame(&ServerMsg::DownloadChunk {
        file_id: 1,
        offset: 0,
        data: vec![0; MAX_FRAME_LEN - 10],
    })
    .unwrap();
    assert!(matches!(
        wrap_reply(u32::MAX, &largest),
        Err(CodecError::FrameTooLarge { .. })
    ));
}

#[test]
fn a_message_wrapped_twice_is_malformed_however_deep() {
    // Request { id 0, Request { id 0, Who } }.
    let twice = [19u8, 0, 19, 0, 6];
    let err = decode_payload::<ClientMsg>(&twice).unwrap_err();
    assert!(err.to_string().contains("wrapped twice"), "{err}");
    // A megabyte of wrappers fails the same way, without overflowing the stack.
    let mut deep: Vec<u8> = [19u8, 0].repeat(MAX_FRAME_LEN / 2 - 1);
    deep.push(6);
    assert!(decode_payload::<ClientMsg>(&deep).is_err());
    let mut deep: Vec<u8> = [21u8, 0].repeat(MAX_FRAME_LEN / 2 - 1);
    deep.push(7);
    assert!(decode_payload::<ServerMsg>(&deep).is_err());
    // And once is fine, also right after a failure.
    let once = [19u8, 5, 6];
    assert_eq!(
        decode_payload::<ClientMsg>(&once).unwrap(),
        ClientMsg::Who.with_id(5)
    );
}

/// PROTOCOL.md says: senders write the shortest varint, receivers accept a longer one.
#[test]
fn a_longer_varint_than_needed_decodes_to_the_same_value() {
    // Ping { token: 7 } with the token as `fb 07 00`, `fc 07 00 00 00`, `fd 07 0...`.
    for token in [
        &[0xfb, 7, 0][..],
        &[0xfc, 7, 0, 0, 0],
        &[0xfd, 7, 0, 0, 0, 0, 0, 0, 0],
    ] {
        let mut payload = vec![7u8];
        payload.extend_from_slice(token);
        assert_eq!(
            decode_payload::<ClientMsg>(&payload).unwrap(),
            ClientMsg::Ping { token: 7 }
        );
    }
    // Even the variant index: `fb 06 00` is `Who`.
    assert_eq!(
        decode_payload::<ClientMsg>(&[0xfb, 6, 0]).unwrap(),
        ClientMsg::Who
    );
    // And a length, whose width is a u64: `Chat { text: "hi" }` with the length 2 as
    // `fd 02 00 00 00 00 00 00 00`.
    assert_eq!(
        decode_payload::<ClientMsg>(&[1, 0xfd, 2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i']).unwrap(),
        ClientMsg::Chat { text: "hi".into() }
    );
}

/// A varint marker wider than its field is malformed: `fc` (u32) for the u16 `version`,
/// `fd` (u64) for a variant index (u32), and the reserved markers 254 and 255.
#[test]
fn a_varint_wider_than_its_field_is_malformed() {
    let hello_version_u32 = [0u8, 0xfc, 3, 0, 0, 0, 0, 0];
    let index_u64 = [0xfdu8, 6, 0, 0, 0, 0, 0, 0, 0];
    for payload in [&hello_version_u32[..], &index_u64, &[0xfe], &[0xff]] {
        let err = decode_payload::<ClientMsg>(payload).unwrap_err();
        assert!(
            matches!(err, CodecError::Malformed(_)),
            "{payload:?}: {err}"
        );
    }
}

/// `ChatKind` and `bool` take only their values: kind 2 and a `more` of 2 are malformed.
#[test]
fn enum_and_boolean_values_out_of_range_are_malformed() {
    let mut chat = encode_frame(&room_msgs().remove(0)).unwrap()[4..].to_vec();
    // ... room "lobby", event 3 (Said), from "ann", kind 1: make it 2.
    let kind_at = chat.len() - "waves".len() - 2;
    assert_eq!(chat[kind_at], 1);
    chat[kind_at] = 2;
    assert!(decode_payload::<ServerMsg>(&chat).is_err());
    let mut members = encode_frame(&ServerMsg::Members4 {
        room: "r".into(),
        members: MemberPage::default(),
    })
    .unwrap()[4..]
        .to_vec();
    *members.last_mut().unwrap() = 2;
    let err = decode_payload::<ServerMsg>(&members).unwrap_err();
    assert!(err.to_string().contains("boolean"), "{err}");
}

/// A frame of the maximum size decodes whatever it holds: here a member list of half a
/// million empty names, each one byte on the wire and eight in bincode's count.
#[test]
fn any_frame_up_to_the_maximum_decodes() {
    let overhead = 16;
    let names = vec![String::new(); MAX_FRAME_LEN - overhead];
    let msg = ServerMsg::Members {
        room: "r".into(),
        members: names,
    };
    let frame = encode_frame(&msg).unwrap();
    assert!(frame.len() - 4 <= MAX_FRAME_LEN);
    assert!(frame.len() - 4 > MAX_FRAME_LEN - 2 * overhead);
    let mut wire = BytesMut::from(&frame[..]);
    assert_eq!(ClientCodec::default().decode(&mut wire).unwrap(), Some(msg));
    // And a list of the longest names, up to the maximum.
    let longest = "🦀".repeat(MAX_NICK_CHARS);
    let count = (MAX_FRAME_LEN - overhead) / (longest.len() + 1);
    let msg = ServerMsg::Welcome {
        version: 3,
        nick: "a".into(),
        room: "r".into(),
        members: vec![longest; count],
    };
    let mut wire = BytesMut::from(&encode_frame(&msg).unwrap()[..]);
    assert_eq!(ClientCodec::default().decode(&mut wire).unwrap(), Some(msg));
}

#[test]
fn a_full_page_of_the_longest_names_fits_in_a_frame() {
    let longest = "🦀".repeat(MAX_NICK_CHARS);
    let names: Vec<&str> = vec![&longest; MEMBER_PAGE];
    let features = vec!["x".repeat(64); 16];
    let limits = limits();
    let answers = [
        MemberListAnswer::Welcome {
            version: 3,
            nick: &longest,
        },
        MemberListAnswer::Welcome4 {
            version: u16::MAX,
            features: &features,
            limits: &limits,
            nick: &longest,
            seq: u64::MAX,
        },
        MemberListAnswer::Joined4 { seq: u64::MAX },
    ];
    for answer in answers {
        let list = MemberList {
            answer,
            room: &longest,
            members: &names,
            total: u32::MAX,
            more: true,
        };
        let frame = encode_frame(&ReplyTo {
            id: u32::MAX,
            msg: &list,
        })
        .unwrap();
        assert!(frame.len() < MAX_FRAME_LEN / 4, "{} bytes", frame.len());
    }
}

/// The texts of codec errors reach people: words, no debug formatting of bincode's types.
#[test]
fn codec_error_texts_are_words() {
    let long_string = [1u8, 253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    let payloads: [&[u8]; 9] = [
        &[99],
        &[7],
        &[6, 0xff],
        &[1, 2, 0xc3, 0x28],
        &[0, 0xfc, 3, 0, 0, 0, 0, 0],
        &long_string,
        &[19, 0, 19, 0, 6],
        &[9, 200, 0],
        &[],
    ];
    for payload in payloads {
        let text = decode_payload::<ClientMsg>(payload)
            .unwrap_err()
            .to_string();
        for debug in [
            "{",
            "}",
            "DecodeError",
            "Unexpected",
            "Utf8Error",
            "::",
            "`",
        ] {
            assert!(!text.contains(debug), "{payload:?}: {text}");
        }
        assert!(text.starts_with("a malformed message: "), "{text}");
    }
    let text = decode_payload::<ClientMsg>(&[99]).unwrap_err().to_string();
    assert_eq!(
        text,
        "a malformed message: unknown kind 99 (this side knows 0 to 31)"
    );
    let truncated = CodecError::Truncated { buffered: 3 }.to_string();
    assert!(!truncated.contains("frame"), "{truncated}");
}

/// The decoder's limit grows with the payload (8 bytes of memory for each byte read):
/// every frame decodes at the edges of its sizes, and a small frame that declares a long
/// text fails before the text is allocated.
#[test]
fn the_decoding_limit_follows_the_payload() {
    // Members { room "r", members: k empty names }: 1 + 2 + varint(k) + k bytes.
    let members_of_size = |size: usize| {
        let k = (0..size)
            .rev()
            .find(|k| 3 + varint_len(*k) + k == size)
            .expect("a count");
        ServerMsg::Members {
            room: "r".into(),
            members: vec![String::new(); k],
        }
    };
    for size in [
        4096 + 256,
        4096 + 257,
        65_536 + 256,
        65_536 + 257,
        MAX_FRAME_LEN,
    ] {
        let msg = members_of_size(size);
        let frame = encode_frame(&msg).unwrap();
        assert_eq!(frame.len() - 4, size);
        assert_eq!(
            decode_payload::<ServerMsg>(&frame[4..]).unwrap(),
            msg,
            "{size}"
        );
    }
    // Chat { text } declaring 40 KiB of text in a frame of 6 bytes.
    let err = decode_payload::<ClientMsg>(&[1, 0xfb, 0x00, 0xa0, b'h', b'i']).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a malformed message: it declares a length larger than a frame"
    );
}

fn varint_len(v: usize) -> usize {
    match v {
        0..=250 => 1,
        251..=0xFFFF => 3,
        _ => 5,
    }
}
