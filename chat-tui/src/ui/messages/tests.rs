use shared::{ChatKind, RoomEvent, Stamped};

use super::*;
use crate::app::pane::{Marker, Scroll};
use crate::app::transfers::NO_SHARES;
use crate::ui::tests::rows;

/// 2026-11-30 00:00:00 UTC, a Monday.
const MONDAY: u64 = 1_795_996_800_000;

fn said(seq: u64, time_ms: u64, from: &str, text: &str) -> Stamped {
    Stamped {
        id: seq,
        seq,
        time_ms,
        event: RoomEvent::Said {
            from: from.into(),
            kind: ChatKind::Say,
            text: text.into(),
        },
    }
}

/// Messages `m1`..`mN` from bob, one a minute on Monday from 10:00.
fn numbered(n: u64) -> Vec<Stamped> {
    (1..=n)
        .map(|i| {
            said(
                i,
                MONDAY + 10 * 3_600_000 + i * 60_000,
                "bob",
                &format!("m{i}"),
            )
        })
        .collect()
}

fn messages(list: &[Stamped]) -> Vec<Item<'_>> {
    list.iter()
        .map(|m| Item {
            key: Key::message(m.seq),
            kind: ItemKind::Message(m),
        })
        .collect()
}

fn look() -> Look<'static> {
    Look {
        nick: "alice",
        room: "lobby",
        utc_offset_secs: 0,
        unread: None,
        highlight: None,
        live_end: true,
        shares: &NO_SHARES,
    }
}

