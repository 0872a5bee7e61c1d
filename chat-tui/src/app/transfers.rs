//! File transfers as the app keeps them: `/send-file`, `/get` and `/cancel` become the
//! client library's requests, each transfer's news moves its progress bar (drawn by
//! `ui/transfers.rs`) and ends in a line in the message pane, and the room's shared files
//! are offered and listed.
//!
//! One number for each thing on the screen: a download is known by its file's id, the
//! number that offers and `/files` show and `/get` takes (its bar says `[7]`, `/cancel 7`
//! stops it); an upload, which has no file id yet, by `u` and a number of its own (`[u2]`,
//! `/cancel u2`), and by its file id once stored.

use std::collections::BTreeMap;

use chat_client::sanitize;
use chat_client::transfer::journal::Interrupted;
use chat_client::transfer::progress::{Progress, bytes};
use chat_client::transfer::{self, TransferEvent, TransferId};
use shared::{FetchCount, FileInfo};

use super::scrollback::{Entry, EntryKind};
use super::{App, Command};
use crate::commands::TransferRef;

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// A running transfer, as its progress bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    /// The library's number for it; an upload's number too (see [`Transfer::label`]).
    pub id: TransferId,
    pub direction: Direction,
    /// Sanitised name; until the file is known, what the user asked for.
    pub name: String,
    /// For a download, the server's file id.
    pub file_id: Option<u64>,
    /// Whether the file's size is known (the upload's file is open, the download began).
    pub started: bool,
    pub progress: Progress,
}

impl Transfer {
    /// What the user knows the transfer by, and types after `/cancel`: the file id of a
    /// download, `u` and a number for an upload.
    pub fn label(&self) -> String {
        match (self.direction, self.file_id) {
            (Direction::Down, Some(file_id)) => file_id.to_string(),
            _ => format!("u{}", self.id),
        }
    }

    /// Whether `/cancel` with `what` names this transfer.
    fn is(&self, what: TransferRef) -> bool {
        match (self.direction, what) {
            (Direction::Down, TransferRef::File(id)) => self.file_id == Some(id),
            (Direction::Up, TransferRef::Upload(n)) => self.id == n,
            _ => false,
        }
    }
}

impl App {
    fn new_transfer(
        &mut self,
        direction: Direction,
        name: String,
        file_id: Option<u64>,
    ) -> TransferId {
        let id = self.next_transfer;
        self.next_transfer += 1;
        self.transfers.push(Transfer {
            id,
            direction,
            name,
            file_id,
            started: false,
            progress: Progress::new(0),
        });
        id
    }

    pub(super) fn send_file(&mut self, path: String) -> Vec<Command> {
        // What the bar shows until the task has opened the file.
        let shown = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(&path);
        let shown = sanitize::nick(shown).into_owned();
        let id = self.new_transfer(Direction::Up, shown, None);
        vec![Command::Transfer(transfer::Request::Upload { id, path })]
    }

    pub(super) fn get(&mut self, file_id: u64) -> Vec<Command> {
        if self.transfers.iter().any(|t| t.file_id == Some(file_id)) {
            self.error(format!(
                "file {file_id} is already being downloaded (/cancel {file_id} stops it)"
            ));
            return Vec::new();
        }
        let id = self.new_transfer(Direction::Down, format!("file {file_id}"), Some(file_id));
        vec![Command::Transfer(transfer::Request::Download {
            id,
            file_id,
            dir: self.settings.download_dir.clone(),
        })]
    }

    pub(super) fn cancel(&mut self, what: Option<TransferRef>) -> Vec<Command> {
        let found = match what {
            Some(what) => self.transfers.iter().find(|t| t.is(what)),
            None => self.transfers.last(),
        };
        match found {
            Some(t) => vec![Command::Transfer(transfer::Request::Cancel { id: t.id })],
            None if self.transfers.is_empty() => {
                self.error("no transfer is running".into());
                Vec::new()
            }
            None => {
                let running: Vec<String> = self.transfers.iter().map(Transfer::label).collect();
                let asked = match what {
                    Some(TransferRef::File(id)) => format!("no download of file {id}"),
                    Some(TransferRef::Upload(n)) => format!("no upload u{n}"),
                    None => "no such transfer".to_owned(),
                };
                self.error(format!("{asked}; running: {}", running.join(", ")));
                Vec::new()
            }
        }
    }

