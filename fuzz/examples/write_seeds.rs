//! Writes the seed corpus: real frames, payloads, chat text and file names.
//!
//! Run from the fuzz directory: `cargo run --example write_seeds`. The files are named
//! `seed-*` so that they are told apart from what libFuzzer adds to the corpus.

use std::fs;
use std::path::Path;

use shared::limits::MAX_FRAME_LEN;
use shared::{
    ChatKind, ClientMsg, ErrorKind, FileInfo, Limits, MemberPage, OLDEST_VERSION, RoomEvent,
    ServerMsg, encode_frame,
};

fn main() -> std::io::Result<()> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let client = client_msgs();
    let server = server_msgs();

    let dir = corpus.join("message_decoder");
    fs::create_dir_all(&dir)?;
    for (name, frame) in client.iter().chain(&server) {
        fs::write(dir.join(format!("seed-{name}")), &frame[4..])?;
    }

    let dir = corpus.join("frame_decoder");
    fs::create_dir_all(&dir)?;
    let seed = |cuts: u16, frames: &[&Vec<u8>]| -> Vec<u8> {
        let mut out = cuts.to_le_bytes().to_vec();
        for f in frames {
            out.extend_from_slice(f);
        }
        out
    };
    for (name, frame) in client.iter().chain(&server) {
        fs::write(dir.join(format!("seed-{name}")), seed(1, &[frame]))?;
    }
    let session: Vec<&Vec<u8>> = client.iter().map(|(_, f)| f).collect();
    fs::write(dir.join("seed-client-session"), seed(0x2a, &session))?;
    let session: Vec<&Vec<u8>> = server.iter().map(|(_, f)| f).collect();
    fs::write(dir.join("seed-server-session"), seed(0x99, &session))?;
    let hello = &client[0].1;
    fs::write(
        dir.join("seed-truncated"),
        seed(3, &[hello, &hello[..7].to_vec()]),
    )?;
    let too_large = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
    fs::write(dir.join("seed-too-large"), seed(5, &[hello, &too_large]))?;

    let dir = corpus.join("text_sanitizer");
    fs::create_dir_all(&dir)?;
    for (name, text) in [
        ("plain", "morning all"),
        (
            "cjk-emoji",
            "早上好 ☕ 今天的构建全绿了 ✅ 👨\u{200d}👩\u{200d}👧 ❤\u{fe0f}",
        ),
        ("csi-clear", "\x1b[2J\x1b[Hgotcha"),
        ("osc-title", "\x1b]0;pwned\x07"),
        ("osc52-clipboard", "\x1b]52;c;ZWNobyBoaQ==\x1b\\"),
        ("c1-csi", "\u{9b}31mred\u{9b}0m"),
        ("bidi", "invoice\u{202e}fdp.exe \u{2066}x\u{2069}"),
        ("invisible-nick", "al\u{200b}ice\u{feff}\u{e0041}"),
        ("controls", "tab\there\r\nback\x08del\x7f\0"),
    ] {
        fs::write(dir.join(format!("seed-{name}")), text)?;
    }

    let dir = corpus.join("file_name");
    fs::create_dir_all(&dir)?;
    let long = format!("{}.pdf", "é".repeat(300));
    for (name, raw) in [
        ("plain", "report.pdf"),
        ("unicode", "日本語のファイル 🦀.tar.gz"),
        ("traversal", "../../etc/passwd"),
        ("windows", "..\\..\\windows\\system.ini"),
        ("dots", " . .. "),
        ("hidden", ".bashrc"),
        (
            "escapes",
            "\x1b[31mred\x1b[0m\x1b]8;;http://x/y\x1b\\link\x1b]8;;\x1b\\.txt",
        ),
        ("c1", "\u{9b}1mbold\u{9d}0;t\u{9c}.txt"),
        ("bidi", "evil\u{202e}txt.exe"),
        ("hangul-filler", "\u{ffa0}3"),
        ("long", long.as_str()),
    ] {
        fs::write(dir.join(format!("seed-{name}")), raw)?;
    }
    Ok(())
}

fn frames<T: serde::Serialize>(msgs: Vec<(&str, T)>, side: &str) -> Vec<(String, Vec<u8>)> {
    msgs.into_iter()
        .map(|(name, m)| (format!("{side}-{name}"), encode_frame(&m).unwrap().to_vec()))
        .collect()
}

