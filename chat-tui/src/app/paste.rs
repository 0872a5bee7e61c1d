//! Paste: one line goes into the input line; several are not sent at once, the input line
//! asks first (`send 5 lines? y/n`), so that a wrong clipboard does not flood the room.
//! Pasted lines are sent as text, never run as commands.

use chat_client::pace;
use crossterm::event::{KeyCode, KeyEvent};
use shared::ClientMsg;

use super::pane::Scroll;
use super::{App, Command};
use crate::commands;
use crate::input::InputLine;

/// A multi-line paste waiting for the user's yes or no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPaste {
    pub lines: Vec<String>,
    /// The input line as it was before the paste, restored if the user says no.
    previous: InputLine,
}

impl App {
    /// Text pasted in the terminal (bracketed paste).
    pub(super) fn on_paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.strip_suffix('\n').unwrap_or(&text);
        if !text.contains('\n') {
            self.input.insert(text);
            return;
        }
        let previous = self.input.clone();
        let (before, after) = previous.text().split_at(previous.cursor());
        let whole = format!("{before}{text}{after}");
        let lines: Vec<String> = whole
            .split('\n')
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut clean = InputLine::default();
                clean.insert(l);
                clean.take()
            })
            .collect();
        self.pending_paste = Some(PendingPaste { lines, previous });
        self.input.take();
    }

    /// A key while a paste waits: y or Enter sends it, n or Esc drops it, other keys wait.
    pub(super) fn on_paste_answer(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(paste) = self.pending_paste.take() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Char('y' | 'Y') | KeyCode::Enter => self.send_paste(paste),
            KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                self.info(format!("paste of {} lines dropped", paste.lines.len()));
                self.input = paste.previous;
                Vec::new()
            }
            _ => {
                self.pending_paste = Some(paste);
                Vec::new()
            }
        }
    }

    fn send_paste(&mut self, paste: PendingPaste) -> Vec<Command> {
        // Only the length is checked: pasted lines are sent as text, so one that looks like
        // a command (`/nope`, a bare `/msg`) is no reason to refuse the paste.
        if let Some(why) = paste
            .lines
            .iter()
            .find_map(|l| commands::check_len(l).err())
        {
            self.error(format!("paste not sent: {why}"));
            self.input = paste.previous;
            return Vec::new();
        }
        self.scrollback.scroll(Scroll::Bottom);
        // Beyond the client's burst, lines go at its pace; say how long that takes.
        let lines = paste.lines.len();
        let at_once = if self.waiting == 0 {
            pace::BURST as usize
        } else {
            0
        };
        let later = lines.saturating_sub(at_once);
        if later > 0 {
            let secs = (self.waiting + later).div_ceil(pace::RATE as usize);
            self.info(format!(
                "sending {lines} lines, {later} of them at {} a second (about {secs} s) \
                 so that the server does not take them for a flood",
                pace::RATE
            ));
        }
        // Pasted lines are text, never commands, whatever they start with.
        paste
            .lines
            .into_iter()
            .map(|text| Command::Send(ClientMsg::Chat { text }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Event;
    use crate::app::scrollback::EntryKind;
    use crate::app::testing::*;

    #[test]
    fn single_line_paste_is_inserted() {
        let mut app = app();
        type_str(&mut app, "a");
        app.update(Event::Paste("pasted 文字\n".into()));
        assert_eq!(app.input.text(), "apasted 文字");
        assert!(app.pending_paste.is_none());
    }

    #[test]
    fn multi_line_paste_asks_and_sends_lines_as_text() {
        let mut app = app();
        type_str(&mut app, "> ");
        app.update(Event::Paste("one\r\n\r\n/quit\r\nthree".into()));
        assert_eq!(app.pending_paste.as_ref().map(|p| p.lines.len()), Some(3));
        // Other keys do not answer the question.
        assert!(app.update(key(KeyCode::Char('x'))).is_empty());
        let out = app.update(key(KeyCode::Char('y')));
        let texts: Vec<_> = out
            .iter()
            .map(|c| match c {
                Command::Send(ClientMsg::Chat { text }) => text.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["> one", "/quit", "three"]);
        assert!(app.pending_paste.is_none() && app.input.is_empty());
    }

    #[test]
    fn pasted_lines_that_are_not_valid_commands_are_sent_as_text_too() {
        let mut app = app();
        app.update(Event::Paste("/nope\n/msg\n/join two words".into()));
        let out = app.update(key(KeyCode::Char('y')));
        let texts: Vec<_> = out
            .iter()
            .filter_map(|c| match c {
                Command::Send(ClientMsg::Chat { text }) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["/nope", "/msg", "/join two words"]);
    }

    #[test]
    fn multi_line_paste_can_be_refused() {
        let mut app = app();
        type_str(&mut app, "keep me");
        app.update(Event::Paste("a\nb".into()));
        assert!(app.input.is_empty());
        assert!(app.update(key(KeyCode::Char('n'))).is_empty());
        assert_eq!(app.input.text(), "keep me");
        assert_eq!(
            last(&app),
            EntryKind::Info("paste of 2 lines dropped".into())
        );
    }

    #[test]
    fn a_paste_with_a_line_too_long_is_not_sent() {
        let mut app = app();
        let long = "x".repeat(shared::limits::MAX_TEXT_BYTES + 1);
        app.update(Event::Paste(format!("short\n{long}")));
        assert!(app.update(key(KeyCode::Enter)).is_empty());
        assert!(matches!(last(&app), EntryKind::Error(t) if t.starts_with("paste not sent: ")));
        assert!(app.pending_paste.is_none());
    }

    #[test]
    fn a_long_paste_says_it_goes_at_the_clients_pace() {
        let mut app = app();
        let text: Vec<String> = (0..55).map(|n| format!("line {n}")).collect();
        app.update(Event::Paste(text.join("\n")));
        let out = app.update(key(KeyCode::Char('y')));
        assert_eq!(out.len(), 55);
        assert_eq!(
            last(&app),
            EntryKind::Info(
                "sending 55 lines, 40 of them at 8 a second (about 5 s) so that the server \
                 does not take them for a flood"
                    .into()
            )
        );
        // The status line counts what waits, until all is out.
        app.update(Event::Waiting { waiting: 40 });
        assert_eq!(app.waiting, 40);
        app.update(Event::Waiting { waiting: 0 });
        assert_eq!(app.waiting, 0);
    }

    #[test]
    fn a_short_paste_says_nothing_about_pace() {
        let mut app = app();
        app.update(Event::Paste("a\nb\nc".into()));
        let before = app.scrollback.entries().len();
        assert_eq!(app.update(key(KeyCode::Char('y'))).len(), 3);
        assert_eq!(app.scrollback.entries().len(), before);
    }

    #[test]
    fn a_paste_while_scrolled_up_goes_back_to_the_newest() {
        let mut app = app();
        app.update(key(KeyCode::PageUp));
        assert!(!app.scrollback.state().following());
        app.update(Event::Paste("a\nb".into()));
        app.update(key(KeyCode::Char('y')));
        assert!(app.scrollback.state().following());
    }
}
