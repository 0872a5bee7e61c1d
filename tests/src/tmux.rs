//! Driving the real binaries in a real terminal: a private tmux server per test.
//!
//! [`Tmux`] starts its own tmux server on a socket of its own (`tmux -L NAME`), so tests
//! run in parallel and never touch a user's sessions; dropping it kills that server and
//! only that. Keys go in with `send-keys`, the screen comes out with `capture-pane`, and
//! every wait polls the screen against a deadline: no fixed sleeps.
//!
//! [`ServerProcess`] runs the real `chat-server` binary on `127.0.0.1`, over TLS as it does
//! by default, and reads the port and its key from its `listening on ADDR (TLS,
//! fingerprint FP)` line. A client opened with `--connect ADDR` for a server this process
//! started finds its key pinned, as a user who met the server before would
//! ([`crate::binaries::server_key`]); the first contact is `tls_trust.rs`'s.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::binaries::{binary, listening_line, remember_key, scratch_dir, server_key};

/// Longest a test waits for a screen to show something.
pub const SCREEN_WAIT: Duration = Duration::from_secs(10);
/// How often a wait looks at the screen again.
const POLL: Duration = Duration::from_millis(50);

/// What the shell prints after a client exits, before the status: `[chat-tui exited 0]`.
const EXIT_MARKER: &str = "[chat-tui exited ";

/// Width and height of every test terminal unless resized.
pub const COLS: u16 = 100;
pub const ROWS: u16 = 30;

/// A private tmux server with one session, `main`, whose windows run the programs.
#[derive(Debug)]
pub struct Tmux {
    socket: String,
    started: bool,
    /// Files to remove when the test ends (client logs).
    scratch: Vec<PathBuf>,
    /// The clients' state directory (`XDG_STATE_HOME`), the test's own: what a client
    /// remembers between runs (interrupted transfers, input history) stays within the
    /// test, and never reaches the home of whoever runs the tests.
    state: PathBuf,
    /// The clients' data directory (`XDG_DATA_HOME`), the test's own: the servers' keys
    /// they pin.
    data: PathBuf,
}

impl Tmux {
    /// A tmux server on a socket named after the test, this process and a counter.
    pub fn new(test: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Self {
            socket: format!("chat-tui-{test}-{}-{n}", std::process::id()),
            started: false,
            scratch: Vec::new(),
            state: scratch_dir("tui-state"),
            data: scratch_dir("tui-data"),
        }
    }

