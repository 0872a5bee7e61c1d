//! TLS over TCP: [`TlsListener`] accepts TCP connections and hands each one over as a
//! [`TlsServerStream`], whose TLS handshake runs in the connection's own task, on its
//! first read: the accept loop never waits on a client, and the handshake falls under the
//! connection's handshake timeout like the hello does.
//!
//! Before the handshake, the stream looks at the client's first byte without taking it
//! (`shared::tls::is_tls`). A plaintext client is not fed to rustls (whose error would
//! mean nothing to it): the read fails with [`WrongTransport::Plaintext`], and the stream
//! carries the connection's refusal to it as a plaintext frame. Until then a write goes
//! out in plaintext too, which is how a refusal over the connection caps reaches a client
//! of either kind (a TLS client reads a plaintext frame where it awaited a TLS record,
//! and says what the frame says).
//!
//! A handshake that fails costs what rustls spent on it, one debug line, and the socket.
//!
//! [`Identity`] is the server's key and certificate: made on first start in the data
//! directory (the key readable by the server's user only), or the operator's own.

use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use shared::auth::{BINDING_BYTES, EXPORTER_LABEL};
use shared::tls::Fingerprint;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::{FallibleAccept, TlsStream};
use tracing::debug;

use super::{PeerAddr, Transport};

/// The file of the server's certificate in its data directory, when it makes its own.
pub const CERT_FILE: &str = "tls-cert.pem";
/// The file of the server's private key in its data directory, when it makes its own.
pub const KEY_FILE: &str = "tls-key.pem";

/// The server's TLS key and certificate, ready to serve, and the key's fingerprint.
#[derive(Clone)]
pub struct Identity {
    config: Arc<ServerConfig>,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The SHA-256 of the server's public key: what clients pin.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The operator's certificate (PEM, the server's first, then its chain) and key (PEM,
    /// PKCS#8, PKCS#1 or SEC1) when both are given; else the server's own in `data_dir`,
    /// made there on first start: an ECDSA P-256 key (written first, mode 0600) and a
    /// self-signed certificate for it. Its names and dates do not matter: clients check
    /// the key.
    ///
    /// # Errors
    ///
    /// One of the two files given without the other; a file that cannot be read, written
    /// or parsed; a key that does not go with the certificate. The message names the file.
    pub fn load_or_create(
        data_dir: &Path,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let (cert, key) = match (cert, key) {
            (Some(cert), Some(key)) => (cert.to_owned(), key.to_owned()),
            (None, None) => {
                let (cert, key) = (data_dir.join(CERT_FILE), data_dir.join(KEY_FILE));
                if !cert.exists() && !key.exists() {
                    create(&cert, &key)?;
                }
                (cert, key)
            }
            _ => anyhow::bail!("--tls-cert and --tls-key go together: give both, or neither"),
        };
        Self::load(&cert, &key)
    }

    fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Self> {
        let chain = CertificateDer::pem_file_iter(cert_path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                anyhow::anyhow!("cannot read the certificate '{}': {e}", cert_path.display())
            })?;
        let Some(first) = chain.first() else {
            anyhow::bail!(
                "the certificate file '{}' holds no certificate",
                cert_path.display()
            );
        };
        let fingerprint = Fingerprint::of_certificate(first).map_err(|e| {
            anyhow::anyhow!("cannot read the certificate '{}': {e}", cert_path.display())
        })?;
        let key = PrivateKeyDer::from_pem_file(key_path)
            .map_err(|e| anyhow::anyhow!("cannot read the key '{}': {e}", key_path.display()))?;
        let mut config = ServerConfig::builder_with_provider(shared::tls::provider())
            .with_protocol_versions(shared::tls::PROTOCOL_VERSIONS)
            .context("TLS 1.3 is not available")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot use the key '{}' with the certificate '{}': {e}",
                    key_path.display(),
                    cert_path.display()
                )
            })?;
        // No session resumption: a client reconnects seldom, and a full handshake is
        // what checks the key against its pin. Without tickets, a connection costs no
        // ticket messages and no entry in a session cache.
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        Ok(Self {
            config: Arc::new(config),
            fingerprint,
        })
    }
}

