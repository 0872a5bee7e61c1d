//! Noticing that the terminal is gone.
//!
//! When the terminal closes (its window killed, an SSH link dropped) reads from it fail for
//! good, but crossterm's key reader never says so: it retries the failed read forever, in a
//! busy loop, and its stream never ends. The SIGHUP that usually comes with it is not
//! guaranteed either (a process outside the terminal's foreground group does not get it).
//! So a thread of its own waits for the hang-up itself, in `poll(2)` asking for no event at
//! all: a hang-up and an error are reported whatever is asked, and nothing else is, so the
//! thread sleeps until the terminal is gone and no key ever wakes it.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use tokio::sync::oneshot;

/// Starts watching the terminal the keys are read from; the receiver gets `()` once it is
/// gone. If watching fails, the receiver is closed (and the caller waits forever).
pub fn watch() -> io::Result<oneshot::Receiver<()>> {
    let tty = open_tty()?;
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("hangup".into())
        .spawn(move || match wait_for_hangup(&tty) {
            Ok(()) => {
                let _ = tx.send(());
            }
            Err(e) => tracing::warn!(error = %e, "cannot watch the terminal for a hang-up"),
        })?;
    Ok(rx)
}

/// The terminal crossterm reads keys from: standard input if it is one, else `/dev/tty`.
fn open_tty() -> io::Result<OwnedFd> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        stdin.as_fd().try_clone_to_owned()
    } else {
        Ok(File::options()
            .read(true)
            .write(true)
            .open("/dev/tty")?
            .into())
    }
}

/// Returns when `tty` hangs up (or fails, or is closed).
fn wait_for_hangup(tty: &impl AsFd) -> io::Result<()> {
    loop {
        let mut fds = [PollFd::new(tty, PollFlags::empty())];
        match poll(&mut fds, None) {
            // Only a hang-up, an error or a closed descriptor can end a wait with no event
            // asked for.
            Ok(_) => return Ok(()),
            // A signal for this thread; each one wakes it once.
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use super::*;

    /// A socket stands in for the terminal: readable input does not end the wait, the
    /// other end closing does.
    #[test]
    fn waits_through_input_and_returns_on_hang_up() {
        let (mut near, far) = UnixStream::pair().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(wait_for_hangup(&far).is_ok()));
        near.write_all(b"typed keys").unwrap();
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "input ended the wait"
        );
        drop(near);
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
    }
}
