//! docs/PROTOCOL.md's examples, checked against the codec: every frame it spells out is
//! the encoding of the message it names, every byte-by-byte table adds up to its frame,
//! and every varint example is what the codec writes. The page is read as it is, so an
//! example edited there without the code (or the other way round) fails here.

use bincode::config::standard;
use shared::{
    Anchor, ChatKind, ClientMsg, ErrorKind, FetchCount, Gap, Limits, Member, MemberPage,
    OperatorRequest, RoomEvent, RoomRequest, SeqRange, ServerMsg, Stamped, encode_frame,
};

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

/// A message the page shows, in either direction.
#[derive(Debug)]
enum Example {
    Client(ClientMsg),
    Server(ServerMsg),
}

impl Example {
    fn frame(&self) -> Vec<u8> {
        match self {
            Example::Client(msg) => encode_frame(msg),
            Example::Server(msg) => encode_frame(msg),
        }
        .expect("examples encode")
        .to_vec()
    }
}

const T: u64 = 1_764_000_000_000;

fn said(id: u64, seq: u64) -> ServerMsg {
    ServerMsg::Room {
        id,
        seq,
        time_ms: T,
        room: "lobby".into(),
        event: RoomEvent::Said {
            from: "ann".into(),
            kind: ChatKind::Say,
            text: "hi 👋".into(),
        },
    }
}

/// Message 300 as history keeps it.
fn stamped_300() -> Stamped {
    let ServerMsg::Room {
        id,
        seq,
        time_ms,
        event,
        ..
    } = said(300, 42)
    else {
        unreachable!("said makes a room message")
    };
    Stamped {
        id,
        seq,
        time_ms,
        event,
    }
}

fn reply(id: u32, msg: ServerMsg) -> ServerMsg {
    ServerMsg::Reply {
        id,
        msg: Box::new(msg),
    }
}

