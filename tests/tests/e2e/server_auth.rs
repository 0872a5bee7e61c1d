//! The feature "auth" against a real server on 127.0.0.1, in raw frames: the challenge and
//! the proof of a key bound to the TLS session (a relay in the middle is refused), the
//! server's password and its attempt limit, nicks registered to a key, and an upload that
//! only its owner may resume.

use std::time::Duration;

use chat_server::Config;
use chat_server::auth::Password;
use shared::{ErrorKind, ServerMsg};
use tests::auth::{Answer, ClientKey, plain, tls, tls_relay};
use tests::client::start_tls_server;

type Result = anyhow::Result<()>;

/// Over TLS, a key proved over the session's binding is accepted, and the client is told
/// `Identified` after its welcome; a client without a key is welcomed without it.
#[tokio::test]
async fn a_key_proved_over_tls_is_accepted() -> Result {
    let (addr, fingerprint, server) = start_tls_server(Config::default()).await;
    let key = ClientKey::generate();
    let mut ann = tls(addr, fingerprint).await?;
    assert_eq!(ann.binding.len(), 32, "TLS exports a binding");
    let (nonce, password) = ann.hello("ann", "lobby").await?;
    assert_eq!(nonce.len(), 32);
    assert!(!password, "no password on this server");
    let answer = ann.prove(&nonce, "", Some(&key)).await?;
    assert!(
        matches!(&answer, Answer::Welcome(w) if matches!(w[..], [ServerMsg::Welcome4 { .. }])),
        "{answer:?}"
    );
    let identified = ann
        .recv_until(|m| matches!(m, ServerMsg::Identified { .. }))
        .await?;
    assert_eq!(
        identified,
        ServerMsg::Identified {
            owner: false,
            operator: false
        }
    );
    // Without a key: welcomed, no `Identified`; a ping's answer comes first.
    let mut bob = tls(addr, fingerprint).await?;
    bob.login("bob", "", None).await?;
    bob.send(shared::ClientMsg::Ping { token: 7 }).await?;
    let next = bob
        .recv_until(|m| matches!(m, ServerMsg::Pong { .. } | ServerMsg::Identified { .. }))
        .await?;
    assert_eq!(next, ServerMsg::Pong { token: 7 });
    // Operating needs an operator.
    ann.send(shared::ClientMsg::Operate {
        msg: shared::OperatorRequest::ListBans,
    })
    .await?;
    let refused = ann
        .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
        .await?;
    assert_eq!(
        refused,
        ServerMsg::Error {
            kind: ErrorKind::NotOperator,
            text: "not an operator".into()
        }
    );
    server.shutdown().await
}

/// A proof that does not verify for the server's session is refused: signed over another
/// binding, with another key than the one named, or passed on by a relay that holds a TLS
/// session to each side.
#[tokio::test]
async fn a_proof_over_another_session_is_refused() -> Result {
    let (addr, fingerprint, server) = start_tls_server(Config::default()).await;
    let key = ClientKey::generate();
    let refused = |answer: &Answer| {
        matches!(answer, Answer::Refused(ErrorKind::NotIdentified, text)
            if text.contains("does not verify for this connection"))
    };

    // Another binding.
    let mut ann = tls(addr, fingerprint).await?;
    let (nonce, _) = ann.hello("ann", "lobby").await?;
    let answer = ann.prove_over(&nonce, "", Some(&key), &[9; 32]).await?;
    assert!(refused(&answer), "{answer:?}");
    assert!(ann.closed().await, "closed after the refusal");

    // No binding at all, over TLS.
    let mut ann = tls(addr, fingerprint).await?;
    let (nonce, _) = ann.hello("ann", "lobby").await?;
    let answer = ann.prove_over(&nonce, "", Some(&key), &[]).await?;
    assert!(refused(&answer), "{answer:?}");

    // A relay: the client's session is with the relay (whose key it trusted at first
    // contact), and the binding it signs is that session's.
    let (relay, relay_fp) = tls_relay(addr, fingerprint, 4).await?;
    let mut ann = tls(relay, relay_fp).await?;
    let (nonce, _) = ann.hello("ann", "lobby").await?;
    let answer = ann.prove(&nonce, "", Some(&key)).await?;
    assert!(refused(&answer), "{answer:?}");

    // Through the same relay, a client without a key gets in: the refusal was the proof's.
    let mut bob = tls(relay, relay_fp).await?;
    bob.login("bob", "", None).await?;

    // The right proof still works.
    let mut ann = tls(addr, fingerprint).await?;
    ann.login("ann", "", Some(&key)).await?;
    server.shutdown().await
}

