//! The server picker's screen: a title, the servers found (name, address, people
//! connected, protocol version, the start of the TLS key each announced) with the selected
//! one marked, the whole key of the selected one (joining it trusts that key, so this is
//! where the user compares it), and the keys at the foot. It only reads the [`Picker`].

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{
    Cell, HighlightSpacing, Paragraph, Row, StatefulWidget, Table, TableState, Widget,
};

use crate::input::display_width;
use crate::picker::{KEYS_HELP, Picker};
use chat_client::discover::FoundServer;
use chat_client::sanitize;

/// The column titles.
const HEADER: [&str; 5] = ["NAME", "ADDRESS", "PEOPLE", "VERSION", "KEY"];

/// Groups of the fingerprint shown in the table; the line under it shows all 16.
const KEY_GROUPS_SHOWN: usize = 2;

/// The KEY column of a server: the start of the key it announced, or that it has none.
fn key_cell(server: &FoundServer) -> String {
    match server.announced_key() {
        Some(key) => {
            let shown = key.to_string();
            let start: Vec<&str> = shown.split(':').take(KEY_GROUPS_SHOWN).collect();
            format!("{}…", start.join(":"))
        }
        None => "no TLS".into(),
    }
}

/// The line under the table, about the selected server's key.
fn key_line(server: &FoundServer) -> String {
    match server.announced_key() {
        Some(key) => format!(" key {key}"),
        None => " no TLS: messages go over the LAN in the clear".into(),
    }
}

#[derive(Debug)]
pub struct PickerView<'a> {
    picker: &'a Picker,
}

impl<'a> PickerView<'a> {
    pub fn new(picker: &'a Picker) -> Self {
        Self { picker }
    }
}

/// "1 chat server found on the LAN", "3 chat servers found on the LAN".
fn title(found: usize) -> String {
    let servers = if found == 1 { "server" } else { "servers" };
    format!("{found} chat {servers} found on the LAN")
}

