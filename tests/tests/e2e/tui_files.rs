//! File transfer in a real terminal (tmux): the real server with a data directory of its
//! own, real files, and clients with real download folders.
//!
//! A transfer on loopback is over in a moment, so the tests that look at one in the middle
//! pause the server (SIGSTOP) once the sender's bar shows progress: nothing moves until it
//! goes on, and what the screen shows meanwhile is no race.

use std::path::Path;

use tempfile::TempDir;
use tests::files::{random_file, sha256_of};
use tests::probe::small_disk;
use tests::proxy::CutProxy;
use tests::tmux::{ServerProcess, Tmux};

/// Large enough that the upload is still running when the server is paused after its
/// first progress event (about a tenth of a second in).
const BIG: u64 = 128 << 20;

/// A server with its own data directory, on 127.0.0.1 port 0 or on `listen`.
fn server(data: &Path, listen: &str) -> ServerProcess {
    ServerProcess::start_with(listen, &["--data-dir", &data.display().to_string()])
}

/// Opens a client that saves downloads in `downloads`.
fn join(tmux: &mut Tmux, name: &str, addr: std::net::SocketAddr, downloads: &Path) {
    let dir = downloads.display().to_string();
    tmux.join(name, addr, name, &["--download-dir", &dir]);
}

/// The percent shown by the progress bar whose line contains `bar`, if there is one.
fn percent(screen: &str, bar: &str) -> Option<u8> {
    let line = screen.lines().find(|l| l.contains(bar))?;
    let before = &line[..line.find('%')?];
    let digits = before.rsplit(' ').next()?;
    digits.parse().ok()
}

/// Waits until the bar `bar` in window `name` shows some progress short of the end, then
/// pauses the server there.
fn pause_mid_transfer(tmux: &Tmux, name: &str, bar: &str, server: &ServerProcess) {
    tmux.wait_until(name, "the transfer under way", |s| {
        percent(s, bar).is_some_and(|p| p > 0)
    });
    server.pause();
    let screen = tmux.screen(name);
    let p = percent(&screen, bar);
    assert!(
        p.is_some_and(|p| p < 100),
        "the transfer ended before the server could be paused:\n{screen}"
    );
}

/// Row of the first line of `screen` that contains `text`.
fn row_of(screen: &str, text: &str) -> usize {
    screen
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} on the screen:\n{screen}"))
}

#[test]
fn a_file_goes_up_with_a_progress_bar_while_chat_goes_first_and_comes_down_identical() {
    let (data, files, downloads) = (temp(), temp(), temp());
    let (path, sha) = random_file(files.path(), "big.bin", BIG, 7).unwrap();
    let server = server(data.path(), "127.0.0.1:0");
    let mut tmux = Tmux::new("files-big");
    join(&mut tmux, "ann", server.addr, files.path());
    join(&mut tmux, "bob", server.addr, downloads.path());
    tmux.wait_for("ann", "bob joined #lobby");

    tmux.say("ann", &format!("/send-file {}", path.display()));
    pause_mid_transfer(&tmux, "ann", "↑ [u1] big.bin", &server);
    let screen = tmux.screen("ann");
    assert!(screen.contains("MiB of 128 MiB"), "{screen}");
    assert!(screen.contains("| 1 transfer"), "{screen}");

    // Typed while the upload's chunks fill the socket: it still reaches the room before
    // the upload is done (the offer comes after the last chunk).
    tmux.say("ann", "typed during the upload");
    server.resume();
    let screen = tmux.wait_until("bob", "the line and the offer", |s| {
        s.contains("<ann> typed during the upload") && s.contains("ann shares big.bin")
    });
    assert!(
        row_of(&screen, "typed during the upload") < row_of(&screen, "ann shares big.bin"),
        "{screen}"
    );
    assert!(
        screen.contains("(128 MiB): type /get 1 to download it"),
        "{screen}"
    );
    tmux.wait_for("ann", "[u1] sent big.bin (128 MiB)");
    tmux.wait_until("ann", "the bar gone", |s| !s.contains("↑ [u1]"));

    tmux.say("bob", "/get 1");
    tmux.wait_for("bob", "SHA-256 verified");
    let saved = downloads.path().join("big.bin");
    assert_eq!(sha256_of(&saved).unwrap(), sha);
    assert!(!downloads.path().join("big.bin.part").exists());
}

