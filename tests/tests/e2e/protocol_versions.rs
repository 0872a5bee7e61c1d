//! Protocol versions 3 and 4 against the real server, in raw frames where the bytes are
//! the point: a version 3 client gets exactly the frames of version 3 (and never one of
//! version 4), a version 4 client negotiates, every answer carries its request's id, room
//! messages are numbered without gaps, and member lists fit a frame however large the
//! room. (A version 4 client facing a version 3 server is in `tui_connection.rs`.)

use std::time::Duration;

use chat_server::Config;
use shared::limits::{MAX_FRAME_LEN, MEMBER_PAGE};
use shared::{
    ChatKind, ClientMsg, ErrorKind, Limits, PROTOCOL_VERSION, RoomEvent, ServerMsg,
    codec::decode_payload, encode_frame,
};
use tempfile::TempDir;
use tests::client::{
    ServerHandle, TestClient, WAIT, encode, joined, left, notice, read_raw_frame, says,
    start_server, until_closed,
};
use tests::files::upload;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

type Result = anyhow::Result<()>;

/// A running server with its data directory, and a directory for the clients' files.
struct Running {
    _server: ServerHandle,
    _data: TempDir,
    local: TempDir,
}

async fn server(config: Config) -> anyhow::Result<(std::net::SocketAddr, Running)> {
    let data = tempfile::tempdir()?;
    let local = tempfile::tempdir()?;
    let config = Config {
        data_dir: data.path().to_path_buf(),
        ..config
    };
    let (addr, server) = start_server(config).await;
    let running = Running {
        _server: server,
        _data: data,
        local,
    };
    Ok((addr, running))
}

fn frame(msg: &ServerMsg) -> Vec<u8> {
    encode_frame(msg).expect("encodes").to_vec()
}

/// The payload's variant index, for frames where it is one byte (every index below 251).
fn index(frame: &[u8]) -> u8 {
    frame[4]
}

/// The server's frames to a version 3 client are the bytes a version 3 server sent: the
/// same messages, encoded the same way, never a variant of version 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_3_client_gets_exactly_the_frames_of_version_3() -> Result {
    let (addr, running) = server(Config::default()).await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let mut ann = TcpStream::connect(addr).await?;
    // docs/PROTOCOL.md's hello of a version 3 client, byte for byte.
    let hello = [
        0, 0, 0, 0x0c, 0, 3, 3, b'a', b'n', b'n', 5, b'l', b'o', b'b', b'b', b'y',
    ];
    ann.write_all(&hello).await?;
    let mut seen = Vec::new();
    let mut next = async |ann: &mut TcpStream| -> anyhow::Result<Vec<u8>> {
        let got = read_raw_frame(ann).await?;
        seen.push(got.clone());
        Ok(got)
    };
    let welcome = ServerMsg::Welcome {
        version: 3,
        nick: "ann".into(),
        room: "lobby".into(),
        members: vec!["ann".into(), "bob".into()],
    };
    assert_eq!(next(&mut ann).await?, frame(&welcome));
    bob.recv_until(|m| joined(m, "ann")).await?;

    // A chat line of a version 4 member: the same message, id and time in both shapes.
    bob.say("hi 👋").await?;
    let ServerMsg::Room { id, time_ms, .. } = bob.recv_until(|m| says(m, "hi 👋")).await? else {
        unreachable!()
    };
    let chat = ServerMsg::Chat {
        id,
        time_ms,
        room: "lobby".into(),
        from: "bob".into(),
        kind: ChatKind::Say,
        text: "hi 👋".into(),
    };
    assert_eq!(next(&mut ann).await?, frame(&chat));

    // Notices.
    let mut cy = TestClient::connect(addr, "cy", "lobby").await?;
    let ServerMsg::Room { time_ms, .. } = bob.recv_until(|m| joined(m, "cy")).await? else {
        unreachable!()
    };
    let notice_of = |time_ms, event| ServerMsg::Notice {
        time_ms,
        room: "lobby".into(),
        event,
    };
    let event = RoomEvent::Joined { nick: "cy".into() };
    assert_eq!(next(&mut ann).await?, frame(&notice_of(time_ms, event)));
    cy.send(ClientMsg::Nick { nick: "cyd".into() }).await?;
    let renamed = bob.recv_until(|m| notice(m).is_some()).await?;
    let ServerMsg::Room { time_ms, event, .. } = renamed else {
        unreachable!()
    };
    assert!(matches!(event, RoomEvent::Renamed { .. }));
    assert_eq!(next(&mut ann).await?, frame(&notice_of(time_ms, event)));

    // A file offer.
    let (path, _) = tests::files::random_file(running.local.path(), "notes.txt", 1000, 1)?;
    upload(&mut bob, &path, "notes.txt").await?;
    let shared = bob
        .recv_until(|m| tests::client::offered(m).is_some())
        .await?;
    let file = tests::client::offered(&shared).expect("an offer").clone();
    assert_eq!(
        next(&mut ann).await?,
        frame(&ServerMsg::FileOffered { file })
    );

    // Answers: the member list, a move to another room, a pong.
    ann.write_all(&[0, 0, 0, 1, 6]).await?; // Who
    let members = ServerMsg::Members {
        room: "lobby".into(),
        members: vec!["ann".into(), "bob".into(), "cyd".into()],
    };
    assert_eq!(next(&mut ann).await?, frame(&members));
    ann.write_all(&encode(ClientMsg::Join { room: "Dev".into() }))
        .await?;
    let joined_dev = ServerMsg::Joined {
        room: "Dev".into(),
        members: vec!["ann".into()],
    };
    assert_eq!(next(&mut ann).await?, frame(&joined_dev));
    bob.recv_until(|m| left(m, "ann", |r| r == "moved to Dev"))
        .await?;
    // A version 3 client is not told of its own rename, only answered.
    ann.write_all(&encode(ClientMsg::Nick {
        nick: "annie".into(),
    }))
    .await?;
    let renamed = ServerMsg::NickChanged {
        nick: "annie".into(),
    };
    assert_eq!(next(&mut ann).await?, frame(&renamed));
    ann.write_all(&[0, 0, 0, 2, 7, 7]).await?; // Ping { token: 7 }
    assert_eq!(next(&mut ann).await?, [0, 0, 0, 2, 8, 7]);

    // No frame of version 4 (index 20 and up) ever reached it.
    for got in &seen {
        assert!(index(got) < 20, "{got:?}");
    }
    Ok(())
}

