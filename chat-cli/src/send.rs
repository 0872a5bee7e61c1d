//! `send`: TEXT, or each line of standard input, to the room; done once the server has
//! stamped every message.
//!
//! The server sends a room's messages back to their sender, stamped, in order; seeing its
//! own message come back is how the client knows that the server took it. Only this
//! connection holds its nick, so counting the messages that come back from it is enough.
//! If the connection is lost while some are unconfirmed, their fate is unknown and that is
//! an error: the script learns that it should check, rather than hear "done".

use std::time::Duration;

use chat_client::shared::limits::MAX_TEXT_BYTES;
use chat_client::shared::{ClientMsg, ErrorKind, RoomEvent, ServerMsg};
use chat_client::{Client, Event, Welcome, sanitize};
use futures::StreamExt;
use tokio::io::Stdin;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

use crate::Failure;

/// Longest wait for the next confirmation while messages are unconfirmed.
pub const CONFIRM_WAIT: Duration = Duration::from_secs(30);
/// Messages sent but not yet confirmed before standard input is read further: what a
/// fast producer can have in flight, so that memory stays bounded however much is piped.
pub const MAX_UNCONFIRMED: usize = 64;

type Lines = FramedRead<Stdin, LinesCodec>;

/// Sends `text` (its words joined by spaces), or each non-blank line of standard input
/// when `text` is empty, and waits until the server has stamped them all.
pub async fn run(
    client: &Client,
    mut events: mpsc::Receiver<Event>,
    welcome: &Welcome,
    text: Vec<String>,
) -> Result<(), Failure> {
    let mut nick = welcome.nick.clone();
    let mut sent = 0usize;
    let mut confirmed = 0usize;
    let mut input = None;
    if text.is_empty() {
        // A line may hold a carriage return before its newline; the exact limit is
        // checked on the line itself.
        let codec = LinesCodec::new_with_max_length(MAX_TEXT_BYTES + 1);
        input = Some(FramedRead::new(tokio::io::stdin(), codec));
    } else {
        let text = text.join(" ");
        if text.trim().is_empty() {
            return Err(Failure("nothing to send: TEXT is blank".into()));
        }
        check_length(&text, None)?;
        client.send(ClientMsg::Chat { text });
        sent += 1;
    }
    let mut line_no = 0usize;
    let mut deadline = Instant::now() + CONFIRM_WAIT;
    loop {
        let unconfirmed = sent - confirmed;
        if input.is_none() && unconfirmed == 0 {
            return Ok(());
        }
        tokio::select! {
            line = next_line(&mut input), if unconfirmed < MAX_UNCONFIRMED => {
                line_no += 1;
                let line = match line {
                    None => {
                        input = None;
                        continue;
                    }
                    Some(line) => line.map_err(|e| read_failure(e, line_no))?,
                };
                if line.trim().is_empty() {
                    continue;
                }
                check_length(&line, Some(line_no))?;
                if unconfirmed == 0 {
                    deadline = Instant::now() + CONFIRM_WAIT;
                }
                client.send(ClientMsg::Chat { text: line });
                sent += 1;
            }
            event = events.recv() => match event {
                None => return Err(Failure("the connection's session ended".into())),
                Some(Event::Server(ServerMsg::Room {
                    event: RoomEvent::Said { from, .. },
                    ..
                })) if from == nick => {
                    confirmed = (confirmed + 1).min(sent);
                    deadline = Instant::now() + CONFIRM_WAIT;
                }
                // The client paces itself below the server's rate; a warning is no failure.
                Some(Event::Server(ServerMsg::Error { kind: ErrorKind::RateLimited, .. })) => {}
                Some(Event::Server(ServerMsg::Error { text, .. })) => {
                    return Err(Failure(format!(
                        "the server refused a message: {}",
                        sanitize::text(&text)
                    )));
                }
                Some(Event::Disconnected { reason }) if sent > confirmed => {
                    return Err(Failure(format!(
                        "the connection was lost before the server confirmed {}: {}",
                        messages(sent - confirmed),
                        sanitize::text(&reason)
                    )));
                }
                Some(Event::Reconnected(welcome)) => nick = welcome.nick,
                Some(Event::Refused { reason }) => {
                    return Err(Failure(format!("not sent: {}", sanitize::text(&reason))));
                }
                Some(Event::Fatal(reason) | Event::Stopped { reason }) => {
                    return Err(Failure(sanitize::text(&reason).into()));
                }
                Some(_) => {}
            },
            () = sleep_until(deadline), if unconfirmed > 0 => {
                return Err(Failure(format!(
                    "no confirmation from the server for {} s; {} unconfirmed",
                    CONFIRM_WAIT.as_secs(),
                    messages(unconfirmed)
                )));
            }
        }
    }
}

/// The next line of standard input; never ready once it has ended (`None` input).
async fn next_line(input: &mut Option<Lines>) -> Option<Result<String, LinesCodecError>> {
    match input {
        Some(lines) => lines.next().await,
        None => std::future::pending().await,
    }
}

fn check_length(text: &str, line_no: Option<usize>) -> Result<(), Failure> {
    if text.len() <= MAX_TEXT_BYTES {
        return Ok(());
    }
    let what = line_no.map_or_else(|| "TEXT".to_owned(), |n| format!("line {n}"));
    Err(Failure(format!(
        "{what} is {} bytes long; a message holds at most {MAX_TEXT_BYTES}",
        text.len()
    )))
}

fn read_failure(e: LinesCodecError, line_no: usize) -> Failure {
    let what = match e {
        LinesCodecError::MaxLineLengthExceeded => {
            format!("is longer than {MAX_TEXT_BYTES} bytes, the most a message holds")
        }
        LinesCodecError::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            "is not UTF-8 text".to_owned()
        }
        LinesCodecError::Io(e) => return Failure(format!("cannot read standard input: {e}")),
    };
    Failure(format!("line {line_no} of standard input {what}"))
}

fn messages(n: usize) -> String {
    if n == 1 {
        "1 message".into()
    } else {
        format!("{n} messages")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked_in_bytes() {
        assert!(check_length(&"a".repeat(MAX_TEXT_BYTES), None).is_ok());
        assert_eq!(
            check_length(&"é".repeat(2049), Some(3)),
            Err(Failure(
                "line 3 is 4098 bytes long; a message holds at most 4096".into()
            ))
        );
        assert_eq!(
            check_length(&"a".repeat(4097), None),
            Err(Failure(
                "TEXT is 4097 bytes long; a message holds at most 4096".into()
            ))
        );
    }

    #[test]
    fn read_failures_name_the_line() {
        assert_eq!(
            read_failure(LinesCodecError::MaxLineLengthExceeded, 2).0,
            "line 2 of standard input is longer than 4096 bytes, the most a message holds"
        );
        let bad = std::io::Error::new(std::io::ErrorKind::InvalidData, "x");
        assert_eq!(
            read_failure(LinesCodecError::Io(bad), 5).0,
            "line 5 of standard input is not UTF-8 text"
        );
    }
}
