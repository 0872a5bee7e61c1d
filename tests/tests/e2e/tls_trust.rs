//! TLS with trust on first use, with the real binaries on 127.0.0.1: the first contact
//! and the pin (chat-cli with --trust; chat-tui's question in tmux), a server whose key
//! was replaced, `--forget`, a relay with its own key, an impostor holding only the
//! server's certificate, plaintext against TLS both ways, and a restart with the same key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chat_client::Connector;
use chat_client::dial::tls::TlsDial;
use chat_client::trust::{PINS_FILE, Pins};
use chat_server::Transport;
use chat_server::transport::tls::{Identity, TlsListener};
use shared::tls::Fingerprint;
use tempfile::TempDir;
use tests::binaries::{binary, remember_key, scratch_dir, spawn_listening, spawn_tls};
use tests::client::WAIT;
use tests::tmux::Tmux;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout};

type Result = anyhow::Result<()>;

/// A chat-server binary: its process, address, fingerprint (TLS) and log file.
struct Server {
    _child: Child,
    addr: SocketAddr,
    fp: Option<String>,
    log: PathBuf,
}

/// Starts `chat-server --listen LISTEN --data-dir DATA` (TLS, the default; `--plaintext`
/// unless `tls`), logging
/// at info to a file. Binding a port just freed is retried for a few seconds.
async fn server(listen: &str, data: &Path, tls: bool) -> anyhow::Result<Server> {
    let log = scratch_dir("tls-server-log").join("server.log");
    let mut last = None;
    for _ in 0..20 {
        let mut command = Command::new(binary("chat-server"));
        command
            .env("XDG_CONFIG_HOME", scratch_dir("no-config"))
            .args(["--listen", listen, "--log-level", "info", "--no-history"])
            .arg("--data-dir")
            .arg(data)
            .stderr(std::fs::File::create(&log)?);
        if !tls {
            command.arg("--plaintext");
        }
        let started = if tls {
            spawn_tls(&mut command)
                .await
                .map(|(child, addr, fp)| (child, addr, Some(fp)))
        } else {
            spawn_listening(&mut command)
                .await
                .map(|(child, addr)| (child, addr, None))
        };
        match started {
            Ok((child, addr, fp)) => {
                // Met for the first time here: no client of this file finds its key
                // pinned for it (tests::binaries::server_key).
                remember_key(addr, None);
                return Ok(Server {
                    _child: child,
                    addr,
                    fp,
                    log,
                });
            }
            Err(e) => last = Some(e),
        }
        sleep(Duration::from_millis(200)).await;
    }
    Err(last.expect("tried at least once"))
}

/// Waits (bounded) until the server's log holds `text`.
async fn log_shows(server: &Server, text: &str) -> anyhow::Result<String> {
    for _ in 0..100 {
        let log = std::fs::read_to_string(&server.log)?;
        if log.contains(text) {
            return Ok(log);
        }
        sleep(Duration::from_millis(50)).await;
    }
    bail!("the server's log never said {text:?}")
}

