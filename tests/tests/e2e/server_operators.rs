//! Operators, in raw frames against the server binary: kick, ban (by nick, by address,
//! across a restart, with an expiry), unban, the topic lock, the message of the day, and
//! the configuration reloaded by SIGHUP, with a good file and a bad one.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use shared::{
    ClientMsg, ErrorKind, FEATURE_AUTH, FEATURE_ROOMS, OperatorRequest, RoomEvent, RoomRequest,
    ServerMsg,
};
use tests::auth::{AuthClient, ClientKey, hello_with, tls};
use tests::binaries::{scratch_dir, server_key};
use tests::client::{TestClient, left, unwrapped};
use tests::history::Server;
use tests::probe::send_signal;

type Client = AuthClient<tests::auth::Stream>;

/// A client over TLS to the server the test started at `addr` (as users reach it).
async fn reach(addr: std::net::SocketAddr) -> anyhow::Result<Client> {
    let key = server_key(addr).context("the server's key")?;
    tls(addr, key).await
}

/// A server on a data directory of its own, reading `config` (the operators, the message
/// of the day) from a file the test may rewrite.
struct Setup {
    server: Server,
    config: PathBuf,
}

impl Setup {
    async fn start(config_text: &str) -> anyhow::Result<Self> {
        let dir = scratch_dir("operators");
        let config = dir.join("server.toml");
        std::fs::write(&config, config_text)?;
        let data = dir.join("data");
        let server = Server::start(&data, &["--config", config.to_str().context("UTF-8")?]).await?;
        Ok(Self { server, config })
    }

    async fn restart(self) -> anyhow::Result<Self> {
        let data = self.server.data.clone();
        self.server.stop().await?;
        let server =
            Server::start(&data, &["--config", self.config.to_str().context("UTF-8")?]).await?;
        Ok(Self {
            server,
            config: self.config,
        })
    }
}

fn operators(keys: &[&ClientKey]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.hex())).collect();
    format!("operators = [{}]\n", keys.join(", "))
}

/// Logs in with the features "auth" and "rooms", proving `key` if given.
async fn login(server: &Server, nick: &str, key: Option<&ClientKey>) -> anyhow::Result<Client> {
    let mut client = reach(server.addr).await?;
    client
        .send(hello_with(nick, "lobby", &[FEATURE_AUTH, FEATURE_ROOMS]))
        .await?;
    let ServerMsg::Challenge { nonce, .. } = client.recv().await? else {
        bail!("no challenge");
    };
    match client.prove(&nonce, "", key).await? {
        tests::auth::Answer::Welcome(_) => Ok(client),
        tests::auth::Answer::Refused(kind, text) => bail!("refused: {kind:?} {text}"),
    }
}

/// What logging in as `nick` with `key` is told when refused; `None` when welcomed.
async fn refused(
    server: &Server,
    nick: &str,
    key: Option<&ClientKey>,
) -> anyhow::Result<Option<(ErrorKind, String)>> {
    let mut client = reach(server.addr).await?;
    client
        .send(hello_with(nick, "lobby", &[FEATURE_AUTH]))
        .await?;
    let ServerMsg::Challenge { nonce, .. } = client.recv().await? else {
        bail!("no challenge");
    };
    Ok(match client.prove(&nonce, "", key).await? {
        tests::auth::Answer::Welcome(_) => None,
        tests::auth::Answer::Refused(kind, text) => Some((kind, text)),
    })
}

/// An operator's request and its answer (the first `Operated`, `Bans` or `Error`).
async fn operate(client: &mut Client, msg: OperatorRequest) -> anyhow::Result<ServerMsg> {
    client.send(ClientMsg::Operate { msg }).await?;
    client
        .recv_until(|m| {
            matches!(
                m,
                ServerMsg::Operated { .. } | ServerMsg::Bans { .. } | ServerMsg::Error { .. }
            )
        })
        .await
}

fn operated(text: &str) -> ServerMsg {
    ServerMsg::Operated { text: text.into() }
}

