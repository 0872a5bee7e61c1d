//! CPU time and memory of a process (the server, or the generator itself), read from
//! /proc (Linux).

use anyhow::Context;

/// Clock ticks per second of the times in /proc/PID/stat (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ProcSample {
    /// User plus system CPU time of all the process's threads, in seconds.
    pub cpu_seconds: f64,
    /// Resident memory now, in bytes.
    pub rss_bytes: u64,
    /// The anonymous part of it (the heap, stacks): resident memory less the pages of the
    /// program's and libraries' files, which the first use of some code brings in once
    /// and which are no one's per-connection cost.
    pub anon_rss_bytes: u64,
    /// Peak resident memory, in bytes.
    pub peak_rss_bytes: u64,
}

pub fn sample(pid: u32) -> anyhow::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let after_name = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(key))
            .with_context(|| key.to_string())?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("value")?
            .parse::<u64>()?
            * 1024)
    };
    Ok(ProcSample {
        cpu_seconds: ticks as f64 / USER_HZ,
        rss_bytes: kib("VmRSS:")?,
        anon_rss_bytes: kib("RssAnon:")?,
        peak_rss_bytes: kib("VmHWM:")?,
    })
}

/// Resources a process holds that a leak would grow: open descriptors and threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Holdings {
    pub open_fds: usize,
    pub threads: usize,
}

pub fn holdings(pid: u32) -> anyhow::Result<Holdings> {
    let open_fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("list /proc/{pid}/fd"))?
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .context("Threads in status")?
        .trim()
        .parse()?;
    Ok(Holdings { open_fds, threads })
}
