//! `chat-server`: the command line around [`chat_server::run`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chat_server::Config;
use chat_server::config::{parse_duration, parse_size};
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// jemalloc instead of the system allocator. A server holds thousands of small,
/// long-lived allocations per thousand clients, and a join storm interleaves them with
/// millions of short-lived ones (notices, member lists); glibc's allocator keeps the pages
/// those leave half used, so 5,000 idle clients in one room cost 4.5-5 KB each in resident
/// memory, against 1.8-1.9 KB with jemalloc, whose size classes keep the two apart and
/// whose background thread returns freed pages (decay settings in .cargo/config.toml).
/// CPU per delivery is the same (docs/BENCHMARKS.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A chat room server for the local network.
///
/// Clients connect over TCP and speak the protocol described in docs/PROTOCOL.md. The
/// server prints the address it listens on, logs to stderr, and shuts down gracefully on
/// Ctrl-C or SIGTERM.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on [default: 0.0.0.0:7878].
    ///
    /// HOST:PORT. The default listens on every interface, so the whole LAN can connect.
    /// Port 0 picks a free port; the line "listening on ADDR" on stdout tells which.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "0.0.0.0:7878",
        hide_default_value = true
    )]
    listen: String,

    /// Most clients served at once [default: 10000].
    ///
    /// A client over the limit is told the server is full and disconnected.
    #[arg(long, value_name = "N", hide_default_value = true, default_value_t = Config::default().max_connections)]
    max_connections: usize,

    /// Most clients served at once from one IP address [default: 16].
    ///
    /// Loopback counts as an address too. A client over the limit is told the server is
    /// full and disconnected. 0 means no limit.
    #[arg(long, value_name = "N", hide_default_value = true, default_value_t = Config::default().max_connections_per_ip)]
    max_connections_per_ip: usize,

    /// Most rooms at once [default: 1000].
    ///
    /// Joining a new room beyond it is refused; existing rooms can still be joined. A room
    /// goes away with its last member.
    #[arg(long, value_name = "N", hide_default_value = true, default_value_t = Config::default().max_rooms)]
    max_rooms: usize,

    /// Requests per second a client may keep up [default: 10].
    ///
    /// Messages, private messages, /me, joins, nick changes, member lists, pings and file
    /// requests count; file chunks do not. Beyond the rate (after --msg-burst at once) the
    /// server reads from the client only as fast as the rate allows and warns it once.
    /// 0 means no limit.
    #[arg(long, value_name = "N", hide_default_value = true, default_value_t = Config::default().msg_rate)]
    msg_rate: u32,

    /// Requests a client may send at once before --msg-rate applies [default: 20].
    #[arg(long, value_name = "N", hide_default_value = true, default_value_t = Config::default().msg_burst)]
    msg_burst: u32,

    /// Disconnect a client held back by --msg-rate without a break for this long
    /// [default: 10s].
    ///
    /// The room is told it was flooding.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s", hide_default_value = true)]
    flood_timeout: Duration,

    /// Bytes queued per client before it counts as a slow consumer [default: 262144].
    ///
    /// A client that stops reading fills its queue and is disconnected, so that it never
    /// slows the room or grows the server's memory.
    #[arg(long, value_name = "BYTES", hide_default_value = true, default_value_t = Config::default().queue_bytes)]
    queue_bytes: usize,

    /// Ping a client silent for this long [default: 15s].
    ///
    /// Durations are written like 500ms, 15s or 2m; a bare number means seconds.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "15s", hide_default_value = true)]
    ping_interval: Duration,

    /// Drop a client silent for this long [default: 45s].
    ///
    /// Any complete frame counts as a sign of life; a frame left half sent does not.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "45s", hide_default_value = true)]
    idle_timeout: Duration,

    /// Time a new connection has to log in [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s", hide_default_value = true)]
    handshake_timeout: Duration,

    /// Threads that serve connections [default: one per CPU core].
    ///
    /// Every connection is served by whichever thread is free; more threads than cores
    /// only add switching.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,

    /// Directory for shared files [default: ./chat-data].
    ///
    /// Stored files live in DIR/files (contents and a JSON sidecar each, named by id),
    /// uploads in progress in DIR/tmp. Created by the first upload. Partial uploads left
    /// by an earlier run are deleted at start; stored files are kept.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "chat-data",
        hide_default_value = true
    )]
    data_dir: PathBuf,

    /// Largest file accepted [default: 4GiB].
    ///
    /// Sizes are written like 500MiB, 4GiB or 1000000 (bytes); kB, MB, GB are powers of
    /// 1000. A larger upload is refused before any data is sent.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "4GiB", hide_default_value = true)]
    max_file_size: u64,

    /// Storage quota for all files together [default: 20GiB].
    ///
    /// An upload that would exceed it is refused before any data is sent; so is one the
    /// disk's free space cannot hold.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "20GiB", hide_default_value = true)]
    quota: u64,

    /// Keep an interrupted upload this long for its sender to resume [default: 5m].
    ///
    /// Afterwards its partial data is deleted.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m", hide_default_value = true)]
    upload_grace: Duration,

    /// Free disk space an upload must leave on the data directory's disk [default: 64MiB].
    ///
    /// An upload that would leave less is refused before any data is sent.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB", hide_default_value = true)]
    disk_reserve: u64,

    /// Log filter, such as info, debug or chat_server=trace [default: $RUST_LOG, else info].
    ///
    /// Logs go to stderr. The syntax is tracing-subscriber's EnvFilter, the same as RUST_LOG.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match serve(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-server: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(cli: Cli) -> anyhow::Result<()> {
    init_logging(cli.log_level.as_deref())?;
    let config = Config {
        max_connections: cli.max_connections,
        max_connections_per_ip: cli.max_connections_per_ip,
        max_rooms: cli.max_rooms,
        msg_rate: cli.msg_rate,
        msg_burst: cli.msg_burst,
        flood_timeout: cli.flood_timeout,
        queue_bytes: cli.queue_bytes,
        ping_interval: cli.ping_interval,
        idle_timeout: cli.idle_timeout,
        handshake_timeout: cli.handshake_timeout,
        data_dir: cli.data_dir,
        max_file_size: cli.max_file_size,
        quota: cli.quota,
        upload_grace: cli.upload_grace,
        disk_reserve: cli.disk_reserve,
        ..Config::default()
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = cli.workers {
        runtime.worker_threads(usize::from(workers));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Each connection needs a descriptor; the usual soft limit of 1024 would refuse the
    // 1025th client long before --max-connections. Raising the soft limit up to the hard
    // one is what every busy server does at start.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %e, "could not raise the open-files limit");
    }
    runtime.block_on(async {
        let shutdown = shutdown_signal();
        let listener = TcpListener::bind(&cli.listen)
            .await
            .with_context(|| format!("cannot listen on '{}'", cli.listen))?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        // A script (or a test) waits for this line to know where to connect.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {addr}")
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?;
        drop(stdout);
        chat_server::run(listener, config, shutdown).await
    })
}

/// Logs to stderr, filtered by `--log-level`, else `RUST_LOG`, else `info`.
fn init_logging(flag: Option<&str>) -> anyhow::Result<()> {
    let filter = match flag {
        // The filter's error already carries its cause; `context` would print it twice.
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|e| anyhow::anyhow!("invalid --log-level '{directives}': {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

/// Completes on Ctrl-C, or on SIGTERM where there is such a thing.
///
/// Not an `async fn`: SIGTERM's handler is installed when this is called, which `serve`
/// does before it says "listening on"; a signal that comes once the server has said so
/// shuts it down gracefully instead of killing it. (Tokio installs the handler at the
/// first poll of a signal future, which came later, after the first clients could have
/// been served.)
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .inspect_err(|e| tracing::error!(error = %e, "cannot listen for SIGTERM"))
        .ok();
    async move {
        let ctrl_c = async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        };
        let terminate = async {
            #[cfg(unix)]
            if let Some(mut terminate) = terminate {
                terminate.recv().await;
                return;
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = ctrl_c => {}
            () = terminate => {}
        }
    }
}
