//! How far a transfer has come, and how that reads: percent, bytes, speed, time left.
//!
//! Pure arithmetic on samples the app feeds in with its own clock, so that every case,
//! an empty file included, is a unit test. Sizes and times read as everywhere else
//! ([`shared::units`]).

// `bytes` is named here too: every transfer line reads sizes through this module.
pub use shared::units::bytes;
use shared::units::duration;

/// Weight of the newest sample in the smoothed speed. Samples arrive about ten times a
/// second; 0.3 follows a real change within a second without jumping at every sample.
const SMOOTHING: f64 = 0.3;

/// Progress of one transfer of `total` bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub total: u64,
    pub done: u64,
    /// Smoothed bytes per second; `None` until two samples are apart in time.
    rate: Option<f64>,
    /// Time (ms) and bytes of the last sample.
    last: Option<(u64, u64)>,
}

impl Progress {
    pub fn new(total: u64) -> Self {
        Self {
            total,
            done: 0,
            rate: None,
            last: None,
        }
    }

    /// Starts measuring again from `done` bytes at `now_ms` (a transfer that resumes
    /// after a break: the break is not a slow second).
    pub fn restart(&mut self, done: u64, now_ms: u64) {
        self.done = done;
        self.last = Some((now_ms, done));
    }

    /// Records that `done` bytes have moved by `now_ms`.
    pub fn sample(&mut self, done: u64, now_ms: u64) {
        if let Some((then, before)) = self.last {
            let elapsed = now_ms.saturating_sub(then);
            if elapsed > 0 {
                let now = done.saturating_sub(before) as f64 * 1000.0 / elapsed as f64;
                self.rate = Some(match self.rate {
                    Some(old) => old + SMOOTHING * (now - old),
                    None => now,
                });
                self.last = Some((now_ms, done));
            }
        } else {
            self.last = Some((now_ms, done));
        }
        self.done = done;
    }

    /// Whole percent done, 0..=100. A transfer of nothing is complete.
    pub fn percent(&self) -> u8 {
        if self.total == 0 {
            return 100;
        }
        let p = u128::from(self.done.min(self.total)) * 100 / u128::from(self.total);
        u8::try_from(p).unwrap_or(100)
    }

    /// Fraction done, 0.0..=1.0, for a bar.
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.done.min(self.total) as f64 / self.total as f64).clamp(0.0, 1.0)
        }
    }

    /// Bytes per second, once known.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Seconds left at the current speed; `None` while the speed is unknown or zero.
    pub fn eta_secs(&self) -> Option<u64> {
        let left = self.total.saturating_sub(self.done);
        if left == 0 {
            return Some(0);
        }
        let rate = self.rate.filter(|r| *r >= 1.0)?;
        Some((left as f64 / rate).ceil() as u64)
    }

    /// `45%  12.3 MiB of 27.0 MiB  5.2 MiB/s  3s left`.
    pub fn summary(&self) -> String {
        let speed = self
            .rate
            .map_or_else(|| "-- /s".to_owned(), |r| format!("{}/s", bytes(r as u64)));
        let eta = self.eta_secs().map_or_else(|| "--".to_owned(), duration);
        format!(
            "{:>3}%  {} of {}  {speed}  {eta} left",
            self.percent(),
            bytes(self.done),
            bytes(self.total)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_transfer_is_complete() {
        let p = Progress::new(0);
        assert_eq!(p.percent(), 100);
        assert!((p.ratio() - 1.0).abs() < f64::EPSILON);
        assert_eq!(p.eta_secs(), Some(0));
        assert_eq!(p.summary(), "100%  0 B of 0 B  -- /s  0s left");
    }

    #[test]
    fn percent_rounds_down_and_never_passes_100() {
        let mut p = Progress::new(3);
        p.sample(1, 0);
        assert_eq!(p.percent(), 33);
        p.sample(3, 10);
        assert_eq!(p.percent(), 100);
        p.sample(5, 20);
        assert_eq!(p.percent(), 100);
        let mut huge = Progress::new(u64::MAX);
        huge.sample(u64::MAX / 2, 0);
        assert_eq!(huge.percent(), 49);
    }

    #[test]
    fn speed_and_time_left() {
        let mut p = Progress::new(10 << 20);
        assert_eq!(p.rate(), None);
        assert_eq!(p.eta_secs(), None);
        p.sample(0, 1000);
        assert_eq!(p.rate(), None, "one sample says nothing about speed");
        p.sample(1 << 20, 2000);
        assert_eq!(p.rate(), Some(f64::from(1 << 20)));
        assert_eq!(p.eta_secs(), Some(9));
        assert_eq!(p.summary(), " 10%  1.0 MiB of 10.0 MiB  1.0 MiB/s  9s left");
        // Smoothed: a sudden doubling moves the speed part of the way.
        p.sample(3 << 20, 3000);
        let rate = p.rate().unwrap();
        assert!(
            rate > f64::from(1 << 20) && rate < f64::from(2 << 20),
            "{rate}"
        );
    }

    #[test]
    fn a_stalled_transfer_has_no_time_left_estimate() {
        let mut p = Progress::new(100);
        p.sample(10, 0);
        p.sample(10, 1000);
        assert_eq!(p.rate(), Some(0.0));
        assert_eq!(p.eta_secs(), None);
    }

    #[test]
    fn restart_does_not_count_the_break() {
        let mut p = Progress::new(1000);
        p.sample(100, 0);
        p.sample(200, 1000);
        p.restart(150, 60_000);
        p.sample(250, 61_000);
        assert_eq!(p.rate(), Some(100.0));
        assert_eq!(p.done, 250);
    }
}
