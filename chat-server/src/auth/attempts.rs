//! How many password attempts each address may make: [`PER_MINUTE`] a minute, as a
//! burst of that many that then comes back one every `60 s / PER_MINUTE` (a token bucket
//! kept as the one time at which it is full again, so an address costs one entry).
//!
//! Every address counts for itself, IPv6 too: on a LAN every machine of a segment shares
//! its /64 (and every link-local address is in `fe80::/64`), so counting by network would
//! let one mistyping user, or one attacker, lock every IPv6 client out of the password.
//! A machine that makes many addresses gets 5 a minute from each, all in the log, and the
//! table bounds them: it holds at most [`MAX_ADDRESSES`]
//! addresses, so a flood of addresses cannot grow the server's memory; an address whose
//! bucket is full again is dropped from it, and while the table is full of addresses
//! still counting down, a new one waits too (the server cannot count it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Password attempts one address may make in a minute.
pub const PER_MINUTE: u32 = 5;

/// Most addresses counted at once.
pub const MAX_ADDRESSES: usize = 4096;

/// The attempts of each address, against [`PER_MINUTE`].
#[derive(Debug)]
pub(crate) struct Attempts {
    /// Time one attempt takes to come back.
    every: Duration,
    burst: u32,
    max: usize,
    /// When each address's bucket is full again; `None` stands for clients without an IP
    /// address (a Unix socket), counted together.
    full_at: HashMap<Option<IpAddr>, Instant>,
}

impl Default for Attempts {
    fn default() -> Self {
        Self::new(PER_MINUTE, Duration::from_secs(60), MAX_ADDRESSES)
    }
}

impl Attempts {
    /// `burst` attempts, coming back over `period`, for at most `max` addresses.
    pub(crate) fn new(burst: u32, period: Duration, max: usize) -> Self {
        let burst = burst.max(1);
        Self {
            every: period / burst,
            burst,
            max,
            full_at: HashMap::new(),
        }
    }

    /// Takes an attempt for `ip` at `now`; if it has none left, how long until it has.
    pub(crate) fn take(&mut self, ip: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let key = ip.map(counted_as);
        if !self.full_at.contains_key(&key) && self.full_at.len() >= self.max {
            self.full_at.retain(|_, full| *full > now);
            if self.full_at.len() >= self.max {
                return Err(self.every);
            }
        }
        let full = self.full_at.get(&key).copied().unwrap_or(now).max(now) + self.every;
        let ahead = full - now;
        let window = self.every * self.burst;
        if ahead > window {
            return Err(ahead - window);
        }
        self.full_at.insert(key, full);
        Ok(())
    }

    /// Gives back the attempt `ip` took at `now` (the password was right).
    pub(crate) fn give_back(&mut self, ip: Option<IpAddr>, now: Instant) {
        let key = ip.map(counted_as);
        if let Some(full) = self.full_at.get_mut(&key) {
            match full.checked_sub(self.every).filter(|back| *back > now) {
                Some(back) => *full = back,
                None => {
                    self.full_at.remove(&key);
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.full_at.len()
    }
}

/// The address an attempt counts against: itself, an IPv4 address seen through an IPv6
/// socket as the IPv4 address.
fn counted_as(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn five_a_minute_then_one_every_twelve_seconds() {
        let mut attempts = Attempts::default();
        let start = Instant::now();
        for _ in 0..PER_MINUTE {
            assert_eq!(attempts.take(ip("10.0.0.1"), start), Ok(()));
        }
        let wait = attempts.take(ip("10.0.0.1"), start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(12));
        // Another address is counted apart.
        assert_eq!(attempts.take(ip("10.0.0.2"), start), Ok(()));
        // Twelve seconds on, one more.
        let later = start + Duration::from_secs(12);
        assert_eq!(attempts.take(ip("10.0.0.1"), later), Ok(()));
        assert!(attempts.take(ip("10.0.0.1"), later).is_err());
        // A full minute's rest brings the whole burst back.
        let rested = later + MINUTE;
        for _ in 0..PER_MINUTE {
            assert_eq!(attempts.take(ip("10.0.0.1"), rested), Ok(()));
        }
    }

    #[test]
    fn a_right_password_gives_its_attempt_back() {
        let mut attempts = Attempts::default();
        let now = Instant::now();
        for _ in 0..20 {
            attempts.take(ip("10.0.0.1"), now).unwrap();
            attempts.give_back(ip("10.0.0.1"), now);
        }
        assert_eq!(attempts.len(), 0, "nothing left counting");
        for _ in 0..PER_MINUTE {
            attempts.take(ip("10.0.0.1"), now).unwrap();
        }
        assert!(attempts.take(ip("10.0.0.1"), now).is_err());
    }

    #[test]
    fn every_ipv6_address_counts_alone_and_ipv4_mapped_as_ipv4() {
        let mut attempts = Attempts::new(1, MINUTE, 100);
        let now = Instant::now();
        attempts.take(ip("2001:db8:1:2::1"), now).unwrap();
        assert!(attempts.take(ip("2001:db8:1:2::1"), now).is_err());
        // Another machine on the same LAN segment (the same /64) is not locked out.
        attempts.take(ip("2001:db8:1:2:ffff::9"), now).unwrap();
        attempts.take(ip("fe80::2"), now).unwrap();
        attempts.take(ip("192.0.2.7"), now).unwrap();
        assert!(attempts.take(ip("::ffff:192.0.2.7"), now).is_err());
        // Clients without an address share one count.
        attempts.take(None, now).unwrap();
        assert!(attempts.take(None, now).is_err());
    }

    #[test]
    fn the_table_is_bounded_and_forgets_what_is_full_again() {
        let mut attempts = Attempts::new(5, MINUTE, 3);
        let now = Instant::now();
        for n in 1..=3 {
            attempts.take(ip(&format!("10.0.0.{n}")), now).unwrap();
        }
        // Full of addresses still counting: a new one waits.
        assert!(attempts.take(ip("10.0.0.4"), now).is_err());
        assert_eq!(attempts.len(), 3);
        // Once their buckets are full again, they make room.
        let later = now + MINUTE;
        attempts.take(ip("10.0.0.4"), later).unwrap();
        assert_eq!(attempts.len(), 1);
    }
}
