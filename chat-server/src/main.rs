//! `chat-server`: the command line around [`chat_server::run`].

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use chat_server::auth::Password;
use chat_server::auth::password::MAX_PASSWORD_BYTES;
use chat_server::config::settings::{Cli, Loaded, LogFilter, Settings};
use chat_server::transport::tls::{Identity, TlsListener};
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

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    if cli.hash_password {
        return match hash_password() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("chat-server: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    // A bad configuration file is one line, like every other error that stops the server.
    let result = cli.load().map_err(anyhow::Error::from).and_then(|loaded| {
        if cli.print_config {
            print_config(&loaded)
        } else {
            serve(&cli, &loaded.settings)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-server: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `--hash-password`: the first line of standard input (asked for on a terminal),
/// hashed, printed as the configuration file's `password_hash` takes it.
fn hash_password() -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password (it shows as you type): ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .take(u64::try_from(MAX_PASSWORD_BYTES).unwrap_or(u64::MAX) + 2)
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let hash = Password::hash(password).map_err(anyhow::Error::msg)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", hash.phc())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}

fn print_config(loaded: &Loaded) -> anyhow::Result<()> {
    let text = loaded
        .to_toml()
        .map_err(|e| anyhow::anyhow!("cannot print the configuration: {e}"))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}

fn serve(cli: &Cli, settings: &Settings) -> anyhow::Result<()> {
    init_logging(settings.log_level.as_ref())?;
    let config = settings.config();
    let listen = settings.listen();
    // Before "listening on": a data directory the server cannot use stops it now.
    chat_server::prepare_data_dir(&config.data_dir)?;
    // The key is made, or read, before "listening on" too: a key the server cannot use
    // stops it now, in one line.
    let tls = settings.tls().map_err(anyhow::Error::msg)?;
    let identity = tls
        .then(|| {
            Identity::load_or_create(
                &config.data_dir,
                settings.tls_cert.as_deref(),
                settings.tls_key.as_deref(),
            )
        })
        .transpose()?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = settings.workers {
        runtime.worker_threads(usize::from(workers.0));
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
        // Installed before "listening on", as SIGTERM's: a SIGHUP from then on reloads,
        // and never kills the server as it would by default.
        #[cfg(unix)]
        let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot listen for SIGHUP")?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on '{listen}'"))?;
        // Before "listening on" too: a history database it cannot use stops it now, in
        // one line, and the file is left as it was. After the bind: an address it cannot
        // listen on stops it before the history is touched.
        let opened = chat_server::open(config).await?;
        #[cfg(unix)]
        tokio::spawn(reload_on_hangup(
            hangups,
            cli.clone(),
            settings.clone(),
            opened.reloader(),
        ));
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        // A script (or a test) waits for this line to know where to connect; the address
        // is its third word. With TLS (the default), the fingerprint follows: what clients
        // compare at first contact.
        let mut stdout = std::io::stdout().lock();
        match &identity {
            Some(identity) => writeln!(
                stdout,
                "listening on {addr} (TLS, fingerprint {})",
                identity.fingerprint()
            ),
            None => writeln!(stdout, "listening on {addr}"),
        }
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
        drop(stdout);
        match identity {
            Some(identity) => {
                let listener = TlsListener::new(listener, &identity);
                opened.run_with(listener, shutdown).await
            }
            None => opened.run_with(listener, shutdown).await,
        }
    })
}

/// Reloads the configuration at each SIGHUP: the file again (and the flags, which still
/// win), then what a running server can change. One log line says what changed, or why
/// nothing did; one more names the settings that need a restart. Never returns.
#[cfg(unix)]
async fn reload_on_hangup(
    mut hangups: tokio::signal::unix::Signal,
    cli: Cli,
    mut running: Settings,
    reloader: chat_server::Reloader,
) {
    while hangups.recv().await.is_some() {
        let (cli, reloader, before) = (cli.clone(), reloader.clone(), running.clone());
        // A few small files: read off the runtime's threads all the same.
        let reloaded = tokio::task::spawn_blocking(move || {
            let loaded = cli.load().map_err(|e| e.to_string())?;
            let mut reloaded = reloader.reload(loaded.settings.config())?;
            let settings = &loaded.settings;
            let fixed = [
                ("listen", before.listen != settings.listen),
                ("workers", before.workers != settings.workers),
                ("tls", before.tls() != settings.tls()),
                ("tls_cert", before.tls_cert != settings.tls_cert),
                ("tls_key", before.tls_key != settings.tls_key),
                ("log_level", before.log_level != settings.log_level),
            ];
            reloaded.need_restart.extend(
                fixed
                    .iter()
                    .filter(|(_, changed)| *changed)
                    .map(|(name, _)| *name),
            );
            Ok::<_, String>((reloaded, loaded.settings))
        })
        .await;
        match reloaded {
            Ok(Ok((reloaded, settings))) => {
                tracing::info!(
                    operators = reloaded.operators,
                    motd = reloaded.motd,
                    password = reloaded.password,
                    bans = reloaded.bans,
                    "configuration reloaded"
                );
                if !reloaded.need_restart.is_empty() {
                    tracing::warn!(
                        "changed in the configuration but in force only after a restart: {}",
                        reloaded.need_restart.join(", ")
                    );
                }
                running = settings;
            }
            Ok(Err(why)) => {
                tracing::error!("configuration not reloaded, the one in force stays: {why}");
            }
            Err(e) => tracing::error!(error = %e, "the reload stopped"),
        }
    }
}

/// Logs to stderr, filtered by `log_level` (flag or file), else `RUST_LOG`, else `info`.
fn init_logging(level: Option<&LogFilter>) -> anyhow::Result<()> {
    let filter = match level {
        // Checked when it was read; the error already carries its cause.
        Some(LogFilter(directives)) => EnvFilter::try_new(directives)
            .map_err(|e| anyhow::anyhow!("invalid log_level '{directives}': {e}"))?,
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
