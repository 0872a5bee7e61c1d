//! The load generator, `chat-bench`, against the real server binary and against a real IRC
//! server (ngIRCd, the reference of docs/BENCHMARKS.md): every message must reach every
//! member it is meant for, and the report must say so.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tests::binaries::{binary, reach_args, start_server_binary};

type Result = anyhow::Result<()>;

/// Runs `chat-bench MODE ARGS --json` and returns its report; fails if it fails.
fn bench(mode: &str, addr: SocketAddr, server_pid: u32, args: &[&str]) -> anyhow::Result<Value> {
    let output = Command::new(binary("chat-bench"))
        .arg(mode)
        .args([
            "--addr",
            &addr.to_string(),
            "--server-pid",
            &server_pid.to_string(),
        ])
        .arg("--json")
        .args(reach_args(addr))
        .args(args)
        .output()
        .context("run chat-bench")?;
    let stdout = String::from_utf8(output.stdout)?;
    if !output.status.success() {
        bail!(
            "chat-bench {mode} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_str(stdout.trim()).with_context(|| format!("report: {stdout}"))
}

fn number(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {report}"))
}

#[tokio::test]
async fn fanout_against_the_server_binary_counts_every_delivery() -> Result {
    let (server, addr) =
        start_server_binary(&["--msg-rate", "0", "--max-connections-per-ip", "0"]).await?;
    let pid = server.id().context("server pid")?;
    // Two rooms of ten; senders 0, 2, 4 say in room 0 and 1, 3 in room 1; everyone gets
    // its own lines back.
    let report = tokio::task::spawn_blocking(move || {
        bench(
            "fanout",
            addr,
            pid,
            &[
                "--timeout",
                "30",
                "--clients",
                "20",
                "--senders",
                "5",
                "--messages",
                "40",
                "--rooms",
                "2",
            ],
        )
    })
    .await??;
    assert_eq!(report["protocol"], "chat");
    assert_eq!(
        number(&report, "expected_deliveries"),
        (10 * 3 + 10 * 2) * 40
    );
    assert_eq!(
        number(&report, "deliveries"),
        number(&report, "expected_deliveries")
    );
    assert_eq!(
        number(&report["latency_us"], "samples"),
        number(&report, "deliveries")
    );
    assert!(report["server"]["cpu_us_per_delivery"].as_f64().is_some());
    Ok(())
}

/// An ngIRCd started from the benchmark's configuration on a free loopback port; killed
/// when dropped.
struct Ngircd {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_ngircd() -> anyhow::Result<Ngircd> {
    let template = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../chat-bench/scripts/reference/ngircd.conf.in");
    let dir = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = std::fs::read_to_string(&template)?
        .replace("@PORT@", &port.to_string())
        .replace("@DIR@", &dir.path().display().to_string());
    let config_path = dir.path().join("ngircd.conf");
    std::fs::write(&config_path, config)?;
    let child = Command::new("ngircd")
        .arg("--nodaemon")
        .arg("--config")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start ngircd (apt-get install ngircd; .ci/run installs it)")?;
    let server = Ngircd {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _dir: dir,
    };
    let started = Instant::now();
    while TcpStream::connect(server.addr).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("ngircd did not listen on {} within 10 s", server.addr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// Runs `chat-bench MODE --protocol irc ARGS` against a fresh ngIRCd; a fan-out gives up
/// after 30 s.
fn bench_irc(mode: &str, args: &[&str]) -> anyhow::Result<Value> {
    let irc = start_ngircd()?;
    let mut all = vec!["--protocol", "irc"];
    if mode == "fanout" {
        all.extend(["--timeout", "30"]);
    }
    all.extend(args);
    bench(mode, irc.addr, irc.child.id(), &all)
}

#[test]
fn fanout_over_irc_reaches_every_other_member() -> Result {
    let report = bench_irc(
        "fanout",
        &[
            "--clients",
            "20",
            "--senders",
            "5",
            "--messages",
            "40",
            "--rooms",
            "2",
        ],
    )?;
    assert_eq!(report["protocol"], "irc");
    // IRC servers do not echo: in room 0, three senders reach nine others each; in room
    // 1, two senders reach nine others each.
    assert_eq!(number(&report, "expected_deliveries"), (3 * 9 + 2 * 9) * 40);
    assert_eq!(
        number(&report, "deliveries"),
        number(&report, "expected_deliveries")
    );
    Ok(())
}

#[test]
fn a_window_of_one_over_irc_waits_for_each_message_to_go_round() -> Result {
    let report = bench_irc(
        "fanout",
        &[
            "--clients",
            "5",
            "--senders",
            "1",
            "--messages",
            "30",
            "--window",
            "1",
        ],
    )?;
    assert_eq!(number(&report, "deliveries"), 4 * 30);
    Ok(())
}

#[test]
fn idle_over_irc_holds_its_connections() -> Result {
    let report = bench_irc("idle", &["--connections", "50", "--hold", "1"])?;
    assert_eq!(number(&report, "connections"), 50);
    assert!(report["bytes_per_connection"].as_f64().is_some());
    Ok(())
}
