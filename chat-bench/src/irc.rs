//! Just enough of an IRC client (RFC 2812) to drive an IRC server with the same fan-out and
//! idle scenarios as our own server, so that both are measured by one generator in one run.
//!
//! A client registers (`NICK`, `USER`), joins one channel and says `PRIVMSG`s to it. IRC
//! servers do not echo a message to its sender; see `fanout` for how a sender learns that its
//! message went round.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{Framed, LinesCodec};

use crate::link::Heard;

/// RFC 2812 caps a line at 512 bytes; servers that allow more still stop far below this.
const MAX_LINE: usize = 8192;

/// How long registering, joining or settling may take. Thousands of joins in a row keep a server
/// busy telling every member about every join (ngIRCd takes tens of seconds for 5,000), so
/// a client that joins late waits that long for its turn.
const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// The token of the `PING` that [`Irc::settle`] sends.
const SETTLE_TOKEN: &str = "chat-bench-settle";

/// One registered IRC client in one channel.
#[derive(Debug)]
pub struct Irc {
    io: Framed<TcpStream, LinesCodec>,
    /// `PRIVMSG #channel :`, the start of every line this client says.
    say_prefix: String,
}

/// One line from the server, split into the parts a client acts on.
#[derive(Debug, PartialEq, Eq)]
struct Line<'a> {
    /// The nick of the prefix (`nick` of `:nick!user@host`), or the server's name.
    source: &'a str,
    command: &'a str,
    /// The middle parameters, space-separated, without the trailing one.
    middle: &'a str,
    /// The trailing parameter (after ` :`), or the last middle one.
    trailing: &'a str,
}

/// Splits `[:prefix ]COMMAND params[ :trailing]`; `None` for a line with no command.
fn parse(line: &str) -> Option<Line<'_>> {
    let (prefix, rest) = match line.strip_prefix(':') {
        Some(tail) => tail.split_once(' ')?,
        None => ("", line),
    };
    let source = prefix.split(['!', '@']).next().unwrap_or(prefix);
    let (command, params) = rest.split_once(' ').unwrap_or((rest, ""));
    if command.is_empty() {
        return None;
    }
    let (middle, trailing) = match params.strip_prefix(':') {
        Some(t) => ("", t),
        None => match params.split_once(" :") {
            Some((m, t)) => (m, t),
            None => match params.rsplit_once(' ') {
                Some((m, t)) => (m, t),
                None => ("", params),
            },
        },
    };
    Some(Line {
        source,
        command,
        middle,
        trailing,
    })
}

/// Whether a numeric reply is an error (`400`-`599`), which ends a benchmark run; but
/// `422`, no message of the day, which a server without one sends at every registration.
fn is_error_numeric(command: &str) -> bool {
    command.len() == 3 && matches!(command.as_bytes()[0], b'4' | b'5') && command != "422"
}

impl Irc {
    /// Connects, registers as `nick` and joins `#room`; returns once the server has sent
    /// the channel's member list (`366`, end of names).
    pub async fn join(addr: SocketAddr, nick: String, room: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let channel = format!("#{room}");
        let mut irc = Irc {
            io: Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE)),
            say_prefix: format!("PRIVMSG {channel} :"),
        };
        irc.io.feed(format!("NICK {nick}\r")).await?;
        irc.io.send(format!("USER {nick} 0 * :{nick}\r")).await?;
        irc.wait_for(&nick, |l| l.command == "001").await?;
        irc.io.send(format!("JOIN {channel}\r")).await?;
        irc.wait_for(&nick, |l| l.command == "366").await?;
        Ok(irc)
    }

    /// Reads lines until one satisfies `done`, answering pings; an error numeric or
    /// `ERROR` fails. [`ANSWER_WAIT`] at most.
    async fn wait_for(&mut self, who: &str, done: impl Fn(&Line) -> bool) -> anyhow::Result<()> {
        let read = async {
            loop {
                let line = self.read_line().await?.context("server closed")?;
                let Some(l) = parse(&line) else { continue };
                if done(&l) {
                    return Ok(());
                }
                self.handle(&l).await?;
            }
        };
        timeout(ANSWER_WAIT, read)
            .await
            .with_context(|| format!("{who}: no answer within {ANSWER_WAIT:?}"))?
    }

    async fn read_line(&mut self) -> anyhow::Result<Option<String>> {
        self.io.next().await.transpose().context("reading a line")
    }

    /// What every line that is not a message needs: pings answered, errors raised.
    async fn handle(&mut self, l: &Line<'_>) -> anyhow::Result<()> {
        match l.command {
            "PING" => self.io.send(format!("PONG :{}\r", l.trailing)).await?,
            "ERROR" => bail!("server closed the link: {}", l.trailing),
            c if is_error_numeric(c) => bail!("server refused: {c} {} {}", l.middle, l.trailing),
            _ => {}
        }
        Ok(())
    }

    /// Waits until the server has sent everything queued for this client so far: a `PING`
    /// is answered in order after it.
    pub async fn settle(&mut self) -> anyhow::Result<()> {
        self.io.send(format!("PING :{SETTLE_TOKEN}\r")).await?;
        self.wait_for("settling", |l| {
            l.command == "PONG" && l.trailing == SETTLE_TOKEN
        })
        .await
    }

    /// Queues one message to the channel without flushing.
    pub async fn feed(&mut self, text: &str) -> anyhow::Result<()> {
        let mut line = String::with_capacity(self.say_prefix.len() + text.len() + 1);
        line.push_str(&self.say_prefix);
        line.push_str(text);
        line.push('\r');
        Ok(self.io.feed(line).await?)
    }

    pub async fn flush(&mut self) -> anyhow::Result<()> {
        Ok(SinkExt::<String>::flush(&mut self.io).await?)
    }

    /// The next message said in the channel, answering pings on the way; `None` when the
    /// server closes the connection.
    pub async fn next(&mut self) -> anyhow::Result<Option<Heard>> {
        loop {
            let Some(line) = self.read_line().await? else {
                return Ok(None);
            };
            let Some(l) = parse(&line) else { continue };
            if l.command == "PRIVMSG" {
                return Ok(Some(Heard {
                    from: l.source.to_owned(),
                    text: l.trailing.to_owned(),
                }));
            }
            self.handle(&l).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_channel_message() {
        let l = parse(":bench1-3!~bench1-3@localhost PRIVMSG #bench-0 :12:3: x y").unwrap();
        assert_eq!(
            l,
            Line {
                source: "bench1-3",
                command: "PRIVMSG",
                middle: "#bench-0",
                trailing: "12:3: x y",
            }
        );
    }

    #[test]
    fn parses_lines_without_prefix_or_trailing() {
        let ping = parse("PING :irc.example").unwrap();
        assert_eq!(
            (ping.source, ping.command, ping.trailing),
            ("", "PING", "irc.example")
        );
        let numeric = parse(":irc.example 366 me #room :End of NAMES list").unwrap();
        assert_eq!((numeric.command, numeric.middle), ("366", "me #room"));
        let bare = parse(":irc.example PONG irc.example tok").unwrap();
        assert_eq!((bare.middle, bare.trailing), ("irc.example", "tok"));
        assert_eq!(parse(":prefix-only"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn error_numerics_are_400_to_599() {
        assert!(is_error_numeric("433"));
        assert!(is_error_numeric("501"));
        assert!(!is_error_numeric("366"));
        assert!(!is_error_numeric("422"));
        assert!(!is_error_numeric("PRIVMSG"));
    }
}