/// Every message PROTOCOL.md shows a frame of.
fn examples() -> Vec<Example> {
    use Example::{Client, Server};
    let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    vec![
        Client(ClientMsg::hello4("ann", "lobby")),
        Server(ServerMsg::Welcome4 {
            version: 4,
            features: vec![],
            limits: Limits {
                max_frame: 1_048_576,
                max_text: 4096,
                member_page: 1000,
                msg_rate: 10,
                msg_burst: 20,
                max_file_size: 4 << 30,
            },
            nick: "ann".into(),
            room: "lobby".into(),
            seq: 41,
            members: MemberPage {
                total: 2,
                names: names(&["ann", "bob"]),
                more: false,
            },
        }),
        Client(
            ClientMsg::Chat {
                text: "hi 👋".into(),
            }
            .with_id(7),
        ),
        Server(said(300, 42)),
        Server(reply(7, said(300, 42))),
        Server(ServerMsg::Room {
            id: 301,
            seq: 43,
            time_ms: T,
            room: "lobby".into(),
            event: RoomEvent::Joined { nick: "cy".into() },
        }),
        Client(ClientMsg::Hello {
            version: 3,
            nick: "ann".into(),
            room: "lobby".into(),
        }),
        Server(ServerMsg::Chat {
            id: 300,
            time_ms: T,
            room: "lobby".into(),
            from: "ann".into(),
            kind: ChatKind::Say,
            text: "hi 👋".into(),
        }),
        Client(
            ClientMsg::WhoPage {
                after: "bob".into(),
            }
            .with_id(8),
        ),
        Server(reply(
            8,
            ServerMsg::Members4 {
                room: "lobby".into(),
                members: MemberPage {
                    total: 3,
                    names: names(&["cy"]),
                    more: false,
                },
            },
        )),
        Server(reply(
            9,
            ServerMsg::Error {
                kind: ErrorKind::NickTaken,
                text: "taken".into(),
            },
        )),
        Client(ClientMsg::Ping { token: 5 }.with_id(9)),
        Server(reply(9, ServerMsg::Pong { token: 5 })),
        Client(ClientMsg::Ping { token: 7 }),
        Server(ServerMsg::Ping { token: 7 }),
        Client(ClientMsg::Pong { token: 7 }),
        Server(ServerMsg::Pong { token: 7 }),
        Client(ClientMsg::Who),
        Client(ClientMsg::UploadChunk {
            upload_id: 3,
            offset: 300,
            data: b"hello".to_vec(),
        }),
        Client(ClientMsg::UploadStart {
            name: "a.txt".into(),
            size: 5,
        }),
        Server(ServerMsg::UploadReady {
            upload_id: 3,
            token: (0..16).collect(),
            offset: 0,
        }),
        // The feature "fetched" (section 9.4).
        Server(ServerMsg::Fetched {
            room: "lobby".into(),
            members: 5,
            files: vec![FetchCount { file_id: 7, by: 3 }],
        }),
        // The feature "history" (section 9.2).
        Client(
            ClientMsg::CatchUp {
                room: "lobby".into(),
                after: 41,
            }
            .with_id(10),
        ),
        Server(reply(
            10,
            ServerMsg::CaughtUp {
                room: "lobby".into(),
                messages: vec![stamped_300()],
                gap: None,
                more_before: true,
                read: 41,
                lost: vec![],
            },
        )),
        Server(ServerMsg::HistoryInfo {
            page: 200,
            catch_up: 500,
            backlog: 50,
            search: 100,
            max_age_secs: 90 * 24 * 3600,
            max_per_room: 100_000,
        }),
        Client(
            ClientMsg::History {
                room: "lobby".into(),
                anchor: Anchor::Before(42),
                limit: 100,
                presence: false,
            }
            .with_id(11),
        ),
        Server(reply(
            11,
            ServerMsg::Error {
                kind: ErrorKind::NotInRoom,
                text: "x".into(),
            },
        )),
        Server(reply(
            12,
            ServerMsg::CaughtUp {
                room: "lobby".into(),
                messages: vec![stamped_300()],
                gap: Some(Gap {
                    from: 2,
                    to: 41,
                    count: 35,
                }),
                more_before: true,
                read: 0,
                lost: vec![SeqRange { from: 20, to: 24 }],
            },
        )),
        Client(
            ClientMsg::Search {
                room: "lobby".into(),
                words: "hi".into(),
                before: 0,
                limit: 20,
            }
            .with_id(13),
        ),
        Client(ClientMsg::MarkRead {
            room: "lobby".into(),
            seq: 42,
        }),
        // The feature "auth" (section 9.6).
        Server(ServerMsg::Challenge {
            nonce: (0..32).collect(),
            password: true,
        }),
        Client(ClientMsg::Prove {
            password: "sesame".into(),
            key: Vec::new(),
            signature: Vec::new(),
        }),
        Server(ServerMsg::Identified {
            owner: true,
            operator: false,
        }),
        Client(ClientMsg::Register),
        Client(ClientMsg::PrivateHistory {
            with: "bob".into(),
            before: 0,
            limit: 50,
        }),
        Server(ServerMsg::PrivateHistory {
            with: "bob".into(),
            messages: vec![shared::PrivateLine {
                id: 7,
                time_ms: 0,
                from: "ann".into(),
                to: "bob".into(),
                text: "hi".into(),
            }],
            more: false,
        }),
        Server(ServerMsg::Registration {
            nick: "ann".into(),
            owned: true,
        }),
        Server(ServerMsg::Error {
            kind: ErrorKind::WrongPassword,
            text: "wrong password".into(),
        }),
        // The feature "rooms" (section 9.3).
        Client(
            ClientMsg::InRoom {
                room: "dev".into(),
                msg: RoomRequest::Chat { text: "hi".into() },
            }
            .with_id(14),
        ),
        Client(ClientMsg::InRoom {
            room: "dev".into(),
            msg: RoomRequest::Part {
                reason: "bye".into(),
            },
        }),
        Server(ServerMsg::Parted {
            room: "dev".into(),
            reason: "bye".into(),
        }),
        Server(ServerMsg::Topic {
            room: "lobby".into(),
            text: "plans".into(),
            by: "ann".into(),
            time_ms: T,
        }),
        Client(ClientMsg::Away {
            text: "lunch".into(),
        }),
        Server(ServerMsg::RoomMembers {
            room: "lobby".into(),
            total: 2,
            members: vec![
                Member {
                    nick: "ann".into(),
                    away: "lunch".into(),
                },
                Member {
                    nick: "bob".into(),
                    away: String::new(),
                },
            ],
            more: false,
        }),
        Client(ClientMsg::Operate {
            msg: OperatorRequest::Kick {
                nick: "bob".into(),
                reason: "spam".into(),
            },
        }),
        Server(ServerMsg::Operated {
            text: "kicked bob".into(),
        }),
        Server(ServerMsg::Error {
            kind: ErrorKind::Kicked,
            text: "kicked by ann: spam".into(),
        }),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The bytes of a span of code like `00 00 00 0e 12`, if it is one.
fn parse_hex(code: &str) -> Option<Vec<u8>> {
    let words: Vec<&str> = code.split(' ').collect();
    if words.iter().any(|w| w.len() != 2) {
        return None;
    }
    words
        .iter()
        .map(|w| u8::from_str_radix(w, 16).ok())
        .collect()
}

/// Every span of code on the page, in order (`` `like this` ``).
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Whether `bytes` is one whole frame: a header, then as many bytes as it says.
fn is_frame(bytes: &[u8]) -> bool {
    bytes.len() > 4
        && u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize == bytes.len() - 4
}

/// The frames spelt out on the page, whole.
fn frames_on_the_page() -> Vec<Vec<u8>> {
    code_spans(DOC)
        .into_iter()
        .filter_map(parse_hex)
        .filter(|bytes| is_frame(bytes))
        .collect()
}

#[test]
fn every_example_frame_on_the_page_is_its_message_encoded() {
    let frames = frames_on_the_page();
    for example in examples() {
        let frame = example.frame();
        assert!(
            frames.contains(&frame),
            "PROTOCOL.md should show {example:?} as `{}`",
            hex(&frame)
        );
    }
}

#[test]
fn every_frame_on_the_page_is_a_checked_example() {
    let known: Vec<Vec<u8>> = examples().iter().map(Example::frame).collect();
    let frames = frames_on_the_page();
    assert!(frames.len() >= 15, "{} frames", frames.len());
    for frame in frames {
        assert!(
            known.contains(&frame),
            "`{}` on the page is no example of protocol_doc.rs",
            hex(&frame)
        );
    }
}

/// Each `| bytes | meaning |` table, its bytes column read top to bottom, is a whole
/// frame, and one of the examples.
#[test]
fn every_byte_by_byte_table_adds_up_to_its_frame() {
    let known: Vec<Vec<u8>> = examples().iter().map(Example::frame).collect();
    let mut tables = 0;
    let mut lines = DOC.lines().peekable();
    while let Some(line) = lines.next() {
        // Any case and spacing: a table headed `| Bytes | Meaning |` is checked too.
        let header: String = line.split_whitespace().collect::<String>().to_lowercase();
        if header != "|bytes|meaning|" {
            continue;
        }
        tables += 1;
        lines.next(); // |---|---|
        let mut bytes = Vec::new();
        while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
            let cell = row.split('|').nth(1).expect("a bytes cell").trim();
            let code = cell.trim_matches('`');
            bytes.extend(parse_hex(code).unwrap_or_else(|| panic!("not bytes: {row}")));
        }
        assert!(
            is_frame(&bytes),
            "the table before line {line:?} is no frame: {}",
            hex(&bytes)
        );
        assert!(
            known.contains(&bytes),
            "a table spells `{}`, no example",
            hex(&bytes)
        );
    }
    assert!(tables >= 6, "{tables} tables");
    let headed = DOC
        .lines()
        .filter(|l| {
            l.split('|')
                .nth(1)
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("bytes"))
        })
        .count();
    assert_eq!(tables, headed, "a table headed with bytes was not checked");
}

