//! The first contact with a TLS server: its key is not pinned yet, so chat-tui shows the
//! fingerprint and asks, on the plain terminal, before anything else (the chat screen is
//! not taken yet; the picker's is given back for the question). A "y" pins the key
//! (`chat_client::trust`) and connects again; anything else leaves. A key that changed is
//! never asked about: it is refused with the message that says how to forget the old pin
//! (`--forget`, [`forget`]).
//!
//! A server with a password that chat-tui was not given (`--password-file`,
//! `CHAT_PASSWORD`, `password` in the configuration file) is asked about the same way,
//! once, the typed text hidden. A wrong password is said in one line and asked once more;
//! wrong again, chat-tui leaves with that line: the server limits the attempts, and
//! knocking in a loop would only lock the user out.

use std::io::{BufRead, IsTerminal, Write};

use chat_client::trust::{Pins, TrustError};
use chat_client::{Client, ConnectError, Credentials, Dial, Event, Options, Welcome};
use shared::ErrorKind;
use tokio::sync::mpsc;

use crate::terminal::Screen;

/// Connects through `dial` proving `credentials`; a server not known yet is asked about
/// once, and a password asked for when the server wants one (see the module). The
/// password typed is kept in `credentials`, for the reconnects.
///
/// # Errors
///
/// As [`chat_client::connect_as`]; a key the user did not accept is refused as unknown.
pub async fn connect(
    dial: Dial,
    options: Options,
    credentials: &mut Credentials,
    screen: &mut Option<Screen>,
) -> Result<(Client, mpsc::Receiver<Event>, Welcome), ConnectError> {
    // Each question at most once: the loop turns at most three times.
    let (mut trust_asked, mut password_asked, mut wrong_said) = (false, false, false);
    loop {
        let refused =
            match chat_client::connect_as(dial.clone(), options.clone(), credentials.clone()).await
            {
                Err(ConnectError::Untrusted {
                    addr,
                    error: error @ TrustError::Unknown { .. },
                }) if !trust_asked => {
                    trust_asked = true;
                    // The question is asked on the terminal as it was before chat-tui started.
                    drop(screen.take());
                    trust(addr, error).await?;
                    continue;
                }
                Err(refused @ ConnectError::NeedsPassword { .. }) if !password_asked => refused,
                Err(
                    refused @ ConnectError::Refused {
                        kind: ErrorKind::WrongPassword,
                        ..
                    },
                ) if !wrong_said && std::io::stdin().is_terminal() => {
                    wrong_said = true;
                    drop(screen.take());
                    eprintln!("{refused}");
                    refused
                }
                other => return other,
            };
        password_asked = true;
        drop(screen.take());
        let question = match &refused {
            ConnectError::NeedsPassword { addr } => {
                format!("The server at {addr} needs a password")
            }
            _ => "Try again".to_owned(),
        };
        let typed = tokio::task::spawn_blocking(move || crate::password::ask(&question))
            .await
            .ok()
            .flatten();
        match typed {
            Some(password) => credentials.password = Some(password),
            None => return Err(refused),
        }
    }
}

/// Asks whether to trust the server that presented an unknown key, and pins it if so.
async fn trust(addr: String, error: TrustError) -> Result<(), ConnectError> {
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
    Ok(())
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