    pub(super) fn on_transfer(&mut self, event: TransferEvent) {
        let now = self.now_ms;
        let Some(at) = self.transfers.iter().position(|t| t.id == event.id()) else {
            return;
        };
        let t = &mut self.transfers[at];
        let what = match t.direction {
            Direction::Up => "upload",
            Direction::Down => "download",
        };
        match event {
            TransferEvent::Started { name, size, .. } => {
                t.name = sanitize::nick(&name).into_owned();
                t.started = true;
                t.progress = Progress::new(size);
                t.progress.sample(0, now);
                let text = match t.direction {
                    Direction::Up => format!(
                        "sending {} ({}) to #{}",
                        t.name,
                        bytes(size),
                        sanitize::nick(&self.room)
                    ),
                    Direction::Down => format!("downloading {} ({})", t.name, bytes(size)),
                };
                let text = format!("[{}] {text}", t.label());
                self.info(text);
            }
            TransferEvent::Progress { done, .. } => t.progress.sample(done, now),
            TransferEvent::Resumed { offset, .. } => {
                t.progress.restart(offset, now);
                let text = format!(
                    "[{}] {what} of {} resumed at {} of {}",
                    t.label(),
                    t.name,
                    bytes(offset),
                    bytes(t.progress.total)
                );
                self.notice_now(text);
            }
            TransferEvent::Restarted { reason, .. } => {
                t.progress.restart(0, now);
                let text = format!(
                    "[{}] {what} of {}: {}",
                    t.label(),
                    t.name,
                    sanitize::text(&reason)
                );
                self.notice_now(text);
            }
            TransferEvent::Uploaded { file_id, .. } => {
                let t = self.transfers.remove(at);
                self.info(format!(
                    "[{}] sent {} ({}), checksum verified by the server: file {file_id}",
                    t.label(),
                    t.name,
                    bytes(t.progress.total)
                ));
            }
            TransferEvent::Saved { path, .. } => {
                let t = self.transfers.remove(at);
                self.info(format!(
                    "[{}] saved {} ({}) as {}, SHA-256 verified",
                    t.label(),
                    t.name,
                    bytes(t.progress.total),
                    sanitize::text(&path.display().to_string())
                ));
            }
            TransferEvent::Failed { reason, .. } => {
                let t = self.transfers.remove(at);
                self.error(format!(
                    "[{}] {what} of {} failed: {}",
                    t.label(),
                    t.name,
                    sanitize::text(&reason)
                ));
            }
            TransferEvent::Cancelled { .. } => {
                let t = self.transfers.remove(at);
                self.info(format!("[{}] {what} of {} cancelled", t.label(), t.name));
            }
        }
    }

    /// Tells what a former run of the client left unfinished, and how to go on with it.
    pub fn interrupted(&mut self, left: &Interrupted) {
        for (file_id, name, have, size) in &left.downloads {
            self.notice_now(format!(
                "the download of {} stopped at {} of {} when the client last ran: \
                 /get {file_id} resumes it",
                sanitize::nick(name),
                bytes(*have),
                bytes(*size)
            ));
        }
        for (path, size) in &left.uploads {
            self.notice_now(format!(
                "the upload of {} ({}) was interrupted when the client last ran: \
                 /send-file {} resumes it",
                sanitize::text(&path.display().to_string()),
                bytes(*size),
                sanitize::text(&path.display().to_string())
            ));
        }
    }

    /// A file offered in a version 3 frame (version 4 offers are room messages).
    pub(super) fn offered(&mut self, file: &FileInfo) {
        self.push(Entry {
            time_ms: file.time_ms,
            kind: EntryKind::Notice(offer_text(file, &self.shares)),
        });
    }

