//! The lines the message pane draws between messages: the date line where a new day
//! begins, the unread line where the user stopped reading, and the markers that stand for
//! history (loading, not loaded, lost, the beginning). Each is a rule across the pane,
//! `── text ──`, that wraps like any other line when the pane is too narrow for it.

use chat_client::clock::hh_mm;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::wrap;
use crate::app::pane::Marker;
use crate::input::display_width;

/// What the rule is drawn with on each side of its text.
const RULE: &str = "─";

/// The local day of a server time (days since the epoch, `utc_offset_secs` east of UTC),
/// to tell where a new day begins.
pub fn day(time_ms: u64, utc_offset_secs: i32) -> i64 {
    let secs = i64::try_from(time_ms / 1000).unwrap_or(i64::MAX / 2) + i64::from(utc_offset_secs);
    secs.div_euclid(86_400)
}

/// The local calendar date of a server time, or, out of the calendar's range (a hostile
/// server's time), the day number it is.
fn local_date(time_ms: u64, utc_offset_secs: i32) -> Result<time::Date, i64> {
    let day = day(time_ms, utc_offset_secs);
    time::Date::from_julian_day(
        i32::try_from(day + i64::from(UNIX_EPOCH_JULIAN_DAY)).unwrap_or(i32::MAX),
    )
    .map_err(|_| day)
}

/// The local date of a server time in words: `Monday 30 November 2026`.
pub fn long_date(time_ms: u64, utc_offset_secs: i32) -> String {
    match local_date(time_ms, utc_offset_secs) {
        Ok(date) => format!(
            "{} {} {} {}",
            date.weekday(),
            date.day(),
            date.month(),
            date.year()
        ),
        Err(day) => format!("day {day}"),
    }
}

/// A server time as the local date and time, short: `30 Nov 2026 14:02`.
pub fn short_date(time_ms: u64, utc_offset_secs: i32) -> String {
    let time = hh_mm(time_ms, utc_offset_secs);
    match local_date(time_ms, utc_offset_secs) {
        Ok(date) => {
            let month = date.month().to_string();
            let month: String = month.chars().take(3).collect();
            format!("{} {month} {} {time}", date.day(), date.year())
        }
        Err(day) => format!("day {day} {time}"),
    }
}

/// The Julian day number of 1 January 1970.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// `── 12 new since 14:02 ──`: `count` room messages follow the last one the user read,
/// which was said at `since_ms` (unknown when it is not loaded).
pub fn unread_text(count: u64, since_ms: Option<u64>, utc_offset_secs: i32) -> String {
    let new = match count {
        1 => "1 new message".to_owned(),
        n => format!("{n} new messages"),
    };
    match since_ms {
        Some(t) => format!("{new} since {}", hh_mm(t, utc_offset_secs)),
        None => new,
    }
}

/// The words of a marker, in room `room` (already sanitised).
pub fn marker_text(marker: Marker, room: &str) -> String {
    let not_loaded = |count: Option<u64>| match count {
        Some(1) => "1 message not loaded".to_owned(),
        Some(n) => format!("{n} messages not loaded"),
        None => "older messages not loaded".to_owned(),
    };
    match marker {
        Marker::Beginning => format!("beginning of #{room}"),
        // A gap says what it is while it loads too.
        Marker::NotLoaded {
            count: Some(n),
            loading: true,
        } => format!("{} · loading…", not_loaded(Some(n))),
        Marker::NotLoaded { loading: true, .. } => "loading…".to_owned(),
        Marker::NotLoaded { count, .. } => not_loaded(count),
        Marker::Lost { .. } => "history incomplete here: the server could not keep these".into(),
    }
}

/// How each kind of rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleStyle {
    Date,
    Unread,
    /// Loading, not loaded, the beginning: quiet.
    History,
    /// History lost for good.
    Lost,
}

impl RuleStyle {
    fn style(self) -> Style {
        match self {
            RuleStyle::Date => Style::new().fg(Color::DarkGray),
            RuleStyle::Unread => Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
            RuleStyle::History => Style::new()
                .fg(Color::DarkGray)
                .add_modifier(Modifier::ITALIC),
            RuleStyle::Lost => Style::new().fg(Color::Red),
        }
    }
}

