//! When the session pings the server, and when it gives a silent connection up.
//!
//! A connection can die without a word (a frozen link, a laptop lid closed, a Wi-Fi out of
//! reach): nothing arrives and nothing fails. Idle, the client pings after
//! [`KEEPALIVE_IDLE`] of silence and gives up [`KEEPALIVE_TIMEOUT`] later. But a line the
//! user sent is waiting for the server's answer, which a live server gives within
//! milliseconds: when one stays unanswered for [`ANSWER_WAIT`], the client pings at once,
//! and gives up when nothing at all arrives within [`ANSWER_TIMEOUT`]. A line typed into a
//! dead link therefore has the link noticed within [`ANSWER_WAIT`] + [`ANSWER_TIMEOUT`]
//! (10 s), and the line is sent again after the reconnect ([`crate::unanswered`]).

use std::time::Duration;

use tokio::time::Instant;

/// After this long without a frame from the server, the client pings it...
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// ...and gives the connection up when nothing arrives within this.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(30);
/// A line of the user's unanswered this long makes the client ping the server (at most
/// once per this while the link is alive)...
pub const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// ...and the connection is given up when nothing arrives within this after the ping.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What the keepalive does when its deadline comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    Ping,
    /// Nothing arrived for this long: the connection is dead.
    GiveUp(Duration),
}

/// The keepalive of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Keepalive {
    /// When the last frame arrived (or the connection began).
    heard: Instant,
    /// When the ping that is still unanswered was sent: no frame since.
    probe: Option<Instant>,
    /// When the last ping was sent, so that a live server leaving a line unanswered is not
    /// pinged at every frame.
    last_ping: Option<Instant>,
}

impl Keepalive {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            heard: now,
            probe: None,
            last_ping: None,
        }
    }

    /// A frame arrived: the link is alive.
    pub(crate) fn heard(&mut self, now: Instant) {
        self.heard = now;
        self.probe = None;
    }

    /// When to act next, given when the oldest line still awaiting its answer was sent.
    pub(crate) fn deadline(&self, awaiting_since: Option<Instant>) -> Instant {
        if let Some(pinged) = self.probe {
            let wait = if awaiting_since.is_some() {
                ANSWER_TIMEOUT
            } else {
                KEEPALIVE_TIMEOUT
            };
            return pinged + wait;
        }
        let idle = self.heard + KEEPALIVE_IDLE;
        match awaiting_since {
            Some(sent) => {
                let from = self.last_ping.map_or(sent, |p| p.max(sent));
                idle.min(from + ANSWER_WAIT)
            }
            None => idle,
        }
    }

    /// The deadline came, at `now`.
    pub(crate) fn due(&mut self, now: Instant) -> Due {
        if self.probe.is_some() {
            return Due::GiveUp(now.saturating_duration_since(self.heard));
        }
        self.probe = Some(now);
        self.last_ping = Some(now);
        Due::Ping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_it_pings_after_a_minute_and_gives_up_half_a_minute_later() {
        let t0 = Instant::now();
        let mut keepalive = Keepalive::new(t0);
        assert_eq!(keepalive.deadline(None), t0 + KEEPALIVE_IDLE);
        assert_eq!(keepalive.due(t0 + KEEPALIVE_IDLE), Due::Ping);
        let give_up = t0 + KEEPALIVE_IDLE + KEEPALIVE_TIMEOUT;
        assert_eq!(keepalive.deadline(None), give_up);
        assert_eq!(
            keepalive.due(give_up),
            Due::GiveUp(KEEPALIVE_IDLE + KEEPALIVE_TIMEOUT)
        );
    }

    #[test]
    fn an_unanswered_line_has_a_dead_link_noticed_within_ten_seconds() {
        let t0 = Instant::now();
        let mut keepalive = Keepalive::new(t0);
        let sent = t0 + Duration::from_secs(20);
        assert_eq!(keepalive.deadline(Some(sent)), sent + ANSWER_WAIT);
        assert_eq!(keepalive.due(sent + ANSWER_WAIT), Due::Ping);
        let give_up = keepalive.deadline(Some(sent));
        assert_eq!(give_up, sent + ANSWER_WAIT + ANSWER_TIMEOUT);
        assert!(give_up - sent <= Duration::from_secs(10));
        assert!(matches!(keepalive.due(give_up), Due::GiveUp(_)));
    }

    #[test]
    fn a_live_server_is_pinged_once_per_wait_not_at_every_frame() {
        let t0 = Instant::now();
        let mut keepalive = Keepalive::new(t0);
        let ping = t0 + ANSWER_WAIT;
        assert_eq!(keepalive.due(ping), Due::Ping);
        // Frames arrive (the pong, others' lines) while the line is still unanswered.
        keepalive.heard(ping + Duration::from_millis(10));
        assert_eq!(keepalive.deadline(Some(t0)), ping + ANSWER_WAIT);
        // Answered: back to the idle rhythm.
        let later = ping + Duration::from_secs(1);
        keepalive.heard(later);
        assert_eq!(keepalive.deadline(None), later + KEEPALIVE_IDLE);
    }
}
