//! What the app's tests share: an app in a room, keys, typing, and server messages.

use chat_client::Welcome;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use shared::{ChatKind, RoomEvent, ServerMsg};

use std::sync::atomic::{AtomicU64, Ordering};

use super::pane::ItemKind;
use super::room::message_entry;
use super::scrollback::EntryKind;
use super::{App, Command, Event, Settings};

/// 2023-11-14 22:13:20 UTC.
pub const T: u64 = 1_700_000_000_000;

pub fn settings() -> Settings {
    Settings {
        server: "127.0.0.1:7878".into(),
        hosting: None,
        hosting_key: None,
        bell: true,
        utc_offset_secs: 0,
        download_dir: "/tmp/downloads".into(),
        choices: crate::app::Choices::default(),
        key: Some(shared::auth::PublicKey::from_bytes(&[0x3f; 32]).expect("32 bytes")),
    }
}

/// alice in the lobby with bob, bobby and carol.
pub fn app() -> App {
    let welcome = Welcome {
        nick: "alice".into(),
        room: "lobby".into(),
        members: vec!["alice".into(), "bob".into(), "bobby".into(), "carol".into()],
        total: 4,
        seq: 10,
        rooms: false,
    };
    App::new(settings(), welcome, T)
}

pub fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        app.update(key(KeyCode::Char(c)));
    }
}

pub fn submit(app: &mut App, line: &str) -> Vec<Command> {
    type_str(app, line);
    app.update(key(KeyCode::Enter))
}

/// A chat line in the lobby, as version 4 brings it.
pub fn chat(from: &str, text: &str) -> Event {
    room_msg(RoomEvent::Said {
        from: from.into(),
        kind: ChatKind::Say,
        text: text.into(),
    })
}

/// The next sequence number of the lobby: after the welcome's 10, growing.
pub fn next_seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(11);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

pub fn room_msg(event: RoomEvent) -> Event {
    let seq = next_seq();
    Event::Server(ServerMsg::Room {
        id: seq,
        seq,
        time_ms: T,
        room: "lobby".into(),
        event,
    })
}

/// A version 3 notice in `room`.
pub fn notice(room: &str, event: RoomEvent) -> Event {
    Event::Server(ServerMsg::Notice {
        time_ms: T,
        room: room.into(),
        event,
    })
}

/// The newest item of the message pane, as it reads.
pub fn last(app: &App) -> EntryKind {
    match app.items().last().expect("an item").kind {
        ItemKind::Message(m) => message_entry(m, &app.room, &app.nick, &app.shares).kind,
        ItemKind::Local(e) => e.kind.clone(),
        ItemKind::Marker(m) => panic!("a marker: {m:?}"),
    }
}

/// Draws the whole screen `width` by `height` below the title line (a screen one row
/// taller), as the event loop does before it tells the app what the pane showed; returns
/// the screen's rows below the title line.
pub fn draw(app: &mut App, width: u16, height: u16) -> Vec<String> {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height + 1)).unwrap();
    terminal.draw(|frame| crate::ui::draw(frame, app)).unwrap();
    crate::ui::tests::rows(terminal.backend().buffer())
        .iter()
        .skip(1)
        .map(|r| r.trim_end().to_owned())
        .collect()
}