/// `chat-cli --connect ADDR --nick NICK ARGS...` with the pins in `pins` (XDG_DATA_HOME).
fn chat_cli(pins: &Path, addr: SocketAddr, args: &[&str]) -> Command {
    let mut command = Command::new(binary("chat-cli"));
    command
        .env("XDG_DATA_HOME", pins)
        .args(["--connect", &addr.to_string(), "--nick", "bot"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs a command to its end (bounded); its status and standard error.
async fn run(mut command: Command) -> anyhow::Result<(ExitStatus, String)> {
    let out = timeout(WAIT, command.output())
        .await
        .context("the client did not finish in time")??;
    Ok((out.status, String::from_utf8(out.stderr)?))
}

/// The pin file's text under `pins`.
fn pin_file(pins: &Path) -> String {
    std::fs::read_to_string(pins.join("lanchat").join(PINS_FILE)).unwrap_or_default()
}

fn hex(fp: &str) -> String {
    Fingerprint::parse(fp).expect("a fingerprint").hex()
}

#[tokio::test]
async fn first_contact_pins_a_replaced_key_is_refused_and_forget_trusts_again() -> Result {
    let pins = TempDir::new()?;
    let (first_data, second_data) = (TempDir::new()?, TempDir::new()?);
    let s1 = server("127.0.0.1:0", first_data.path(), true).await?;
    let (addr, fp1) = (s1.addr, s1.fp.clone().context("a fingerprint")?);

    // First contact without --trust: refused, with the fingerprint and the line to use.
    let (status, err) = run(chat_cli(pins.path(), addr, &["send", "hi"])).await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("is not known yet"), "{err}");
    assert!(err.contains(&format!("--trust {fp1}")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(pin_file(pins.path()).is_empty(), "nothing pinned yet");

    // With --trust: connected, and pinned under HOST:PORT.
    let (status, err) = run(chat_cli(
        pins.path(),
        addr,
        &["--trust", &fp1, "send", "hi"],
    ))
    .await?;
    assert!(status.success(), "{err}");
    assert!(pin_file(pins.path()).contains(&format!("{} {addr}", hex(&fp1))));
    // From then on nothing more is needed (and --tls, of old, changes nothing).
    let (status, err) = run(chat_cli(pins.path(), addr, &["send", "again"])).await?;
    assert!(status.success(), "{err}");
    assert!(err.is_empty(), "{err}");
    let (status, err) = run(chat_cli(pins.path(), addr, &["--tls", "send", "again"])).await?;
    assert!(status.success(), "{err}");
    assert!(err.is_empty(), "{err}");

    // The same server restarted with the same key: silently trusted.
    drop(s1);
    let s1 = server(&addr.to_string(), first_data.path(), true).await?;
    assert_eq!(s1.fp.as_deref(), Some(fp1.as_str()), "the key is kept");
    let (status, err) = run(chat_cli(pins.path(), addr, &["send", "back"])).await?;
    assert!(status.success() && err.is_empty(), "{err}");

    // Another server with another key on the same address: refused, saying what changed.
    drop(s1);
    let s2 = server(&addr.to_string(), second_data.path(), true).await?;
    let fp2 = s2.fp.clone().context("a fingerprint")?;
    assert_ne!(fp1, fp2);
    let (status, err) = run(chat_cli(pins.path(), addr, &["send", "hi"])).await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("has changed"), "{err}");
    assert!(
        err.contains(&format!("It was {fp1}, it is now {fp2}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("chat-tui --forget '{addr}'")),
        "{err}"
    );
    // --trust does not click through a changed key either.
    let (status, err) = run(chat_cli(
        pins.path(),
        addr,
        &["--trust", &fp2, "send", "hi"],
    ))
    .await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("has changed"), "{err}");

    // --forget, then the new key is a first contact again.
    let out = timeout(
        WAIT,
        Command::new(binary("chat-tui"))
            .env("XDG_DATA_HOME", pins.path())
            .env("XDG_STATE_HOME", scratch_dir("tui-state"))
            .env("XDG_CONFIG_HOME", scratch_dir("no-config"))
            .args(["--forget", &addr.to_string()])
            .output(),
    )
    .await??;
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)?.contains("forgot the key"));
    let (status, err) = run(chat_cli(pins.path(), addr, &["send", "hi"])).await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("is not known yet") && err.contains(&fp2),
        "{err}"
    );
    let (status, err) = run(chat_cli(
        pins.path(),
        addr,
        &["--trust", &fp2, "send", "hi"],
    ))
    .await?;
    assert!(status.success(), "{err}");
    assert!(pin_file(pins.path()).contains(&hex(&fp2)));
    assert!(!pin_file(pins.path()).contains(&hex(&fp1)));
    Ok(())
}

#[tokio::test]
async fn plaintext_and_tls_meet_with_one_clear_line_on_each_side() -> Result {
    let pins = TempDir::new()?;
    let (tls_data, plain_data) = (TempDir::new()?, TempDir::new()?);
    let tls = server("127.0.0.1:0", tls_data.path(), true).await?;
    let plain = server("127.0.0.1:0", plain_data.path(), false).await?;

    // A plaintext client on the TLS server.
    let (status, err) = run(chat_cli(
        pins.path(),
        tls.addr,
        &["--plaintext", "send", "hi"],
    ))
    .await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("this server uses TLS: connect without --plaintext"),
        "{err}"
    );
    let log = log_shows(
        &tls,
        "a plaintext client reached this TLS server; told it to connect without --plaintext",
    )
    .await?;
    assert!(!log.contains("refused"), "one line, not two: {log}");

    // A TLS client on the plaintext server.
    let fp = tls.fp.clone().context("a fingerprint")?;
    let (status, err) = run(chat_cli(
        pins.path(),
        plain.addr,
        &["--trust", &fp, "send", "hi"],
    ))
    .await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.ends_with("this server does not use TLS: connect with --plaintext\n"),
        "the server's own words are not said twice: {err}"
    );
    let log = log_shows(
        &plain,
        "a TLS client reached this plaintext server; told it to connect with --plaintext",
    )
    .await?;
    // The same without --trust: TLS is the default.
    let (status, err) = run(chat_cli(pins.path(), plain.addr, &["send", "hi"])).await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("connect with --plaintext"), "{err}");
    // And with it, they talk.
    let (status, err) = run(chat_cli(
        pins.path(),
        plain.addr,
        &["--plaintext", "send", "hi"],
    ))
    .await?;
    assert!(status.success(), "{err}");
    assert!(!log.contains("refused"), "one line, not two: {log}");
    Ok(())
}

