//! File transfer end to end: a real server on 127.0.0.1, real files in temporary
//! directories, uploads and downloads through the protocol.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use chat_server::Config;
use shared::limits::{MAX_CHUNK_BYTES, MAX_FILE_NAME_BYTES};
use shared::{ClientMsg, ErrorKind, ServerMsg};
use tempfile::TempDir;
use tests::binaries::start_server_binary;
use tests::client::{TestClient, WAIT, encode, offered, says, start_server, unwrapped};
use tests::files::{
    data_files, download, files_under, finish_upload, list_files, random_file, resume_upload,
    send_chunks, sha256_of, start_upload, upload,
};
use tokio::time::{Instant, sleep};

type Result = anyhow::Result<()>;

fn config(data: &Path) -> Config {
    Config {
        data_dir: data.to_path_buf(),
        upload_grace: Duration::from_millis(300),
        ..Config::default()
    }
}

/// A data directory and a directory for the clients' files.
fn dirs() -> anyhow::Result<(TempDir, TempDir)> {
    Ok((tempfile::tempdir()?, tempfile::tempdir()?))
}

fn is_offer(m: &ServerMsg) -> bool {
    offered(m).is_some()
}

/// Downloads file `id` into `dir/name` and returns the SHA-256 of what arrived.
async fn fetch(
    client: &mut TestClient,
    id: u64,
    dir: &Path,
    name: &str,
) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(name);
    let mut out = std::fs::File::create(&path)?;
    download(client, id, 0, &mut out).await?;
    drop(out);
    sha256_of(&path)
}

/// Waits, for a bounded time, until `dir` holds nothing under `tmp/`.
async fn until_no_partials(data: &Path) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if files_under(&data.join("tmp")).is_empty() {
            return true;
        }
        sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn files_of_every_size_class_round_trip() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let sizes = [
        0,
        1,
        MAX_CHUNK_BYTES as u64,
        3 * MAX_CHUNK_BYTES as u64 + 17,
    ];
    for (i, size) in sizes.into_iter().enumerate() {
        let name = format!("file{i}.bin");
        let (path, sha) = random_file(local.path(), &name, size, i as u64)?;
        let id = upload(&mut ann, &path, &name).await?;
        let offer = bob.recv_until(is_offer).await?;
        let file = offered(&offer).expect("an offer");
        assert_eq!((file.id, file.size, &file.name), (id, size, &name));
        assert_eq!((file.from.as_str(), file.room.as_str()), ("ann", "lobby"));
        assert_eq!(file.sha256, sha);
        let got = fetch(&mut bob, id, local.path(), &format!("got{i}")).await?;
        assert_eq!(got, sha, "size {size}");
        assert_eq!(
            std::fs::metadata(local.path().join(format!("got{i}")))?.len(),
            size
        );
    }
    let listed = list_files(&mut bob).await?;
    assert_eq!(listed.len(), sizes.len());
    // A member who joins later sees them too.
    let mut cy = TestClient::connect(addr, "cy", "lobby").await?;
    assert_eq!(list_files(&mut cy).await?, listed);
    server.shutdown().await?;
    // Files survive a restart.
    let (addr, server) = start_server(config(data.path())).await;
    let mut dee = TestClient::connect(addr, "dee", "lobby").await?;
    assert_eq!(list_files(&mut dee).await?, listed);
    server.shutdown().await
}

