//! The server's password typed on the terminal, not shown as it is typed, and `--print-key`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use chat_client::Identity;
use chat_client::credentials::password_text;
use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

/// Asks for the password on the terminal (`question`, then ": "), with echo off; `None`
/// without a terminal to ask on, or when nothing was typed (Enter alone, end of input).
pub fn ask(question: &str) -> Option<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "{question} (not shown as you type; Enter alone gives up): "
        );
        let _ = out.flush();
    }
    let line = read_hidden(&stdin);
    // The Enter the terminal did not echo.
    println!();
    let line = line?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    match password_text(line) {
        Ok(password) => Some(password),
        Err(_) if line.is_empty() => None,
        Err(why) => {
            eprintln!("{why}");
            None
        }
    }
}

/// A line read from the terminal with its echo off, the terminal's settings restored
/// after (line editing stays the terminal's: Backspace works).
fn read_hidden(stdin: &std::io::Stdin) -> Option<String> {
    let before = tcgetattr(stdin).ok()?;
    let mut quiet = before.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(stdin, OptionalActions::Now, &quiet).ok()?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(stdin, OptionalActions::Now, &before);
    match read {
        Ok(n) if n > 0 => Some(line),
        _ => None,
    }
}

/// `--print-key`: the key's two forms, and where it is kept.
pub fn print_key(identity: &Identity, path: &std::path::Path, made: bool) {
    let key = identity.public_key();
    let made = if made { " (made now)" } else { "" };
    println!("your key{made}, kept in {}:", path.display());
    println!("  {key}");
    println!("as a server's operators list writes it:");
    println!("  {}", key.hex());
}