#[test]
fn files_lists_for_later_members_and_a_taken_name_gets_a_number() {
    let (data, files, downloads) = (temp(), temp(), temp());
    let (_, sha) = random_file(files.path(), "report.pdf", 300_000, 1).unwrap();
    std::fs::write(downloads.path().join("report.pdf"), b"mine, keep it").unwrap();
    let server = server(data.path(), "127.0.0.1:0");
    let mut tmux = Tmux::new("files-list");
    join(&mut tmux, "ann", server.addr, files.path());

    // A missing file is refused before anything is sent.
    tmux.say("ann", "/send-file /no/such/file.txt");
    tmux.wait_for("ann", "cannot send /no/such/file.txt");

    // Tab completes the path.
    tmux.type_text("ann", &format!("/send-file {}/rep", files.path().display()));
    tmux.keys("ann", &["Tab"]);
    let full = format!("/send-file {}/report.pdf", files.path().display());
    tmux.wait_for("ann", &full);
    tmux.keys("ann", &["Enter"]);
    tmux.wait_for("ann", "[u2] sent report.pdf (293 KiB)");

    join(&mut tmux, "cy", server.addr, downloads.path());
    tmux.say("cy", "/files");
    tmux.wait_for("cy", "files in #lobby (1):");
    tmux.wait_for("cy", "/get 1    report.pdf  293 KiB  from ann");
    tmux.say("cy", "/get 1");
    let screen = tmux.wait_for("cy", "SHA-256 verified");
    assert!(screen.contains("report (1).pdf"), "{screen}");
    assert_eq!(
        sha256_of(&downloads.path().join("report (1).pdf")).unwrap(),
        sha
    );
    assert_eq!(
        std::fs::read(downloads.path().join("report.pdf")).unwrap(),
        b"mine, keep it"
    );

    // A file that is not there is an inline error.
    tmux.say("cy", "/get 99");
    tmux.wait_for("cy", "no such file");
}

#[test]
fn an_upload_cut_off_resumes_from_the_servers_offset() {
    let (data, files, downloads) = (temp(), temp(), temp());
    let (path, sha) = random_file(files.path(), "big.bin", BIG, 8).unwrap();
    let server = server(data.path(), "127.0.0.1:0");
    let proxy = CutProxy::start(server.addr).unwrap();
    let mut tmux = Tmux::new("files-cut");
    join(&mut tmux, "ann", proxy.addr, files.path());

    tmux.say("ann", &format!("/send-file {}", path.display()));
    pause_mid_transfer(&tmux, "ann", "↑ [u1] big.bin", &server);
    proxy.cut();
    server.resume();
    tmux.wait_for("ann", "connection lost");
    let screen = tmux.wait_for("ann", "[u1] upload of big.bin resumed at");
    assert!(!screen.contains("starting again from zero"), "{screen}");
    tmux.wait_for("ann", "[u1] sent big.bin (128 MiB)");

    join(&mut tmux, "bob", server.addr, downloads.path());
    tmux.say("bob", "/get 1");
    tmux.wait_for("bob", "SHA-256 verified");
    assert_eq!(sha256_of(&downloads.path().join("big.bin")).unwrap(), sha);
}

#[test]
fn an_upload_starts_again_and_says_so_when_the_server_restarted() {
    let (data, files) = (temp(), temp());
    let (path, _) = random_file(files.path(), "big.bin", BIG, 9).unwrap();
    let first = server(data.path(), "127.0.0.1:0");
    let addr = first.addr;
    let mut tmux = Tmux::new("files-restart");
    join(&mut tmux, "ann", addr, files.path());

    tmux.say("ann", &format!("/send-file {}", path.display()));
    pause_mid_transfer(&tmux, "ann", "↑ [u1] big.bin", &first);
    first.kill();
    tmux.wait_for("ann", "connection lost");
    // The bar stays, paused, while the client reconnects.
    tmux.wait_for("ann", "paused until the connection is back");
    let _second = server(data.path(), &addr.to_string());
    tmux.wait_for("ann", "starting again from zero");
    tmux.wait_for("ann", "[u1] sent big.bin (128 MiB)");
}

