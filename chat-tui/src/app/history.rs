//! The input history: the lines sent, walked with Up and Down, and the draft that was
//! being typed when the walk began.

use crate::input::InputLine;

/// Lines remembered by the input history.
pub const MAX_HISTORY: usize = 500;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Oldest first; a line equal to the one before is kept once.
    lines: Vec<String>,
    /// The line shown while walking, or `None` when not walking.
    pos: Option<usize>,
    /// What the input line held when the walk began, given back at its end.
    draft: String,
}

impl History {
    /// Remembers a sent line and ends any walk.
    pub fn remember(&mut self, line: String) {
        self.pos = None;
        if self.lines.last() != Some(&line) {
            if self.lines.len() == MAX_HISTORY {
                self.lines.remove(0);
            }
            self.lines.push(line);
        }
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
    }
}
