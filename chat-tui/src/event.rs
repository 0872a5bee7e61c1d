//! The event loop: terminal input, the client library's events and signals merged into
//! one stream of [`Event`]s for [`App::update`]. This is where the library's events become
//! the app's own ([`from_client`]).
//!
//! Nothing here ticks: the loop sleeps until something happens, so an idle client uses no
//! CPU. After waking it takes everything else that is already waiting (up to a bound) before
//! it draws once, so a flood of messages costs one redraw per batch and keystrokes are never
//! stuck behind a queue of redraws.
//!
//! After each draw the app hears what the pane showed ([`App::viewed`]): it may ask for the
//! history the view is about to need, and then the loop draws again, with the "loading…"
//! it now shows. The only time it wakes by itself is when the app asks to
//! ([`App::wake_at`]): a read marker waiting for its second.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::Event as TermEvent;
use tokio::sync::mpsc;

use chat_client::Client;

use crate::app::{App, Command, Event};
use crate::keep::Keep;
use crate::terminal::{self, Screen};
use crate::ui;

/// Most events handled between two redraws.
const MAX_BATCH: usize = 1000;

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Quit,
    Fail(String),
}

/// Runs the client until the user quits, a signal arrives, the terminal goes away or the
/// connection fails for good.
pub async fn run(
    screen: &mut Screen,
    app: &mut App,
    net: &Client,
    net_events: mpsc::Receiver<chat_client::Event>,
    keep: &mut Keep,
) -> anyhow::Result<Outcome> {
    let result = run_loop(screen, app, net, net_events, keep).await;
    if result.is_err() {
        // The terminal failed (a draw, its input): the room is still told that this client
        // leaves, rather than seeing its connection drop.
        app.now_ms = now_ms();
        for frame in app.leaving("terminal failed".into()) {
            net.send(frame);
        }
    }
    result
}

