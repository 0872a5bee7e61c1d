//! Chatting through a real server: rooms, stamps, notices, nicks, private messages.

use std::time::{SystemTime, UNIX_EPOCH};

use chat_server::Config;
use shared::limits::MAX_TEXT_BYTES;
use shared::{ChatKind, ClientMsg, ErrorKind, MemberPage, RoomEvent, ServerMsg};
use tests::client::{TestClient, hello, joined, left, notice, said, says, start_server};

type Result = anyhow::Result<()>;

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

fn is_chat(msg: &ServerMsg) -> bool {
    said(msg).is_some()
}

fn is_error(kind: ErrorKind) -> impl Fn(&ServerMsg) -> bool {
    move |m| matches!(m, ServerMsg::Error { kind: k, .. } if *k == kind)
}

fn is_joined(who: &str) -> impl Fn(&ServerMsg) -> bool + '_ {
    move |m| joined(m, who)
}

fn is_left<'a>(who: &'a str, why: &'a str) -> impl Fn(&ServerMsg) -> bool + 'a {
    move |m| left(m, who, |reason| reason == why)
}

fn page(names: &[&str]) -> MemberPage {
    MemberPage {
        total: names.len() as u32,
        names: names.iter().map(|n| n.to_string()).collect(),
        more: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_clients_see_the_same_stamped_messages_in_the_same_order() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut a = TestClient::connect(addr, "ann", "lobby").await?;
    let mut b = TestClient::connect(addr, "bob", "lobby").await?;
    let c = TestClient::connect(addr, "cy", "lobby").await?;
    assert_eq!(a.members, ["ann"]);
    assert_eq!(b.members, ["ann", "bob"]);
    assert_eq!(c.members, ["ann", "bob", "cy"]);
    a.recv_until(is_joined("bob")).await?;
    a.recv_until(is_joined("cy")).await?;
    b.recv_until(is_joined("cy")).await?;

    // All three talk at once; each must see all messages, in one order shared by all.
    const EACH: usize = 50;
    let started = now_ms();
    let talk = |mut client: TestClient| {
        tokio::spawn(async move {
            for i in 0..EACH {
                let text = format!("{} {i}", client.nick);
                if i % 10 == 9 {
                    client.send(ClientMsg::Action { text }).await?;
                } else {
                    client.say(&text).await?;
                }
            }
            let mut seen = Vec::new();
            while seen.len() < 3 * EACH {
                seen.push(client.recv_until(is_chat).await?);
            }
            anyhow::Ok(seen)
        })
    };
    let (a, b, c) = (talk(a), talk(b), talk(c));
    let (a, b, c) = (a.await??, b.await??, c.await??);
    let finished = now_ms();

    assert_eq!(a, b, "ann and bob saw different sequences");
    assert_eq!(a, c, "ann and cy saw different sequences");
    let mut last_id = 0;
    let mut last_seq = None;
    let mut next_from_each = std::collections::HashMap::new();
    for msg in &a {
        let (Some(line), ServerMsg::Room { time_ms, .. }) = (said(msg), msg) else {
            unreachable!("only room messages were collected: {msg:?}");
        };
        assert!(
            line.id > last_id,
            "ids must increase: {} after {last_id}",
            line.id
        );
        last_id = line.id;
        // Nothing but these chats happened in the room meanwhile: no gap.
        let seq = line.seq.expect("a version 4 room message");
        assert!(
            last_seq.is_none_or(|last| seq == last + 1),
            "{seq} after {last_seq:?}"
        );
        last_seq = Some(seq);
        assert!((started..=finished).contains(time_ms), "time {time_ms}");
        assert_eq!(line.room, "lobby");
        // The server's `from` is the sender's nick, and each sender's messages keep
        // their own order.
        let i = next_from_each.entry(line.from.to_owned()).or_insert(0usize);
        assert_eq!(line.text, format!("{} {i}", line.from));
        let expected_kind = if *i % 10 == 9 {
            ChatKind::Action
        } else {
            ChatKind::Say
        };
        assert_eq!(line.kind, expected_kind);
        *i += 1;
    }
    assert_eq!(next_from_each.len(), 3);
    server.shutdown().await
}

#[tokio::test]
async fn members_hear_joins_renames_and_departures() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut a = TestClient::connect(addr, "ann", "lobby").await?;
    let mut b = TestClient::connect(addr, "bob", "").await?;
    assert_eq!(b.room, "lobby", "an empty room means the default room");
    a.recv_until(is_joined("bob")).await?;

    // A rename is answered to the renamer and told to the others.
    b.send(ClientMsg::Nick {
        nick: "robert".into(),
    })
    .await?;
    // The renamer hears its rename too (a version 4 client would see a gap otherwise),
    // then gets the answer.
    let seen = b
        .collect_until(|m| matches!(m, ServerMsg::NickChanged { .. }))
        .await?;
    assert!(
        matches!(notice(&seen[0]), Some((_, RoomEvent::Renamed { old, new })) if old == "bob" && new == "robert"),
        "{seen:?}"
    );
    assert_eq!(
        seen[1..],
        [ServerMsg::NickChanged {
            nick: "robert".into()
        }]
    );
    let renamed = a.recv_until(|m| notice(m).is_some()).await?;
    assert!(matches!(
        notice(&renamed),
        Some((room, RoomEvent::Renamed { old, new }))
            if old == "bob" && new == "robert" && room == "lobby"
    ));

    // Someone else's nick, in any case, is refused; the connection stays.
    b.send(ClientMsg::Nick { nick: "ANN".into() }).await?;
    b.recv_until(is_error(ErrorKind::NickTaken)).await?;
    // Changing the case of one's own nick is fine.
    b.send(ClientMsg::Nick {
        nick: "Robert".into(),
    })
    .await?;
    b.recv_until(|m| matches!(m, ServerMsg::NickChanged { nick } if nick == "Robert"))
        .await?;
    // An invalid nick is refused; the connection stays.
    b.send(ClientMsg::Nick {
        nick: "rob\u{200B}".into(),
    })
    .await?;
    b.recv_until(is_error(ErrorKind::InvalidNick)).await?;

    // Quit with a reason: the room is told the reason, the connection closes.
    let mut c = TestClient::connect(addr, "cy", "lobby").await?;
    a.recv_until(is_joined("cy")).await?;
    c.send(ClientMsg::Quit {
        reason: "off to lunch".into(),
    })
    .await?;
    c.until_closed().await?;
    a.recv_until(is_left("cy", "off to lunch")).await?;
    b.recv_until(is_left("cy", "off to lunch")).await?;

    // Dropping the connection is a departure too.
    drop(b);
    a.recv_until(is_left("Robert", "connection closed")).await?;
    assert_eq!(a.who().await?, ["ann"]);
    server.shutdown().await
}

