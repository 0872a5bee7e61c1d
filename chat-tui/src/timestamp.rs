//! The format of the time in front of each message: a pattern in the manner of strftime,
//! with a small documented set of fields, checked when the configuration is read.
//!
//! | field | shows                      |
//! |-------|----------------------------|
//! | `%H`  | hour, 00 to 23             |
//! | `%I`  | hour, 01 to 12             |
//! | `%p`  | AM or PM                   |
//! | `%M`  | minute, 00 to 59           |
//! | `%S`  | second, 00 to 59           |
//! | `%d`  | day of the month, 01 to 31 |
//! | `%m`  | month, 01 to 12            |
//! | `%y`  | year, two digits           |
//! | `%Y`  | year, four digits          |
//! | `%%`  | a `%`                      |
//!
//! Every field has a fixed width, so every time takes the same number of cells and
//! wrapped lines line up under the text. An empty pattern shows no time. A pattern holds
//! at most [`MAX_PATTERN_CHARS`] characters and no control characters.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 32;

/// The default pattern: hours and minutes.
pub const DEFAULT_PATTERN: &str = "%H:%M";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Hour24,
    Hour12,
    AmPm,
    Minute,
    Second,
    Day,
    Month,
    Year2,
    Year4,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A checked timestamp pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeFormat {
    pattern: String,
    pieces: Vec<Piece>,
}

impl Default for TimeFormat {
    fn default() -> Self {
        Self::parse(DEFAULT_PATTERN).expect("the default pattern is valid")
    }
}

impl TimeFormat {
    /// Checks `pattern`.
    ///
    /// # Errors
    ///
    /// A field not in the table, a `%` at the end, a control character, or a pattern longer
    /// than [`MAX_PATTERN_CHARS`]; the message says which.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern.chars().count() > MAX_PATTERN_CHARS {
            return Err(format!(
                "longer than {MAX_PATTERN_CHARS} characters, too long for a timestamp"
            ));
        }
        if pattern.chars().any(char::is_control) {
            return Err("a timestamp cannot hold control characters".into());
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                text.push(c);
                continue;
            }
            let field = match chars.next() {
                Some('%') => {
                    text.push('%');
                    continue;
                }
                Some('H') => Field::Hour24,
                Some('I') => Field::Hour12,
                Some('p') => Field::AmPm,
                Some('M') => Field::Minute,
                Some('S') => Field::Second,
                Some('d') => Field::Day,
                Some('m') => Field::Month,
                Some('y') => Field::Year2,
                Some('Y') => Field::Year4,
                Some(other) => {
                    return Err(format!(
                        "unknown field %{other} in \"{pattern}\": the fields are %H %I %p %M \
                         %S %d %m %y %Y and %%"
                    ));
                }
                None => return Err(format!("\"{pattern}\" ends in a lone %")),
            };
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Field(field));
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self {
            pattern: pattern.to_owned(),
            pieces,
        })
    }

    /// Whether no time is shown.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// `time_ms` (since the Unix epoch) in local time, `utc_offset_secs` east of UTC.
    pub fn format(&self, time_ms: u64, utc_offset_secs: i32) -> String {
        let secs = i64::try_from(time_ms / 1000).unwrap_or(i64::MAX);
        let offset =
            time::UtcOffset::from_whole_seconds(utc_offset_secs).unwrap_or(time::UtcOffset::UTC);
        let at = time::OffsetDateTime::from_unix_timestamp(secs)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .to_offset(offset);
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field(field) => {
                    let hour12 = match at.hour() % 12 {
                        0 => 12,
                        h => h,
                    };
                    let _ = match field {
                        Field::Hour24 => {
                            fmt::Write::write_fmt(&mut out, format_args!("{:02}", at.hour()))
                        }
                        Field::Hour12 => {
                            fmt::Write::write_fmt(&mut out, format_args!("{hour12:02}"))
                        }
                        Field::AmPm => fmt::Write::write_str(
                            &mut out,
                            if at.hour() < 12 { "AM" } else { "PM" },
                        ),
                        Field::Minute => {
                            fmt::Write::write_fmt(&mut out, format_args!("{:02}", at.minute()))
                        }
                        Field::Second => {
                            fmt::Write::write_fmt(&mut out, format_args!("{:02}", at.second()))
                        }
                        Field::Day => {
                            fmt::Write::write_fmt(&mut out, format_args!("{:02}", at.day()))
                        }
                        Field::Month => fmt::Write::write_fmt(
                            &mut out,
                            format_args!("{:02}", u8::from(at.month())),
                        ),
                        Field::Year2 => fmt::Write::write_fmt(
                            &mut out,
                            format_args!("{:02}", at.year().rem_euclid(100)),
                        ),
                        Field::Year4 => {
                            fmt::Write::write_fmt(&mut out, format_args!("{:04}", at.year()))
                        }
                    };
                }
            }
        }
        out
    }
}

impl TryFrom<String> for TimeFormat {
    type Error = String;

    fn try_from(pattern: String) -> Result<Self, String> {
        Self::parse(&pattern)
    }
}

impl From<TimeFormat> for String {
    fn from(format: TimeFormat) -> Self {
        format.pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::display_width;

    /// 2023-11-14 22:13:20 UTC.
    const T: u64 = 1_700_000_000_000;

    #[test]
    fn fields_format_the_local_time() {
        let format = |p: &str, offset| TimeFormat::parse(p).unwrap().format(T, offset);
        assert_eq!(format("%H:%M", 0), "22:13");
        assert_eq!(format("%H:%M:%S", 3600), "23:13:20");
        assert_eq!(format("%I:%M %p", 0), "10:13 PM");
        assert_eq!(format("%Y-%m-%d %H:%M", 7200), "2023-11-15 00:13");
        assert_eq!(format("[%y/%m/%d] 100%%", 0), "[23/11/14] 100%");
        assert_eq!(format("", 0), "");
        assert_eq!(TimeFormat::default().format(T, 0), "22:13");
    }

    #[test]
    fn every_time_takes_the_same_width() {
        let format = TimeFormat::parse("%I:%M:%S %p %d.%m.%Y").unwrap();
        let widths: Vec<usize> = (0..48)
            .map(|h| display_width(&format.format(T + h * 1_800_000, 0)))
            .collect();
        assert!(widths.iter().all(|&w| w == widths[0]), "{widths:?}");
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        let error = |p: &str| TimeFormat::parse(p).unwrap_err();
        assert!(error("%H:%Q").contains("unknown field %Q"));
        assert!(error("%H%").contains("lone %"));
        assert!(error("\u{1b}[2J%H").contains("control"));
        assert!(error(&"%H".repeat(20)).contains("too long"));
    }
}