fn client_msgs() -> Vec<(String, Vec<u8>)> {
    frames(
        vec![
            ("hello", ClientMsg::hello4("ann", "lobby")),
            (
                "hello-v3",
                ClientMsg::Hello {
                    version: OLDEST_VERSION,
                    nick: "ann".into(),
                    room: "lobby".into(),
                },
            ),
            (
                "hello4-features",
                ClientMsg::Hello4 {
                    min_version: 4,
                    max_version: 9,
                    features: vec!["history".into(), "emoji".into()],
                    nick: "李雷".into(),
                    room: "".into(),
                },
            ),
            (
                "request-chat",
                ClientMsg::Chat {
                    text: "hi 👋".into(),
                }
                .with_id(7),
            ),
            (
                "request-upload-start",
                ClientMsg::UploadStart {
                    name: "report.pdf".into(),
                    size: 1 << 20,
                }
                .with_id(70_000),
            ),
            (
                "who-page",
                ClientMsg::WhoPage {
                    after: "bob".into(),
                }
                .with_id(8),
            ),
            (
                "chat",
                ClientMsg::Chat {
                    text: "hello 你好 👋".into(),
                },
            ),
            (
                "action",
                ClientMsg::Action {
                    text: "waves".into(),
                },
            ),
            (
                "private",
                ClientMsg::Private {
                    to: "bob".into(),
                    text: "psst".into(),
                },
            ),
            (
                "join",
                ClientMsg::Join {
                    room: "rust".into(),
                },
            ),
            (
                "nick",
                ClientMsg::Nick {
                    nick: "ann2".into(),
                },
            ),
            ("who", ClientMsg::Who),
            ("ping", ClientMsg::Ping { token: 300 }),
            ("pong", ClientMsg::Pong { token: u64::MAX }),
            (
                "quit",
                ClientMsg::Quit {
                    reason: "bye".into(),
                },
            ),
            (
                "upload-start",
                ClientMsg::UploadStart {
                    name: "a.txt".into(),
                    size: 5,
                },
            ),
            (
                "upload-chunk",
                ClientMsg::UploadChunk {
                    upload_id: 3,
                    offset: 300,
                    data: b"hello".to_vec(),
                },
            ),
            (
                "upload-finish",
                ClientMsg::UploadFinish {
                    upload_id: 3,
                    sha256: vec![0xab; 32],
                },
            ),
            ("upload-cancel", ClientMsg::UploadCancel { upload_id: 3 }),
            (
                "upload-resume",
                ClientMsg::UploadResume {
                    token: (0..16).collect(),
                },
            ),
            ("list-files", ClientMsg::ListFiles),
            (
                "download",
                ClientMsg::Download {
                    file_id: 9,
                    offset: 65_536,
                },
            ),
            ("download-cancel", ClientMsg::DownloadCancel { file_id: 9 }),
        ],
        "client",
    )
}

