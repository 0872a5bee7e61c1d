//! The terminal client of the chat room: the terminal, the app state and the widgets, on
//! top of the `chat_client` library, which does all the networking.
//!
//! # Layout
//!
//! Data flows one way: terminal input and the client library's events become
//! [`app::Event`]s, [`app::App::update`] turns them into state changes and
//! [`app::Command`]s, the client library carries the commands out, and the widgets only
//! read the state.
//!
//! The app does not know the widgets: the message pane is a ratatui `StatefulWidget`
//! whose state (the view, held by an item) the app moves and the pane carries out when it
//! draws, where it knows how the items wrap. After each draw the app hears what the pane
//! showed ([`app::App::viewed`]) and asks for the history the view is about to need.
//!
//! - [`cli`]: command-line arguments and the configuration file.
//! - [`app`]: the state and its update function; no I/O. One module per concern: the key
//!   map (`keys`), Enter (`compose`), the input `history`, Tab (`complete`), `paste`, the
//!   connection and the server's frames (`network`), a buffer per room and per private
//!   conversation (`buffers`), the room (`room`), topics and away texts (`topic`), `/last`
//!   (`last`), the room's history
//!   and read marker (`reading`), `/search` (`search`), `transfers`, the message pane's
//!   items and view (`pane`) and the app's own lines (`scrollback`).
//! - [`input`]: the input line, edited by grapheme cluster, measured in terminal cells.
//! - [`prefs`]: the theme, timestamp format and highlight words of the run; [`timestamp`]:
//!   the timestamp pattern.
//! - [`keep`]: what is kept on disk while the client runs: the [`input_history`] file,
//!   and the ignore list in the configuration file ([`config_edit`]).
//! - [`commands`]: parsing of `/help`, `/nick`, `/join`, `/part`, `/query`, `/close`,
//!   `/buffer`, `/who`, `/topic`, `/away`, `/me`, `/msg`, `/clear`, `/send-file`, `/files`,
//!   `/get`, `/cancel`, `/search`, `/last`, `/ignore`, `/unignore`, `/quit`.
//! - [`ui`]: widgets for the title line, the message pane (with its date, unread and
//!   history lines), the search view, member list, transfer bars, status line and input
//!   line; they read the
//!   app, and the pane also moves its own view.
//! - [`discover`]: finding a server on the LAN: looking, `--list`, and the picker's loop.
//! - [`picker`]: the server picker's state and keys; no I/O (its widget is
//!   [`ui::picker`]).
//! - [`terminal`]: taking the terminal over and always giving it back, reading its input
//!   and catching the signals that end the client, a hang-up among them
//!   ([`terminal::Screen`]); nothing asks the terminal a question.
//! - [`event`]: the loop that merges terminal input, the client's events and signals, and
//!   maps the client's events into the app's.
//! - [`first_contact`]: a TLS server not known yet: its fingerprint shown and asked
//!   about; a password asked for; `--forget`.
//! - [`password`]: the password typed without echo; `--print-key`.
//! - `host`: `--host`, the server library running in this process (cargo feature `host`,
//!   on by default).

pub mod app;
pub mod cli;
pub mod commands;
pub mod config_edit;
pub mod discover;
pub mod event;
pub mod first_contact;
#[cfg(feature = "host")]
pub mod host;
#[cfg(not(feature = "host"))]
#[path = "host_off.rs"]
pub mod host;
pub mod input;
pub mod input_history;
pub mod keep;
pub mod password;
pub mod picker;
pub mod prefs;
pub mod terminal;
pub mod timestamp;
pub mod ui;

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context as _;
use chat_client::transfer;

use crate::app::{App, Settings};
use crate::cli::{Cli, Target};
use crate::event::Outcome;
use crate::keep::Keep;
use crate::terminal::Screen;