/// 200 MiB of random bytes up and down again, byte for byte, while two others chat: their
/// messages arrive while the upload is still running.
#[tokio::test]
async fn a_large_file_round_trips_while_chat_goes_on() -> Result {
    const SIZE: u64 = 200 << 20;
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let mut up = TestClient::connect(addr, "uploader", "lobby").await?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let (path, sha) = random_file(local.path(), "big.bin", SIZE, 42)?;

    let sent = Arc::new(AtomicU64::new(0));
    let uploading = {
        let (sent, path) = (Arc::clone(&sent), path.clone());
        tokio::spawn(async move {
            let accepted = start_upload(&mut up, "big.bin", SIZE)
                .await?
                .map_err(|e| anyhow::anyhow!("refused: {e:?}"))?;
            send_chunks(&mut up, accepted.upload_id, &path, 0, SIZE, |offset, _| {
                sent.store(offset, Ordering::Relaxed);
            })
            .await?;
            let id = finish_upload(&mut up, accepted.upload_id, &sha256_of(&path)?).await?;
            anyhow::Ok((up, id))
        })
    };
    // Chat round trips while the upload runs; each is checked to have arrived before the
    // upload's last chunk was sent.
    let mut rounds_during_upload = 0;
    for round in 0..5 {
        let text = format!("during the upload {round}");
        ann.say(&text).await?;
        bob.recv_until(|m| says(m, &text)).await?;
        if sent.load(Ordering::Relaxed) < SIZE - MAX_CHUNK_BYTES as u64 {
            rounds_during_upload += 1;
        }
    }
    assert!(
        rounds_during_upload > 0,
        "no chat arrived during the upload"
    );
    let (_up, id) = uploading.await??;
    let id = id.map_err(|kind| anyhow::anyhow!("upload failed: {kind:?}"))?;

    let got = fetch(&mut bob, id, local.path(), "big.copy").await?;
    assert_eq!(got, sha);
    assert_eq!(
        std::fs::metadata(local.path().join("big.copy"))?.len(),
        SIZE
    );
    server.shutdown().await
}

#[tokio::test]
async fn hostile_names_are_cleaned_and_files_stay_in_the_data_directory() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let (path, _) = random_file(local.path(), "x", 3, 1)?;
    let long = format!("{}.txt", "長".repeat(200));
    let cases: [(&str, &str); 8] = [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/file.txt", "file.txt"),
        ("..\\..\\win\\boot.ini", "boot.ini"),
        ("bell\u{7}and\nnewline.txt", "bellandnewline.txt"),
        ("\u{1b}[2J\u{1b}[31mred.txt", "red.txt"),
        ("invoice\u{202e}fdp.exe", "invoicefdp.exe"),
        ("..", "file"),
        (&long, ""),
    ];
    for (raw, expected) in cases {
        upload(&mut ann, &path, raw).await?;
        let offer = ann.recv_until(is_offer).await?;
        let file = offered(&offer).expect("an offer");
        if expected.is_empty() {
            assert!(file.name.len() <= MAX_FILE_NAME_BYTES && file.name.ends_with(".txt"));
        } else {
            assert_eq!(file.name, expected, "from {raw:?}");
        }
    }
    // Nothing was written outside the data directory or under a client's name.
    for stored in data_files(data.path()) {
        let text = stored.to_string_lossy().into_owned();
        let (dir, name) = text.split_once('/').expect("in a subdirectory");
        assert_eq!(dir, "files", "{text}");
        let (id, ext) = name.split_once('.').expect("id.ext");
        assert!(
            id.parse::<u64>().is_ok() && ["data", "json"].contains(&ext),
            "{text}"
        );
    }
    assert_eq!(files_under(local.path()), [Path::new("x")]);
    server.shutdown().await
}

#[tokio::test]
async fn two_uploads_at_once_while_chat_goes_on() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let (a, sha_a) = random_file(local.path(), "a.bin", 3 << 20, 1)?;
    let (b, sha_b) = random_file(local.path(), "b.bin", 2 << 20, 2)?;
    let mut up1 = TestClient::connect(addr, "up1", "lobby").await?;
    let mut up2 = TestClient::connect(addr, "up2", "lobby").await?;
    let work =
        async { tokio::try_join!(upload(&mut up1, &a, "a.bin"), upload(&mut up2, &b, "b.bin")) };
    let (uploaded, rounds) = tests::client::chat_during(&mut ann, &mut bob, work).await?;
    let (id_a, id_b) = uploaded?;
    assert!(rounds >= 1);
    assert_eq!(fetch(&mut bob, id_a, local.path(), "a.copy").await?, sha_a);
    assert_eq!(fetch(&mut bob, id_b, local.path(), "b.copy").await?, sha_b);
    server.shutdown().await
}