/// Makes a key and a self-signed certificate and writes them to `key` (readable by this
/// user only, created new) and `cert`.
fn create(cert: &Path, key: &Path) -> anyhow::Result<()> {
    let pair = rcgen::KeyPair::generate().context("cannot make a TLS key")?;
    let params = rcgen::CertificateParams::new(vec!["lanchat.invalid".to_owned()])
        .context("cannot make a TLS certificate")?;
    let certificate = params
        .self_signed(&pair)
        .context("cannot make a TLS certificate")?;
    write_new(key, pair.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert, certificate.pem().as_bytes(), 0o644)?;
    Ok(())
}

/// Writes `bytes` to the new file `path` with the permissions `mode` (on Unix).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create '{}'", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write '{}'", path.display()))
}

/// TCP connections served over TLS with the server's [`Identity`].
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    fingerprint: Fingerprint,
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for TlsServerStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsServerStream")
    }
}

impl TlsListener {
    /// Serves TLS with `identity` on `tcp`.
    pub fn new(tcp: TcpListener, identity: &Identity) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(Arc::clone(&identity.config)),
            fingerprint: identity.fingerprint,
        }
    }
}

impl Transport for TlsListener {
    type Stream = TlsServerStream;

    async fn accept(&self) -> io::Result<(TlsServerStream, PeerAddr)> {
        let (stream, peer) = Transport::accept(&self.tcp).await?;
        let state = State::Peeking {
            tcp: stream,
            acceptor: self.acceptor.clone(),
        };
        Ok((TlsServerStream { state, peer }, peer))
    }

    fn local_addr(&self) -> Option<String> {
        Transport::local_addr(&self.tcp)
    }

    fn fingerprint(&self) -> Option<Fingerprint> {
        Some(self.fingerprint)
    }
}

/// Why a stream could not carry the protocol: the error of a read on a
/// [`TlsServerStream`], for the connection to say so (see `conn::handshake`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrongTransport {
    /// The client speaks plaintext to this TLS server. The stream goes on in plaintext, to
    /// carry the refusal.
    Plaintext,
    /// The TLS handshake failed; it was logged. The stream is closed.
    HandshakeFailed,
}

impl fmt::Display for WrongTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plaintext => "a plaintext client on a TLS server",
            Self::HandshakeFailed => "the TLS handshake failed",
        })
    }
}

impl std::error::Error for WrongTransport {}

impl WrongTransport {
    /// The kind of wrong transport an I/O error reports, if it is one.
    pub fn of(error: &io::Error) -> Option<Self> {
        error.get_ref()?.downcast_ref::<Self>().copied()
    }

