//! The per-connection request rate: a token bucket, and what counts against it.
//!
//! A bucket holds up to `burst` tokens and gains `rate` of them per second. Each counted
//! request takes one. A request that finds the bucket empty is not refused: the connection
//! waits until the token it needs has grown, and reads nothing from its socket meanwhile,
//! so a client that sends too fast is slowed by TCP's own backpressure and loses nothing.
//! How long a client has been held back without a break is what tells a flooder from a
//! person who pasted a few lines (see `Config::flood_timeout`); a break is a pause long
//! enough for the bucket to fill up halfway again (`TokenBucket::rested`), so that a
//! flooder's short hiccups do not count as one.

use std::time::Duration;

use shared::ClientMsg;
use tokio::time::Instant;

/// Whether `msg` counts against the rate. File chunks and the finish of an upload are
/// bounded by the upload itself (its size, TCP, the disk); a `Pong` answers the server and
/// a `Quit` ends the connection, so none of them can be used to flood a room.
pub fn counts(msg: &ClientMsg) -> bool {
    !matches!(
        msg,
        ClientMsg::UploadChunk { .. }
            | ClientMsg::UploadFinish { .. }
            | ClientMsg::Pong { .. }
            | ClientMsg::Quit { .. }
    )
}

/// A token bucket. Time is passed in, so that it can be tested without waiting.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    /// Tokens gained per second.
    rate: f64,
    /// Most tokens held.
    burst: f64,
    /// Tokens held at `last`; below zero while a request waits for the token it took.
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket; `None` if `rate` is 0, which means no limit.
    pub(crate) fn new(rate: u32, burst: u32, now: Instant) -> Option<Self> {
        if rate == 0 {
            return None;
        }
        let burst = f64::from(burst.max(1));
        Some(Self {
            rate: f64::from(rate),
            burst,
            tokens: burst,
            last: now,
        })
    }

    /// Whether the bucket holds at least half its burst: the client has paused long
    /// enough to count as no longer flooding.
    pub(crate) fn rested(&self) -> bool {
        self.tokens >= self.burst / 2.0 - 1.0
    }

    /// Takes a token for a request arriving at `now`, and returns how long the request must
    /// wait for it: zero if the bucket held one. The wait is at most one token's time
    /// (`1 / rate`), provided the caller waits it out before the next request.
    pub(crate) fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(rate: u32, burst: u32, now: Instant) -> TokenBucket {
        TokenBucket::new(rate, burst, now).expect("a limited bucket")
    }

    #[test]
    fn zero_rate_means_no_limit() {
        assert!(TokenBucket::new(0, 20, Instant::now()).is_none());
    }

    #[test]
    fn a_burst_goes_through_then_the_steady_rate_applies() {
        let start = Instant::now();
        let mut b = bucket(10, 20, start);
        for i in 0..20 {
            assert_eq!(b.take(start), Duration::ZERO, "request {i} of the burst");
        }
        // The 21st waits one token's time, the 22nd (sent right after it) one more.
        assert_eq!(b.take(start), Duration::from_millis(100));
        let after = start + Duration::from_millis(100);
        let wait = b.take(after);
        assert!(wait.abs_diff(Duration::from_millis(100)) < Duration::from_micros(1));
    }

    #[test]
    fn a_client_within_the_rate_never_waits() {
        let start = Instant::now();
        let mut b = bucket(10, 20, start);
        for i in 0..1000 {
            let now = start + Duration::from_millis(100 * i);
            assert_eq!(b.take(now), Duration::ZERO, "request {i}");
        }
    }

    #[test]
    fn the_bucket_refills_up_to_its_burst_only() {
        let start = Instant::now();
        let mut b = bucket(10, 5, start);
        for _ in 0..5 {
            b.take(start);
        }
        // An hour idle gives back 5 tokens, not 36,000.
        let later = start + Duration::from_secs(3600);
        for i in 0..5 {
            assert_eq!(b.take(later), Duration::ZERO, "request {i}");
        }
        assert!(b.take(later) > Duration::ZERO);
    }

    #[test]
    fn waits_stay_within_one_token_when_waited_out() {
        let start = Instant::now();
        let mut b = bucket(4, 1, start);
        let mut now = start;
        for _ in 0..100 {
            let wait = b.take(now);
            assert!(wait <= Duration::from_millis(250), "{wait:?}");
            now += wait;
        }
        // 100 requests at 4 a second, the first free: about 24.75 s.
        let spent = now - start;
        assert!(spent.abs_diff(Duration::from_millis(24_750)) < Duration::from_millis(1));
    }

    #[test]
    fn a_short_pause_is_not_a_rest() {
        let start = Instant::now();
        let mut b = bucket(10, 20, start);
        for _ in 0..25 {
            b.take(start);
        }
        // 600 ms give back 6 tokens: the next request need not wait, but the bucket is
        // far from half full.
        let now = start + Duration::from_millis(600);
        assert_eq!(b.take(now), Duration::ZERO);
        assert!(!b.rested());
        let now = now + Duration::from_secs(2);
        assert_eq!(b.take(now), Duration::ZERO);
        assert!(b.rested());
    }

    #[test]
    fn what_counts() {
        assert!(counts(&ClientMsg::Chat { text: "hi".into() }));
        assert!(counts(&ClientMsg::Ping { token: 1 }));
        assert!(counts(&ClientMsg::Who));
        assert!(!counts(&ClientMsg::Pong { token: 1 }));
        assert!(!counts(&ClientMsg::Quit {
            reason: String::new()
        }));
        assert!(!counts(&ClientMsg::UploadChunk {
            upload_id: 1,
            offset: 0,
            data: Vec::new(),
        }));
    }
}