/// Draws the pane `width` by `height` and returns its rows as text, trimmed.
fn draw(items: &[Item<'_>], look: Look<'_>, state: &mut PaneState, w: u16, h: u16) -> Vec<String> {
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    MessagePane::new(items, look).render(area, &mut buf, state);
    rows(&buf).iter().map(|r| r.trim_end().to_owned()).collect()
}

#[test]
fn the_newest_items_fill_the_pane_from_the_bottom() {
    let list = numbered(10);
    let mut state = PaneState::default();
    assert_eq!(
        draw(&messages(&list), look(), &mut state, 30, 3),
        ["10:08 <bob> m8", "10:09 <bob> m9", "10:10 <bob> m10"]
    );
    assert!(state.following());
    let seen = state.seen().unwrap();
    assert_eq!((seen.top, seen.bottom), (Key::message(8), Key::message(10)));
    assert_eq!(seen.newest_seq, Some(10));
}

#[test]
fn a_short_list_starts_at_the_top() {
    let list = numbered(2);
    let mut state = PaneState::default();
    assert_eq!(
        draw(&messages(&list), look(), &mut state, 30, 4),
        ["10:01 <bob> m1", "10:02 <bob> m2", "", ""]
    );
}

#[test]
fn scrolling_past_the_top_stops_at_the_first_line() {
    let list = numbered(10);
    let items = messages(&list);
    let mut state = PaneState::default();
    draw(&items, look(), &mut state, 30, 4);
    state.scroll(Scroll::Up(100));
    assert_eq!(
        draw(&items, look(), &mut state, 30, 4),
        [
            "10:01 <bob> m1",
            "10:02 <bob> m2",
            "10:03 <bob> m3",
            " ↓ more below (PageDown)"
        ]
    );
    // So one row down moves at once, however far up the view was asked to go.
    state.scroll(Scroll::Down(1));
    assert_eq!(draw(&items, look(), &mut state, 30, 4)[0], "10:02 <bob> m2");
    // A page is the pane's height less two rows.
    state.scroll(Scroll::PageDown);
    assert_eq!(draw(&items, look(), &mut state, 30, 4)[0], "10:04 <bob> m4");
    for _ in 0..4 {
        state.scroll(Scroll::PageDown);
    }
    let rows = draw(&items, look(), &mut state, 30, 4);
    assert_eq!(rows[3], "10:10 <bob> m10");
    assert!(state.following(), "down to the newest follows again");
}

#[test]
fn pages_up_and_down_show_every_row_with_one_row_of_overlap_above_the_bar() {
    let list = numbered(100);
    let items = messages(&list);
    let mut state = PaneState::default();
    let mut seen: Vec<String> = draw(&items, look(), &mut state, 30, 10);
    for _ in 0..12 {
        state.scroll(Scroll::PageUp);
        let rows = draw(&items, look(), &mut state, 30, 10);
        // The bar hides the bottom row; the row above it was the top one before (or a
        // lower one, when the top of the list stopped the page short).
        let overlap = rows[..9].iter().position(|r| *r == seen[0]);
        let overlap = overlap.unwrap_or_else(|| panic!("{rows:#?} after {seen:#?}"));
        if overlap == 0 {
            break;
        }
        if overlap != 8 {
            assert_eq!(rows[0], "10:01 <bob> m1", "a short page only at the top");
        }
        seen = rows[..overlap].iter().cloned().chain(seen).collect();
    }
    let expected: Vec<String> = list
        .iter()
        .map(|m| {
            format!(
                "{} <bob> m{}",
                chat_client::clock::hh_mm(m.time_ms, 0),
                m.seq
            )
        })
        .collect();
    assert_eq!(seen, expected);
    // And down again: the top row is the one above the bar before.
    for _ in 0..12 {
        let before = draw(&items, look(), &mut state, 30, 10);
        state.scroll(Scroll::PageDown);
        let rows = draw(&items, look(), &mut state, 30, 10);
        if state.following() {
            assert_eq!(rows[9], "11:40 <bob> m100");
            return;
        }
        assert_eq!(rows[0], before[8]);
    }
    panic!("never back at the bottom");
}

#[test]
fn new_items_while_scrolled_up_do_not_move_the_view_and_are_counted() {
    let mut list = numbered(10);
    let mut state = PaneState::default();
    draw(&messages(&list), look(), &mut state, 30, 4);
    state.scroll(Scroll::Up(2));
    let view = ["10:05 <bob> m5", "10:06 <bob> m6", "10:07 <bob> m7"];
    assert_eq!(draw(&messages(&list), look(), &mut state, 30, 4)[..3], view);
    list.push(said(11, MONDAY, "carol", "new"));
    state.arrived();
    // Three rows at this width.
    list.push(said(12, MONDAY, "carol", &"long ".repeat(10)));
    state.arrived();
    let rows = draw(&messages(&list), look(), &mut state, 30, 4);
    assert_eq!(rows[..3], view);
    assert_eq!(rows[3], " ↓ 2 new messages (PageDown)");
    // Back at the bottom, the newest show and the count is gone.
    state.scroll(Scroll::Bottom);
    let rows = draw(&messages(&list), look(), &mut state, 30, 4);
    assert!(rows[1].starts_with("00:00 <carol> long"), "{rows:?}");
    assert_eq!(state.unseen(), 0);
}

#[test]
fn older_pages_loaded_above_do_not_move_the_view() {
    let list = numbered(300);
    let mut state = PaneState::default();
    // The newest 100 are held, with older history not loaded above them.
    let marker = Item {
        key: Key::marker(1),
        kind: ItemKind::Marker(Marker::NotLoaded {
            count: Some(200),
            loading: false,
        }),
    };
    let held = |from: usize| {
        let mut items = vec![];
        if from > 0 {
            items.push(marker);
        }
        items.extend(messages(&list[from..]));
        items
    };
    draw(&held(200), look(), &mut state, 30, 5);
    state.scroll(Scroll::Up(96));
    let rows = draw(&held(200), look(), &mut state, 30, 5);
    assert_eq!(rows[0], "── 200 messages not loaded ───");
    assert_eq!(rows[1], "13:21 <bob> m201");
    let seen = *state.seen().unwrap();
    assert_eq!(seen.near_top, Key::marker(1), "the marker is within reach");
    // The page arrives: the view stays on what it showed.
    let rows_after = draw(&held(100), look(), &mut state, 30, 5);
    assert_eq!(rows_after[1..], rows[1..]);
    assert_eq!(rows_after[0], "13:20 <bob> m200");
    state.scroll(Scroll::Up(1));
    assert_eq!(
        draw(&held(100), look(), &mut state, 30, 5)[0],
        "13:19 <bob> m199"
    );
}

#[test]
fn at_the_end_of_what_is_loaded_below_the_view_waits_for_newer_pages() {
    let list = numbered(50);
    let bottom_marker = |loading| Item {
        key: Key::marker(31),
        kind: ItemKind::Marker(Marker::NotLoaded {
            count: None,
            loading,
        }),
    };
    let mut items = messages(&list[..30]);
    items.push(bottom_marker(true));
    let not_live = Look {
        live_end: false,
        ..look()
    };
    let mut state = PaneState::default();
    let rows = draw(&items, not_live, &mut state, 30, 4);
    assert_eq!(rows[2], "10:30 <bob> m30");
    // No bar over it: the marker says what comes below.
    assert_eq!(rows[3], "────────── loading… ──────────");
    assert!(!state.following(), "no newest to follow");
    // The newer page arrives: the view stays where it was, it does not jump to its end.
    let items = messages(&list);
    let rows = draw(&items, look(), &mut state, 30, 4);
    assert_eq!(
        rows,
        [
            "10:28 <bob> m28",
            "10:29 <bob> m29",
            "10:30 <bob> m30",
            " ↓ more below (PageDown)"
        ]
    );
}

#[test]
fn a_date_line_where_a_day_begins_and_at_the_top_when_history_spans_days() {
    let list = vec![
        said(1, MONDAY + 23 * 3_600_000, "bob", "late"),
        said(2, MONDAY + 25 * 3_600_000, "bob", "early"),
    ];
    let mut items = vec![Item {
        key: Key::FIRST,
        kind: ItemKind::Marker(Marker::Beginning),
    }];
    items.extend(messages(&list));
    let mut state = PaneState::default();
    assert_eq!(
        draw(&items, look(), &mut state, 40, 6),
        [
            "───────── beginning of #lobby ──────────",
            "─────── Monday 30 November 2026 ────────",
            "23:00 <bob> late",
            "─────── Tuesday 1 December 2026 ────────",
            "01:00 <bob> early",
            ""
        ]
    );
    // Local time decides: an hour west, both were said on Monday, and no line is drawn.
    let west = Look {
        utc_offset_secs: -7200,
        ..look()
    };
    let rows = draw(&items, west, &mut state, 40, 6);
    assert_eq!(rows[1], "21:00 <bob> late");
    assert_eq!(rows[2], "23:00 <bob> early");
}

#[test]
fn the_unread_line_and_markers_wrap_and_line_up_with_wide_characters() {
    let list = vec![
        said(1, MONDAY, "李雷", "你好你好你好你好"),
        said(2, MONDAY + 60_000, "bob", "😀 new"),
    ];
    let mut items = messages(&list);
    items.push(Item {
        key: Key::marker(3),
        kind: ItemKind::Marker(Marker::Lost { from: 3, to: 9 }),
    });
    let unread = Look {
        unread: Some(Unread {
            before: Key::message(2),
            count: 12,
            since_ms: Some(MONDAY),
        }),
        room: "大厅",
        ..look()
    };
    let mut state = PaneState::default();
    let rows = draw(&items, unread, &mut state, 17, 16);
    assert_eq!(
        rows,
        [
            "00:00 <李雷> 你好",
            "      你好你好你",
            "      好",
            "── 12 new",
            "   messages since",
            "   00:00",
            "00:01 <bob> 😀",
            "      new",
            "── history",
            "   incomplete",
            "   here: the",
            "   server could",
            "   not keep these",
            "",
            "",
            ""
        ]
    );
    for row in &rows {
        assert!(crate::input::display_width(row) <= 17, "{row}");
    }
}

#[test]
fn a_target_comes_to_the_view_highlighted_with_its_context_above() {
    let list = numbered(100);
    let items = messages(&list);
    let mut state = PaneState::default();
    draw(&items, look(), &mut state, 30, 9);
    state.show(Key::message(40));
    let highlighted = Look {
        highlight: Some(Key::message(40)),
        ..look()
    };
    let area = Rect::new(0, 0, 30, 9);
    let mut buf = Buffer::empty(area);
    MessagePane::new(&items, highlighted).render(area, &mut buf, &mut state);
    let rows = rows(&buf);
    assert_eq!(rows[3].trim_end(), "10:40 <bob> m40", "{rows:#?}");
    assert!(buf[(0, 3)].modifier.contains(Modifier::REVERSED));
    assert!(!buf[(0, 2)].modifier.contains(Modifier::REVERSED));
    assert_eq!(state.target(), None, "shown");
    assert!(!state.following());
    // A target not in the list yet waits, and the view stays.
    state.show(Key::message(500));
    let before = draw(&items, look(), &mut state, 30, 9);
    assert_eq!(before[3], "10:40 <bob> m40");
    assert_eq!(state.target(), Some(Key::message(500)));
}

#[test]
fn a_resize_keeps_the_bottom_item() {
    let list: Vec<Stamped> = (1..=5)
        .map(|i| said(i, MONDAY, "bob", &format!("{i} {}", "word ".repeat(6))))
        .collect();
    let items = messages(&list);
    let mut state = PaneState::default();
    draw(&items, look(), &mut state, 20, 3);
    state.scroll(Scroll::Up(1000));
    let narrow = draw(&items, look(), &mut state, 20, 3);
    assert!(narrow[0].starts_with("00:00 <bob> 1 word"), "{narrow:?}");
    // Wide, each entry is one row: the view shows the first three.
    let wide = draw(&items, look(), &mut state, 60, 3);
    assert!(wide[0].starts_with("00:00 <bob> 1 word"), "{wide:?}");
    // High enough for all: at the bottom again, no bar.
    let tall = draw(&items, look(), &mut state, 60, 8);
    assert!(tall[4].starts_with("00:00 <bob> 5 word"), "{tall:?}");
    assert_eq!(tall[7], "");
    assert!(state.following());
}

#[test]
fn an_empty_pane_draws_nothing_and_keeps_the_view() {
    let list = numbered(10);
    let items = messages(&list);
    let mut state = PaneState::default();
    draw(&items, look(), &mut state, 30, 4);
    state.scroll(Scroll::Up(2));
    draw(&items, look(), &mut state, 30, 0);
    assert_eq!(draw(&items, look(), &mut state, 30, 4)[0], "10:05 <bob> m5");
}

#[test]
fn local_lines_sit_among_the_messages() {
    let list = numbered(3);
    let help = Entry {
        time_ms: MONDAY + 10 * 3_600_000,
        kind: EntryKind::Info("help".into()),
    };
    let mut items = messages(&list);
    items.insert(
        2,
        Item {
            key: Key::local(2, 1),
            kind: ItemKind::Local(&help),
        },
    );
    let mut state = PaneState::default();
    assert_eq!(
        draw(&items, look(), &mut state, 30, 4),
        [
            "10:01 <bob> m1",
            "10:02 <bob> m2",
            "10:00 -- help",
            "10:03 <bob> m3"
        ]
    );
}
