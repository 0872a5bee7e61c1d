//! The handshake: the client's first frame must be a hello that this server can speak
//! (version 3's `Hello`, or version 4's `Hello4` with a range of versions and features),
//! with a valid nick and room, and the registry must take the nick. A client granted the
//! feature "auth" is sent a `Challenge` first and must answer it with a `Prove`, whose
//! key, if it names one, must be proved over this stream's binding.

use futures::StreamExt;
use shared::CodecError;
use shared::auth::{NONCE_BYTES, ProofError, PublicKey};
use shared::names::{check_nick, check_room};
use shared::protocol::DEFAULT_ROOM;
use shared::tls::is_tls;
use shared::{
    ClientMsg, ErrorKind, FEATURE_AUTH, FEATURE_FETCHED, FEATURE_HISTORY, FEATURE_ROOMS,
    OLDEST_VERSION, PROTOCOL_VERSION, ServerMsg,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::error::Elapsed;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::cmd::banned;
use super::ending::Ending;
use super::{Connection, seconds};
use crate::outbound::encode;
use crate::registry::Greeting;
use crate::transport::Binding;
use crate::transport::tls::WrongTransport;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// The ending of a connection whose first bytes are not this server's transport: a
    /// plaintext client on a TLS server, a TLS client on a plaintext server (its first
    /// byte, still in the read buffer, opens a TLS record: `shared::tls::is_tls`), a TLS
    /// handshake that failed. Each side gets one line that says so: the client as a
    /// plaintext `Error` frame (docs/PROTOCOL.md, section 1), the log once.
    fn wrong_transport(&self, error: &CodecError) -> Option<Ending> {
        let peer = &self.client.peer;
        let wrong = match error {
            CodecError::Io(e) => WrongTransport::of(e)?,
            _ if self
                .frames
                .read_buffer()
                .first()
                .copied()
                .is_some_and(is_tls) =>
            {
                info!(%peer, "a TLS client reached this plaintext server; told it to connect with --plaintext");
                let text = shared::tls::NOT_TLS.into();
                return Some(Ending::refused_unlogged(ErrorKind::VersionMismatch, text));
            }
            _ => return None,
        };
        Some(match wrong {
            WrongTransport::Plaintext => {
                info!(%peer, "a plaintext client reached this TLS server; told it to connect without --plaintext");
                let text = shared::tls::TLS_ONLY.into();
                Ending::refused_unlogged(ErrorKind::VersionMismatch, text)
            }
            // Logged by the stream, at debug.
            WrongTransport::HandshakeFailed => Ending::unlogged(),
        })
    }

    /// Reads the `Hello` and logs the client in: with the feature "auth", after the
    /// client has answered the challenge. The whole handshake is bounded by the
    /// handshake timeout.
    pub(super) async fn handshake(&mut self, shutdown: &CancellationToken) -> Result<(), Ending>
    where
        S: Binding,
    {
        let limit = self.client.policy.handshake_timeout;
        let deadline = Instant::now() + limit;
        let hello = match self.next_frame(deadline, shutdown).await? {
            Err(_elapsed) => {
                let text = format!("no hello within {}", seconds(limit));
                return Err(Ending::refused(ErrorKind::Timeout, text, "timed out"));
            }
            Ok(None) => return Err(Ending::closed()),
            Ok(Some(Err(e))) => {
                return Err(self.wrong_transport(&e).unwrap_or_else(|| Ending::codec(e)));
            }
            Ok(Some(Ok(msg))) => msg,
        };
        let (version, features, nick, room) = match hello {
            ClientMsg::Hello {
                version: OLDEST_VERSION,
                nick,
                room,
            } => (OLDEST_VERSION, Vec::new(), nick, room),
            ClientMsg::Hello { version, .. } => {
                let text = if version > OLDEST_VERSION {
                    format!(
                        "this server speaks protocol {OLDEST_VERSION} to {PROTOCOL_VERSION}; \
                         a client of version 4 or later says hello with Hello4"
                    )
                } else {
                    format!(
                        "this server speaks protocol {OLDEST_VERSION} to {PROTOCOL_VERSION}, \
                         the client {version}"
                    )
                };
                return Err(Ending::refused(
                    ErrorKind::VersionMismatch,
                    text,
                    "version mismatch",
                ));
            }
            ClientMsg::Hello4 {
                min_version,
                max_version,
                features,
                nick,
                room,
            } => {
                // The newest version both speak.
                let Some(version) = (4..=PROTOCOL_VERSION)
                    .rev()
                    .find(|v| (min_version..=max_version).contains(v))
                else {
                    let text = format!(
                        "this server speaks protocol {OLDEST_VERSION} to {PROTOCOL_VERSION}, \
                         the client {min_version} to {max_version}"
                    );
                    return Err(Ending::refused(
                        ErrorKind::VersionMismatch,
                        text,
                        "version mismatch",
                    ));
                };
                let history = self.client.policy.history_info.is_some();
                (version, granted(features, history), nick, room)
            }
            _ => {
                let text = "log in first".to_owned();
                return Err(Ending::refused(
                    ErrorKind::NotLoggedIn,
                    text,
                    "not logged in",
                ));
            }
        };
        if let Err(e) = check_nick(&nick) {
            let text = format!("the nick {e}");
            return Err(Ending::refused(
                ErrorKind::InvalidNick,
                text,
                "invalid nick",
            ));
        }
        let room = if room.is_empty() {
            DEFAULT_ROOM.to_owned()
        } else {
            room
        };
        if let Err(e) = check_room(&room) {
            let text = format!("the room name {e}");
            return Err(Ending::refused(
                ErrorKind::InvalidRoom,
                text,
                "invalid room",
            ));
        }
        let auth = features.iter().any(|f| f == FEATURE_AUTH);
        let key = match auth {
            true => self.prove(deadline, shutdown).await?,
            // A client that cannot answer a challenge cannot give the password either.
            false if self.client.ctx.auth.needs_password() => {
                let text = "this server needs a password; use a client that can give one";
                return Err(Ending::refused(
                    ErrorKind::NotLoggedIn,
                    text.to_owned(),
                    "no password (an older client)",
                ));
            }
            false => None,
        };
        if let Some(ending) = banned(&self.client, key.as_ref(), auth) {
            return Err(ending);
        }
        // With the feature, `HistoryInfo` follows the welcome before anything else.
        let history = features.iter().any(|f| f == FEATURE_HISTORY);
        let rooms = features.iter().any(|f| f == FEATURE_ROOMS);
        let ctx = &self.client.ctx;
        let policy = &self.client.policy;
        let live = ctx.live();
        let greeting = Greeting {
            version,
            features: &features,
            limits: &policy.limits,
            after_welcome: policy.history_info.as_ref().filter(|_| history),
            rooms,
            motd: live.motd.as_deref(),
            ip: self.client.peer.ip(),
            key,
            operator: live.is_operator(key.as_ref()),
        };
        let id = self
            .client
            .ctx
            .registry
            .login(&nick, &room, self.client.outbox.clone(), &greeting)
            .map_err(|r| {
                let reason = match r.kind {
                    ErrorKind::InvalidRoom => "too many rooms",
                    ErrorKind::NickOwned => "nick registered",
                    _ => "nick taken",
                };
                let r = r.for_client(auth);
                Ending::refused(r.kind, r.text, reason)
            })?;
        let peer = &self.client.peer;
        match key {
            // The key in the form people compare.
            Some(key) => info!(%peer, client = id, %nick, %room, version, %key, "logged in"),
            None => info!(%peer, client = id, %nick, %room, version, "logged in"),
        }
        self.client.id = Some(id);
        self.client.auth = auth;
        self.client.history = history;
        if features.iter().any(|f| f == FEATURE_FETCHED) {
            self.client.ctx.files.sharers.add(id);
        }
        self.client.rooms = rooms;
        Ok(())
    }

    /// The next frame, unless the deadline or a shutdown comes first.
    async fn next_frame(
        &mut self,
        deadline: Instant,
        shutdown: &CancellationToken,
    ) -> Result<Result<Option<Result<ClientMsg, CodecError>>, Elapsed>, Ending> {
        tokio::select! {
            next = timeout_at(deadline, self.frames.next()) => Ok(next),
            () = shutdown.cancelled() => Err(Ending::shutdown()),
        }
    }

    /// The feature "auth"'s part of the handshake: sends the challenge and reads the
    /// client's `Prove`; the key it proved, if it proved one. A proof that does not
    /// verify for this stream's binding ends the connection: the client signed another
    /// session's (a relay's), or not with the key it names.
    async fn prove(
        &mut self,
        deadline: Instant,
        shutdown: &CancellationToken,
    ) -> Result<Option<PublicKey>, Ending>
    where
        S: Binding,
    {
        let mut nonce = [0u8; NONCE_BYTES];
        if let Err(error) = getrandom::fill(&mut nonce) {
            warn!(%error, "no randomness for a challenge");
            let text = "the server could not make a challenge".to_owned();
            return Err(Ending::refused(ErrorKind::Internal, text, "no challenge"));
        }
        let challenge = encode(&ServerMsg::Challenge {
            nonce: nonce.to_vec(),
            password: self.client.ctx.auth.needs_password(),
        });
        // The writer does not run during the handshake: the challenge is written now.
        let limit = self.client.policy.handshake_timeout;
        let written = tokio::select! {
            written = timeout_at(deadline, self.writer.write_now(self.frames.get_mut(), &challenge)) => written,
            () = shutdown.cancelled() => return Err(Ending::shutdown()),
        };
        match written {
            Err(_elapsed) => return Err(Ending::quiet("timed out")),
            Ok(Err(stopped)) => return Err(Ending::stopped(stopped, &self.client.policy)),
            Ok(Ok(())) => {}
        }
        let answer = match self.next_frame(deadline, shutdown).await? {
            Err(_elapsed) => {
                let text = format!("no answer to the challenge within {}", seconds(limit));
                return Err(Ending::refused(ErrorKind::Timeout, text, "timed out"));
            }
            Ok(None) => return Err(Ending::closed()),
            Ok(Some(Err(e))) => return Err(Ending::codec(e)),
            Ok(Some(Ok(msg))) => msg,
        };
        let (password, key, signature) = match answer {
            ClientMsg::Prove {
                password,
                key,
                signature,
            } => (password, key, signature),
            _ => {
                let text = "answer the challenge with Prove (not wrapped in a request)".to_owned();
                return Err(Ending::refused(
                    ErrorKind::NotLoggedIn,
                    text,
                    "did not answer the challenge",
                ));
            }
        };
        // The password first: without it, nothing else is looked at. Each attempt is
        // logged once, with the address, as the connection's refusal.
        let ctx = &self.client.ctx;
        let checking = timeout_at(
            deadline,
            ctx.auth.check_password(&self.client.peer, password),
        );
        let checked = tokio::select! {
            checked = checking => checked,
            () = shutdown.cancelled() => return Err(Ending::shutdown()),
        };
        match checked {
            Err(_elapsed) => {
                let text = format!(
                    "the password could not be checked within {}",
                    seconds(limit)
                );
                return Err(Ending::refused(ErrorKind::Timeout, text, "timed out"));
            }
            Ok(Err(refusal)) => {
                let reason = match refusal.kind {
                    ErrorKind::RateLimited => "too many wrong passwords",
                    _ => "wrong password",
                };
                return Err(Ending::refused(refusal.kind, refusal.text, reason));
            }
            Ok(Ok(())) => {}
        }
        if key.is_empty() && signature.is_empty() {
            return Ok(None);
        }
        let stream = self.frames.get_ref();
        let binding = stream.binding();
        // A TLS session that exports nothing must not be checked as plaintext is.
        let unbound = binding.is_none() && stream.is_tls();
        let binding = binding.as_ref().map_or(&[][..], |b| &b[..]);
        let proved = PublicKey::from_bytes(&key)
            .and_then(|key| key.verify(&nonce, binding, &signature).map(|()| key))
            .and_then(|key| {
                if unbound {
                    Err(ProofError::BadSignature)
                } else {
                    Ok(key)
                }
            });
        match proved {
            Ok(key) => Ok(Some(key)),
            Err(error) => {
                // Why, for whoever debugs a client; the refusal itself is logged once.
                debug!(peer = %self.client.peer, %error, "a key's proof does not verify");
                let text = "the proof of your key does not verify for this connection \
                            (is something relaying it?)"
                    .to_owned();
                let reason = "the proof of its key does not verify";
                Err(Ending::refused(ErrorKind::NotIdentified, text, reason))
            }
        }
    }
}

