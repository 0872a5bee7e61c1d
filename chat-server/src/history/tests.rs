//! The store on real SQLite files in temporary directories.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use shared::names::fold;
use shared::{Anchor, ChatKind, FileInfo, Gap, RoomEvent, SeqRange, ServerMsg, Stamped};
use tempfile::TempDir;

use super::*;
use crate::common::now_ms;

fn settings(dir: &TempDir) -> HistorySettings {
    HistorySettings::new(dir.path().join("history.sqlite3"))
}

/// Stamps messages as the registry does (ids across rooms, sequence numbers per room,
/// a new room's counter opened at the last id) and records them.
struct Feed {
    history: History,
    last_id: u64,
    seqs: HashMap<String, u64>,
}

impl Feed {
    fn new(history: History, resume: Resume) -> Self {
        Self {
            history,
            last_id: resume.last_id,
            seqs: HashMap::new(),
        }
    }

    fn push(
        &mut self,
        room: &str,
        event: RoomEvent,
        time_ms: u64,
        permit: Option<Permit>,
    ) -> Stamped {
        self.last_id += 1;
        let seq = self.seqs.entry(room.to_owned()).or_insert(self.last_id - 1);
        *seq += 1;
        let msg = Stamped {
            id: self.last_id,
            seq: *seq,
            time_ms,
            event,
        };
        self.history
            .record(&fold(room), room.to_owned(), msg.clone(), permit);
        msg
    }

    async fn say(&mut self, room: &str, text: &str) -> Stamped {
        let permit = self.history.admit().await;
        self.push(room, said("ann", text), now_ms(), Some(permit))
    }

    fn join(&mut self, room: &str, nick: &str) -> Stamped {
        self.push(
            room,
            RoomEvent::Joined { nick: nick.into() },
            now_ms(),
            None,
        )
    }
}

fn said(from: &str, text: &str) -> RoomEvent {
    RoomEvent::Said {
        from: from.into(),
        kind: ChatKind::Say,
        text: text.into(),
    }
}

struct Page {
    seqs: Vec<u64>,
    more_before: bool,
    more_after: bool,
    lost: Vec<SeqRange>,
}

async fn page(h: &History, room: &str, anchor: Anchor, limit: u32, presence: bool) -> Page {
    match h
        .page(&fold(room), room, anchor, limit, presence)
        .await
        .unwrap()
    {
        ServerMsg::HistoryPage {
            room: r,
            messages,
            more_before,
            more_after,
            lost,
        } => {
            assert_eq!(r, room);
            let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "ascending: {seqs:?}");
            Page {
                seqs,
                more_before,
                more_after,
                lost,
            }
        }
        other => panic!("a page, not {other:?}"),
    }
}

/// Waits (bounded) until `f` holds.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} never happened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ----- opening -------------------------------------------------------------------------

#[tokio::test]
async fn garbage_is_refused_in_one_line_and_left_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&s.path, &garbage).unwrap();
    let err = History::open(s.clone()).unwrap_err();
    let line = err.to_string();
    assert_eq!(
        line,
        format!(
            "history database {} is not a database this server can use (file is not a database)",
            s.path.display()
        )
    );
    assert_eq!(std::fs::read(&s.path).unwrap(), garbage);
}

#[tokio::test]
async fn another_programs_database_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    {
        let db = rusqlite::Connection::open(&s.path).unwrap();
        db.execute_batch("CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos(name) VALUES ('cat');")
            .unwrap();
    }
    let before = std::fs::read(&s.path).unwrap();
    let err = History::open(s.clone()).unwrap_err();
    assert!(matches!(err, OpenError::NotOurs { .. }), "{err}");
    assert!(
        err.to_string().contains("another program's database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&s.path).unwrap(), before);
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, _) = History::open(s.clone()).unwrap();
    h.close().await;
    {
        let db = rusqlite::Connection::open(&s.path).unwrap();
        db.execute("UPDATE meta SET value = 99 WHERE key = 'schema'", [])
            .unwrap();
        db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let before = std::fs::read(&s.path).unwrap();
    let err = History::open(s.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "history database {} was written by a newer version of this server (schema 99; \
             this one knows up to {})",
            s.path.display(),
            schema::SCHEMA
        )
    );
    assert_eq!(std::fs::read(&s.path).unwrap(), before);
}

#[tokio::test]
async fn a_file_of_schema_1_is_brought_up_to_date_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.max_per_room = None;
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    let (mut talk, mut joins) = (Vec::new(), Vec::new());
    for i in 0..4 {
        joins.push(feed.join("lobby", &format!("n{i}")).seq);
        talk.push(feed.say("lobby", &format!("m{i}")).await.seq);
    }
    h.close().await;
    // Schema 1 was schema 2 without the index of presence, 2 was 3 without topics, and 3
    // was 4 without private messages.
    sabotage(
        &s.path,
        "DROP INDEX messages_presence; DROP TABLE topics; DROP TABLE private;
         UPDATE meta SET value = 1 WHERE key = 'schema';",
    );
    s.max_per_room = Some(2);
    let (h, _) = History::open(s.clone()).unwrap();
    eventually("retention", async || {
        page(&h, "lobby", Anchor::Latest, 100, true)
            .await
            .seqs
            .len()
            == 4
    })
    .await;
    let p = page(&h, "lobby", Anchor::Latest, 100, true).await;
    assert_eq!(p.seqs, [joins[2], talk[2], joins[3], talk[3]]);
    h.close().await;
    let db = rusqlite::Connection::open(&s.path).unwrap();
    let (schema, indexes): (i64, i64) = db
        .query_row(
            "SELECT (SELECT value FROM meta WHERE key = 'schema'),
                    (SELECT count(*) FROM sqlite_schema WHERE name = 'messages_presence')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((schema, indexes), (schema::SCHEMA, 1));
}