#[tokio::test]
async fn limits_are_refused_before_any_data_is_sent() -> Result {
    let (data, _local) = dirs()?;
    let config = Config {
        max_file_size: 1000,
        quota: 1500,
        ..config(data.path())
    };
    let (addr, server) = start_server(config).await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let (kind, text) = start_upload(&mut ann, "big", 1001).await?.unwrap_err();
    assert_eq!(kind, ErrorKind::FileTooLarge);
    assert!(text.contains("1001 B") && text.contains("1000 B"), "{text}");
    let first = start_upload(&mut ann, "a", 1000)
        .await?
        .expect("within limits");
    // The first upload's reservation counts although none of its data has arrived.
    let (kind, _) = start_upload(&mut ann, "b", 600).await?.unwrap_err();
    assert_eq!(kind, ErrorKind::QuotaExceeded);
    ann.send(ClientMsg::UploadCancel {
        upload_id: first.upload_id,
    })
    .await?;
    // Cancelling gives the room back, and leaves nothing on disk.
    let second = start_upload(&mut ann, "b", 600).await?;
    assert!(second.is_ok(), "{second:?}");
    let (kind, _) = start_upload(&mut ann, &"n".repeat(5000), 1)
        .await?
        .unwrap_err();
    assert_eq!(kind, ErrorKind::InvalidFileName);
    assert_eq!(files_under(&data.path().join("tmp")).len(), 1);
    assert!(list_files(&mut ann).await?.is_empty());
    server.shutdown().await
}

#[tokio::test]
async fn an_abandoned_upload_is_deleted_after_the_grace_period_and_never_listed() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let (path, _) = random_file(local.path(), "f", 500_000, 3)?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let accepted = start_upload(&mut ann, "f", 500_000)
        .await?
        .expect("accepted");
    send_chunks(&mut ann, accepted.upload_id, &path, 0, 200_000, |_, _| {}).await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    assert!(
        list_files(&mut bob).await?.is_empty(),
        "a partial is never listed"
    );
    drop(ann);
    assert!(
        until_no_partials(data.path()).await,
        "partial kept past the grace"
    );
    assert!(list_files(&mut bob).await?.is_empty());
    let (kind, _) = resume_upload(&mut bob, &accepted.token).await?.unwrap_err();
    assert_eq!(kind, ErrorKind::NoSuchUpload);
    assert!(data_files(data.path()).is_empty());
    server.shutdown().await
}

#[tokio::test]
async fn an_upload_cut_off_resumes_from_the_servers_offset() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(Config {
        upload_grace: WAIT,
        ..config(data.path())
    })
    .await;
    let size = 10 * MAX_CHUNK_BYTES as u64 + 5;
    let (path, sha) = random_file(local.path(), "r.bin", size, 4)?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let accepted = start_upload(&mut ann, "r.bin", size)
        .await?
        .expect("accepted");
    let cut = 4 * MAX_CHUNK_BYTES as u64 + 100;
    send_chunks(&mut ann, accepted.upload_id, &path, 0, cut, |_, _| {}).await?;
    // A Ping's answer comes after the chunks before it were read.
    ann.send(ClientMsg::Ping { token: 1 }).await?;
    ann.recv_until(|m| matches!(m, ServerMsg::Pong { .. }))
        .await?;
    drop(ann);

    let mut again = TestClient::connect(addr, "ann2", "lobby").await?;
    let resumed = resume_upload(&mut again, &accepted.token)
        .await?
        .expect("resumed");
    assert_eq!(resumed.upload_id, accepted.upload_id);
    assert_eq!(resumed.offset, cut);
    send_chunks(
        &mut again,
        resumed.upload_id,
        &path,
        resumed.offset,
        size,
        |_, _| {},
    )
    .await?;
    let id = finish_upload(&mut again, resumed.upload_id, &sha)
        .await?
        .expect("stored");
    let offer = again.recv_until(is_offer).await?;
    let file = offered(&offer).expect("an offer");
    assert_eq!(file.from, "ann", "the uploader as of the start");
    assert_eq!(fetch(&mut again, id, local.path(), "r.copy").await?, sha);
    server.shutdown().await
}

