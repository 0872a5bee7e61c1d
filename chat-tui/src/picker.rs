//! The server picker: the servers found on the LAN, which one is selected, and what the
//! keys do to it. No I/O: the loop in [`crate::discover`] feeds it the terminal's keys and
//! carries out the [`Choice`]; the widget in [`crate::ui::picker`] only reads it.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use chat_client::discover::FoundServer;

/// Rows PageUp and PageDown move the selection by.
pub const PAGE_ROWS: usize = 10;

/// The key help at the foot of the picker.
pub const KEYS_HELP: &str = "↑/↓ choose · Enter join · Esc or q quit";

/// What the user decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Join this server.
    Join(FoundServer),
    /// Leave without joining any.
    Quit,
}

/// The list of servers and the selection.
#[derive(Debug, Clone)]
pub struct Picker {
    servers: Vec<FoundServer>,
    selected: usize,
    /// Enter was pressed on this row; the loop is connecting to it.
    joining: Option<usize>,
}

impl Picker {
    /// The picker over `servers`, in the order given, the first one selected.
    pub fn new(servers: Vec<FoundServer>) -> Self {
        Self {
            servers,
            selected: 0,
            joining: None,
        }
    }

    pub fn servers(&self) -> &[FoundServer] {
        &self.servers
    }

    /// The index of the selected server (0 when there is none).
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// The server Enter was pressed on, once it was.
    pub fn joining(&self) -> Option<&FoundServer> {
        self.joining.and_then(|i| self.servers.get(i))
    }

    /// Moves the selection or decides, for one key.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Choice> {
        if key.kind == KeyEventKind::Release || self.joining.is_some() {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => return Some(Choice::Quit),
            KeyCode::Esc | KeyCode::Char('q') => return Some(Choice::Quit),
            KeyCode::Enter => return self.join(),
            KeyCode::Up | KeyCode::Char('k') => self.up(1),
            KeyCode::Down | KeyCode::Char('j') => self.down(1),
            KeyCode::PageUp => self.up(PAGE_ROWS),
            KeyCode::PageDown => self.down(PAGE_ROWS),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.down(usize::MAX),
            _ => {}
        }
        None
    }

    /// The mouse wheel moves the selection a row a notch.
    pub fn on_mouse(&mut self, mouse: MouseEvent) {
        if self.joining.is_some() {
            return;
        }
        match mouse.kind {
            MouseEventKind::ScrollUp => self.up(1),
            MouseEventKind::ScrollDown => self.down(1),
            _ => {}
        }
    }

    fn join(&mut self) -> Option<Choice> {
        let server = self.servers.get(self.selected)?.clone();
        self.joining = Some(self.selected);
        Some(Choice::Join(server))
    }

    fn up(&mut self, rows: usize) {
        self.selected = self.selected.saturating_sub(rows);
    }

    fn down(&mut self, rows: usize) {
        let last = self.servers.len().saturating_sub(1);
        self.selected = self.selected.saturating_add(rows).min(last);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A server as browsing would report it.
    pub fn found(name: &str, addr: &str, people: u32) -> FoundServer {
        FoundServer {
            name: name.into(),
            addr: addr.parse().unwrap(),
            people,
            version: shared::protocol::PROTOCOL_VERSION,
            fingerprint: None,
        }
    }

    fn three() -> Picker {
        Picker::new(vec![
            found("ops", "192.168.1.20:7878", 3),
            found("lunch", "192.168.1.31:7878", 0),
            found("games", "192.168.1.44:9000", 12),
        ])
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn arrows_move_within_the_list() {
        let mut picker = three();
        assert_eq!(picker.selected(), 0);
        assert_eq!(picker.on_key(key(KeyCode::Up)), None);
        assert_eq!(picker.selected(), 0, "no wrapping past the top");
        picker.on_key(key(KeyCode::Down));
        picker.on_key(key(KeyCode::Char('j')));
        assert_eq!(picker.selected(), 2);
        picker.on_key(key(KeyCode::Down));
        assert_eq!(picker.selected(), 2, "no wrapping past the bottom");
        picker.on_key(key(KeyCode::Char('k')));
        assert_eq!(picker.selected(), 1);
        picker.on_key(key(KeyCode::Home));
        assert_eq!(picker.selected(), 0);
        picker.on_key(key(KeyCode::End));
        assert_eq!(picker.selected(), 2);
        picker.on_key(key(KeyCode::PageUp));
        assert_eq!(picker.selected(), 0);
        picker.on_key(key(KeyCode::PageDown));
        assert_eq!(picker.selected(), 2);
    }

    #[test]
    fn the_wheel_moves_the_selection() {
        let mut picker = three();
        let wheel = |kind| MouseEvent {
            kind,
            column: 0,
            row: 0,
            modifiers: KeyModifiers::NONE,
        };
        picker.on_mouse(wheel(MouseEventKind::ScrollDown));
        assert_eq!(picker.selected(), 1);
        picker.on_mouse(wheel(MouseEventKind::ScrollUp));
        picker.on_mouse(wheel(MouseEventKind::ScrollUp));
        assert_eq!(picker.selected(), 0);
    }

    #[test]
    fn enter_joins_the_selected_server_and_then_keys_do_nothing() {
        let mut picker = three();
        picker.on_key(key(KeyCode::Down));
        let choice = picker.on_key(key(KeyCode::Enter));
        assert_eq!(
            choice,
            Some(Choice::Join(found("lunch", "192.168.1.31:7878", 0)))
        );
        assert_eq!(picker.joining().map(|s| s.name.as_str()), Some("lunch"));
        assert_eq!(picker.on_key(key(KeyCode::Down)), None);
        assert_eq!(picker.on_key(key(KeyCode::Esc)), None);
        assert_eq!(picker.selected(), 1);
    }

    #[test]
    fn esc_q_and_ctrl_c_quit() {
        for event in [
            key(KeyCode::Esc),
            key(KeyCode::Char('q')),
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        ] {
            assert_eq!(three().on_key(event), Some(Choice::Quit), "{event:?}");
        }
    }

    #[test]
    fn a_key_release_does_nothing() {
        let mut picker = three();
        let mut release = key(KeyCode::Enter);
        release.kind = KeyEventKind::Release;
        assert_eq!(picker.on_key(release), None);
        assert!(picker.joining().is_none());
    }

    #[test]
    fn an_empty_list_joins_nothing() {
        let mut picker = Picker::new(Vec::new());
        picker.on_key(key(KeyCode::Down));
        assert_eq!(picker.selected(), 0);
        assert_eq!(picker.on_key(key(KeyCode::Enter)), None);
        assert_eq!(picker.on_key(key(KeyCode::Esc)), Some(Choice::Quit));
    }
}
