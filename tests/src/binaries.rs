//! The real binaries of the workspace, for tests that run them as a user would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};
use shared::tls::Fingerprint;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::time::timeout;

use crate::client::WAIT;

/// Path of the workspace binary `name` (`chat-server`, `chat-tui`, ...).
///
/// The first call builds every binary of the workspace with the same cargo and profile that
/// runs the tests, so `cargo test` alone is enough from a clean checkout.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--workspace", "--bins"]);
        if profile_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build --bins failed");
    });
    let path = profile_dir().join(name);
    assert!(path.exists(), "binary {} not found", path.display());
    path
}

/// A fresh, empty folder for one test's scratch files, under `target/tmp/` (removed with
/// `cargo clean`), named `what-PID-N` so that concurrent tests and runs never share one.
pub fn scratch_dir(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = profile_dir()
        .parent()
        .expect("target/<profile> has a parent")
        .join("tmp")
        .join(format!("{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch folder under target/tmp");
    dir
}

/// `target/<profile>`: the test executable lives in `target/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// The TLS keys of the servers this test process started, by the address they listen on
/// (and the relays in front of them, [`crate::proxy`]).
static KEYS: OnceLock<Mutex<HashMap<SocketAddr, Fingerprint>>> = OnceLock::new();

fn keys() -> std::sync::MutexGuard<'static, HashMap<SocketAddr, Fingerprint>> {
    KEYS.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The key of the TLS server this test process started at `addr`, as it printed it;
/// `None` for a plaintext one (`--plaintext`, or the in-process [`crate::client::start_server`]).
///
/// The tests' clients reach a server as a user who met it before does: with its key
/// pinned (chat-tui in [`crate::tmux`], chat-cli with `--trust`, [`crate::client::TestClient`]
/// trusting it). The first contact itself, the question and the refusals, is what
/// `tls_trust.rs` tests.
pub fn server_key(addr: SocketAddr) -> Option<Fingerprint> {
    keys().get(&addr).copied()
}

/// Notes that the server at `addr` holds the key `fp` (a server started at that address
/// anew replaces the note of the one before).
pub fn remember_key(addr: SocketAddr, fp: Option<Fingerprint>) {
    match fp {
        Some(fp) => keys().insert(addr, fp),
        None => keys().remove(&addr),
    };
}

/// The arguments that make chat-cli or chat-bench reach the server at `addr` as it
/// speaks: `--trust KEY` for a TLS server this process started, else `--plaintext`.
pub fn reach_args(addr: SocketAddr) -> Vec<String> {
    match server_key(addr) {
        Some(fp) => vec!["--trust".into(), fp.to_string()],
        None => vec!["--plaintext".into()],
    }
}

/// Starts `chat-server --listen 127.0.0.1:0 --log-level warn` with `args` added, and reads
/// where it listens from its stdout. The process is killed if the handle is dropped. It
/// speaks TLS, as it does by default, unless `args` hold `--plaintext`; its key is
/// remembered ([`server_key`]).
///
/// Like every server a test starts, it reads no configuration file of the user's, and
/// keeps its files in a data directory of its own unless `args` names one: servers
/// starting together in one folder would each clear the others' `tmp/`.
pub async fn start_server_binary(args: &[&str]) -> anyhow::Result<(Child, SocketAddr)> {
    start_server_process(&[], "127.0.0.1:0", args, Stdio::null()).await
}

/// Starts `chat-server --listen LISTEN --log-level warn` with `args` added, run through
/// `wrapper` if it is not empty (`["ip", "netns", "exec", "NS"]`, or a shell that lowers
/// a limit first and then runs `"$0" "$@"`), with its standard error going to `stderr`.
/// Reads where it listens from its stdout. The process is killed if the handle is
/// dropped.
pub async fn start_server_process(
    wrapper: &[&str],
    listen: &str,
    args: &[&str],
    stderr: Stdio,
) -> anyhow::Result<(Child, SocketAddr)> {
    let server = binary("chat-server");
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut command = tokio::process::Command::new(program);
            command.args(rest).arg(&server);
            command
        }
        None => tokio::process::Command::new(&server),
    };
    if !args.contains(&"--data-dir") {
        command.arg("--data-dir").arg(scratch_dir("server-data"));
    }
    command
        .env("XDG_CONFIG_HOME", scratch_dir("no-config"))
        .args(["--listen", listen, "--log-level", "warn"])
        .args(args)
        .stderr(stderr);
    spawn_listening(&mut command).await
}

/// Spawns a server `command` and reads where it listens from the `listening on ADDR` line
/// of its stdout. The process is killed if the handle is dropped, so a test that fails
/// midway leaves no server behind.
pub async fn spawn_listening(
    command: &mut tokio::process::Command,
) -> anyhow::Result<(Child, SocketAddr)> {
    let (child, line) = spawn_and_read_first_line(command).await?;
    let (addr, fp) = listening_line(&line)?;
    remember_key(addr, fp);
    Ok((child, addr))
}

/// The address and the key's fingerprint (a TLS server's) in the line `listening on ADDR
/// (TLS, fingerprint FP)`, or `listening on ADDR` (plaintext).
pub fn listening_line(line: &str) -> anyhow::Result<(SocketAddr, Option<Fingerprint>)> {
    let Some((_, rest)) = line.trim().split_once("listening on ") else {
        bail!("unexpected first line: {line:?}");
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let addr = words.first().copied().unwrap_or_default();
    let addr = addr.parse().context("listening address")?;
    let fp = match words[1..] {
        [] => None,
        ["(TLS,", "fingerprint", fp] => {
            Some(Fingerprint::parse(fp.trim_end_matches(')')).map_err(anyhow::Error::msg)?)
        }
        _ => bail!("unexpected first line: {line:?}"),
    };
    Ok((addr, fp))
}

/// As [`spawn_listening`], for a TLS server: also the fingerprint it prints.
pub async fn spawn_tls(
    command: &mut tokio::process::Command,
) -> anyhow::Result<(Child, SocketAddr, String)> {
    let (child, line) = spawn_and_read_first_line(command).await?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let ["listening", "on", addr, "(TLS,", "fingerprint", fp] = words[..] else {
        bail!("unexpected first line of a TLS server: {line:?}");
    };
    let fp = fp.trim_end_matches(')').to_owned();
    let addr = addr.parse().context("listening address")?;
    remember_key(addr, Fingerprint::parse(&fp).ok());
    Ok((child, addr, fp))
}

/// Spawns a server `command`, killed if the handle is dropped, and reads the first line of
/// its stdout, where it says where it listens.
async fn spawn_and_read_first_line(
    command: &mut tokio::process::Command,
) -> anyhow::Result<(Child, String)> {
    let mut child = command
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("spawn chat-server")?;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let mut line = String::new();
    timeout(WAIT, BufReader::new(stdout).read_line(&mut line))
        .await
        .context("no 'listening on' line in time")??;
    Ok((child, line))
}