/// Over plain TCP the binding is empty, and a proof over the nonce alone is accepted.
#[tokio::test]
async fn over_plain_tcp_a_proof_binds_the_nonce_alone() -> Result {
    let (addr, server) = tests::client::start_server(Config::default()).await;
    let key = ClientKey::generate();
    let mut ann = plain(addr).await?;
    let seen = ann.login("ann", "", Some(&key)).await?;
    assert!(
        matches!(seen.last(), Some(ServerMsg::Identified { .. })),
        "{seen:?}"
    );
    server.shutdown().await
}

/// A server with a password, in this process over plain TCP.
async fn with_password(password: &str) -> (std::net::SocketAddr, tests::client::ServerHandle) {
    let config = Config {
        password: Some(Password::hash(password).expect("a password")),
        ..Config::default()
    };
    tests::client::start_server(config).await
}

/// The right password gets in, with or without a key; a wrong or missing one is told so
/// and closed; the challenge says that a password is needed.
#[tokio::test]
async fn the_password_is_asked_and_checked() -> Result {
    let (addr, server) = with_password("sesame").await;
    let mut ann = plain(addr).await?;
    let (nonce, asked) = ann.hello("ann", "lobby").await?;
    assert!(asked, "the challenge asks for the password");
    let answer = ann.prove(&nonce, "open", None).await?;
    assert!(
        matches!(&answer, Answer::Refused(ErrorKind::WrongPassword, t) if t == "wrong password"),
        "{answer:?}"
    );
    assert!(ann.closed().await);

    let mut ann = plain(addr).await?;
    let (nonce, _) = ann.hello("ann", "lobby").await?;
    let answer = ann.prove(&nonce, "", None).await?;
    assert!(
        matches!(&answer, Answer::Refused(ErrorKind::WrongPassword, t)
            if t == "this server needs a password"),
        "{answer:?}"
    );

    let mut ann = plain(addr).await?;
    ann.login("ann", "sesame", None).await?;
    let mut bob = plain(addr).await?;
    let seen = bob
        .login("bob", "sesame", Some(&ClientKey::generate()))
        .await?;
    assert!(matches!(seen.last(), Some(ServerMsg::Identified { .. })));
    // The two see each other: both are in.
    bob.send(shared::ClientMsg::Chat { text: "hi".into() })
        .await?;
    ann.recv_until(|m| matches!(m, ServerMsg::Room { .. }))
        .await?;
    server.shutdown().await
}

/// A client without the feature "auth" cannot give a password: a version 4 hello without
/// it and a version 3 hello are refused with a frame their protocol decodes.
#[tokio::test]
async fn an_older_client_is_told_the_server_needs_a_password() -> Result {
    let (addr, server) = with_password("sesame").await;
    let expected = ServerMsg::Error {
        kind: ErrorKind::NotLoggedIn,
        text: "this server needs a password; use a client that can give one".into(),
    };
    let mut v4 = tests::client::TestClient::connect_raw(addr).await?;
    v4.send(tests::client::hello("ann", "lobby")).await?;
    assert_eq!(v4.recv().await?, expected);
    let mut v3 = tests::client::TestClient::connect_raw(addr).await?;
    v3.send(tests::client::hello_v3("ann", "lobby")).await?;
    assert_eq!(v3.recv().await?, expected);
    server.shutdown().await
}