#[tokio::test]
async fn a_taken_nick_is_refused_whatever_its_case_and_freed_on_leaving() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut watcher = TestClient::connect(addr, "watcher", "lobby").await?;
    let mut neighbour = TestClient::connect(addr, "neighbour", "elsewhere").await?;
    let alice = TestClient::connect(addr, "Alice", "elsewhere").await?;

    let mut twin = TestClient::connect_raw(addr).await?;
    twin.send(hello("aLiCe", "lobby")).await?;
    let refused = twin.until_closed().await?;
    assert!(
        matches!(refused.as_slice(), [ServerMsg::Error { kind: ErrorKind::NickTaken, text }]
            if text.contains("aLiCe")),
        "{refused:?}"
    );
    // The refused twin never entered the room.
    assert_eq!(watcher.who().await?, ["watcher"]);

    drop(alice);
    // Her room is told she left once her nick is free again.
    neighbour
        .recv_until(is_left("Alice", "connection closed"))
        .await?;
    let again = TestClient::connect(addr, "alice", "lobby").await?;
    assert_eq!(again.nick, "alice");
    assert_eq!(neighbour.who().await?, ["neighbour"]);
    server.shutdown().await
}

#[tokio::test]
async fn a_private_message_reaches_only_its_target_and_its_sender() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut a = TestClient::connect(addr, "ann", "lobby").await?;
    let mut b = TestClient::connect(addr, "bob", "lobby").await?;
    let mut c = TestClient::connect(addr, "cy", "lobby").await?;
    let mut d = TestClient::connect(addr, "Dee", "den").await?;

    a.send(ClientMsg::Private {
        to: "dEE".into(),
        text: "psst".into(),
    })
    .await?;
    let got = d
        .recv_until(|m| matches!(m, ServerMsg::Private { .. }))
        .await?;
    let echo = a
        .recv_until(|m| matches!(m, ServerMsg::Private { .. }))
        .await?;
    assert_eq!(got, echo, "the echo is the same stamped message");
    let ServerMsg::Private { from, to, text, .. } = got else {
        unreachable!()
    };
    assert_eq!(
        (from.as_str(), to.as_str(), text.as_str()),
        ("ann", "Dee", "psst")
    );

    // The private message was queued before these answers, so it would show up here.
    for other in [&mut b, &mut c] {
        other.send(ClientMsg::Who).await?;
        let seen = other
            .collect_until(|m| matches!(m, ServerMsg::Members4 { .. }))
            .await?;
        assert!(
            !seen.iter().any(|m| matches!(m, ServerMsg::Private { .. })),
            "{}: {seen:?}",
            other.nick
        );
    }

    a.send(ClientMsg::Private {
        to: "nobody".into(),
        text: "hello?".into(),
    })
    .await?;
    a.recv_until(is_error(ErrorKind::NoSuchNick)).await?;
    server.shutdown().await
}

