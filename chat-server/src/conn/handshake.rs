//! The handshake: the client's first frame must be a hello that this server can speak
//! (version 3's `Hello`, or version 4's `Hello4` with a range of versions and features),
//! with a valid nick and room, and the registry must take the nick.

use futures::StreamExt;
use shared::names::{check_nick, check_room};
use shared::protocol::DEFAULT_ROOM;
use shared::{ClientMsg, ErrorKind, OLDEST_VERSION, PROTOCOL_VERSION};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::ending::Ending;
use super::{Connection, seconds};
use crate::registry::Greeting;

/// Optional features this server knows and grants when a `Hello4` asks for them. Version
/// 4 defines none yet; the list is where the next ones go.
const FEATURES: &[&str] = &[];

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Reads the `Hello` and logs the client in.
    pub(super) async fn handshake(&mut self, shutdown: &CancellationToken) -> Result<(), Ending> {
        let limit = self.client.ctx.policy.handshake_timeout;
        let first = tokio::select! {
            first = timeout(limit, self.frames.next()) => first,
            () = shutdown.cancelled() => return Err(Ending::shutdown()),
        };
        let hello = match first {
            Err(_elapsed) => {
                let text = format!("no hello within {}", seconds(limit));
                return Err(Ending::refused(ErrorKind::Timeout, text, "timed out"));
            }
            Ok(None) => return Err(Ending::closed()),
            Ok(Some(Err(e))) => return Err(Ending::codec(e)),
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
                (version, granted(features), nick, room)
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
        let greeting = Greeting {
            version,
            features: &features,
            limits: &self.client.ctx.policy.limits,
        };
        let id = self
            .client
            .ctx
            .registry
            .login(&nick, &room, self.client.outbox.clone(), &greeting)
            .map_err(|r| {
                let reason = match r.kind {
                    ErrorKind::InvalidRoom => "too many rooms",
                    _ => "nick taken",
                };
                Ending::refused(r.kind, r.text, reason)
            })?;
        info!(peer = %self.client.peer, client = id, %nick, %room, version, "logged in");
        self.client.id = Some(id);
        Ok(())
    }
}

/// The features of a hello that this server has: each once, in the hello's order.
fn granted(asked: Vec<String>) -> Vec<String> {
    let mut granted: Vec<String> = Vec::new();
    for feature in asked {
        if FEATURES.contains(&feature.as_str()) && !granted.contains(&feature) {
            granted.push(feature);
        }
    }
    granted
}
