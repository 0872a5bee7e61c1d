use std::time::Instant;

use super::*;

fn bucket(rate: u32, burst: u32, now: Instant) -> TokenBucket<Instant> {
    TokenBucket::new(rate, burst, now).expect("a limited bucket")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
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
    assert_eq!(b.take(start), ms(100));
    assert_eq!(b.take(start + ms(100)), ms(100));
}

#[test]
fn a_client_within_the_rate_never_waits() {
    let start = Instant::now();
    let mut b = bucket(10, 20, start);
    for i in 0..1000 {
        let now = start + ms(100 * i);
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
        assert!(wait <= ms(250), "{wait:?}");
        now += wait;
    }
    // 100 requests at 4 a second, the first free: 24.75 s to the nanosecond.
    assert_eq!(now - start, ms(24_750));
}

#[test]
fn a_short_pause_is_not_a_rest() {
    let start = Instant::now();
    let mut b = bucket(10, 20, start);
    for _ in 0..25 {
        b.take(start);
    }
    // 600 ms give back 6 tokens: the next request need not wait, but the bucket is far
    // from half full.
    let now = start + ms(600);
    assert_eq!(b.take(now), Duration::ZERO);
    assert!(!b.rested());
    let now = now + Duration::from_secs(2);
    assert_eq!(b.take(now), Duration::ZERO);
    assert!(b.rested());
}

#[test]
fn try_take_waits_for_a_whole_token_and_keeps_what_has_grown() {
    let t0 = Instant::now();
    let mut b = TokenBucket::with_rate(NonZeroU32::new(8).unwrap(), 1, t0);
    assert_eq!(b.try_take(t0), Ok(()));
    assert_eq!(b.try_take(t0), Err(t0 + ms(125)));
    assert_eq!(b.next_token(), t0 + ms(125));
    assert_eq!(b.try_take(t0 + ms(124)), Err(t0 + ms(125)));
    // Late by 75 ms: the next token grows from 200 ms, a full bucket of one holds no more.
    assert_eq!(b.try_take(t0 + ms(200)), Ok(()));
    assert_eq!(b.next_token(), t0 + ms(325));
    // A refusal takes nothing.
    for _ in 0..10 {
        assert!(b.try_take(t0 + ms(300)).is_err());
    }
    assert_eq!(b.try_take(t0 + ms(325)), Ok(()));
}

#[test]
fn a_held_token_is_there_at_once() {
    let t0 = Instant::now();
    let mut b = bucket(8, 15, t0);
    assert_eq!(b.next_token(), t0);
    for _ in 0..15 {
        assert_eq!(b.try_take(t0 + ms(10)), Ok(()));
    }
    assert_eq!(b.next_token(), t0 + ms(135));
}

#[test]
fn a_clock_that_goes_back_counts_as_standing_still() {
    let t0 = Instant::now() + Duration::from_secs(10);
    let mut b = bucket(10, 1, t0);
    assert_eq!(b.take(t0), Duration::ZERO);
    assert_eq!(b.take(t0 - Duration::from_secs(5)), ms(100));
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
    assert!(!counts(&ClientMsg::UploadFinish {
        upload_id: 1,
        sha256: vec![0; 32],
    }));
    // A request with an id counts as what it wraps.
    assert!(counts(&ClientMsg::Who.with_id(1)));
    assert!(!counts(&ClientMsg::Pong { token: 1 }.with_id(2)));
    // A request about one room counts once, as the request it carries.
    let in_room = |msg| ClientMsg::InRoom {
        room: "lobby".into(),
        msg,
    };
    assert!(counts(&in_room(RoomRequest::Chat { text: "hi".into() })));
    assert!(counts(&in_room(RoomRequest::Who).with_id(3)));
    assert!(counts(&in_room(RoomRequest::SetTopic {
        text: String::new()
    })));
}
