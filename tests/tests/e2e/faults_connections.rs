//! Faults at the door: a burst of 10,000 connection attempts, and a server that runs out
//! of file descriptors. The server is the real binary.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tests::binaries::{start_server_binary, start_server_process};
use tests::client::{TestClient, WAIT, encode, hello, says};
use tests::probe::vm_kib;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

type Result = anyhow::Result<()>;

/// One round of chat: `a` says something and `b` must receive it.
async fn round(a: &mut TestClient, b: &mut TestClient, text: &str) -> Result {
    a.say(text).await?;
    b.recv_until(|m| says(m, text)).await?;
    Ok(())
}

/// 10,000 connection attempts, at most 250 open at a time: a third closed at once, a
/// third left half-open (half a header, then nothing), a third saying hello. Meanwhile two
/// members keep chatting, and each of their messages arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_connections_leaves_the_members_chatting() -> Result {
    const ATTEMPTS: usize = 10_000;
    const AT_ONCE: usize = 250;
    let (server, addr) =
        start_server_binary(&["--max-connections-per-ip", "0", "--handshake-timeout", "2s"])
            .await?;
    let pid = server.id().expect("the server runs");
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let rss_before = vm_kib(pid, "VmRSS")?;

    let burst = tokio::spawn(async move {
        let mut connected = 0usize;
        let mut refused = 0usize;
        let mut set = JoinSet::new();
        for i in 0..ATTEMPTS {
            if set.len() >= AT_ONCE {
                if let Some(Ok(ok)) = set.join_next().await {
                    if ok { connected += 1 } else { refused += 1 }
                }
            }
            set.spawn(async move {
                let Ok(Ok(mut stream)) = timeout(WAIT, TcpStream::connect(addr)).await else {
                    return false;
                };
                match i % 3 {
                    0 => {}
                    1 => {
                        let _ = stream.write_all(&[0, 0]).await;
                        sleep(Duration::from_millis(20)).await;
                    }
                    _ => {
                        let nick = format!("b{i}");
                        let _ = stream.write_all(&encode(hello(&nick, "burst"))).await;
                        sleep(Duration::from_millis(20)).await;
                    }
                }
                true
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(true) => connected += 1,
                _ => refused += 1,
            }
        }
        (connected, refused)
    });

    // The members chat until the burst is over; bounded by a number of rounds.
    let started = Instant::now();
    let mut rounds = 0;
    while !burst.is_finished() && rounds < 2_000 {
        round(&mut ann, &mut bob, &format!("ann {rounds}")).await?;
        round(&mut bob, &mut ann, &format!("bob {rounds}")).await?;
        rounds += 1;
        // Twice the default rate limit's pace would be too fast for long; this is under it.
        sleep(Duration::from_millis(150)).await;
    }
    let (connected, refused) = burst.await?;
    let rss_peak = vm_kib(pid, "VmHWM")?;
    eprintln!(
        "{ATTEMPTS} attempts in {:?}: {connected} connected, {refused} failed; the members \
         chatted {rounds} rounds meanwhile; server RSS {rss_before} KiB before, {rss_peak} KiB \
         at peak",
        started.elapsed()
    );
    assert_eq!(connected + refused, ATTEMPTS);
    assert!(rounds > 0, "the members chatted during the burst");

    // Afterwards: the members are still there, and a newcomer gets in.
    round(&mut ann, &mut bob, "after the burst").await?;
    let mut cy = TestClient::connect(addr, "cy", "lobby").await?;
    round(&mut cy, &mut ann, "hello from cy").await?;
    assert_eq!(ann.who().await?, ["ann", "bob", "cy"]);
    Ok(())
}

/// The server started with at most 64 file descriptors: connections beyond them make
/// `accept` fail (the server logs it and pauses instead of spinning or dying); once they
/// are closed, a new client connects and chats. The hard limit is lowered too, because
/// the server raises its soft limit to the hard one at start.
#[tokio::test]
async fn the_accept_loop_survives_running_out_of_descriptors() -> Result {
    const CLIENTS: usize = 100;
    let wrapper = [
        "bash",
        "-c",
        "ulimit -Sn 64 && ulimit -Hn 64 && exec \"$0\" \"$@\"",
    ];
    let (mut server, addr) = start_server_process(
        &wrapper,
        "127.0.0.1:0",
        // In plaintext: the raw hellos below log in and hold their descriptors (a TLS
        // server would close each at once, telling it to speak TLS).
        &["--max-connections-per-ip", "0", "--plaintext"],
        Stdio::piped(),
    )
    .await?;
    let stderr = server.stderr.take().expect("stderr is piped");
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let lines = Arc::clone(&log);
    tokio::spawn(async move {
        let mut reader = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            lines.lock().expect("log lock").push(line);
        }
    });
    let accept_failed = || {
        log.lock()
            .expect("log lock")
            .iter()
            .any(|l| l.contains("accept failed"))
    };

    // Each says hello; those beyond the descriptors wait in the listen backlog.
    let mut streams = Vec::new();
    for i in 0..CLIENTS {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(&encode(hello(&format!("u{i}"), "lobby")))
            .await?;
        streams.push(stream);
    }
    let deadline = Instant::now() + WAIT;
    while !accept_failed() && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    assert!(
        accept_failed(),
        "accept never failed: {:?}",
        log.lock().expect("log lock")
    );
    assert!(
        log.lock()
            .expect("log lock")
            .iter()
            .any(|l| l.contains("Too many open files")),
        "{:?}",
        log.lock().expect("log lock")
    );

    // Descriptors come back as the connections close; the server catches up with the
    // backlog and serves a new client. Bounded retries.
    drop(streams);
    let mut ann = None;
    for _ in 0..100 {
        if let Ok(Ok(client)) = timeout(WAIT, TestClient::connect(addr, "ann", "lobby")).await {
            ann = Some(client);
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    let mut ann = ann.expect("a client got in after the descriptors came back");
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    round(&mut ann, &mut bob, "recovered").await?;
    round(&mut bob, &mut ann, "indeed").await?;
    Ok(())
}
