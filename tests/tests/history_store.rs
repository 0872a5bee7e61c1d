//! The history store on a disk that really fills up (a small tmpfs, mounted when the tests
//! run as root; see `tests::probe::small_disk`): storing fails, chat goes on, the stretch
//! that could not be stored is told to readers, and storing resumes once space is back.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use chat_server::history::{History, HistorySettings};
use shared::{Anchor, ChatKind, RoomEvent, SeqRange, ServerMsg, Stamped};
use tests::probe::small_disk;

/// A message of about 3 KB, so that a few hundred fill the small disk.
fn message(id: u64) -> Stamped {
    Stamped {
        id,
        seq: id,
        time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
        event: RoomEvent::Said {
            from: "ann".into(),
            kind: ChatKind::Say,
            text: format!("{id} {}", "filler words ".repeat(230)),
        },
    }
}

/// Every message of the room and every lost range, paging from the newest.
async fn everything(h: &History) -> (BTreeSet<u64>, Vec<SeqRange>) {
    let mut seqs = BTreeSet::new();
    let mut lost = Vec::new();
    let mut anchor = Anchor::Latest;
    for _ in 0..10_000 {
        let ServerMsg::HistoryPage {
            messages,
            more_before,
            lost: l,
            ..
        } = h.page("lobby", "lobby", anchor, 200, true).await.unwrap()
        else {
            panic!("a page");
        };
        seqs.extend(messages.iter().map(|m| m.seq));
        lost.extend(l);
        match messages.first() {
            Some(first) if more_before => anchor = Anchor::Before(first.seq),
            _ => break,
        }
    }
    (seqs, lost)
}

#[tokio::test]
async fn a_full_disk_loses_a_stretch_says_which_and_storing_resumes() {
    let name = "a_full_disk_loses_a_stretch_says_which_and_storing_resumes";
    let Some(disk) = small_disk(name, "3m") else {
        return;
    };
    let path = disk.path().join("history.sqlite3");
    let (h, _) = History::open(HistorySettings::new(&path)).unwrap();
    let mut id = 0;
    let mut say = async |h: &History| {
        id += 1;
        let permit = h.admit().await;
        h.record("lobby", "lobby", &message(id), Some(permit));
        id
    };
    for _ in 0..50 {
        say(&h).await;
    }
    // Stored before the disk fills (a page waits for the writer).
    h.page("lobby", "lobby", Anchor::Latest, 1, true)
        .await
        .unwrap();
    // Fill what is left of the disk.
    let ballast_path = disk.path().join("ballast");
    let mut ballast = std::fs::File::create(&ballast_path).unwrap();
    let chunk = vec![7u8; 16 * 1024];
    while ballast
        .write_all(&chunk)
        .and_then(|()| ballast.sync_all())
        .is_ok()
    {}
    drop(ballast);
    // Talk on until storing fails: the answers then tell the lost stretch, at once
    // (the writer records the failed batch as lost rather than holding the readers).
    let start = Instant::now();
    let mut lost_seen = Vec::new();
    while lost_seen.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "storing never failed"
        );
        for _ in 0..20 {
            say(&h).await;
        }
        let ServerMsg::HistoryPage { lost, .. } = h
            .page("lobby", "lobby", Anchor::Latest, 1, true)
            .await
            .unwrap()
        else {
            panic!("a page");
        };
        lost_seen = lost;
    }
    let failed_at = lost_seen[0].from;
    // Space comes back; storing resumes (after the writer's backoff) while chat goes on.
    std::fs::remove_file(&ballast_path).unwrap();
    let start = Instant::now();
    let resumed = loop {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "storing never resumed"
        );
        let last = say(&h).await;
        let ServerMsg::HistoryPage { messages, .. } = h
            .page("lobby", "lobby", Anchor::Latest, 1, true)
            .await
            .unwrap()
        else {
            panic!("a page");
        };
        if messages.first().is_some_and(|m| m.seq == last) {
            break last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for _ in 0..10 {
        say(&h).await;
    }
    // Every message is either stored or inside a lost range, none both.
    let (stored, lost) = everything(&h).await;
    let in_lost = |seq: u64| lost.iter().any(|r| (r.from..=r.to).contains(&seq));
    for seq in 1..=id {
        assert!(
            stored.contains(&seq) != in_lost(seq),
            "message {seq}: {lost:?}"
        );
    }
    assert!(in_lost(failed_at) && stored.contains(&resumed));
    assert!((1..=50).all(|s| stored.contains(&s)));
    h.close().await;

    // The stretch was written to the file: a restart still tells it.
    let (h, _) = History::open(HistorySettings::new(&path)).unwrap();
    let (stored_again, lost_again) = everything(&h).await;
    assert_eq!((stored_again, lost_again), (stored, lost));
    h.close().await;
}