/// "`5` → `05`; `250` → `fa`; ..." in section 3.
#[test]
fn the_varint_examples_are_what_the_codec_writes() {
    let line = DOC
        .lines()
        .find(|l| l.starts_with("Examples of varints:"))
        .expect("the varint examples");
    let rest = DOC.split(line).nth(1).expect("the line");
    let paragraph = line.to_owned() + rest.split("\n\n").next().unwrap_or_default();
    let spans = code_spans(&paragraph);
    assert!(spans.len() >= 12, "{spans:?}");
    for pair in spans.chunks(2) {
        let value: u64 = pair[0].parse().expect("a number");
        let expected = parse_hex(pair[1]).expect("bytes");
        let written = bincode::encode_to_vec(value, standard()).unwrap();
        assert_eq!(hex(&written), hex(&expected), "{value}");
    }
}

/// Section 9.5 tells what each version added: every feature, and the `ServerMsg` it
/// added (each once, in section 5: no second table of its own elsewhere).
#[test]
fn earlier_versions_name_every_feature_and_each_variant_has_one_row() {
    let earlier = DOC
        .split("### 9.5 Earlier versions")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("section 9.5");
    for feature in [
        shared::FEATURE_HISTORY,
        shared::FEATURE_ROOMS,
        shared::FEATURE_FETCHED,
        shared::FEATURE_AUTH,
    ] {
        assert!(
            earlier.contains(&format!("`{feature}`")),
            "9.5 lacks {feature}"
        );
    }
    assert!(earlier.contains("`ServerMsg` 33"), "9.5 lacks Fetched");
    let rows = DOC
        .lines()
        .filter(|l| l.starts_with("| 33 | `Fetched` |"))
        .count();
    assert_eq!(rows, 1, "ServerMsg 33 is described in more than one table");
}