/// `Hello4` states a range of versions and the features the client knows; `Welcome4`
/// says what the server chose and its limits, 0 meaning no limit.
#[tokio::test]
async fn a_version_4_client_negotiates_and_is_told_the_limits() -> Result {
    for (config, rate, burst) in [
        (Config::default(), 10, 20),
        (
            Config {
                msg_rate: 0,
                max_file_size: 12_345,
                ..Config::default()
            },
            0,
            0,
        ),
    ] {
        let max_file_size = config.max_file_size;
        let (addr, _running) = server(config).await?;
        let mut raw = TcpStream::connect(addr).await?;
        let hello = ClientMsg::Hello4 {
            min_version: 4,
            max_version: 9,
            features: vec!["history".into(), "emoji".into()],
            nick: "ann".into(),
            room: "".into(),
        };
        raw.write_all(&encode(hello)).await?;
        let welcome: ServerMsg = decode_payload(&read_raw_frame(&mut raw).await?[4..])?;
        let ServerMsg::Welcome4 {
            version,
            features,
            limits,
            nick,
            room,
            members,
            ..
        } = welcome
        else {
            panic!("expected a version 4 welcome, got {welcome:?}");
        };
        assert_eq!(version, PROTOCOL_VERSION, "the newest both speak");
        assert_eq!(
            features,
            ["history"],
            "the feature it has, none it does not know"
        );
        assert_eq!(
            limits,
            Limits {
                max_frame: MAX_FRAME_LEN as u32,
                max_text: 4096,
                member_page: MEMBER_PAGE as u32,
                msg_rate: rate,
                msg_burst: burst,
                max_file_size,
            }
        );
        assert_eq!((nick.as_str(), room.as_str()), ("ann", "lobby"));
        assert_eq!(
            (members.total, members.names, members.more),
            (1, vec!["ann".into()], false)
        );
    }
    Ok(())
}