#[tokio::test]
async fn a_download_resumes_from_an_offset() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let size = 5 * MAX_CHUNK_BYTES as u64 + 3;
    let (path, sha) = random_file(local.path(), "d.bin", size, 5)?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let id = upload(&mut ann, &path, "d.bin").await?;
    let part = local.path().join("d.part");
    // The first 100,000 bytes are already there, as a client's .part file would hold.
    std::fs::write(&part, &std::fs::read(&path)?[..100_000])?;
    let mut out = std::fs::OpenOptions::new().append(true).open(&part)?;
    let (file, received) = download(&mut ann, id, 100_000, &mut out).await?;
    drop(out);
    assert_eq!(received, size - 100_000);
    assert_eq!(file.sha256, sha);
    assert_eq!(sha256_of(&part)?, sha);
    // An offset past the end is refused.
    ann.send(ClientMsg::Download {
        file_id: id,
        offset: size + 1,
    })
    .await?;
    let failed = ann
        .recv_until(|m| matches!(m, ServerMsg::DownloadFailed { .. }))
        .await?;
    assert!(matches!(
        failed,
        ServerMsg::DownloadFailed {
            kind: ErrorKind::BadChunk,
            ..
        }
    ));
    server.shutdown().await
}

#[tokio::test]
async fn a_corrupted_chunk_is_caught_by_the_checksum() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let size = 3 * MAX_CHUNK_BYTES as u64;
    let (path, sha) = random_file(local.path(), "c.bin", size, 6)?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let accepted = start_upload(&mut ann, "c.bin", size)
        .await?
        .expect("accepted");
    send_chunks(
        &mut ann,
        accepted.upload_id,
        &path,
        0,
        size,
        |offset, data| {
            if offset == MAX_CHUNK_BYTES as u64 {
                data[7] ^= 0x01;
            }
        },
    )
    .await?;
    let outcome = finish_upload(&mut ann, accepted.upload_id, &sha).await?;
    assert_eq!(outcome, Err(ErrorKind::ChecksumMismatch));
    // Nothing offered, listed or kept.
    bob.say("after").await?;
    let seen = bob.collect_until(|m| says(m, "after")).await?;
    assert!(!seen.iter().any(is_offer), "{seen:?}");
    assert!(list_files(&mut bob).await?.is_empty());
    assert!(until_no_partials(data.path()).await);
    assert!(files_under(&data.path().join("files")).is_empty());
    server.shutdown().await
}

