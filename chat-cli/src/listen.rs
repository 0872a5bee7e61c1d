//! `listen`: the room's messages on standard output, one per line, until SIGINT or
//! SIGTERM, a closed standard output, or a failure that reconnecting cannot mend.

use chat_client::shared::ServerMsg;
use chat_client::{Event, Welcome, sanitize};
use tokio::io::{AsyncWriteExt as _, Stdout};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::record::{Kind, Record};
use crate::{Failure, now_ms};

/// How records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `HH:MM <nick> text`, in local time.
    Plain { utc_offset_secs: i32 },
    /// One JSON object per line.
    Json,
}

/// Prints the room's messages until told to stop. The first line says that the client is
/// in the room, so that a script knows when listening has begun.
pub async fn run(
    mut events: mpsc::Receiver<Event>,
    welcome: &Welcome,
    format: Format,
) -> Result<(), Failure> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut out = Output::stdout(format);
    let joined = Record {
        room: Some(welcome.room.clone()),
        from: Some(welcome.nick.clone()),
        ..Record::new(Kind::Joined, now_ms())
    };
    if !out.write(&joined).await? {
        return Ok(());
    }
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = sigint.recv() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
        };
        let record = match event {
            None => return Err(Failure("the connection's session ended".into())),
            Some(Event::Server(ServerMsg::Error { text, .. })) => {
                eprintln!("chat-cli: server: {}", sanitize::text(&text));
                continue;
            }
            Some(Event::Server(msg)) => Record::of(msg, now_ms()),
            Some(Event::Disconnected { reason }) => Some(Record {
                text: Some(reason),
                ..Record::new(Kind::Disconnected, now_ms())
            }),
            Some(Event::Reconnected(welcome)) => Some(Record {
                room: Some(welcome.room),
                from: Some(welcome.nick),
                ..Record::new(Kind::Reconnected, now_ms())
            }),
            Some(Event::Fatal(reason) | Event::Stopped { reason }) => {
                return Err(Failure(sanitize::text(&reason).into()));
            }
            Some(_) => None,
        };
        if let Some(record) = record {
            if !out.write(&record).await? {
                return Ok(());
            }
        }
    }
}

/// Standard output, a line at a time.
pub(crate) struct Output {
    stdout: Stdout,
    format: Format,
}

impl Output {
    /// Standard output, records written in `format`.
    pub(crate) fn stdout(format: Format) -> Self {
        Self {
            stdout: tokio::io::stdout(),
            format,
        }
    }

    /// Writes one record as a line and flushes it, so that a pipe sees each message when
    /// it arrives. `Ok(false)`: standard output is closed (`| head`), which ends listening
    /// but is no error.
    pub(crate) async fn write(&mut self, record: &Record) -> Result<bool, Failure> {
        let mut line = match self.format {
            Format::Plain { utc_offset_secs } => record.plain(utc_offset_secs),
            Format::Json => record.json(),
        };
        line.push('\n');
        let written = async {
            self.stdout.write_all(line.as_bytes()).await?;
            self.stdout.flush().await
        };
        match written.await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(Failure(format!("cannot write to standard output: {e}"))),
        }
    }
}
