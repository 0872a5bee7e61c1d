//! The transfer strip: one progress bar per running transfer, above the status line.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use unicode_width::UnicodeWidthStr;

use crate::app::{App, ConnState, Direction, Transfer};

/// Most rows the strip takes; more transfers are summed up on its last row.
pub const MAX_ROWS: u16 = 4;

/// Widest the bar itself gets, in cells.
const MAX_BAR: usize = 30;

#[derive(Debug)]
pub struct TransferStrip<'a> {
    app: &'a App,
}

impl<'a> TransferStrip<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }
}

impl Widget for TransferStrip<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let transfers = &self.app.transfers;
        let rows = usize::from(area.height);
        if rows == 0 {
            return;
        }
        let shown = if transfers.len() > rows {
            rows - 1
        } else {
            transfers.len()
        };
        let connected = self.app.conn == ConnState::Connected;
        let width = usize::from(area.width);
        for (i, t) in transfers.iter().take(shown).enumerate() {
            let row = Rect::new(area.x, area.y + i as u16, area.width, 1);
            bar_line(t, connected, width).render(row, buf);
        }
        if shown < transfers.len() {
            let row = Rect::new(area.x, area.y + shown as u16, area.width, 1);
            let more = transfers.len() - shown;
            Line::styled(
                format!(
                    " … and {more} more transfer{}",
                    if more == 1 { "" } else { "s" }
                ),
                Style::new().fg(Color::DarkGray),
            )
            .render(row, buf);
        }
    }
}

/// ` ↑ [u1] report.pdf ██████░░░░  45%  12.3 MiB of 27.0 MiB  5.2 MiB/s  3s left`, fitted
/// to `width` cells: the bar shrinks first, then the name. The number in brackets is the
/// one `/cancel` takes ([`Transfer::label`]): a download's file id, an upload's `uN`.
pub fn bar_line(t: &Transfer, connected: bool, width: usize) -> Line<'static> {
    let (arrow, color) = match t.direction {
        Direction::Up => ('↑', Color::Cyan),
        Direction::Down => ('↓', Color::Green),
    };
    let head = format!(" {arrow} [{}] ", t.label());
    let stats = if !t.started {
        "waiting for the server".to_owned()
    } else if !connected {
        format!(
            "{:>3}%  paused until the connection is back",
            t.progress.percent()
        )
    } else {
        t.progress.summary()
    };
    let room = width.saturating_sub(head.width() + stats.width() + 2);
    let name_width = t.name.width();
    // The name keeps up to 24 cells before the bar gives any up; below that the bar goes.
    let bar = if t.started && room >= name_width.min(24) + 6 {
        (room - name_width.min(24)).min(MAX_BAR)
    } else {
        0
    };
    let mut name = fit(&t.name, room.saturating_sub(bar));
    if bar > 0 {
        // Padded, so that the bar and the numbers keep to the right edge.
        let pad = room.saturating_sub(bar).saturating_sub(name.width());
        name.push_str(&" ".repeat(pad));
    }
    let filled = (t.progress.ratio() * bar as f64).round() as usize;
    let mut spans = vec![
        Span::styled(head, Style::new().fg(color).add_modifier(Modifier::BOLD)),
        Span::raw(name),
        Span::raw(" "),
    ];
    if bar > 0 {
        spans.push(Span::styled("█".repeat(filled), Style::new().fg(color)));
        spans.push(Span::styled(
            "░".repeat(bar - filled),
            Style::new().fg(Color::DarkGray),
        ));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::raw(stats));
    Line::from(spans)
}

/// `s` cut to `width` cells, with `…` when cut.
fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}