#[tokio::test]
async fn moving_to_another_room_tells_both_rooms_and_keeps_messages_apart() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut a = TestClient::connect(addr, "ann", "lobby").await?;
    let mut b = TestClient::connect(addr, "bob", "lobby").await?;
    let mut c = TestClient::connect(addr, "cy", "lobby").await?;
    a.recv_until(is_joined("cy")).await?;
    b.recv_until(is_joined("cy")).await?;

    c.send(ClientMsg::Join { room: "Dev".into() }).await?;
    let ServerMsg::Joined4 { room, members, .. } = c
        .recv_until(|m| matches!(m, ServerMsg::Joined4 { .. }))
        .await?
    else {
        unreachable!()
    };
    assert_eq!((room.as_str(), members), ("Dev", page(&["cy"])));
    a.recv_until(is_left("cy", "moved to Dev")).await?;
    b.recv_until(is_left("cy", "moved to Dev")).await?;

    // Room names compare case-insensitively and keep their first spelling.
    a.send(ClientMsg::Join { room: "dev".into() }).await?;
    let ServerMsg::Joined4 { room, members, .. } = a
        .recv_until(|m| matches!(m, ServerMsg::Joined4 { .. }))
        .await?
    else {
        unreachable!()
    };
    assert_eq!((room.as_str(), members), ("Dev", page(&["ann", "cy"])));
    c.recv_until(is_joined("ann")).await?;
    b.recv_until(is_left("ann", "moved to Dev")).await?;

    b.say("lobby only").await?;
    a.say("dev only").await?;
    let in_dev = c.recv_until(is_chat).await?;
    assert!(said(&in_dev).is_some_and(|s| s.room == "Dev" && s.text == "dev only"));
    let in_lobby = b.recv_until(is_chat).await?;
    assert!(said(&in_lobby).is_some_and(|s| s.room == "lobby" && s.text == "lobby only"));

    // Neither room heard the other: the next chat each sees is its own room's.
    b.say("lobby again").await?;
    let seen = b.recv_until(is_chat).await?;
    assert!(says(&seen, "lobby again"));
    let seen = a.collect_until(|m| says(m, "dev only")).await?;
    assert!(
        !seen
            .iter()
            .any(|m| said(m).is_some_and(|s| s.room == "lobby"))
    );
    assert_eq!(b.who().await?, ["bob"]);
    assert_eq!(c.who().await?, ["ann", "cy"]);

    // Joining an invalid room is refused and changes nothing.
    c.send(ClientMsg::Join {
        room: "bad room".into(),
    })
    .await?;
    c.recv_until(is_error(ErrorKind::InvalidRoom)).await?;
    assert_eq!(c.who().await?, ["ann", "cy"]);
    server.shutdown().await
}