/// The style of a marker's rule.
pub fn marker_style(marker: Marker) -> RuleStyle {
    match marker {
        Marker::Lost { .. } => RuleStyle::Lost,
        _ => RuleStyle::History,
    }
}

/// A rule `width` cells wide with `text` in its middle: `──── text ────`. Text too wide
/// for one row wraps, after `── `, and lines up under itself.
pub fn rule(text: &str, style: RuleStyle, width: usize) -> Vec<Line<'static>> {
    let style = style.style();
    let text_width = display_width(text);
    // `── ` and ` ──` at least.
    if text_width + 6 <= width {
        let fill = width - text_width - 2;
        let left = fill / 2;
        let right = fill - left;
        return vec![Line::from(vec![
            Span::styled(RULE.repeat(left), style),
            Span::styled(format!(" {text} "), style),
            Span::styled(RULE.repeat(right), style),
        ])];
    }
    let spans = [
        Span::styled(format!("{RULE}{RULE} "), style),
        Span::styled(text.to_owned(), style),
    ];
    wrap::wrap(&spans, width, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-30 12:00:00 UTC, a Monday.
    const NOON: u64 = 1_795_996_800_000 + 12 * 3_600_000;

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_date_is_the_local_one() {
        assert_eq!(long_date(NOON, 0), "Monday 30 November 2026");
        // Thirteen hours east it is already Tuesday; eleven hours west, still Monday.
        assert_eq!(long_date(NOON, 13 * 3600), "Tuesday 1 December 2026");
        assert_eq!(long_date(NOON, -11 * 3600), "Monday 30 November 2026");
        assert_eq!(long_date(NOON, -13 * 3600), "Sunday 29 November 2026");
        assert_eq!(long_date(0, 0), "Thursday 1 January 1970");
        assert_eq!(day(NOON, 0) + 1, day(NOON, 13 * 3600));
        // Beyond the calendar: a number, not a panic.
        assert!(long_date(u64::MAX, 0).starts_with("day "));
        assert_eq!(short_date(NOON + 2 * 60_000, 3600), "30 Nov 2026 13:02");
    }

    #[test]
    fn the_unread_line_says_how_many_and_since_when() {
        assert_eq!(
            unread_text(12, Some(NOON + 2 * 60_000), 3600),
            "12 new messages since 13:02"
        );
        assert_eq!(unread_text(1, None, 0), "1 new message");
    }

    #[test]
    fn markers_in_words() {
        assert_eq!(
            marker_text(Marker::Beginning, "lobby"),
            "beginning of #lobby"
        );
        let not_loaded = |count, loading| Marker::NotLoaded { count, loading };
        assert_eq!(
            marker_text(not_loaded(Some(9500), false), "x"),
            "9500 messages not loaded"
        );
        assert_eq!(
            marker_text(not_loaded(Some(9500), true), "x"),
            "9500 messages not loaded · loading…"
        );
        assert_eq!(marker_text(not_loaded(None, true), "x"), "loading…");
        assert_eq!(
            marker_text(not_loaded(None, false), "x"),
            "older messages not loaded"
        );
    }

    #[test]
    fn a_rule_fills_the_width_around_its_text() {
        assert_eq!(
            texts(&rule("Monday", RuleStyle::Date, 20)),
            ["────── Monday ──────"]
        );
        // Wide characters count twice.
        let lines = texts(&rule("beginning of #大厅", RuleStyle::History, 25));
        assert_eq!(lines, ["── beginning of #大厅 ───"]);
        assert_eq!(display_width(&lines[0]), 25);
    }

    #[test]
    fn a_rule_too_wide_wraps_and_lines_up() {
        let lines = texts(&rule("12 new messages since 14:02", RuleStyle::Unread, 16));
        assert_eq!(lines, ["── 12 new ", "   messages ", "   since 14:02"]);
        let lines = texts(&rule("你好世界你好世界", RuleStyle::Date, 10));
        for line in &lines {
            assert!(display_width(line) <= 10, "{lines:?}");
        }
        assert_eq!(lines, ["── 你好世", "   界你好", "   世界"]);
    }
}
