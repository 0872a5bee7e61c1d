//! The key map: what each key (and the mouse wheel) asks for, as an [`Action`]. Nothing
//! here changes state; [`super::App::update`] carries the actions out. `/help` lists the
//! keys from [`KEYS_HELP`], which says what this map does.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use super::pane::Scroll;
use crate::input::Edit;

/// Rows one mouse wheel notch scrolls.
pub const WHEEL_ROWS: usize = 3;

/// The key list of `/help`.
pub const KEYS_HELP: &[&str] = &[
    "keys:",
    "  Enter send · Tab complete nick, command or /send-file path · Up/Down input history",
    "  Alt-1…9 show buffer 1…9 · Alt-Left/Right, Ctrl-P/N the buffer before/after",
    "  Left/Right, Ctrl-Left/Right, Alt-B/F move by character/word · Home/End, Ctrl-A/E",
    "  Backspace/Delete · Ctrl-W delete word · Ctrl-U/Ctrl-K delete to start/end",
    "  PageUp/PageDown, mouse wheel scroll (older history loads as you go) · Esc back to",
    "  the newest · F2 member list · Ctrl-L redraw · Ctrl-C quit",
    "  in /search: Up/Down choose a hit · Enter show it where it was said · Esc back",
];

/// What a key asks the app to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Change the input line.
    Edit(Edit),
    /// Up: the line before in the input history.
    HistoryBack,
    /// Down: the line after, and at the end the draft.
    HistoryForward,
    Scroll(Scroll),
    /// Tab: complete the word before the cursor, or offer the next candidate.
    Complete,
    /// F2: show or hide the member list.
    ToggleMembers,
    /// Enter: send the line or run the command.
    Submit,
    /// Ctrl-L: clear and redraw the terminal.
    Redraw,
    /// Ctrl-C: leave.
    Quit,
    /// Alt-1…9: show the buffer of this number.
    Buffer(usize),
    /// Alt-Right, Ctrl-N (1) or Alt-Left, Ctrl-P (-1): the buffer after or before.
    BufferBy(isize),
}

/// The action of a pressed key, if it has one. (While a multi-line paste waits for its
/// answer, keys answer it instead: see `paste.rs`.)
pub fn action(key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let edit = |edit| Some(Action::Edit(edit));
    match key.code {
        KeyCode::Char('c') if ctrl => Some(Action::Quit),
        KeyCode::Char('n') if ctrl => Some(Action::BufferBy(1)),
        KeyCode::Char('p') if ctrl => Some(Action::BufferBy(-1)),
        KeyCode::Char(c @ '1'..='9') if alt => {
            Some(Action::Buffer(c.to_digit(10).unwrap_or(1) as usize))
        }
        KeyCode::Left if alt => Some(Action::BufferBy(-1)),
        KeyCode::Right if alt => Some(Action::BufferBy(1)),
        KeyCode::Char('l') if ctrl => Some(Action::Redraw),
        KeyCode::Char('a') if ctrl => edit(Edit::Home),
        KeyCode::Char('e') if ctrl => edit(Edit::End),
        KeyCode::Char('u') if ctrl => edit(Edit::DeleteToStart),
        KeyCode::Char('k') if ctrl => edit(Edit::DeleteToEnd),
        KeyCode::Char('w') if ctrl => edit(Edit::DeleteWordBack),
        KeyCode::Char('d') if ctrl => edit(Edit::Delete),
        KeyCode::Char('b') if alt => edit(Edit::WordLeft),
        KeyCode::Char('f') if alt => edit(Edit::WordRight),
        KeyCode::Char(c) if !ctrl && !alt => edit(Edit::Insert(c)),
        KeyCode::Left if ctrl => edit(Edit::WordLeft),
        KeyCode::Right if ctrl => edit(Edit::WordRight),
        KeyCode::Left => edit(Edit::Left),
        KeyCode::Right => edit(Edit::Right),
        KeyCode::Home => edit(Edit::Home),
        KeyCode::End => edit(Edit::End),
        KeyCode::Backspace if ctrl || alt => edit(Edit::DeleteWordBack),
        KeyCode::Backspace => edit(Edit::Backspace),
        KeyCode::Delete => edit(Edit::Delete),
        KeyCode::Up => Some(Action::HistoryBack),
        KeyCode::Down => Some(Action::HistoryForward),
        KeyCode::PageUp => Some(Action::Scroll(Scroll::PageUp)),
        KeyCode::PageDown => Some(Action::Scroll(Scroll::PageDown)),
        KeyCode::Esc => Some(Action::Scroll(Scroll::Bottom)),
        KeyCode::Tab => Some(Action::Complete),
        KeyCode::F(2) => Some(Action::ToggleMembers),
        KeyCode::Enter => Some(Action::Submit),
        _ => None,
    }
}

/// What a key does while the search view is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchAction {
    /// Choose a newer hit, this many up.
    Up(usize),
    Down(usize),
    PageUp,
    PageDown,
    /// Enter on an empty input line: show the chosen hit where it was said.
    Show,
    /// Esc: back to the messages.
    Close,
}