#[tokio::test]
async fn who_ping_and_refusals_that_keep_the_connection() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut zed = TestClient::connect(addr, "zed", "lobby").await?;
    let mut amy = TestClient::connect(addr, "Amy", "lobby").await?;
    let _bo = TestClient::connect(addr, "bo", "lobby").await?;
    // Sorted case-insensitively.
    assert_eq!(zed.who().await?, ["Amy", "bo", "zed"]);

    amy.send(ClientMsg::Ping { token: 42 }).await?;
    assert_eq!(
        amy.recv_until(|m| matches!(m, ServerMsg::Pong { .. }))
            .await?,
        ServerMsg::Pong { token: 42 }
    );

    // Too long a text is refused; the connection stays.
    amy.say(&"x".repeat(MAX_TEXT_BYTES + 1)).await?;
    amy.recv_until(is_error(ErrorKind::TextTooLong)).await?;
    // Empty texts are ignored: the next chat anyone sees is the one after.
    amy.say("").await?;
    amy.say(&"y".repeat(MAX_TEXT_BYTES)).await?;
    let next = zed.recv_until(is_chat).await?;
    assert!(said(&next).is_some_and(|s| s.text.len() == MAX_TEXT_BYTES));

    // A second hello is refused; the connection stays.
    amy.send(hello("other", "lobby")).await?;
    amy.recv_until(is_error(ErrorKind::AlreadyLoggedIn)).await?;
    amy.send(ClientMsg::Ping { token: 7 }).await?;
    amy.recv_until(|m| *m == ServerMsg::Pong { token: 7 })
        .await?;
    server.shutdown().await
}

#[tokio::test]
async fn handshake_refusals_close_the_connection_with_a_reason() -> Result {
    let (addr, server) = start_server(Config::default()).await;
    let mut watcher = TestClient::connect(addr, "watcher", "lobby").await?;

    let refusals = [
        (
            ClientMsg::Hello4 {
                min_version: shared::PROTOCOL_VERSION + 1,
                max_version: shared::PROTOCOL_VERSION + 2,
                features: vec![],
                nick: "future".into(),
                room: "lobby".into(),
            },
            ErrorKind::VersionMismatch,
        ),
        (hello("two words", "lobby"), ErrorKind::InvalidNick),
        (hello("", "lobby"), ErrorKind::InvalidNick),
        (hello("bob\u{202E}", "lobby"), ErrorKind::InvalidNick),
        (hello(&"n".repeat(33), "lobby"), ErrorKind::InvalidNick),
        (hello("bob", "lob\u{1b}[2Jby"), ErrorKind::InvalidRoom),
        (ClientMsg::Who, ErrorKind::NotLoggedIn),
    ];
    for (msg, kind) in refusals {
        let mut client = TestClient::connect_raw(addr).await?;
        client.send(msg.clone()).await?;
        let seen = client.until_closed().await?;
        assert!(
            matches!(seen.as_slice(), [ServerMsg::Error { kind: k, .. }] if *k == kind),
            "{msg:?}: {seen:?}"
        );
        if kind == ErrorKind::VersionMismatch {
            let ServerMsg::Error { text, .. } = &seen[0] else {
                unreachable!()
            };
            assert_eq!(
                text,
                "this server speaks protocol 3 to 4, the client 5 to 6"
            );
        }
    }
    // Nobody refused ever showed up in the room, not even for a moment.
    watcher.send(ClientMsg::Who).await?;
    let seen = watcher
        .collect_until(|m| matches!(m, ServerMsg::Members4 { .. }))
        .await?;
    assert_eq!(
        seen,
        [ServerMsg::Members4 {
            room: "lobby".into(),
            members: page(&["watcher"]),
        }]
    );
    server.shutdown().await
}