fn server_msgs() -> Vec<(String, Vec<u8>)> {
    let file = FileInfo {
        id: 7,
        name: "notes.txt".into(),
        size: 1_000_000,
        sha256: vec![0x5a; 32],
        from: "ann".into(),
        time_ms: 1_764_000_000_000,
        room: "lobby".into(),
    };
    frames(
        vec![
            (
                "welcome",
                ServerMsg::Welcome4 {
                    version: 4,
                    features: vec![],
                    limits: Limits {
                        max_frame: MAX_FRAME_LEN as u32,
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
                        names: vec!["ann".into(), "bob".into()],
                        more: false,
                    },
                },
            ),
            (
                "welcome-v3",
                ServerMsg::Welcome {
                    version: OLDEST_VERSION,
                    nick: "ann".into(),
                    room: "lobby".into(),
                    members: vec!["ann".into(), "bob".into()],
                },
            ),
            (
                "room-said",
                ServerMsg::Room {
                    id: 300,
                    seq: 42,
                    time_ms: 1_764_000_000_000,
                    room: "lobby".into(),
                    event: RoomEvent::Said {
                        from: "ann".into(),
                        kind: ChatKind::Action,
                        text: "waves 👋".into(),
                    },
                },
            ),
            (
                "reply-room",
                ServerMsg::Reply {
                    id: 7,
                    msg: Box::new(ServerMsg::Room {
                        id: 301,
                        seq: 43,
                        time_ms: 1_764_000_000_001,
                        room: "lobby".into(),
                        event: RoomEvent::Left {
                            nick: "bob".into(),
                            reason: "connection lost".into(),
                        },
                    }),
                },
            ),
            (
                "room-shared",
                ServerMsg::Room {
                    id: 302,
                    seq: 44,
                    time_ms: 1_764_000_000_002,
                    room: "lobby".into(),
                    event: RoomEvent::Shared { file: file.clone() },
                },
            ),
            (
                "reply-error",
                ServerMsg::Reply {
                    id: u32::MAX,
                    msg: Box::new(ServerMsg::Error {
                        kind: ErrorKind::TooManyTransfers,
                        text: "at most 4 uploads at once".into(),
                    }),
                },
            ),
            (
                "joined4",
                ServerMsg::Joined4 {
                    room: "rust".into(),
                    seq: 9,
                    members: MemberPage {
                        total: 5000,
                        names: vec!["ann".into(), "ferris".into()],
                        more: true,
                    },
                },
            ),
            (
                "members4",
                ServerMsg::Members4 {
                    room: "rust".into(),
                    members: MemberPage::default(),
                },
            ),
            (
                "chat",
                ServerMsg::Chat {
                    id: 300,
                    time_ms: 1_764_000_000_000,
                    room: "lobby".into(),
                    from: "ann".into(),
                    kind: ChatKind::Say,
                    text: "hi 👋".into(),
                },
            ),
            (
                "action",
                ServerMsg::Chat {
                    id: 301,
                    time_ms: 1_764_000_000_001,
                    room: "lobby".into(),
                    from: "bob".into(),
                    kind: ChatKind::Action,
                    text: "waves".into(),
                },
            ),
            (
                "private",
                ServerMsg::Private {
                    id: 251,
                    time_ms: 1_700_000_000_000,
                    from: "ann".into(),
                    to: "bob".into(),
                    text: "hi".into(),
                },
            ),
            (
                "notice-joined",
                ServerMsg::Notice {
                    time_ms: 1,
                    room: "lobby".into(),
                    event: RoomEvent::Joined { nick: "bob".into() },
                },
            ),
            (
                "notice-left",
                ServerMsg::Notice {
                    time_ms: 2,
                    room: "lobby".into(),
                    event: RoomEvent::Left {
                        nick: "bob".into(),
                        reason: "slow consumer".into(),
                    },
                },
            ),
            (
                "notice-renamed",
                ServerMsg::Notice {
                    time_ms: 3,
                    room: "lobby".into(),
                    event: RoomEvent::Renamed {
                        old: "bob".into(),
                        new: "rob".into(),
                    },
                },
            ),
            (
                "joined",
                ServerMsg::Joined {
                    room: "rust".into(),
                    members: vec!["ann".into()],
                },
            ),
            (
                "members",
                ServerMsg::Members {
                    room: "rust".into(),
                    members: vec!["ann".into(), "bob".into()],
                },
            ),
            (
                "nick-changed",
                ServerMsg::NickChanged {
                    nick: "ann2".into(),
                },
            ),
            ("ping", ServerMsg::Ping { token: 7 }),
            ("pong", ServerMsg::Pong { token: 65_536 }),
            (
                "error",
                ServerMsg::Error {
                    kind: ErrorKind::NickTaken,
                    text: "nick taken".into(),
                },
            ),
            (
                "shutdown",
                ServerMsg::Shutdown {
                    reason: "server shutting down".into(),
                },
            ),
            (
                "upload-ready",
                ServerMsg::UploadReady {
                    upload_id: 3,
                    token: (0..16).collect(),
                    offset: 0,
                },
            ),
            (
                "upload-done",
                ServerMsg::UploadDone {
                    upload_id: 3,
                    file_id: 7,
                },
            ),
            (
                "upload-failed",
                ServerMsg::UploadFailed {
                    upload_id: 3,
                    kind: ErrorKind::ChecksumMismatch,
                    text: "the checksum does not match".into(),
                },
            ),
            (
                "file-offered",
                ServerMsg::FileOffered { file: file.clone() },
            ),
            (
                "files",
                ServerMsg::Files {
                    room: "lobby".into(),
                    files: vec![file.clone()],
                },
            ),
            (
                "download-start",
                ServerMsg::DownloadStart {
                    file: file.clone(),
                    offset: 4096,
                },
            ),
            (
                "download-chunk",
                ServerMsg::DownloadChunk {
                    file_id: 7,
                    offset: 4096,
                    data: b"chunk of a file".to_vec(),
                },
            ),
            ("download-end", ServerMsg::DownloadEnd { file_id: 7 }),
            (
                "download-failed",
                ServerMsg::DownloadFailed {
                    file_id: 7,
                    kind: ErrorKind::NoSuchFile,
                    text: "no file 7 in this room".into(),
                },
            ),
        ],
        "server",
    )
}
