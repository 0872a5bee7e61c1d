//! Sizes and durations as people read and write them: `1.20 GiB`, `2m05s`, `500MiB`, `15s`.
//!
//! Both ends show sizes the same way (the client's transfer lines, the server's refusals
//! of a file too large), and the server reads its limits in the same units it shows.

use std::time::Duration;

/// A byte count in binary units: `0 B`, `1023 B`, `1.0 KiB`, `12.3 MiB`, `1.20 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // The unit and the decimals are those of the value as shown, once rounded: a MiB less
    // one byte is `1.0 MiB`, not `1024 KiB`, and 99.96 KiB is `100 KiB`, not `100.0 KiB`.
    let mut shown = rounded(value, decimals(value, unit));
    while shown >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
        shown = rounded(value, decimals(value, unit));
    }
    let decimals = decimals(shown, unit);
    format!("{value:.decimals$} {}", UNITS[unit])
}

/// Decimals shown of `value` in `UNITS[unit]`: 1.20 GiB, 1.5 MiB, 12.3 MiB, 123 KiB; a GiB
/// and up more finely, where a tenth is 100 MiB.
fn decimals(value: f64, unit: usize) -> usize {
    if value < 10.0 && unit >= 2 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    }
}

/// `value` rounded to `decimals` places, as `format!` would show it.
fn rounded(value: f64, decimals: usize) -> f64 {
    format!("{value:.decimals$}").parse().unwrap_or(value)
}

/// A duration in seconds as `7s`, `1m05s`, `2h03m`.
pub fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// Splits `text` (already trimmed) into its leading decimal number and the unit after it
/// (trimmed, maybe empty); `what` names the expected form for the error message.
fn number_and_unit<'a>(text: &'a str, what: &str) -> Result<(f64, &'a str), String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number
        .parse()
        .map_err(|_| format!("'{text}' is not {what}"))?;
    Ok((number, unit.trim()))
}

/// Parses a duration written as a number and a unit: `200ms`, `15s`, `1.5s`, `2m`, `12h`,
/// `90d` (a day is 24 hours). A bare number means seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use shared::units::parse_duration;
///
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
/// assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text, "a duration such as 500ms, 15s or 2m")?;
    let seconds_per_unit = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => return Err(format!("unknown unit '{other}' (use ms, s, m, h or d)")),
    };
    Duration::try_from_secs_f64(number * seconds_per_unit)
        .map_err(|_| format!("'{text}' is out of range"))
}

/// Parses a size in bytes: a number and an optional unit, `B`, `K`/`KiB`, `M`/`MiB`,
/// `G`/`GiB` or `T`/`TiB` (powers of 1024), or `kB`, `MB`, `GB`, `TB` (powers of 1000).
///
/// # Examples
///
/// ```
/// use shared::units::parse_size;
///
/// assert_eq!(parse_size("4GiB"), Ok(4 << 30));
/// assert_eq!(parse_size("1.5 MB"), Ok(1_500_000));
/// assert_eq!(parse_size("512"), Ok(512));
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = number_and_unit(text, "a size such as 500MiB, 4GiB or 1000000")?;
    let multiplier: f64 = match unit {
        "" | "B" => 1.0,
        "K" | "KiB" => 1024.0,
        "M" | "MiB" => 1024.0 * 1024.0,
        "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        other => {
            return Err(format!(
                "unknown unit '{other}' (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)"
            ));
        }
    };
    let bytes = (number * multiplier).round();
    // u64::MAX as f64 rounds up to 2^64, which does not fit.
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("'{text}' is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(123 * 1024), "123 KiB");
        assert_eq!(bytes(12_900_000), "12.3 MiB");
        assert_eq!(bytes(1_288_490_189), "1.20 GiB");
        assert_eq!(bytes(4 << 30), "4.00 GiB");
        assert_eq!(bytes(u64::MAX), "16384 PiB");
        // Rounding up to the next unit, or to fewer decimals.
        assert_eq!(bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(bytes(102_359), "100 KiB");
        assert_eq!(bytes(10_733_000_000), "10.0 GiB");
        assert_eq!(bytes((1 << 30) - 1), "1.00 GiB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(65), "1m05s");
        assert_eq!(duration(7380), "2h03m");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration(" 2m "), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("2K"), Ok(2048));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        assert_eq!(parse_size("20GiB"), Ok(20 << 30));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("3kB"), Ok(3000));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        for text in [
            "",
            "GiB",
            "-1",
            "1.2.3",
            "1 parsec",
            "1e30TB",
            "99999999999TiB",
        ] {
            assert!(parse_size(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn bad_durations_are_refused() {
        for text in [
            "", "s", "ms", "fast", "1w", "-1s", "1.2.3s", "1e400s", "1e300d",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?}");
        }
    }
}
