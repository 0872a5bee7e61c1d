//! Servers found on the LAN: the server binary announces itself over multicast DNS and
//! `chat-cli list` finds it, on a LAN of the test's own (network namespaces on a bridge,
//! `tests::lan`) and with an mDNS port of the tests' own, never on the machine's network.
//!
//! Needs root (network namespaces); without it the tests say so and are skipped, except
//! under CI, where they fail.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tests::binaries::{server_key, start_server_process};
use tests::client::WAIT;
use tests::lan::{Lan, TEST_MDNS_PORT, cannot_build};
use tests::probe::{Probe, send_signal};
use tokio::time::Instant;

type Result = anyhow::Result<()>;

/// How long each listing listens: long enough for a browser's second query, which a
/// responder that has just answered someone else (at most once a second per record, RFC
/// 6762) answers.
const LISTEN: Duration = Duration::from_secs(3);

/// How long a changed number of people may take to show: the server reads it every 2 s,
/// and a listing takes [`LISTEN`].
const COUNT_SHOWS: Duration = Duration::from_secs(20);

/// `chat-server` on host `host` of `lan`, announcing with the tests' mDNS port.
async fn server(
    lan: &Lan,
    host: usize,
    listen: &str,
    args: &[&str],
) -> anyhow::Result<(tokio::process::Child, std::net::SocketAddr)> {
    let port = TEST_MDNS_PORT.to_string();
    let mut all = vec!["--mdns-port", port.as_str()];
    all.extend_from_slice(args);
    start_server_process(&lan.exec(host), listen, &all, Stdio::inherit()).await
}

/// Lists from `host` until `done` holds for what is listed, for at most `within`;
/// returns that listing.
async fn listed_until(
    lan: &Lan,
    host: usize,
    what: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + within;
    loop {
        let (servers, _) = lan.list(host, LISTEN).await?;
        if done(&servers) {
            return Ok(servers);
        }
        if Instant::now() >= deadline {
            bail!("no listing showed {what} within {within:?}; the last: {servers:?}");
        }
    }
}

/// A server as listed; `fp`, the key it announces (64 hex digits), `None` in plaintext.
fn entry(name: &str, addr: &str, people: u32, fp: Option<&str>) -> Value {
    json!({
        "name": name,
        "addr": addr,
        "people": people,
        "version": shared::PROTOCOL_VERSION,
        "fingerprint": fp,
    })
}

#[tokio::test]
async fn a_server_is_listed_its_count_follows_and_a_stop_withdraws_it() -> Result {
    if cannot_build("a_server_is_listed_its_count_follows_and_a_stop_withdraws_it") {
        return Ok(());
    }
    // Declared first, so that it is dropped last: the namespaces go after the processes.
    let lan = Lan::create("found", 3)?;
    // In plaintext, which the probes speak: it announces no key.
    let (mut server, bound) = server(
        &lan,
        0,
        "0.0.0.0:0",
        &["--name", "Test room", "--plaintext"],
    )
    .await?;
    let addr = format!("{}:{}", Lan::ip(0), bound.port());

    // Two other hosts list at once; both see the one server, as it is.
    let (one, two) = tokio::join!(lan.list(1, LISTEN), lan.list(2, LISTEN));
    for (servers, stderr) in [one?, two?] {
        assert_eq!(servers, [entry("Test room", &addr, 0, None)], "{stderr}");
    }

    // People join over the bridge; the count follows.
    let connect = addr.parse().context("address")?;
    let mut alice = Probe::start(&lan.exec(1), connect, "alice", &[])?;
    alice
        .wait_for("alice's welcome", WAIT, |l| l == "welcome alice")
        .await?;
    let mut bob = Probe::start(&lan.exec(2), connect, "bob", &[])?;
    bob.wait_for("bob's welcome", WAIT, |l| l == "welcome bob")
        .await?;
    let servers = listed_until(&lan, 1, "2 people", COUNT_SHOWS, |s| {
        s.first().is_some_and(|s| s["people"] == 2)
    })
    .await?;
    assert_eq!(servers, [entry("Test room", &addr, 2, None)]);

    // And leaves.
    drop(bob);
    let servers = listed_until(&lan, 2, "1 person", COUNT_SHOWS, |s| {
        s.first().is_some_and(|s| s["people"] == 1)
    })
    .await?;
    assert_eq!(servers, [entry("Test room", &addr, 1, None)]);

    // A listing that saw the server before it stopped loses it when it stops: the
    // server withdraws its announcement, which a browser takes at once, instead of
    // keeping it until its records expire (two minutes).
    let watching = lan.list(2, 2 * LISTEN);
    let stop = async {
        // Long enough for the listing to have found the server.
        tokio::time::sleep(LISTEN).await;
        send_signal(server.id().context("the server runs")?, "TERM")?;
        tokio::time::timeout(WAIT, server.wait())
            .await
            .context("the server did not stop on SIGTERM")??;
        anyhow::Ok(())
    };
    let (watched, stopped) = tokio::join!(watching, stop);
    stopped?;
    let (servers, stderr) = watched?;
    assert_eq!(servers, Vec::<Value>::new(), "withdrawn");
    assert!(stderr.contains("no server announced itself"), "{stderr}");

    // A new listing does not show it either.
    let (servers, _) = lan.list(1, LISTEN).await?;
    assert_eq!(servers, Vec::<Value>::new());
    drop(alice);
    Ok(())
}

#[tokio::test]
async fn only_servers_that_announce_are_listed() -> Result {
    if cannot_build("only_servers_that_announce_are_listed") {
        return Ok(());
    }
    let lan = Lan::create("quiet", 2)?;
    // Listening on one address: announced there.
    let pinned = format!("{}:0", Lan::ip(0));
    let (_announced, bound) = server(&lan, 0, &pinned, &["--name", "announced"]).await?;
    let (_off, _) = server(&lan, 0, "0.0.0.0:0", &["--name", "off", "--no-announce"]).await?;
    let (_local, _) = server(&lan, 0, "127.0.0.1:0", &["--name", "local"]).await?;

    // From another host, and from the servers' own (through its LAN interface, as a
    // listing does not look at loopback).
    let (other, own) = tokio::join!(lan.list(1, LISTEN), lan.list(0, LISTEN));
    let addr = format!("{}:{}", Lan::ip(0), bound.port());
    // It speaks TLS, as servers do by default, and announces its key.
    let fp = server_key(bound).context("a TLS server")?.hex();
    for (servers, stderr) in [other?, own?] {
        // The announcing server proves the listing works; the other two are not in it.
        assert_eq!(
            servers,
            [entry("announced", &addr, 0, Some(&fp))],
            "{stderr}"
        );
    }
    Ok(())
}
