use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use shared::{ChatKind, ClientMsg, ErrorKind, MemberPage, RoomEvent, ServerMsg};

use super::*;

const T: u64 = 1_700_000_000_000;

fn settings() -> Settings {
    Settings {
        server: "127.0.0.1:7878".into(),
        hosting: None,
        bell: true,
        utc_offset_secs: 0,
        download_dir: "/tmp/downloads".into(),
    }
}

/// alice in the lobby with bob, bobby and carol, on an 80x24 terminal.
fn app() -> App {
    let welcome = Welcome {
        nick: "alice".into(),
        room: "lobby".into(),
        members: vec!["alice".into(), "bob".into(), "bobby".into(), "carol".into()],
        seq: 10,
    };
    let mut app = App::new(settings(), welcome, T);
    app.update(Event::Resize(80, 24));
    app
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        app.update(key(KeyCode::Char(c)));
    }
}

fn submit(app: &mut App, line: &str) -> Vec<Command> {
    type_str(app, line);
    app.update(key(KeyCode::Enter))
}

/// A chat line in the lobby, as version 4 brings it.
fn chat(from: &str, text: &str) -> Event {
    room_msg(RoomEvent::Said {
        from: from.into(),
        kind: ChatKind::Say,
        text: text.into(),
    })
}

fn room_msg(event: RoomEvent) -> Event {
    Event::Server(ServerMsg::Room {
        id: 1,
        seq: 11,
        time_ms: T,
        room: "lobby".into(),
        event,
    })
}

/// A version 3 notice in `room`.
fn notice(room: &str, event: RoomEvent) -> Event {
    Event::Server(ServerMsg::Notice {
        time_ms: T,
        room: room.into(),
        event,
    })
}

fn last(app: &App) -> &EntryKind {
    &app.messages().back().expect("an entry").kind
}

#[test]
fn typing_and_enter_sends_a_chat_line() {
    let mut app = app();
    let out = submit(&mut app, "hello 你好");
    assert_eq!(
        out,
        [Command::Send(ClientMsg::Chat {
            text: "hello 你好".into()
        })]
    );
    assert!(app.input.is_empty());
}

#[test]
fn blank_line_sends_nothing() {
    let mut app = app();
    assert!(submit(&mut app, "   ").is_empty());
}

#[test]
fn commands_become_frames() {
    let mut app = app();
    let cases = [
        (
            "/nick bob2",
            ClientMsg::Nick {
                nick: "bob2".into(),
            },
        ),
        (
            "/join #rust",
            ClientMsg::Join {
                room: "rust".into(),
            },
        ),
        ("/who", ClientMsg::Who),
        (
            "/me waves",
            ClientMsg::Action {
                text: "waves".into(),
            },
        ),
        (
            "/msg bob hi",
            ClientMsg::Private {
                to: "bob".into(),
                text: "hi".into(),
            },
        ),
    ];
    for (line, msg) in cases {
        assert_eq!(submit(&mut app, line), [Command::Send(msg)], "{line}");
    }
}

#[test]
fn quit_by_command_and_by_ctrl_c() {
    let mut app = app();
    assert_eq!(
        submit(&mut app, "/quit bye"),
        [
            Command::Send(ClientMsg::Quit {
                reason: "bye".into()
            }),
            Command::Quit
        ]
    );
    assert_eq!(
        app.update(ctrl('c')),
        [
            Command::Send(ClientMsg::Quit {
                reason: String::new()
            }),
            Command::Quit
        ]
    );
}

#[test]
fn bad_command_is_an_inline_error_and_keeps_the_line() {
    let mut app = app();
    assert!(submit(&mut app, "/nope").is_empty());
    assert_eq!(
        last(&app),
        &EntryKind::Error("unknown command /nope; type /help for the list".into())
    );
    assert_eq!(app.input.text(), "/nope");
}

