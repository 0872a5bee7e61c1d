//! A silent peer: a client in a network namespace of its own whose link is cut, so that
//! the server never hears a FIN or a reset. The keepalive removes it and frees its nick.
//!
//! Needs root (network namespaces); without it the test says so and is skipped, except under
//! CI, where it fails.

use tests::binaries::start_server_process;
use tests::client::WAIT;
use tests::probe::{NetnsPair, Probe, can_administer, cannot_run};

type Result = anyhow::Result<()>;

#[tokio::test]
async fn a_peer_whose_link_is_cut_is_removed_by_the_keepalive() -> Result {
    if !can_administer() {
        cannot_run(
            "a_peer_whose_link_is_cut_is_removed_by_the_keepalive",
            "it needs root and `ip netns` to put a client behind a link it can cut",
        );
        return Ok(());
    }
    // Declared first, so that it is dropped last: the namespaces go after the processes.
    let pair = NetnsPair::create("silent")?;
    let listen = format!("{}:0", NetnsPair::SERVER_IP);
    let (_server, addr) = start_server_process(
        &NetnsPair::exec(&pair.server),
        &listen,
        // In plaintext: chat-probe speaks plain TCP.
        &[
            "--ping-interval",
            "300ms",
            "--idle-timeout",
            "1s",
            "--plaintext",
        ],
        std::process::Stdio::null(),
    )
    .await?;
    let mut watcher = Probe::start(&NetnsPair::exec(&pair.server), addr, "watcher", &[])?;
    watcher
        .wait_for("the watcher's welcome", WAIT, |l| l == "welcome watcher")
        .await?;
    let mut ghost = Probe::start(&NetnsPair::exec(&pair.client), addr, "ghost", &[])?;
    ghost
        .wait_for("the ghost's welcome", WAIT, |l| l == "welcome ghost")
        .await?;
    watcher
        .wait_for("the ghost joining", WAIT, |l| l == "joined ghost")
        .await?;

    // The ghost's process stays alive, but nothing passes the link any more.
    pair.cut()?;
    watcher
        .wait_for("the ghost timing out", 10 * WAIT, |l| {
            l == "left ghost timed out"
        })
        .await?;

    // Its nick is free.
    let mut again = Probe::start(&NetnsPair::exec(&pair.server), addr, "ghost", &[])?;
    again
        .wait_for("the new ghost's welcome", WAIT, |l| l == "welcome ghost")
        .await?;
    drop(ghost);
    Ok(())
}