/// [`run`]'s loop; its only errors are the terminal's.
async fn run_loop(
    screen: &mut Screen,
    app: &mut App,
    net: &Client,
    mut net_events: mpsc::Receiver<chat_client::Event>,
    keep: &mut Keep,
) -> anyhow::Result<Outcome> {
    let Screen {
        terminal,
        input,
        signals,
        ..
    } = screen;
    terminal.draw(|frame| ui::draw(frame, app))?;
    let mut batch = Batch::default();
    batch.after_draw(app, net);
    loop {
        if batch.redraw_after_view {
            terminal.draw(|frame| ui::draw(frame, app))?;
        }
        let wake = app.wake_at().map(|at| {
            let wait = at.saturating_sub(now_ms());
            tokio::time::Instant::now() + Duration::from_millis(wait)
        });
        let first = tokio::select! {
            ev = input.recv() => match ev {
                Some(ev) => Source::Terminal(ev?),
                None => return Ok(Outcome::Quit),
            },
            ev = net_events.recv() => Source::Net(ev),
            name = signals.recv() => Source::Signal(name),
            () = sleep_until(wake) => Source::Wake,
        };
        batch = Batch::default();
        batch.handle(app, net, first);
        for _ in 1..MAX_BATCH {
            if batch.outcome.is_some() {
                break;
            }
            // Typing first: it must not wait behind a flood.
            let next = if let Ok(ev) = input.try_recv() {
                Source::Terminal(ev?)
            } else if let Ok(ev) = net_events.try_recv() {
                Source::Net(Some(ev))
            } else {
                break;
            };
            batch.handle(app, net, next);
        }
        keep.after_batch(app, batch.save_ignore.take());
        if let Some(outcome) = batch.outcome {
            return Ok(outcome);
        }
        if batch.redraw {
            // Not `terminal.clear()`: it asks the terminal where its cursor is, and the key
            // reader would take the answer (see `terminal::backend`).
            terminal::backend::redraw_all(terminal)?;
        }
        terminal.draw(|frame| ui::draw(frame, app))?;
        if batch.bell {
            terminal::bell();
        }
        for (title, body) in batch.notify.drain(..) {
            terminal::notify::notify(app.settings.choices.notify_with, &title, &body);
        }
        batch.after_draw(app, net);
        if let Some(outcome) = batch.outcome {
            return Ok(outcome);
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

enum Source {
    Terminal(TermEvent),
    /// `None`: the client library's session ended.
    Net(Option<chat_client::Event>),
    Signal(&'static str),
    /// The time the app asked to be woken at.
    Wake,
}

/// What one batch of events asked for.
#[derive(Default)]
struct Batch {
    bell: bool,
    /// Desktop notifications to raise: title and body.
    notify: Vec<(String, String)>,
    /// The ignore list to write into the configuration file.
    save_ignore: Option<Vec<String>>,
    redraw: bool,
    /// What the pane showed made the app ask for something: draw again.
    redraw_after_view: bool,
    outcome: Option<Outcome>,
}

impl Batch {
    fn handle(&mut self, app: &mut App, net: &Client, source: Source) {
        let event = match source {
            Source::Terminal(TermEvent::Key(key)) => Event::Key(key),
            Source::Terminal(TermEvent::Paste(text)) => Event::Paste(text),
            Source::Terminal(TermEvent::Mouse(mouse)) => Event::Mouse(mouse),
            // The loop redraws after every batch, at the terminal's new size; the app
            // itself has nothing that depends on it.
            Source::Terminal(TermEvent::Resize(..)) => return,
            Source::Terminal(TermEvent::FocusGained) => Event::Focus(true),
            Source::Terminal(TermEvent::FocusLost) => Event::Focus(false),
            Source::Net(Some(ev)) => from_client(ev),
            Source::Net(None) => {
                self.outcome = Some(Outcome::Fail("the connection's session ended".into()));
                return;
            }
            Source::Signal(name) => {
                tracing::info!(signal = name, "leaving on signal");
                app.now_ms = now_ms();
                for frame in app.leaving(name.into()) {
                    net.send(frame);
                }
                self.outcome = Some(Outcome::Quit);
                return;
            }
            // Nothing to update: the draw and what follows it is the point.
            Source::Wake => return,
        };
        app.now_ms = now_ms();
        let commands = app.update(event);
        self.run(net, commands);
    }

    /// After a draw: what the view needs.
    fn after_draw(&mut self, app: &mut App, net: &Client) {
        app.now_ms = now_ms();
        let commands = app.viewed();
        self.redraw_after_view = !commands.is_empty();
        self.run(net, commands);
    }

    fn run(&mut self, net: &Client, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Send(msg) => net.send(msg),
                Command::Bell => self.bell = true,
                Command::Redraw => self.redraw = true,
                Command::Quit => self.outcome = Some(Outcome::Quit),
                Command::Fail(why) => self.outcome = Some(Outcome::Fail(why)),
                Command::Transfer(request) => net.transfer(request),
                Command::UploadTo { room, request } => net.upload_to(&room, request),
                Command::Notify { title, body } => self.notify.push((title, body)),
                Command::SaveIgnore(nicks) => self.save_ignore = Some(nicks),
                Command::Reconnect => net.reconnect(),
            }
        }
    }
}

/// The app's event for one of the client library's.
pub fn from_client(event: chat_client::Event) -> Event {
    use chat_client::Event as Client;
    match event {
        Client::Server(msg) => Event::Server(msg),
        Client::Reconnected(welcome) => Event::Reconnected(welcome),
        Client::Disconnected { reason } => Event::Disconnected { reason },
        Client::Reconnecting {
            attempt,
            delay,
            error,
        } => Event::Reconnecting {
            attempt,
            delay,
            error,
        },
        Client::Queued { waiting } => Event::Queued { waiting },
        Client::Flushed { sent } => Event::Flushed { sent },
        Client::Waiting { waiting } => Event::Waiting { waiting },
        Client::Delivered { msg } => Event::Delivered { msg },
        Client::Unconfirmed { msg } => Event::Unconfirmed { msg },
        Client::Refused { reason } => Event::Refused { reason },
        Client::Fatal(reason) => Event::Fatal(reason),
        Client::Stopped { reason } => Event::Stopped { reason },
        Client::Transfer(event) => Event::Transfer(event),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
