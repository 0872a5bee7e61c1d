//! Transfer: upload and download throughput of one file through the server, beside the
//! limits of the machine measured in the same run with the same number of bytes, and the
//! chat round trip of another client while the transfers run.
//!
//! The limits: a plain TCP copy over loopback, SHA-256 on one core, and writing the file
//! with `fsync` (in `--scratch-dir`, which should be on the server's disk). An upload can
//! go no faster than the slowest of the three (the server stores the file); a download to
//! this bench, which discards the data, no faster than the slower of TCP and SHA-256.
//!
//! The file's bytes are a 1 MiB random block repeated, made in memory: the client side
//! reads no disk, so what is measured is the protocol and the server (which writes,
//! hashes, flushes to disk and reads back). The uploader hashes while sending and the
//! downloader while receiving, as a real client must.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use sha2::{Digest, Sha256};
use shared::limits::MAX_CHUNK_BYTES;
use shared::{ClientMsg, RoomEvent, ServerMsg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;

use crate::Target;
use crate::connect::{Conn, connect_all};
use crate::latency::{Percentiles, percentiles};
use crate::proc_stats::{self, ProcSample};

/// Size of the repeated random block the file is made of.
const BLOCK: usize = 1 << 20;

/// Chunks written before one flush: batches system calls as a client streaming a file
/// would.
const CHUNKS_PER_FLUSH: usize = 16;

#[derive(Debug, Args)]
pub struct TransferArgs {
    #[command(flatten)]
    target: Target,
    /// Size of the file, in MiB.
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Milliseconds between the chat prober's round trips.
    #[arg(long, default_value_t = 10)]
    chat_interval_ms: u64,
    /// Give up on any one phase after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Where the disk limit is measured (a file of the transfer's size, written, flushed
    /// with fsync and deleted): a directory on the same disk as the server's data.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    scratch_dir: PathBuf,
}

#[derive(Debug, Serialize)]
struct Report {
    bytes: u64,
    plain_tcp_mib_per_s: f64,
    sha256_mib_per_s: f64,
    disk_fsync_mib_per_s: f64,
    /// The slowest of TCP, SHA-256 and the disk.
    upload_limit_mib_per_s: f64,
    /// The slower of TCP and SHA-256.
    download_limit_mib_per_s: f64,
    upload_mib_per_s: f64,
    download_mib_per_s: f64,
    upload_vs_limit: f64,
    download_vs_limit: f64,
    upload_vs_tcp: f64,
    download_vs_tcp: f64,
    chat_rtt_us_idle: Percentiles,
    chat_rtt_us_during_upload: Percentiles,
    chat_rtt_us_during_download: Percentiles,
    /// CPU seconds spent during each transfer: less dependent on what else the machine
    /// runs than the throughput.
    cpu_seconds: CpuSeconds,
    server: Option<ServerMemory>,
}

#[derive(Debug, Serialize)]
struct CpuSeconds {
    bench_upload: f64,
    bench_download: f64,
    server_upload: Option<f64>,
    server_download: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ServerMemory {
    rss_before_bytes: u64,
    peak_rss_bytes: u64,
}

pub async fn run(args: TransferArgs) -> anyhow::Result<()> {
    let addr = args.target.checked_addr()?;
    if args.size_mib == 0 {
        bail!("--size-mib must be at least 1");
    }
    let size = args.size_mib << 20;
    let limit = Duration::from_secs(args.timeout);
    let block = random_block();
    let before = sample(&args.target)?;

    let tcp = timeout(limit, plain_copy(size, &block))
        .await
        .context("plain TCP copy timed out")??;
    let hashing = timeout(limit, hash_alone(size, block.clone()))
        .await
        .context("SHA-256 alone timed out")??;
    let disk = timeout(limit, write_alone(size, block.clone(), &args.scratch_dir))
        .await
        .context("the disk write timed out")??;

    let run_id = std::process::id() % 10_000;
    let mut conns = connect_all(
        addr,
        3,
        |i| format!("xfer{run_id}-{i}"),
        |_| format!("xfer-{run_id}"),
    )
    .await?;
    let mut downloader = conns.pop().context("three connections")?;
    let mut uploader = conns.pop().context("three connections")?;
    let mut prober = conns.pop().context("three connections")?;
    let me = format!("xfer{run_id}-0");
    let interval = Duration::from_millis(args.chat_interval_ms);

    // Chat alone first, for comparison.
    let (stop, stopped) = watch::channel(false);
    let probe = tokio::spawn(probe_chat(prober, me.clone(), interval, stopped));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.send_replace(true);
    let (back, idle) = probe.await??;
    prober = back;

    let (stop, stopped) = watch::channel(false);
    let probe = tokio::spawn(probe_chat(prober, me.clone(), interval, stopped));
    let cpu_before_upload = (own_cpu()?, sample(&args.target)?);
    let (upload, file_id, sha) = timeout(limit, upload(&mut uploader, size, &block))
        .await
        .context("upload timed out")??;
    let cpu_after_upload = (own_cpu()?, sample(&args.target)?);
    stop.send_replace(true);
    let (back, during_upload) = probe.await??;
    prober = back;

    let (stop, stopped) = watch::channel(false);
    let probe = tokio::spawn(probe_chat(prober, me, interval, stopped));
    let cpu_before_download = (own_cpu()?, sample(&args.target)?);
    let download = timeout(limit, download(&mut downloader, file_id, size, &sha))
        .await
        .context("download timed out")??;
    let cpu_after_download = (own_cpu()?, sample(&args.target)?);
    stop.send_replace(true);
    let (_prober, during_download) = probe.await??;
    let after = sample(&args.target)?;

    let mib_per_s = |d: Duration| size as f64 / (1 << 20) as f64 / d.as_secs_f64();
    let upload_limit = tcp.max(hashing).max(disk);
    let download_limit = tcp.max(hashing);
    let report = Report {
        bytes: size,
        plain_tcp_mib_per_s: mib_per_s(tcp),
        sha256_mib_per_s: mib_per_s(hashing),
        disk_fsync_mib_per_s: mib_per_s(disk),
        upload_limit_mib_per_s: mib_per_s(upload_limit),
        download_limit_mib_per_s: mib_per_s(download_limit),
        upload_mib_per_s: mib_per_s(upload),
        download_mib_per_s: mib_per_s(download),
        upload_vs_limit: upload_limit.as_secs_f64() / upload.as_secs_f64(),
        download_vs_limit: download_limit.as_secs_f64() / download.as_secs_f64(),
        upload_vs_tcp: tcp.as_secs_f64() / upload.as_secs_f64(),
        download_vs_tcp: tcp.as_secs_f64() / download.as_secs_f64(),
        chat_rtt_us_idle: percentiles(&idle),
        chat_rtt_us_during_upload: percentiles(&during_upload),
        chat_rtt_us_during_download: percentiles(&during_download),
        cpu_seconds: CpuSeconds {
            bench_upload: cpu_after_upload.0 - cpu_before_upload.0,
            bench_download: cpu_after_download.0 - cpu_before_download.0,
            server_upload: cpu_spent(&cpu_before_upload.1, &cpu_after_upload.1),
            server_download: cpu_spent(&cpu_before_download.1, &cpu_after_download.1),
        },
        server: before.zip(after).map(|(b, a)| ServerMemory {
            rss_before_bytes: b.rss_bytes,
            peak_rss_bytes: a.peak_rss_bytes,
        }),
    };
    print_report(&report, args.target.json)
}

/// The bench's own CPU time, in seconds.
fn own_cpu() -> anyhow::Result<f64> {
    Ok(proc_stats::sample(std::process::id())?.cpu_seconds)
}

fn cpu_spent(before: &Option<ProcSample>, after: &Option<ProcSample>) -> Option<f64> {
    Some(after.as_ref()?.cpu_seconds - before.as_ref()?.cpu_seconds)
}

fn sample(target: &Target) -> anyhow::Result<Option<ProcSample>> {
    target.server_pid.map(proc_stats::sample).transpose()
}

/// A block of pseudo-random bytes (SplitMix64), so that nothing on the way can take a
/// shortcut for repetitive data within a block.
pub(crate) fn random_block() -> Vec<u8> {
    let mut state: u64 = 0x5EED;
    let mut block = Vec::with_capacity(BLOCK);
    while block.len() < BLOCK {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        block.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    block
}

/// The chunk of the file at `offset`.
fn chunk_at(block: &[u8], size: u64, offset: u64) -> &[u8] {
    let start = (offset % BLOCK as u64) as usize;
    let len = (size - offset).min(MAX_CHUNK_BYTES as u64) as usize;
    // MAX_CHUNK_BYTES divides BLOCK, so a chunk never wraps around the block.
    &block[start..start + len]
}

/// Copies `size` bytes over a loopback TCP connection, 64 KiB writes, the reader
/// discarding; the yardstick for the transfers.
async fn plain_copy(size: u64, block: &[u8]) -> anyhow::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let reader = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        let mut buf = vec![0; MAX_CHUNK_BYTES];
        let mut total = 0u64;
        loop {
            let n = socket.read(&mut buf).await?;
            if n == 0 {
                return anyhow::Ok(total);
            }
            total += n as u64;
        }
    });
    let start = Instant::now();
    let mut socket = TcpStream::connect(addr).await?;
    let mut offset = 0;
    while offset < size {
        let chunk = chunk_at(block, size, offset);
        socket.write_all(chunk).await?;
        offset += chunk.len() as u64;
    }
    socket.shutdown().await?;
    let received = reader.await??;
    let elapsed = start.elapsed();
    if received != size {
        bail!("plain copy delivered {received} of {size} bytes");
    }
    Ok(elapsed)
}

