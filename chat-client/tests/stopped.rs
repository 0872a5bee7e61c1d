//! A session the server does not want back (feature `auth`): kicked, it stops instead of
//! knocking again and again; `Client::reconnect` tries once; a ban at that handshake stops
//! it again; the next try is welcomed. The server is a script at the other end of
//! in-memory pipes, handed out one per dial through the library's stream seam, so that
//! every dial is counted.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_client::shared::{
    ClientMsg, ErrorKind, FEATURE_AUTH, Limits, MemberPage, PROTOCOL_VERSION, ServerCodec,
    ServerMsg,
};
use chat_client::{Connector, Credentials, Event, Identity, Options};
use futures::{SinkExt, StreamExt};
use tokio::io::DuplexStream;
use tokio::sync::{Mutex, mpsc};
use tokio::time::timeout;
use tokio_util::codec::Framed;

/// Longest wait for an event that should come.
const WAIT: Duration = Duration::from_secs(5);

/// Dials that take the next pipe the test made, and are counted.
#[derive(Clone)]
struct Pipes {
    ready: Arc<Mutex<mpsc::UnboundedReceiver<DuplexStream>>>,
    dials: Arc<AtomicUsize>,
}

impl Connector for Pipes {
    type Stream = DuplexStream;

    async fn connect(&self, _addr: &str) -> io::Result<DuplexStream> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        self.ready
            .lock()
            .await
            .try_recv()
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, "no server"))
    }
}

/// What the scripted server does after the client's proof.
#[derive(Clone, Copy)]
enum Script {
    /// Welcomes, then kicks.
    WelcomeThenKick,
    /// Refuses: banned.
    Ban,
    /// Welcomes, and stays.
    Welcome,
}

/// A server at the other end of a new pipe, playing `script`; the client's end is made
/// ready for the next dial.
fn serve(ready: &mpsc::UnboundedSender<DuplexStream>, script: Script) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    ready.send(client).unwrap();
    tokio::spawn(async move {
        let mut conn = Framed::new(server, ServerCodec::default());
        let Some(Ok(ClientMsg::Hello4 { nick, room, .. })) = conn.next().await else {
            return;
        };
        let challenge = ServerMsg::Challenge {
            nonce: vec![1; 32],
            password: false,
        };
        conn.send(challenge).await.unwrap();
        let Some(Ok(ClientMsg::Prove { key, .. })) = conn.next().await else {
            return;
        };
        assert_eq!(key.len(), 32, "the key proved on every connection");
        if let Script::Ban = script {
            let banned = ServerMsg::Error {
                kind: ErrorKind::Banned,
                text: "banned by carol until 18:00: flood".into(),
            };
            conn.send(banned).await.unwrap();
            return;
        }
        let welcome = ServerMsg::Welcome4 {
            version: PROTOCOL_VERSION,
            features: vec![FEATURE_AUTH.into()],
            limits: Limits {
                max_frame: 1 << 20,
                max_text: 4096,
                member_page: 1000,
                msg_rate: 0,
                msg_burst: 0,
                max_file_size: 1 << 30,
            },
            nick: nick.clone(),
            room: if room.is_empty() {
                "lobby".into()
            } else {
                room
            },
            seq: 0,
            members: MemberPage {
                total: 1,
                names: vec![nick],
                more: false,
            },
        };
        conn.send(welcome).await.unwrap();
        if let Script::WelcomeThenKick = script {
            let kicked = ServerMsg::Error {
                kind: ErrorKind::Kicked,
                text: "kicked by carol: spam".into(),
            };
            conn.send(kicked).await.unwrap();
            return;
        }
        // Stays, answering nothing, until the client leaves.
        while let Some(Ok(_)) = conn.next().await {}
    });
}

/// The next event that is not news of pacing.
async fn next(events: &mut mpsc::Receiver<Event>) -> Event {
    loop {
        let event = timeout(WAIT, events.recv())
            .await
            .expect("an event in time")
            .expect("the session goes on");
        if !matches!(event, Event::Waiting { .. }) {
            return event;
        }
    }
}

#[tokio::test]
async fn a_kicked_client_stays_out_until_asked_and_a_ban_stops_it_again() {
    let (ready, rx) = mpsc::unbounded_channel();
    let pipes = Pipes {
        ready: Arc::new(Mutex::new(rx)),
        dials: Arc::new(AtomicUsize::new(0)),
    };
    serve(&ready, Script::WelcomeThenKick);
    let options = Options {
        addr: "pipe".into(),
        nick: "ann".into(),
        room: "lobby".into(),
    };
    let credentials = Credentials {
        identity: Some(Arc::new(Identity::generate())),
        password: None,
    };
    let (client, mut events, _) = chat_client::connect_as(pipes.clone(), options, credentials)
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::Stopped {
            reason: "kicked by carol: spam".into()
        }
    );
    // Well past the first waits of a reconnect: no dial, nothing said.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(pipes.dials.load(Ordering::SeqCst), 1);
    assert!(events.try_recv().is_err(), "nothing more");
    // What is sent meanwhile is refused, not kept for a reconnect that may never come.
    client.send(ClientMsg::Chat {
        text: "anyone?".into(),
    });
    assert!(matches!(next(&mut events).await, Event::Refused { .. }));

    // Asked: one try, refused by a ban, which stops it again.
    serve(&ready, Script::Ban);
    client.reconnect();
    assert!(matches!(
        next(&mut events).await,
        Event::Reconnecting { attempt: 1, .. }
    ));
    let Event::Stopped { reason } = next(&mut events).await else {
        panic!("not stopped");
    };
    assert!(
        reason.ends_with("banned by carol until 18:00: flood"),
        "{reason}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(pipes.dials.load(Ordering::SeqCst), 2);

    // Asked again, welcomed.
    serve(&ready, Script::Welcome);
    client.reconnect();
    assert!(matches!(
        next(&mut events).await,
        Event::Reconnecting { .. }
    ));
    let Event::Reconnected(welcome) = next(&mut events).await else {
        panic!("not reconnected");
    };
    assert_eq!(welcome.nick, "ann");
    assert_eq!(pipes.dials.load(Ordering::SeqCst), 3);
    client.send(ClientMsg::Quit {
        reason: String::new(),
    });
    client.finish().await;
}