    pub(super) fn list_files(&mut self, room: &str, files: &[FileInfo]) {
        let room = sanitize::nick(room);
        if files.is_empty() {
            self.notice_now(format!(
                "no files shared in #{room} yet; /send-file PATH shares one"
            ));
            return;
        }
        self.notice_now(format!("files in #{room} ({}):", files.len()));
        for file in files {
            let fetched = match self.shares.text(file.id) {
                Some(text) => format!(", {text}"),
                None => String::new(),
            };
            self.notice_now(format!(
                "  /get {:<4} {}  {}  from {}{fetched}",
                file.id,
                sanitize::nick(&file.name),
                bytes(file.size),
                sanitize::nick(&file.from)
            ));
        }
    }

    /// How many have fetched files this client shared: the counts its offer lines and
    /// `/files` show.
    pub(super) fn fetched(&mut self, members: u32, counts: &[FetchCount]) {
        self.shares.set(members, counts);
    }
}

/// Most files whose fetch counts the app keeps; past it, those of the oldest files (the
/// lowest ids) go first.
pub const MAX_SHARES: usize = 4096;

/// How many members have fetched the files this client shared, by file id: `(by,
/// members)` as the server last counted (feature `fetched`, [`shared::ServerMsg::Fetched`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shares(BTreeMap<u64, (u32, u32)>);

/// No counts, for panes drawn without an app.
pub static NO_SHARES: Shares = Shares(BTreeMap::new());

impl Shares {
    /// `fetched by N of M members` for file `file_id`, if a count came.
    pub fn text(&self, file_id: u64) -> Option<String> {
        let &(by, members) = self.0.get(&file_id)?;
        let noun = if members == 1 { "member" } else { "members" };
        Some(format!("fetched by {by} of {members} {noun}"))
    }

    fn set(&mut self, members: u32, counts: &[FetchCount]) {
        for count in counts {
            self.0.insert(count.file_id, (count.by, members));
        }
        while self.0.len() > MAX_SHARES {
            self.0.pop_first();
        }
    }
}

