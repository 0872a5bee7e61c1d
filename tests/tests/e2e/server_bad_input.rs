//! Raw sockets that send what no client should. Each is disconnected cleanly (with an
//! error frame where the connection still allows one), while two other clients keep
//! chatting and never see a ghost member.

use std::time::Duration;

use chat_server::Config;
use shared::limits::MAX_FRAME_LEN;
use shared::{ClientMsg, ErrorKind, ServerMsg};
use tests::client::{
    TestClient, chat_during_seen, encode, hello, joined, left, raw_frame, said, says, start_server,
    until_closed,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

type Result = anyhow::Result<()>;

/// Short keepalive, so that a half-sent frame times out within the test.
fn config() -> Config {
    Config {
        ping_interval: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(800),
        ..Config::default()
    }
}

/// What a bad client sends, and how the server must answer.
struct Case {
    name: &'static str,
    /// Log in as this nick first, so that the room must also be told it left.
    login: Option<&'static str>,
    bytes: Vec<u8>,
    /// Close our sending side after the bytes.
    then_close: bool,
    /// The error frame expected last before the close.
    error: ErrorKind,
    /// The reason the room is told.
    reason: &'static str,
}

/// Sends the case's bytes from a raw socket while `a` and `b` chat, then checks the
/// socket's last frame is the expected error followed by the close, that the room was
/// told, and that only `a` and `b` remain.
async fn check(case: Case) -> Result {
    let (addr, server) = start_server(config()).await;
    let mut a = TestClient::connect(addr, "ann", "lobby").await?;
    let mut b = TestClient::connect(addr, "bob", "lobby").await?;

    let mut stream = TcpStream::connect(addr).await?;
    if let Some(nick) = case.login {
        stream.write_all(&encode(hello(nick, "lobby"))).await?;
        a.recv_until(|m| joined(m, nick)).await?;
    }
    let bad = async {
        stream.write_all(&case.bytes).await?;
        if case.then_close {
            stream.shutdown().await?;
        }
        until_closed(stream).await
    };
    let (seen, rounds, seen_by_b) = chat_during_seen(&mut a, &mut b, bad).await?;
    let seen = seen?;
    assert!(rounds >= 1, "{}: the others chatted meanwhile", case.name);
    let last = seen.last();
    assert!(
        matches!(last, Some(ServerMsg::Error { kind, .. }) if *kind == case.error),
        "{}: expected a {:?} error last, got {seen:?}",
        case.name,
        case.error
    );
    // Words for a person: no debug formatting, no protocol detail.
    if let Some(ServerMsg::Error { text, .. }) = last {
        for detail in ["{", "::", "frame", "Unexpected", "Decode", "`"] {
            assert!(!text.contains(detail), "{}: {text:?}", case.name);
        }
    }
    if let Some(nick) = case.login {
        let told = |m: &ServerMsg| left(m, nick, |reason| reason == case.reason);
        // `a` only spoke meanwhile; `b`, which read, may have been told already.
        a.recv_until(told).await?;
        if !seen_by_b.iter().any(told) {
            b.recv_until(told).await?;
        }
    }
    // No ghost: the room is exactly the two who behaved, and they still talk.
    assert_eq!(a.who().await?, ["ann", "bob"], "{}", case.name);
    assert_eq!(b.who().await?, ["ann", "bob"], "{}", case.name);
    b.say("still here").await?;
    a.recv_until(|m| says(m, "still here")).await?;
    // The nick of a bad client that had logged in is free again.
    if let Some(nick) = case.login {
        TestClient::connect(addr, nick, "lobby").await?;
    }
    server.shutdown().await
}

fn header(len: u32) -> Vec<u8> {
    len.to_be_bytes().to_vec()
}

#[tokio::test]
async fn a_header_announcing_4_gib_is_refused_before_anything_is_read() -> Result {
    for login in [None, Some("mallory")] {
        check(Case {
            name: "4 GiB header",
            login,
            bytes: header(u32::MAX),
            then_close: false,
            error: ErrorKind::FrameTooLarge,
            reason: "sent a message too large",
        })
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_header_one_byte_over_the_maximum_is_refused() -> Result {
    let over = u32::try_from(MAX_FRAME_LEN + 1).unwrap();
    check(Case {
        name: "one byte over",
        login: Some("mallory"),
        bytes: header(over),
        then_close: false,
        error: ErrorKind::FrameTooLarge,
        reason: "sent a message too large",
    })
    .await
}

#[tokio::test]
async fn garbage_is_refused() -> Result {
    // Text where a header should be reads as a length of about a gigabyte.
    check(Case {
        name: "an HTTP request",
        login: None,
        bytes: b"GET / HTTP/1.1\r\nHost: chat\r\n\r\n".to_vec(),
        then_close: false,
        error: ErrorKind::FrameTooLarge,
        reason: "sent a message too large",
    })
    .await?;
    // A sane length with noise inside.
    check(Case {
        name: "noise in a frame",
        login: Some("mallory"),
        bytes: raw_frame(&[0xFF; 16]),
        then_close: false,
        error: ErrorKind::MalformedFrame,
        reason: "sent a malformed message",
    })
    .await?;
    // A valid message with a byte too many.
    let mut payload = encode(ClientMsg::Who)[4..].to_vec();
    payload.push(0);
    check(Case {
        name: "trailing byte",
        login: Some("mallory"),
        bytes: raw_frame(&payload),
        then_close: false,
        error: ErrorKind::MalformedFrame,
        reason: "sent a malformed message",
    })
    .await
}

#[tokio::test]
async fn a_payload_with_a_bad_enum_tag_is_refused() -> Result {
    // Variant index 200 of ClientMsg, which has 21.
    check(Case {
        name: "bad enum tag",
        login: Some("mallory"),
        bytes: raw_frame(&[200]),
        then_close: false,
        error: ErrorKind::MalformedFrame,
        reason: "sent a malformed message",
    })
    .await?;
    // The same before logging in.
    check(Case {
        name: "bad enum tag first",
        login: None,
        bytes: raw_frame(&[200]),
        then_close: false,
        error: ErrorKind::MalformedFrame,
        reason: "sent a malformed message",
    })
    .await
}

#[tokio::test]
async fn half_a_header_then_silence_times_out() -> Result {
    check(Case {
        name: "half a header",
        login: Some("mallory"),
        bytes: vec![0, 0],
        then_close: false,
        error: ErrorKind::Timeout,
        reason: "timed out",
    })
    .await
}

#[tokio::test]
async fn half_a_frame_then_silence_times_out() -> Result {
    let frame = encode(ClientMsg::Chat {
        text: "never finished".into(),
    });
    check(Case {
        name: "half a frame",
        login: Some("mallory"),
        bytes: frame[..frame.len() / 2].to_vec(),
        then_close: false,
        error: ErrorKind::Timeout,
        reason: "timed out",
    })
    .await
}

#[tokio::test]
async fn a_frame_cut_off_by_a_close_is_refused() -> Result {
    let frame = encode(ClientMsg::Chat {
        text: "cut short".into(),
    });
    check(Case {
        name: "cut off",
        login: Some("mallory"),
        bytes: frame[..frame.len() - 3].to_vec(),
        then_close: true,
        error: ErrorKind::MalformedFrame,
        reason: "connection lost",
    })
    .await
}

#[tokio::test]
async fn a_chat_before_the_hello_is_refused_and_never_broadcast() -> Result {
    let (addr, server) = start_server(config()).await;
    let mut a = TestClient::connect(addr, "ann", "lobby").await?;
    let mut b = TestClient::connect(addr, "bob", "lobby").await?;
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(&encode(ClientMsg::Chat {
            text: "i am ann".into(),
        }))
        .await?;
    let seen = until_closed(stream).await?;
    assert!(
        matches!(
            seen.as_slice(),
            [ServerMsg::Error {
                kind: ErrorKind::NotLoggedIn,
                ..
            }]
        ),
        "{seen:?}"
    );
    b.say("after").await?;
    // The first chat ann sees is bob's: the impostor's never went out.
    let first = a.recv_until(|m| said(m).is_some()).await?;
    assert!(said(&first).is_some_and(|s| s.from == "bob" && s.text == "after"));
    assert_eq!(a.who().await?, ["ann", "bob"]);
    server.shutdown().await
}

#[tokio::test]
async fn a_connection_that_never_says_hello_is_dropped() -> Result {
    let (addr, server) = start_server(Config {
        handshake_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    let stream = TcpStream::connect(addr).await?;
    let seen = until_closed(stream).await?;
    assert!(
        matches!(
            seen.as_slice(),
            [ServerMsg::Error {
                kind: ErrorKind::Timeout,
                ..
            }]
        ),
        "{seen:?}"
    );
    server.shutdown().await
}
