//! Tab completion: a command at the start of the line, a member's nick, or the path after
//! `/send-file`; each further Tab offers the next candidate.
//!
//! Completing a path lists a directory: the one piece of I/O in the app, behind the
//! replaceable [`PathLister`], so that tests can give it a directory of their own.

use std::fmt;
use std::sync::Arc;

use chat_client::transfer::local;

use super::App;
use crate::commands::COMMANDS;

/// The command whose argument Tab completes as a path.
const SEND_FILE: &str = "/send-file ";

/// A function from a path being typed to its completions.
pub type ListPaths = dyn Fn(&str) -> Vec<String> + Send + Sync;

/// Lists the completions of a path being typed (see [`local::complete_path`]).
#[derive(Clone)]
pub struct PathLister(pub Arc<ListPaths>);

impl Default for PathLister {
    fn default() -> Self {
        Self(Arc::new(local::complete_path))
    }
}

impl fmt::Debug for PathLister {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PathLister")
    }
}

/// Tab completion in progress: pressing Tab again cycles through the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Byte offset where the completed word starts.
    start: usize,
    /// Byte length of what the last Tab inserted.
    inserted: usize,
    candidates: Vec<String>,
    index: usize,
}

impl App {
    /// Tab: completes the word before the cursor, or puts the next candidate in place of
    /// the last one.
    pub(super) fn complete(&mut self) {
        if let Some(c) = &mut self.completion {
            c.index = (c.index + 1) % c.candidates.len();
            let (start, end) = (c.start, c.start + c.inserted);
            let next = c.candidates[c.index].clone();
            c.inserted = next.len();
            self.input.replace_range(start..end, &next);
            return;
        }
        let before = &self.input.text()[..self.input.cursor()];
        if let Some(typed) = before.strip_prefix(SEND_FILE) {
            let candidates = (self.paths.0)(typed);
            self.complete_with(SEND_FILE.len(), candidates);
            // One candidate, a folder most often: the next Tab looks inside it.
            if self
                .completion
                .as_ref()
                .is_some_and(|c| c.candidates.len() == 1)
            {
                self.completion = None;
            }
            return;
        }
        let start = before.rfind(char::is_whitespace).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        let word = &before[start..];
        if word.is_empty() {
            return;
        }
        let candidates: Vec<String> = if start == 0 && word.starts_with('/') {
            COMMANDS
                .iter()
                .filter(|(name, _, _)| name.starts_with(word))
                .map(|(name, _, _)| format!("{name} "))
                .collect()
        } else {
            let word = word.to_lowercase();
            let suffix = if start == 0 { ": " } else { " " };
            self.members
                .iter()
                .filter(|m| **m != self.nick && m.to_lowercase().starts_with(&word))
                .map(|m| format!("{m}{suffix}"))
                .collect()
        };
        self.complete_with(start, candidates);
    }

    /// Puts the first candidate in place of the text from `start` to the cursor.
    fn complete_with(&mut self, start: usize, candidates: Vec<String>) {
        let Some(first) = candidates.first().cloned() else {
            return;
        };
        let end = self.input.cursor();
        self.input.replace_range(start..end, &first);
        self.completion = Some(Completion {
            start,
            inserted: first.len(),
            candidates,
            index: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::app::testing::*;

    #[test]
    fn tab_completes_nicks_and_cycles() {
        let mut app = app();
        type_str(&mut app, "bo");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "bob: ");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "bobby: ");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "bob: ");
        type_str(&mut app, "ask CA");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "bob: ask carol ");
        // One's own nick is not offered.
        app.update(ctrl('u'));
        type_str(&mut app, "ali");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "ali");
    }

    #[test]
    fn tab_completes_commands() {
        let mut app = app();
        type_str(&mut app, "/ms");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "/msg ");
    }

    #[test]
    fn tab_completes_the_path_of_send_file() {
        let mut app = app();
        app.paths = PathLister(Arc::new(|typed: &str| {
            ["docs/", "report.pdf", "reports/"]
                .iter()
                .filter(|c| c.starts_with(typed))
                .map(|c| (*c).to_owned())
                .collect()
        }));
        type_str(&mut app, "/send-file rep");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "/send-file report.pdf");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "/send-file reports/");
        app.update(key(KeyCode::Tab));
        assert_eq!(app.input.text(), "/send-file report.pdf");
    }
}
