//! The keepalive, for every logged-in client at once: one pass over the clients every so
//! often, instead of a timer per connection, so that an idle connection stays small.

use std::time::{Duration, Instant};

use shared::ServerMsg;
use tokio::time::{MissedTickBehavior, interval};

use super::Registry;
use crate::outbound::encode;

/// Shortest pause between two keepalive passes, however short the intervals are set.
const KEEPALIVE_MIN_PERIOD: Duration = Duration::from_millis(10);

impl Registry {
    /// Runs the keepalive ([`Registry::keep_alive`]) four times per ping interval, so that a
    /// silent client is pinged, and dropped, at most a quarter interval late. Never returns.
    pub(crate) async fn keep_alive_every(&self, ping_interval: Duration, idle_timeout: Duration) {
        let period = (ping_interval.min(idle_timeout) / 4).max(KEEPALIVE_MIN_PERIOD);
        let mut ticks = interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.keep_alive(ping_interval, idle_timeout);
        }
    }

    /// `at` in milliseconds since the registry was made: the monotonic clock of the
    /// keepalive, which connections stamp through
    /// [`Outbox::liveness`](crate::outbound::Outbox::liveness). (Not the wall clock of
    /// message stamps, [`now_ms`](crate::common::now_ms).)
    pub(crate) fn clock_ms(&self, at: Instant) -> u64 {
        millis(at.saturating_duration_since(self.epoch))
    }

    /// The keepalive, for every logged-in client at once: one that completed no frame for
    /// `ping_after` is pinged (once), one silent for `drop_after` is told to end (its
    /// connection says why and leaves). One pass over the clients every so often costs
    /// less than a timer per connection, and keeps every idle connection smaller.
    pub(crate) fn keep_alive(&self, ping_after: Duration, drop_after: Duration) {
        let now = self.clock_ms(Instant::now());
        let (ping_ms, drop_ms) = (millis(ping_after), millis(drop_after));
        self.with(|inner| {
            let mut pings = Vec::new();
            for (&id, client) in &inner.clients {
                let (heard, pinged) = client.outbox.liveness().last_heard();
                let silent = now.saturating_sub(heard);
                if silent >= drop_ms {
                    client.outbox.time_out();
                } else if silent >= ping_ms
                    && !pinged
                    && client.outbox.liveness().mark_pinged(heard)
                {
                    pings.push(id);
                }
            }
            for id in pings {
                inner.last_ping += 1;
                let ping = ServerMsg::Ping {
                    token: inner.last_ping,
                };
                inner.send(id, encode(&ping));
            }
        });
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::probe::login;

    #[tokio::test]
    async fn keepalive_pings_a_silent_client_once_then_times_it_out() {
        let reg = Registry::default();
        let mut quiet = login(&reg, "quiet", "lobby", 4096);
        quiet.drain();
        let hour = Duration::from_secs(3600);
        // Heard from at login: nothing is due yet.
        reg.keep_alive(hour, hour);
        assert!(quiet.drain().is_empty());
        // Silent for longer than the ping interval: one ping, however often the pass runs.
        std::thread::sleep(Duration::from_millis(5));
        reg.keep_alive(Duration::from_millis(1), hour);
        reg.keep_alive(Duration::from_millis(1), hour);
        let pings = quiet.drain();
        assert!(
            matches!(pings.as_slice(), [ServerMsg::Ping { .. }]),
            "{pings:?}"
        );
        assert!(!quiet.outbox.timed_out());
        // Heard from again: pinged again once it falls silent.
        quiet.outbox.liveness().heard(reg.clock_ms(Instant::now()));
        std::thread::sleep(Duration::from_millis(5));
        reg.keep_alive(Duration::from_millis(1), hour);
        assert!(matches!(quiet.drain().as_slice(), [ServerMsg::Ping { .. }]));
        // Silent for the idle timeout: told to end.
        reg.keep_alive(Duration::from_millis(1), Duration::from_millis(1));
        assert!(quiet.outbox.timed_out());
    }
}