/// SHA-256 of the file's `size` bytes on one core, as the uploader computes it: the
/// checksum's limit.
async fn hash_alone(size: u64, block: Vec<u8>) -> anyhow::Result<Duration> {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut hasher = Sha256::new();
        let mut offset = 0;
        while offset < size {
            let chunk = chunk_at(&block, size, offset);
            hasher.update(chunk);
            offset += chunk.len() as u64;
        }
        std::hint::black_box(hasher.finalize());
        start.elapsed()
    })
    .await
    .context("the hashing thread failed")
}

/// Writes the file's `size` bytes to a new file in `dir`, 1 MiB at a time, and flushes it
/// to disk with `fsync`, as the server stores an upload: the disk's limit. The file is
/// deleted afterwards.
async fn write_alone(size: u64, block: Vec<u8>, dir: &Path) -> anyhow::Result<Duration> {
    let path = dir.join(format!("chat-bench-disk-{}.tmp", std::process::id()));
    let shown = path.display().to_string();
    let timed = tokio::task::spawn_blocking({
        let path = path.clone();
        move || -> std::io::Result<Duration> {
            let start = Instant::now();
            let mut file = std::fs::File::create_new(&path)?;
            let mut left = size;
            while left > 0 {
                let n = left.min(BLOCK as u64) as usize;
                file.write_all(&block[..n])?;
                left -= n as u64;
            }
            file.sync_all()?;
            Ok(start.elapsed())
        }
    })
    .await
    .context("the writing thread failed")?;
    let _ = std::fs::remove_file(&path);
    timed.with_context(|| format!("cannot write {shown}"))
}