fn topic(text: &str, by: &str, time_ms: u64) -> Topic {
    Topic {
        text: text.into(),
        by: by.into(),
        time_ms,
    }
}

/// Topics are kept across a restart; a cleared one is gone, from memory at once and
/// from the file.
#[tokio::test]
async fn topics_survive_a_restart_and_a_cleared_one_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    feed.say("lobby", "a room with a message").await;
    h.set_topic("lobby", "Lobby", Some(topic("welcome", "ann", 1)));
    h.set_topic("lobby", "Lobby", Some(topic("welcome all", "bob", 2)));
    h.set_topic("quiet", "Quiet", Some(topic("shh", "ann", 3)));
    h.set_topic("gone", "gone", Some(topic("soon cleared", "ann", 4)));
    h.set_topic("gone", "gone", None);
    assert_eq!(h.topic("gone"), None);
    assert_eq!(h.topic("lobby"), Some(topic("welcome all", "bob", 2)));
    h.close().await;
    let (h, _) = History::open(s.clone()).unwrap();
    assert_eq!(h.topic("lobby"), Some(topic("welcome all", "bob", 2)));
    assert_eq!(h.topic("quiet"), Some(topic("shh", "ann", 3)));
    assert_eq!(h.topic("gone"), None);
    h.close().await;
    // Off, nothing is kept.
    let off = History::off();
    off.set_topic("lobby", "lobby", Some(topic("x", "ann", 1)));
    assert_eq!(off.topic("lobby"), None);
}

/// A file of schema 2 (before topics) opens, gains the table, keeps its messages and
/// then keeps topics across a restart.
#[tokio::test]
async fn a_file_of_schema_2_gains_the_topics() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    let said = feed.say("lobby", "before topics").await.seq;
    h.close().await;
    sabotage(
        &s.path,
        "DROP TABLE topics; DROP TABLE private; UPDATE meta SET value = 2 WHERE key = 'schema';",
    );
    let (h, _) = History::open(s.clone()).unwrap();
    assert_eq!(h.topic("lobby"), None);
    let p = page(&h, "lobby", Anchor::Latest, 100, false).await;
    assert_eq!(p.seqs, [said]);
    h.set_topic("lobby", "lobby", Some(topic("after", "ann", 5)));
    h.close().await;
    let (h, _) = History::open(s.clone()).unwrap();
    assert_eq!(h.topic("lobby"), Some(topic("after", "ann", 5)));
    h.close().await;
    let db = rusqlite::Connection::open(&s.path).unwrap();
    let (schema, rows): (i64, i64) = db
        .query_row(
            "SELECT (SELECT value FROM meta WHERE key = 'schema'), (SELECT count(*) FROM topics)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((schema, rows), (schema::SCHEMA, 1));
}

/// A history of 2,000 messages, stopped cleanly.
async fn two_thousand_messages(s: &HistorySettings) {
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    for i in 0..2000 {
        feed.say("lobby", &format!("message number {i} with some words"))
            .await;
    }
    h.close().await;
}

/// Scribbles over a few whole pages of the file's `messages` table, in its middle (not the
/// first nor the last, which opening reads); returns the file's bytes after.
fn damage_messages(path: &std::path::Path) -> Vec<u8> {
    let pages: Vec<usize> = {
        let db = rusqlite::Connection::open(path).unwrap();
        let mut stmt = db
            .prepare("SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' ORDER BY pageno")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert!(pages.len() > 10, "{} pages", pages.len());
    let mut bytes = std::fs::read(path).unwrap();
    let page = 4096;
    for p in [pages[3], pages[pages.len() / 2], pages[pages.len() - 3]] {
        // SQLite numbers pages from 1.
        for b in &mut bytes[(p - 1) * page..p * page] {
            *b = 0xA5;
        }
    }
    std::fs::write(path, &bytes).unwrap();
    bytes
}

#[tokio::test]
async fn a_damaged_file_after_a_crash_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    two_thousand_messages(&s).await;
    // As a crash leaves it: the clean-stop mark not set.
    sabotage(
        &s.path,
        "UPDATE meta SET value = 0 WHERE key = 'clean'; PRAGMA wal_checkpoint(TRUNCATE);",
    );
    let bytes = damage_messages(&s.path);
    let err = History::open(s.clone()).unwrap_err();
    let line = err.to_string();
    assert!(
        line.starts_with(&format!(
            "history database {} is not a database this server can use (it is damaged: ",
            s.path.display()
        )),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
    assert_eq!(std::fs::read(&s.path).unwrap(), bytes);
}

#[tokio::test]
async fn after_a_clean_stop_the_file_is_not_checked_whole_and_damage_shows_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.max_age = None;
    s.max_per_room = None;
    two_thousand_messages(&s).await;
    damage_messages(&s.path);
    // Opening does not read the whole file after a clean stop...
    let (h, resume) = History::open(s.clone()).unwrap();
    assert!(resume.clean);
    // ...and what meets the damage says so, in words.
    let mut anchor = Anchor::Latest;
    let error = loop {
        match h.page("lobby", "lobby", anchor, 200, true).await {
            Ok(ServerMsg::HistoryPage {
                messages,
                more_before: true,
                ..
            }) => anchor = Anchor::Before(messages[0].seq),
            Ok(_) => panic!("the whole history read without meeting the damage"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        error,
        HistoryError::Unreadable("database disk image is malformed".into())
    );
    h.close().await;
}

#[tokio::test]
async fn a_path_that_cannot_be_a_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let err = History::open(HistorySettings::new(dir.path())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "history database {} is not a database this server can use (it is a directory)",
            dir.path().display()
        )
    );
    let missing = dir.path().join("no/such/dir/history.sqlite3");
    let err = History::open(HistorySettings::new(&missing)).unwrap_err();
    let line = err.to_string();
    assert!(
        line.starts_with(&format!(
            "history database {} cannot be written (",
            missing.display()
        )),
        "{line}"
    );
}

