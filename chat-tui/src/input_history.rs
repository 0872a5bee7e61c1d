//! The input history on disk: the lines sent, kept across runs in the user's state
//! directory (`$XDG_STATE_HOME/chat-tui/input_history`, else
//! `~/.local/state/chat-tui/input_history` on Linux).
//!
//! One line a line, oldest first: a line typed in the input line holds no control
//! character, so no newline either (a multi-line paste is not remembered, as before).
//! Each sent line is appended; the file is cut back to the newest [`MAX_HISTORY`] lines
//! when read and whenever it holds twice as many. It is readable by its owner only (mode
//! 0600, set again on every start).
//!
//! A file that cannot be used never stops the client: one notice says why, and the
//! client goes on without it. A file that is not history (not UTF-8, control characters,
//! larger than [`MAX_FILE_BYTES`]) is moved aside to `input_history.bad` and a new one
//! started; one that cannot be read or written at all is left alone.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use crate::app::history::MAX_HISTORY;

/// Name of the file in the state directory.
pub const FILE_NAME: &str = "input_history";
/// Largest file read: twice the lines kept, each as long as a message may be.
pub const MAX_FILE_BYTES: u64 =
    2 * MAX_HISTORY as u64 * (shared::limits::MAX_TEXT_BYTES as u64 + 1);

/// The default place of the file: in the user's state directory for `chat-tui`
/// ([`Cli::state_dir`](crate::cli::Cli::state_dir)), beside the log and the transfers it
/// remembers.
pub fn default_path() -> PathBuf {
    crate::cli::Cli::state_dir().join(FILE_NAME)
}

/// The file, open for appending.
#[derive(Debug)]
pub struct HistoryFile {
    path: PathBuf,
    /// The newest lines, to write the file again when it is cut back.
    lines: VecDeque<String>,
    /// Lines in the file now.
    in_file: usize,
}

impl HistoryFile {
    /// Reads the history at `path`. Returns the file (unless it cannot be used at all),
    /// its lines (oldest first) and, when something went wrong, the notice to show.
    pub fn open(path: &Path) -> (Option<Self>, Vec<String>, Option<String>) {
        let shown = path.display();
        let mut file = Self {
            path: path.to_owned(),
            lines: VecDeque::new(),
            in_file: 0,
        };
        let mut notice = None;
        match read(path) {
            Ok(lines) => {
                file.in_file = lines.len();
                let over = lines.len().saturating_sub(MAX_HISTORY);
                file.lines = lines.into_iter().skip(over).collect();
            }
            Err(Problem::Missing) => {}
            Err(Problem::Unreadable(e)) => {
                let why = format!("input history not kept: cannot read {shown}: {e}");
                return (None, Vec::new(), Some(why));
            }
            Err(Problem::NotHistory(why)) => {
                let aside = path.with_extension("bad");
                let moved = std::fs::rename(path, &aside);
                notice = Some(match moved {
                    Ok(()) => format!(
                        "input history {shown} ignored ({why}); moved to {}",
                        aside.display()
                    ),
                    Err(e) => format!("input history {shown} ignored ({why}); {e}"),
                });
            }
        }
        // Written again whole when it holds more than it keeps, or was moved aside;
        // else made private.
        let fixed = if file.in_file > MAX_HISTORY || notice.is_some() {
            file.rewrite()
        } else if file.in_file > 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        } else {
            Ok(())
        };
        if let Err(e) = fixed {
            let why = format!("input history not kept: cannot write {shown}: {e}");
            let lines = file.lines.into();
            return (None, lines, Some(notice.unwrap_or(why)));
        }
        let lines = file.lines.iter().cloned().collect();
        (Some(file), lines, notice)
    }

    /// Appends `line`.
    ///
    /// # Errors
    ///
    /// The file cannot be written.
    pub fn append(&mut self, line: &str) -> io::Result<()> {
        if line.chars().any(char::is_control) {
            // Never from the input line; a line break would make two lines of one.
            return Ok(());
        }
        if self.lines.len() == MAX_HISTORY {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_owned());
        if self.in_file + 1 > 2 * MAX_HISTORY {
            return self.rewrite();
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        file.write_all(format!("{line}\n").as_bytes())?;
        self.in_file += 1;
        Ok(())
    }

    /// Writes the kept lines as the whole file (through a temporary file and a rename, so
    /// that a crash leaves the old file or the new one).
    fn rewrite(&mut self) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temp = self.path.with_extension("new");
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &self.path)?;
        self.in_file = self.lines.len();
        Ok(())
    }
}

enum Problem {
    Missing,
    Unreadable(io::Error),
    NotHistory(String),
}

fn read(path: &Path) -> Result<Vec<String>, Problem> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Problem::Missing),
        Err(e) => return Err(Problem::Unreadable(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(Problem::Unreadable)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Problem::NotHistory(format!(
            "larger than {} KiB",
            MAX_FILE_BYTES / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|_| Problem::NotHistory("not UTF-8".into()))?;
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.iter().any(|l| l.chars().any(char::is_control)) {
        return Err(Problem::NotHistory("control characters in it".into()));
    }
    Ok(lines.into_iter().filter(|l| !l.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn lines_are_kept_across_runs_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/chat-tui").join(FILE_NAME);
        let (file, lines, notice) = HistoryFile::open(&path);
        assert!(lines.is_empty() && notice.is_none());
        let mut file = file.unwrap();
        file.append("hello 你好").unwrap();
        file.append("/msg bob hi").unwrap();
        assert_eq!(mode(&path), 0o600);
        let (_, lines, notice) = HistoryFile::open(&path);
        assert_eq!(lines, ["hello 你好", "/msg bob hi"]);
        assert!(notice.is_none());
        // A file made readable by others is made private again.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        HistoryFile::open(&path);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn the_file_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let many: String = (0..MAX_HISTORY + 10)
            .map(|i| format!("line {i}\n"))
            .collect();
        std::fs::write(&path, many).unwrap();
        let (file, lines, _) = HistoryFile::open(&path);
        assert_eq!(lines.len(), MAX_HISTORY);
        assert_eq!(lines[0], "line 10");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().lines().count(),
            MAX_HISTORY
        );
        let mut file = file.unwrap();
        for i in 0..MAX_HISTORY + 1 {
            file.append(&format!("more {i}")).unwrap();
        }
        let in_file = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(in_file <= 2 * MAX_HISTORY, "{in_file}");
        let (_, lines, _) = HistoryFile::open(&path);
        assert_eq!(
            lines.last().map(String::as_str),
            Some(&*format!("more {MAX_HISTORY}"))
        );
        assert_eq!(lines.len(), MAX_HISTORY);
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_with_one_notice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"ok\n\xff\xfe\x00bad\n").unwrap();
        let (file, lines, notice) = HistoryFile::open(&path);
        assert!(lines.is_empty());
        let notice = notice.unwrap();
        assert!(
            notice.contains("not UTF-8") && notice.contains("input_history.bad"),
            "{notice}"
        );
        assert!(dir.path().join("input_history.bad").exists());
        file.unwrap().append("fresh").unwrap();
        assert_eq!(HistoryFile::open(&path).1, ["fresh"]);
    }

    #[test]
    fn an_unreadable_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: it can be neither read nor replaced.
        let path = dir.path().join(FILE_NAME);
        std::fs::create_dir(&path).unwrap();
        let (file, lines, notice) = HistoryFile::open(&path);
        assert!(file.is_none() && lines.is_empty());
        assert!(notice.unwrap().starts_with("input history not kept"));
        assert!(path.is_dir());
    }
}
