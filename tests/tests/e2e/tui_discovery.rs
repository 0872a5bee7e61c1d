//! The terminal client finds servers on the LAN: with no address it lists what announces
//! itself and joins the one picked; `--list` prints them. Everything runs on a LAN of the
//! test's own (network namespaces on a bridge, `tests::lan`) with an mDNS port of the
//! tests' own, never on the machine's network; the client runs in tmux through
//! `ip netns exec`.
//!
//! Needs root (network namespaces); without it the tests say so and are skipped, except
//! under CI, where they fail.

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tests::binaries::{binary, remember_key, scratch_dir, server_key, start_server_process};
use tests::client::WAIT;
use tests::lan::{Lan, TEST_MDNS_PORT, cannot_build};
use tests::probe::Probe;
use tests::tmux::Tmux;

type Result = anyhow::Result<()>;

/// What the client says while it looks.
const LOOKING: &str = "looking for servers on the LAN…";

/// How long the listings may take to show a changed number of people three times in a
/// row ([`settled`]): the server reads it every 2 s, and each listing listens for 2 s.
const SETTLES: Duration = Duration::from_secs(30);

/// The words that run a program on host `i` of `lan`, in a folder of its own (where
/// `--host` keeps its data) and with no configuration file of the user's.
fn on_host(lan: &Lan, i: usize) -> Vec<String> {
    let folder = scratch_dir("tui-lan");
    let config = scratch_dir("no-config");
    let mut words: Vec<String> = lan.exec(i).iter().map(|w| (*w).to_owned()).collect();
    words.extend([
        "env".to_owned(),
        "-C".to_owned(),
        folder.display().to_string(),
        format!("XDG_CONFIG_HOME={}", config.display()),
    ]);
    words
}

/// Opens window `name` running `chat-tui --mdns-port TEST_MDNS_PORT ARGS` on host `i`.
fn chat_tui_on(tmux: &mut Tmux, lan: &Lan, i: usize, name: &str, args: &[&str]) {
    let wrapper = on_host(lan, i);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let port = TEST_MDNS_PORT.to_string();
    let mut all = vec!["--mdns-port", port.as_str()];
    all.extend_from_slice(args);
    tmux.chat_tui_through(name, &wrapper, &all);
}