// ----- ids ---------------------------------------------------------------------------

#[tokio::test]
async fn after_a_clean_stop_ids_go_on_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, resume) = History::open(s.clone()).unwrap();
    assert_eq!(
        resume,
        Resume {
            last_id: 0,
            last_file_id: 0,
            clean: true
        }
    );
    let mut feed = Feed::new(h.clone(), resume);
    for i in 0..10 {
        feed.say(if i % 2 == 0 { "lobby" } else { "Other" }, "hi")
            .await;
    }
    let file = FileInfo {
        id: 41,
        name: "a.txt".into(),
        size: 3,
        sha256: vec![1; 32],
        from: "ann".into(),
        time_ms: 5,
        room: "lobby".into(),
    };
    feed.push("lobby", RoomEvent::Shared { file }, now_ms(), None);
    // A private message took ids 12 and 13.
    h.ids_used(13);
    h.close().await;

    let (h, resume) = History::open(s.clone()).unwrap();
    assert_eq!(
        resume,
        Resume {
            last_id: 13,
            last_file_id: 41,
            clean: true
        }
    );
    let p = page(&h, "lobby", Anchor::Latest, 50, true).await;
    assert_eq!(p.seqs.len(), 6);
    h.close().await;
}

#[tokio::test]
async fn after_a_crash_ids_go_on_above_everything_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    feed.say("lobby", "one").await;
    // Far into the first block: a new reservation is asked for...
    let handed_out = ID_BLOCK / 2 + 1000;
    h.ids_used(handed_out);
    feed.last_id = handed_out;
    let last = feed.say("lobby", "two").await;
    // ...and stored with this message, which a page waits for.
    assert_eq!(
        page(&h, "lobby", Anchor::Latest, 10, false)
            .await
            .seqs
            .len(),
        2
    );
    // The crash: every handle dropped, no close. The writer stops without its mark.
    drop(feed);
    drop(h);
    let resume = reopen_when_free(&s).await;
    assert!(!resume.clean);
    assert!(resume.last_id > last.id, "{resume:?} vs {last:?}");
    assert!(resume.last_id >= handed_out + ID_BLOCK / 2, "{resume:?}");
}

