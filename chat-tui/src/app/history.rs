//! The input history: the lines sent, walked with Up and Down, and the draft that was
//! being typed when the walk began. It outlives the run: the lines of the last runs are
//! given back at start ([`History::restore`]) and each new line is handed out to be kept
//! ([`History::take_unsaved`], written by [`crate::input_history`]).

use crate::input::InputLine;

/// Lines remembered by the input history, also across runs.
pub const MAX_HISTORY: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Oldest first; a line equal to the one before is kept once.
    lines: Vec<String>,
    /// The line shown while walking, or `None` when not walking.
    pos: Option<usize>,
    /// What the input line held when the walk began, given back at its end.
    draft: String,
    /// Lines remembered and not yet handed out to be kept on disk.
    unsaved: Vec<String>,
}

impl History {
    /// Remembers a sent line and ends any walk.
    pub fn remember(&mut self, line: String) {
        self.pos = None;
        if self.lines.last() != Some(&line) {
            if self.lines.len() == MAX_HISTORY {
                self.lines.remove(0);
            }
            self.lines.push(line.clone());
            self.unsaved.push(line);
        }
    }

    /// The lines of earlier runs, oldest first, before any of this run.
    pub fn restore(&mut self, lines: Vec<String>) {
        let mut lines = lines;
        let over = lines.len().saturating_sub(MAX_HISTORY);
        lines.drain(..over);
        lines.append(&mut self.lines);
        let over = lines.len().saturating_sub(MAX_HISTORY);
        lines.drain(..over);
        self.lines = lines;
    }

    /// The lines remembered since the last call, to be kept on disk.
    pub fn take_unsaved(&mut self) -> Vec<String> {
        std::mem::take(&mut self.unsaved)
    }

    /// Up: puts the line before in `input`.
    pub fn back(&mut self, input: &mut InputLine) {
        let pos = match self.pos {
            None if self.lines.is_empty() => return,
            None => {
                self.draft = input.text().to_owned();
                self.lines.len() - 1
            }
            Some(pos) => pos.saturating_sub(1),
        };
        self.pos = Some(pos);
        input.set(self.lines[pos].clone());
    }

    /// Down: puts the line after in `input`, and after the newest the draft.
    pub fn forward(&mut self, input: &mut InputLine) {
        let Some(pos) = self.pos else { return };
        if pos + 1 < self.lines.len() {
            self.pos = Some(pos + 1);
            input.set(self.lines[pos + 1].clone());
        } else {
            self.pos = None;
            input.set(std::mem::take(&mut self.draft));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_and_keeps_a_repeated_line_once() {
        let mut history = History::default();
        for i in 0..MAX_HISTORY + 3 {
            history.remember(i.to_string());
            history.remember(i.to_string());
        }
        assert_eq!(history.lines.len(), MAX_HISTORY);
        assert_eq!(history.lines[0], "3");
        let mut input = InputLine::default();
        history.forward(&mut input);
        assert!(input.is_empty(), "Down before Up does nothing");
        assert_eq!(history.take_unsaved().len(), MAX_HISTORY + 3);
        assert!(history.take_unsaved().is_empty());
    }

    #[test]
    fn lines_of_earlier_runs_come_first() {
        let mut history = History::default();
        history.remember("new".into());
        history.restore(vec!["old 1".into(), "old 2".into()]);
        let mut input = InputLine::default();
        history.back(&mut input);
        assert_eq!(input.text(), "new");
        history.back(&mut input);
        assert_eq!(input.text(), "old 2");
        history.restore((0..MAX_HISTORY + 5).map(|i| i.to_string()).collect());
        assert_eq!(history.lines.len(), MAX_HISTORY);
        assert_eq!(history.lines.last().map(String::as_str), Some("new"));
    }
}
