//! A disk that fills up during an upload: the data directory on a 4 MiB tmpfs, filled by
//! another writer while the upload runs. The uploader gets a clear error, chat goes on,
//! nothing half-written is offered, listed or left behind, and uploads work again once
//! there is room.
//!
//! Needs root (to mount the tmpfs); without it the test says so and is skipped, except under
//! CI, where it fails.

use std::io::Write;
use std::time::Duration;

use shared::limits::MAX_CHUNK_BYTES;
use shared::{ErrorKind, ServerMsg};
use tests::binaries::start_server_binary;
use tests::client::{TestClient, WAIT, offered, says};
use tests::files::{
    files_under, finish_upload, list_files, random_file, send_chunks, sha256_of, start_upload,
    upload,
};
use tests::probe::small_disk;
use tokio::time::{Instant, sleep};

type Result = anyhow::Result<()>;

#[tokio::test]
async fn a_disk_that_fills_during_an_upload_fails_it_cleanly() -> Result {
    let Some(disk) = small_disk("a_disk_that_fills_during_an_upload_fails_it_cleanly", "4m") else {
        return Ok(());
    };
    let data = disk.path().join("data");
    let local = tempfile::tempdir()?;
    let data_arg = data.to_str().expect("a UTF-8 path");
    // No reserve: the upload is accepted on the free space it sees at the start.
    let (_server, addr) =
        start_server_binary(&["--data-dir", data_arg, "--disk-reserve", "0"]).await?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;

    const SIZE: u64 = 3 << 20;
    let (path, sha) = random_file(local.path(), "big.bin", SIZE, 11)?;
    let accepted = match start_upload(&mut ann, "big.bin", SIZE).await? {
        Ok(accepted) => accepted,
        Err((kind, text)) => anyhow::bail!("upload refused at the start: {kind:?}: {text}"),
    };
    let first = MAX_CHUNK_BYTES as u64;
    send_chunks(&mut ann, accepted.upload_id, &path, 0, first, |_, _| {}).await?;

    // Someone else fills the disk meanwhile (until it is full, 4 MiB at most).
    let mut filler = std::fs::File::create(disk.path().join("filler"))?;
    let block = vec![0u8; 64 * 1024];
    for _ in 0..64 {
        if filler
            .write_all(&block)
            .and_then(|()| filler.flush())
            .is_err()
        {
            break;
        }
    }
    drop(filler);

    // The rest of the upload cannot be written; the server says so.
    send_chunks(&mut ann, accepted.upload_id, &path, first, SIZE, |_, _| {}).await?;
    let failed = ann
        .recv_until(|m| matches!(m, ServerMsg::UploadFailed { .. } | ServerMsg::Error { .. }))
        .await?;
    assert!(
        matches!(
            &failed,
            ServerMsg::UploadFailed { upload_id, kind: ErrorKind::DiskFull, text }
                if *upload_id == accepted.upload_id && text.contains("disk is full")
        ),
        "{failed:?}"
    );
    // The upload is over: finishing it anyway is refused.
    let outcome = finish_upload(&mut ann, accepted.upload_id, &sha).await?;
    assert_eq!(outcome, Err(ErrorKind::NoSuchUpload));

    // Chat goes on; nothing was offered, listed or left behind.
    ann.say("the disk is full").await?;
    let seen = bob.collect_until(|m| says(m, "the disk is full")).await?;
    assert!(!seen.iter().any(|m| offered(m).is_some()));
    assert!(list_files(&mut bob).await?.is_empty());
    let deadline = Instant::now() + WAIT;
    while !files_under(&data.join("tmp")).is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(20)).await;
    }
    assert!(
        files_under(&data.join("tmp")).is_empty(),
        "a partial upload was left"
    );
    assert!(
        files_under(&data.join("files")).is_empty(),
        "a stored file appeared"
    );

    // With room again, an upload goes through.
    std::fs::remove_file(disk.path().join("filler"))?;
    let (small, small_sha) = random_file(local.path(), "small.bin", 100_000, 12)?;
    let id = upload(&mut ann, &small, "small.bin").await?;
    let listed = list_files(&mut bob).await?;
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, &listed[0].sha256), (id, &small_sha));
    assert_eq!(sha256_of(&small)?, small_sha);
    Ok(())
}