/// Opens `s` again once the dropped writer has let go of it; returns where ids go on.
async fn reopen_when_free(s: &HistorySettings) -> Resume {
    let start = Instant::now();
    loop {
        match History::open(s.clone()) {
            Ok((h, resume)) => {
                h.close().await;
                return resume;
            }
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// The rows of the `rooms` table: key and name.
fn rooms_table(path: &std::path::Path) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut stmt = db
        .prepare("SELECT key, name FROM rooms ORDER BY key")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[tokio::test]
async fn the_file_spells_each_room_as_its_latest_message_does() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    // A read marker for a room with nothing stored: the room's row comes first, without
    // its spelling (a marker has none).
    h.mark_read("bob", "lobby", 3);
    h.catch_up("lobby", "Lobby", 0, "bob").await.unwrap();
    feed.say("Lobby", "hi").await;
    page(&h, "Lobby", Anchor::Latest, 1, true).await;
    assert_eq!(rooms_table(&s.path), [("lobby".into(), "Lobby".into())]);
    // The room emptied and came back spelt otherwise.
    feed.say("LOBBY", "hello again").await;
    page(&h, "LOBBY", Anchor::Latest, 1, true).await;
    assert_eq!(rooms_table(&s.path), [("lobby".into(), "LOBBY".into())]);
    h.close().await;
    // A marker after a restart leaves the spelling alone.
    let (h, _) = History::open(s.clone()).unwrap();
    h.mark_read("cy", "lobby", 4);
    h.catch_up("lobby", "LOBBY", 0, "cy").await.unwrap();
    h.close().await;
    assert_eq!(rooms_table(&s.path), [("lobby".into(), "LOBBY".into())]);
}

// ----- pages -------------------------------------------------------------------------

#[tokio::test]
async fn pages_are_ascending_with_exact_ends_with_and_without_presence() {
    let dir = tempfile::tempdir().unwrap();
    let (h, resume) = History::open(settings(&dir)).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    // seq 1: a join, 2..=21 talk with a join every fifth, and a join last.
    let mut talk = Vec::new();
    let mut all = Vec::new();
    all.push(feed.join("lobby", "ann").seq);
    for i in 0..20 {
        if i % 5 == 4 {
            all.push(feed.join("lobby", "bob").seq);
        }
        let m = feed.say("lobby", &format!("m{i}")).await;
        talk.push(m.seq);
        all.push(m.seq);
    }
    all.push(feed.join("lobby", "cy").seq);
    feed.say("elsewhere", "not here").await;

    let p = page(&h, "lobby", Anchor::Latest, 5, false).await;
    assert_eq!(p.seqs, talk[15..]);
    assert!(p.more_before);
    // The last message of the room is a join: without presence, nothing follows.
    assert!(!p.more_after);
    let p = page(&h, "lobby", Anchor::Latest, 5, true).await;
    assert_eq!(p.seqs, all[all.len() - 5..]);
    assert!(p.more_before && !p.more_after);

    let p = page(&h, "lobby", Anchor::Before(talk[0] + 1), 5, false).await;
    assert_eq!(p.seqs, [talk[0]]);
    // Before the first talk there is only a join.
    assert!(!p.more_before && p.more_after);
    let p = page(&h, "lobby", Anchor::Before(talk[0] + 1), 5, true).await;
    assert_eq!(p.seqs, all[..2]);
    assert!(!p.more_before && p.more_after);

    let p = page(&h, "lobby", Anchor::After(talk[17]), 5, false).await;
    assert_eq!(p.seqs, talk[18..]);
    assert!(p.more_before && !p.more_after);
    let p = page(&h, "lobby", Anchor::After(talk[17]), 2, false).await;
    assert_eq!(p.seqs, talk[18..]);
    assert!(
        p.more_before && !p.more_after,
        "exact even when the page is full"
    );

    let p = page(&h, "lobby", Anchor::Around(talk[10]), 5, false).await;
    assert_eq!(p.seqs, talk[8..13]);
    assert!(p.more_before && p.more_after);
    let p = page(&h, "lobby", Anchor::Around(talk[1]), 6, false).await;
    assert_eq!(
        p.seqs,
        talk[..6],
        "a short side gives its room to the other"
    );

    // Whole history, page by page backwards: every message once.
    let mut seen = Vec::new();
    let mut anchor = Anchor::Latest;
    loop {
        let p = page(&h, "lobby", anchor, 3, true).await;
        seen.splice(0..0, p.seqs.iter().copied());
        if !p.more_before {
            break;
        }
        anchor = Anchor::Before(p.seqs[0]);
    }
    assert_eq!(seen, all);

    // An empty page still tells the truth.
    let p = page(&h, "lobby", Anchor::After(*all.last().unwrap()), 5, true).await;
    assert!(p.seqs.is_empty() && p.more_before && !p.more_after);
    let p = page(&h, "lobby", Anchor::Latest, 0, true).await;
    assert!(p.seqs.is_empty() && p.more_before && !p.more_after);
    let p = page(&h, "nowhere", Anchor::Latest, 5, true).await;
    assert!(p.seqs.is_empty() && !p.more_before && !p.more_after);
    h.close().await;
}

#[tokio::test]
async fn a_page_of_long_messages_is_cut_to_fit_a_frame_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.page_cap = 1000;
    s.catch_up_cap = 1000;
    let (h, resume) = History::open(s).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    let text = "é".repeat(shared::limits::MAX_TEXT_BYTES / 2);
    let mut seqs = Vec::new();
    for _ in 0..400 {
        seqs.push(feed.say("lobby", &text).await.seq);
    }
    let msg = h
        .page("lobby", "lobby", Anchor::Latest, 1000, false)
        .await
        .unwrap();
    let frame = shared::encode_frame(&msg).unwrap();
    let wrapped = shared::wrap_reply(u32::MAX, &frame).unwrap();
    assert!(wrapped.len() <= shared::limits::MAX_FRAME_LEN);
    let ServerMsg::HistoryPage {
        messages,
        more_before,
        more_after,
        ..
    } = msg
    else {
        panic!()
    };
    assert!(
        messages.len() > 150 && messages.len() < 400,
        "{}",
        messages.len()
    );
    assert_eq!(
        messages.last().unwrap().seq,
        *seqs.last().unwrap(),
        "the newest stay"
    );
    assert!(more_before && !more_after);

    let msg = h
        .page("lobby", "lobby", Anchor::After(0), 1000, false)
        .await
        .unwrap();
    let ServerMsg::HistoryPage {
        messages,
        more_before,
        more_after,
        ..
    } = msg
    else {
        panic!()
    };
    assert_eq!(messages[0].seq, seqs[0], "the oldest stay");
    assert!(!more_before && more_after);

    // A catch-up cut the same way: the newest stay, the rest is the gap.
    let msg = h.catch_up("lobby", "lobby", seqs[0], "bob").await.unwrap();
    assert!(shared::encode_frame(&msg).is_ok());
    let ServerMsg::CaughtUp { messages, gap, .. } = msg else {
        panic!()
    };
    let gap = gap.expect("a gap");
    assert_eq!(gap.from, seqs[1]);
    assert_eq!(gap.to + 1, messages[0].seq);
    assert_eq!(gap.count as usize + messages.len(), 399);
    h.close().await;
}

// ----- catch-up ----------------------------------------------------------------------

#[tokio::test]
async fn catch_up_gives_the_newest_with_an_exact_gap_and_the_read_marker() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.backlog = 3;
    s.catch_up_cap = 5;
    let (h, resume) = History::open(s).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    feed.join("lobby", "first");
    let mut talk = Vec::new();
    for i in 0..12 {
        talk.push(feed.say("lobby", &format!("m{i}")).await.seq);
        feed.join("lobby", &format!("n{i}"));
    }
    let catch = async |after: u64| match h.catch_up("lobby", "lobby", after, "bob").await.unwrap() {
        ServerMsg::CaughtUp {
            messages,
            gap,
            more_before,
            read,
            lost,
            ..
        } => {
            assert!(lost.is_empty());
            (
                messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
                gap,
                more_before,
                read,
            )
        }
        other => panic!("{other:?}"),
    };
    // A first join: the backlog, no gap.
    let (seqs, gap, more_before, read) = catch(0).await;
    assert_eq!(seqs, talk[9..]);
    assert_eq!((gap, more_before, read), (None, true, 0));
    // Missed 3: all of them.
    let (seqs, gap, more_before, _) = catch(talk[8]).await;
    assert_eq!(seqs, talk[9..]);
    assert_eq!(gap, None);
    assert!(more_before);
    // Missed 10: the newest 5 and a gap of exactly 5 talk messages (joins not counted).
    let (seqs, gap, more_before, _) = catch(talk[1]).await;
    assert_eq!(seqs, talk[7..]);
    assert_eq!(
        gap,
        Some(Gap {
            from: talk[2],
            to: talk[6],
            count: 5
        })
    );
    assert!(more_before, "talk[0] and talk[1] are older than the gap");
    let (_, gap, more_before, _) = catch(talk[0] - 1).await;
    assert_eq!(gap.unwrap().count, 7);
    assert!(!more_before);
    // Nothing missed.
    let (seqs, gap, more_before, _) = catch(talk[11] + 1).await;
    assert!(seqs.is_empty() && gap.is_none() && more_before);

    // A catch-up right after the marks says them, with nothing stored in between.
    h.mark_read("bob", "lobby", talk[4]);
    h.mark_read("bob", "lobby", talk[2]);
    assert_eq!(catch(0).await.3, talk[4], "the highest mark stays");
    h.close().await;
}

