//! TLS to the server, with its key pinned on first use ([`crate::trust`]).
//!
//! [`PinVerifier`] is the whole of the client's trust in a server: the SHA-256 of the
//! public key in the server's certificate must be the pin (or the `--trust` fingerprint
//! at first contact), and the handshake's signature must verify with that key (with the
//! provider's algorithms), so that a relay holding only the server's public certificate
//! cannot pass. The certificate's names, dates and issuer are not looked at: nobody signs
//! a LAN server's certificate, and the key is what the user accepted.
//!
//! A server that does not speak TLS answers the ClientHello with something else. Its
//! first byte is kept ([`Sniff`]): `0x00` opens a plaintext frame, the refusal a server
//! of this protocol sends to a TLS client (docs/PROTOCOL.md, section 1), read and said as
//! [`NotTls`].

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use shared::tls::{Fingerprint, NOT_TLS};
use shared::{ClientCodec, ServerMsg};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::codec::Decoder;

use crate::trust::{Pins, TrustError};

/// The name the client gives the server in the handshake when its host is not a valid
/// DNS name; the verifier does not look at names.
const FALLBACK_NAME: &str = "lanchat.invalid";

/// Bytes of the server's first answer kept, to read a plaintext refusal from them.
const SNIFF_BYTES: usize = 4 * 1024;

/// Time to read the rest of a plaintext refusal once its first bytes are in.
const REFUSAL_WAIT: Duration = Duration::from_secs(1);

/// How to trust servers over TLS: the pins, the server's identity, and a fingerprint
/// given for a first contact.
#[derive(Debug, Clone)]
pub struct TlsDial {
    /// `None` without a home directory: then only `trust` can let a server in.
    pins: Option<Pins>,
    /// The server's identity for its pin; `None`: the address dialled.
    identity: Option<String>,
    /// The fingerprint the user gave (`--trust`): accepted, and pinned, at first contact.
    trust: Option<Fingerprint>,
}

impl TlsDial {
    /// Trusts the servers pinned in `pins`, and `trust` at first contact; the pin is
    /// kept under `identity` (`None`: the `HOST:PORT` dialled).
    pub fn new(pins: Option<Pins>, identity: Option<String>, trust: Option<Fingerprint>) -> Self {
        Self {
            pins,
            identity,
            trust,
        }
    }

    /// The identity the pin of a server dialled at `addr` is kept under.
    pub fn identity(&self, addr: &str) -> String {
        self.identity.clone().unwrap_or_else(|| addr.to_owned())
    }

    /// Connects to `addr` over TCP, then TLS, checking the server's key.
    pub(crate) async fn connect(&self, addr: &str) -> io::Result<TlsStream<Sniff<TcpStream>>> {
        let identity = self.identity(addr);
        let pinned = match &self.pins {
            Some(pins) => pins.get(&identity)?,
            None => None,
        };
        let expect = match (pinned, self.trust) {
            (Some(pin), _) => Expect::Pinned(pin),
            (None, Some(given)) => Expect::Given(given),
            (None, None) => Expect::Nothing,
        };
        let verifier = PinVerifier {
            provider: shared::tls::provider(),
            identity: identity.clone(),
            expect,
        };
        let config = ClientConfig::builder_with_provider(shared::tls::provider())
            .with_protocol_versions(shared::tls::PROTOCOL_VERSIONS)
            .map_err(io::Error::other)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .unwrap_or_else(|_| ServerName::try_from(FALLBACK_NAME).expect("a valid DNS name"));
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        let connecting = TlsConnector::from(Arc::new(config))
            .connect(name, Sniff::new(tcp))
            .into_fallible();
        match connecting.await {
            Ok(mut tls) => {
                tls.get_mut().0.stop();
                if let (Expect::Given(given), Some(pins)) = (expect, &self.pins) {
                    pins.add(&identity, given)?;
                }
                Ok(tls)
            }
            Err((error, sniff)) => Err(refusal(error, sniff).await),
        }
    }
}

/// What the server's key must be.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Pinned(Fingerprint),
    Given(Fingerprint),
    Nothing,
}

