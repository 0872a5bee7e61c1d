//! What follows an owner (features "auth" and "history"), in raw frames against a real
//! server on 127.0.0.1 over TLS: private messages between two owners kept for them alone
//! and read back after a restart, none kept for a nick no one owns. (Read markers under
//! the key: `server_auth`.)

use chat_server::Config;
use shared::{ClientMsg, ErrorKind, FEATURE_AUTH, FEATURE_HISTORY, FEATURE_ROOMS, ServerMsg};
use std::net::SocketAddr;

use shared::tls::Fingerprint;
use tests::auth::{Answer, AuthClient, ClientKey, hello_with, tls};
use tests::client::start_tls_server;

type Result = anyhow::Result<()>;
type Client = AuthClient<tests::auth::Stream>;

/// Logs `nick` in with the features auth, history and rooms, proving `key`; registers the
/// nick when `register`.
async fn owner(
    server: (SocketAddr, Fingerprint),
    nick: &str,
    key: &ClientKey,
    register: bool,
) -> anyhow::Result<Client> {
    let mut c = tls(server.0, server.1).await?;
    c.send(hello_with(
        nick,
        "lobby",
        &[FEATURE_AUTH, FEATURE_HISTORY, FEATURE_ROOMS],
    ))
    .await?;
    let ServerMsg::Challenge { nonce, .. } = c.recv().await? else {
        anyhow::bail!("no challenge");
    };
    let answer = c.prove(&nonce, "", Some(key)).await?;
    anyhow::ensure!(matches!(answer, Answer::Welcome(_)), "{answer:?}");
    c.recv_until(|m| matches!(m, ServerMsg::Identified { .. }))
        .await?;
    if register {
        c.send(ClientMsg::Register.with_id(1)).await?;
        let answer = c
            .recv_until(|m| matches!(m, ServerMsg::Reply { id: 1, .. }))
            .await?;
        let (_, answer) = answer.into_reply();
        anyhow::ensure!(
            answer
                == ServerMsg::Registration {
                    nick: nick.into(),
                    owned: true
                },
            "{answer:?}"
        );
    }
    Ok(c)
}

/// The texts of the private messages kept between `c` and `with`.
async fn kept(c: &mut Client, with: &str, id: u32) -> anyhow::Result<Vec<String>> {
    c.send(
        ClientMsg::PrivateHistory {
            with: with.into(),
            before: 0,
            limit: 50,
        }
        .with_id(id),
    )
    .await?;
    let reply = c
        .recv_until(|m| matches!(m, ServerMsg::Reply { id: r, .. } if *r == id))
        .await?;
    match reply.into_reply().1 {
        ServerMsg::PrivateHistory { messages, .. } => {
            Ok(messages.into_iter().map(|l| l.text).collect())
        }
        other => anyhow::bail!("{other:?}"),
    }
}

async fn say_to(c: &mut Client, to: &str, text: &str) -> Result {
    c.send(ClientMsg::Private {
        to: to.into(),
        text: text.into(),
    })
    .await?;
    c.recv_until(|m| matches!(m, ServerMsg::Private { text: t, .. } if t == text))
        .await?;
    Ok(())
}

/// Two owners' private messages are kept for them, both ways, and read back after a
/// restart from a new connection; a third client, even one that takes a free nick, reads
/// none of them; nothing is kept with a nick no one owns.
#[tokio::test]
async fn private_messages_between_owners_are_kept_for_them_alone() -> Result {
    let data = tests::binaries::scratch_dir("owned-private");
    let config = || Config {
        data_dir: data.clone(),
        ..Config::default()
    };
    let (ann_key, bob_key, eve_key) = (
        ClientKey::generate(),
        ClientKey::generate(),
        ClientKey::generate(),
    );
    let (addr, fp, server) = start_tls_server(config()).await;
    let mut ann = owner((addr, fp), "ann", &ann_key, true).await?;
    let mut bob = owner((addr, fp), "bob", &bob_key, true).await?;
    let mut eve = owner((addr, fp), "eve", &eve_key, false).await?;
    say_to(&mut ann, "bob", "hello bob").await?;
    say_to(&mut bob, "ann", "hello ann").await?;
    say_to(&mut ann, "eve", "eve owns no nick").await?;
    assert_eq!(kept(&mut ann, "bob", 10).await?, ["hello bob", "hello ann"]);
    assert_eq!(kept(&mut bob, "ANN", 11).await?, ["hello bob", "hello ann"]);
    assert_eq!(kept(&mut ann, "eve", 12).await?, Vec::<String>::new());
    // Eve owns no nick: she may not ask.
    eve.send(
        ClientMsg::PrivateHistory {
            with: "ann".into(),
            before: 0,
            limit: 50,
        }
        .with_id(13),
    )
    .await?;
    let refused = eve
        .recv_until(|m| matches!(m, ServerMsg::Reply { id: 13, .. }))
        .await?
        .into_reply()
        .1;
    assert!(
        matches!(
            refused,
            ServerMsg::Error {
                kind: ErrorKind::NotIdentified,
                ..
            }
        ),
        "{refused:?}"
    );
    drop((ann, bob, eve));
    server.shutdown().await?;

    let (addr, fp, server) = start_tls_server(config()).await;
    let mut ann = owner((addr, fp), "ann", &ann_key, false).await?;
    assert_eq!(kept(&mut ann, "bob", 20).await?, ["hello bob", "hello ann"]);
    // Eve registers a nick of her own: still nothing of ann's and bob's.
    let mut eve = owner((addr, fp), "eve", &eve_key, true).await?;
    assert_eq!(kept(&mut eve, "bob", 21).await?, Vec::<String>::new());
    assert_eq!(kept(&mut eve, "ann", 22).await?, Vec::<String>::new());
    drop((ann, eve));
    server.shutdown().await?;
    Ok(())
}