/// The server binary (TLS, as by default) with its password from CHAT_SERVER_PASSWORD:
/// wrong passwords are refused and logged once each with the address; past five a minute
/// from one address, even the right one is refused without a check, and logged too.
#[tokio::test]
async fn wrong_passwords_are_logged_and_limited_per_address() -> Result {
    use tests::binaries::{binary, scratch_dir, spawn_tls};
    let data = scratch_dir("auth-password");
    let log = data.join("server.log");
    let mut command = tokio::process::Command::new(binary("chat-server"));
    command
        .env("XDG_CONFIG_HOME", scratch_dir("no-config"))
        .env("CHAT_SERVER_PASSWORD", "sesame")
        .args(["--listen", "127.0.0.1:0", "--no-history"])
        .args(["--log-level", "info", "--no-announce"])
        .arg("--data-dir")
        .arg(&data)
        .stderr(std::fs::File::create(&log)?);
    let (_child, addr, fp) = spawn_tls(&mut command).await?;
    let fp = shared::tls::Fingerprint::parse(&fp).map_err(anyhow::Error::msg)?;

    let mut ann = tls(addr, fp).await?;
    ann.login("ann", "sesame", None).await?;
    for attempt in 0..tests::auth::PER_MINUTE {
        let mut bob = tls(addr, fp).await?;
        let (nonce, _) = bob.hello("bob", "lobby").await?;
        let answer = bob.prove(&nonce, &format!("guess{attempt}"), None).await?;
        assert!(
            matches!(&answer, Answer::Refused(ErrorKind::WrongPassword, _)),
            "{answer:?}"
        );
    }
    let mut bob = tls(addr, fp).await?;
    let (nonce, _) = bob.hello("bob", "lobby").await?;
    let answer = bob.prove(&nonce, "sesame", None).await?;
    let Answer::Refused(ErrorKind::RateLimited, text) = &answer else {
        panic!("{answer:?}");
    };
    assert!(
        text.starts_with("too many wrong passwords from your address; try again in "),
        "{text}"
    );
    // The one logged in meanwhile stays.
    ann.send(shared::ClientMsg::Ping { token: 1 }).await?;
    ann.recv_until(|m| matches!(m, ServerMsg::Pong { .. }))
        .await?;

    let mut text = String::new();
    for _ in 0..100 {
        text = without_colours(&std::fs::read_to_string(&log)?);
        if text.contains("too many wrong passwords") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wrong: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("reason=wrong password"))
        .collect();
    assert_eq!(wrong.len(), 5, "{text}");
    assert!(wrong.iter().all(|l| l.contains("127.0.0.1:")), "{text}");
    assert_eq!(
        text.matches("reason=too many wrong passwords").count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("sesame") && !text.contains("guess"),
        "{text}"
    );
    Ok(())
}

/// A log's text without the terminal's colour codes (`ESC [ ... m`) around its fields.
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// What the server answers a client with the feature "auth" that says hello as `nick`
/// with `key`: its welcome's `Identified`, or its refusal.
async fn try_nick(
    addr: std::net::SocketAddr,
    nick: &str,
    key: Option<&ClientKey>,
) -> anyhow::Result<std::result::Result<ServerMsg, (ErrorKind, String)>> {
    let mut client = plain(addr).await?;
    let (nonce, _) = client.hello(nick, "lobby").await?;
    Ok(match client.prove(&nonce, "", key).await? {
        Answer::Refused(kind, text) => Err((kind, text)),
        Answer::Welcome(_) if key.is_some() => Ok(client
            .recv_until(|m| matches!(m, ServerMsg::Identified { .. }))
            .await?),
        Answer::Welcome(mut seen) => Ok(seen.remove(0)),
    })
}