#[test]
fn help_and_clear() {
    let mut app = app();
    submit(&mut app, "/help");
    let text: Vec<_> = app
        .messages()
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::Info(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(text.iter().any(|t| t.contains("/msg NICK TEXT")));
    assert!(text.iter().any(|t| t.contains("F2 member list")));
    submit(&mut app, "/clear");
    assert!(app.messages().is_empty());
}

#[test]
fn editing_keys() {
    let mut app = app();
    type_str(&mut app, "one two three");
    app.update(ctrl('w'));
    assert_eq!(app.input.text(), "one two ");
    app.update(ctrl('a'));
    app.update(key(KeyCode::Delete));
    assert_eq!(app.input.text(), "ne two ");
    app.update(Event::Key(KeyEvent::new(
        KeyCode::Right,
        KeyModifiers::CONTROL,
    )));
    app.update(ctrl('k'));
    assert_eq!(app.input.text(), "ne");
    app.update(ctrl('e'));
    app.update(key(KeyCode::Backspace));
    assert_eq!(app.input.text(), "n");
    app.update(ctrl('u'));
    assert!(app.input.is_empty());
}

#[test]
fn history_walks_back_and_returns_to_the_draft() {
    let mut app = app();
    submit(&mut app, "first");
    submit(&mut app, "second");
    type_str(&mut app, "draft");
    app.update(key(KeyCode::Up));
    assert_eq!(app.input.text(), "second");
    app.update(key(KeyCode::Up));
    app.update(key(KeyCode::Up));
    assert_eq!(app.input.text(), "first");
    app.update(key(KeyCode::Down));
    assert_eq!(app.input.text(), "second");
    app.update(key(KeyCode::Down));
    assert_eq!(app.input.text(), "draft");
}

#[test]
fn tab_completes_nicks_and_cycles() {
    let mut app = app();
    type_str(&mut app, "bo");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "bob: ");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "bobby: ");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "bob: ");
    type_str(&mut app, "ask CA");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "bob: ask carol ");
    // One's own nick is not offered.
    app.update(ctrl('u'));
    type_str(&mut app, "ali");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "ali");
}

#[test]
fn tab_completes_commands() {
    let mut app = app();
    type_str(&mut app, "/ms");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "/msg ");
}

#[test]
fn single_line_paste_is_inserted() {
    let mut app = app();
    type_str(&mut app, "a");
    app.update(Event::Paste("pasted 文字\n".into()));
    assert_eq!(app.input.text(), "apasted 文字");
    assert!(app.pending_paste.is_none());
}

