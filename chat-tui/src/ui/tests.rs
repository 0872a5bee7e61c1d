//! Widget and whole-screen tests: the app is drawn into ratatui's `TestBackend`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use shared::{ChatKind, RoomEvent, ServerMsg};

use super::*;
use crate::app::{ConnState, Event, Settings};
use chat_client::Welcome;

/// 2023-11-14 22:13:20 UTC.
const T: u64 = 1_700_000_000_000;

fn app() -> App {
    app_at(0)
}

/// alice in the lobby, whose latest sequence number is `seq`.
fn app_at(seq: u64) -> App {
    let settings = Settings {
        server: "127.0.0.1:7878".into(),
        hosting: None,
        hosting_key: None,
        bell: false,
        utc_offset_secs: 3600,
        download_dir: "/tmp/downloads".into(),
        choices: crate::app::Choices::default(),
        key: None,
    };
    let welcome = Welcome {
        nick: "alice".into(),
        room: "lobby".into(),
        members: vec!["alice".into(), "bob".into(), "李雷".into()],
        total: 3,
        seq,
        rooms: false,
    };
    App::new(settings, welcome, T)
}

fn server(app: &mut App, msg: ServerMsg) {
    app.update(Event::Server(msg));
}

/// A room message in the lobby at `T` plus a minute, with the room's next sequence
/// number.
fn room(app: &mut App, event: RoomEvent) {
    let seq = app.last_seq + 1;
    server(
        app,
        ServerMsg::Room {
            id: seq,
            seq,
            time_ms: T + 60_000,
            room: "lobby".into(),
            event,
        },
    );
}

fn say(app: &mut App, from: &str, kind: ChatKind, text: &str) {
    room(
        app,
        RoomEvent::Said {
            from: from.into(),
            kind,
            text: text.into(),
        },
    );
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        app.update(Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
}

/// Draws the whole screen on a terminal `width` by `height`.
fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, app)).unwrap();
    terminal
}

/// The rows of a buffer as text; the second cell of a wide character is skipped.
pub(crate) fn rows(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (area.top()..area.bottom())
        .map(|y| {
            let mut row = String::new();
            let mut skip = 0;
            for x in area.left()..area.right() {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let symbol = buffer[(x, y)].symbol();
                skip = crate::input::display_width(symbol).saturating_sub(1);
                row.push_str(symbol);
            }
            row
        })
        .collect()
}

/// A busy screen: every kind of entry, wide text that wraps, the member list. It is meant
/// for a terminal 60 by 14.
fn busy_app() -> App {
    let mut app = app();
    room(&mut app, RoomEvent::Joined { nick: "bob".into() });
    say(
        &mut app,
        "bob",
        ChatKind::Say,
        "hello alice, 你好！😀 emoji ❤\u{fe0f} and a long line that wraps",
    );
    say(&mut app, "alice", ChatKind::Say, "hi bob");
    say(&mut app, "李雷", ChatKind::Action, "waves 👋");
    server(
        &mut app,
        ServerMsg::Private {
            id: 3,
            time_ms: T + 120_000,
            from: "bob".into(),
            to: "alice".into(),
            text: "psst".into(),
        },
    );
    say(&mut app, "bob", ChatKind::Say, "clear? \x1b[2J\x1b]0;t\x07");
    app.update(Event::Key(KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE)));
    type_str(&mut app, "typing 日本語");
    app
}