/// The whole program: parses arguments, runs, and turns an error into one line on stderr
/// (printed after the terminal is restored) and exit code 2.
pub fn main() -> ExitCode {
    let cli = match Cli::load() {
        Ok(cli) if cli.print_config => return cli::print_config(&cli),
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("chat-tui: {e}");
            return ExitCode::from(2);
        }
    };
    prefs::set(cli.look());
    // The local UTC offset can only be read safely while the process has one thread.
    let utc_offset_secs = chat_client::clock::local_utc_offset_secs();
    if let Err(e) = init_logging(&cli) {
        eprintln!("chat-tui: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat-tui: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(run(cli, utc_offset_secs));
    // The terminal reader thread blocks in a read; do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("chat-tui: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Connects (hosting first with `--host`, picking a server found on the LAN when none is
/// named), then runs the screen until the user leaves. With `--list`, only lists.
pub async fn run(cli: Cli, utc_offset_secs: i32) -> anyhow::Result<()> {
    if cli.list {
        return discover::list(cli.browse_options(), cli.json).await;
    }
    // The picker takes the screen before the connection; the chat screen keeps it. An
    // error before the screen is taken, or after it is given back, is printed by `main`.
    if let Some(server) = &cli.forget {
        return first_contact::forget(server);
    }
    // The key before anything else: a damaged key file stops the client before it
    // connects under a nick it may own.
    let identity = match cli.identity_path() {
        Some(path) => {
            let (identity, made) = chat_client::Identity::load_or_create(&path)?;
            if cli.print_key {
                password::print_key(&identity, &path, made);
                return Ok(());
            }
            if made {
                tracing::info!(path = %path.display(), key = %identity.public_key(), "key made");
            }
            Some(std::sync::Arc::new(identity))
        }
        None if cli.print_key => {
            anyhow::bail!(
                "there is no home directory to keep a key in; name a file with --identity"
            )
        }
        None => None,
    };
    let mut credentials = chat_client::Credentials {
        identity,
        password: cli.password().map_err(anyhow::Error::msg)?,
    };
    let mut screen = None;
    // The server found on the LAN, if it was: its pin is kept under its name, else under
    // the address (chat_client::trust), and its announcement says whether it speaks TLS.
    let (hosted, addr, found) = match cli.target() {
        Target::Host(addr) => {
            let hosted = host::start(addr, cli.mdns_port, !cli.plaintext).await?;
            let addr = hosted.connect_addr.to_string();
            (Some(hosted), addr, None)
        }
        Target::Connect(addr) => (None, addr.to_owned(), None),
        Target::Discover => {
            let found = discover::look(cli.browse_options()).await?;
            let taken = screen.insert(take_screen(&cli)?);
            match discover::pick(taken, found).await? {
                Some(server) => (None, server.addr.to_string(), Some(server)),
                None => return Ok(()),
            }
        }
    };
    let options = chat_client::Options {
        addr: addr.clone(),
        nick: cli.nick(),
        room: cli.room.clone(),
    };
    let dial = match hosted.as_ref().and_then(|h| h.fingerprint) {
        // Its own server: the key is known, and pinned nowhere.
        Some(own) => {
            chat_client::Dial::Tls(chat_client::dial::tls::TlsDial::new(None, None, Some(own)))
        }
        None => match &found {
            // Its announcement said whether it speaks TLS, and with which key.
            Some(found) => found.dial(cli.plaintext, cli.trust),
            None => chat_client::Dial::new(!cli.plaintext, None, cli.trust),
        },
    };
    let connected = first_contact::connect(dial, options, &mut credentials, &mut screen).await;
    let (net, events, welcome) = match connected {
        Ok(c) => c,
        Err(e) => {
            drop(screen);
            if let Some(h) = hosted {
                h.stop().await;
            }
            return Err(e.into());
        }
    };
    tracing::info!(%addr, nick = %welcome.nick, room = %welcome.room, "connected");
    let settings = Settings {
        server: addr.clone(),
        hosting: hosted.as_ref().map(|h| h.public_addr.to_string()),
        hosting_key: hosted
            .as_ref()
            .and_then(|h| h.fingerprint.as_ref())
            .map(ToString::to_string),
        bell: !cli.no_bell,
        utc_offset_secs,
        download_dir: cli.download_dir(),
        choices: cli.choices(),
        key: credentials.identity.as_ref().map(|i| i.public_key()),
    };
    let outcome = {
        let mut screen = match screen {
            Some(screen) => screen,
            None => take_screen(&cli)?,
        };
        let config = settings.choices.config_path.clone();
        let mut app = App::new(settings, welcome, event::now_ms());
        if let Some(warning) = cli.password_file_warning() {
            app.warn(warning);
        }
        // Transfers survive a restart: remembered in the state directory, and those a
        // former run left are told, with the command that resumes each.
        let state = Cli::state_dir();
        let interrupted = {
            let (state, addr) = (state.clone(), addr.clone());
            tokio::task::spawn_blocking(move || transfer::journal::interrupted(&state, &addr))
                .await
                .unwrap_or_default()
        };
        app.interrupted(&interrupted);
        net.transfer(transfer::Request::Remember { dir: state });
        let mut keep = Keep::open(&mut app, Some(input_history::default_path()), config);
        event::run(&mut screen, &mut app, &net, events, &mut keep).await
        // The screen is given back here, before anything is printed.
    };
    tracing::info!(?outcome, "leaving");
    net.finish().await;
    if let Some(h) = hosted {
        h.stop().await;
        tracing::info!("hosted server stopped");
    }
    match outcome? {
        Outcome::Quit => Ok(()),
        Outcome::Fail(why) => Err(anyhow::anyhow!(why)),
    }
}

fn take_screen(cli: &Cli) -> anyhow::Result<Screen> {
    Screen::take(cli.choices().mouse).context("cannot set up the terminal")
}

fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    let file = match &cli.log_file {
        Some(path) => {
            Some(open_log(path).with_context(|| format!("cannot open {}", path.display()))?)
        }
        // Without an explicit path, a log that cannot be written is not worth refusing to
        // start for.
        None => open_log(&Cli::default_log_file()).ok(),
    };
    let Some(file) = file else { return Ok(()) };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
    Ok(())
}

fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}