    fn error(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// One client's stream on a TLS server: its state moves from peeking at the first byte,
/// through the handshake, to TLS (or plaintext, to refuse a plaintext client).
pub struct TlsServerStream {
    state: State,
    peer: PeerAddr,
}

enum State {
    /// Nothing read yet.
    Peeking {
        tcp: TcpStream,
        acceptor: TlsAcceptor,
    },
    /// The handshake; boxed, as rustls's connection state is large.
    Handshaking(Box<FallibleAccept<TcpStream>>),
    Tls(Box<TlsStream<TcpStream>>),
    /// A plaintext client, to be refused in plaintext.
    Plain(TcpStream),
    Closed,
}

impl AsyncRead for TlsServerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Peeking { tcp, .. } => {
                    let mut first = [0u8; 1];
                    let mut peeked = ReadBuf::new(&mut first);
                    ready!(tcp.poll_peek(cx, &mut peeked))?;
                    let State::Peeking { tcp, acceptor } =
                        std::mem::replace(&mut this.state, State::Closed)
                    else {
                        unreachable!("matched above");
                    };
                    match peeked.filled().first() {
                        // Closed before a byte: an end of stream.
                        None => return Poll::Ready(Ok(())),
                        Some(&first) if shared::tls::is_tls(first) => {
                            let accept = acceptor.accept(tcp).into_fallible();
                            this.state = State::Handshaking(Box::new(accept));
                        }
                        Some(_) => {
                            discard_waiting(&tcp);
                            this.state = State::Plain(tcp);
                            return Poll::Ready(Err(WrongTransport::Plaintext.error()));
                        }
                    }
                }
                State::Handshaking(accept) => match ready!(Pin::new(&mut **accept).poll(cx)) {
                    Ok(tls) => this.state = State::Tls(Box::new(tls)),
                    Err((error, _tcp)) => {
                        debug!(peer = %this.peer, %error, "TLS handshake failed");
                        this.state = State::Closed;
                        return Poll::Ready(Err(WrongTransport::HandshakeFailed.error()));
                    }
                },
                State::Tls(tls) => return Pin::new(&mut **tls).poll_read(cx, buf),
                State::Plain(tcp) => return Pin::new(tcp).poll_read(cx, buf),
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// Reads and drops what a plaintext client has sent so far (its hello), up to 4 KiB and
/// without waiting: a socket closed with unread bytes is reset, and a reset could
/// destroy the refusal on its way to the client.
fn discard_waiting(tcp: &TcpStream) {
    let mut scratch = [0u8; 1024];
    for _ in 0..4 {
        match tcp.try_read(&mut scratch) {
            Ok(n) if n == scratch.len() => {}
            _ => break,
        }
    }
}

/// The binding of a proof to this TLS session: what both ends export from it under
/// [`shared::auth::EXPORTER_LABEL`] (RFC 8446, section 7.5). A relay in the middle holds
/// two sessions, so the binding its client signed is not this one.
impl super::Binding for TlsServerStream {
    fn binding(&self) -> Option<[u8; BINDING_BYTES]> {
        let State::Tls(tls) = &self.state else {
            return None;
        };
        let (_, session) = tls.get_ref();
        session
            .export_keying_material([0u8; BINDING_BYTES], EXPORTER_LABEL, None)
            .inspect_err(|error| debug!(peer = %self.peer, %error, "no keying material to export"))
            .ok()
    }

    fn is_tls(&self) -> bool {
        matches!(self.state, State::Tls(_))
    }
}

/// Writes before the handshake go out in plaintext (refusals); during it, or once closed,
/// a write fails.
impl AsyncWrite for TlsServerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.state {
            State::Peeking { tcp, .. } | State::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            State::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
            State::Handshaking(_) | State::Closed => {
                Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.state {
            State::Peeking { tcp, .. } | State::Plain(tcp) => {
                Pin::new(tcp).poll_write_vectored(cx, bufs)
            }
            State::Tls(tls) => Pin::new(&mut **tls).poll_write_vectored(cx, bufs),
            State::Handshaking(_) | State::Closed => {
                Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Peeking { tcp, .. } | State::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            State::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
            State::Handshaking(_) | State::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Peeking { tcp, .. } | State::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            State::Tls(tls) => Pin::new(&mut **tls).poll_shutdown(cx),
            State::Handshaking(_) | State::Closed => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path(), None, None).unwrap();
        let again = Identity::load_or_create(dir.path(), None, None).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The operator's own: the same files given by name give the same key.
        let (cert, key) = (dir.path().join(CERT_FILE), dir.path().join(KEY_FILE));
        let own = Identity::load_or_create(Path::new("/nonexistent"), Some(&cert), Some(&key));
        assert_eq!(own.unwrap().fingerprint(), first.fingerprint());
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let error = Identity::load_or_create(dir.path(), Some(&cert), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--tls-cert and --tls-key go together: give both, or neither"
        );
        std::fs::write(&cert, "not a certificate").unwrap();
        let key = dir.path().join("key.pem");
        let error = Identity::load_or_create(dir.path(), Some(&cert), Some(&key)).unwrap_err();
        assert!(error.to_string().contains("cert.pem"), "{error}");
    }
}
