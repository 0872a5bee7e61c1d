//! The backend the screen draws through: crossterm's, except that it never asks the
//! terminal anything.
//!
//! Asking (crossterm's `cursor::position`, which ratatui's `Terminal::clear` and the inline
//! viewport call) writes `ESC [ 6 n` and waits for the answer on the terminal's input. But
//! the key reader is already waiting on that input, inside crossterm's one event reader,
//! whose lock it holds while it waits: the answer is read, and kept, by the key reader; the
//! question either gives up after two seconds ("The cursor position could not be read within
//! a normal duration") or, when it took the lock in between, blocks until the next key while
//! the key reader holds it, and with it the whole event loop: no message is drawn, no signal
//! handled. Once the terminal is gone the key reader spins on its reads forever, and the
//! loop with it. So the question is never asked: [`QuietBackend::get_cursor_position`] is an
//! error, at once, and whatever would have asked fails instead of hanging. Ctrl-L redraws
//! through [`redraw_all`], which needs no question.

use std::io::{self, Write};

use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Rect, Size};

/// crossterm's backend, minus the one call that reads from the terminal.
#[derive(Debug)]
pub struct QuietBackend<W: Write>(CrosstermBackend<W>);

impl<W: Write> QuietBackend<W> {
    pub fn new(writer: W) -> Self {
        Self(CrosstermBackend::new(writer))
    }
}

impl<W: Write> Backend for QuietBackend<W> {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.0.draw(content)
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        self.0.append_lines(n)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.0.hide_cursor()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.0.show_cursor()
    }

    /// Never asks: see the module's documentation.
    fn get_cursor_position(&mut self) -> io::Result<Position> {
        Err(io::Error::other(
            "the terminal is never asked where its cursor is: its answer would be taken by \
             the key reader",
        ))
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.0.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.0.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.0.clear_region(clear_type)
    }

    /// The size from the kernel (an ioctl), not from the terminal.
    fn size(&self) -> io::Result<Size> {
        self.0.size()
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.0.window_size()
    }

    fn flush(&mut self) -> io::Result<()> {
        Backend::flush(&mut self.0)
    }
}

/// Clears the whole screen and makes the next draw paint every cell (Ctrl-L), without
/// asking the terminal where its cursor is (which `Terminal::clear` does).
///
/// Resizing a full-screen terminal to its own size does exactly that: it clears the screen
/// and forgets what the last frame drew, so the next one is drawn whole. The cursor is
/// placed by every draw, so there is nothing to restore.
pub fn redraw_all<B: Backend>(terminal: &mut Terminal<B>) -> Result<(), B::Error> {
    let size = terminal.size()?;
    terminal.resize(Rect::from((Position::ORIGIN, size)))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use ratatui::backend::TestBackend;
    use ratatui::text::Line;
    use ratatui::{TerminalOptions, Viewport};

    use super::*;

    /// What the backend wrote, readable while the terminal holds the backend.
    #[derive(Clone, Default)]
    struct Written(Rc<RefCell<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn terminal_clear_fails_at_once_and_writes_no_question() {
        let area = Rect::new(0, 0, 20, 4);
        let options = TerminalOptions {
            viewport: Viewport::Fixed(area),
        };
        let written = Written::default();
        let mut terminal = Terminal::with_options(QuietBackend::new(written.clone()), options)
            .expect("a terminal of fixed size needs no question");
        terminal
            .draw(|frame| frame.render_widget(Line::raw("hello"), frame.area()))
            .unwrap();
        assert!(
            !written.0.borrow().is_empty(),
            "the test sees nothing written"
        );
        assert!(terminal.clear().is_err());
        let written = written.0.borrow();
        assert!(
            !written.windows(4).any(|w| w == b"\x1b[6n"),
            "the cursor position was asked: {written:?}"
        );
    }

    #[test]
    fn an_inline_viewport_cannot_be_made() {
        let options = TerminalOptions {
            viewport: Viewport::Inline(3),
        };
        // It would need the cursor's row; the size is asked first, and in a test there may
        // be no terminal at all: either way it fails.
        assert!(Terminal::with_options(QuietBackend::new(Vec::new()), options).is_err());
    }

    fn draw_hello(terminal: &mut Terminal<TestBackend>) {
        terminal
            .draw(|frame| frame.render_widget(Line::raw("hello"), frame.area()))
            .unwrap();
    }

    /// Something else wrote over the screen (another program, a stray answer from the
    /// terminal): an ordinary draw leaves it, since the frame did not change; Ctrl-L does
    /// not.
    #[test]
    fn redraw_all_paints_every_cell_again() {
        let mut terminal = Terminal::new(TestBackend::new(10, 2)).unwrap();
        draw_hello(&mut terminal);
        let garbage = |terminal: &mut Terminal<TestBackend>| {
            let cell = Cell::new("#");
            let cells = [(1, 0, &cell), (7, 1, &cell)];
            terminal.backend_mut().draw(cells.into_iter()).unwrap();
        };
        garbage(&mut terminal);
        draw_hello(&mut terminal);
        terminal
            .backend()
            .assert_buffer_lines(["h#llo     ", "       #  "]);

        redraw_all(&mut terminal).unwrap();
        draw_hello(&mut terminal);
        terminal
            .backend()
            .assert_buffer_lines(["hello     ", "          "]);
    }
}
