//! Server times (milliseconds since the Unix epoch) as the reader's local `HH:MM`.

/// `HH:MM` of a server time, `utc_offset_secs` east of UTC.
pub fn hh_mm(time_ms: u64, utc_offset_secs: i32) -> String {
    let secs = i64::try_from(time_ms / 1000).unwrap_or(0) + i64::from(utc_offset_secs);
    let of_day = secs.rem_euclid(86_400);
    format!("{:02}:{:02}", of_day / 3600, of_day % 3600 / 60)
}

/// The local offset from UTC in seconds, or 0 (UTC) when it cannot be read.
///
/// Call it before the process starts a second thread (before the tokio runtime): on Unix
/// the offset can only be read safely while there is one, and otherwise this is 0.
pub fn local_utc_offset_secs() -> i32 {
    time::UtcOffset::current_local_offset().map_or(0, |o| o.whole_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_uses_the_local_offset() {
        const T: u64 = 1_700_000_000_000;
        assert_eq!(hh_mm(T, 0), "22:13");
        assert_eq!(hh_mm(T, 3600), "23:13");
        assert_eq!(hh_mm(T, -23 * 3600), "23:13");
        assert_eq!(hh_mm(0, 0), "00:00");
        assert_eq!(hh_mm(0, -60), "23:59");
    }
}