/// A relay that terminates TLS with a key of its own and forwards to `upstream` over TLS
/// (trusting its key): what an attacker in the middle would run.
async fn relay(
    upstream: SocketAddr,
    upstream_fp: Fingerprint,
) -> anyhow::Result<(SocketAddr, Fingerprint, TempDir)> {
    let dir = TempDir::new()?;
    let identity = Identity::load_or_create(dir.path(), None, None)?;
    let listener = TlsListener::new(TcpListener::bind("127.0.0.1:0").await?, &identity);
    let addr = Transport::local_addr(&listener)
        .context("an address")?
        .parse()?;
    tokio::spawn(async move {
        // Bounded: a test's relay serves a few connections.
        for _ in 0..8 {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let dial = chat_client::Dial::Tls(TlsDial::new(None, None, Some(upstream_fp)));
            tokio::spawn(async move {
                if let Ok(mut server) = dial.connect(&upstream.to_string()).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    Ok((addr, identity.fingerprint(), dir))
}

#[tokio::test]
async fn a_relay_in_the_middle_with_its_own_key_is_refused() -> Result {
    let pins = TempDir::new()?;
    let data = TempDir::new()?;
    let real = server("127.0.0.1:0", data.path(), true).await?;
    let real_fp = Fingerprint::parse(real.fp.as_deref().context("a fingerprint")?)
        .map_err(anyhow::Error::msg)?;
    let (relay_addr, relay_fp, _relay_dir) = relay(real.addr, real_fp).await?;

    // The user trusts the real server's key; the relay presents its own: refused.
    let real_shown = real_fp.to_string();
    let (status, err) = run(chat_cli(
        pins.path(),
        relay_addr,
        &["--trust", &real_shown, "send", "hi"],
    ))
    .await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("not {real_shown} as --trust says")),
        "{err}"
    );
    // The same with the real key pinned under the relay's address (where the server
    // was): a changed key.
    Pins::at(pins.path().join("lanchat").join(PINS_FILE)).add(&relay_addr.to_string(), real_fp)?;
    let (status, err) = run(chat_cli(pins.path(), relay_addr, &["send", "hi"])).await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("has changed"), "{err}");
    // The relay does relay: trusting its key gets through, so the refusals above were the
    // keys'.
    let relay_shown = relay_fp.to_string();
    let (status, err) = run(chat_cli(
        TempDir::new()?.path(),
        relay_addr,
        &["--trust", &relay_shown, "send", "hi"],
    ))
    .await?;
    assert!(status.success(), "{err}");
    Ok(())
}

/// The server's certificate with another key: the certificate alone must not pass.
#[derive(Debug)]
struct Always(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for Always {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

#[tokio::test]
async fn an_impostor_with_the_real_certificate_but_not_its_key_is_refused() -> Result {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pins = TempDir::new()?;
    let data = TempDir::new()?;
    let real = server("127.0.0.1:0", data.path(), true).await?;
    let fp = real.fp.clone().context("a fingerprint")?;
    // What anyone who connected once has: the server's certificate.
    let cert = CertificateDer::from_pem_file(data.path().join("tls-cert.pem"))?;
    let other = rcgen::KeyPair::generate()?;
    let key = PrivateKeyDer::from_pem_slice(other.serialize_pem().as_bytes())?;
    let provider = shared::tls::provider();
    let signer = provider.key_provider.load_private_key(key)?;
    let certified = rustls::sign::CertifiedKey::new(vec![cert], signer);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(shared::tls::PROTOCOL_VERSIONS)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Always(Arc::new(certified))));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let impostor = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        anyhow::Ok(acceptor.accept(tcp).await.is_ok())
    });
    let (status, err) = run(chat_cli(pins.path(), addr, &["--trust", &fp, "send", "hi"])).await?;
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("the TLS handshake failed"), "{err}");
    assert!(
        !timeout(WAIT, impostor).await???,
        "the impostor's handshake must fail"
    );
    assert!(
        pin_file(pins.path()).is_empty(),
        "nothing pinned: {}",
        pin_file(pins.path())
    );
    Ok(())
}

