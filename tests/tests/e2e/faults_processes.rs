//! Faults of client processes: a member stopped with SIGSTOP in a busy room, and a client
//! killed in the middle of a download. The server is the real binary, the stopped or
//! killed client a real process (`chat-probe`).

use std::time::Duration;

use shared::ServerMsg;
use shared::limits::MAX_TEXT_BYTES;
use tests::binaries::start_server_binary;
use tests::client::{TestClient, WAIT, joined, left, said, says};
use tests::files::{download, files_under, list_files, random_file, sha256_of, upload};
use tests::probe::{Probe, vm_kib};
use tokio::sync::watch;

type Result = anyhow::Result<()>;

fn is_left<'a>(who: &'a str) -> impl Fn(&ServerMsg) -> bool + 'a {
    move |m| left(m, who, |_| true)
}

fn big_text(i: usize) -> String {
    let mut text = format!("{i:05} ");
    text.push_str(&"x".repeat(MAX_TEXT_BYTES - text.len()));
    text
}

/// A member stopped with SIGSTOP while a talker fills the room with 4 KiB messages: it is
/// cut off as a slow consumer after a bounded number of messages, the server's memory
/// stays within its queue limit plus a margin, and a listening member receives every
/// message in order. Then the stopped process is continued: it finds its connection closed
/// and exits, and its nick is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_member_is_cut_off_and_the_room_goes_on() -> Result {
    // No rate limit: the talker stands for a whole busy room. The queue is the default,
    // 256 KiB.
    // In plaintext: chat-probe speaks plain TCP.
    let (server, addr) = start_server_binary(&["--msg-rate", "0", "--plaintext"]).await?;
    let server_pid = server.id().expect("the server runs");
    let mut talker = TestClient::connect(addr, "talker", "lobby").await?;
    let listener = TestClient::connect(addr, "listener", "lobby").await?;
    let mut sleepy = Probe::start(&[], addr, "sleepy", &["--recv-buffer", "4096"])?;
    sleepy
        .wait_for("its welcome", WAIT, |l| l == "welcome sleepy")
        .await?;
    talker.recv_until(|m| joined(m, "sleepy")).await?;
    sleepy.signal("STOP")?;
    let rss_before = vm_kib(server_pid, "VmRSS")?;

    // The listener reads in a task and publishes how many chats it has seen.
    const MESSAGES: usize = 4000;
    let (progress_tx, mut progress) = watch::channel(0usize);
    let reading = tokio::spawn(async move {
        let mut listener = listener;
        let mut texts = Vec::new();
        loop {
            if let Some(text) = said(&listener.recv().await?).map(|s| s.text.to_owned()) {
                if text == "the end" {
                    return anyhow::Ok((listener, texts));
                }
                texts.push(text);
                progress_tx.send_replace(texts.len());
            }
        }
    });

    // Send until the stopped member is cut off, and as many again: 16 MiB at most.
    let mut cut_after = None;
    let mut sent = 0;
    for i in 0..MESSAGES {
        // The listener may lag a little behind, never far (it reads): 8 messages are a
        // small part of the queue, even while the server's writer waits for a CPU.
        let behind = i.saturating_sub(8);
        let caught_up = progress.wait_for(|&seen| seen >= behind);
        if !matches!(tokio::time::timeout(WAIT, caught_up).await, Ok(Ok(_))) {
            let stopped = reading.await?;
            panic!("the listener stopped reading after {i} messages: {stopped:?}");
        }
        talker.say(&big_text(i)).await?;
        sent += 1;
        let prefix = format!("{i:05} ");
        let frames = talker
            .collect_until(|m| said(m).is_some_and(|s| s.text.starts_with(&prefix)))
            .await?;
        if frames.iter().any(is_left("sleepy")) {
            cut_after.get_or_insert(i);
        }
        if cut_after.is_some_and(|cut| i >= 2 * cut) {
            break;
        }
    }
    let cut_after = cut_after.expect("the stopped member was never cut off");
    let rss_peak = vm_kib(server_pid, "VmHWM")?;
    let rss_after = vm_kib(server_pid, "VmRSS")?;
    eprintln!(
        "stopped member cut off after {cut_after} messages of 4 KiB; server RSS {rss_before} KiB \
         before, {rss_peak} KiB at peak, {rss_after} KiB after"
    );
    // The queue is 256 KiB; the server's memory may grow by that, allocator slack and
    // buffers, never by what the stopped member did not read (megabytes).
    assert!(
        rss_after.saturating_sub(rss_before) < 8 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );

    // The listener got every message that was sent, in order.
    talker.say("the end").await?;
    let (mut listener, texts) = reading.await??;
    let expected: Vec<String> = (0..sent).map(big_text).collect();
    assert!(
        texts == expected,
        "the listener got {} of {sent} messages",
        texts.len()
    );
    assert_eq!(listener.who().await?, ["listener", "talker"]);

    // Continued, the member finds its connection closed and exits; its nick is free.
    sleepy.signal("CONT")?;
    sleepy
        .wait_for("the end of its connection", WAIT, |l| l == "closed")
        .await?;
    assert!(sleepy.exit_within(WAIT).await, "the probe did not exit");
    TestClient::connect(addr, "sleepy", "lobby").await?;
    Ok(())
}