/// Uploads the file; returns the time from `UploadStart` to `UploadDone`, the file id and
/// the SHA-256.
pub(crate) async fn upload(
    conn: &mut Conn,
    size: u64,
    block: &[u8],
) -> anyhow::Result<(Duration, u64, Vec<u8>)> {
    let start = Instant::now();
    conn.send(ClientMsg::UploadStart {
        name: "bench.bin".into(),
        size,
    })
    .await?;
    let upload_id = match next_matching(conn, |m| {
        matches!(m, ServerMsg::UploadReady { .. } | ServerMsg::Error { .. })
    })
    .await?
    {
        ServerMsg::UploadReady { upload_id, .. } => upload_id,
        other => bail!("upload refused: {other:?}"),
    };
    let mut hasher = Sha256::new();
    let mut offset = 0;
    let mut unflushed = 0;
    while offset < size {
        let data = chunk_at(block, size, offset);
        hasher.update(data);
        conn.feed(ClientMsg::UploadChunk {
            upload_id,
            offset,
            data: data.to_vec(),
        })
        .await?;
        offset += data.len() as u64;
        unflushed += 1;
        if unflushed == CHUNKS_PER_FLUSH {
            conn.flush().await?;
            unflushed = 0;
        }
    }
    let sha256 = hasher.finalize().to_vec();
    conn.send(ClientMsg::UploadFinish {
        upload_id,
        sha256: sha256.clone(),
    })
    .await?;
    match next_matching(conn, |m| {
        matches!(
            m,
            ServerMsg::UploadDone { .. } | ServerMsg::UploadFailed { .. }
        )
    })
    .await?
    {
        ServerMsg::UploadDone { file_id, .. } => Ok((start.elapsed(), file_id, sha256)),
        other => bail!("upload failed: {other:?}"),
    }
}