#[test]
fn multi_line_paste_asks_and_sends_lines_as_text() {
    let mut app = app();
    type_str(&mut app, "> ");
    app.update(Event::Paste("one\r\n\r\n/quit\r\nthree".into()));
    assert_eq!(app.pending_paste.as_ref().map(|p| p.lines.len()), Some(3));
    // Other keys do not answer the question.
    assert!(app.update(key(KeyCode::Char('x'))).is_empty());
    let out = app.update(key(KeyCode::Char('y')));
    let texts: Vec<_> = out
        .iter()
        .map(|c| match c {
            Command::Send(ClientMsg::Chat { text }) => text.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, ["> one", "/quit", "three"]);
    assert!(app.pending_paste.is_none() && app.input.is_empty());
}

#[test]
fn multi_line_paste_can_be_refused() {
    let mut app = app();
    type_str(&mut app, "keep me");
    app.update(Event::Paste("a\nb".into()));
    assert!(app.input.is_empty());
    assert!(app.update(key(KeyCode::Char('n'))).is_empty());
    assert_eq!(app.input.text(), "keep me");
    assert_eq!(
        last(&app),
        &EntryKind::Info("paste of 2 lines dropped".into())
    );
}

#[test]
fn chat_from_the_server_is_sanitised_and_marked() {
    let mut app = app();
    assert!(app.update(chat("bob", "\x1b[2Jhi")).is_empty());
    assert_eq!(
        last(&app),
        &EntryKind::Chat {
            from: "bob".into(),
            text: "␛[2Jhi".into(),
            action: false,
            own: false,
            mention: false,
        }
    );
    app.update(chat("alice", "mine"));
    assert!(matches!(last(&app), EntryKind::Chat { own: true, .. }));
}

#[test]
fn mention_is_highlighted_and_rings_unless_turned_off() {
    let mut app = app();
    assert_eq!(app.update(chat("bob", "hey Alice!")), [Command::Bell]);
    assert!(matches!(last(&app), EntryKind::Chat { mention: true, .. }));
    // Not a word of its own: no mention.
    assert!(app.update(chat("bob", "malice")).is_empty());
    // One's own line naming oneself does not ring.
    assert!(app.update(chat("alice", "alice here")).is_empty());
    app.settings.bell = false;
    assert!(app.update(chat("bob", "alice?")).is_empty());
    assert!(matches!(last(&app), EntryKind::Chat { mention: true, .. }));
}

#[test]
fn private_message_rings() {
    let mut app = app();
    let pm = |from: &str, to: &str| {
        Event::Server(ServerMsg::Private {
            id: 2,
            time_ms: T,
            from: from.into(),
            to: to.into(),
            text: "psst".into(),
        })
    };
    assert_eq!(app.update(pm("bob", "alice")), [Command::Bell]);
    assert!(app.update(pm("alice", "bob")).is_empty());
    assert!(matches!(last(&app), EntryKind::Private { own: true, .. }));
}

#[test]
fn room_events_keep_the_member_list() {
    let mut app = app();
    let notice = room_msg;
    app.update(notice(RoomEvent::Joined {
        nick: "dave".into(),
    }));
    app.update(notice(RoomEvent::Left {
        nick: "bobby".into(),
        reason: "bye".into(),
    }));
    app.update(notice(RoomEvent::Renamed {
        old: "carol".into(),
        new: "caz".into(),
    }));
    assert_eq!(app.members, ["alice", "bob", "caz", "dave"]);
    assert_eq!(
        last(&app),
        &EntryKind::Notice("carol is now known as caz".into())
    );
    app.update(Event::Server(ServerMsg::NickChanged {
        nick: "alicia".into(),
    }));
    assert_eq!(app.nick, "alicia");
    assert_eq!(app.members, ["alicia", "bob", "caz", "dave"]);
    app.update(Event::Server(ServerMsg::Joined4 {
        room: "rust".into(),
        seq: 3,
        members: MemberPage {
            total: 2,
            names: vec!["alicia".into(), "ferris".into()],
            more: false,
        },
    }));
    assert_eq!((app.room.as_str(), app.members.len()), ("rust", 2));
}

/// What the version 3 messages said, the version 4 ones say too (and the other way).
#[test]
fn version_3_room_messages_read_like_version_4_ones() {
    let mut app = app();
    app.update(Event::Server(ServerMsg::Chat {
        id: 1,
        time_ms: T,
        room: "lobby".into(),
        from: "bob".into(),
        kind: ChatKind::Action,
        text: "waves".into(),
    }));
    let v3 = last(&app).clone();
    app.update(room_msg(RoomEvent::Said {
        from: "bob".into(),
        kind: ChatKind::Action,
        text: "waves".into(),
    }));
    assert_eq!(last(&app), &v3);
    app.update(notice(
        "lobby",
        RoomEvent::Joined {
            nick: "dave".into(),
        },
    ));
    assert_eq!(last(&app), &EntryKind::Notice("dave joined #lobby".into()));
}

#[test]
fn a_page_of_members_says_how_many_more_there_are() {
    let mut app = app();
    app.update(Event::Server(ServerMsg::Reply {
        id: 9,
        msg: Box::new(ServerMsg::Members4 {
            room: "lobby".into(),
            members: MemberPage {
                total: 1500,
                names: vec!["alice".into(), "bob".into()],
                more: true,
            },
        }),
    }));
    assert_eq!(
        last(&app),
        &EntryKind::Notice("members of #lobby (1500): alice, bob, and 1498 more".into())
    );
}

/// The client keeps its member list in the server's order (case-folded), so a join, a
/// rename or a nick change puts a member where the server's next list would have it.
#[test]
fn members_are_kept_in_the_servers_order() {
    let mut app = app();
    app.update(Event::Server(ServerMsg::Joined {
        room: "dev".into(),
        members: vec!["alice".into(), "Amy".into(), "bo".into(), "zed".into()],
    }));
    let notice = |event| notice("dev", event);
    app.update(notice(RoomEvent::Joined {
        nick: "Carl".into(),
    }));
    assert_eq!(app.members, ["alice", "Amy", "bo", "Carl", "zed"]);
    app.update(notice(RoomEvent::Renamed {
        old: "zed".into(),
        new: "Bea".into(),
    }));
    assert_eq!(app.members, ["alice", "Amy", "Bea", "bo", "Carl"]);
    app.update(Event::Server(ServerMsg::NickChanged { nick: "Zoe".into() }));
    assert_eq!(app.members, ["Amy", "Bea", "bo", "Carl", "Zoe"]);
}

#[test]
fn server_errors_are_shown() {
    let mut app = app();
    app.update(Event::Server(ServerMsg::Error {
        kind: ErrorKind::NoSuchNick,
        text: "no such nick: zed".into(),
    }));
    assert_eq!(
        last(&app),
        &EntryKind::Error("server: no such nick: zed".into())
    );
}

#[test]
fn connection_states() {
    let mut app = app();
    app.update(Event::Disconnected {
        reason: "reset".into(),
    });
    assert_eq!(
        app.conn,
        ConnState::Disconnected {
            reason: "reset".into()
        }
    );
    app.update(Event::Reconnecting {
        attempt: 2,
        delay: Duration::from_secs(1),
        error: "refused".into(),
    });
    assert!(matches!(
        app.conn,
        ConnState::Reconnecting { attempt: 2, .. }
    ));
    app.update(Event::Queued { waiting: 1 });
    assert_eq!(app.queued, 1);
    app.update(Event::Reconnected(Welcome {
        nick: "alice".into(),
        room: "lobby".into(),
        members: vec!["alice".into()],
        seq: 20,
    }));
    app.update(Event::Flushed { sent: 1 });
    assert_eq!((app.conn.clone(), app.queued), (ConnState::Connected, 0));
    app.update(Event::Refused {
        reason: "queue full".into(),
    });
    assert_eq!(last(&app), &EntryKind::Error("not sent: queue full".into()));
    assert_eq!(
        app.update(Event::Fatal("version".into())),
        [Command::Fail("version".into())]
    );
}

#[test]
fn scrolled_up_view_stays_put_and_counts_new_messages() {
    let mut app = app();
    for i in 0..100 {
        app.update(chat("bob", &format!("line {i}")));
    }
    app.update(key(KeyCode::PageUp));
    let page = app.scroll();
    assert!(page > 0);
    app.update(chat("bob", "new one"));
    app.update(chat("bob", &"long ".repeat(40)));
    // The long line wraps to 3 rows at 80 columns: the view moved up by 1 + 3 rows.
    assert_eq!(app.scroll(), page + 4);
    assert_eq!(app.unseen(), 2);
    app.update(Event::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 0,
        row: 0,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.scroll(), page + 1);
    app.update(key(KeyCode::PageDown));
    assert_eq!((app.scroll(), app.unseen()), (1, 2));
    app.update(key(KeyCode::PageDown));
    assert_eq!((app.scroll(), app.unseen()), (0, 0));
}

#[test]
fn scrolling_stops_at_the_oldest_line() {
    let mut app = app();
    for i in 0..30 {
        app.update(chat("bob", &format!("line {i}")));
    }
    for _ in 0..10 {
        app.update(key(KeyCode::PageUp));
    }
    // 31 entries (with the welcome line) in a pane of 22 rows.
    assert_eq!(app.scroll(), 31 - 22);
    app.update(key(KeyCode::Esc));
    assert_eq!(app.scroll(), 0);
}

#[test]
fn sending_jumps_back_to_the_newest() {
    let mut app = app();
    for i in 0..50 {
        app.update(chat("bob", &format!("line {i}")));
    }
    app.update(key(KeyCode::PageUp));
    submit(&mut app, "hi");
    assert_eq!(app.scroll(), 0);
}

#[test]
fn f2_toggles_the_member_list() {
    let mut app = app();
    app.update(key(KeyCode::F(2)));
    assert!(app.show_members);
    app.update(key(KeyCode::F(2)));
    assert!(!app.show_members);
}

#[test]
fn scrollback_is_bounded() {
    let mut app = app();
    for i in 0..MAX_SCROLLBACK + 10 {
        app.update(chat("bob", &i.to_string()));
    }
    assert_eq!(app.messages().len(), MAX_SCROLLBACK);
}

#[test]
fn mentions_match_whole_words_only() {
    assert!(mentions("hi alice", "alice"));
    assert!(mentions("ALICE: look", "alice"));
    assert!(mentions("@alice!", "alice"));
    assert!(!mentions("malice", "alice"));
    assert!(!mentions("alice_b", "alice"));
    assert!(mentions("你好 alice", "alice"));
    assert!(!mentions("anything", ""));
}

// ----- file transfers --------------------------------------------------------------------

use chat_client::transfer::{Request, TransferEvent};

fn transfer(app: &mut App, event: TransferEvent) {
    app.update(Event::Transfer(event));
}

#[test]
fn send_file_starts_an_upload_with_a_bar() {
    let mut app = app();
    let out = submit(&mut app, "/send-file ~/docs/report.pdf");
    assert_eq!(
        out,
        [Command::Transfer(Request::Upload {
            id: 1,
            path: "~/docs/report.pdf".into()
        })]
    );
    assert_eq!(app.transfers.len(), 1);
    assert_eq!(app.transfers[0].name, "report.pdf");
    assert!(!app.transfers[0].started);

    app.now_ms = T;
    transfer(
        &mut app,
        TransferEvent::Started {
            id: 1,
            name: "report.pdf".into(),
            size: 1000,
        },
    );
    assert!(app.transfers[0].started);
    app.now_ms = T + 1000;
    transfer(&mut app, TransferEvent::Progress { id: 1, done: 400 });
    let p = &app.transfers[0].progress;
    assert_eq!((p.done, p.total, p.percent()), (400, 1000, 40));
    assert_eq!(p.rate(), Some(400.0));

    transfer(&mut app, TransferEvent::Uploaded { id: 1, file_id: 7 });
    assert!(app.transfers.is_empty());
    assert!(
        matches!(last(&app), EntryKind::Info(t) if t.contains("sent report.pdf") && t.contains("file 7"))
    );
}

#[test]
fn get_downloads_into_the_download_folder_once_at_a_time() {
    let mut app = app();
    let out = submit(&mut app, "/get 3");
    assert_eq!(
        out,
        [Command::Transfer(Request::Download {
            id: 1,
            file_id: 3,
            dir: "/tmp/downloads".into()
        })]
    );
    assert_eq!(app.transfers[0].name, "file 3");
    assert!(submit(&mut app, "/get 3").is_empty());
    assert!(matches!(last(&app), EntryKind::Error(t) if t.contains("already being downloaded")));

    transfer(
        &mut app,
        TransferEvent::Started {
            id: 1,
            name: "evil\u{1b}[2J.txt".into(),
            size: 5,
        },
    );
    assert_eq!(
        app.transfers[0].name, "evil\u{241b}[2J.txt",
        "names are sanitised"
    );
    transfer(
        &mut app,
        TransferEvent::Saved {
            id: 1,
            path: "/tmp/downloads/x (1).txt".into(),
        },
    );
    assert!(app.transfers.is_empty());
    assert!(
        matches!(last(&app), EntryKind::Info(t) if t.contains("x (1).txt") && t.contains("SHA-256 verified"))
    );
}

#[test]
fn a_failed_transfer_is_an_inline_error_and_its_bar_goes() {
    let mut app = app();
    submit(&mut app, "/get 9");
    transfer(
        &mut app,
        TransferEvent::Failed {
            id: 1,
            reason: "no such file: no file 9 in #lobby".into(),
        },
    );
    assert!(app.transfers.is_empty());
    assert!(
        matches!(last(&app), EntryKind::Error(t) if t.contains("download of file 9 failed: no such file"))
    );
    // Events of a transfer that is gone change nothing.
    transfer(&mut app, TransferEvent::Progress { id: 1, done: 1 });
    assert!(app.transfers.is_empty());
}

#[test]
fn cancel_picks_the_latest_transfer_or_the_one_named() {
    let mut app = app();
    assert!(submit(&mut app, "/cancel").is_empty());
    assert!(matches!(last(&app), EntryKind::Error(t) if t == "no transfer is running"));
    submit(&mut app, "/send-file a.bin");
    submit(&mut app, "/get 4");
    assert_eq!(
        submit(&mut app, "/cancel"),
        [Command::Transfer(Request::Cancel { id: 2 })]
    );
    assert_eq!(
        submit(&mut app, "/cancel 1"),
        [Command::Transfer(Request::Cancel { id: 1 })]
    );
    assert!(submit(&mut app, "/cancel 5").is_empty());
    assert!(matches!(last(&app), EntryKind::Error(t) if t == "no transfer 5; running: 1, 2"));
    transfer(&mut app, TransferEvent::Cancelled { id: 2 });
    assert_eq!(app.transfers.len(), 1);
    assert!(matches!(last(&app), EntryKind::Info(t) if t.contains("download of file 4 cancelled")));
}

#[test]
fn resumed_and_restarted_transfers_say_so() {
    let mut app = app();
    submit(&mut app, "/send-file big.bin");
    transfer(
        &mut app,
        TransferEvent::Started {
            id: 1,
            name: "big.bin".into(),
            size: 1 << 20,
        },
    );
    transfer(
        &mut app,
        TransferEvent::Resumed {
            id: 1,
            offset: 1 << 19,
        },
    );
    assert_eq!(app.transfers[0].progress.percent(), 50);
    assert!(
        matches!(last(&app), EntryKind::Notice(t) if t.contains("resumed at 512 KiB of 1.0 MiB"))
    );
    transfer(
        &mut app,
        TransferEvent::Restarted {
            id: 1,
            reason: "starting again from zero".into(),
        },
    );
    assert_eq!(app.transfers[0].progress.percent(), 0);
    assert!(matches!(last(&app), EntryKind::Notice(t) if t.contains("starting again from zero")));
}

fn offer(id: u64, name: &str, size: u64) -> shared::FileInfo {
    shared::FileInfo {
        id,
        name: name.into(),
        size,
        sha256: vec![0; 32],
        from: "bob".into(),
        time_ms: T,
        room: "lobby".into(),
    }
}

#[test]
fn offers_and_file_lists_show_the_command_that_fetches() {
    let mut app = app();
    app.update(room_msg(RoomEvent::Shared {
        file: offer(3, "report\u{202e}fdp.exe", 1_288_490_189),
    }));
    assert!(matches!(last(&app), EntryKind::Notice(t)
        if t == "bob shares report<U+202E>fdp.exe (1.20 GiB): type /get 3 to download it"));
    app.update(Event::Server(ServerMsg::Files {
        room: "lobby".into(),
        files: vec![offer(3, "a.txt", 10), offer(4, "b.txt", 2048)],
    }));
    let texts: Vec<_> = app
        .messages()
        .iter()
        .rev()
        .take(3)
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(
        texts,
        [
            EntryKind::Notice("  /get 4    b.txt  2.0 KiB  from bob".into()),
            EntryKind::Notice("  /get 3    a.txt  10 B  from bob".into()),
            EntryKind::Notice("files in #lobby (2):".into()),
        ]
    );
    assert_eq!(
        submit(&mut app, "/files"),
        [Command::Send(ClientMsg::ListFiles)]
    );
}

#[test]
fn tab_completes_the_path_of_send_file() {
    let mut app = app();
    app.paths = PathLister(std::sync::Arc::new(|typed: &str| {
        ["docs/", "report.pdf", "reports/"]
            .iter()
            .filter(|c| c.starts_with(typed))
            .map(|c| (*c).to_owned())
            .collect()
    }));
    type_str(&mut app, "/send-file rep");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "/send-file report.pdf");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "/send-file reports/");
    app.update(key(KeyCode::Tab));
    assert_eq!(app.input.text(), "/send-file report.pdf");
}

