//! The holes of file transfer between a finish and its answer, and "fetched by N of M":
//! a real server on 127.0.0.1, real files, clients speaking the protocol.

use std::time::Duration;

use chat_server::Config;
use shared::limits::MAX_CHUNK_BYTES;
use shared::{ClientMsg, ErrorKind, FEATURE_FETCHED, FetchCount, PROTOCOL_VERSION, ServerMsg};
use tests::client::{TestClient, start_server};
use tests::files::{
    download, finish_upload, random_file, resume_upload, send_chunks, start_upload, upload,
};

type Result = anyhow::Result<()>;

/// Logs in as `nick` in `lobby`, asking for the feature "fetched".
async fn sharer(addr: std::net::SocketAddr, nick: &str) -> anyhow::Result<TestClient> {
    let mut client = TestClient::connect_raw(addr).await?;
    client
        .send(ClientMsg::Hello4 {
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            features: vec![FEATURE_FETCHED.into()],
            nick: nick.into(),
            room: "lobby".into(),
        })
        .await?;
    match client.recv().await? {
        ServerMsg::Welcome4 { features, .. } => assert_eq!(features, [FEATURE_FETCHED]),
        other => anyhow::bail!("expected a welcome, got {other:?}"),
    }
    Ok(client)
}

/// An upload whose sender lost the answer to its finish is not sent again: a resume with
/// its token is answered UploadDone, with the same ids, for the grace period.
#[tokio::test]
async fn a_resume_of_a_stored_upload_is_answered_done_for_the_grace_period() -> Result {
    let (data, local) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let grace = Duration::from_millis(800);
    let (addr, server) = start_server(Config {
        data_dir: data.path().to_path_buf(),
        upload_grace: grace,
        ..Config::default()
    })
    .await;
    let size = 3 * MAX_CHUNK_BYTES as u64 + 9;
    let (path, sha) = random_file(local.path(), "r.bin", size, 8)?;
    let mut ann = TestClient::connect(addr, "ann", "lobby").await?;
    let accepted = start_upload(&mut ann, "r.bin", size)
        .await?
        .expect("accepted");
    send_chunks(&mut ann, accepted.upload_id, &path, 0, size, |_, _| {}).await?;
    let file_id = finish_upload(&mut ann, accepted.upload_id, &sha)
        .await?
        .expect("stored");
    drop(ann);

    let mut again = TestClient::connect(addr, "ann2", "lobby").await?;
    again
        .send(
            ClientMsg::UploadResume {
                token: accepted.token.clone(),
            }
            .with_id(5),
        )
        .await?;
    let answer = again
        .recv_until(|m| matches!(m, ServerMsg::Reply { id: 5, .. }))
        .await?;
    assert_eq!(
        answer.into_reply().1,
        ServerMsg::UploadDone {
            upload_id: accepted.upload_id,
            file_id
        }
    );
    // Past the grace period the token is unknown.
    tokio::time::sleep(grace + Duration::from_millis(200)).await;
    let (kind, _) = resume_upload(&mut again, &accepted.token)
        .await?
        .unwrap_err();
    assert_eq!(kind, ErrorKind::NoSuchUpload);
    server.shutdown().await
}

/// The sharer hears how many distinct nicks completed a download, each once, not
/// counting itself, out of the room's other members; and again before its /files answer.
#[tokio::test]
async fn the_sharer_hears_how_many_members_fetched_its_file() -> Result {
    let (data, local) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (addr, server) = start_server(Config {
        data_dir: data.path().to_path_buf(),
        ..Config::default()
    })
    .await;
    let (path, _) = random_file(local.path(), "f.bin", 200_000, 9)?;
    let mut ann = sharer(addr, "ann").await?;
    let mut bob = TestClient::connect(addr, "bob", "lobby").await?;
    let mut cy = TestClient::connect(addr, "cy", "lobby").await?;
    let id = upload(&mut ann, &path, "f.bin").await?;
    let fetched = |m: &ServerMsg| matches!(m, ServerMsg::Fetched { .. });
    let count = |by| ServerMsg::Fetched {
        room: "lobby".into(),
        members: 2,
        files: vec![FetchCount { file_id: id, by }],
    };

    // The sharer's own download does not count.
    let mut sink = std::fs::File::create(local.path().join("sink"))?;
    download(&mut ann, id, 0, &mut sink).await?;
    download(&mut bob, id, 0, &mut sink).await?;
    assert_eq!(ann.recv_until(fetched).await?, count(1));
    // A resumed download completes the file too; BOB is bob.
    download(&mut cy, id, 150_000, &mut sink).await?;
    assert_eq!(ann.recv_until(fetched).await?, count(2));
    drop(bob);
    let mut bob = TestClient::connect(addr, "BOB", "lobby").await?;
    download(&mut bob, id, 0, &mut sink).await?;

    // Before the answer to /files, the counts, with the room's members now (bob and cy).
    ann.send(ClientMsg::ListFiles.with_id(3)).await?;
    let before = ann
        .recv_until(|m| fetched(m) || matches!(m, ServerMsg::Reply { id: 3, .. }))
        .await?;
    assert_eq!(before, count(2), "bob counted once, ann never");
    let files = ann.recv().await?;
    assert!(matches!(
        files.into_reply(),
        (Some(3), ServerMsg::Files { .. })
    ));
    // A client without the feature hears nothing of it.
    cy.send(ClientMsg::ListFiles).await?;
    let answer = cy
        .recv_until(|m| fetched(m) || matches!(m, ServerMsg::Files { .. }))
        .await?;
    assert!(matches!(answer, ServerMsg::Files { .. }), "{answer:?}");
    server.shutdown().await
}