/// A client process killed in the middle of a download (stopped first, so that it is
/// surely in the middle): the server drops the download with the connection, the room is
/// told, chat goes on, and the same file still downloads whole for someone else.
#[tokio::test]
async fn a_client_killed_mid_download_leaves_the_file_and_the_room_intact() -> Result {
    let data = tempfile::tempdir()?;
    let local = tempfile::tempdir()?;
    let dir = data.path().to_str().expect("a UTF-8 path");
    // In plaintext: chat-probe speaks plain TCP.
    let (_server, addr) = start_server_binary(&["--data-dir", dir, "--plaintext"]).await?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let (path, sha) = random_file(local.path(), "big.bin", 16 << 20, 7)?;
    let file_id = upload(&mut ann, &path, "big.bin").await?;

    let mut dl = Probe::start(&[], addr, "dl", &["--recv-buffer", "4096"])?;
    dl.wait_for("its welcome", WAIT, |l| l == "welcome dl")
        .await?;
    dl.command(&format!("download {file_id}")).await?;
    let first_chunk = format!("chunk {file_id} 0 ");
    dl.wait_for("the first chunk", WAIT, |l| l.starts_with(&first_chunk))
        .await?;
    dl.signal("STOP")?;
    dl.signal("KILL")?;
    assert!(dl.exit_within(WAIT).await, "the killed probe was reaped");
    ann.recv_until(is_left("dl")).await?;

    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    ann.say("still here").await?;
    bob.recv_until(|m| says(m, "still here")).await?;
    let got = local.path().join("got.bin");
    let mut out = std::fs::File::create(&got)?;
    download(&mut bob, file_id, 0, &mut out).await?;
    drop(out);
    assert_eq!(sha256_of(&got)?, sha);
    Ok(())
}

/// Polls, for a bounded time, until `check` holds.
async fn eventually(what: &str, check: impl Fn() -> bool) -> Result {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("{what} did not happen within {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_upload_leaves_nothing_listed_or_stored() -> Result {
    let data = tempfile::tempdir()?;
    let dir = data.path().to_str().expect("a UTF-8 path");
    let (_server, addr) =
        start_server_binary(&["--data-dir", dir, "--upload-grace", "500ms", "--plaintext"]).await?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;

    let mut up = Probe::start(&[], addr, "up", &[])?;
    up.wait_for("its welcome", WAIT, |l| l == "welcome up")
        .await?;
    up.command("upload-start big.bin 67108864").await?;
    let ready = up
        .wait_for("the upload's start", WAIT, |l| {
            l.starts_with("upload-ready ")
        })
        .await?;
    let upload_id = ready.split(' ').nth(1).expect("an id");
    up.command(&format!("upload-chunks {upload_id} 0 64"))
        .await?;
    up.wait_for("4 MiB sent", WAIT, |l| l.starts_with("sent "))
        .await?;
    let tmp = data.path().join("tmp");
    eventually("a partial upload on disk", || !files_under(&tmp).is_empty()).await?;

    up.signal("KILL")?;
    assert!(up.exit_within(WAIT).await, "the killed probe was reaped");
    ann.recv_until(is_left("up")).await?;
    assert!(
        list_files(&mut ann).await?.is_empty(),
        "a partial upload is never listed"
    );
    // Kept for the grace period so that the sender could resume, then deleted.
    eventually("the partial upload deleted", || {
        files_under(&tmp).is_empty()
    })
    .await?;
    assert!(files_under(&data.path().join("files")).is_empty());
    assert!(list_files(&mut ann).await?.is_empty());
    // The nick is free and the room goes on.
    let mut again = TestClient::connect(addr, "up", "lobby").await?;
    ann.say("still here").await?;
    again.recv_until(|m| says(m, "still here")).await?;
    Ok(())
}