#[tokio::test]
async fn a_listening_client_reconnects_silently_to_a_server_restarted_with_its_key() -> Result {
    let pins = TempDir::new()?;
    let data = TempDir::new()?;
    let s = server("127.0.0.1:0", data.path(), true).await?;
    let (addr, fp) = (s.addr, s.fp.clone().context("a fingerprint")?);
    let mut listen = chat_cli(pins.path(), addr, &["--trust", &fp, "listen", "--json"]).spawn()?;
    let mut lines = BufReader::new(listen.stdout.take().context("stdout")?).lines();
    let mut wait_for = async |kind: &str| -> anyhow::Result<()> {
        let want = format!("\"type\":\"{kind}\"");
        timeout(Duration::from_secs(15), async {
            while let Some(line) = lines.next_line().await? {
                if line.contains(&want) {
                    return anyhow::Ok(());
                }
            }
            bail!("chat-cli ended before {kind}")
        })
        .await
        .with_context(|| format!("no {kind} in time"))?
    };
    wait_for("joined").await?;
    drop(s);
    wait_for("disconnected").await?;
    let _s = server(&addr.to_string(), data.path(), true).await?;
    wait_for("reconnected").await?;
    let _ = listen.start_kill();
    Ok(())
}

#[test]
fn chat_tui_asks_at_first_contact_and_pins_on_yes() {
    let data = scratch_dir("tls-tui-data");
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let s = rt
        .block_on(server("127.0.0.1:0", &data, true))
        .expect("a TLS server");
    let fp = s.fp.clone().expect("a fingerprint");
    let mut tmux = Tmux::new("tls-first-contact");
    let addr = s.addr.to_string();
    tmux.chat_tui("ann", &["--connect", &addr, "--nick", "ann"]);
    let screen = tmux.wait_for("ann", "(y/n)");
    assert!(screen.contains("is not known yet"), "{screen}");
    assert!(screen.contains(&fp), "the fingerprint is shown: {screen}");
    tmux.type_text("ann", "y");
    tmux.keys("ann", &["Enter"]);
    tmux.wait_for("ann", "as ann (");
    let pinned = std::fs::read_to_string(tmux.data_home().join("lanchat").join(PINS_FILE))
        .expect("the pin file");
    assert!(pinned.contains(&format!("{} {addr}", hex(&fp))), "{pinned}");

    // A second run does not ask; a "n" on an unknown server leaves.
    tmux.chat_tui("bob", &["--connect", &addr, "--nick", "bob"]);
    tmux.wait_for("bob", "as bob (");
    std::fs::remove_file(tmux.data_home().join("lanchat").join(PINS_FILE)).expect("remove");
    tmux.chat_tui("cid", &["--tls", "--connect", &addr, "--nick", "cid"]);
    tmux.wait_for("cid", "(y/n)");
    tmux.type_text("cid", "n");
    tmux.keys("cid", &["Enter"]);
    tmux.assert_exit("cid", 2);
    drop(s);

    // Hosting over TLS (the default): no question (its own key), and the status line
    // shows the key; with --plaintext, no key.
    tmux.chat_tui("hal", &["--host", "127.0.0.1:0", "--nick", "hal"]);
    let screen = tmux.wait_for("hal", "TLS key");
    assert!(!screen.contains("(y/n)"), "{screen}");
    tmux.chat_tui(
        "pat",
        &["--host", "127.0.0.1:0", "--plaintext", "--nick", "pat"],
    );
    let screen = tmux.wait_for("pat", "as pat (");
    assert!(!screen.contains("TLS key"), "{screen}");
}