impl Widget for PickerView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let picker = self.picker;
        let [top, _, middle, key, foot] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let bold = Style::new().add_modifier(Modifier::BOLD);
        Paragraph::new(Line::styled(
            format!(" {}", title(picker.servers().len())),
            bold,
        ))
        .render(top, buf);

        let numbers = |text: String| Cell::from(Line::from(text).alignment(Alignment::Right));
        let rows = picker.servers().iter().map(|server| {
            Row::new([
                Cell::from(sanitize::nick(&server.name).into_owned()),
                Cell::from(server.addr.to_string()),
                numbers(server.people.to_string()),
                numbers(server.version.to_string()),
                Cell::from(key_cell(server)),
            ])
        });
        let width = |title: &str, widest: usize| {
            Constraint::Length(u16::try_from(widest.max(title.len())).unwrap_or(u16::MAX))
        };
        let widest = |cell: &dyn Fn(&FoundServer) -> usize| {
            picker.servers().iter().map(cell).max().unwrap_or(0)
        };
        let widest_name = widest(&|s| display_width(&sanitize::nick(&s.name)));
        let widest_addr = widest(&|s| s.addr.to_string().len());
        // As wide as the longest name, and the first column to give way on a narrow screen.
        let name = u16::try_from(widest_name.max(HEADER[0].len())).unwrap_or(u16::MAX);
        let widths = [
            Constraint::Max(name),
            width(HEADER[1], widest_addr),
            width(HEADER[2], 0),
            width(HEADER[3], 0),
            width(HEADER[4], widest(&|s| display_width(&key_cell(s)))),
        ];
        let header = Row::new(HEADER.map(|h| {
            let cell = Line::from(h);
            Cell::from(if h == HEADER[2] || h == HEADER[3] {
                cell.alignment(Alignment::Right)
            } else {
                cell
            })
        }))
        .style(
            Style::new()
                .fg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        );
        let table = Table::new(rows, widths)
            .header(header)
            .column_spacing(2)
            .flex(Flex::Start)
            .highlight_symbol(" ▶ ")
            .highlight_spacing(HighlightSpacing::Always)
            .row_highlight_style(Style::new().fg(Color::Black).bg(Color::Cyan));
        // A state of its own at each draw: the table scrolls to keep the selection in
        // view, and nothing here is kept between draws.
        let mut state = TableState::new().with_selected(Some(picker.selected()));
        StatefulWidget::render(table, middle, buf, &mut state);
        if let Some(server) = picker.servers().get(picker.selected()) {
            Paragraph::new(key_line(server)).render(key, buf);
        }

        let foot_line = match picker.joining() {
            Some(server) => Line::styled(
                format!(
                    " joining {} at {}…",
                    sanitize::nick(&server.name),
                    server.addr
                ),
                bold,
            ),
            None => Line::styled(format!(" {KEYS_HELP}"), Style::new().fg(Color::DarkGray)),
        };
        Paragraph::new(foot_line).render(foot, buf);
        super::cells::settle_area(buf, area);
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::picker::tests::found;
    use crate::ui::tests::rows;

    fn render(picker: &Picker, width: u16, height: u16) -> Terminal<TestBackend> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| frame.render_widget(PickerView::new(picker), frame.area()))
            .unwrap();
        terminal
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    /// The key a server in these tests announces: 64 hex digits, as in the announcement.
    fn announced() -> String {
        "2bcf00c044e6cef71136ccb1eee5095edb20e8fc36fd34a897ec1ef45a3e26fa".into()
    }

    fn two() -> Picker {
        let mut ops = found("ops room", "192.168.1.20:7878", 3);
        ops.fingerprint = Some(announced());
        Picker::new(vec![ops, found("午饭 🍜", "10.0.0.7:9000", 12)])
    }

    #[test]
    fn the_list_shows_name_address_people_and_version() {
        let terminal = render(&two(), 100, 8);
        let rows = rows(terminal.backend().buffer());
        let expected = [
            " 2 chat servers found on the LAN                                                                    ",
            "                                                                                                    ",
            "   NAME      ADDRESS            PEOPLE  VERSION  KEY                                                ",
            " ▶ ops room  192.168.1.20:7878       3        4  2bcf:00c0…                                         ",
            "   午饭 🍜   10.0.0.7:9000          12        4  no TLS                                             ",
            "                                                                                                    ",
            " key 2bcf:00c0:44e6:cef7:1136:ccb1:eee5:095e:db20:e8fc:36fd:34a8:97ec:1ef4:5a3e:26fa                ",
            " ↑/↓ choose · Enter join · Esc or q quit                                                            ",
        ];
        assert_eq!(rows, expected);
        // The selected row is marked by its colour too, across the table.
        let buffer = terminal.backend().buffer();
        assert_eq!(buffer[(5, 3)].bg, Color::Cyan);
        assert_eq!(buffer[(5, 4)].bg, Color::Reset);
    }

    #[test]
    fn the_selection_follows_the_keys_and_enter_says_where_it_goes() {
        let mut picker = two();
        picker.on_key(key(KeyCode::Down));
        let terminal = render(&picker, 60, 8);
        let buffer = terminal.backend().buffer();
        assert_eq!(buffer[(5, 3)].bg, Color::Reset);
        assert_eq!(buffer[(5, 4)].bg, Color::Cyan);
        assert!(
            rows(buffer)[4].starts_with(" ▶ 午饭 🍜"),
            "{:?}",
            rows(buffer)
        );
        assert_eq!(
            rows(buffer)[6].trim_end(),
            " no TLS: messages go over the LAN in the clear",
            "the key line follows the selection"
        );

        picker.on_key(key(KeyCode::Enter));
        let terminal = render(&picker, 60, 8);
        let rows = rows(terminal.backend().buffer());
        assert_eq!(rows[7].trim_end(), " joining 午饭 🍜 at 10.0.0.7:9000…");
    }

    #[test]
    fn names_from_the_network_cannot_drive_the_terminal() {
        let picker = Picker::new(vec![found(
            "evil\x1b[2J\u{202e}\u{200b}",
            "10.0.0.9:7878",
            1,
        )]);
        let terminal = render(&picker, 70, 6);
        let rows = rows(terminal.backend().buffer());
        assert_eq!(rows[0].trim_end(), " 1 chat server found on the LAN");
        assert!(
            rows[3].starts_with(" ▶ evil␛[2J<U+202E><U+200B> "),
            "{rows:#?}"
        );
    }

    #[test]
    fn a_long_list_keeps_the_selection_in_view() {
        let servers = (0..30)
            .map(|i| found(&format!("room {i}"), &format!("10.0.0.{i}:7878"), i))
            .collect();
        let mut picker = Picker::new(servers);
        picker.on_key(key(KeyCode::End));
        let terminal = render(&picker, 60, 9);
        let rows = rows(terminal.backend().buffer());
        assert!(rows[6].starts_with(" ▶ room 29 "), "{rows:#?}");
        assert!(rows[3].starts_with("   room 26 "), "{rows:#?}");
    }

    #[test]
    fn a_narrow_screen_shortens_the_name_first() {
        let picker = Picker::new(vec![found(
            "a name far too long for a narrow screen",
            "192.168.100.200:7878",
            3,
        )]);
        let terminal = render(&picker, 58, 6);
        let rows = rows(terminal.backend().buffer());
        assert_eq!(
            rows[3],
            " ▶ a name f  192.168.100.200:7878       3        4  no TLS"
        );
    }
}
