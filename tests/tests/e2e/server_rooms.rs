//! The feature "rooms" against the real server over TCP: a connection in several rooms at
//! once (joining, talking in each, parting, the limit), room topics (kept across a restart
//! with history), away texts, renames and leaves told in every room, files of any room
//! the client is in, and clients without the feature getting exactly the frames they got
//! before, beside a client that has it.

use std::net::SocketAddr;

use chat_server::Config;
use shared::limits::{MAX_JOINED_ROOMS, MAX_TOPIC_BYTES};
use shared::{
    Anchor, ClientMsg, ErrorKind, FEATURE_HISTORY, FEATURE_ROOMS, PROTOCOL_VERSION, RoomEvent,
    RoomRequest, ServerMsg, encode_frame,
};
use tempfile::TempDir;
use tests::client::{
    ServerHandle, TestClient, joined, left, notice, offered, read_raw_frame, said, says,
    start_server,
};
use tests::files::{finish_upload, random_file, send_chunks, sha256_of};
use tests::history::{next_id, page};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

type Result = anyhow::Result<()>;

/// A server with a data directory of its own, kept for a restart.
async fn server(data: &TempDir) -> (SocketAddr, ServerHandle) {
    start_server(Config {
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    })
    .await
}

/// Logs in as `nick` into `room` with a version 4 hello asking for `features`; fails
/// unless the welcome grants exactly them (and, with "history", `HistoryInfo` follows).
async fn connect(
    addr: SocketAddr,
    nick: &str,
    room: &str,
    features: &[&str],
) -> anyhow::Result<TestClient> {
    let mut client = TestClient::connect_raw(addr).await?;
    client
        .send(ClientMsg::Hello4 {
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            features: features.iter().map(|f| f.to_string()).collect(),
            nick: nick.into(),
            room: room.into(),
        })
        .await?;
    let ServerMsg::Welcome4 {
        features: granted,
        nick,
        room,
        seq,
        members,
        version,
        ..
    } = client.recv().await?
    else {
        anyhow::bail!("expected a welcome");
    };
    assert_eq!(granted, features, "features granted");
    client.nick = nick;
    client.room = room;
    client.members = members.names;
    client.seq = seq;
    client.version = version;
    if features.contains(&FEATURE_HISTORY) {
        let info = client.recv().await?;
        assert!(matches!(info, ServerMsg::HistoryInfo { .. }), "{info:?}");
    }
    Ok(client)
}

async fn with_rooms(addr: SocketAddr, nick: &str, room: &str) -> anyhow::Result<TestClient> {
    connect(addr, nick, room, &[FEATURE_ROOMS]).await
}

fn in_room(room: &str, msg: RoomRequest) -> ClientMsg {
    ClientMsg::InRoom {
        room: room.into(),
        msg,
    }
}

fn chat(room: &str, text: &str) -> ClientMsg {
    in_room(room, RoomRequest::Chat { text: text.into() })
}

/// Joins `room` with a request id; returns the answer (`Joined4`).
async fn join(client: &mut TestClient, room: &str) -> anyhow::Result<ServerMsg> {
    let room = room.to_owned();
    client.request(next_id(), ClientMsg::Join { room }).await
}

