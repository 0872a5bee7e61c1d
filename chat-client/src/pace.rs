//! The client's own pace: what it sends that the server counts against its request rate
//! goes out no faster than a token bucket a little below the server's.
//!
//! The server lets a connection send a burst of 20 requests, then 10 a second; a client
//! held back longer than that for 10 s is disconnected as a flooder (PROTOCOL.md, section
//! 8.1). A confirmed paste of a hundred lines or a long backlog after a reconnect would be
//! exactly that, so the client paces itself at a burst of [`BURST`], then [`RATE`] a second:
//! the server's bucket never runs dry, and the frames beyond the budget wait here, in
//! order, instead of in the server. A server run with lower limits says so in its welcome
//! (`Welcome4.limits`), and the client then keeps below those ([`budget`]).
//!
//! [`Outbox`] is pure: time is passed in, so that which frame may go when is tested without
//! waiting. The session asks it for the next moment something may go and sleeps until
//! then only while something waits. The bucket is the server's own ([`TokenBucket`]), with
//! the client's budget.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use shared::rate::TokenBucket;
use shared::{ClientMsg, Limits};
use tokio::time::Instant;

/// Frames the client sends at once before it paces itself (the server allows 20).
pub const BURST: u32 = 15;
/// Frames a second after the burst (the server allows 10).
pub const RATE: u32 = 8;

/// The client's rate and burst under a server whose `limits` are these: [`RATE`] and
/// [`BURST`], or, where the server allows less, four fifths of its rate and three quarters
/// of its burst (at least 1 of each), the same margin as under the default limits. A rate
/// of 0 is a server without a limit, under which the client keeps its own pace anyway.
pub fn budget(limits: &Limits) -> (u32, u32) {
    if limits.msg_rate == 0 {
        return (RATE, BURST);
    }
    let share = |n: u32, num: u64, den: u64| {
        u32::try_from(u64::from(n) * num / den).map_or(u32::MAX, |n| n.max(1))
    };
    (
        share(limits.msg_rate, 4, 5).min(RATE),
        share(limits.msg_burst, 3, 4).min(BURST),
    )
}

/// Whether the server counts `msg` against the connection's request rate: the server's
/// own rule ([`shared::rate::counts`]), for every frame after the handshake's hello.
pub fn counts(msg: &ClientMsg) -> bool {
    !matches!(msg, ClientMsg::Hello { .. } | ClientMsg::Hello4 { .. }) && shared::rate::counts(msg)
}

/// The client's token bucket: `burst` tokens when full, `rate` more a second. A frame
/// goes only with a whole token; none is ever owed.
#[derive(Debug, Clone)]
pub struct Pacer(TokenBucket<Instant>);

impl Pacer {
    /// A full bucket of the client's budget ([`BURST`], [`RATE`]).
    pub fn new(now: Instant) -> Self {
        Self::with(RATE, BURST, now)
    }

    /// A full bucket of the client's budget under a server with these limits ([`budget`]).
    pub fn for_server(limits: &Limits, now: Instant) -> Self {
        let (rate, burst) = budget(limits);
        Self::with(rate, burst, now)
    }

    /// A full bucket of `burst` tokens that gains `rate` a second (both at least 1).
    pub fn with(rate: u32, burst: u32, now: Instant) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        Self(TokenBucket::with_rate(rate, burst, now))
    }

    /// When a token is there: at once if one is held, else when the next one has grown.
    pub fn next_token(&self) -> Instant {
        self.0.next_token()
    }

    /// Takes a token at `now` if there is one; otherwise `Err` with when there will be.
    pub fn take(&mut self, now: Instant) -> Result<(), Instant> {
        self.0.try_take(now)
    }
}

/// The frames of one connection that wait for their turn, and the bucket that gives it.
#[derive(Debug)]
pub struct Outbox {
    pacer: Pacer,
    waiting: VecDeque<ClientMsg>,
}

impl Outbox {
    /// An empty outbox with a full bucket of the client's budget.
    pub fn new(now: Instant) -> Self {
        Self::with_pacer(Pacer::new(now))
    }