    fn tmux(&self, args: &[&str]) -> Output {
        // -u: UTF-8 whatever the locale of the test runner, or wide characters become `_`.
        Command::new("tmux")
            .args(["-u", "-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env("XDG_STATE_HOME", &self.state)
            .env("XDG_DATA_HOME", &self.data)
            .output()
            .expect("tmux is needed for the terminal tests: install it (apt-get install tmux)")
    }

    fn tmux_ok(&self, args: &[&str]) -> String {
        let out = self.tmux(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The clients' state directory (`XDG_STATE_HOME`); `chat-tui` keeps its own in
    /// `chat-tui/` there.
    pub fn state_home(&self) -> &std::path::Path {
        &self.state
    }

    /// The clients' data directory (`XDG_DATA_HOME`): `lanchat/known_servers` holds the
    /// keys they pinned.
    pub fn data_home(&self) -> &std::path::Path {
        &self.data
    }

    /// Opens a window named `name` running `shell_command` (through the shell). Windows stay
    /// open after their program exits, so that what it printed last can still be read.
    pub fn open(&mut self, name: &str, shell_command: &str) {
        if !self.started {
            // The session starts with an idle window (`cat` waiting on its terminal), so that
            // remain-on-exit is set before any program under test can exit.
            let size = [COLS.to_string(), ROWS.to_string()];
            self.tmux_ok(&[
                "new-session",
                "-d",
                "-s",
                "main",
                "-n",
                "idle",
                "-x",
                &size[0],
                "-y",
                &size[1],
                "cat",
                ";",
                "set-option",
                "-g",
                "remain-on-exit",
                "on",
            ]);
            self.started = true;
        }
        // In a folder of its own: `chat-tui --host` keeps its data (files, the history's
        // database) in `chat-data` there, not in the source tree.
        let dir = scratch_dir("tui-cwd");
        let dir = dir.to_str().expect("a UTF-8 scratch path");
        self.tmux_ok(&[
            "new-window",
            "-d",
            "-t",
            "main",
            "-n",
            name,
            "-c",
            dir,
            shell_command,
        ]);
    }

    /// Opens a window running `chat-tui` with `args`, logging to a scratch file. The shell
    /// running it prints its exit status when it ends (see [`Tmux::exit_status`]).
    pub fn chat_tui(&mut self, name: &str, args: &[&str]) {
        self.chat_tui_through(name, &[], args);
    }

    /// As [`Tmux::chat_tui`], run through `wrapper` if it is not empty (`["ip", "netns",
    /// "exec", "NS"]`).
    pub fn chat_tui_through(&mut self, name: &str, wrapper: &[&str], args: &[&str]) {
        self.pin_connected(args);
        let log = std::env::temp_dir().join(format!("{}-{name}.log", self.socket));
        self.scratch.push(log.clone());
        let mut command = String::new();
        for word in wrapper {
            command.push_str(&shell_quote(word));
            command.push(' ');
        }
        command.push_str(&format!(
            "{} --no-bell --log-file {}",
            shell_quote(&binary("chat-tui").display().to_string()),
            shell_quote(&log.display().to_string())
        ));
        for arg in args {
            command.push(' ');
            command.push_str(&shell_quote(arg));
        }
        // The shell stays (in `cat`) after printing the status: tmux 3.3 can drop the last
        // output of a pane whose process has exited.
        command.push_str(&format!("; echo \"{EXIT_MARKER}$?]\"; exec cat"));
        self.open(name, &command);
    }

    /// Pins, in the clients' data directory, the key of the server `--connect` names in
    /// `args`, when it is a TLS server this process started.
    fn pin_connected(&self, args: &[&str]) {
        let connect = args.windows(2).find(|w| w[0] == "--connect").map(|w| w[1]);
        if let Some(addr) = connect.and_then(|a| a.parse().ok()) {
            self.pin(addr);
        }
    }

    /// Pins, in the clients' data directory, the key of the server at `addr`, when it is
    /// a TLS server this process started (for a client that finds the address elsewhere
    /// than in `--connect`).
    pub fn pin(&self, addr: SocketAddr) {
        if let Some(fp) = server_key(addr) {
            let pins = self
                .data
                .join("lanchat")
                .join(chat_client::trust::PINS_FILE);
            chat_client::trust::Pins::at(pins)
                .add(&addr.to_string(), fp)
                .expect("pin the server's key");
        }
    }

    /// Opens a window running `chat-tui --connect ADDR --nick NICK` (plus `args`) and waits
    /// until it has joined.
    pub fn join(&mut self, name: &str, addr: SocketAddr, nick: &str, args: &[&str]) {
        let addr = addr.to_string();
        let mut all = vec!["--connect", &addr, "--nick", nick];
        all.extend_from_slice(args);
        self.chat_tui(name, &all);
        self.wait_for(name, &format!("as {nick} ("));
    }

    /// Types `text` literally into window `name`.
    pub fn type_text(&self, name: &str, text: &str) {
        self.tmux_ok(&["send-keys", "-t", &target(name), "-l", text]);
    }

    /// Sends tmux key names (`Enter`, `C-a`, `PageUp`, `F2`) to window `name`.
    pub fn keys(&self, name: &str, keys: &[&str]) {
        let target = target(name);
        let mut args = vec!["send-keys", "-t", &target];
        args.extend_from_slice(keys);
        self.tmux_ok(&args);
    }

    /// Sends raw bytes to the program in window `name`, as its terminal would (a focus
    /// report, an escape sequence no key makes).
    pub fn send_bytes(&self, name: &str, bytes: &[u8]) {
        let target = target(name);
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut args = vec!["send-keys", "-t", &target, "-H"];
        args.extend(hex.iter().map(String::as_str));
        self.tmux_ok(&args);
    }

    /// Copies everything the program in window `name` writes from now on, escape
    /// sequences and all, to the file `log` (tmux's `pipe-pane`).
    pub fn log_output(&self, name: &str, log: &std::path::Path) {
        let command = format!("cat >> {}", shell_quote(&log.display().to_string()));
        self.tmux_ok(&["pipe-pane", "-O", "-t", &target(name), &command]);
    }

    /// Types a line and presses Enter.
    pub fn say(&self, name: &str, line: &str) {
        self.type_text(name, line);
        self.keys(name, &["Enter"]);
    }

    /// Pastes `text` into window `name` the way a terminal does, with bracketed paste when
    /// the program asked for it.
    pub fn paste(&self, name: &str, text: &str) {
        self.tmux_ok(&["set-buffer", "-b", "test-paste", text]);
        self.tmux_ok(&[
            "paste-buffer",
            "-p",
            "-b",
            "test-paste",
            "-t",
            &target(name),
        ]);
    }

    /// The screen of window `name`, one string per row.
    pub fn screen(&self, name: &str) -> String {
        self.tmux_ok(&["capture-pane", "-p", "-t", &target(name)])
    }

    /// Waits until the screen of `name` satisfies `ready`; panics with the screen when it does
    /// not within [`SCREEN_WAIT`].
    pub fn wait_until(&self, name: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_WAIT;
        loop {
            let screen = self.screen(name);
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "window {name}: timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the screen of `name` contains `text`.
    pub fn wait_for(&self, name: &str, text: &str) -> String {
        self.wait_until(name, &format!("{text:?}"), |s| s.contains(text))
    }

    /// Resizes window `name`.
    pub fn resize(&self, name: &str, cols: u16, rows: u16) {
        self.tmux_ok(&[
            "resize-window",
            "-t",
            &target(name),
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
    }

    /// PID of the program the window `name` was opened with.
    pub fn pane_pid(&self, name: &str) -> u32 {
        let out = self.tmux_ok(&["display-message", "-p", "-t", &target(name), "#{pane_pid}"]);
        out.trim().parse().expect("pane pid")
    }

    /// Closes window `name` as a user closing a terminal would: the program in it loses its
    /// terminal (a hang-up) and, if it is in the terminal's foreground, gets SIGHUP.
    pub fn kill_window(&self, name: &str) {
        self.tmux_ok(&["kill-window", "-t", &target(name)]);
    }

    /// The exit status of the client in window `name` (opened with [`Tmux::chat_tui`]),
    /// once it has exited.
    ///
    /// The shell that started the client prints the status: tmux itself can leave a dead
    /// pane's process unreaped for a long time, with no status to report, and can lose
    /// what a dying pane printed last.
    pub fn exit_status(&self, name: &str) -> Option<i32> {
        let screen = self.screen(name);
        let line = screen.lines().rev().find(|l| l.starts_with(EXIT_MARKER))?;
        line[EXIT_MARKER.len()..].trim_end_matches(']').parse().ok()
    }

    /// The log file of the client opened as window `name` with [`Tmux::chat_tui`].
    pub fn log(&self, name: &str) -> String {
        let log = std::env::temp_dir().join(format!("{}-{name}.log", self.socket));
        std::fs::read_to_string(log).unwrap_or_default()
    }

    /// Waits until the program in window `name` exits and checks its exit status; on a
    /// mismatch, panics with its last screen and its log.
    pub fn assert_exit(&self, name: &str, expected: i32) {
        let status = self.wait_exit(name);
        assert_eq!(
            status,
            expected,
            "window {name}: unexpected exit status; the screen:\n{}\nthe log:\n{}",
            self.screen(name),
            self.log(name)
        );
    }

    /// Waits until the program in window `name` exits; returns its status.
    pub fn wait_exit(&self, name: &str) -> i32 {
        let deadline = Instant::now() + SCREEN_WAIT;
        loop {
            if let Some(status) = self.exit_status(name) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "window {name}: program did not exit; the screen:\n{}\nthe log:\n{}",
                self.screen(name),
                self.log(name)
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if self.started {
            // Only this test's own server, by its own socket.
            let _ = self.tmux(&["kill-server"]);
        }
        for file in &self.scratch {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// CPU time used so far by process `pid`, in clock ticks (user + system).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces; count fields after its closing paren.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The only child of process `pid` (the program a shell is running), waited for.
pub fn child_of(pid: u32) -> u32 {
    let deadline = Instant::now() + SCREEN_WAIT;
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(child) = children.split_whitespace().next() {
            return child.parse().expect("a process id");
        }
        assert!(Instant::now() < deadline, "process {pid} has no child");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn target(window: &str) -> String {
    format!("main:{window}")
}

/// Quotes `s` for `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The real `chat-server` binary, killed (by its PID) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Its data directory, where its TLS key is: a server started again on it has the
    /// same key, as a real server restarted does.
    pub data: PathBuf,
}

impl ServerProcess {
    /// Starts `chat-server --listen 127.0.0.1:0`, with a data directory of its own.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0")
    }

    /// Starts `chat-server --listen ADDR` and waits for its `listening on` line. Binding a
    /// port that was just freed is retried until [`SCREEN_WAIT`] runs out.
    pub fn start_on(listen: &str) -> Self {
        Self::start_with(listen, &[])
    }

    /// Starts `chat-server --listen ADDR` with more arguments (`--data-dir DIR`), like
    /// [`ServerProcess::start_on`].
    pub fn start_with(listen: &str, args: &[&str]) -> Self {
        let deadline = Instant::now() + SCREEN_WAIT;
        loop {
            match Self::try_start(listen, args) {
                Ok(server) => return server,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("chat-server on {listen}: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("chat-server on {listen} did not start: {e}"),
            }
        }
    }

    fn try_start(listen: &str, args: &[&str]) -> Result<Self, String> {
        let mut command = Command::new(binary("chat-server"));
        // A data directory of its own unless `args` names one: servers of tests running
        // at once would share `./chat-data`, its files and its history's database.
        let named = args.windows(2).find(|w| w[0] == "--data-dir");
        let data = match named {
            Some(w) => PathBuf::from(w[1]),
            None => {
                let data = scratch_dir("server-data");
                command.arg("--data-dir").arg(&data);
                data
            }
        };
        let mut child = command
            .env("XDG_CONFIG_HOME", scratch_dir("no-config"))
            .args(["--listen", listen])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("listening on ") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx.recv_timeout(SCREEN_WAIT);
        match line.ok().and_then(|line| listening_line(&line).ok()) {
            Some((addr, fp)) => {
                remember_key(addr, fp);
                Ok(Self { child, addr, data })
            }
            None => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(format!("no 'listening on' line ({status})"))
            }
        }
    }

    /// Stops the server (SIGSTOP) where it is: what is in flight stays in flight, so a
    /// test can look at a transfer in the middle without racing it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {which} failed");
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