#[tokio::test]
async fn versions_the_server_does_not_speak_are_refused_with_words() -> Result {
    let (addr, _running) = server(Config::default()).await?;
    let hello4 = |min_version, max_version| ClientMsg::Hello4 {
        min_version,
        max_version,
        features: vec![],
        nick: "ann".into(),
        room: "lobby".into(),
    };
    let hello = |version| ClientMsg::Hello {
        version,
        nick: "ann".into(),
        room: "lobby".into(),
    };
    let cases = [
        (
            hello4(5, 6),
            "this server speaks protocol 3 to 4, the client 5 to 6",
        ),
        (
            hello4(4, 3),
            "this server speaks protocol 3 to 4, the client 4 to 3",
        ),
        (
            hello4(1, 3),
            "this server speaks protocol 3 to 4, the client 1 to 3",
        ),
        (
            hello(4),
            "this server speaks protocol 3 to 4; a client of version 4 or later says hello \
             with Hello4",
        ),
        (hello(2), "this server speaks protocol 3 to 4, the client 2"),
    ];
    for (msg, text) in cases {
        let mut raw = TcpStream::connect(addr).await?;
        raw.write_all(&encode(msg.clone())).await?;
        let seen = until_closed(raw).await?;
        let expected = ServerMsg::Error {
            kind: ErrorKind::VersionMismatch,
            text: text.into(),
        };
        assert_eq!(seen, [expected], "{msg:?}");
    }
    Ok(())
}

/// Every request sent with an id is answered, or refused, with that id; what is not an
/// answer (the room's copy of a message, a rate warning) carries none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_id_of_its_request() -> Result {
    let (addr, _running) = server(Config {
        max_file_size: 1000,
        ..Config::default()
    })
    .await?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    ann.recv_until(|m| joined(m, "bob")).await?;

    let chat = ClientMsg::Chat { text: "hi".into() };
    let echo = ann.request(1, chat).await?;
    assert!(says(&echo, "hi"), "{echo:?}");
    let heard = bob.recv_until(|m| says(m, "hi")).await?;
    assert!(
        matches!(heard, ServerMsg::Room { .. }),
        "the room's copy is bare"
    );

    let private = ClientMsg::Private {
        to: "bob".into(),
        text: "psst".into(),
    };
    assert!(matches!(
        ann.request(2, private).await?,
        ServerMsg::Private { .. }
    ));
    let got = bob
        .recv_until(|m| matches!(m, ServerMsg::Private { .. } | ServerMsg::Reply { .. }))
        .await?;
    assert!(matches!(got, ServerMsg::Private { .. }), "{got:?}");

    let error =
        |kind| move |m: ServerMsg| matches!(m, ServerMsg::Error { kind: k, .. } if k == kind);
    let nick = |nick: &str| ClientMsg::Nick { nick: nick.into() };
    assert_eq!(
        ann.request(3, nick("anne")).await?,
        ServerMsg::NickChanged {
            nick: "anne".into()
        }
    );
    assert!(error(ErrorKind::NickTaken)(
        ann.request(4, nick("BOB")).await?
    ));
    assert!(matches!(
        ann.request(5, ClientMsg::Who).await?,
        ServerMsg::Members4 { .. }
    ));
    let page = ClientMsg::WhoPage {
        after: "anne".into(),
    };
    let ServerMsg::Members4 { members, .. } = ann.request(6, page).await? else {
        panic!("a page");
    };
    assert_eq!((members.names, members.total), (vec!["bob".to_owned()], 2));
    assert_eq!(
        ann.request(7, ClientMsg::Ping { token: 70 }).await?,
        ServerMsg::Pong { token: 70 }
    );
    let too_long = ClientMsg::Chat {
        text: "x".repeat(5000),
    };
    assert!(error(ErrorKind::TextTooLong)(
        ann.request(8, too_long).await?
    ));
    let bad_room = ClientMsg::Join {
        room: "two words".into(),
    };
    assert!(error(ErrorKind::InvalidRoom)(
        ann.request(9, bad_room).await?
    ));
    let again = ClientMsg::hello4("ann", "lobby");
    assert!(error(ErrorKind::AlreadyLoggedIn)(
        ann.request(10, again).await?
    ));

    // Files: refusals, answers, and the start of a download.
    let start = |size| ClientMsg::UploadStart {
        name: "a.txt".into(),
        size,
    };
    assert!(error(ErrorKind::FileTooLarge)(
        ann.request(11, start(1001)).await?
    ));
    let resume = ClientMsg::UploadResume { token: vec![0; 16] };
    assert!(error(ErrorKind::NoSuchUpload)(
        ann.request(12, resume).await?
    ));
    let ServerMsg::UploadReady { upload_id, .. } = ann.request(13, start(0)).await? else {
        panic!("ready");
    };
    let finish = ClientMsg::UploadFinish {
        upload_id,
        sha256: sha2_of_nothing(),
    };
    let ServerMsg::UploadDone { file_id, .. } = ann.request(14, finish).await? else {
        panic!("done");
    };
    let ServerMsg::Files { files, .. } = ann.request(15, ClientMsg::ListFiles).await? else {
        panic!("files");
    };
    assert_eq!(files.len(), 1);
    let download = ClientMsg::Download { file_id, offset: 0 };
    assert!(matches!(
        ann.request(16, download).await?,
        ServerMsg::DownloadStart { .. }
    ));
    // What follows a download's start is bare: it is no answer.
    assert_eq!(ann.recv().await?, ServerMsg::DownloadEnd { file_id });
    let unknown = ClientMsg::Download {
        file_id: 999,
        offset: 0,
    };
    assert!(matches!(
        ann.request(17, unknown).await?,
        ServerMsg::DownloadFailed {
            kind: ErrorKind::NoSuchFile,
            ..
        }
    ));
    let join = ClientMsg::Join { room: "dev".into() };
    assert!(matches!(
        ann.request(18, join).await?,
        ServerMsg::Joined4 { .. }
    ));

    // A request inside a request does not decode: the connection is closed.
    let mut raw = TcpStream::connect(addr).await?;
    raw.write_all(&encode(ClientMsg::hello4("cy", "lobby")))
        .await?;
    read_raw_frame(&mut raw).await?;
    let twice = ClientMsg::Request {
        id: 1,
        msg: Box::new(ClientMsg::Who.with_id(2)),
    };
    raw.write_all(&encode(twice)).await?;
    let seen = until_closed(raw).await?;
    assert!(
        matches!(seen.last(), Some(ServerMsg::Error { kind: ErrorKind::MalformedFrame, text })
            if text.contains("wrapped twice")),
        "{seen:?}"
    );
    Ok(())
}