/// A registered nick and its look-alikes belong to its key: another key, a client without
/// one and an older client are refused, while the owner is online and while it is not,
/// also after a restart; the owner gets it back, and unregistering frees it.
#[tokio::test]
async fn a_registered_nick_belongs_to_its_key() -> Result {
    let data = tests::binaries::scratch_dir("auth-owners");
    let config = || Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    let (addr, server) = tests::client::start_server(config()).await;
    let (owner, other) = (ClientKey::generate(), ClientKey::generate());

    // Registering needs a key.
    let mut keyless = plain(addr).await?;
    keyless.login("carl", "", None).await?;
    keyless.send(shared::ClientMsg::Register).await?;
    let refused = keyless
        .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
        .await?;
    assert!(
        matches!(
            &refused,
            ServerMsg::Error {
                kind: ErrorKind::NotIdentified,
                ..
            }
        ),
        "{refused:?}"
    );

    let mut ann = plain(addr).await?;
    ann.login("Ann", "", Some(&owner)).await?;
    ann.send(shared::ClientMsg::Request {
        id: 5,
        msg: Box::new(shared::ClientMsg::Register),
    })
    .await?;
    let registered = ann
        .recv_until(|m| matches!(m, ServerMsg::Reply { .. }))
        .await?;
    let ServerMsg::Reply { id: 5, msg } = registered else {
        panic!("{registered:?}");
    };
    assert_eq!(
        *msg,
        ServerMsg::Registration {
            nick: "Ann".into(),
            owned: true
        }
    );

    let owned = |text: &str| Err((ErrorKind::NickOwned, text.to_owned()));
    let cyrillic = "\u{0430}nn"; // Cyrillic а
    for online in [true, false] {
        assert_eq!(
            try_nick(addr, "ann", Some(&other)).await?,
            owned("the nick Ann is registered"),
            "online: {online}"
        );
        assert_eq!(
            try_nick(addr, cyrillic, None).await?,
            owned(&format!(
                "the nick {cyrillic} looks like the registered nick Ann"
            )),
            "online: {online}"
        );
        // A client without the feature is told in a kind it knows.
        let mut old = tests::client::TestClient::connect_raw(addr).await?;
        old.send(tests::client::hello("ANN", "lobby")).await?;
        assert_eq!(
            old.recv().await?,
            ServerMsg::Error {
                kind: ErrorKind::NickTaken,
                text: "the nick Ann is registered".into()
            }
        );
        // A rename to it, by a key and by an older client.
        keyless
            .send(shared::ClientMsg::Nick { nick: "ann".into() })
            .await?;
        let refused = keyless
            .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
            .await?;
        assert_eq!(
            refused,
            ServerMsg::Error {
                kind: ErrorKind::NickOwned,
                text: "the nick Ann is registered".into()
            }
        );
        let mut dan = tests::client::TestClient::connect_v3(addr, "dan", "lobby").await?;
        dan.send(shared::ClientMsg::Nick {
            nick: cyrillic.into(),
        })
        .await?;
        let refused = dan
            .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
            .await?;
        assert!(
            matches!(&refused, ServerMsg::Error { kind: ErrorKind::NickTaken, text }
                if text.contains("looks like the registered nick Ann")),
            "{refused:?}"
        );
        if online {
            ann.send(shared::ClientMsg::Quit {
                reason: String::new(),
            })
            .await?;
            assert!(ann.closed().await);
        }
    }

    // Kept across a restart.
    server.shutdown().await?;
    let (addr, server) = tests::client::start_server(config()).await;
    assert_eq!(
        try_nick(addr, "ann", Some(&other)).await?,
        owned("the nick Ann is registered")
    );
    // The owner gets it, under any spelling of the same name, and is told it owns it.
    let mut ann = plain(addr).await?;
    let seen = ann.login("ANN", "", Some(&owner)).await?;
    assert_eq!(
        seen.last(),
        Some(&ServerMsg::Identified {
            owner: true,
            operator: false
        })
    );
    ann.send(shared::ClientMsg::Unregister).await?;
    let freed = ann
        .recv_until(|m| matches!(m, ServerMsg::Registration { .. }))
        .await?;
    assert_eq!(
        freed,
        ServerMsg::Registration {
            nick: "Ann".into(),
            owned: false
        }
    );
    ann.send(shared::ClientMsg::Quit {
        reason: String::new(),
    })
    .await?;
    assert!(ann.closed().await);
    assert!(
        matches!(
            try_nick(addr, cyrillic, Some(&other)).await?,
            Ok(ServerMsg::Identified { owner: false, .. })
        ),
        "free for anyone once unregistered"
    );
    server.shutdown().await?;
    let kept = std::fs::read_to_string(data.join("registered-nicks"))?;
    assert!(!kept.contains("Ann"), "{kept}");
    Ok(())
}

/// Starts an upload of `size` bytes; its id and token.
async fn start_upload<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    client: &mut tests::auth::AuthClient<S>,
    size: u64,
) -> anyhow::Result<(u64, Vec<u8>)> {
    client
        .send(shared::ClientMsg::UploadStart {
            name: "notes.txt".into(),
            size,
        })
        .await?;
    match client
        .recv_until(|m| matches!(m, ServerMsg::UploadReady { .. } | ServerMsg::Error { .. }))
        .await?
    {
        ServerMsg::UploadReady {
            upload_id, token, ..
        } => Ok((upload_id, token)),
        other => anyhow::bail!("the upload did not start: {other:?}"),
    }
}

/// The first answer to an `UploadResume` with `token`.
async fn resume<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    client: &mut tests::auth::AuthClient<S>,
    token: &[u8],
) -> anyhow::Result<ServerMsg> {
    client
        .send(shared::ClientMsg::UploadResume {
            token: token.to_vec(),
        })
        .await?;
    client
        .recv_until(|m| matches!(m, ServerMsg::UploadReady { .. } | ServerMsg::Error { .. }))
        .await
}