/// Runs `chat-tui --mdns-port TEST_MDNS_PORT ARGS` on host `i` outside any terminal, to
/// its end (bounded).
async fn chat_tui_output(lan: &Lan, i: usize, args: &[&str]) -> anyhow::Result<Output> {
    let log = scratch_dir("tui-lan-log").join("chat-tui.log");
    let wrapper = on_host(lan, i);
    let output = tokio::process::Command::new(&wrapper[0])
        .args(&wrapper[1..])
        .arg(binary("chat-tui"))
        .args(["--log-file", &log.display().to_string()])
        .args(["--mdns-port", &TEST_MDNS_PORT.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(WAIT * 3, output)
        .await
        .context("chat-tui did not finish in time")?
        .context("run chat-tui")
}

/// `chat-tui --list --json` on host `i`, run again until it prints `expected` three times
/// in a row (for at most [`SETTLES`]).
///
/// A picker must not look while the announcements are still moving. After the number of
/// people changes, the server's mDNS daemon sends the new record three times within about
/// a second, and for a second after the last of them it answers a query without that
/// record (RFC 6762: a record is multicast at most once a second), the one that holds the
/// name and the count; mdns-sd's browser never asks for it again, so a browse that starts
/// in that second misses the server. Three listings in a row, two seconds each, put the
/// last change well behind.
async fn settled(lan: &Lan, i: usize, what: &str, expected: &[String]) -> Result {
    let deadline = Instant::now() + SETTLES;
    let mut in_a_row = 0;
    while in_a_row < 3 {
        let lines = list_json(lan, i).await?;
        in_a_row = if lines == expected { in_a_row + 1 } else { 0 };
        if in_a_row < 3 && Instant::now() >= deadline {
            bail!(
                "no three listings in a row showed {what} within {SETTLES:?}; the last: {lines:?}"
            );
        }
    }
    Ok(())
}

/// The lines of `chat-tui --list --json` on host `i`.
async fn list_json(lan: &Lan, i: usize) -> anyhow::Result<Vec<String>> {
    let output = chat_tui_output(lan, i, &["--list", "--json"]).await?;
    if !output.status.success() {
        bail!(
            "chat-tui --list --json failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// `chat-server --name NAME` on host `i`, on all its interfaces, announcing with the
/// tests' mDNS port, with `args` added; returns where others reach it.
async fn server(
    lan: &Lan,
    i: usize,
    name: &str,
    args: &[&str],
) -> anyhow::Result<(tokio::process::Child, SocketAddr)> {
    let port = TEST_MDNS_PORT.to_string();
    let mut all = vec!["--mdns-port", &port, "--name", name];
    all.extend_from_slice(args);
    let (child, bound) =
        start_server_process(&lan.exec(i), "0.0.0.0:0", &all, Stdio::inherit()).await?;
    let addr = format!("{}:{}", Lan::ip(i), bound.port()).parse()?;
    remember_key(addr, server_key(bound));
    Ok((child, addr))
}

/// The JSON line `--list --json` prints for a server that announces the key `fp` (64 hex
/// digits; `None` for a plaintext server).
fn json_line(name: &str, addr: SocketAddr, people: u32, fp: Option<&str>) -> String {
    let fp = fp.map_or("null".to_owned(), |fp| format!("\"{fp}\""));
    format!(
        r#"{{"name":"{name}","addr":"{addr}","people":{people},"version":{},"fingerprint":{fp}}}"#,
        shared::PROTOCOL_VERSION
    )
}

/// The key a server announced, from its line of `--list --json`.
fn announced_key(line: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(line).ok()?;
    json["fingerprint"].as_str().map(str::to_owned)
}

/// The picker's row for the selected server, as words: name, address, people, version,
/// the start of its key.
fn selected_row(screen: &str) -> Vec<String> {
    let row = screen
        .lines()
        .find_map(|l| l.strip_prefix(" ▶ "))
        .unwrap_or_else(|| panic!("no selected row:\n{screen}"));
    row.split("  ")
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The issue's promise: one person runs `chat-tui --host`, the other `chat-tui`, and the
/// second is chatting without typing an address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_on_a_lan_chat_without_typing_an_address() -> Result {
    if cannot_build("two_people_on_a_lan_chat_without_typing_an_address") {
        return Ok(());
    }
    // Declared first, so that it is dropped last: the namespaces go after the processes.
    let lan = Lan::create("tui-host", 2)?;
    let mut tmux = Tmux::new("lan-host");
    chat_tui_on(&mut tmux, &lan, 0, "ann", &["--host", "--nick", "ann"]);
    tmux.wait_for("ann", &format!("hosting on {}:7878", Lan::ip(0)));
    let addr: SocketAddr = format!("{}:7878", Lan::ip(0)).parse()?;
    let name = chat_server::default_name();
    // The hosted server speaks TLS, as every server does by default, and announces its
    // key; the room counts ann once its count is announced.
    let listed = list_json(&lan, 1).await?;
    let fp = listed.first().and_then(|l| announced_key(l));
    let fp = fp.with_context(|| format!("a key announced: {listed:?}"))?;
    settled(
        &lan,
        1,
        "ann's room with ann in it",
        &[json_line(&name, addr, 1, Some(&fp))],
    )
    .await?;

    chat_tui_on(&mut tmux, &lan, 1, "bob", &["--nick", "bob"]);
    tmux.wait_for("bob", LOOKING);
    let screen = tmux.wait_for("bob", "1 chat server found on the LAN");
    let key_start = format!("{}:{}…", &fp[..4], &fp[4..8]);
    assert_eq!(
        selected_row(&screen),
        [name.as_str(), &addr.to_string(), "1", "4", &key_start],
        "{screen}"
    );
    // The whole key is shown: joining trusts it, without another question.
    let shown = shared::tls::Fingerprint::parse(&fp).map_err(anyhow::Error::msg)?;
    assert!(screen.contains(&format!(" key {shown}")), "{screen}");
    tmux.keys("bob", &["Enter"]);
    tmux.wait_for("bob", "joined #lobby as bob (2 members)");
    tmux.wait_for("bob", &format!("| {addr}"));
    tmux.wait_for("ann", "bob joined #lobby");
    tmux.say("bob", "hi ann, I typed no address");
    tmux.wait_for("ann", "<bob> hi ann, I typed no address");
    tmux.say("ann", "welcome, bob");
    tmux.wait_for("bob", "<ann> welcome, bob");
    tmux.say("bob", "/quit");
    tmux.assert_exit("bob", 0);
    tmux.say("ann", "/quit");
    tmux.assert_exit("ann", 0);
    Ok(())
}

/// Two servers: `--list` prints both, the picker lists both, the arrows choose, Esc
/// leaves, and a picked server that is gone is one line after the terminal is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_and_the_picker_show_every_server_and_the_arrows_choose() -> Result {
    if cannot_build("the_list_and_the_picker_show_every_server_and_the_arrows_choose") {
        return Ok(());
    }
    let lan = Lan::create("tui-pick", 3)?;
    // alpha speaks plain TCP (pat, chat-probe, does not speak TLS), beta TLS.
    let (_alpha, alpha) = server(&lan, 0, "alpha", &["--plaintext"]).await?;
    let (mut beta_server, beta) = server(&lan, 1, "beta room", &[]).await?;
    let beta_key = server_key(beta).context("beta speaks TLS")?.hex();
    let mut probe = Probe::start(&lan.exec(0), alpha, "pat", &[])?;
    probe
        .wait_for("pat's welcome", WAIT, |l| l == "welcome pat")
        .await?;

    // For scripts: a JSON object a line, sorted by name, the count current.
    let both = [
        json_line("alpha", alpha, 1, None),
        json_line("beta room", beta, 0, Some(&beta_key)),
    ];
    settled(&lan, 2, "alpha with pat in it, and beta", &both).await?;
    // For people: a line each.
    let output = chat_tui_output(&lan, 2, &["--list"]).await?;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout)?,
        format!("alpha  {alpha}  1 person  protocol 4\nbeta room  {beta}  0 people  protocol 4\n")
    );
    assert_eq!(String::from_utf8(output.stderr)?, "");

    let mut tmux = Tmux::new("lan-pick");
    // The arrows choose; Enter joins the one chosen.
    chat_tui_on(&mut tmux, &lan, 2, "carol", &["--nick", "carol"]);
    let screen = tmux.wait_for("carol", "2 chat servers found on the LAN");
    assert_eq!(
        selected_row(&screen),
        ["alpha", &alpha.to_string(), "1", "4", "no TLS"]
    );
    assert!(
        screen.contains(&format!("   beta room  {beta}")),
        "{screen}"
    );
    tmux.keys("carol", &["Down"]);
    let screen = tmux.wait_until("carol", "beta selected", |s| {
        s.contains(&format!(" ▶ beta room  {beta}"))
    });
    assert!(
        screen.contains(&format!("   alpha      {alpha}")),
        "{screen}"
    );
    tmux.keys("carol", &["Enter"]);
    tmux.wait_for("carol", "joined #lobby as carol (1 member)");
    tmux.wait_for("carol", &format!("| {beta}"));
    let both = [
        json_line("alpha", alpha, 1, None),
        json_line("beta room", beta, 1, Some(&beta_key)),
    ];
    settled(&lan, 2, "carol in beta", &both).await?;

    // Esc leaves without joining, and the terminal is the shell's again.
    chat_tui_on(&mut tmux, &lan, 2, "dave", &["--nick", "dave"]);
    tmux.wait_for("dave", "2 chat servers found on the LAN");
    tmux.keys("dave", &["Escape"]);
    tmux.assert_exit("dave", 0);
    let screen = tmux.screen("dave");
    assert!(!screen.contains("found on the LAN"), "{screen}");

    // A server that stops after it was listed: joining it is one line, as for --connect.
    chat_tui_on(&mut tmux, &lan, 2, "erin", &["--nick", "erin"]);
    tmux.wait_for("erin", "2 chat servers found on the LAN");
    beta_server.kill().await?;
    tmux.keys("erin", &["Down", "Enter"]);
    tmux.assert_exit("erin", 2);
    let screen = tmux.screen("erin");
    assert!(
        screen.contains(&format!("chat-tui: cannot reach the server at {beta}: ")),
        "{screen}"
    );
    assert!(!screen.contains("found on the LAN"), "{screen}");
    drop(probe);
    Ok(())
}

/// No server on the LAN: the client says what to do in one line and exits with status 2,
/// before it takes the screen; `--list` says so on standard error and exits with 0.
#[tokio::test]
async fn no_server_on_the_lan_is_one_line_on_what_to_do() -> Result {
    if cannot_build("no_server_on_the_lan_is_one_line_on_what_to_do") {
        return Ok(());
    }
    let lan = Lan::create("tui-none", 1)?;
    // A server of its own on loopback, which is never announced, is not a server found.
    let (_local, _) = start_server_process(
        &lan.exec(0),
        "127.0.0.1:0",
        &["--mdns-port", &TEST_MDNS_PORT.to_string()],
        Stdio::inherit(),
    )
    .await?;

    let output = chat_tui_output(&lan, 0, &["--nick", "lonely"]).await?;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stderr)?,
        format!(
            "{LOOKING}\nchat-tui: no server announced itself on the LAN within 2s; to join \
             one, give its address (chat-tui --connect HOST:PORT), or host a room yourself \
             (chat-tui --host)\n"
        )
    );
    // Nothing was drawn: the screen was never taken.
    assert_eq!(output.stdout, b"");

    for args in [&["--list"][..], &["--list", "--json"]] {
        let output = chat_tui_output(&lan, 0, args).await?;
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        assert_eq!(output.stdout, b"", "{args:?}");
        assert_eq!(
            String::from_utf8(output.stderr)?,
            "chat-tui: no server announced itself on the LAN within 2s\n",
            "{args:?}"
        );
    }
    Ok(())
}
