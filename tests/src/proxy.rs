//! A TCP relay between a client and the server that a test can cut: the connections break
//! as a pulled cable or a dropped Wi-Fi would break them, while the server stays up.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Relays every connection made to [`CutProxy::addr`] to the target, two threads each.
#[derive(Debug)]
pub struct CutProxy {
    pub addr: SocketAddr,
    open: Arc<Mutex<Vec<TcpStream>>>,
    closing: Arc<AtomicBool>,
}

impl CutProxy {
    /// Listens on 127.0.0.1, port 0, and relays to `target`.
    pub fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let open = Arc::new(Mutex::new(Vec::new()));
        let closing = Arc::new(AtomicBool::new(false));
        let (conns, stop) = (Arc::clone(&open), Arc::clone(&closing));
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
                relay(&client, &server);
                relay(&server, &client);
            }
        });
        Ok(Self {
            addr,
            open,
            closing,
        })
    }

    /// Breaks every connection relayed so far, both ways.
    pub fn cut(&self) {
        for stream in self.open.lock().expect("proxy lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` on a thread until either side ends.
fn relay(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees `closing`.
        let _ = TcpStream::connect(self.addr);
        self.cut();
    }
}