#[test]
fn a_download_that_cannot_fit_is_refused_before_its_first_byte() {
    let name = "a_download_that_cannot_fit_is_refused_before_its_first_byte";
    let Some(downloads) = small_disk(name, "4m") else {
        return;
    };
    let (data, files) = (temp(), temp());
    let (path, _) = random_file(files.path(), "big.bin", 6 << 20, 5).unwrap();
    let server = server(data.path(), "127.0.0.1:0");
    let mut tmux = Tmux::new("files-nospace");
    join(&mut tmux, "ann", server.addr, files.path());
    join(&mut tmux, "bob", server.addr, downloads.path());
    tmux.wait_for("ann", "bob joined #lobby");
    tmux.say("ann", &format!("/send-file {}", path.display()));
    tmux.wait_for("bob", "type /get 1 to download it");

    tmux.say("bob", "/get 1");
    let screen = tmux.wait_for("bob", "not enough space in");
    assert!(
        screen.contains("download of file 1 failed") && screen.contains("needs 6.0 MiB"),
        "{screen}"
    );
    // Nothing was written: no partial file, no disk filled.
    let left: Vec<_> = std::fs::read_dir(downloads.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the download folder: {left:?}");
    // Chat goes on.
    tmux.say("bob", "no room for it here");
    tmux.wait_for("ann", "<bob> no room for it here");
}

fn temp() -> TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// Kills the client in window `name` as a crash would (SIGKILL, by its PID): nothing of it
/// runs after this.
fn kill_client(tmux: &Tmux, name: &str) {
    let pid = tests::tmux::child_of(tmux.pane_pid(name));
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -KILL {pid}");
}

#[test]
fn a_download_survives_a_killed_client_and_resumes_from_its_part() {
    let (data, files, downloads) = (temp(), temp(), temp());
    let (path, sha) = random_file(files.path(), "big.bin", BIG, 11).unwrap();
    let server = server(data.path(), "127.0.0.1:0");
    let mut tmux = Tmux::new("files-kill-down");
    join(&mut tmux, "ann", server.addr, files.path());
    tmux.say("ann", &format!("/send-file {}", path.display()));
    tmux.wait_for("ann", "[u1] sent big.bin (128 MiB)");
    join(&mut tmux, "bob", server.addr, downloads.path());
    tmux.say("bob", "/get 1");
    // The bar is numbered by the file's id, as /get took it.
    pause_mid_transfer(&tmux, "bob", "↓ [1] big.bin", &server);
    kill_client(&tmux, "bob");
    server.resume();
    let part = downloads.path().join("big.bin.part");
    let kept = std::fs::metadata(&part).expect("the part is kept").len();
    assert!(kept > 0 && kept < BIG, "{kept}");

    // The next run says what was left and resumes it from the part.
    let dir = downloads.path().display().to_string();
    tmux.join("bob2", server.addr, "bob2", &["--download-dir", &dir]);
    tmux.wait_for("bob2", "the download of big.bin stopped at");
    tmux.say("bob2", "/get 1");
    let screen = tmux.wait_for("bob2", "[1] download of big.bin resumed at");
    assert!(!screen.contains("0 B of 128 MiB"), "{screen}");
    tmux.wait_for("bob2", "SHA-256 verified");
    assert_eq!(sha256_of(&downloads.path().join("big.bin")).unwrap(), sha);
    assert!(!part.exists());
}

#[test]
fn an_upload_survives_a_killed_client_and_resumes_with_its_token() {
    let (data, files, downloads) = (temp(), temp(), temp());
    let (path, sha) = random_file(files.path(), "big.bin", BIG, 12).unwrap();
    let server = server(data.path(), "127.0.0.1:0");
    let mut tmux = Tmux::new("files-kill-up");
    join(&mut tmux, "ann", server.addr, files.path());
    tmux.say("ann", &format!("/send-file {}", path.display()));
    pause_mid_transfer(&tmux, "ann", "↑ [u1] big.bin", &server);
    kill_client(&tmux, "ann");
    server.resume();

    let dir = files.path().display().to_string();
    tmux.join("ann2", server.addr, "ann2", &["--download-dir", &dir]);
    let send = format!("/send-file {}", path.display());
    tmux.wait_for("ann2", "(128 MiB) was interrupted when the client last ran");
    tmux.say("ann2", &send);
    let screen = tmux.wait_for("ann2", "[u1] upload of big.bin resumed at");
    assert!(!screen.contains("starting again from zero"), "{screen}");
    tmux.wait_for("ann2", "[u1] sent big.bin (128 MiB)");

    join(&mut tmux, "bob", server.addr, downloads.path());
    tmux.say("bob", "/get 1");
    tmux.wait_for("bob", "SHA-256 verified");
    assert_eq!(sha256_of(&downloads.path().join("big.bin")).unwrap(), sha);
}
