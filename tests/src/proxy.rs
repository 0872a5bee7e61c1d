//! A TCP relay between a client and the server that a test can cut: the connections break
//! as a pulled cable or a dropped Wi-Fi would break them, while the server stays up. It
//! can also freeze them: nothing passes either way and nothing fails (no RST, no FIN),
//! as on a link that went silent; what was sent meanwhile is held, and delivered on a
//! thaw or dropped by a cut.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest a frozen relay holds its data; then it goes on as if thawed (every wait of a
/// test is bounded, and so is this one).
const MAX_FREEZE: Duration = Duration::from_secs(300);

/// Relays every connection made to [`CutProxy::addr`] to the target, two threads each.
#[derive(Debug)]
pub struct CutProxy {
    pub addr: SocketAddr,
    open: Arc<Mutex<Vec<TcpStream>>>,
    closing: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
}

impl CutProxy {
    /// Listens on 127.0.0.1, port 0, and relays to `target`.
    /// Its clients reach the target's TLS, if it speaks it, through the relay: the
    /// relay's address is noted with the target's key ([`crate::binaries::server_key`]).
    pub fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        crate::binaries::remember_key(addr, crate::binaries::server_key(target));
        let open = Arc::new(Mutex::new(Vec::new()));
        let closing = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let (conns, stop) = (Arc::clone(&open), Arc::clone(&closing));
        let ice = Arc::clone(&frozen);
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let handles = [&client, &server].map(|s| s.try_clone());
                if let [Ok(a), Ok(b)] = handles {
                    conns.lock().expect("proxy lock").extend([a, b]);
                }
                relay(&client, &server, &ice);
                relay(&server, &client, &ice);
            }
        });
        Ok(Self {
            addr,
            open,
            closing,
            frozen,
        })
    }

    /// Freezes every connection, those relayed so far and those to come: nothing passes,
    /// nothing fails.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Lets everything held go on, in order.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    /// Breaks every connection relayed so far, both ways.
    /// What a frozen connection held is dropped, and new connections pass again.
    pub fn cut(&self) {
        for stream in self.open.lock().expect("proxy lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.thaw();
    }
}

/// Copies `from` to `to` on a thread until either side ends, holding what it read while
/// `frozen`.
fn relay(from: &TcpStream, to: &TcpStream, frozen: &Arc<AtomicBool>) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let frozen = Arc::clone(frozen);
    thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            hold(&frozen);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // The end too waits for the thaw: a frozen link passes no FIN either.
        hold(&frozen);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// Waits while `frozen`, at most [`MAX_FREEZE`].
fn hold(frozen: &AtomicBool) {
    let deadline = Instant::now() + MAX_FREEZE;
    while frozen.load(Ordering::SeqCst) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        self.thaw();
        // Wakes the accepting thread so that it sees `closing`.
        let _ = TcpStream::connect(self.addr);
        self.cut();
    }
}