fn sha2_of_nothing() -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(b"").to_vec()
}

/// A warning about the rate is no answer: it comes bare, and the requests held back are
/// answered, with their ids, once their turn comes.
#[tokio::test]
async fn a_rate_warning_is_bare_and_the_answers_still_carry_their_ids() -> Result {
    let (addr, _running) = server(Config {
        msg_rate: 20,
        msg_burst: 1,
        ..Config::default()
    })
    .await?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    for id in 1..=3 {
        ann.send(ClientMsg::Ping { token: id.into() }.with_id(id))
            .await?;
    }
    let seen = ann
        .collect_until(|m| matches!(m, ServerMsg::Reply { id: 3, .. }))
        .await?;
    let warnings = seen
        .iter()
        .filter(|m| {
            matches!(
                m,
                ServerMsg::Error {
                    kind: ErrorKind::RateLimited,
                    ..
                }
            )
        })
        .count();
    assert_eq!(warnings, 1, "{seen:?}");
    let answered: Vec<(Option<u32>, ServerMsg)> = seen
        .into_iter()
        .filter(|m| matches!(m, ServerMsg::Reply { .. }))
        .map(ServerMsg::into_reply)
        .collect();
    let expected: Vec<(Option<u32>, ServerMsg)> = (1..=3)
        .map(|id| (Some(id), ServerMsg::Pong { token: id.into() }))
        .collect();
    assert_eq!(answered, expected);
    Ok(())
}

