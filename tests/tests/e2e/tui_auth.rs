//! The terminal client with the feature "auth", in a real terminal (tmux) against the
//! server binary: its key (made once, shown by `--print-key` and `/whoami`), the password
//! asked with the typed text hidden (a wrong one said, asked once more), a nick registered
//! to one key refused to another, even while its owner is away, and two owners' private
//! messages shown again when their conversation opens after a restart.

use std::path::Path;

use tests::binaries::{binary, scratch_dir, server_key};
use tests::tmux::{ServerProcess, Tmux};

/// What `chat-tui --print-key` prints with the key in `identity`: the key's hex form.
fn print_key(identity: &Path) -> String {
    let out = std::process::Command::new(binary("chat-tui"))
        .args(["--print-key", "--identity"])
        .arg(identity)
        .env("XDG_CONFIG_HOME", scratch_dir("no-config"))
        .output()
        .expect("run chat-tui --print-key");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let hex = text
        .lines()
        .map(str::trim)
        .find(|line| line.len() == 64 && line.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no key in:\n{text}"));
    hex.to_owned()
}

#[test]
fn the_key_is_made_once_and_shown_by_print_key_and_whoami() {
    let server = ServerProcess::start();
    let mut tmux = Tmux::new("key");
    let identity = tmux.data_home().join("lanchat/identity.key");
    // The first run makes the key, readable by the user only; later runs read it.
    tmux.join("ann", server.addr, "ann", &[]);
    assert!(identity.exists(), "no key in {}", identity.display());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&identity).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let hex = print_key(&identity);
    tmux.say("ann", "/whoami");
    // The hex form may wrap onto a line of its own.
    tmux.wait_for("ann", &hex);
    tmux.say("ann", "/quit");
    tmux.assert_exit("ann", 0);

    // A damaged key is refused in one line, and left as it is.
    std::fs::write(&identity, "not a key\n").unwrap();
    tmux.chat_tui("again", &["--connect", "127.0.0.1:1"]);
    tmux.wait_for("again", "cannot use the key file");
    tmux.assert_exit("again", 2);
    assert_eq!(std::fs::read_to_string(&identity).unwrap(), "not a key\n");
}

#[test]
fn the_password_is_asked_once_and_again_after_a_wrong_one() {
    let server = ServerProcess::start_with("127.0.0.1:0", &["--password", "s3cret"]);
    let mut tmux = Tmux::new("password");
    let addr = server.addr.to_string();
    tmux.chat_tui("ann", &["--connect", &addr, "--nick", "ann"]);
    tmux.wait_for("ann", "needs a password (not shown as you type");
    tmux.say("ann", "guess");
    tmux.wait_for("ann", "wrong password");
    let screen = tmux.wait_for("ann", "Try again (not shown as you type");
    assert!(!screen.contains("guess"), "typed text shown:\n{screen}");
    tmux.say("ann", "s3cret");
    tmux.wait_for("ann", "as ann (");
    assert!(!tmux.screen("ann").contains("s3cret"));
    // The password kept in memory serves the reconnect.
    let server = {
        // Restarted on its data directory: the same key, as a real restart.
        let data = server.data.display().to_string();
        server.kill();
        tmux.wait_for("ann", "connection lost");
        ServerProcess::start_with(&addr, &["--password", "s3cret", "--data-dir", &data])
    };
    tmux.wait_for("ann", "reconnected: #lobby as ann");

    // Wrong twice: one line, and the client leaves.
    tmux.chat_tui("bob", &["--connect", &addr, "--nick", "bob"]);
    tmux.wait_for("bob", "needs a password");
    tmux.say("bob", "one");
    tmux.wait_for("bob", "Try again");
    tmux.say("bob", "two");
    tmux.assert_exit("bob", 2);
    let screen = tmux.screen("bob");
    assert!(
        screen.contains("chat-tui: the server at") && screen.contains("wrong password"),
        "{screen}"
    );
    drop(server);
}