#[tokio::test]
async fn a_backlog_of_none_still_says_there_is_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.backlog = 0;
    let (h, resume) = History::open(s).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    feed.join("lobby", "first");
    let said = feed.say("lobby", "hello").await.seq;
    let answer = h.catch_up("lobby", "lobby", 0, "bob").await.unwrap();
    let ServerMsg::CaughtUp {
        messages,
        gap,
        more_before,
        ..
    } = answer
    else {
        panic!("{answer:?}")
    };
    assert!(messages.is_empty() && gap.is_none());
    assert!(more_before, "message {said} is there to page to");
    h.close().await;
}

// ----- search ------------------------------------------------------------------------

async fn hits(
    h: &History,
    room: &str,
    words: &str,
    before: u64,
    limit: u32,
) -> (Vec<u64>, bool, bool) {
    match h
        .search(&fold(room), room, words, before, limit)
        .await
        .unwrap()
    {
        ServerMsg::SearchHits {
            hits,
            more,
            complete,
            ..
        } => (hits.iter().map(|m| m.seq).collect(), more, complete),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn search_takes_words_literally_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (h, resume) = History::open(settings(&dir)).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    let texts = [
        "rock AND roll",
        "say \"hello\" to NEAR(me)",
        "wild* card",
        "party 🎉 time",
        "東京 に 行きます",
        "日本語のテキスト",
        "Café crème",
        "roll again",
        "-minus col:umn ^caret",
    ];
    let mut seqs = Vec::new();
    for t in texts {
        seqs.push(feed.say("lobby", t).await.seq);
    }
    feed.say("elsewhere", "roll roll roll").await;
    let last = feed.say("lobby", "the end").await;
    eventually("indexing", async || {
        !hits(&h, "lobby", "end", 0, 10).await.0.is_empty()
    })
    .await;
    let _ = last;

    assert_eq!(
        hits(&h, "lobby", "roll", 0, 10).await,
        (vec![seqs[7], seqs[0]], false, true)
    );
    assert_eq!(hits(&h, "lobby", "AND", 0, 10).await.0, [seqs[0]]);
    assert_eq!(hits(&h, "lobby", "rock AND", 0, 10).await.0, [seqs[0]]);
    assert_eq!(hits(&h, "lobby", "OR", 0, 10).await.0, Vec::<u64>::new());
    assert_eq!(hits(&h, "lobby", "\"hello\"", 0, 10).await.0, [seqs[1]]);
    assert_eq!(hits(&h, "lobby", "\"", 0, 10).await.0, Vec::<u64>::new());
    assert_eq!(
        hits(&h, "lobby", "\"\"\"", 0, 10).await.0,
        Vec::<u64>::new()
    );
    assert_eq!(hits(&h, "lobby", "NEAR(me)", 0, 10).await.0, [seqs[1]]);
    assert_eq!(hits(&h, "lobby", "NEAR(", 0, 10).await.0, [seqs[1]]);
    assert_eq!(hits(&h, "lobby", "wild*", 0, 10).await.0, [seqs[2]]);
    assert_eq!(hits(&h, "lobby", "*", 0, 10).await.0, Vec::<u64>::new());
    assert_eq!(
        hits(&h, "lobby", "wi*", 0, 10).await.0,
        Vec::<u64>::new(),
        "no prefix syntax"
    );
    assert_eq!(hits(&h, "lobby", "🎉", 0, 10).await.0, [seqs[3]]);
    assert_eq!(hits(&h, "lobby", "東京", 0, 10).await.0, [seqs[4]]);
    // A run of CJK without spaces is one word: found whole, not by a part (documented).
    assert_eq!(
        hits(&h, "lobby", "日本語のテキスト", 0, 10).await.0,
        [seqs[5]]
    );
    assert_eq!(
        hits(&h, "lobby", "日本語", 0, 10).await.0,
        Vec::<u64>::new()
    );
    assert_eq!(hits(&h, "lobby", "cafe CREME", 0, 10).await.0, [seqs[6]]);
    assert_eq!(
        hits(&h, "lobby", "-minus col:umn ^caret", 0, 10).await.0,
        [seqs[8]]
    );
    assert_eq!(hits(&h, "lobby", "   ", 0, 10).await, (vec![], false, true));
    // Paging: newest first, `more`, then older than the last hit.
    assert_eq!(
        hits(&h, "lobby", "roll", 0, 1).await,
        (vec![seqs[7]], true, true)
    );
    assert_eq!(
        hits(&h, "lobby", "roll", seqs[7], 1).await,
        (vec![seqs[0]], false, true)
    );
    assert_eq!(
        hits(&h, "lobby", "roll", seqs[0], 1).await,
        (vec![], false, true)
    );
    h.close().await;
}

#[tokio::test]
async fn a_search_out_of_time_answers_what_it_found_as_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let (h, resume) = History::open(settings(&dir)).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    for i in 0..3000 {
        feed.say("lobby", &format!("common word {i}")).await;
    }
    eventually("indexing", async || {
        hits(&h, "lobby", "common", 0, 1).await.0.len() == 1
    })
    .await;
    eventually("indexing the last", async || {
        hits(&h, "lobby", "2999", 0, 1).await.0.len() == 1
    })
    .await;
    let inner = h.inner.as_ref().unwrap();
    let answer = inner
        .readers
        .with(|conn| {
            let room = read::Room::new(conn, &inner.lost, "lobby", "lobby")?;
            read::search(&room, "common", 0, 100, Duration::ZERO)
        })
        .unwrap();
    let ServerMsg::SearchHits {
        hits: found,
        more,
        complete,
        ..
    } = answer
    else {
        panic!()
    };
    assert!(!complete && more, "{} hits", found.len());
    assert!(found.len() < 100);
    // The same connection searches in full afterwards: the deadline is gone.
    let (all, more, complete) = hits(&h, "lobby", "common", 0, 100).await;
    assert_eq!((all.len(), more, complete), (100, true, true));
    h.close().await;
}

