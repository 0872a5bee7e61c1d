//! Finding a server on the LAN: looking (the client library browses), `--list`, and the
//! picker's loop, which feeds the terminal's keys to the [`Picker`] and draws it.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chat_client::sanitize;
use crossterm::event::Event as TermEvent;
use serde_json::Value;

use crate::picker::{Choice, Picker};
use crate::terminal::Screen;
use crate::ui::picker::PickerView;
use chat_client::discover::{BrowseOptions, FoundServer, browse};

/// Said on standard error while the client looks, before it takes the screen.
pub const LOOKING: &str = "looking for servers on the LAN…";

/// What to say when no server answered within `wait`: what to do instead.
pub fn none_found(wait: Duration) -> String {
    format!(
        "no chat server answered on the LAN within {}; to join one, give its address \
         (chat-tui --connect HOST:PORT), or host a room yourself (chat-tui --host)",
        shared::units::duration(wait.as_secs().max(1))
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
        eprintln!(
            "chat-tui: no chat server answered on the LAN within {}",
            shared::units::duration(wait.as_secs().max(1))
        );
        return Ok(());
    }
    let mut out = io::stdout().lock();
    let written = found.iter().try_for_each(|server| {
        let line = if json {
            json_line(server)
        } else {
            plain_line(server)
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

/// A server as a line for people: name, address, people connected, protocol version,
/// separated by tabs. The name is made safe to print.
pub fn plain_line(server: &FoundServer) -> String {
    format!(
        "{}\t{}\t{} connected\tprotocol {}",
        sanitize::nick(&server.name),
        server.addr,
        server.people,
        server.version
    )
}

/// A server as a JSON object on one line: `name`, `addr`, `people`, `version`,
/// `fingerprint` (null when the server announces none). The name is exact; characters a
/// terminal could act on are `\u` escapes.
pub fn json_line(server: &FoundServer) -> String {
    let fields = [
        ("name", Value::from(server.name.as_str())),
        ("addr", Value::from(server.addr.to_string())),
        ("people", Value::from(server.people)),
        ("version", Value::from(server.version)),
        ("fingerprint", Value::from(server.fingerprint.clone())),
    ];
    // Written by hand to keep the keys in this order; each value is serde_json's.
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("\"{key}\":{value}"))
        .collect();
    sanitize::json(format!("{{{}}}", body.join(",")))
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
    use crate::picker::tests::found;

    #[test]
    fn the_line_when_none_answer_says_what_to_do() {
        assert_eq!(
            none_found(Duration::from_secs(2)),
            "no chat server answered on the LAN within 2s; to join one, give its address \
             (chat-tui --connect HOST:PORT), or host a room yourself (chat-tui --host)"
        );
        assert!(none_found(Duration::from_millis(300)).contains("within 1s;"));
    }

    #[test]
    fn plain_lines_are_safe_to_print() {
        let server = found("ops\troom\x1b[2J", "192.168.1.20:7878", 3);
        assert_eq!(
            plain_line(&server),
            "ops room␛[2J\t192.168.1.20:7878\t3 connected\tprotocol 4"
        );
    }

    #[test]
    fn json_lines_are_exact_and_safe() {
        let mut server = found("午饭 \"room\"\x1b[2J\u{202e}", "[fe80::1]:7878", 1);
        let line = json_line(&server);
        assert!(!line.chars().any(sanitize::is_unsafe), "{line}");
        assert_eq!(
            line,
            r#"{"name":"午饭 \"room\"\u001b[2J\u202e","addr":"[fe80::1]:7878","people":1,"version":4,"fingerprint":null}"#
        );
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["name"], server.name.as_str());

        server.fingerprint = Some("SHA256:abc".into());
        let value: Value = serde_json::from_str(&json_line(&server)).unwrap();
        assert_eq!(value["fingerprint"], "SHA256:abc");
    }
}