#[test]
fn a_password_from_a_file_asks_nothing() {
    let server = ServerProcess::start_with("127.0.0.1:0", &["--password", "s3cret"]);
    let mut tmux = Tmux::new("password-file");
    let file = scratch_dir("password").join("pw");
    std::fs::write(&file, "s3cret\n").unwrap();
    let file = file.display().to_string();
    tmux.join("ann", server.addr, "ann", &["--password-file", &file]);
}

#[test]
fn a_registered_nick_is_refused_to_another_key_even_while_its_owner_is_away() {
    let server = ServerProcess::start();
    let addr = server.addr.to_string();
    let mut tmux = Tmux::new("register");
    tmux.join("ann", server.addr, "ann", &[]);
    tmux.say("ann", "/register");
    tmux.wait_for("ann", "the nick ann is registered to your key");
    tmux.say("ann", "/quit");
    tmux.assert_exit("ann", 0);

    // Another user: another data directory, so another key.
    let other = scratch_dir("other-user");
    let other = format!("XDG_DATA_HOME={}", other.display());
    let as_other = ["env", other.as_str()];
    // Another user trusts the server's key from the start (it knows no pin).
    let trust = server_key(server.addr)
        .expect("the server's key")
        .to_string();
    for nick in ["ann", "ANN"] {
        let window = format!("impostor-{nick}");
        tmux.chat_tui_through(
            &window,
            &as_other,
            &["--connect", &addr, "--nick", nick, "--trust", &trust],
        );
        tmux.assert_exit(&window, 2);
        let screen = tmux.screen(&window);
        assert!(
            screen
                .contains("chat-tui: the nick ann is registered; choose another nick with --nick"),
            "{nick}:\n{screen}"
        );
    }
    // Under a nick of its own, it cannot take the owner's either.
    tmux.chat_tui_through(
        "bob",
        &as_other,
        &["--connect", &addr, "--nick", "bob", "--trust", &trust],
    );
    tmux.wait_for("bob", "as bob (");
    tmux.say("bob", "/nick ann");
    tmux.wait_for("bob", "server: the nick ann is registered");

    // The owner, back with its key, gets its nick and is told it owns it.
    tmux.join("ann-again", server.addr, "ann", &[]);
    tmux.wait_for("ann-again", "you own the nick ann");
    tmux.say("ann-again", "/unregister");
    tmux.wait_for("ann-again", "the nick ann is free");
}

/// Two owners' private messages are kept for them: after a restart of one client, the
/// conversation that opens shows what was said before.
#[test]
fn an_owners_conversation_shows_what_was_said_before_a_restart() {
    let server = ServerProcess::start();
    let addr = server.addr.to_string();
    let mut tmux = Tmux::new("kept-private");
    tmux.join("ann", server.addr, "ann", &[]);
    tmux.say("ann", "/register");
    tmux.wait_for("ann", "the nick ann is registered to your key");

    // Bob: another user, another key, trusting the server's key from the start.
    let other = scratch_dir("bob-user");
    let other = format!("XDG_DATA_HOME={}", other.display());
    let as_bob = ["env", other.as_str()];
    let trust = server_key(server.addr)
        .expect("the server's key")
        .to_string();
    let bob_args = [
        "--connect",
        addr.as_str(),
        "--nick",
        "bob",
        "--trust",
        &trust,
    ];
    tmux.chat_tui_through("bob", &as_bob, &bob_args);
    tmux.wait_for("bob", "as bob (");
    tmux.say("bob", "/register");
    tmux.wait_for("bob", "the nick bob is registered to your key");

    tmux.say("ann", "/msg bob kept between owners");
    tmux.say("bob", "/query ann");
    tmux.wait_for("bob", "kept between owners");
    tmux.say("bob", "/quit");
    tmux.assert_exit("bob", 0);

    // Bob again, with the same key: the conversation opens with what was said.
    tmux.chat_tui_through("bob-again", &as_bob, &bob_args);
    tmux.wait_for("bob-again", "you own the nick bob");
    tmux.say("bob-again", "/query ann");
    tmux.wait_for("bob-again", "kept between owners");
}