/// Everything that happens in a room takes the room's next sequence number, whatever it
/// is; the welcome and a join name the latest, so a member sees at once if it missed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_messages_are_numbered_without_gaps() -> Result {
    let (addr, running) = server(Config::default()).await?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let start = ann.seq;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    assert_eq!(bob.seq, start + 1, "bob's welcome names its own join");
    bob.say("one").await?;
    bob.send(ClientMsg::Nick { nick: "rob".into() }).await?;
    // Bob, who says, renames himself and shares, sees every number of the lobby too.
    let mut bob_saw = bob
        .collect_until(|m| matches!(m, ServerMsg::NickChanged { .. }))
        .await?;
    let (path, _) = tests::files::random_file(running.local.path(), "f.bin", 10, 2)?;
    upload(&mut bob, &path, "f.bin").await?;
    // Another room's traffic takes ids, not this room's numbers.
    let _elsewhere = TestClient::connect(addr, "zed", "elsewhere").await?;
    let mut cy = TestClient::connect(addr, "cy", "lobby").await?;
    bob_saw.extend(bob.collect_until(|m| joined(m, "cy")).await?);
    let bob_saw: Vec<u64> = bob_saw
        .iter()
        .filter_map(|m| match tests::client::unwrapped(m) {
            ServerMsg::Room { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(bob_saw, (start + 2..=start + 5).collect::<Vec<_>>());
    bob.send(ClientMsg::Join { room: "dev".into() }).await?;
    let in_lobby = bob
        .collect_until(|m| matches!(m, ServerMsg::Joined4 { .. }))
        .await?;
    let joined = in_lobby.last().expect("the answer").clone();
    cy.send(ClientMsg::Quit {
        reason: "bye".into(),
    })
    .await?;
    cy.until_closed().await?;
    let seen = ann.collect_until(|m| left(m, "cy", |_| true)).await?;
    let numbered: Vec<(u64, u64, RoomEvent)> = seen
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::Room { id, seq, event, .. } => Some((id, seq, event)),
            _ => None,
        })
        .collect();
    let seqs: Vec<u64> = numbered.iter().map(|(_, seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (start + 1..=start + 7).collect::<Vec<_>>(),
        "{numbered:?}"
    );
    assert!(numbered.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");
    let kinds: Vec<&str> = numbered
        .iter()
        .map(|(_, _, event)| match event {
            RoomEvent::Joined { .. } => "joined",
            RoomEvent::Said { .. } => "said",
            RoomEvent::Renamed { .. } => "renamed",
            RoomEvent::Shared { .. } => "shared",
            RoomEvent::Left { .. } => "left",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "joined", "said", "renamed", "shared", "joined", "left", "left"
        ]
    );
    // Joining a room names its latest number too.
    let ServerMsg::Joined4 { seq, .. } = joined else {
        unreachable!()
    };
    let mut dee = TestClient::connect(addr, "dee", "dev").await?;
    assert_eq!(dee.seq, seq + 1);
    dee.say("two").await?;
    let line = bob.recv_until(|m| says(m, "two")).await?;
    assert!(matches!(line, ServerMsg::Room { seq: s, .. } if s == seq + 2));
    Ok(())
}

/// A nick of 32 characters of 4 bytes each, the longest there is: `i` in mathematical
/// bold digits (which fold to distinct plain digits), then crabs.
fn longest_nick(i: u32) -> String {
    let number = format!("{i:04}");
    let digits = number.chars().map(|d| {
        let d = d.to_digit(10).expect("a digit");
        char::from_u32(0x1D7CE + d).expect("a mathematical bold digit")
    });
    let nick: String = digits.chain(std::iter::repeat_n('🦀', 28)).collect();
    assert_eq!((nick.chars().count(), nick.len()), (32, 128));
    nick
}

/// More members than a page, each with the longest nick: every list still fits a frame,
/// the welcome holds the first page, and the pages together hold everyone once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_lists_of_thousands_of_long_nicks_fit_a_frame() -> Result {
    const CROWD: u32 = 1100;
    let (addr, _running) = server(Config {
        max_connections_per_ip: 0,
        queue_bytes: 4 << 20,
        ..Config::default()
    })
    .await?;
    let mut drains = tokio::task::JoinSet::new();
    for i in 0..CROWD {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(&encode(ClientMsg::hello4(&longest_nick(i), "crowd")))
            .await?;
        // Each reads what it is sent (the joins after its own) and throws it away.
        drains.spawn(async move { tokio::io::copy(&mut stream, &mut tokio::io::sink()).await });
    }
    let mut ann = TestClient::connect(addr, "ann", "crowd").await?;
    let deadline = tokio::time::Instant::now() + 6 * WAIT;
    let total = loop {
        let ServerMsg::Members4 { members, .. } = ann.request(1, ClientMsg::Who).await? else {
            panic!("members");
        };
        if members.total > CROWD {
            break members.total as usize;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the crowd did not log in: {} of {CROWD}",
            members.total - 1
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bea = TestClient::connect(addr, "bea", "crowd").await?;
    assert_eq!(bea.members.len(), MEMBER_PAGE, "the welcome holds one page");
    let mut names: Vec<String> = Vec::new();
    let mut after = String::new();
    for id in 2.. {
        let ServerMsg::Members4 { members, .. } =
            ann.request(id, ClientMsg::WhoPage { after }).await?
        else {
            panic!("a page");
        };
        assert!(members.names.len() <= MEMBER_PAGE);
        names.extend(members.names);
        match names.last() {
            Some(last) if members.more => after = last.clone(),
            _ => break,
        }
    }
    assert_eq!(names.len(), total + 1, "everyone once, bea too");
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| shared::names::cmp_members(a, b));
    sorted.dedup();
    assert_eq!(names, sorted, "in order, no one twice");

    // A version 3 client gets a page too, and reads it: 129 KiB of the longest nicks.
    let old = TestClient::connect_v3(addr, "old", "crowd").await?;
    assert_eq!(old.members.len(), MEMBER_PAGE);
    drains.abort_all();
    Ok(())
}