#[tokio::test]
async fn bad_chunks_end_the_upload() -> Result {
    let (data, _local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let accepted = start_upload(&mut ann, "f", 10).await?.expect("accepted");
    let chunk = |offset: u64, len: usize| ClientMsg::UploadChunk {
        upload_id: accepted.upload_id,
        offset,
        data: vec![0; len],
    };
    ann.send(chunk(0, 4)).await?;
    ann.send(chunk(5, 4)).await?; // a gap
    let failed = ann
        .recv_until(|m| matches!(m, ServerMsg::UploadFailed { .. }))
        .await?;
    assert!(matches!(
        failed,
        ServerMsg::UploadFailed {
            kind: ErrorKind::BadChunk,
            ..
        }
    ));
    assert!(until_no_partials(data.path()).await);
    // An upload finished short, or an unknown one.
    let accepted = start_upload(&mut ann, "g", 10).await?.expect("accepted");
    ann.send(ClientMsg::UploadChunk {
        upload_id: accepted.upload_id,
        offset: 0,
        data: vec![0; 4],
    })
    .await?;
    let outcome = finish_upload(&mut ann, accepted.upload_id, &[0; 32]).await?;
    assert_eq!(outcome, Err(ErrorKind::BadChunk));
    let outcome = finish_upload(&mut ann, 9999, &[0; 32]).await?;
    assert_eq!(outcome, Err(ErrorKind::NoSuchUpload));
    assert!(until_no_partials(data.path()).await);
    server.shutdown().await
}

/// Chunks that wait together are written in one trip to the disk; a bad one among them
/// fails the upload with its own request id, not with that of another chunk of the trip.
#[tokio::test]
async fn a_bad_chunk_among_chunks_sent_together_is_answered_with_its_own_id() -> Result {
    let (data, _local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let accepted = start_upload(&mut ann, "f", 1 << 20)
        .await?
        .expect("accepted");
    let chunk = |id: u32, offset: u64| {
        encode(ClientMsg::Request {
            id,
            msg: Box::new(ClientMsg::UploadChunk {
                upload_id: accepted.upload_id,
                offset,
                data: vec![1; 1024],
            }),
        })
    };
    // Six chunks in one write, the fourth out of place.
    let mut wire = Vec::new();
    for (id, offset) in [
        (1, 0),
        (2, 1024),
        (3, 2048),
        (4, 9999),
        (5, 3072),
        (6, 4096),
    ] {
        wire.extend(chunk(id, offset));
    }
    ann.send_raw(&wire).await?;
    let failed = ann
        .recv_until(|m| matches!(unwrapped(m), ServerMsg::UploadFailed { .. }))
        .await?;
    assert!(
        matches!(
            &failed,
            ServerMsg::Reply { id: 4, msg } if matches!(
                **msg,
                ServerMsg::UploadFailed { kind: ErrorKind::BadChunk, .. }
            )
        ),
        "{failed:?}"
    );
    assert!(until_no_partials(data.path()).await);
    server.shutdown().await
}

#[tokio::test]
async fn only_members_of_the_room_can_list_or_fetch_its_files() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let (path, _) = random_file(local.path(), "secret", 1000, 7)?;
    let mut ann = TestClient::connect(addr, "ann", "staff").await?;
    let mut eve = TestClient::connect(addr, "eve", "lobby").await?;
    let id = upload(&mut ann, &path, "secret").await?;
    assert!(list_files(&mut eve).await?.is_empty());
    eve.send(ClientMsg::Download {
        file_id: id,
        offset: 0,
    })
    .await?;
    let answer = eve
        .recv_until(|m| {
            matches!(
                m,
                ServerMsg::DownloadFailed { .. } | ServerMsg::DownloadStart { .. }
            )
        })
        .await?;
    assert!(
        matches!(
            answer,
            ServerMsg::DownloadFailed {
                kind: ErrorKind::NoSuchFile,
                ..
            }
        ),
        "{answer:?}"
    );
    // Once in the room, the same client can.
    eve.send(ClientMsg::Join {
        room: "staff".into(),
    })
    .await?;
    eve.recv_until(|m| matches!(m, ServerMsg::Joined4 { .. }))
        .await?;
    assert_eq!(list_files(&mut eve).await?.len(), 1);
    server.shutdown().await
}

#[tokio::test]
async fn a_server_killed_mid_upload_restarts_without_the_partial() -> Result {
    let (data, local) = dirs()?;
    let dir = data.path().to_str().context("utf-8 path")?;
    let (mut child, addr) = start_server_binary(&["--data-dir", dir]).await?;
    let (path, _) = random_file(local.path(), "k.bin", 1 << 20, 8)?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let kept = upload(&mut ann, &path, "kept.bin").await?;
    let accepted = start_upload(&mut ann, "k.bin", 1 << 20)
        .await?
        .expect("accepted");
    send_chunks(&mut ann, accepted.upload_id, &path, 0, 300_000, |_, _| {}).await?;
    ann.send(ClientMsg::Ping { token: 1 }).await?;
    ann.recv_until(|m| matches!(m, ServerMsg::Pong { .. }))
        .await?;
    assert_eq!(
        files_under(&data.path().join("tmp")).len(),
        1,
        "the partial is on disk"
    );

    // SIGKILL, by the PID of the process this test started: no chance to clean up.
    child.kill().await?;
    ann.until_closed().await?;
    assert_eq!(
        files_under(&data.path().join("tmp")).len(),
        1,
        "left by the crash"
    );

    let (_child, addr) = start_server_binary(&["--data-dir", dir]).await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let listed = list_files(&mut bob).await?;
    assert_eq!(listed.iter().map(|f| f.id).collect::<Vec<_>>(), [kept]);
    assert!(files_under(&data.path().join("tmp")).is_empty());
    let (kind, _) = resume_upload(&mut bob, &accepted.token).await?.unwrap_err();
    assert_eq!(kind, ErrorKind::NoSuchUpload);
    Ok(())
}

/// Four uploads may run at once on a connection; a fifth start is refused with its own
/// kind, which a client cannot mistake for a message-rate warning.
#[tokio::test]
async fn a_fifth_upload_at_once_is_refused_as_too_many_transfers() -> Result {
    let (data, _local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    for i in 0..4 {
        let started = start_upload(&mut ann, &format!("f{i}.bin"), 10).await?;
        assert!(started.is_ok(), "upload {i}: {started:?}");
    }
    let refused = start_upload(&mut ann, "f4.bin", 10).await?;
    let Err((kind, text)) = refused else {
        panic!("a fifth upload was accepted");
    };
    assert_eq!(kind, ErrorKind::TooManyTransfers, "{text}");
    server.shutdown().await
}

/// The answer about upload `upload_id` in `m`, if it is one: stored or failed, and how.
fn upload_answer(m: &ServerMsg, upload_id: u64) -> Option<std::result::Result<u64, ErrorKind>> {
    match tests::client::unwrapped(m) {
        ServerMsg::UploadDone {
            upload_id: id,
            file_id,
        } if *id == upload_id => Some(Ok(*file_id)),
        ServerMsg::UploadFailed {
            upload_id: id,
            kind,
            ..
        } if *id == upload_id => Some(Err(*kind)),
        _ => None,
    }
}

#[tokio::test]
async fn a_second_finish_is_answered_after_the_first() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let size = 16 * MAX_CHUNK_BYTES as u64;
    let (path, sha) = random_file(local.path(), "twice.bin", size, 7)?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let accepted = start_upload(&mut ann, "twice.bin", size)
        .await?
        .expect("accepted");
    let upload_id = accepted.upload_id;
    send_chunks(&mut ann, upload_id, &path, 0, size, |_, _| {}).await?;
    // Sent back to back: the second is read while the worker still stores the file.
    let finish = || ClientMsg::UploadFinish {
        upload_id,
        sha256: sha.clone(),
    };
    ann.send(finish()).await?;
    ann.send(finish()).await?;
    let mut answers = Vec::new();
    let deadline = Instant::now() + WAIT;
    while answers.len() < 2 && Instant::now() < deadline {
        let m = ann.recv().await?;
        answers.extend(upload_answer(&m, upload_id));
    }
    assert!(
        matches!(answers[..], [Ok(_), Err(ErrorKind::NoSuchUpload)]),
        "stored, then the second finish refused; got {answers:?}"
    );
    server.shutdown().await
}

#[tokio::test]
async fn whoever_loses_an_upload_to_a_resume_is_told() -> Result {
    let (data, local) = dirs()?;
    let (addr, server) = start_server(config(data.path())).await;
    let size = 4 * MAX_CHUNK_BYTES as u64;
    let (path, sha) = random_file(local.path(), "taken.bin", size, 8)?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let accepted = start_upload(&mut ann, "taken.bin", size)
        .await?
        .expect("accepted");
    let upload_id = accepted.upload_id;
    let half = 2 * MAX_CHUNK_BYTES as u64;
    send_chunks(&mut ann, upload_id, &path, 0, half, |_, _| {}).await?;
    // Ann's connection stays open: a second connection takes the upload over.
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let resumed = resume_upload(&mut bob, &accepted.token)
        .await?
        .expect("resumed");
    assert_eq!(resumed.upload_id, upload_id);
    let lost = ann
        .recv_until(|m| upload_answer(m, upload_id).is_some())
        .await?;
    let ServerMsg::UploadFailed { kind, text, .. } = lost else {
        panic!("ann is told she lost the upload; got {lost:?}");
    };
    assert_eq!(kind, ErrorKind::NoSuchUpload);
    assert!(text.contains("another connection"), "{text}");
    // The new owner carries on to the end; the former one is not told anything more.
    send_chunks(&mut bob, upload_id, &path, resumed.offset, size, |_, _| {}).await?;
    let id = finish_upload(&mut bob, upload_id, &sha)
        .await?
        .expect("stored");
    assert_eq!(fetch(&mut bob, id, local.path(), "taken.copy").await?, sha);
    ann.send(ClientMsg::Ping { token: 3 }).await?;
    let rest = ann
        .collect_until(|m| matches!(m, ServerMsg::Pong { token: 3 }))
        .await?;
    assert!(
        !rest.iter().any(|m| upload_answer(m, upload_id).is_some()),
        "{rest:?}"
    );
    server.shutdown().await
}