/// The search view's action of a key or the wheel's [`Action`], if it has one; other
/// keys keep their meaning (typing, editing, Enter with text to send). `input_empty`:
/// whether the input line is empty, for Enter.
pub fn search_action(action: Action, input_empty: bool) -> Option<SearchAction> {
    match action {
        Action::HistoryBack => Some(SearchAction::Up(1)),
        Action::HistoryForward => Some(SearchAction::Down(1)),
        Action::Scroll(Scroll::Up(n)) => Some(SearchAction::Up(n)),
        Action::Scroll(Scroll::Down(n)) => Some(SearchAction::Down(n)),
        Action::Scroll(Scroll::PageUp) => Some(SearchAction::PageUp),
        Action::Scroll(Scroll::PageDown) => Some(SearchAction::PageDown),
        Action::Scroll(Scroll::Bottom) => Some(SearchAction::Close),
        Action::Submit if input_empty => Some(SearchAction::Show),
        _ => None,
    }
}

/// The action of a mouse event: the wheel scrolls, nothing else is asked for.
pub fn wheel(mouse: MouseEvent) -> Option<Action> {
    match mouse.kind {
        MouseEventKind::ScrollUp => Some(Action::Scroll(Scroll::Up(WHEEL_ROWS))),
        MouseEventKind::ScrollDown => Some(Action::Scroll(Scroll::Down(WHEEL_ROWS))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(code: KeyCode, modifiers: KeyModifiers) -> Option<Action> {
        action(KeyEvent::new(code, modifiers))
    }

    fn plain(code: KeyCode) -> Option<Action> {
        with(code, KeyModifiers::NONE)
    }

    #[test]
    fn letters_type_and_control_letters_edit() {
        assert_eq!(
            plain(KeyCode::Char('w')),
            Some(Action::Edit(Edit::Insert('w')))
        );
        assert_eq!(
            with(KeyCode::Char('W'), KeyModifiers::SHIFT),
            Some(Action::Edit(Edit::Insert('W')))
        );
        assert_eq!(
            with(KeyCode::Char('w'), KeyModifiers::CONTROL),
            Some(Action::Edit(Edit::DeleteWordBack))
        );
        assert_eq!(
            with(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Action::Quit)
        );
        // A control letter without a meaning does nothing, rather than typing the letter.
        assert_eq!(with(KeyCode::Char('x'), KeyModifiers::CONTROL), None);
    }

    #[test]
    fn alt_digits_arrows_and_ctrl_n_p_switch_buffers() {
        assert_eq!(
            with(KeyCode::Char('1'), KeyModifiers::ALT),
            Some(Action::Buffer(1))
        );
        assert_eq!(
            with(KeyCode::Char('9'), KeyModifiers::ALT),
            Some(Action::Buffer(9))
        );
        assert_eq!(
            with(KeyCode::Right, KeyModifiers::ALT),
            Some(Action::BufferBy(1))
        );
        assert_eq!(
            with(KeyCode::Left, KeyModifiers::ALT),
            Some(Action::BufferBy(-1))
        );
        assert_eq!(
            with(KeyCode::Char('p'), KeyModifiers::CONTROL),
            Some(Action::BufferBy(-1))
        );
        // A digit without Alt types.
        assert_eq!(
            plain(KeyCode::Char('1')),
            Some(Action::Edit(Edit::Insert('1')))
        );
    }

    #[test]
    fn scrolling_keys_and_the_wheel() {
        assert_eq!(plain(KeyCode::PageUp), Some(Action::Scroll(Scroll::PageUp)));
        assert_eq!(plain(KeyCode::Esc), Some(Action::Scroll(Scroll::Bottom)));
        let mouse = |kind| MouseEvent {
            kind,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(
            wheel(mouse(MouseEventKind::ScrollDown)),
            Some(Action::Scroll(Scroll::Down(WHEEL_ROWS)))
        );
        assert_eq!(wheel(mouse(MouseEventKind::Moved)), None);
    }

    #[test]
    fn in_the_search_view_arrows_choose_and_enter_shows_unless_there_is_text() {
        let search = |code, empty| search_action(plain(code)?, empty);
        assert_eq!(search(KeyCode::Up, true), Some(SearchAction::Up(1)));
        assert_eq!(
            search(KeyCode::PageDown, true),
            Some(SearchAction::PageDown)
        );
        assert_eq!(search(KeyCode::Esc, false), Some(SearchAction::Close));
        assert_eq!(search(KeyCode::Enter, true), Some(SearchAction::Show));
        assert_eq!(search(KeyCode::Enter, false), None);
        assert_eq!(search(KeyCode::Char('q'), true), None);
    }

    #[test]
    fn every_key_of_the_help_has_an_action() {
        let keys = [
            plain(KeyCode::Enter),
            plain(KeyCode::Tab),
            plain(KeyCode::Up),
            plain(KeyCode::Down),
            with(KeyCode::Left, KeyModifiers::CONTROL),
            with(KeyCode::Left, KeyModifiers::ALT),
            with(KeyCode::Char('3'), KeyModifiers::ALT),
            with(KeyCode::Char('n'), KeyModifiers::CONTROL),
            plain(KeyCode::Home),
            with(KeyCode::Char('e'), KeyModifiers::CONTROL),
            plain(KeyCode::Delete),
            with(KeyCode::Char('u'), KeyModifiers::CONTROL),
            with(KeyCode::Char('k'), KeyModifiers::CONTROL),
            plain(KeyCode::PageDown),
            plain(KeyCode::F(2)),
            with(KeyCode::Char('l'), KeyModifiers::CONTROL),
        ];
        assert!(keys.iter().all(Option::is_some), "{keys:?}");
    }
}