/// Downloads file `file_id`, checking every byte's order and the SHA-256; returns the time
/// from `Download` to `DownloadEnd`.
pub(crate) async fn download(
    conn: &mut Conn,
    file_id: u64,
    size: u64,
    sha256: &[u8],
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    conn.send(ClientMsg::Download { file_id, offset: 0 })
        .await?;
    let mut hasher = Sha256::new();
    let mut next = 0;
    loop {
        match next_matching(conn, |m| {
            matches!(
                m,
                ServerMsg::DownloadStart { .. }
                    | ServerMsg::DownloadChunk { .. }
                    | ServerMsg::DownloadEnd { .. }
                    | ServerMsg::DownloadFailed { .. }
            )
        })
        .await?
        {
            ServerMsg::DownloadStart { .. } => {}
            ServerMsg::DownloadChunk { offset, data, .. } => {
                if offset != next {
                    bail!("chunk at {offset}, expected {next}");
                }
                hasher.update(&data);
                next += data.len() as u64;
            }
            ServerMsg::DownloadEnd { .. } => break,
            other => bail!("download failed: {other:?}"),
        }
    }
    let elapsed = start.elapsed();
    if next != size || hasher.finalize().as_slice() != sha256 {
        bail!("the download differs from the upload");
    }
    Ok(elapsed)
}

/// Reads frames until one satisfies `pred`, answering pings on the way.
pub(crate) async fn next_matching(
    conn: &mut Conn,
    pred: impl Fn(&ServerMsg) -> bool,
) -> anyhow::Result<ServerMsg> {
    loop {
        let msg = conn.next().await.context("connection closed")??;
        if let ServerMsg::Ping { token } = msg {
            conn.send(ClientMsg::Pong { token }).await?;
        } else if pred(&msg) {
            return Ok(msg);
        }
    }
}

/// Says a numbered message every `interval` and times until its echo is back, until told
/// to stop.
async fn probe_chat(
    mut conn: Conn,
    me: String,
    interval: Duration,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(Conn, Histogram<u64>)> {
    let mut rtt = Histogram::<u64>::new(3)?;
    for seq in 0u64.. {
        if *stop.borrow() {
            break;
        }
        let text = format!("probe {seq}");
        let sent = Instant::now();
        conn.send(ClientMsg::Chat { text: text.clone() }).await?;
        next_matching(&mut conn, |m| {
            matches!(m, ServerMsg::Room { event: RoomEvent::Said { from, text: t, .. }, .. }
                if *from == me && *t == text)
        })
        .await?;
        rtt.record((sent.elapsed().as_micros() as u64).max(1))?;
        tokio::time::sleep(interval).await;
    }
    Ok((conn, rtt))
}

fn print_report(r: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    println!("transfer: {} MiB", r.bytes >> 20);
    println!("plain TCP copy: {:.0} MiB/s", r.plain_tcp_mib_per_s);
    println!("SHA-256, one core: {:.0} MiB/s", r.sha256_mib_per_s);
    println!("disk write with fsync: {:.0} MiB/s", r.disk_fsync_mib_per_s);
    println!(
        "upload:   {:.0} MiB/s ({:.2} of its limit, {:.0} MiB/s; {:.2} of plain TCP)",
        r.upload_mib_per_s, r.upload_vs_limit, r.upload_limit_mib_per_s, r.upload_vs_tcp
    );
    println!(
        "download: {:.0} MiB/s ({:.2} of its limit, {:.0} MiB/s; {:.2} of plain TCP)",
        r.download_mib_per_s, r.download_vs_limit, r.download_limit_mib_per_s, r.download_vs_tcp
    );
    for (what, p) in [
        ("idle", &r.chat_rtt_us_idle),
        ("during upload", &r.chat_rtt_us_during_upload),
        ("during download", &r.chat_rtt_us_during_download),
    ] {
        println!(
            "chat round trip {what}: p50 {} us, p99 {} us, max {} us ({} samples)",
            p.p50, p.p99, p.max, p.samples
        );
    }
    let c = &r.cpu_seconds;
    println!(
        "CPU seconds, upload: bench {:.2}, server {}; download: bench {:.2}, server {}",
        c.bench_upload,
        c.server_upload.map_or("-".into(), |s| format!("{s:.2}")),
        c.bench_download,
        c.server_download.map_or("-".into(), |s| format!("{s:.2}")),
    );
    if let Some(s) = &r.server {
        println!(
            "server RSS: {} KiB before, peak {} KiB",
            s.rss_before_bytes / 1024,
            s.peak_rss_bytes / 1024
        );
    }
    Ok(())
}
