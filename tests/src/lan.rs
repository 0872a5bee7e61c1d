//! A LAN of the test's own: network namespaces joined by a bridge, for the tests of
//! finding servers by multicast DNS, which must never reach the machine's real network.
//!
//! The bridge lives in a namespace of its own (the hub); each host is a namespace with one
//! end of a veth pair (`eth0`) whose other end is a port of the bridge. Addresses are in a
//! private range, inside the namespaces only; nothing is added to the namespace the test
//! runs in. Multicast needs no route: an mDNS daemon sends on each interface it picks.
//! Dropping the [`Lan`] deletes every namespace it made (and with them the links), also
//! when the test fails.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::binaries::binary;
use crate::probe::{can_administer, cannot_run};

/// The UDP port of multicast DNS in these tests: not the standard 5353, so that nothing
/// here ever talks to a system daemon, even by mistake.
pub const TEST_MDNS_PORT: u16 = 53535;

/// Most hosts on one test LAN (their addresses are `10.213.78.1` up).
pub const MAX_HOSTS: usize = 8;

/// Whether `test` cannot build a LAN here (it needs root and `ip netns`); if so it has
/// said why, or failed under CI ([`cannot_run`]).
pub fn cannot_build(test: &str) -> bool {
    if can_administer() {
        return false;
    }
    cannot_run(
        test,
        "it needs root and `ip netns` to build a LAN of its own for multicast DNS",
    );
    true
}

/// A bridge and its hosts, each a network namespace.
#[derive(Debug)]
pub struct Lan {
    hub: String,
    hosts: Vec<String>,
}

impl Lan {
    /// Creates a bridge and `hosts` namespaces on it; `tag` keeps parallel tests apart.
    pub fn create(tag: &str, hosts: usize) -> anyhow::Result<Self> {
        if hosts == 0 || hosts > MAX_HOSTS {
            bail!("a test LAN has 1 to {MAX_HOSTS} hosts, not {hosts}");
        }
        let id = std::process::id();
        let mut lan = Self {
            hub: format!("lan-{tag}-hub-{id}"),
            hosts: Vec::new(),
        };
        // From here on, a failure deletes what was made (Drop).
        run(&["netns", "add", &lan.hub])?;
        let hub = lan.hub.clone();
        run(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        run(&["-n", &hub, "link", "set", "br0", "up"])?;
        for i in 0..hosts {
            let host = format!("lan-{tag}-{i}-{id}");
            run(&["netns", "add", &host])?;
            lan.hosts.push(host.clone());
            let port = format!("p{i}");
            // Made inside the hub, its far end moved straight into the host.
            run(&[
                "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &host,
            ])?;
            run(&["-n", &hub, "link", "set", &port, "master", "br0"])?;
            run(&["-n", &hub, "link", "set", &port, "up"])?;
            let cidr = format!("{}/24", Self::ip(i));
            run(&["-n", &host, "addr", "add", &cidr, "dev", "eth0"])?;
            run(&["-n", &host, "link", "set", "eth0", "up"])?;
            run(&["-n", &host, "link", "set", "lo", "up"])?;
        }
        Ok(lan)
    }

    /// The address of host `i` (from 0).
    pub fn ip(i: usize) -> String {
        format!("10.213.78.{}", i + 1)
    }

    /// The words that run a program on host `i`.
    pub fn exec(&self, i: usize) -> [&str; 4] {
        ["ip", "netns", "exec", &self.hosts[i]]
    }

    /// Runs `chat-cli list --json --wait WAIT --mdns-port TEST_MDNS_PORT` on host `i` to
    /// its end (bounded), and returns the servers it printed, one JSON object each, and
    /// its standard error.
    pub async fn list(
        &self,
        i: usize,
        wait: Duration,
    ) -> anyhow::Result<(Vec<serde_json::Value>, String)> {
        let wait_arg = format!("{}ms", wait.as_millis());
        let port = TEST_MDNS_PORT.to_string();
        let [program, rest @ ..] = self.exec(i);
        let output = tokio::process::Command::new(program)
            .args(rest)
            .arg(binary("chat-cli"))
            .args(["list", "--json", "--wait", &wait_arg, "--mdns-port", &port])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(wait + Duration::from_secs(10), output)
            .await
            .context("chat-cli list did not finish in time")?
            .context("run chat-cli list")?;
        let stdout = String::from_utf8(output.stdout).context("UTF-8 output")?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            bail!("chat-cli list failed ({}): {stderr}", output.status);
        }
        let servers = stdout
            .lines()
            .map(|line| serde_json::from_str(line).with_context(|| format!("JSON: {line:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok((servers, stderr))
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.hub]) {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `ip ARGS`, which must succeed.
fn run(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip").args(args).output().context("run ip")?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
