//! `chat-probe` (a minimal client in a process of its own) driven from a test, and the
//! operating-system tools fault tests need: signals, memory figures from `/proc`, network
//! namespaces and a small tmpfs, each undone by a guard.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use crate::binaries::binary;

/// A running `chat-probe`. Killed when dropped.
#[derive(Debug)]
pub struct Probe {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every line read so far, for failure messages.
    pub seen: Vec<String>,
}

impl Probe {
    /// Starts `chat-probe --connect ADDR --nick NICK` with `args` added, run through
    /// `wrapper` if it is not empty (`["ip", "netns", "exec", "NS"]`).
    pub fn start(
        wrapper: &[&str],
        addr: SocketAddr,
        nick: &str,
        args: &[&str],
    ) -> anyhow::Result<Self> {
        let probe = binary("chat-probe");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = tokio::process::Command::new(program);
                command.args(rest).arg(&probe);
                command
            }
            None => tokio::process::Command::new(&probe),
        };
        let mut child = command
            .args(["--connect", &addr.to_string(), "--nick", nick])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("spawn chat-probe")?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        })
    }

    /// The process id.
    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the probe has exited")
    }

    /// Waits, at most `within`, for a line that satisfies `pred`, and returns it.
    pub async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let line = match timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => bail!("probe output ended before {what}; {}", self.tail()),
                Err(_) => bail!("no {what} within {within:?}; {}", self.tail()),
            };
            self.seen.push(line.clone());
            if pred(&line) {
                return Ok(line);
            }
        }
    }

    /// Sends one command line (`say TEXT`, `download ID`, `quit`).
    pub async fn command(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin is closed")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`, ...) to the probe.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        send_signal(self.pid()?, signal)
    }

    /// Waits, at most `within`, for the process to exit; kills it if it does not.
    /// Returns whether it exited by itself.
    pub async fn exit_within(&mut self, within: Duration) -> bool {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(_) => true,
            Err(_) => {
                let _ = self.child.kill().await;
                false
            }
        }
    }

    fn tail(&self) -> String {
        let start = self.seen.len().saturating_sub(5);
        format!(
            "{} lines, ending {:?}",
            self.seen.len(),
            &self.seen[start..]
        )
    }
}

/// Sends `signal` to the process `pid`, which the test started itself.
pub fn send_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .context("run kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed: {status}");
    }
    Ok(())
}

/// A memory figure of process `pid` from `/proc/PID/status`, in KiB: `VmRSS` (resident
/// now) or `VmHWM` (the most it was ever resident).
pub fn vm_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    line.split_whitespace()
        .nth(1)
        .context("a number")?
        .parse()
        .context("a number of KiB")
}

/// Says why a test that needs root could not run here, and skips it; under CI (`CI` set to
/// `true`) it fails instead, since CI runs as root with `ip` installed and a skip there
/// would hide a test that never ran.
pub fn cannot_run(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} could not run under CI: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// Mounts a tmpfs of `size` for a test that needs a small disk; `None` once
/// [`cannot_run`] has said why that is impossible here.
pub fn small_disk(test: &str, size: &str) -> Option<Tmpfs> {
    if !can_administer() {
        cannot_run(test, "it needs root to mount a small tmpfs");
        return None;
    }
    match Tmpfs::mount(size) {
        Ok(disk) => Some(disk),
        Err(e) => {
            cannot_run(test, &format!("{e:#}"));
            None
        }
    }
}

/// Whether this process may create network namespaces and mount file systems (root, and
/// `ip` installed).
pub fn can_administer() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ip = Command::new("ip")
        .args(["netns", "list"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    root && ip
}

/// Runs a command that must succeed.
fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("run {program}"))?;
    if !output.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Two network namespaces of this test's own, joined by a veth pair with private
/// addresses: `server` has [`NetnsPair::SERVER_IP`], `client` [`NetnsPair::CLIENT_IP`].
/// Nothing is added to the namespace the test runs in. Dropping it deletes both
/// namespaces (and with them the veth pair), also when the test fails.
#[derive(Debug)]
pub struct NetnsPair {
    /// Name of the server's namespace.
    pub server: String,
    /// Name of the client's namespace.
    pub client: String,
    /// Name of the client's end of the veth pair, inside `client`.
    pub client_link: String,
}

impl NetnsPair {
    /// The server side's address.
    pub const SERVER_IP: &str = "10.213.77.1";
    /// The client side's address.
    pub const CLIENT_IP: &str = "10.213.77.2";

    /// Creates the namespaces and the link; `tag` keeps parallel tests apart.
    pub fn create(tag: &str) -> anyhow::Result<Self> {
        let id = std::process::id();
        let pair = Self {
            server: format!("chat-{tag}-s-{id}"),
            client: format!("chat-{tag}-c-{id}"),
            client_link: "veth-c".into(),
        };
        // From here on, a failure deletes what was made.
        run("ip", &["netns", "add", &pair.server])?;
        run("ip", &["netns", "add", &pair.client])?;
        // Made inside the server's namespace, so the root namespace never holds it.
        let (s, c) = (pair.server.as_str(), pair.client.as_str());
        run(
            "ip",
            &[
                "-n", s, "link", "add", "veth-s", "type", "veth", "peer", "name", "veth-c",
                "netns", c,
            ],
        )?;
        let server_cidr = format!("{}/24", Self::SERVER_IP);
        let client_cidr = format!("{}/24", Self::CLIENT_IP);
        run(
            "ip",
            &["-n", s, "addr", "add", &server_cidr, "dev", "veth-s"],
        )?;
        run(
            "ip",
            &["-n", c, "addr", "add", &client_cidr, "dev", "veth-c"],
        )?;
        for (ns, link) in [(s, "veth-s"), (c, "veth-c"), (s, "lo"), (c, "lo")] {
            run("ip", &["-n", ns, "link", "set", link, "up"])?;
        }
        Ok(pair)
    }

    /// The words that run a program inside `namespace`.
    pub fn exec(namespace: &str) -> [&str; 4] {
        ["ip", "netns", "exec", namespace]
    }

    /// Takes the client's end of the link down: from then on nothing passes, and neither
    /// side is told (no FIN, no reset).
    pub fn cut(&self) -> anyhow::Result<()> {
        run(
            "ip",
            &["-n", &self.client, "link", "set", &self.client_link, "down"],
        )
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A tmpfs of a given size mounted on a fresh temporary directory; unmounted (and the
/// directory removed) when dropped, also when the test fails.
#[derive(Debug)]
pub struct Tmpfs {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`4m`) on a new temporary directory.
    pub fn mount(size: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().to_path_buf();
        let options = format!("size={size},mode=0755");
        let target = path.to_str().context("a UTF-8 path")?;
        run("mount", &["-t", "tmpfs", "-o", &options, "tmpfs", target])?;
        Ok(Self {
            dir: Some(dir),
            path,
        })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = self.path.to_string_lossy().into_owned();
        let unmounted = Command::new("umount")
            .arg(&target)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process of the test holds a file): detach it now, the kernel
            // frees it when the last user goes.
            let _ = Command::new("umount").args(["-l", &target]).status();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}