// ----- retention ---------------------------------------------------------------------

#[tokio::test]
async fn retention_deletes_old_and_surplus_messages_and_their_search_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.max_age = Some(Duration::from_secs(3600));
    s.max_per_room = Some(700);
    let path = s.path.clone();
    let (h, resume) = History::open(s).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    let old = now_ms() - 2 * 3600 * 1000;
    let mut old_seqs = Vec::new();
    for i in 0..1200 {
        let permit = h.admit().await;
        old_seqs.push(
            feed.push("lobby", said("ann", &format!("old {i}")), old, Some(permit))
                .seq,
        );
    }
    let mut new_seqs = Vec::new();
    for i in 0..1000 {
        new_seqs.push(feed.say("busy", &format!("new {i}")).await.seq);
    }
    for i in 0..5 {
        new_seqs.push(feed.say("quiet", &format!("new {i}")).await.seq);
    }
    eventually("retention", async || {
        let old = page(&h, "lobby", Anchor::Latest, 10, true).await;
        let busy = page(&h, "busy", Anchor::After(0), 1, true).await;
        old.seqs.is_empty() && busy.seqs == [new_seqs[300]]
    })
    .await;
    // The busy room keeps its newest 700; its page from the start says nothing is before.
    let p = page(&h, "busy", Anchor::After(0), 5, true).await;
    assert_eq!(p.seqs[0], new_seqs[300]);
    assert!(!p.more_before && p.more_after);
    let p = page(&h, "busy", Anchor::Before(new_seqs[302]), 5, true).await;
    assert_eq!(p.seqs, new_seqs[300..302]);
    assert!(!p.more_before, "the deleted head is not `more`");
    assert_eq!(
        page(&h, "quiet", Anchor::Latest, 10, true).await.seqs.len(),
        5
    );
    // Their search rows went too: the index holds the kept talk only.
    eventually("the index", async || {
        let db = rusqlite::Connection::open(&path).unwrap();
        let n: i64 = db
            .query_row("SELECT count(*) FROM fts", [], |r| r.get(0))
            .unwrap();
        n == 705
    })
    .await;
    assert_eq!(hits(&h, "lobby", "old", 0, 10).await.0, Vec::<u64>::new());
    // Chat goes on meanwhile.
    let m = feed.say("lobby", "still here").await;
    assert_eq!(
        page(&h, "lobby", Anchor::Latest, 10, true).await.seqs,
        [m.seq]
    );
    h.close().await;
}

/// Stores `old` messages two hours old and then `new` ones in `room` with retention off,
/// and closes: the next open applies retention to all of them at once.
async fn stored_with_retention_off(
    s: &HistorySettings,
    room: &str,
    old: u64,
    new: u64,
) -> Vec<u64> {
    let s = HistorySettings {
        max_age: None,
        max_per_room: None,
        ..s.clone()
    };
    let (h, resume) = History::open(s).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    let two_hours_ago = now_ms() - 2 * 3600 * 1000;
    let mut seqs = Vec::new();
    for i in 0..old + new {
        let permit = h.admit().await;
        let time = if i < old { two_hours_ago } else { now_ms() };
        let text = format!("message {i}");
        seqs.push(feed.push(room, said("ann", &text), time, Some(permit)).seq);
    }
    h.close().await;
    seqs
}

#[tokio::test]
async fn what_age_deleted_counts_against_the_cap_in_the_same_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    // 300 old and 500 new: over the cap of 600 until age takes the old ones, and then
    // under it, so that not one new message may go.
    let seqs = stored_with_retention_off(&s, "lobby", 300, 500).await;
    s.max_age = Some(Duration::from_secs(3600));
    s.max_per_room = Some(600);
    let (h, _) = History::open(s).unwrap();
    eventually("the old ones deleted", async || {
        page(&h, "lobby", Anchor::After(0), 1, true).await.seqs != [seqs[0]]
    })
    .await;
    let p = page(&h, "lobby", Anchor::After(0), 1, true).await;
    assert_eq!(p.seqs, [seqs[300]], "the oldest new message stays");
    h.close().await;
}

#[tokio::test]
async fn the_cap_counts_talk_and_keeps_as_many_joins_leaves_and_renames_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.max_age = None;
    s.max_per_room = None;
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    let (mut talk, mut presence) = (Vec::new(), Vec::new());
    for i in 0..8 {
        presence.push(feed.join("lobby", &format!("n{i}")).seq);
        talk.push(feed.say("lobby", &format!("m{i}")).await.seq);
        presence.push(feed.join("lobby", &format!("o{i}")).seq);
    }
    h.close().await;
    s.max_per_room = Some(5);
    let (h, _) = History::open(s).unwrap();
    eventually("retention", async || {
        page(&h, "lobby", Anchor::Latest, 100, true)
            .await
            .seqs
            .len()
            == 10
    })
    .await;
    let p = page(&h, "lobby", Anchor::Latest, 100, false).await;
    assert_eq!(p.seqs, talk[3..], "the newest five of the talk");
    assert!(!p.more_before);
    let p = page(&h, "lobby", Anchor::Latest, 100, true).await;
    let mut kept: Vec<u64> = talk[3..].iter().chain(&presence[11..]).copied().collect();
    kept.sort_unstable();
    assert_eq!(p.seqs, kept, "and the newest five joins apart");
    h.close().await;
}

