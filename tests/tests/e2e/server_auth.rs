//! The feature "auth" against a real server on 127.0.0.1, in raw frames: the challenge and
//! the proof of a key bound to the TLS session (a relay in the middle is refused), the
//! server's password and its attempt limit, nicks registered to a key, and an upload that
//! only its owner may resume.

use chat_server::Config;
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