/// Accepts the server's key if it is the one expected, and checks that the server holds
/// it (the handshake's signature).
#[derive(Debug)]
struct PinVerifier {
    provider: Arc<CryptoProvider>,
    identity: String,
    expect: Expect,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = Fingerprint::of_certificate(end_entity)?;
        let identity = self.identity.clone();
        let refusal = match self.expect {
            Expect::Pinned(pinned) | Expect::Given(pinned) if pinned == seen => {
                return Ok(ServerCertVerified::assertion());
            }
            Expect::Pinned(pinned) => TrustError::Changed {
                identity,
                pinned,
                seen,
            },
            Expect::Given(given) => TrustError::NotTrusted {
                identity,
                given,
                seen,
            },
            Expect::Nothing => TrustError::Unknown { identity, seen },
        };
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(refusal)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Only TLS 1.3 is offered (shared::tls::PROTOCOL_VERSIONS).
        Err(rustls::Error::General("TLS 1.2 is not spoken".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The binding of a proof of the client's key to the TLS session `session` (see
/// [`crate::Connector::binding`]).
pub(crate) fn binding(session: &rustls::ClientConnection) -> io::Result<Vec<u8>> {
    session
        .export_keying_material(
            vec![0; shared::auth::BINDING_BYTES],
            shared::auth::EXPORTER_LABEL,
            None,
        )
        .map_err(|e| io::Error::other(format!("cannot bind the proof to the TLS session: {e}")))
}

/// The server does not speak TLS: what it said instead, if it said it in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotTls {
    /// The text of its refusal (made safe to show).
    pub said: Option<String>,
}

impl fmt::Display for NotTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NOT_TLS)?;
        // A server of this protocol says the same; an older one says something else.
        match &self.said {
            Some(said) if said != NOT_TLS => write!(f, " (the server says: {said})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for NotTls {}

/// The error of a handshake that failed: a key refused ([`TrustError`]), a server that
/// does not speak TLS ([`NotTls`]), or what rustls said.
async fn refusal(error: io::Error, mut sniff: Sniff<TcpStream>) -> io::Error {
    let trust = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .and_then(|e| match e {
            rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                other.0.downcast_ref::<TrustError>().cloned()
            }
            _ => None,
        });
    if let Some(trust) = trust {
        return io::Error::other(trust);
    }
    match sniff.seen.first() {
        Some(&first) if shared::tls::is_plaintext_frame(first) => {
            let said = tokio::time::timeout(REFUSAL_WAIT, sniff.plaintext_refusal())
                .await
                .ok()
                .flatten();
            io::Error::other(NotTls { said })
        }
        _ => io::Error::new(error.kind(), format!("the TLS handshake failed: {error}")),
    }
}

/// A stream that keeps the first bytes it reads ([`SNIFF_BYTES`]), until stopped.
#[derive(Debug)]
pub struct Sniff<S> {
    inner: S,
    seen: Vec<u8>,
    recording: bool,
}

impl<S: AsyncRead + Unpin> Sniff<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            seen: Vec::new(),
            recording: true,
        }
    }

    /// Stops keeping bytes, and gives back what was kept.
    fn stop(&mut self) {
        self.recording = false;
        self.seen = Vec::new();
    }

    /// The text of the plaintext `Error` frame the server answered with, reading the rest
    /// of it if needed (up to [`SNIFF_BYTES`]).
    async fn plaintext_refusal(&mut self) -> Option<String> {
        let mut buf = BytesMut::from(&self.seen[..]);
        loop {
            match ClientCodec::default().decode(&mut buf.clone()) {
                Ok(Some(ServerMsg::Error { text, .. })) => {
                    return Some(crate::sanitize::text(&text).into_owned());
                }
                Ok(None) if buf.len() < SNIFF_BYTES => {}
                _ => return None,
            }
            let mut more = [0u8; 512];
            match self.inner.read(&mut more).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&more[..n]),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniff<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.recording && self.seen.len() < SNIFF_BYTES {
            let new = &buf.filled()[before..];
            let room = SNIFF_BYTES - self.seen.len();
            let kept = &new[..new.len().min(room)];
            self.seen.extend_from_slice(kept);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Sniff<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