    pub fn with_pacer(pacer: Pacer) -> Self {
        Self {
            pacer,
            waiting: VecDeque::new(),
        }
    }

    /// Offers a frame at `now`: returns it if it may go at once, or keeps it behind the
    /// frames already waiting. A frame the server does not count never waits.
    pub fn push(&mut self, msg: ClientMsg, now: Instant) -> Option<ClientMsg> {
        if !counts(&msg) {
            return Some(msg);
        }
        if self.waiting.is_empty() && self.pacer.take(now).is_ok() {
            return Some(msg);
        }
        self.waiting.push_back(msg);
        None
    }

    /// The waiting frames whose turn has come by `now`, in order.
    pub fn release(&mut self, now: Instant) -> Vec<ClientMsg> {
        let mut out = Vec::new();
        while !self.waiting.is_empty() && self.pacer.take(now).is_ok() {
            out.extend(self.waiting.pop_front());
        }
        out
    }

    /// When the next waiting frame may go; `None` when nothing waits.
    pub fn next_at(&self) -> Option<Instant> {
        if self.waiting.is_empty() {
            return None;
        }
        Some(self.pacer.next_token())
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Empties the outbox, oldest first (the connection is over).
    pub fn drain(&mut self) -> Vec<ClientMsg> {
        self.waiting.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn chat(n: usize) -> ClientMsg {
        ClientMsg::Chat {
            text: format!("line {n}"),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_goes_at_once_then_one_every_125_ms() {
        let t0 = Instant::now();
        let mut out = Outbox::new(t0);
        let sent: Vec<_> = (0..40).filter_map(|n| out.push(chat(n), t0)).collect();
        assert_eq!(sent, (0..15).map(chat).collect::<Vec<_>>());
        assert_eq!(out.len(), 25);
        assert_eq!(out.next_at(), Some(t0 + ms(125)));
        assert!(out.release(t0 + ms(124)).is_empty());
        assert_eq!(out.release(t0 + ms(125)), vec![chat(15)]);
        assert_eq!(out.next_at(), Some(t0 + ms(250)));
        // A late wake-up lets through what grew meanwhile, no more.
        assert_eq!(
            out.release(t0 + ms(640)),
            vec![chat(16), chat(17), chat(18), chat(19)]
        );
        assert_eq!(out.next_at(), Some(t0 + ms(750)));
        assert_eq!(out.release(t0 + ms(750)), vec![chat(20)]);
    }

    #[test]
    fn order_is_kept_even_when_a_token_is_free() {
        let t0 = Instant::now();
        let mut out = Outbox::with_pacer(Pacer::with(8, 1, t0));
        assert_eq!(out.push(chat(0), t0), Some(chat(0)));
        assert_eq!(out.push(chat(1), t0), None);
        // A token has grown, but line 1 waits: line 2 may not overtake it.
        assert_eq!(out.push(chat(2), t0 + ms(200)), None);
        assert_eq!(out.release(t0 + ms(200)), vec![chat(1)]);
        // The bucket (of one) was full from 125 ms on; the next token grows from 200 ms.
        assert_eq!(out.next_at(), Some(t0 + ms(325)));
        assert!(out.release(t0 + ms(324)).is_empty());
        assert_eq!(out.release(t0 + ms(325)), vec![chat(2)]);
        assert!(out.is_empty());
        assert_eq!(out.next_at(), None);
    }

    #[test]
    fn frames_the_server_does_not_count_never_wait() {
        let t0 = Instant::now();
        let mut out = Outbox::with_pacer(Pacer::with(8, 1, t0));
        out.push(chat(0), t0);
        out.push(chat(1), t0);
        for msg in [
            ClientMsg::Pong { token: 7 },
            ClientMsg::Quit {
                reason: "bye".into(),
            },
            ClientMsg::UploadChunk {
                upload_id: 1,
                offset: 0,
                data: vec![1, 2, 3],
            },
            ClientMsg::UploadFinish {
                upload_id: 1,
                sha256: vec![0; 32],
            },
        ] {
            assert_eq!(out.push(msg.clone(), t0), Some(msg));
        }
        for msg in [
            ClientMsg::Who,
            ClientMsg::Ping { token: 1 },
            ClientMsg::ListFiles,
        ] {
            assert_eq!(out.push(msg, t0), None, "counted frames queue up");
        }
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn an_idle_bucket_refills_to_its_burst_only() {
        let t0 = Instant::now();
        let mut out = Outbox::new(t0);
        for n in 0..15 {
            assert!(out.push(chat(n), t0).is_some());
        }
        let later = t0 + Duration::from_secs(3600);
        let sent = (0..30)
            .filter(|&n| out.push(chat(n), later).is_some())
            .count();
        assert_eq!(sent, 15);
    }

    /// When each of 300 lines offered at once goes out through `out`, woken exactly on
    /// time.
    fn send_times(mut out: Outbox, t0: Instant) -> Vec<Instant> {
        let mut sent_at = Vec::new();
        for n in 0..300 {
            if out.push(chat(n), t0).is_some() {
                sent_at.push(t0);
            }
        }
        while let Some(at) = out.next_at() {
            for _ in out.release(at) {
                sent_at.push(at);
            }
        }
        sent_at
    }

    fn limits(msg_rate: u32, msg_burst: u32) -> Limits {
        Limits {
            max_frame: 1 << 20,
            max_text: 4096,
            member_page: 1000,
            msg_rate,
            msg_burst,
            max_file_size: 4 << 30,
        }
    }

    /// Whatever the client sends through the outbox, the server's bucket (burst 20, 10 a
    /// second) never runs dry, so the server never holds the client back.
    #[test]
    fn the_servers_bucket_never_runs_dry() {
        let t0 = Instant::now();
        let sent_at = send_times(Outbox::new(t0), t0);
        assert_eq!(sent_at.len(), 300);
        // 15 at once, then 285 at 8 a second.
        assert_eq!(*sent_at.last().unwrap() - t0, ms(125) * 285);
        // The server's bucket (burst 20, 10 a second) never holds a frame back, and would
        // not even with 4 tokens fewer.
        for burst in [20, 16] {
            let mut server = TokenBucket::new(10, burst, t0).unwrap();
            for &at in &sent_at {
                let wait = server.take(at);
                assert!(wait.is_zero(), "held back {wait:?} at {:?}", at - t0);
            }
        }
    }

    /// The default limits leave the client its own pace; lower ones bring it below them.
    #[test]
    fn the_budget_follows_a_server_that_allows_less() {
        assert_eq!(budget(&limits(10, 20)), (RATE, BURST));
        assert_eq!(budget(&limits(100, 200)), (RATE, BURST));
        assert_eq!(budget(&limits(0, 0)), (RATE, BURST), "no limit");
        assert_eq!(budget(&limits(2, 20)), (1, 15));
        assert_eq!(budget(&limits(5, 4)), (4, 3));
        assert_eq!(budget(&limits(1, 1)), (1, 1));
        assert_eq!(budget(&limits(u32::MAX, u32::MAX)), (RATE, BURST));
    }

    /// Under a server with lower limits (which would have held a client at the default
    /// pace back, and after 10 s of that cut it off as a flooder) the client's pace still
    /// never makes the server's bucket run dry.
    #[test]
    fn the_servers_bucket_never_runs_dry_under_lower_limits() {
        let t0 = Instant::now();
        for (rate, burst) in [(2, 20), (1, 1), (5, 4), (3, 10), (9, 2)] {
            let server = limits(rate, burst);
            let sent_at = send_times(Outbox::with_pacer(Pacer::for_server(&server, t0)), t0);
            assert_eq!(sent_at.len(), 300);
            let mut bucket = TokenBucket::new(rate, burst, t0).unwrap();
            for &at in &sent_at {
                let wait = bucket.take(at);
                assert!(wait.is_zero(), "{rate}/{burst}: held back {wait:?}");
            }
        }
        // The default pace would not do.
        let sent_at = send_times(Outbox::new(t0), t0);
        let mut bucket = TokenBucket::new(2, 20, t0).unwrap();
        assert!(sent_at.iter().any(|&at| !bucket.take(at).is_zero()));
    }
}