#[test]
fn a_long_paste_says_it_goes_at_the_clients_pace() {
    let mut app = app();
    let text: Vec<String> = (0..55).map(|n| format!("line {n}")).collect();
    app.update(Event::Paste(text.join("\n")));
    let out = app.update(key(KeyCode::Char('y')));
    assert_eq!(out.len(), 55);
    assert_eq!(
        last(&app),
        &EntryKind::Info(
            "sending 55 lines, 40 of them at 8 a second (about 5 s) so that the server does \
             not take them for a flood"
                .into()
        )
    );
    // The status line counts what waits, until all is out.
    app.update(Event::Waiting { waiting: 40 });
    assert_eq!(app.waiting, 40);
    app.update(Event::Waiting { waiting: 0 });
    assert_eq!(app.waiting, 0);
}

#[test]
fn a_short_paste_says_nothing_about_pace() {
    let mut app = app();
    app.update(Event::Paste("a\nb\nc".into()));
    let before = app.messages().len();
    assert_eq!(app.update(key(KeyCode::Char('y'))).len(), 3);
    assert_eq!(app.messages().len(), before);
}

#[test]
fn the_servers_rate_warning_shows_once() {
    let mut app = app();
    let warning = || {
        Event::Server(ServerMsg::Error {
            kind: ErrorKind::RateLimited,
            text: "you send faster than 10 messages a second".into(),
        })
    };
    let before = app.messages().len();
    app.update(Event::Waiting { waiting: 30 });
    for _ in 0..5 {
        app.update(warning());
    }
    assert_eq!(app.messages().len(), before + 1);
    assert_eq!(
        last(&app),
        &EntryKind::Notice("server: you send faster than 10 messages a second".into())
    );
    // Once all is sent, a new warning is news again.
    app.update(Event::Waiting { waiting: 0 });
    app.update(warning());
    assert_eq!(app.messages().len(), before + 2);
}