#[tokio::test]
async fn a_file_goes_up_and_down_whole_over_tls() -> Result {
    use chat_client::transfer::{Request, TransferEvent};
    use chat_client::{Event, Options};
    use tests::client::offered;
    use tests::files::{random_file, sha256_of};
    use tests::library::{transfer_end, until};

    let data = TempDir::new()?;
    let files = TempDir::new()?;
    let s = server("127.0.0.1:0", data.path(), true).await?;
    let fp = Fingerprint::parse(s.fp.as_deref().context("a fingerprint")?)
        .map_err(anyhow::Error::msg)?;
    let connect = async |nick: &str| {
        let dial = chat_client::Dial::Tls(TlsDial::new(None, None, Some(fp)));
        let options = Options {
            addr: s.addr.to_string(),
            nick: nick.into(),
            room: "files".into(),
        };
        chat_client::connect_with(dial, options).await
    };
    let (alice, mut alice_events, _) = connect("alice").await?;
    let (bob, mut bob_events, _) = connect("bob").await?;
    // Several megabytes: more than the sockets hold, so that writes wait on the reader
    // and TLS holds records back, to be flushed.
    let size = 4_000_000;
    let (upload, sha) = random_file(files.path(), "big.bin", size, 7)?;
    alice.transfer(Request::Upload {
        id: 1,
        path: upload.display().to_string(),
    });
    let file_id = match timeout(Duration::from_secs(60), transfer_end(&mut alice_events, 1))
        .await
        .context("the upload did not end in time")??
    {
        TransferEvent::Uploaded { file_id, .. } => file_id,
        other => bail!("the upload ended with {other:?}"),
    };
    until(
        &mut bob_events,
        "the offer",
        |e| matches!(e, Event::Server(m) if offered(m).is_some()),
    )
    .await?;
    let downloads = files.path().join("downloads");
    bob.transfer(Request::Download {
        id: 2,
        file_id,
        dir: downloads.clone(),
    });
    let saved = match timeout(Duration::from_secs(60), transfer_end(&mut bob_events, 2))
        .await
        .context("the download did not end in time")??
    {
        TransferEvent::Saved { path, .. } => path,
        other => bail!("the download ended with {other:?}"),
    };
    assert_eq!(sha256_of(&saved)?, sha);
    alice.finish().await;
    bob.finish().await;
    Ok(())
}