#[test]
fn whole_screen() {
    let terminal = render(&mut busy_app(), 60, 14);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn whole_screen_disconnected_and_scrolled_up() {
    let mut app = busy_app();
    app.update(Event::Key(KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE)));
    for i in 0..20 {
        say(&mut app, "bob", ChatKind::Say, &format!("line {i}"));
    }
    // The pane learns how high a page is when it is drawn, as the client draws before it
    // reads the first key.
    render(&mut app, 60, 14);
    app.update(Event::Key(KeyEvent::new(
        KeyCode::PageUp,
        KeyModifiers::NONE,
    )));
    say(&mut app, "bob", ChatKind::Say, "unseen 1");
    say(&mut app, "bob", ChatKind::Say, "unseen 2");
    app.update(Event::Disconnected {
        reason: "reset".into(),
    });
    app.update(Event::Reconnecting {
        attempt: 3,
        delay: std::time::Duration::from_secs(2),
        error: "connection refused".into(),
    });
    app.update(Event::Queued { waiting: 2 });
    let terminal = render(&mut app, 60, 14);
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn escape_sequences_are_drawn_as_text() {
    let mut app = app();
    say(&mut app, "eve", ChatKind::Say, "\x1b[2J\u{9b}H");
    let terminal = render(&mut app, 40, 5);
    let rows = rows(terminal.backend().buffer());
    assert!(
        rows.iter()
            .any(|r| r.trim_end() == "23:14 <eve> ␛[2J<U+009B>H"),
        "{rows:#?}"
    );
}

#[test]
fn cursor_sits_after_wide_characters() {
    let mut app = app();
    type_str(&mut app, "你好😀");
    let prompt = prompt::Prompt::new(&app);
    let area = Rect::new(0, 3, 30, 1);
    // "> " is 2 cells, 你 好 😀 are 2 each.
    assert_eq!(prompt.cursor(area), Some(Position::new(8, 3)));
    app.update(Event::Key(KeyEvent::new(KeyCode::Left, KeyModifiers::NONE)));
    let prompt = prompt::Prompt::new(&app);
    assert_eq!(prompt.cursor(area), Some(Position::new(6, 3)));
    let mut terminal = render(&mut app, 30, 4);
    terminal.backend_mut().assert_cursor_position((6, 3));
}

#[test]
fn long_input_scrolls_and_the_cursor_stays_inside() {
    let mut app = app();
    type_str(&mut app, "一二三四五六七八九十");
    let terminal = render(&mut app, 12, 3);
    let rows = rows(terminal.backend().buffer());
    assert_eq!(rows[2], "> 七八九十  ");
    let cursor = prompt::Prompt::new(&app).cursor(Rect::new(0, 2, 12, 1));
    assert_eq!(cursor, Some(Position::new(10, 2)));
}

#[test]
fn status_line() {
    let mut app = app();
    let area = Rect::new(0, 0, 70, 1);
    let mut buf = Buffer::empty(area);
    ratatui::widgets::Widget::render(status::StatusLine::new(&app), area, &mut buf);
    assert_eq!(
        rows(&buf)[0].trim_end(),
        " connected  alice in #lobby | 3 members | 127.0.0.1:7878"
    );
    app.settings.hosting = Some("192.168.1.5:7878".into());
    app.conn = ConnState::Disconnected {
        reason: "reset".into(),
    };
    let mut buf = Buffer::empty(area);
    ratatui::widgets::Widget::render(status::StatusLine::new(&app), area, &mut buf);
    // The address gives way whole rather than cut.
    assert_eq!(
        rows(&buf)[0].trim_end(),
        " disconnected: reset  alice in #lobby | 3 members"
    );
}

/// alice in three rooms and a private conversation, with news in each, 177 lines
/// waiting, 2 queued, 2 transfers, disconnected.
fn crowded_app() -> App {
    let mut app = transferring_app();
    app.several_rooms = true;
    for (room, seq) in [("dev", 4), ("ops", 9)] {
        server(
            &mut app,
            ServerMsg::Joined4 {
                room: room.into(),
                seq,
                members: shared::MemberPage {
                    total: 2,
                    names: vec!["alice".into(), "bob".into()],
                    more: false,
                },
            },
        );
    }
    app.switch_to(0);
    let said = |room: &str, seq: u64, text: &str| ServerMsg::Room {
        id: seq,
        seq,
        time_ms: T,
        room: room.into(),
        event: RoomEvent::Said {
            from: "bob".into(),
            kind: ChatKind::Say,
            text: text.into(),
        },
    };
    server(&mut app, said("dev", 5, "build is green"));
    server(&mut app, said("dev", 6, "deploying"));
    server(&mut app, said("dev", 7, "done"));
    server(&mut app, said("ops", 10, "alice: can you look?"));
    server(
        &mut app,
        ServerMsg::Private {
            id: 50,
            time_ms: T,
            from: "carol".into(),
            to: "alice".into(),
            text: "psst".into(),
        },
    );
    app.update(Event::Waiting { waiting: 177 });
    app.update(Event::Disconnected {
        reason: "no answer from the server for 10 s".into(),
    });
    app.update(Event::Queued { waiting: 2 });
    app
}

/// The status line at 80, 60 and 40 columns: what matters most keeps its place, what
/// matters least gives way whole, and nothing is cut in the middle.
#[test]
fn status_line_gives_way_from_the_least_important() {
    let app = crowded_app();
    let line = |width: u16| {
        let area = Rect::new(0, 0, width, 1);
        let mut buf = Buffer::empty(area);
        ratatui::widgets::Widget::render(status::StatusLine::new(&app), area, &mut buf);
        rows(&buf)[0].trim_end().to_owned()
    };
    let lines = [120, 80, 60, 40, 20].map(line).join("\n");
    insta::assert_snapshot!(lines, @r"
     disconnected  alice in 1:#lobby | 2:dev(3) 3:ops(1!) 4:@carol(1!) | 2⇅ | 177 to send | 2 queued
     disconnected  alice | 3:ops(1!) 4:@carol(1!) | 177 to send | 2 queued
     disconnected  alice | 177 to send | 2 queued
     disconnected 177 to send | 2 queued
     disconnected 177 to
    ");
    for width in [80, 60, 40] {
        let shown = line(width);
        assert!(
            shown.ends_with("177 to send | 2 queued"),
            "{width}: {shown}"
        );
    }
}

/// The title line: the room and its topic, a room left, a private conversation.
#[test]
fn title_line_shows_the_room_and_its_topic() {
    let mut app = crowded_app();
    let title = |app: &App| {
        let area = Rect::new(0, 0, 50, 1);
        let mut buf = Buffer::empty(area);
        ratatui::widgets::Widget::render(title::TitleLine::new(app), area, &mut buf);
        rows(&buf)[0].trim_end().to_owned()
    };
    assert_eq!(title(&app), " #lobby — no topic");
    server(
        &mut app,
        ServerMsg::Topic {
            room: "lobby".into(),
            text: "release on Friday \x1b[2J 🚀".into(),
            by: "bob".into(),
            time_ms: T,
        },
    );
    assert_eq!(title(&app), " #lobby — release on Friday ␛[2J 🚀");
    app.switch_to(3);
    assert_eq!(title(&app), " private conversation with carol");
}

#[test]
fn paste_question_replaces_the_input_line() {
    let mut app = app();
    app.update(Event::Paste("a\nb\nc\nd\ne".into()));
    let terminal = render(&mut app, 30, 3);
    assert_eq!(
        rows(terminal.backend().buffer())[2].trim_end(),
        "send 5 lines? y/n"
    );
}

#[test]
fn any_size_draws_without_panicking() {
    let mut app = busy_app();
    for show_members in [false, true] {
        app.show_members = show_members;
        for w in 0..=40 {
            for h in 0..=8 {
                render(&mut app, w, h);
            }
        }
    }
    // Scrolled up at tiny sizes too.
    app.update(Event::Key(KeyEvent::new(
        KeyCode::PageUp,
        KeyModifiers::NONE,
    )));
    render(&mut app, 3, 3);
}

#[test]
fn layout_keeps_input_and_status_at_the_bottom() {
    let areas = layout(Rect::new(0, 0, 80, 24), true, 0);
    assert_eq!(areas.input, Rect::new(0, 23, 80, 1));
    assert_eq!(areas.status, Rect::new(0, 22, 80, 1));
    assert_eq!(areas.title, Rect::new(0, 0, 80, 1));
    assert_eq!(areas.messages, Rect::new(0, 1, 60, 21));
    assert_eq!(areas.members, Some(Rect::new(60, 1, 20, 21)));
    let one_row = layout(Rect::new(0, 0, 10, 1), false, 0);
    assert_eq!(one_row.input, Rect::new(0, 0, 10, 1));
    assert_eq!((one_row.status.height, one_row.messages.height), (0, 0));
    // Below five rows, the title gives its row to the messages.
    let four = layout(Rect::new(0, 0, 10, 4), false, 0);
    assert_eq!((four.title.height, four.messages.height), (0, 2));
}

#[test]
fn nick_colours_are_stable() {
    assert_eq!(nick_color("bob"), nick_color("bob"));
    let distinct: std::collections::HashSet<_> = ["alice", "bob", "carol", "dave", "eve", "李雷"]
        .map(nick_color)
        .into();
    assert!(distinct.len() > 2);
}

// ----- transfer strip ----------------------------------------------------------------------

use ratatui::widgets::Widget as _;

use chat_client::transfer::TransferEvent;

fn transfer(app: &mut App, now_ms: u64, event: TransferEvent) {
    app.now_ms = now_ms;
    app.update(Event::Transfer(event));
}

/// alice uploading report.pdf (40 % at 1 MiB/s) and fetching file 3 (not started yet).
fn transferring_app() -> App {
    let mut app = app();
    type_str(&mut app, "/send-file report.pdf");
    app.update(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    type_str(&mut app, "/get 3");
    app.update(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    let started = TransferEvent::Started {
        id: 1,
        name: "report.pdf".into(),
        size: 10 << 20,
    };
    transfer(&mut app, T, started);
    transfer(
        &mut app,
        T + 4000,
        TransferEvent::Progress {
            id: 1,
            done: 4 << 20,
        },
    );
    app
}

#[test]
fn transfer_strip_has_a_bar_per_transfer() {
    let app = transferring_app();
    let mut buf = Buffer::empty(Rect::new(0, 0, 80, 2));
    transfers::TransferStrip::new(&app).render(buf.area, &mut buf);
    assert_eq!(
        rows(&buf),
        [
            " ↑ [u1] report.pdf ██████░░░░░░░░░  40%  4.0 MiB of 10.0 MiB  1.0 MiB/s  6s left",
            " ↓ [3] file 3 waiting for the server                                            ",
        ]
    );
}

#[test]
fn transfer_strip_sums_up_what_does_not_fit_and_shows_a_pause() {
    let mut app = transferring_app();
    app.update(Event::Disconnected {
        reason: "reset".into(),
    });
    let mut buf = Buffer::empty(Rect::new(0, 0, 60, 1));
    transfers::TransferStrip::new(&app).render(buf.area, &mut buf);
    assert_eq!(rows(&buf)[0].trim_end(), " … and 2 more transfers");
    let mut buf = Buffer::empty(Rect::new(0, 0, 60, 2));
    transfers::TransferStrip::new(&app).render(buf.area, &mut buf);
    assert_eq!(
        rows(&buf)[0].trim_end(),
        " ↑ [u1] report.p…  40%  paused until the connection is back"
    );
}

#[test]
fn whole_screen_with_transfers() {
    let mut app = transferring_app();
    let terminal = render(&mut app, 80, 10);
    let screen = rows(terminal.backend().buffer());
    // The numbers `/cancel` takes: the upload's own, the download's file id (`/get 3`).
    assert!(screen[6].starts_with(" ↑ [u1] report.pdf"), "{screen:#?}");
    assert!(screen[7].starts_with(" ↓ [3] file 3"), "{screen:#?}");
    assert!(screen[8].contains("| 2 transfers"), "{screen:#?}");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn layout_gives_transfers_rows_above_the_status_line() {
    let areas = layout(Rect::new(0, 0, 80, 24), false, 2);
    assert_eq!(areas.transfers, Rect::new(0, 20, 80, 2));
    assert_eq!(areas.messages.height, 19);
    let many = layout(Rect::new(0, 0, 80, 24), false, 9);
    assert_eq!(many.transfers.height, transfers::MAX_ROWS);
    // The message pane keeps a row on a small screen.
    let small = layout(Rect::new(0, 0, 80, 4), false, 3);
    assert_eq!((small.messages.height, small.transfers.height), (1, 1));
    let none = layout(Rect::new(0, 0, 80, 24), false, 0);
    assert_eq!(none.transfers.height, 0);
}

// ----- history ------------------------------------------------------------------------------

use shared::{ClientMsg, Gap, Stamped};

/// The server keeps history: its info, and the id of the catch-up the app asked for.
fn with_history(app: &mut App) -> u32 {
    let commands = app.update(Event::Server(ServerMsg::HistoryInfo {
        page: 100,
        catch_up: 500,
        backlog: 50,
        search: 100,
        max_age_secs: 0,
        max_per_room: 0,
    }));
    match commands.as_slice() {
        [crate::app::Command::Send(ClientMsg::Request { id, .. })] => *id,
        other => panic!("expected the catch-up, got {other:?}"),
    }
}

fn stamped(seq: u64, time_ms: u64, from: &str, text: &str) -> Stamped {
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

fn caught_up(app: &mut App, id: u32, messages: Vec<Stamped>, gap: Option<Gap>, read: u64) {
    app.update(Event::Server(ServerMsg::Reply {
        id,
        msg: Box::new(ServerMsg::CaughtUp {
            room: "lobby".into(),
            messages,
            gap,
            more_before: false,
            read,
            lost: Vec::new(),
        }),
    }));
}

/// alice back in the lobby after a night away: she had read up to the evening's last line,
/// and more was said than a catch-up brings, so the history spans two days and has a gap.
fn history_app() -> App {
    let evening = T - 2 * 3_600_000;
    let morning = T + 10 * 3_600_000;
    let mut app = app_at(2);
    let id = with_history(&mut app);
    let messages = vec![
        stamped(1, evening, "bob", "good night 🌙"),
        stamped(2, evening + 60_000, "李雷", "晚安，明天见"),
    ];
    caught_up(&mut app, id, messages, None, 0);
    app.update(Event::Disconnected {
        reason: "timed out".into(),
    });
    app.now_ms = morning + 180_000;
    app.update(Event::Reconnected(Welcome {
        nick: "alice".into(),
        room: "lobby".into(),
        members: vec!["alice".into(), "bob".into(), "李雷".into()],
        total: 3,
        seq: 61,
        rooms: false,
    }));
    let id = with_history(&mut app);
    let messages = vec![
        stamped(
            60,
            morning,
            "bob",
            "morning! who broke the build? 构建失败了，请检查一下",
        ),
        stamped(61, morning + 120_000, "alice", "not me 😇"),
    ];
    let gap = Gap {
        from: 3,
        to: 59,
        count: 57,
    };
    caught_up(&mut app, id, messages, Some(gap), 2);
    app
}

#[test]
fn whole_screen_with_history_days_unread_line_and_a_gap() {
    let mut app = history_app();
    let terminal = render(&mut app, 60, 20);
    let screen = rows(terminal.backend().buffer());
    assert!(screen[1].contains("beginning of #lobby"), "{screen:#?}");
    assert!(
        screen
            .iter()
            .any(|r| r.contains("59 new messages since 21:14")),
        "{screen:#?}"
    );
    assert!(
        screen.iter().any(|r| r.contains("57 messages not loaded")),
        "{screen:#?}"
    );
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn whole_screen_of_search_hits() {
    let mut app = history_app();
    type_str(&mut app, "/search build");
    let commands = app.update(Event::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )));
    let id = match commands.as_slice() {
        [crate::app::Command::Send(ClientMsg::Request { id, .. })] => *id,
        other => panic!("expected the search, got {other:?}"),
    };
    let day = 86_400_000;
    let hits = vec![
        stamped(
            60,
            T + 10 * 3_600_000,
            "bob",
            "morning! who broke the build? 构建失败了，请检查一下",
        ),
        stamped(30, T - day, "李雷", "the build is green again ✅"),
        stamped(
            7,
            T - 40 * day,
            "carol",
            &format!("build {}", "very long line ".repeat(8)),
        ),
    ];
    app.update(Event::Server(ServerMsg::Reply {
        id,
        msg: Box::new(ServerMsg::SearchHits {
            room: "lobby".into(),
            hits,
            more: true,
            complete: false,
        }),
    }));
    app.update(Event::Key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)));
    let terminal = render(&mut app, 60, 10);
    insta::assert_snapshot!(terminal.backend());
}

/// The bar of a pane scrolled up counts the new messages still below the view, down to
/// none as the user pages through them, and says which name the user.
#[test]
fn the_new_messages_bar_counts_down_and_says_what_names_you() {
    let mut app = app();
    for i in 0..30 {
        say(&mut app, "bob", ChatKind::Say, &format!("old {i}"));
    }
    render(&mut app, 60, 10);
    app.update(Event::Key(KeyEvent::new(
        KeyCode::PageUp,
        KeyModifiers::NONE,
    )));
    render(&mut app, 60, 10);
    for i in 0..10 {
        let text = if i == 8 {
            "alice: look".to_owned()
        } else {
            format!("new {i}")
        };
        say(&mut app, "bob", ChatKind::Say, &text);
    }
    let bar = |app: &mut App| {
        let terminal = render(app, 60, 10);
        rows(terminal.backend().buffer())[7].trim_end().to_owned()
    };
    assert_eq!(bar(&mut app), " ↓ 10 new messages, 1 naming you (PageDown)");
    let mut seen = Vec::new();
    for _ in 0..4 {
        app.update(Event::Key(KeyEvent::new(
            KeyCode::PageDown,
            KeyModifiers::NONE,
        )));
        seen.push(bar(&mut app));
    }
    // A page of five rows at a time: ten below, then five, then the newest, followed.
    assert_eq!(
        seen[..3],
        [
            " ↓ 10 new messages, 1 naming you (PageDown)",
            " ↓ 5 new messages, 1 naming you (PageDown)",
            "23:14 <bob> new 9",
        ],
        "{seen:#?}"
    );
    assert!(app.scrollback.state().following());
}