/// The features of a hello that this server has: each once, in the hello's order.
/// [`FEATURE_ROOMS`], [`FEATURE_FETCHED`] and [`FEATURE_AUTH`] always; [`FEATURE_HISTORY`]
/// when it keeps history (`history`).
fn granted(asked: Vec<String>, history: bool) -> Vec<String> {
    let has = |feature: &str| {
        (history && feature == FEATURE_HISTORY)
            || feature == FEATURE_ROOMS
            || feature == FEATURE_FETCHED
            || feature == FEATURE_AUTH
    };
    let mut granted: Vec<String> = Vec::new();
    for feature in asked {
        if has(&feature) && !granted.contains(&feature) {
            granted.push(feature);
        }
    }
    granted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_granted_once_and_history_only_when_kept() {
        let asked = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            granted(asked(&["emoji", "history", "History", "history"]), true),
            ["history"]
        );
        assert_eq!(
            granted(asked(&["fetched", "history", "fetched"]), false),
            ["fetched"]
        );
        assert!(granted(asked(&["history"]), false).is_empty());
        assert!(granted(asked(&[]), true).is_empty());
        assert_eq!(
            granted(asked(&["rooms", "history", "rooms"]), false),
            ["rooms"]
        );
        assert_eq!(
            granted(asked(&["rooms", "history"]), true),
            ["rooms", "history"]
        );
        assert_eq!(
            granted(asked(&["auth", "fetched", "auth"]), false),
            ["auth", "fetched"]
        );
    }
}
