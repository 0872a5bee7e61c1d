//! The first contact with a TLS server: its key is not pinned yet, so chat-tui shows the
//! fingerprint and asks, on the plain terminal, before anything else (the chat screen is
//! not taken yet; the picker's is given back for the question). A "y" pins the key
//! (`chat_client::trust`) and connects again; anything else leaves. A key that changed is
//! never asked about: it is refused with the message that says how to forget the old pin
//! (`--forget`, [`forget`]).

use std::io::{BufRead, IsTerminal, Write};

use chat_client::trust::{Pins, TrustError};
use chat_client::{Client, ConnectError, Dial, Event, Options, Welcome};
use tokio::sync::mpsc;

use crate::terminal::Screen;

/// Connects through `dial`; a server not known yet is asked about once (see the module).
///
/// # Errors
///
/// As [`chat_client::connect_with`]; a key the user did not accept is refused as unknown.
pub async fn connect(
    dial: Dial,
    options: Options,
    screen: &mut Option<Screen>,
) -> Result<(Client, mpsc::Receiver<Event>, Welcome), ConnectError> {
    match chat_client::connect_with(dial.clone(), options.clone()).await {
        Err(ConnectError::Untrusted {
            addr,
            error: error @ TrustError::Unknown { .. },
        }) => {
            // The question is asked on the terminal as it was before chat-tui started.
            drop(screen.take());
            let question = error.clone();
            let yes = tokio::task::spawn_blocking(move || ask(&question))
                .await
                .unwrap_or(false);
            if !yes {
                return Err(ConnectError::Untrusted { addr, error });
            }
            let kept = match Pins::of_user() {
                Some(pins) => pins.add(error.identity(), error.seen()),
                None => Err(std::io::Error::other(
                    "there is no home directory to keep it in",
                )),
            };
            if let Err(e) = kept {
                // Said before the refusal, so that the question asked again has a reason.
                eprintln!("the server's key could not be kept: {e}");
                return Err(ConnectError::Untrusted { addr, error });
            }
            chat_client::connect_with(dial, options).await
        }
        other => other,
    }
}

/// Shows the server's fingerprint and asks whether to trust it; `false` without a
/// terminal to ask on.
fn ask(error: &TrustError) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    let mut out = std::io::stdout().lock();
    let _ = write!(
        out,
        "The server {} is not known yet. The fingerprint of its key is\n\n    {}\n\n\
         Compare it with the one the server shows beside 'listening on' (or ask its \
         operator).\nTrust this server from now on and connect? (y/n) ",
        chat_client::sanitize::nick(error.identity()),
        error.seen()
    );
    let _ = out.flush();
    drop(out);
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
}

/// `--forget SERVER`: removes the pin of `server`, and says so.
///
/// # Errors
///
/// There is no pin file to change, or it cannot be read or written.
pub fn forget(server: &str) -> anyhow::Result<()> {
    let Some(pins) = Pins::of_user() else {
        anyhow::bail!("there is no home directory, so no server's key is kept");
    };
    if pins.forget(server)? {
        println!("forgot the key of the server {server}; the next connection asks again");
    } else {
        println!(
            "no key was kept for the server {server} (in '{}')",
            pins.path().display()
        );
    }
    Ok(())
}
