//! Taking the terminal over and always giving it back; reading its input and catching the
//! signals that end the client.
//!
//! [`Screen::take`] is [`init`] plus the reader of the terminal's input and the [`Signals`],
//! for the server picker and then the chat screen in turn: one of each for the whole run,
//! so that nothing that arrives while the picker hands over is lost. [`init`] enters raw
//! mode and the alternate screen and turns on bracketed paste, focus reports and (unless
//! the configuration turns the mouse off) mouse wheel reports;
//! [`restore`] undoes all of it. It runs from the [`TerminalGuard`]'s drop (normal exit,
//! error, SIGTERM, SIGHUP and the terminal going away all leave the event loop and unwind
//! through it) and from the panic hook, before the panic message is printed, so that the
//! message is readable.
//!
//! - [`backend`]: the screen draws through a backend that never asks the terminal
//!   anything, since the key reader takes every answer; Ctrl-L's full redraw.
//! - [`hangup`]: noticing that the terminal is gone, which the key reader never reports.
//! - [`notify`]: desktop notifications through the terminal (OSC 777 / OSC 9).

pub mod backend;
mod hangup;
pub mod notify;

use std::fmt;
use std::io::{self, Stdout, Write, stdout};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, EnableBracketedPaste, EnableFocusChange, Event,
    EventStream,
};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use backend::QuietBackend;

pub type Tui = Terminal<QuietBackend<Stdout>>;

/// The terminal's input events, read by a task of their own.
pub type Input = mpsc::Receiver<io::Result<Event>>;

/// The terminal taken over, with its input and the signals that end the client; given
/// back when dropped.
///
/// The signals are caught from the moment the screen is taken (once caught, a signal no
/// longer ends the process by itself), and by one set of listeners for the whole run, so
/// that one that arrives while the picker hands over to the chat screen is not lost.
#[derive(Debug)]
pub struct Screen {
    pub terminal: Tui,
    pub input: Input,
    pub signals: Signals,
    _guard: TerminalGuard,
}

impl Screen {
    /// Takes the terminal over and starts reading its input and catching the signals;
    /// `mouse`: the wheel scrolls (else the terminal keeps the mouse for selecting).
    pub fn take(mouse: bool) -> io::Result<Self> {
        let signals = Signals::new()?;
        let (terminal, guard) = init(mouse)?;
        Ok(Self {
            terminal,
            input: input(),
            signals,
            _guard: guard,
        })
    }
}

/// What ends the client from outside: SIGTERM, SIGHUP and SIGINT, and the terminal going
/// away ([`hangup`]). (In raw mode Ctrl-C is a key, not a SIGINT; a SIGINT comes from
/// `kill`.)
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    hup: Signal,
    int: Signal,
    terminal: TerminalWatch,
}

impl Signals {
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
            terminal: TerminalWatch::Watched(hangup::watch()?),
        })
    }

    /// Waits for the next of them; returns its name, for the log and as the reason of the
    /// quit the room is told.
    pub async fn recv(&mut self) -> &'static str {
        let Self {
            term,
            hup,
            int,
            terminal,
        } = self;
        tokio::select! {
            _ = term.recv() => "terminated",
            _ = hup.recv() => "hangup",
            _ = int.recv() => "interrupted",
            () = terminal.gone() => "terminal closed",
        }
    }
}

/// What the hang-up watcher said so far.
#[derive(Debug)]
enum TerminalWatch {
    Watched(oneshot::Receiver<()>),
    /// Said again on every wait: whoever asks next must hear it too.
    Gone,
    /// The watcher could not watch: only SIGHUP will tell.
    Unwatched,
}

impl TerminalWatch {
    /// Returns once the terminal is gone (at once if it already is); never if that cannot be
    /// known.
    async fn gone(&mut self) {
        if let Self::Watched(rx) = self {
            *self = if rx.await.is_ok() {
                Self::Gone
            } else {
                Self::Unwatched
            };
        }
        if let Self::Unwatched = self {
            std::future::pending::<()>().await;
        }
    }
}

/// Whether the terminal is taken over; restoring twice would emit a second "leave alternate
/// screen", which some terminals answer by moving the cursor.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Restores the terminal when dropped.
#[derive(Debug)]
pub struct TerminalGuard(());

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Takes the terminal over. The guard gives it back.
pub fn init(mouse: bool) -> io::Result<(Tui, TerminalGuard)> {
    install_panic_hook();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = TerminalGuard(());
    // Focus reports tell when to raise desktop notifications.
    execute!(
        stdout(),
        EnterAlternateScreen,
        EnableBracketedPaste,
        EnableFocusChange
    )?;
    if mouse {
        execute!(stdout(), EnableMouseWheel)?;
    }
    let terminal = Terminal::new(QuietBackend::new(stdout()))?;
    Ok((terminal, guard))
}

/// Gives the terminal back: every step is tried even if one fails.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = stdout();
    // Turning off mouse reports that were never on does no harm.
    let _ = execute!(
        out,
        DisableMouseWheel,
        DisableFocusChange,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Terminal events, read by a task of their own into a channel.
///
/// The channel is what lets the event loop take "everything already waiting" with
/// `try_recv`. Polling crossterm's `EventStream` once outside the task's own waker
/// (`now_or_never`) would hand its reader thread a waker that wakes nobody, and input would
/// stall.
fn input() -> Input {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut stream = EventStream::new();
        while let Some(event) = futures::StreamExt::next(&mut stream).await {
            let failed = event.is_err();
            if tx.send(event).await.is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Rings the terminal bell.
pub fn bell() {
    let mut out = stdout();
    let _ = out.write_all(b"\x07");
    let _ = out.flush();
}

/// On a panic anywhere (the client library's tasks included): give the terminal back, print the
/// message, and exit. Carrying on after a panic in another task would keep drawing on a
/// terminal that is no longer in raw mode.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
        std::process::exit(101);
    }));
}

/// Mouse reports for buttons only (the wheel is buttons 4 and 5), in SGR encoding.
///
/// crossterm's `EnableMouseCapture` also asks for every mouse motion, which would wake the
/// client each time the pointer crosses the window; the wheel is all it needs.
struct EnableMouseWheel;

impl crossterm::Command for EnableMouseWheel {
    fn write_ansi(&self, f: &mut impl fmt::Write) -> fmt::Result {
        f.write_str("\x1b[?1000h\x1b[?1006h")
    }
}

struct DisableMouseWheel;

impl crossterm::Command for DisableMouseWheel {
    fn write_ansi(&self, f: &mut impl fmt::Write) -> fmt::Result {
        f.write_str("\x1b[?1006l\x1b[?1000l")
    }
}
