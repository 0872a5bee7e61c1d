//! The configuration files of the real binaries: values that take effect, flags that
//! override them, `--print-config` read back as a file, bad files and an unusable data
//! directory stopping the server with one line and exit status 2.
//!
//! Every process runs with `HOME` and `XDG_CONFIG_HOME` in a scratch directory, so that
//! the files of the person running the tests play no part.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shared::{ErrorKind, ServerMsg};
use tempfile::TempDir;
use tests::binaries::{binary, spawn_listening};
use tests::client::{TestClient, hello};
use tests::tmux::{ServerProcess, Tmux};
use tokio::process::Child;

type Result = anyhow::Result<()>;

/// Longest a binary that should stop at once (a bad file, `--print-config`) may run.
const EXIT_WAIT: Duration = Duration::from_secs(20);

/// A scratch home directory: `home/` with `config/` as `XDG_CONFIG_HOME`.
struct Home {
    dir: TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("scratch directory");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::create_dir_all(dir.path().join("config")).expect("config");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` under the scratch directory (parents created) and returns
    /// its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("parent");
        std::fs::write(&path, text).expect("write");
        path
    }

    /// The environment of every process these tests run.
    fn env(&self) -> [(&'static str, PathBuf); 3] {
        [
            ("HOME", self.path("home")),
            ("XDG_CONFIG_HOME", self.path("config")),
            ("XDG_STATE_HOME", self.path("state")),
        ]
    }

    /// Runs `program args` to its end (killed after [`EXIT_WAIT`]).
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut child = Command::new(binary(program))
            .args(args)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + EXIT_WAIT;
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                // Killed by its own handle: the process this test started.
                let _ = child.kill();
                panic!("{program} {args:?} did not exit within {EXIT_WAIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("output")
    }

    /// Starts `chat-server ARGS` and reads where it listens. Killed when dropped.
    async fn start_server(&self, args: &[&str]) -> anyhow::Result<(Child, SocketAddr)> {
        spawn_listening(
            tokio::process::Command::new(binary("chat-server"))
                .args(args)
                .envs(self.env())
                .stderr(Stdio::null()),
        )
        .await
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The `key = value` lines of a printed configuration, without its comments.
fn settings_lines(printed: &str) -> Vec<&str> {
    printed
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .collect()
}

/// Asserts that `output` is a failure with exit status 2 and one line on stderr that
/// contains each of `parts`, and nothing on stdout.
fn assert_one_line_error(output: &Output, parts: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    for part in parts {
        assert!(err.contains(part), "{part:?} in {err:?}");
    }
    assert_eq!(stdout(output), "", "nothing on stdout");
}

/// Whether a login to `room` is refused because of the room limit.
async fn room_refused(addr: SocketAddr, nick: &str, room: &str) -> anyhow::Result<bool> {
    let mut client = TestClient::connect_raw(addr).await?;
    client.send(hello(nick, room)).await?;
    Ok(match client.recv().await? {
        ServerMsg::Welcome4 { .. } => false,
        ServerMsg::Error {
            kind: ErrorKind::InvalidRoom,
            ..
        } => true,
        other => bail!("unexpected answer to a hello: {other:?}"),
    })
}

#[tokio::test]
async fn the_server_file_takes_effect_and_a_flag_overrides_it() -> Result {
    let home = Home::new();
    let data = home.path("data");
    let file = home.write(
        "server.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nmax_rooms = 1\nlog_level = \"warn\"\ndata_dir = \"{}\"\n",
            data.display()
        ),
    );
    let file = file.to_str().context("UTF-8 path")?;

    // The file alone: its address, its room limit, its data directory made at start.
    let (server, addr) = home.start_server(&["--config", file]).await?;
    assert!(addr.ip().is_loopback(), "{addr}");
    for sub in ["files", "tmp"] {
        assert!(data.join(sub).is_dir(), "{sub}/ made before 'listening on'");
    }
    let _ann = TestClient::connect(addr, "ann", "one").await?;
    assert!(room_refused(addr, "bob", "two").await?, "max_rooms = 1");
    // The data directory is one server's at a time: this one ends (and is reaped) first.
    let mut server = server;
    server.kill().await?;

    // A flag wins over the file; what the flag does not say still comes from the file.
    let (_server, addr) = home
        .start_server(&["--config", file, "--max-rooms", "2"])
        .await?;
    assert!(addr.ip().is_loopback(), "{addr}");
    let _ann = TestClient::connect(addr, "ann", "one").await?;
    let _bob = TestClient::connect(addr, "bob", "two").await?;
    assert!(room_refused(addr, "cy", "three").await?, "--max-rooms 2");

    let printed = home.run(
        "chat-server",
        &["--config", file, "--max-rooms", "2", "--print-config"],
    );
    assert!(printed.status.success(), "{}", stderr(&printed));
    let printed = stdout(&printed);
    for line in [
        "listen = \"127.0.0.1:0\"",
        "max_rooms = 2",
        "log_level = \"warn\"",
        "quota = \"20GiB\"",
    ] {
        assert!(
            settings_lines(&printed).contains(&line),
            "{line} in\n{printed}"
        );
    }
    Ok(())
}

#[test]
fn printed_server_settings_read_back_the_same() {
    let home = Home::new();
    let file = home.write(
        "server.toml",
        "ping_interval = \"1500ms\"\nqueue_bytes = 100000\nmax_file_size = \"1.5GB\"\nworkers = 2\n",
    );
    let file = file.to_str().expect("UTF-8 path");
    let first = home.run(
        "chat-server",
        &["--config", file, "--idle-timeout", "2m", "--print-config"],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let first = stdout(&first);
    let again = home.write("again.toml", &first);
    let second = home.run(
        "chat-server",
        &[
            "--config",
            again.to_str().expect("UTF-8 path"),
            "--print-config",
        ],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(settings_lines(&stdout(&second)), settings_lines(&first));
    for line in [
        "ping_interval = \"1500ms\"",
        "idle_timeout = \"2m\"",
        "workers = 2",
    ] {
        assert!(settings_lines(&first).contains(&line), "{line} in\n{first}");
    }
}

#[test]
fn the_default_server_file_is_read_from_the_config_directory() {
    let home = Home::new();
    // None there: the defaults, and no error.
    let output = home.run("chat-server", &["--print-config"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("no configuration file"));
    assert!(settings_lines(&stdout(&output)).contains(&"max_rooms = 1000"));

    let path = home.write("config/chat-server/server.toml", "max_rooms = 3\n");
    let output = home.run("chat-server", &["--print-config"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&path.display().to_string()));
    assert!(settings_lines(&stdout(&output)).contains(&"max_rooms = 3"));

    // A bad default file is an error too, not silently skipped.
    home.write("config/chat-server/server.toml", "max_rooms = \"three\"\n");
    let output = home.run("chat-server", &["--listen", "127.0.0.1:0"]);
    assert_one_line_error(&output, &[&path.display().to_string(), "key \"max_rooms\""]);
}

#[test]
fn a_bad_server_file_stops_it_with_one_line_naming_the_key() {
    let home = Home::new();
    let cases: [(&str, &[&str]); 6] = [
        (
            "ping_interval = \"abc\"",
            &["key \"ping_interval\": invalid duration \"abc\""],
        ),
        (
            "max-rooms = 5",
            &["key \"max-rooms\": unknown key", "max_rooms"],
        ),
        ("max_rooms = -5", &["key \"max_rooms\"", "-5"]),
        (
            "quota = \"lots\"",
            &["key \"quota\": invalid size \"lots\""],
        ),
        ("workers = 0", &["key \"workers\"", "1 to 1024"]),
        ("max_rooms = 5\nmax_rooms = 6", &["line 2, column 1"]),
    ];
    for (text, parts) in cases {
        let file = home.write("bad.toml", text);
        let file = file.to_str().expect("UTF-8 path");
        // --listen so that a server which wrongly starts listens on loopback only.
        let output = home.run(
            "chat-server",
            &["--config", file, "--listen", "127.0.0.1:0"],
        );
        let mut all = vec!["chat-server: error in ", file];
        all.extend_from_slice(parts);
        assert_one_line_error(&output, &all);
    }
    let missing = home.path("missing.toml");
    let output = home.run(
        "chat-server",
        &[
            "--config",
            missing.to_str().expect("UTF-8 path"),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_one_line_error(&output, &["chat-server: cannot read ", "missing.toml"]);
}

#[test]
fn an_unusable_data_dir_stops_the_server_before_it_listens() {
    let home = Home::new();
    // Under a regular file, no directory can be made, not even by root.
    let blocker = home.write("a-file", "not a directory");
    let data = blocker.join("data");
    let data = data.to_str().expect("UTF-8 path");
    let output = home.run(
        "chat-server",
        &["--listen", "127.0.0.1:0", "--data-dir", data],
    );
    assert_one_line_error(
        &output,
        &[
            &format!("chat-server: cannot use the data directory '{data}'"),
            "Not a directory",
        ],
    );
}

#[test]
fn the_client_file_and_flags_make_its_settings() {
    let home = Home::new();
    // Where the desktop keeps the download folder: user-dirs.dirs, not the environment.
    home.write(
        "config/user-dirs.dirs",
        "XDG_DOWNLOAD_DIR=\"$HOME/Incoming\"\n",
    );
    let output = home.run("chat-tui", &["--print-config"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    let downloads = home.path("home").join("Incoming");
    let state_log = home.path("state").join("chat-tui").join("chat-tui.log");
    // No server named anywhere: none is printed, and the client looks on the LAN.
    assert!(
        !settings_lines(&printed)
            .iter()
            .any(|l| l.starts_with("connect")),
        "{printed}"
    );
    assert!(
        printed.contains("looks for servers on the LAN"),
        "{printed}"
    );
    for line in [
        "room = \"lobby\"".to_owned(),
        "bell = true".to_owned(),
        format!("download_dir = \"{}\"", downloads.display()),
        format!("log_file = \"{}\"", state_log.display()),
    ] {
        assert!(
            settings_lines(&printed).contains(&line.as_str()),
            "{line} in\n{printed}"
        );
    }

    let path = home.write(
        "config/chat-tui/client.toml",
        "connect = \"127.0.0.1:1\"\nnick = \"mei\"\nroom = \"ops\"\nbell = false\n\
         download_dir = \"~/got\"\n",
    );
    let output = home.run("chat-tui", &["--print-config", "--room", "dev"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    assert!(printed.contains(&path.display().to_string()), "{printed}");
    let got = home.path("home").join("got");
    for line in [
        "connect = \"127.0.0.1:1\"".to_owned(),
        "nick = \"mei\"".to_owned(),
        "room = \"dev\"".to_owned(),
        "bell = false".to_owned(),
        format!("download_dir = \"{}\"", got.display()),
    ] {
        assert!(
            settings_lines(&printed).contains(&line.as_str()),
            "{line} in\n{printed}"
        );
    }

    // What it printed is a file that gives the same again.
    let again = home.write("again.toml", &printed);
    let output = home.run(
        "chat-tui",
        &[
            "--config",
            again.to_str().expect("UTF-8 path"),
            "--print-config",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(settings_lines(&stdout(&output)), settings_lines(&printed));
}

#[test]
fn a_bad_client_file_stops_it_with_one_line_naming_the_key() {
    let home = Home::new();
    let path = home.write("config/chat-tui/client.toml", "bell = \"sometimes\"\n");
    let output = home.run("chat-tui", &[]);
    assert_one_line_error(
        &output,
        &[
            &format!("chat-tui: error in {}", path.display()),
            "key \"bell\"",
        ],
    );
    home.write("config/chat-tui/client.toml", "server = \"127.0.0.1:1\"\n");
    let output = home.run("chat-tui", &[]);
    assert_one_line_error(&output, &["key \"server\": unknown key"]);
}

#[test]
fn the_client_connects_where_its_file_says() {
    let server = ServerProcess::start();
    let home = Home::new();
    let file = home.write(
        "client.toml",
        &format!(
            "connect = \"{}\"\nnick = \"mei\"\nroom = \"ops\"\n",
            server.addr
        ),
    );
    let mut tmux = Tmux::new("config-file");
    tmux.pin(server.addr);
    tmux.chat_tui("mei", &["--config", file.to_str().expect("UTF-8 path")]);
    tmux.wait_for("mei", "joined #ops as mei (");
}