#[tokio::test]
async fn a_room_larger_than_a_counting_chunk_is_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    let n = retention::COUNT_CHUNK as u64 * 2 + 10;
    let seqs = stored_with_retention_off(&s, "lobby", 0, n).await;
    s.max_per_room = Some(n - 3);
    let (h, _) = History::open(s).unwrap();
    eventually("retention", async || {
        page(&h, "lobby", Anchor::After(0), 1, true).await.seqs == [seqs[3]]
    })
    .await;
    h.close().await;
}

// ----- backpressure and failures -------------------------------------------------------

/// Runs `sql` on the file from a connection of its own: how these tests make one kind of
/// write fail (a trigger that refuses it) while the others go through, as a disk that
/// takes a small write and not a large one, or a damaged table, would.
fn sabotage(path: &std::path::Path, sql: &str) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    db.execute_batch(sql).unwrap();
}

/// Refuses every write of the search watermark: indexing fails, storing does not.
const REFUSE_INDEXING: &str = "
    CREATE TRIGGER refuse_index_insert BEFORE INSERT ON meta WHEN NEW.key = 'indexed_to'
    BEGIN SELECT RAISE(ABORT, 'indexing refused'); END;
    CREATE TRIGGER refuse_index_update BEFORE UPDATE ON meta WHEN NEW.key = 'indexed_to'
    BEGIN SELECT RAISE(ABORT, 'indexing refused'); END;";

/// Refuses every deletion of a message: retention fails, storing does not.
const REFUSE_DELETING: &str = "
    CREATE TRIGGER refuse_delete BEFORE DELETE ON messages
    BEGIN SELECT RAISE(ABORT, 'deleting refused'); END;";

/// Refuses every message: storing fails, the other writes (lost ranges, floors) do not.
const REFUSE_STORING: &str = "
    CREATE TRIGGER refuse_storing BEFORE INSERT ON messages
    BEGIN SELECT RAISE(ABORT, 'storing refused'); END;";

#[tokio::test]
async fn the_file_id_of_an_offer_that_could_not_be_stored_is_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    feed.say("lobby", "before").await;
    page(&h, "lobby", Anchor::Latest, 1, true).await;
    sabotage(&s.path, REFUSE_STORING);
    let file = FileInfo {
        id: 77,
        name: "seen.txt".into(),
        size: 3,
        sha256: vec![1; 32],
        from: "ann".into(),
        time_ms: 5,
        room: "lobby".into(),
    };
    // Its members saw the offer; storing it fails.
    let offer = feed.push("lobby", RoomEvent::Shared { file }, now_ms(), None);
    let p = page(&h, "lobby", Anchor::Latest, 10, true).await;
    assert_eq!(
        p.lost,
        [SeqRange {
            from: offer.seq,
            to: offer.seq
        }]
    );
    sabotage(&s.path, "DROP TRIGGER refuse_storing;");
    // Talk until storing resumes (after the writer's backoff).
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "storing never resumed"
        );
        let after = feed.say("lobby", "after").await;
        if page(&h, "lobby", Anchor::Latest, 1, true).await.seqs == [after.seq] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.close().await;
    let (h, resume) = History::open(s).unwrap();
    assert_eq!(resume.last_file_id, 77, "file ids go on above the one seen");
    h.close().await;
}

#[tokio::test]
async fn while_storing_fails_the_id_floor_is_written_as_soon_as_the_file_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    feed.say("lobby", "before").await;
    page(&h, "lobby", Anchor::Latest, 1, true).await;
    // Messages and lost ranges are refused; a write of one row of `meta` is not.
    sabotage(
        &s.path,
        &format!(
            "{REFUSE_STORING}
             CREATE TRIGGER refuse_gaps BEFORE INSERT ON gaps
             BEGIN SELECT RAISE(ABORT, 'storing refused'); END;"
        ),
    );
    feed.say("lobby", "lost").await;
    assert!(
        !page(&h, "lobby", Anchor::Latest, 1, true)
            .await
            .lost
            .is_empty()
    );
    // Ids run past the reservation written at open while storing still fails...
    let handed_out = ID_BLOCK + 200_000;
    h.ids_used(handed_out);
    feed.last_id = handed_out;
    feed.say("lobby", "lost too").await;
    page(&h, "lobby", Anchor::Latest, 1, true).await;
    // ...and then the crash: every handle dropped, no close.
    drop(feed);
    drop(h);
    let resume = reopen_when_free(&s).await;
    assert!(!resume.clean);
    assert!(
        resume.last_id >= handed_out + ID_BLOCK / 2,
        "ids go on above every one handed out: {resume:?}"
    );
}

