//! A bounded benchmark (run by hand: `cargo test --release -p chat-tui --test rooms_load
//! -- --ignored --nocapture`): the terminal client in 20 rooms, one of them flooded at the
//! server's rate limit by 10 clients, while keys are typed and buffers switched. It
//! measures, for every key, the time from the key's arrival to the end of the draw that
//! shows it, through the client's own loop (the app, the widgets, the client library over
//! loopback TCP to a real server in this process), drawing into ratatui's test backend.
//! The terminal's own time to paint is not in it.
//!
//! Loopback only; 15 seconds of flood at most.

#![cfg(feature = "host")]

use std::time::{Duration, Instant};

use chat_tui::app::{App, Command, Event, Settings};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use futures::{SinkExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shared::{ClientCodec, ClientMsg};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

/// Rooms the client is in (the most one connection may be in).
const ROOMS: usize = shared::limits::MAX_JOINED_ROOMS;
/// Clients flooding one of them.
const FLOODERS: usize = 10;
/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(12);
/// Time between two keys.
const KEY_EVERY: Duration = Duration::from_millis(30);
/// Most events handled between two draws, as the client's loop does.
const MAX_BATCH: usize = 1000;

fn settings() -> Settings {
    Settings {
        server: "127.0.0.1".into(),
        hosting: None,
        hosting_key: None,
        bell: false,
        utc_offset_secs: 0,
        download_dir: std::env::temp_dir(),
        choices: chat_tui::app::Choices::default(),
        key: None,
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A flooder: in `room` as `nick`, one line every `every` until `until`; what the server
/// sends is read and dropped.
async fn flood(
    addr: std::net::SocketAddr,
    nick: String,
    room: &str,
    every: Duration,
    until: Instant,
) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let mut conn = Framed::new(stream, ClientCodec::default());
    conn.send(ClientMsg::hello4(&nick, room))
        .await
        .expect("hello");
    let (mut sink, mut stream) = conn.split();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    let mut tick = tokio::time::interval(every);
    let mut n = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        let text = format!("{nick} floods line {n} 洪水 🌊 with some words to wrap a bit");
        if sink.send(ClientMsg::Chat { text }).await.is_err() {
            break;
        }
    }
    let _ = sink
        .send(ClientMsg::Quit {
            reason: String::new(),
        })
        .await;
    reader.abort();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn summary(what: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let p99 = percentile(&times, 0.99);
    println!(
        "{what}: {} keys, median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    p99
}

#[test]
#[ignore = "a benchmark: run it by hand, in release"]
fn typing_and_switching_with_twenty_rooms_and_one_flooded() {
    let data = tempfile::tempdir().unwrap();
    // The server and the flooders on a runtime of their own, as in another process.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = chat_server::Config {
        data_dir: data.path().to_owned(),
        ..chat_server::Config::default()
    };
    let rate = config.msg_rate.max(1);
    let addr = server_rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(chat_server::run(
            listener,
            config,
            std::future::pending::<()>(),
        ));
        addr
    });

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        let options = chat_client::Options {
            addr: addr.to_string(),
            nick: "alice".into(),
            room: "room00".into(),
        };
        // The server in this process speaks plain TCP (`chat_server::run`).
        let (net, mut events, welcome) = chat_client::connect_with(chat_client::Tcp, options)
            .await
            .unwrap();
        assert!(welcome.rooms, "the server grants the feature \"rooms\"");
        let mut app = App::new(settings(), welcome, now_ms());
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let run = |net: &chat_client::Client, commands: Vec<Command>| {
            for command in commands {
                if let Command::Send(msg) = command {
                    net.send(msg);
                }
            }
        };
        // Join the other rooms, one by one, waiting for each answer.
        for n in 1..ROOMS {
            let line = format!("/join room{n:02}");
            for c in line.chars() {
                app.update(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
            }
            let commands = app.update(Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
            run(&net, commands);
            while app.buffers.len() <= n {
                let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
                    .await
                    .expect("the join's answer")
                    .expect("the session");
                app.now_ms = now_ms();
                let commands = app.update(chat_tui::event::from_client(event));
                run(&net, commands);
            }
        }
        assert_eq!(app.buffers.len(), ROOMS);

        // The flood: 10 clients in room05, each at the server's rate.
        let until = Instant::now() + FLOOD;
        let every = Duration::from_secs(1) / rate;
        for f in 0..FLOODERS {
            server_rt.spawn(flood(addr, format!("flooder{f}"), "room05", every, until));
        }
        // The keys, from a thread of their own, each stamped when it is pressed.
        let (keys_tx, mut keys) = mpsc::unbounded_channel::<(Instant, KeyEvent)>();
        std::thread::spawn(move || {
            let mut n = 0usize;
            while Instant::now() < until {
                std::thread::sleep(KEY_EVERY);
                n += 1;
                // Nine letters, then a buffer switch (Alt-1…9 round, room05 among them).
                let key = if n % 10 == 0 {
                    let digit = char::from(b'1' + ((n / 10) % 9) as u8);
                    KeyEvent::new(KeyCode::Char(digit), KeyModifiers::ALT)
                } else {
                    KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)
                };
                if keys_tx.send((Instant::now(), key)).is_err() {
                    break;
                }
            }
        });

        let mut typing = Vec::new();
        let mut switching = Vec::new();
        let mut flood_seen = 0usize;
        let mut draws = 0usize;
        loop {
            let mut pressed: Vec<(Instant, bool)> = Vec::new();
            let handle = |app: &mut App, event: Event| {
                app.now_ms = now_ms();
                let commands = app.update(event);
                run(&net, commands);
            };
            tokio::select! {
                key = keys.recv() => match key {
                    Some((at, key)) => {
                        pressed.push((at, key.modifiers.contains(KeyModifiers::ALT)));
                        // A line of x's is cleared now and then: the draft stays short.
                        if app.input.text().len() > 60 {
                            handle(&mut app, Event::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
                        }
                        handle(&mut app, Event::Key(key));
                    }
                    None => break,
                },
                event = events.recv() => {
                    flood_seen += 1;
                    handle(&mut app, chat_tui::event::from_client(event.expect("the session")));
                }
            }
            for _ in 1..MAX_BATCH {
                // Keys first, as the client's loop does.
                if let Ok((at, key)) = keys.try_recv() {
                    pressed.push((at, key.modifiers.contains(KeyModifiers::ALT)));
                    handle(&mut app, Event::Key(key));
                } else if let Ok(event) = events.try_recv() {
                    flood_seen += 1;
                    handle(&mut app, chat_tui::event::from_client(event));
                } else {
                    break;
                }
            }
            terminal.draw(|frame| chat_tui::ui::draw(frame, &mut app)).unwrap();
            draws += 1;
            let drawn = Instant::now();
            for (at, switch) in pressed {
                let took = drawn - at;
                if switch { switching.push(took) } else { typing.push(took) }
            }
            app.now_ms = now_ms();
            let commands = app.viewed();
            run(&net, commands);
        }
        println!(
            "{ROOMS} rooms, {FLOODERS} flooders at {rate}/s each in one room for {} s: \
             {flood_seen} events, {draws} draws",
            FLOOD.as_secs()
        );
        let typed = summary("typing (key to drawn)", typing);
        let switched = summary("switching (Alt-N to drawn)", switching);
        net.send(ClientMsg::Quit { reason: String::new() });
        net.finish().await;
        assert!(typed < Duration::from_millis(16), "typing p99 {typed:?}");
        assert!(switched < Duration::from_millis(16), "switching p99 {switched:?}");
    });
}