fn kick(nick: &str, reason: &str) -> OperatorRequest {
    OperatorRequest::Kick {
        nick: nick.into(),
        reason: reason.into(),
    }
}

fn ban(target: &str, seconds: u64, reason: &str) -> OperatorRequest {
    OperatorRequest::Ban {
        target: target.into(),
        seconds,
        reason: reason.into(),
    }
}

/// Frames until the connection closes; an error if it does not within the bound.
async fn last_frames(client: &mut TestClient) -> anyhow::Result<Vec<ServerMsg>> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        match client.recv().await {
            Ok(msg) => seen.push(msg),
            Err(_) => return Ok(seen),
        }
    }
    bail!("still open after {seen:?}")
}

#[tokio::test]
async fn a_kick_tells_the_victim_and_its_room_and_others_are_refused() -> anyhow::Result<()> {
    let ann_key = ClientKey::generate();
    let setup = Setup::start(&operators(&[&ann_key])).await?;
    let server = &setup.server;
    let mut ann = login(server, "ann", Some(&ann_key)).await?;
    let mut carol = TestClient::connect(server.addr, "carol", "lobby").await?;
    // An old client without the feature: told in a frame it reads.
    let mut bob = TestClient::connect(server.addr, "bob", "lobby").await?;
    // Someone else with a key, and one without: not operators.
    let mut dave = login(server, "dave", Some(&ClientKey::generate())).await?;
    let mut erin = login(server, "erin", None).await?;
    for client in [&mut dave, &mut erin] {
        let answer = operate(client, kick("bob", "")).await?;
        assert_eq!(
            answer,
            ServerMsg::Error {
                kind: ErrorKind::NotOperator,
                text: "not an operator".into()
            }
        );
    }

    assert_eq!(
        operate(&mut ann, kick("BOB", "spam")).await?,
        operated("kicked bob")
    );
    let last = last_frames(&mut bob).await?;
    assert!(
        last.iter().any(
            |m| matches!(m, ServerMsg::Shutdown { reason } if reason == "kicked by ann: spam")
        ),
        "{last:?}"
    );
    carol
        .recv_until(|m| left(m, "bob", |why| why == "kicked by ann: spam"))
        .await?;
    // A client with the feature is told Kicked.
    assert_eq!(
        operate(&mut ann, kick("dave", "")).await?,
        operated("kicked dave")
    );
    let told = dave
        .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
        .await?;
    assert_eq!(
        told,
        ServerMsg::Error {
            kind: ErrorKind::Kicked,
            text: "kicked by ann".into()
        }
    );
    assert!(dave.closed().await);
    let answer = operate(&mut ann, kick("nobody", "")).await?;
    assert!(
        matches!(
            answer,
            ServerMsg::Error {
                kind: ErrorKind::NoSuchNick,
                ..
            }
        ),
        "{answer:?}"
    );
    setup.server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn bans_by_nick_and_address_hold_across_a_restart_until_lifted() -> anyhow::Result<()> {
    let ann_key = ClientKey::generate();
    let bob_key = ClientKey::generate();
    let setup = Setup::start(&operators(&[&ann_key])).await?;
    let mut ann = login(&setup.server, "ann", Some(&ann_key)).await?;
    let mut bob = login(&setup.server, "bob", Some(&bob_key)).await?;
    let mut old = TestClient::connect(setup.server.addr, "olga", "lobby").await?;

    // By nick: bob's address (loopback, which everyone here shares) and bob's key. Every
    // connection from the address goes, but the operator's own.
    let answer = operate(&mut ann, ban("bob", 0, "spam")).await?;
    let ServerMsg::Operated { text } = answer else {
        bail!("{answer:?}");
    };
    assert!(
        text.starts_with("banned 127.0.0.1 and bob's key until unbanned: spam (disconnected "),
        "{text}"
    );
    let told = bob
        .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
        .await?;
    assert_eq!(
        told,
        ServerMsg::Error {
            kind: ErrorKind::Banned,
            text: "banned by ann until unbanned: spam".into()
        }
    );
    let last = last_frames(&mut old).await?;
    assert!(
        last.iter().any(
            |m| matches!(m, ServerMsg::Shutdown { reason } if reason.starts_with("banned by ann"))
        ),
        "{last:?}"
    );
    let ServerMsg::Bans { bans } = operate(&mut ann, OperatorRequest::ListBans).await? else {
        bail!("no list");
    };
    let targets: Vec<&str> = bans.iter().map(|b| b.target.as_str()).collect();
    assert_eq!(targets, ["127.0.0.1", bob_key.hex().as_str()]);
    assert!(
        bans.iter()
            .all(|b| b.nick == "bob" && b.by == "ann" && b.until_ms == 0)
    );

    // Kept across a restart; an old client is told in a frame it reads.
    drop(ann);
    let setup = setup.restart().await?;
    let refusal = refused(&setup.server, "bob", Some(&bob_key)).await?;
    assert_eq!(
        refusal,
        Some((
            ErrorKind::Banned,
            "banned by ann until unbanned: spam".into()
        ))
    );
    let mut old = TestClient::connect_raw(setup.server.addr).await?;
    old.send(tests::client::hello("olga", "lobby")).await?;
    let answer = old.recv().await?;
    assert!(
        matches!(&answer, ServerMsg::Error { kind: ErrorKind::NotLoggedIn, text } if text.starts_with("banned by ann")),
        "{answer:?}"
    );
    let bans_file = std::fs::read_to_string(setup.server.data.join("bans.toml"))?;
    assert!(bans_file.contains(&bob_key.hex()), "{bans_file}");

    // Lifted by the nick they named: both go.
    let mut ann = login(&setup.server, "ann", Some(&ann_key)).await?;
    assert_eq!(
        operate(
            &mut ann,
            OperatorRequest::Unban {
                target: "bob".into()
            }
        )
        .await?,
        operated("unbanned 127.0.0.1 and bob's key")
    );
    login(&setup.server, "bob", Some(&bob_key)).await?;
    let ServerMsg::Bans { bans } = operate(&mut ann, OperatorRequest::ListBans).await? else {
        bail!("no list");
    };
    assert!(bans.is_empty(), "{bans:?}");
    setup.server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_ban_on_an_address_expires() -> anyhow::Result<()> {
    let ann_key = ClientKey::generate();
    let setup = Setup::start(&operators(&[&ann_key])).await?;
    let server = &setup.server;
    let mut ann = login(server, "ann", Some(&ann_key)).await?;
    assert_eq!(
        operate(&mut ann, ban("127.0.0.1", 2, "")).await?,
        operated("banned 127.0.0.1 for 2s")
    );
    let refusal = refused(server, "bob", None).await?;
    let Some((ErrorKind::Banned, text)) = refusal else {
        bail!("{refusal:?}");
    };
    assert!(text.starts_with("banned by ann for "), "{text}");
    // Polled until it has expired, within a bound.
    let mut welcomed = false;
    for _ in 0..60 {
        if refused(server, "bob", None).await?.is_none() {
            welcomed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(welcomed, "the ban did not expire");
    let ServerMsg::Bans { bans } = operate(&mut ann, OperatorRequest::ListBans).await? else {
        bail!("no list");
    };
    assert!(bans.is_empty(), "an expired ban is not listed: {bans:?}");
    setup.server.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_locked_topic_is_set_by_operators_only() -> anyhow::Result<()> {
    let ann_key = ClientKey::generate();
    let setup = Setup::start(&operators(&[&ann_key])).await?;
    let server = &setup.server;
    let mut ann = login(server, "ann", Some(&ann_key)).await?;
    let mut bob = login(server, "bob", None).await?;
    let lock = OperatorRequest::LockTopic {
        room: "LOBBY".into(),
        locked: true,
    };
    assert_eq!(
        operate(&mut ann, lock).await?,
        operated("locked the topic of lobby: only operators set it")
    );
    let set = |text: &str| ClientMsg::InRoom {
        room: "lobby".into(),
        msg: RoomRequest::SetTopic { text: text.into() },
    };
    bob.send(set("mine")).await?;
    let answer = bob
        .recv_until(|m| matches!(m, ServerMsg::Error { .. } | ServerMsg::Topic { .. }))
        .await?;
    assert_eq!(
        answer,
        ServerMsg::Error {
            kind: ErrorKind::NotOperator,
            text: "only operators set the topic of lobby".into()
        }
    );
    ann.send(set("the operators'")).await?;
    let topic = bob
        .recv_until(|m| matches!(m, ServerMsg::Topic { .. }))
        .await?;
    assert!(
        matches!(topic, ServerMsg::Topic { ref text, ref by, .. } if text == "the operators'" && by == "ann")
    );
    // Kept across a restart.
    drop((ann, bob));
    let setup = setup.restart().await?;
    let mut bob = login(&setup.server, "bob", None).await?;
    bob.send(set("mine")).await?;
    let answer = bob
        .recv_until(|m| matches!(m, ServerMsg::Error { .. }))
        .await?;
    assert!(
        matches!(
            answer,
            ServerMsg::Error {
                kind: ErrorKind::NotOperator,
                ..
            }
        ),
        "{answer:?}"
    );
    // A look-alike room opened once the locked one is empty is locked too.
    let look_alike = "l\u{43e}bby";
    bob.send(ClientMsg::InRoom {
        room: "lobby".into(),
        msg: RoomRequest::Part {
            reason: String::new(),
        },
    })
    .await?;
    bob.recv_until(|m| matches!(m, ServerMsg::Parted { .. }))
        .await?;
    bob.send(ClientMsg::Join {
        room: look_alike.into(),
    })
    .await?;
    bob.send(ClientMsg::InRoom {
        room: look_alike.into(),
        msg: RoomRequest::SetTopic {
            text: "mine".into(),
        },
    })
    .await?;
    let answer = bob
        .recv_until(|m| matches!(m, ServerMsg::Error { .. } | ServerMsg::Topic { .. }))
        .await?;
    assert!(
        matches!(
            answer,
            ServerMsg::Error {
                kind: ErrorKind::NotOperator,
                ..
            }
        ),
        "{answer:?}"
    );
    setup.server.stop().await?;
    Ok(())
}

/// The message of the day a client is shown right after its welcome, in either version.
#[tokio::test]
async fn the_message_of_the_day_follows_the_welcome() -> anyhow::Result<()> {
    let dir = scratch_dir("motd");
    let motd = dir.join("motd.txt");
    std::fs::write(&motd, "Be kind.\nNo spam.\n\n")?;
    let setup = Setup::start(&format!("motd = \"{}\"\n", motd.display())).await?;
    let mut new = TestClient::connect(setup.server.addr, "ann", "lobby").await?;
    let first = new.recv().await?;
    let ServerMsg::Notice { room, event, .. } = unwrapped(&first).clone() else {
        bail!("{first:?}");
    };
    assert_eq!(room, "lobby");
    assert!(
        matches!(&event, RoomEvent::Said { from, text, .. } if from.is_empty() && text == "Be kind.\nNo spam."),
        "{event:?}"
    );
    let mut old = TestClient::connect_v3(setup.server.addr, "bob", "lobby").await?;
    let first = old.recv().await?;
    assert!(
        matches!(&first, ServerMsg::Chat { id: 0, from, text, .. } if from.is_empty() && text == "Be kind.\nNo spam."),
        "{first:?}"
    );
    setup.server.stop().await?;
    Ok(())
}

/// Sends SIGHUP to the server.
fn hang_up(server: &Server) -> anyhow::Result<()> {
    send_signal(server.child.id().context("running")?, "HUP")
}

#[tokio::test]
async fn sighup_reloads_a_good_file_and_keeps_the_old_one_for_a_bad_one() -> anyhow::Result<()> {
    let ann_key = ClientKey::generate();
    let setup = Setup::start("").await?;
    let server = &setup.server;
    let mut ann = login(server, "ann", Some(&ann_key)).await?;
    let mut carol = TestClient::connect(server.addr, "carol", "lobby").await?;
    let answer = operate(&mut ann, OperatorRequest::ListBans).await?;
    assert!(
        matches!(
            answer,
            ServerMsg::Error {
                kind: ErrorKind::NotOperator,
                ..
            }
        ),
        "{answer:?}"
    );

    let motd = setup.config.with_file_name("motd.txt");
    std::fs::write(&motd, "reloaded")?;
    let good = format!("{}motd = \"{}\"\n", operators(&[&ann_key]), motd.display());
    std::fs::write(&setup.config, good)?;
    hang_up(server)?;
    // Polled: the same connection becomes an operator's, without a restart.
    let mut reloaded = false;
    for _ in 0..50 {
        if let ServerMsg::Bans { .. } = operate(&mut ann, OperatorRequest::ListBans).await? {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the new operator was not taken");
    // No connection dropped: carol still hears the room; a newcomer sees the new motd.
    let mut dave = TestClient::connect(server.addr, "dave", "lobby").await?;
    let first = dave.recv().await?;
    assert!(
        matches!(unwrapped(&first), ServerMsg::Notice { event: RoomEvent::Said { text, .. }, .. } if text == "reloaded"),
        "{first:?}"
    );
    carol
        .recv_until(|m| tests::client::joined(m, "dave"))
        .await?;

    // A bad file: the configuration in force stays, and the log says why in one line.
    std::fs::write(&setup.config, "operators = [\"not a key\"]\n")?;
    hang_up(server)?;
    let mut logged = Vec::new();
    for _ in 0..50 {
        logged = lines_with(&server.log(), "configuration not reloaded");
        if !logged.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged.len(), 1, "{}", server.log());
    assert!(
        logged[0].contains("key \"operators\": 'not a key' is not an operator's key"),
        "{}",
        logged[0]
    );
    assert!(matches!(
        operate(&mut ann, OperatorRequest::ListBans).await?,
        ServerMsg::Bans { .. }
    ));
    carol.say("still here").await?;
    carol
        .recv_until(|m| tests::client::says(m, "still here"))
        .await?;
    setup.server.stop().await?;
    Ok(())
}

fn lines_with(log: &str, what: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(what))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn an_operator_releases_a_registered_nick_whose_key_is_lost() -> anyhow::Result<()> {
    let ann_key = ClientKey::generate();
    let lost_key = ClientKey::generate();
    let setup = Setup::start(&operators(&[&ann_key])).await?;
    let server = &setup.server;
    let mut bob = login(server, "bob", Some(&lost_key)).await?;
    bob.send(ClientMsg::Register).await?;
    let answer = bob
        .recv_until(|m| matches!(m, ServerMsg::Registration { .. } | ServerMsg::Error { .. }))
        .await?;
    assert_eq!(
        answer,
        ServerMsg::Registration {
            nick: "bob".into(),
            owned: true
        }
    );
    drop(bob);
    let new_key = ClientKey::generate();
    // Polled: bob's old connection may still be closing.
    let mut refusal = None;
    for _ in 0..50 {
        refusal = refused(server, "bob", Some(&new_key)).await?;
        if matches!(refusal, Some((ErrorKind::NickOwned, _))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        matches!(refusal, Some((ErrorKind::NickOwned, _))),
        "{refusal:?}"
    );

    let mut ann = login(server, "ann", Some(&ann_key)).await?;
    let release = OperatorRequest::Release { nick: "BOB".into() };
    ann.send(ClientMsg::Operate { msg: release }).await?;
    let answer = ann
        .recv_until(|m| matches!(m, ServerMsg::Registration { .. } | ServerMsg::Error { .. }))
        .await?;
    assert_eq!(
        answer,
        ServerMsg::Registration {
            nick: "bob".into(),
            owned: false
        }
    );
    login(server, "bob", Some(&new_key)).await?;
    setup.server.stop().await?;
    Ok(())
}