/// An upload whose sender proved a key can be resumed only by a client that proved the
/// same key: another key, or none, is refused even with the token; the owner's other
/// connection takes it over, and the first is told. An upload without a key goes to
/// whoever has its token, as before, and its sender is told it lost it.
#[tokio::test]
async fn an_upload_is_resumed_only_by_its_owner() -> Result {
    let (addr, server) = tests::client::start_server(Config::default()).await;
    let (owner, other) = (ClientKey::generate(), ClientKey::generate());
    let mut ann = plain(addr).await?;
    ann.login("ann", "", Some(&owner)).await?;
    let (upload_id, token) = start_upload(&mut ann, 100).await?;
    ann.send(shared::ClientMsg::UploadChunk {
        upload_id,
        offset: 0,
        data: vec![7; 40],
    })
    .await?;

    let mut eve = plain(addr).await?;
    eve.login("eve", "", Some(&other)).await?;
    let mut mallory = plain(addr).await?;
    mallory.login("mallory", "", None).await?;
    for thief in [&mut eve, &mut mallory] {
        let refused = resume(thief, &token).await?;
        assert!(
            matches!(&refused, ServerMsg::Error { kind: ErrorKind::NoSuchUpload, text }
                if text.contains("only a client with that key can resume it")),
            "{refused:?}"
        );
    }

    // The owner, from another connection (its client restarted): taken over, at the
    // bytes the server holds; the first connection is told.
    let mut again = plain(addr).await?;
    again.login("ann2", "", Some(&owner)).await?;
    let ready = resume(&mut again, &token).await?;
    assert!(
        matches!(ready, ServerMsg::UploadReady { offset: 40, .. }),
        "{ready:?}"
    );
    let lost = ann
        .recv_until(|m| matches!(m, ServerMsg::UploadFailed { .. }))
        .await?;
    assert_eq!(
        lost,
        ServerMsg::UploadFailed {
            upload_id,
            kind: ErrorKind::NoSuchUpload,
            text: "another connection resumed it with its token".into()
        }
    );

    // Without a key: whoever has the token, and the sender is told.
    let (upload_id, token) = start_upload(&mut mallory, 100).await?;
    let ready = resume(&mut eve, &token).await?;
    assert!(matches!(ready, ServerMsg::UploadReady { .. }), "{ready:?}");
    let lost = mallory
        .recv_until(|m| matches!(m, ServerMsg::UploadFailed { .. }))
        .await?;
    assert!(
        matches!(lost, ServerMsg::UploadFailed { upload_id: id, .. } if id == upload_id),
        "{lost:?}"
    );
    server.shutdown().await
}

/// Logs in with the features "auth" and "history".
async fn history_login(
    addr: std::net::SocketAddr,
    nick: &str,
    key: Option<&ClientKey>,
) -> anyhow::Result<tests::auth::AuthClient<tokio::net::TcpStream>> {
    let mut client = plain(addr).await?;
    let (nonce, _) = client
        .hello_asking(nick, "lobby", &[shared::FEATURE_HISTORY])
        .await?;
    let answer = client.prove(&nonce, "", key).await?;
    anyhow::ensure!(matches!(answer, Answer::Welcome(_)), "{answer:?}");
    Ok(client)
}

/// The read marker a catch-up of the lobby tells `client`.
async fn read_marker(
    client: &mut tests::auth::AuthClient<tokio::net::TcpStream>,
) -> anyhow::Result<u64> {
    client
        .send(shared::ClientMsg::CatchUp {
            room: "lobby".into(),
            after: 0,
        })
        .await?;
    match client
        .recv_until(|m| matches!(m, ServerMsg::CaughtUp { .. }))
        .await?
    {
        ServerMsg::CaughtUp { read, .. } => Ok(read),
        other => anyhow::bail!("{other:?}"),
    }
}

/// With a key, read markers follow the key to every device, whatever its nick; a client
/// without it under the same nick does not see them.
#[tokio::test]
async fn read_markers_follow_the_key() -> Result {
    use shared::{ClientMsg, RoomEvent};
    let (addr, server) = tests::client::start_server(Config::default()).await;
    let key = ClientKey::generate();
    let mut laptop = history_login(addr, "ann", Some(&key)).await?;
    let mut seqs = Vec::new();
    for text in ["one", "two", "three"] {
        laptop.send(ClientMsg::Chat { text: text.into() }).await?;
        let said = laptop
            .recv_until(|m| {
                matches!(
                    m,
                    ServerMsg::Room {
                        event: RoomEvent::Said { .. },
                        ..
                    }
                )
            })
            .await?;
        if let ServerMsg::Room { seq, .. } = said {
            seqs.push(seq);
        }
    }
    laptop
        .send(ClientMsg::MarkRead {
            room: "lobby".into(),
            seq: seqs[1],
        })
        .await?;
    // The phone, with the same key under another nick, while the laptop is on.
    let mut phone = history_login(addr, "ann-phone", Some(&key)).await?;
    assert_eq!(read_marker(&mut phone).await?, seqs[1]);
    laptop
        .send(ClientMsg::Quit {
            reason: String::new(),
        })
        .await?;
    assert!(laptop.closed().await);
    // Someone without the key, under the laptop's nick: not ann's marker.
    let mut other = history_login(addr, "ann", None).await?;
    assert_eq!(read_marker(&mut other).await?, 0);
    server.shutdown().await
}
