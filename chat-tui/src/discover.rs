//! Finding a server on the LAN: looking (the client library browses), `--list`, and the
//! picker's loop, which feeds the terminal's keys to the [`Picker`] and draws it.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chat_client::discover::{BrowseOptions, FoundServer, browse};
use chat_client::listing;
use crossterm::event::Event as TermEvent;

use crate::picker::{Choice, Picker};
use crate::terminal::Screen;
use crate::ui::picker::PickerView;

/// Said on standard error while the client looks, before it takes the screen.
pub const LOOKING: &str = "looking for servers on the LAN…";

/// What to say when no server answered within `wait`, and what to do instead.
pub fn none_found(wait: Duration) -> String {
    format!(
        "{}; to join one, give its address (chat-tui --connect HOST:PORT), or host a room \
         yourself (chat-tui --host)",
        listing::none_found(wait)
    )
}

/// Looks for servers, saying so on standard error. Finding none is an error that says
/// what to do instead.
pub async fn look(options: BrowseOptions) -> anyhow::Result<Vec<FoundServer>> {
    eprintln!("{LOOKING}");
    let wait = options.wait;
    let found = browse(options).await?;
    if found.is_empty() {
        bail!("{}", none_found(wait));
    }
    Ok(found)
}

/// `--list`: looks, then prints the servers found on standard output, one a line (a JSON
/// object a line with `json`). None found is a note on standard error, not an error. A
/// reader that stops reading (`| head -1`) ends the listing quietly.
pub async fn list(options: BrowseOptions, json: bool) -> anyhow::Result<()> {
    let wait = options.wait;
    let found = browse(options).await?;
    if found.is_empty() {
        eprintln!("chat-tui: {}", listing::none_found(wait));
        return Ok(());
    }
    let mut out = io::stdout().lock();
    let written = found.iter().try_for_each(|server| {
        let line = if json {
            listing::json_line(server)
        } else {
            listing::line(server)
        };
        writeln!(out, "{line}")
    });
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

/// Shows the picker over `servers` until the user joins one (returned; the picker says
/// it is joining it) or leaves (`None`), on a key, or on SIGTERM, SIGHUP or SIGINT.
pub async fn pick(
    screen: &mut Screen,
    servers: Vec<FoundServer>,
) -> anyhow::Result<Option<FoundServer>> {
    let mut picker = Picker::new(servers);
    loop {
        screen
            .terminal
            .draw(|frame| frame.render_widget(PickerView::new(&picker), frame.area()))?;
        let choice = tokio::select! {
            event = screen.input.recv() => match event.transpose()? {
                Some(TermEvent::Key(key)) => picker.on_key(key),
                Some(TermEvent::Mouse(mouse)) => {
                    picker.on_mouse(mouse);
                    None
                }
                // A resize is drawn again at the top of the loop; a paste has nothing
                // to go into.
                Some(_) => None,
                None => Some(Choice::Quit),
            },
            name = screen.signals.recv() => {
                tracing::info!(signal = name, "leaving the picker on signal");
                Some(Choice::Quit)
            }
        };
        match choice {
            Some(Choice::Join(server)) => {
                // "joining NAME at ADDR…" stays on the screen while the client connects.
                screen
                    .terminal
                    .draw(|frame| frame.render_widget(PickerView::new(&picker), frame.area()))?;
                tracing::info!(name = %server.name, addr = %server.addr, "picked");
                return Ok(Some(server));
            }
            Some(Choice::Quit) => return Ok(None),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_when_none_answer_says_what_to_do() {
        assert_eq!(
            none_found(Duration::from_secs(2)),
            "no server announced itself on the LAN within 2s; to join one, give its address \
             (chat-tui --connect HOST:PORT), or host a room yourself (chat-tui --host)"
        );
    }
}
