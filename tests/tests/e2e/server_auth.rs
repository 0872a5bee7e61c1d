//! The feature "auth" against a real server on 127.0.0.1, in raw frames: the challenge and
//! the proof of a key bound to the TLS session (a relay in the middle is refused), the
//! server's password and its attempt limit, nicks registered to a key, and an upload that
//! only its owner may resume.

use std::time::Duration;

use chat_server::Config;
use chat_server::auth::Password;
use shared::{ErrorKind, ServerMsg};
use tests::auth::{Answer, ClientKey, TlsServer, plain, tls, tls_relay};

type Result = anyhow::Result<()>;

/// Over TLS, a key proved over the session's binding is accepted, and the client is told
/// `Identified` after its welcome; a client without a key is welcomed without it.
#[tokio::test]
async fn a_key_proved_over_tls_is_accepted() -> Result {
    let server = TlsServer::start(Config::default()).await?;
    let key = ClientKey::generate();
    let mut ann = tls(server.addr, server.fingerprint).await?;
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
    let mut bob = tls(server.addr, server.fingerprint).await?;
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
    let server = TlsServer::start(Config::default()).await?;
    let key = ClientKey::generate();
    let refused = |answer: &Answer| {
        matches!(answer, Answer::Refused(ErrorKind::NotIdentified, text)
            if text.contains("does not verify for this connection"))
    };

    // Another binding.
    let mut ann = tls(server.addr, server.fingerprint).await?;
    let (nonce, _) = ann.hello("ann", "lobby").await?;
    let answer = ann.prove_over(&nonce, "", Some(&key), &[9; 32]).await?;
    assert!(refused(&answer), "{answer:?}");
    assert!(ann.closed().await, "closed after the refusal");

    // No binding at all, over TLS.
    let mut ann = tls(server.addr, server.fingerprint).await?;
    let (nonce, _) = ann.hello("ann", "lobby").await?;
    let answer = ann.prove_over(&nonce, "", Some(&key), &[]).await?;
    assert!(refused(&answer), "{answer:?}");

    // A relay: the client's session is with the relay (whose key it trusted at first
    // contact), and the binding it signs is that session's.
    let (relay, relay_fp) = tls_relay(server.addr, server.fingerprint, 4).await?;
    let mut ann = tls(relay, relay_fp).await?;
    let (nonce, _) = ann.hello("ann", "lobby").await?;
    let answer = ann.prove(&nonce, "", Some(&key)).await?;
    assert!(refused(&answer), "{answer:?}");

    // Through the same relay, a client without a key gets in: the refusal was the proof's.
    let mut bob = tls(relay, relay_fp).await?;
    bob.login("bob", "", None).await?;

    // The right proof still works.
    let mut ann = tls(server.addr, server.fingerprint).await?;
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

/// The server binary with `--tls` and its password from CHAT_SERVER_PASSWORD: wrong
/// passwords are refused and logged once each with the address; past five a minute from
/// one address, even the right one is refused without a check, and logged too.
#[tokio::test]
async fn wrong_passwords_are_logged_and_limited_per_address() -> Result {
    use tests::binaries::{binary, scratch_dir, spawn_tls};
    let data = scratch_dir("auth-password");
    let log = data.join("server.log");
    let mut command = tokio::process::Command::new(binary("chat-server"));
    command
        .env("XDG_CONFIG_HOME", scratch_dir("no-config"))
        .env("CHAT_SERVER_PASSWORD", "sesame")
        .args(["--listen", "127.0.0.1:0", "--tls", "--no-history"])
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