#[test]
fn an_oversized_message_from_a_hostile_server_is_cut_in_the_scrollback() {
    let mut app = app();
    let huge_nick = "名".repeat(100_000);
    app.update(chat(&huge_nick, &"x".repeat(1 << 20)));
    let EntryKind::Chat { from, text, .. } = last(&app) else {
        panic!("a chat entry");
    };
    assert!(
        from.len() <= MAX_ENTRY_NAME_BYTES + '…'.len_utf8(),
        "{}",
        from.len()
    );
    assert!(
        text.len() <= MAX_ENTRY_TEXT_BYTES + '…'.len_utf8(),
        "{}",
        text.len()
    );
    assert!(from.ends_with("名…") && text.ends_with("x…"));
    // A text within the protocol's limit is kept whole.
    let longest = "y".repeat(shared::limits::MAX_TEXT_BYTES);
    app.update(chat("bob", &longest));
    assert!(matches!(last(&app), EntryKind::Chat { text, .. } if *text == longest));
}

/// Version 4 tells a renamer of its own rename before the answer: one line, not two.
#[test]
fn ones_own_rename_is_told_once() {
    let mut app = app();
    let before = app.messages().len();
    app.update(room_msg(RoomEvent::Renamed {
        old: "alice".into(),
        new: "alicia".into(),
    }));
    app.update(Event::Server(ServerMsg::Reply {
        id: 3,
        msg: Box::new(ServerMsg::NickChanged {
            nick: "alicia".into(),
        }),
    }));
    assert_eq!(app.messages().len(), before + 1);
    assert_eq!(
        last(&app),
        &EntryKind::Notice("you are now known as alicia".into())
    );
    assert_eq!(app.members, ["alicia", "bob", "bobby", "carol"]);
}
