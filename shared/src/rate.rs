//! The request rate: what counts against it, and the token bucket that measures it.
//!
//! The server gives every connection a bucket of `burst` tokens that gains `rate` of them
//! a second; each counted request ([`counts`]) takes one. A request that finds the bucket
//! empty is not refused: the server stops reading the connection until the token it took
//! has grown ([`TokenBucket::take`]), so a client that sends too fast is slowed by TCP's
//! own backpressure and loses nothing. How long a client has been held back without a
//! break tells a flooder from a person who pasted a few lines; a break is a pause long
//! enough for the bucket to fill up halfway again ([`TokenBucket::rested`]), so that a
//! flooder's short hiccups do not count as one.
//!
//! The client paces itself with the same bucket, a little below the server's budget: it
//! sends a counted frame only when its own bucket has a token ([`TokenBucket::try_take`]),
//! and keeps the rest in order until [`TokenBucket::next_token`].
//!
//! The bucket is exact integer arithmetic on time: it remembers when it will be full
//! again, not a fractional count of tokens, so a frame due at 125 ms goes at 125 ms, not
//! a rounding error later. Time is passed in, as any instant type (`std::time::Instant`,
//! or tokio's, which a paused test clock drives), so it is tested without waiting.

use std::num::NonZeroU32;
use std::ops::{Add, Sub};
use std::time::Duration;

use crate::protocol::{ClientMsg, RoomRequest};

/// Whether `msg` counts against the request rate once a connection is logged in. File
/// chunks and the finish of an upload are bounded by the upload itself (its size, TCP,
/// the disk); a `Pong` answers the server and a `Quit` ends the connection, so none of
/// them can be used to flood a room. (The handshake's `Hello` comes before the bucket; a
/// second `Hello` counts.) A request sent with an id counts as the message it wraps, and
/// a request about one room ([`ClientMsg::InRoom`]) as the request it carries: one token,
/// whichever room it names.
pub fn counts(msg: &ClientMsg) -> bool {
    match msg {
        ClientMsg::Request { msg, .. } => counts(msg),
        ClientMsg::InRoom { msg, .. } => room_counts(msg),
        ClientMsg::UploadChunk { .. }
        | ClientMsg::UploadFinish { .. }
        | ClientMsg::Pong { .. }
        | ClientMsg::Quit { .. } => false,
        _ => true,
    }
}

/// Whether a request about one room counts: every one does, as the room-less request of
/// the same name (`Chat`, `Who`, `UploadStart`...) does; a `Part` or a `SetTopic` is a
/// request like a `Join`.
fn room_counts(msg: &RoomRequest) -> bool {
    match msg {
        RoomRequest::Chat { .. }
        | RoomRequest::Action { .. }
        | RoomRequest::Who
        | RoomRequest::WhoPage { .. }
        | RoomRequest::UploadStart { .. }
        | RoomRequest::ListFiles
        | RoomRequest::Part { .. }
        | RoomRequest::SetTopic { .. } => true,
    }
}

/// What the bucket needs of a point in time: both `std::time::Instant` and
/// `tokio::time::Instant` are one.
pub trait Moment: Copy + Ord + Add<Duration, Output = Self> + Sub<Output = Duration> {}

impl<T: Copy + Ord + Add<Duration, Output = T> + Sub<Output = Duration>> Moment for T {}

/// A token bucket: `burst` tokens when full, one more every `1 / rate` seconds.
#[derive(Debug, Clone)]
pub struct TokenBucket<I> {
    /// Time one token takes to grow.
    every: Duration,
    burst: u32,
    /// When the bucket is full again if nothing more is taken; the tokens missing at a
    /// time `t` before it are `(full_at - t) / every`. Past `burst` tokens missing, the
    /// bucket is in debt: a request took a token that has not grown yet.
    full_at: I,
    /// The latest time the bucket was told of.
    last: I,
}

impl<I: Moment> TokenBucket<I> {
    /// A full bucket; `None` if `rate` is 0, which means no limit.
    pub fn new(rate: u32, burst: u32, now: I) -> Option<Self> {
        NonZeroU32::new(rate).map(|rate| Self::with_rate(rate, burst, now))
    }

    /// A full bucket of `burst` tokens (at least 1) that gains `rate` a second.
    pub fn with_rate(rate: NonZeroU32, burst: u32, now: I) -> Self {
        Self {
            every: Duration::from_secs(1) / rate.get(),
            burst: burst.max(1),
            full_at: now,
            last: now,
        }
    }

    /// Takes a token for a request arriving at `now`, and returns how long the request must
    /// wait for it: zero if the bucket held one. The wait is at most one token's time
    /// (`1 / rate`), provided the caller waits it out before the next request.
    pub fn take(&mut self, now: I) -> Duration {
        let now = self.tell(now);
        self.full_at = self.full_at.max(now) + self.every;
        self.missing(now).saturating_sub(self.capacity())
    }

    /// Takes a token at `now` if the bucket holds one; otherwise takes nothing and says
    /// when it will hold one ([`TokenBucket::next_token`]).
    pub fn try_take(&mut self, now: I) -> Result<(), I> {
        let now = self.tell(now);
        if self.missing(now) + self.every > self.capacity() {
            return Err(self.next_token());
        }
        self.full_at = self.full_at.max(now) + self.every;
        Ok(())
    }

    /// When the bucket holds a token: the latest time it was told of if it holds one then,
    /// else when the next one has grown.
    pub fn next_token(&self) -> I {
        let short = (self.missing(self.last) + self.every).saturating_sub(self.capacity());
        self.last + short
    }

    /// Whether the bucket held at least half its burst at the last request: the client has
    /// paused long enough to count as no longer flooding.
    pub fn rested(&self) -> bool {
        // missing <= burst / 2 + 1 tokens, in whole nanoseconds: 2 * missing <= (burst + 2) * every.
        self.missing(self.last) * 2 <= self.every * self.burst.saturating_add(2)
    }

    /// Time for the tokens missing at `at` to grow back.
    fn missing(&self, at: I) -> Duration {
        if self.full_at > at {
            self.full_at - at
        } else {
            Duration::ZERO
        }
    }

    /// Time for a whole bucket to grow.
    fn capacity(&self) -> Duration {
        self.every * self.burst
    }

    /// Moves the bucket's clock to `now`; a `now` before the latest time seen counts as
    /// that time.
    fn tell(&mut self, now: I) -> I {
        self.last = self.last.max(now);
        self.last
    }
}

#[cfg(test)]
mod tests;