#[tokio::test]
async fn indexing_or_retention_failing_loses_no_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.max_per_room = None;
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    let mut said = Vec::new();
    for i in 0..10 {
        said.push(feed.say("lobby", &format!("word{i}")).await.seq);
    }
    h.close().await;
    // Opened again with a cap the room is over: retention is due at once, and fails, as
    // indexing does; storing does not.
    sabotage(&s.path, &format!("{REFUSE_INDEXING}{REFUSE_DELETING}"));
    s.max_per_room = Some(5);
    let (h, resume) = History::open(s.clone()).unwrap();
    let seqs = std::mem::take(&mut feed.seqs);
    let mut feed = Feed::new(h.clone(), resume);
    feed.seqs = seqs;
    // Messages come now and then, so that the writer tries indexing and retention (and
    // fails at both) between them.
    for i in 10..40 {
        said.push(feed.say("lobby", &format!("word{i}")).await.seq);
        let p = page(&h, "lobby", Anchor::Latest, 200, true).await;
        assert!(p.lost.is_empty(), "message {i}: lost {:?}", p.lost);
        assert_eq!(
            p.seqs, said,
            "message {i}: every message stored, none deleted"
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    // Once they work again, both catch up (after their backoff).
    sabotage(
        &s.path,
        "DROP TRIGGER refuse_index_insert; DROP TRIGGER refuse_index_update;
         DROP TRIGGER refuse_delete;",
    );
    eventually("indexing", async || {
        hits(&h, "lobby", "word39", 0, 10).await.0 == [said[39]]
    })
    .await;
    eventually("retention", async || {
        page(&h, "lobby", Anchor::Latest, 200, true).await.seqs == said[35..]
    })
    .await;
    h.close().await;
}

#[tokio::test]
async fn a_writer_that_is_held_up_stops_the_senders_after_the_permits() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir);
    let (h, resume) = History::open(s.clone()).unwrap();
    let mut feed = Feed::new(h.clone(), resume);
    feed.say("lobby", "before").await;
    page(&h, "lobby", Anchor::Latest, 1, true).await;
    // Another connection takes the write lock: the writer's next commit waits for it.
    let blocker = rusqlite::Connection::open(&s.path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..PERMITS {
        feed.say("lobby", &format!("queued {i}")).await;
    }
    let more = tokio::time::timeout(Duration::from_millis(300), h.admit()).await;
    assert!(
        more.is_err(),
        "a permit beyond {PERMITS} while the writer is held up"
    );
    let waiting = tokio::spawn({
        let h = h.clone();
        async move { h.admit().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    blocker.execute_batch("COMMIT").unwrap();
    let permit = tokio::time::timeout(Duration::from_secs(4), waiting).await;
    assert!(permit.is_ok(), "the sender goes on once the writer does");
    // Nothing was lost: the writer waited for the lock rather than failing.
    let p = page(&h, "lobby", Anchor::Latest, 1, true).await;
    assert!(p.lost.is_empty());
    assert_eq!(p.seqs, [feed.seqs["lobby"]]);
    h.close().await;
}

#[tokio::test]
async fn off_keeps_nothing_and_answers_no_history() {
    let h = History::off();
    assert!(!h.is_on());
    let _permit = h.admit().await;
    h.record(
        "lobby",
        "lobby".into(),
        Stamped {
            id: 1,
            seq: 1,
            time_ms: 0,
            event: said("a", "b"),
        },
        None,
    );
    let err = h
        .page("lobby", "lobby", Anchor::Latest, 5, true)
        .await
        .unwrap_err();
    assert_eq!(err, HistoryError::Off);
    assert_eq!(
        err.to_msg(),
        ServerMsg::Error {
            kind: shared::ErrorKind::NoHistory,
            text: "this server keeps no history".into()
        }
    );
    assert!(h.search("lobby", "lobby", "b", 0, 5).await.is_err());
    h.close().await;
}

fn private_line(id: u64, from: &str, to: &str, text: &str, time_ms: u64) -> PrivateLine {
    PrivateLine {
        id,
        time_ms,
        from: from.into(),
        to: to.into(),
        text: text.into(),
    }
}

async fn private_texts(
    h: &History,
    a: &PublicKey,
    b: &PublicKey,
    before: u64,
) -> (Vec<String>, bool) {
    match h.private_page(a, b, "bob".into(), before, 2).await.unwrap() {
        ServerMsg::PrivateHistory { messages, more, .. } => {
            (messages.into_iter().map(|l| l.text).collect(), more)
        }
        other => panic!("{other:?}"),
    }
}

/// A conversation is the two keys, whichever sends and whatever the nicks; pages go back
/// in time with exact ends; a third key reads nothing of it; it outlives a restart, and
/// what is older than the history's age goes.
#[tokio::test]
async fn private_messages_are_kept_per_pair_of_keys_and_age_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&dir);
    s.max_age = Some(Duration::from_secs(3600));
    let (ann, bob, eve) = (
        PublicKey::from_bytes(&[1; 32]).unwrap(),
        PublicKey::from_bytes(&[2; 32]).unwrap(),
        PublicKey::from_bytes(&[3; 32]).unwrap(),
    );
    let (h, resume) = History::open(s.clone()).unwrap();
    let now = now_ms();
    let id = resume.last_id;
    h.record_private(
        &ann,
        &bob,
        private_line(id + 1, "ann", "bob", "old", now - 7_200_000),
    );
    h.record_private(&bob, &ann, private_line(id + 2, "bob", "ann", "one", now));
    h.record_private(&ann, &bob, private_line(id + 3, "ann2", "bob", "two", now));
    h.record_private(&ann, &eve, private_line(id + 4, "ann", "eve", "else", now));
    // Asked at once after sending, the page holds it; retention may take the old one.
    let (texts, _) = private_texts(&h, &bob, &ann, 0).await;
    assert_eq!(texts[texts.len() - 2..], ["one", "two"]);
    eventually("retention of the old line", async || {
        private_texts(&h, &ann, &bob, id + 2).await == (vec![], false)
    })
    .await;
    assert_eq!(
        private_texts(&h, &ann, &bob, 0).await,
        (vec!["one".into(), "two".into()], false)
    );
    h.close().await;
    let (h, _) = History::open(s).unwrap();
    assert_eq!(
        private_texts(&h, &ann, &bob, id + 3).await,
        (vec!["one".into()], false)
    );
    assert_eq!(
        private_texts(&h, &eve, &ann, 0).await,
        (vec!["else".into()], false)
    );
    assert_eq!(private_texts(&h, &eve, &bob, 0).await, (vec![], false));
    h.close().await;
}