/// The line of a file offered in the room; for a file of this client's, how many have
/// fetched it, once the server has said.
pub fn offer_text(file: &FileInfo, shares: &Shares) -> String {
    let line = format!(
        "{} shares {} ({}): type /get {} to download it",
        sanitize::nick(&file.from),
        sanitize::nick(&file.name),
        bytes(file.size),
        file.id
    );
    match shares.text(file.id) {
        Some(fetched) => format!("{line} ({fetched})"),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use chat_client::transfer::Request;
    use shared::{ClientMsg, FetchCount, RoomEvent, ServerMsg};

    use super::*;
    use crate::app::Event;
    use crate::app::testing::*;

    fn transfer(app: &mut App, event: TransferEvent) {
        app.update(Event::Transfer(event));
    }

    #[test]
    fn send_file_starts_an_upload_with_a_bar() {
        let mut app = app();
        let out = submit(&mut app, "/send-file ~/docs/report.pdf");
        assert_eq!(
            out,
            [Command::Transfer(Request::Upload {
                id: 1,
                path: "~/docs/report.pdf".into()
            })]
        );
        assert_eq!(app.transfers.len(), 1);
        assert_eq!(app.transfers[0].name, "report.pdf");
        assert!(!app.transfers[0].started);

        app.now_ms = T;
        transfer(
            &mut app,
            TransferEvent::Started {
                id: 1,
                name: "report.pdf".into(),
                size: 1000,
            },
        );
        assert!(app.transfers[0].started);
        app.now_ms = T + 1000;
        transfer(&mut app, TransferEvent::Progress { id: 1, done: 400 });
        let p = &app.transfers[0].progress;
        assert_eq!((p.done, p.total, p.percent()), (400, 1000, 40));
        assert_eq!(p.rate(), Some(400.0));

        transfer(&mut app, TransferEvent::Uploaded { id: 1, file_id: 7 });
        assert!(app.transfers.is_empty());
        assert!(
            matches!(last(&app), EntryKind::Info(t) if t.contains("sent report.pdf") && t.contains("file 7"))
        );
    }

    #[test]
    fn get_downloads_into_the_download_folder_once_at_a_time() {
        let mut app = app();
        let out = submit(&mut app, "/get 3");
        assert_eq!(
            out,
            [Command::Transfer(Request::Download {
                id: 1,
                file_id: 3,
                dir: "/tmp/downloads".into()
            })]
        );
        assert_eq!(app.transfers[0].name, "file 3");
        assert!(submit(&mut app, "/get 3").is_empty());
        assert!(
            matches!(last(&app), EntryKind::Error(t) if t.contains("already being downloaded"))
        );

        transfer(
            &mut app,
            TransferEvent::Started {
                id: 1,
                name: "evil\u{1b}[2J.txt".into(),
                size: 5,
            },
        );
        assert_eq!(
            app.transfers[0].name, "evil\u{241b}[2J.txt",
            "names are sanitised"
        );
        transfer(
            &mut app,
            TransferEvent::Saved {
                id: 1,
                path: "/tmp/downloads/x (1).txt".into(),
            },
        );
        assert!(app.transfers.is_empty());
        assert!(
            matches!(last(&app), EntryKind::Info(t) if t.contains("x (1).txt") && t.contains("SHA-256 verified"))
        );
    }

    #[test]
    fn a_failed_transfer_is_an_inline_error_and_its_bar_goes() {
        let mut app = app();
        submit(&mut app, "/get 9");
        transfer(
            &mut app,
            TransferEvent::Failed {
                id: 1,
                reason: "no such file: no file 9 in #lobby".into(),
            },
        );
        assert!(app.transfers.is_empty());
        assert!(
            matches!(last(&app), EntryKind::Error(t) if t.contains("download of file 9 failed: no such file"))
        );
        // Events of a transfer that is gone change nothing.
        transfer(&mut app, TransferEvent::Progress { id: 1, done: 1 });
        assert!(app.transfers.is_empty());
    }

    #[test]
    fn cancel_picks_the_latest_transfer_or_the_one_named() {
        let mut app = app();
        assert!(submit(&mut app, "/cancel").is_empty());
        assert!(matches!(last(&app), EntryKind::Error(t) if t == "no transfer is running"));
        submit(&mut app, "/send-file a.bin");
        submit(&mut app, "/get 4");
        assert_eq!(
            submit(&mut app, "/cancel"),
            [Command::Transfer(Request::Cancel { id: 2 })]
        );
        // A download by its file's id, an upload by its own number: the bars' labels.
        assert_eq!(
            submit(&mut app, "/cancel 4"),
            [Command::Transfer(Request::Cancel { id: 2 })]
        );
        assert_eq!(
            submit(&mut app, "/cancel u1"),
            [Command::Transfer(Request::Cancel { id: 1 })]
        );
        let labels: Vec<String> = app.transfers.iter().map(Transfer::label).collect();
        assert_eq!(labels, ["u1", "4"]);
        // The upload's number is not a file id, nor the other way round.
        assert!(submit(&mut app, "/cancel 1").is_empty());
        assert!(
            matches!(last(&app), EntryKind::Error(t) if t == "no download of file 1; running: u1, 4")
        );
        assert!(submit(&mut app, "/cancel u2").is_empty());
        assert!(matches!(last(&app), EntryKind::Error(t) if t == "no upload u2; running: u1, 4"));
        transfer(&mut app, TransferEvent::Cancelled { id: 2 });
        assert_eq!(app.transfers.len(), 1);
        assert!(
            matches!(last(&app), EntryKind::Info(t) if t.contains("download of file 4 cancelled"))
        );
    }

    #[test]
    fn resumed_and_restarted_transfers_say_so() {
        let mut app = app();
        submit(&mut app, "/send-file big.bin");
        transfer(
            &mut app,
            TransferEvent::Started {
                id: 1,
                name: "big.bin".into(),
                size: 1 << 20,
            },
        );
        transfer(
            &mut app,
            TransferEvent::Resumed {
                id: 1,
                offset: 1 << 19,
            },
        );
        assert_eq!(app.transfers[0].progress.percent(), 50);
        assert!(
            matches!(last(&app), EntryKind::Notice(t) if t.contains("resumed at 512 KiB of 1.0 MiB"))
        );
        transfer(
            &mut app,
            TransferEvent::Restarted {
                id: 1,
                reason: "starting again from zero".into(),
            },
        );
        assert_eq!(app.transfers[0].progress.percent(), 0);
        assert!(
            matches!(last(&app), EntryKind::Notice(t) if t.contains("starting again from zero"))
        );
    }

    fn offer(id: u64, name: &str, size: u64) -> shared::FileInfo {
        shared::FileInfo {
            id,
            name: name.into(),
            size,
            sha256: vec![0; 32],
            from: "bob".into(),
            time_ms: T,
            room: "lobby".into(),
        }
    }

    #[test]
    fn offers_and_file_lists_show_the_command_that_fetches() {
        let mut app = app();
        app.update(room_msg(RoomEvent::Shared {
            file: offer(3, "report\u{202e}fdp.exe", 1_288_490_189),
        }));
        assert!(matches!(last(&app), EntryKind::Notice(t)
            if t == "bob shares report<U+202E>fdp.exe (1.20 GiB): type /get 3 to download it"));
        app.update(Event::Server(ServerMsg::Files {
            room: "lobby".into(),
            files: vec![offer(3, "a.txt", 10), offer(4, "b.txt", 2048)],
        }));
        let texts: Vec<_> = app
            .scrollback
            .entries()
            .iter()
            .rev()
            .take(3)
            .map(|(_, e)| e.kind.clone())
            .collect();
        assert_eq!(
            texts,
            [
                EntryKind::Notice("  /get 4    b.txt  2.0 KiB  from bob".into()),
                EntryKind::Notice("  /get 3    a.txt  10 B  from bob".into()),
                EntryKind::Notice("files in #lobby (2):".into()),
            ]
        );
        assert_eq!(
            submit(&mut app, "/files"),
            [Command::Send(ClientMsg::ListFiles)]
        );
    }

    #[test]
    fn the_sharer_sees_how_many_fetched_its_files_on_the_offer_line_and_in_files() {
        let mut app = app();
        let mine = shared::FileInfo {
            from: app.nick.clone(),
            ..offer(7, "report.pdf", 10)
        };
        app.update(room_msg(RoomEvent::Shared { file: mine.clone() }));
        let offer_line = |app: &App| match last(app) {
            EntryKind::Notice(t) => t,
            other => panic!("not the offer: {other:?}"),
        };
        assert!(
            !offer_line(&app).contains("fetched"),
            "{}",
            offer_line(&app)
        );
        app.update(Event::Server(ServerMsg::Fetched {
            room: "lobby".into(),
            members: 5,
            files: vec![FetchCount { file_id: 7, by: 3 }],
        }));
        assert_eq!(
            offer_line(&app),
            format!(
                "{} shares report.pdf (10 B): type /get 7 to download it \
                 (fetched by 3 of 5 members)",
                app.nick
            )
        );
        app.update(Event::Server(ServerMsg::Files {
            room: "lobby".into(),
            files: vec![mine, offer(8, "b.txt", 1)],
        }));
        let texts: Vec<_> = app
            .scrollback
            .entries()
            .iter()
            .rev()
            .take(2)
            .map(|(_, e)| e.kind.clone())
            .collect();
        assert_eq!(
            texts,
            [
                EntryKind::Notice("  /get 8    b.txt  1 B  from bob".into()),
                EntryKind::Notice(format!(
                    "  /get 7    report.pdf  10 B  from {}, fetched by 3 of 5 members",
                    app.nick
                )),
            ]
        );
        // The counts are bounded: the oldest files' go first.
        let many: Vec<FetchCount> = (0..MAX_SHARES as u64 + 10)
            .map(|file_id| FetchCount { file_id, by: 1 })
            .collect();
        app.update(Event::Server(ServerMsg::Fetched {
            room: "lobby".into(),
            members: 1,
            files: many,
        }));
        assert_eq!(app.shares.0.len(), MAX_SHARES);
        assert_eq!(app.shares.text(0), None);
        assert_eq!(
            app.shares.text(MAX_SHARES as u64 + 9).as_deref(),
            Some("fetched by 1 of 1 member")
        );
    }
}