/// The kind and text of an error answer; fails on anything else.
fn error(answer: &ServerMsg) -> (ErrorKind, &str) {
    match answer {
        ServerMsg::Error { kind, text } => (*kind, text),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Sends a ping and returns every frame received before its pong: what the server sent
/// the client meanwhile, and nothing more.
async fn before_pong(client: &mut TestClient, token: u64) -> anyhow::Result<Vec<ServerMsg>> {
    client.send(ClientMsg::Ping { token }).await?;
    let mut seen = client
        .collect_until(|m| matches!(m, ServerMsg::Pong { token: t } if *t == token))
        .await?;
    seen.pop();
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_rooms_at_once_each_member_hears_only_its_rooms() -> Result {
    let data = tempfile::tempdir()?;
    let (addr, _server) = server(&data).await;
    let mut ann = with_rooms(addr, "ann", "one").await?;
    let mut bob = with_rooms(addr, "bob", "one").await?;
    let mut cy = TestClient::connect(addr, "cy", "two").await?;
    let mut dan = TestClient::connect_v3(addr, "dan", "three").await?;
    for room in ["Two", "three"] {
        let answer = join(&mut ann, room).await?;
        assert!(matches!(answer, ServerMsg::Joined4 { .. }), "{answer:?}");
    }
    cy.recv_until(|m| joined(m, "ann")).await?;
    dan.recv_until(|m| joined(m, "ann")).await?;
    for (room, text) in [("one", "to one"), ("TWO", "to two"), ("three", "to three")] {
        ann.send(chat(room, text)).await?;
        let echo = ann.recv_until(|m| says(m, text)).await?;
        assert_eq!(said(&echo).unwrap().room, room.to_lowercase());
    }
    let heard = |m: &ServerMsg| said(m).map(|s| s.text.to_owned());
    let bob_heard = before_pong(&mut bob, 1).await?;
    let bob_heard: Vec<String> = bob_heard.iter().filter_map(heard).collect();
    assert_eq!(bob_heard, ["to one"]);
    let cy_heard: Vec<String> = before_pong(&mut cy, 1)
        .await?
        .iter()
        .filter_map(heard)
        .collect();
    assert_eq!(cy_heard, ["to two"]);
    let dan_heard: Vec<String> = before_pong(&mut dan, 1)
        .await?
        .iter()
        .filter_map(heard)
        .collect();
    assert_eq!(dan_heard, ["to three"]);

    // Each room's members are heard by ann in that room.
    bob.say("from one").await?;
    let m = ann.recv_until(|m| says(m, "from one")).await?;
    assert_eq!(said(&m).unwrap().room, "one");
    cy.say("from two").await?;
    let m = ann.recv_until(|m| says(m, "from two")).await?;
    assert_eq!(said(&m).unwrap().room, "two");

    // A request that names no room is about the room joined last.
    ann.say("room-less").await?;
    let m = ann.recv_until(|m| says(m, "room-less")).await?;
    assert_eq!(said(&m).unwrap().room, "three");
    dan.recv_until(|m| says(m, "room-less")).await?;

    // Who about a room: RoomMembers, with the away texts (none here).
    let members = ann
        .request(next_id(), in_room("two", RoomRequest::Who))
        .await?;
    let ServerMsg::RoomMembers {
        room,
        total,
        members,
        more,
    } = members
    else {
        panic!("{members:?}");
    };
    assert_eq!((room.as_str(), total, more), ("two", 2, false));
    let nicks: Vec<&str> = members.iter().map(|m| m.nick.as_str()).collect();
    assert_eq!(nicks, ["ann", "cy"]);

    // A room ann is not in.
    let answer = ann.request(next_id(), chat("four", "x")).await?;
    assert_eq!(
        error(&answer),
        (ErrorKind::NotInRoom, "you are not in the room four")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_beyond_the_limit_is_refused() -> Result {
    let data = tempfile::tempdir()?;
    let (addr, _server) = server(&data).await;
    let mut ann = with_rooms(addr, "ann", "r0").await?;
    for n in 1..MAX_JOINED_ROOMS {
        join(&mut ann, &format!("r{n}")).await?;
    }
    let answer = join(&mut ann, "one-more").await?;
    let (kind, text) = error(&answer);
    assert_eq!(kind, ErrorKind::TooManyRooms);
    assert_eq!(
        text,
        "you are in 20 rooms, the most at once; part one before joining another"
    );
    // Joining one of the twenty again is fine; after a part, another room too.
    assert!(matches!(
        join(&mut ann, "r7").await?,
        ServerMsg::Joined4 { .. }
    ));
    let part = in_room(
        "r0",
        RoomRequest::Part {
            reason: String::new(),
        },
    );
    assert!(matches!(
        ann.request(next_id(), part).await?,
        ServerMsg::Parted { .. }
    ));
    assert!(matches!(
        join(&mut ann, "one-more").await?,
        ServerMsg::Joined4 { .. }
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_tells_the_parter_and_the_room_and_history_keeps_it() -> Result {
    let data = tempfile::tempdir()?;
    let (addr, _server) = server(&data).await;
    let both = [FEATURE_ROOMS, FEATURE_HISTORY];
    let mut ann = connect(addr, "ann", "lobby", &both).await?;
    join(&mut ann, "other").await?;
    let mut bob = connect(addr, "bob", "lobby", &[FEATURE_HISTORY]).await?;
    let mut old = TestClient::connect_v3(addr, "old", "lobby").await?;
    let part = in_room(
        "Lobby",
        RoomRequest::Part {
            reason: "lunch".into(),
        },
    );
    let answer = ann.request(next_id(), part).await?;
    assert_eq!(
        answer,
        ServerMsg::Parted {
            room: "lobby".into(),
            reason: "lunch".into()
        }
    );
    bob.recv_until(|m| left(m, "ann", |r| r == "lunch")).await?;
    old.recv_until(|m| left(m, "ann", |r| r == "lunch")).await?;
    // Kept in history as presence.
    let p = page(&mut bob, "lobby", Anchor::Latest, 10, true).await?;
    assert!(
        p.messages.iter().any(|m| matches!(
            &m.event,
            RoomEvent::Left { nick, reason } if nick == "ann" && reason == "lunch"
        )),
        "{p:?}"
    );
    // The room is no longer ann's: talking or asking about it is refused.
    let answer = ann.request(next_id(), chat("lobby", "still here?")).await?;
    assert_eq!(error(&answer).0, ErrorKind::NotInRoom);
    let answer = ann
        .request(
            next_id(),
            ClientMsg::History {
                room: "lobby".into(),
                anchor: Anchor::Latest,
                limit: 10,
                presence: false,
            },
        )
        .await?;
    assert_eq!(
        error(&answer),
        (ErrorKind::NotInRoom, "you are not in the room lobby")
    );
    // The other room's history is allowed.
    let p = page(&mut ann, "other", Anchor::Latest, 10, true).await?;
    assert_eq!(p.room, "other");
    // Nothing of the lobby reaches ann any more.
    bob.say("after the part").await?;
    old.recv_until(|m| says(m, "after the part")).await?;
    let seen = before_pong(&mut ann, 5).await?;
    assert!(seen.is_empty(), "{seen:?}");
    // A part without a reason is told as "part"; the last room parted leaves ann in none.
    let part = in_room(
        "other",
        RoomRequest::Part {
            reason: String::new(),
        },
    );
    let answer = ann.request(next_id(), part).await?;
    assert!(matches!(answer, ServerMsg::Parted { ref reason, .. } if reason == "part"));
    let answer = ann
        .request(next_id(), ClientMsg::Chat { text: "x".into() })
        .await?;
    assert_eq!(
        error(&answer),
        (ErrorKind::NotInRoom, "you are in no room; join one first")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_told_to_members_with_the_feature_and_kept_across_a_restart() -> Result {
    let data = tempfile::tempdir()?;
    let (addr, server_handle) = server(&data).await;
    let mut ann = with_rooms(addr, "ann", "lobby").await?;
    let mut bob = with_rooms(addr, "bob", "lobby").await?;
    let mut mid = TestClient::connect(addr, "mid", "lobby").await?;
    let mut old = TestClient::connect_v3(addr, "old", "lobby").await?;
    let set = |text: &str| {
        in_room(
            "LOBBY",
            RoomRequest::SetTopic {
                text: text.to_owned(),
            },
        )
    };
    let answer = ann.request(next_id(), set("plans for friday")).await?;
    let ServerMsg::Topic {
        room,
        text,
        by,
        time_ms,
    } = answer
    else {
        panic!("{answer:?}");
    };
    assert_eq!(
        (room.as_str(), text.as_str(), by.as_str()),
        ("lobby", "plans for friday", "ann")
    );
    assert!(time_ms > 0);
    let got = bob
        .recv_until(|m| matches!(m, ServerMsg::Topic { .. }))
        .await?;
    assert!(matches!(got, ServerMsg::Topic { ref by, .. } if by == "ann"));
    // Members without the feature get nothing but the room's joins.
    for client in [&mut mid, &mut old] {
        let seen = before_pong(client, 1).await?;
        assert!(seen.iter().all(|m| notice(m).is_some()), "{seen:?}");
    }

    // Too long: refused, and the topic stays.
    let answer = ann
        .request(next_id(), set(&"x".repeat(MAX_TOPIC_BYTES + 1)))
        .await?;
    assert_eq!(
        error(&answer),
        (
            ErrorKind::TextTooLong,
            "the topic is 513 bytes, more than the 512 allowed"
        )
    );
    // Seen on entering: after the welcome, and after Joined4.
    let mut cy = TestClient::connect_raw(addr).await?;
    cy.send(ClientMsg::Hello4 {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        features: vec![FEATURE_ROOMS.into()],
        nick: "cy".into(),
        room: "lobby".into(),
    })
    .await?;
    assert!(matches!(cy.recv().await?, ServerMsg::Welcome4 { .. }));
    assert!(
        matches!(cy.recv().await?, ServerMsg::Topic { ref text, .. } if text == "plans for friday")
    );
    let mut dee = with_rooms(addr, "dee", "elsewhere").await?;
    let id = next_id();
    dee.send(
        ClientMsg::Join {
            room: "lobby".into(),
        }
        .with_id(id),
    )
    .await?;
    assert!(matches!(dee.recv().await?, ServerMsg::Reply { id: got, .. } if got == id));
    let topic = dee.recv().await?;
    assert!(
        matches!(topic, ServerMsg::Topic { ref text, .. } if text == "plans for friday"),
        "{topic:?}"
    );

    // Kept across a restart (history is on).
    drop((ann, bob, mid, old, cy, dee));
    server_handle.shutdown().await?;
    let (addr, server_handle) = server(&data).await;
    let mut eve = TestClient::connect_raw(addr).await?;
    eve.send(ClientMsg::Hello4 {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        features: vec![FEATURE_ROOMS.into()],
        nick: "eve".into(),
        room: "Lobby".into(),
    })
    .await?;
    assert!(matches!(eve.recv().await?, ServerMsg::Welcome4 { .. }));
    let topic = eve.recv().await?;
    assert!(
        matches!(&topic, ServerMsg::Topic { text, by, time_ms: t, .. } if text == "plans for friday" && by == "ann" && *t == time_ms),
        "{topic:?}"
    );
    // Cleared: told as empty, and no topic for whoever comes next, even after a restart.
    let answer = eve
        .request(
            next_id(),
            in_room(
                "lobby",
                RoomRequest::SetTopic {
                    text: String::new(),
                },
            ),
        )
        .await?;
    assert!(matches!(answer, ServerMsg::Topic { ref text, .. } if text.is_empty()));
    drop(eve);
    server_handle.shutdown().await?;
    let (addr, _server) = server(&data).await;
    let mut fay = with_rooms(addr, "fay", "lobby").await?;
    assert!(before_pong(&mut fay, 1).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_texts_answer_private_messages_and_go_with_the_connection() -> Result {
    let data = tempfile::tempdir()?;
    let (addr, _server) = server(&data).await;
    let mut ann = with_rooms(addr, "ann", "lobby").await?;
    let mut bob = with_rooms(addr, "bob", "lobby").await?;
    let mut old = TestClient::connect_v3(addr, "old", "lobby").await?;
    let answer = ann
        .request(
            next_id(),
            ClientMsg::Away {
                text: "at lunch".into(),
            },
        )
        .await?;
    assert_eq!(
        answer,
        ServerMsg::Away {
            nick: "ann".into(),
            text: "at lunch".into()
        }
    );
    let answer = ann
        .request(
            next_id(),
            ClientMsg::Away {
                text: "z".repeat(257),
            },
        )
        .await?;
    assert_eq!(error(&answer).0, ErrorKind::TextTooLong);
    // A private message to an away nick: the echo, then the away text.
    let private = ClientMsg::Private {
        to: "ANN".into(),
        text: "there?".into(),
    };
    let echo = bob.request(next_id(), private.clone()).await?;
    assert!(matches!(echo, ServerMsg::Private { .. }), "{echo:?}");
    let away = bob.recv().await?;
    assert_eq!(
        away,
        ServerMsg::Away {
            nick: "ann".into(),
            text: "at lunch".into()
        }
    );
    // A sender without the feature gets the echo alone.
    old.send(private.clone()).await?;
    let seen = before_pong(&mut old, 2).await?;
    assert!(matches!(&seen[..], [ServerMsg::Private { .. }]), "{seen:?}");
    // Listed with the members.
    let members = bob.request(next_id(), ClientMsg::Who).await?;
    let ServerMsg::RoomMembers { members, .. } = members else {
        panic!("{members:?}");
    };
    let listed: Vec<(&str, &str)> = members
        .iter()
        .map(|m| (m.nick.as_str(), m.away.as_str()))
        .collect();
    assert_eq!(listed, [("ann", "at lunch"), ("bob", ""), ("old", "")]);
    // Gone with the connection: the same nick, connected again, is not away.
    drop(ann);
    bob.recv_until(|m| left(m, "ann", |_| true)).await?;
    let _ann = with_rooms(addr, "ann", "lobby").await?;
    bob.request(next_id(), private).await?;
    assert!(
        before_pong(&mut bob, 3)
            .await?
            .iter()
            .all(|m| !matches!(m, ServerMsg::Away { .. }))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_and_a_quit_are_told_once_in_every_room() -> Result {
    let data = tempfile::tempdir()?;
    let (addr, _server) = server(&data).await;
    let mut ann = with_rooms(addr, "ann", "one").await?;
    join(&mut ann, "two").await?;
    join(&mut ann, "three").await?;
    let mut bob = with_rooms(addr, "bob", "one").await?;
    join(&mut bob, "two").await?;
    let mut old = TestClient::connect_v3(addr, "old", "three").await?;
    let mut far = TestClient::connect(addr, "far", "four").await?;
    ann.request(
        next_id(),
        ClientMsg::Nick {
            nick: "anna".into(),
        },
    )
    .await?;
    ann.send(ClientMsg::Quit {
        reason: "bye".into(),
    })
    .await?;
    let events = |seen: Vec<ServerMsg>| -> Vec<String> {
        seen.iter()
            .filter_map(notice)
            .map(|(room, event)| match event {
                RoomEvent::Renamed { old, new } => format!("{room}: {old} is {new}"),
                RoomEvent::Left { nick, reason } => format!("{room}: {nick} left, {reason}"),
                other => format!("{room}: {other:?}"),
            })
            .collect()
    };
    let seen = bob
        .collect_until(|m| left(m, "anna", |_| true) && notice(m).unwrap().0 == "two")
        .await?;
    let seen = events(seen);
    let seen: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|e| !e.contains("bob"))
        .collect();
    assert_eq!(
        seen,
        [
            "one: ann is anna",
            "two: ann is anna",
            "one: anna left, bye",
            "two: anna left, bye"
        ]
    );
    let seen = events(old.collect_until(|m| left(m, "anna", |_| true)).await?);
    assert_eq!(seen, ["three: ann is anna", "three: anna left, bye"]);
    assert!(before_pong(&mut bob, 1).await?.is_empty());
    assert!(before_pong(&mut far, 1).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_of_any_joined_room_are_offered_and_downloaded() -> Result {
    let data = tempfile::tempdir()?;
    let local = tempfile::tempdir()?;
    let (addr, _server) = server(&data).await;
    let mut ann = with_rooms(addr, "ann", "files").await?;
    join(&mut ann, "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "files").await?;
    let mut cy = TestClient::connect(addr, "cy", "lobby").await?;
    // Offered in "files" while ann's current room is the lobby.
    let (path, _) = random_file(local.path(), "notes.bin", 100_000, 7)?;
    let size = std::fs::metadata(&path)?.len();
    let start = in_room(
        "files",
        RoomRequest::UploadStart {
            name: "notes.bin".into(),
            size,
        },
    );
    let ServerMsg::UploadReady { upload_id, .. } = ann.request(next_id(), start).await? else {
        panic!("upload refused");
    };
    send_chunks(&mut ann, upload_id, &path, 0, size, |_, _| {}).await?;
    let file_id = finish_upload(&mut ann, upload_id, &sha256_of(&path)?)
        .await?
        .expect("stored");
    let offer = bob.recv_until(|m| offered(m).is_some()).await?;
    assert_eq!(offered(&offer).unwrap().room, "files");
    assert!(
        before_pong(&mut cy, 1)
            .await?
            .iter()
            .all(|m| offered(m).is_none())
    );
    let files = ann
        .request(next_id(), in_room("files", RoomRequest::ListFiles))
        .await?;
    assert!(
        matches!(&files, ServerMsg::Files { room, files } if room == "files" && files.len() == 1)
    );
    let files = ann.request(next_id(), ClientMsg::ListFiles).await?;
    assert!(
        matches!(&files, ServerMsg::Files { room, files } if room == "lobby" && files.is_empty())
    );

    // Downloaded by ann from the lobby (a room-less request): the file is of one of its
    // rooms. Cy, in the lobby alone, does not find it.
    let mut copy = std::fs::File::create(local.path().join("copy"))?;
    let (file, got) = tests::files::download(&mut ann, file_id, 0, &mut copy).await?;
    assert_eq!((file.room.as_str(), got), ("files", size));
    assert_eq!(sha256_of(&local.path().join("copy"))?, sha256_of(&path)?);
    cy.send(ClientMsg::Download { file_id, offset: 0 }).await?;
    let refused = cy
        .recv_until(|m| matches!(m, ServerMsg::DownloadFailed { .. }))
        .await?;
    assert!(
        matches!(refused, ServerMsg::DownloadFailed { kind: ErrorKind::NoSuchFile, ref text, .. } if text == &format!("no file {file_id} in #lobby"))
    );
    // Once ann parts "files", neither does she.
    ann.request(
        next_id(),
        in_room(
            "files",
            RoomRequest::Part {
                reason: String::new(),
            },
        ),
    )
    .await?;
    ann.send(ClientMsg::Download { file_id, offset: 0 }).await?;
    let refused = ann
        .recv_until(|m| matches!(m, ServerMsg::DownloadFailed { .. }))
        .await?;
    assert!(
        matches!(refused, ServerMsg::DownloadFailed { kind: ErrorKind::NoSuchFile, ref text, .. } if text == &format!("no file {file_id} in the rooms you are in"))
    );
    Ok(())
}

/// A version 3 client and a version 4 client without the feature, in a room with a client
/// that has it, get byte for byte the frames they would get from a server without the
/// feature: the room's messages in their shapes, nothing of topics, away texts, or the
/// other rooms the client with the feature is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_the_feature_get_exactly_the_frames_they_got_before() -> Result {
    let data = tempfile::tempdir()?;
    let (addr, _server) = server(&data).await;
    let mut ann = with_rooms(addr, "ann", "lobby").await?;
    // Raw sockets: the bytes are the point.
    let decode = |frame: &[u8]| shared::codec::decode_payload::<ServerMsg>(&frame[4..]);
    let mut old = TcpStream::connect(addr).await?;
    old.write_all(&tests::client::encode(tests::client::hello_v3(
        "old", "lobby",
    )))
    .await?;
    let old_welcome = decode(&read_raw_frame(&mut old).await?)?;
    assert!(
        matches!(old_welcome, ServerMsg::Welcome { .. }),
        "{old_welcome:?}"
    );
    let mut mid = TcpStream::connect(addr).await?;
    mid.write_all(&tests::client::encode(tests::client::hello("mid", "lobby")))
        .await?;
    let mid_welcome = decode(&read_raw_frame(&mut mid).await?)?;
    assert!(
        matches!(mid_welcome, ServerMsg::Welcome4 { .. }),
        "{mid_welcome:?}"
    );
    ann.recv_until(|m| joined(m, "mid")).await?;
    // The joins the old client saw of mid.
    let mid_joined = read_raw_frame(&mut old).await?;
    assert!(matches!(
        decode(&mid_joined)?,
        ServerMsg::Notice { event: RoomEvent::Joined { ref nick }, .. } if nick == "mid"
    ));

    // What ann does that the others must not see: a topic, away, another room and talk
    // there.
    ann.request(
        next_id(),
        in_room("lobby", RoomRequest::SetTopic { text: "t".into() }),
    )
    .await?;
    ann.request(
        next_id(),
        ClientMsg::Away {
            text: "away".into(),
        },
    )
    .await?;
    join(&mut ann, "elsewhere").await?;
    ann.send(chat("elsewhere", "not for the lobby")).await?;
    ann.recv_until(|m| says(m, "not for the lobby")).await?;
    // What they must see, as before: a line in the lobby, then ann's part.
    ann.send(chat("lobby", "hello lobby")).await?;
    let echo = ann.recv_until(|m| says(m, "hello lobby")).await?;
    let ServerMsg::Room {
        id, seq, time_ms, ..
    } = echo
    else {
        panic!("{echo:?}");
    };
    let part = in_room(
        "lobby",
        RoomRequest::Part {
            reason: "done".into(),
        },
    );
    ann.request(next_id(), part).await?;
    let frame = |m: &ServerMsg| encode_frame(m).expect("encodes").to_vec();
    let said_v3 = ServerMsg::Chat {
        id,
        time_ms,
        room: "lobby".into(),
        from: "ann".into(),
        kind: shared::ChatKind::Say,
        text: "hello lobby".into(),
    };
    assert_eq!(read_raw_frame(&mut old).await?, frame(&said_v3));
    let said_v4 = ServerMsg::Room {
        id,
        seq,
        time_ms,
        room: "lobby".into(),
        event: RoomEvent::Said {
            from: "ann".into(),
            kind: shared::ChatKind::Say,
            text: "hello lobby".into(),
        },
    };
    assert_eq!(read_raw_frame(&mut mid).await?, frame(&said_v4));
    let left_v4 = read_raw_frame(&mut mid).await?;
    let ServerMsg::Room {
        id,
        seq: left_seq,
        time_ms,
        ..
    } = decode(&left_v4)?
    else {
        panic!("a room message");
    };
    assert_eq!(left_seq, seq + 1, "nothing else was numbered in the lobby");
    let event = RoomEvent::Left {
        nick: "ann".into(),
        reason: "done".into(),
    };
    let expected = ServerMsg::Room {
        id,
        seq: left_seq,
        time_ms,
        room: "lobby".into(),
        event: event.clone(),
    };
    assert_eq!(left_v4, frame(&expected));
    let expected = ServerMsg::Notice {
        time_ms,
        room: "lobby".into(),
        event,
    };
    assert_eq!(read_raw_frame(&mut old).await?, frame(&expected));
    // And nothing else: the next frame each gets is the answer to its ping.
    for socket in [&mut old, &mut mid] {
        socket
            .write_all(&tests::client::encode(ClientMsg::Ping { token: 9 }))
            .await?;
        let pong = read_raw_frame(socket).await?;
        assert_eq!(pong, frame(&ServerMsg::Pong { token: 9 }));
    }
    Ok(())
}
