//! Test helpers: clients logged into a registry whose queues the tests read directly.

use bytes::BytesMut;
use shared::limits::MEMBER_PAGE;
use shared::{ClientCodec, Limits, RoomEvent, ServerMsg};
use tokio_util::codec::Decoder;

use super::{ClientId, Greeting, Refusal, Registry};
use crate::outbound::{Outbox, queue};

/// A logged-in client whose queue the test reads directly.
pub(super) struct Probe {
    pub(super) id: ClientId,
    pub(super) outbox: Outbox,
    read: BytesMut,
}

impl Probe {
    pub(super) fn next(&mut self) -> Option<ServerMsg> {
        self.read.extend_from_slice(&self.outbox.take_now());
        ClientCodec::default()
            .decode(&mut self.read)
            .expect("server frames decode")
    }

    pub(super) fn drain(&mut self) -> Vec<ServerMsg> {
        std::iter::from_fn(|| self.next()).collect()
    }
}

pub(super) fn limits() -> Limits {
    Limits {
        max_frame: 1 << 20,
        max_text: 4096,
        member_page: MEMBER_PAGE as u32,
        msg_rate: 10,
        msg_burst: 20,
        max_file_size: 1 << 30,
    }
}

/// Logs a client in speaking `version`.
pub(super) fn login_as(
    reg: &Registry,
    version: u16,
    nick: &str,
    room: &str,
    limit_bytes: usize,
) -> Result<Probe, Refusal> {
    login_with(reg, version, false, nick, room, limit_bytes)
}

/// Logs a client in speaking `version`, granted the feature "rooms" if `rooms`.
pub(super) fn login_with(
    reg: &Registry,
    version: u16,
    rooms: bool,
    nick: &str,
    room: &str,
    limit_bytes: usize,
) -> Result<Probe, Refusal> {
    let outbox = queue(limit_bytes);
    let limits = limits();
    let features = match rooms {
        true => vec![shared::FEATURE_ROOMS.to_owned()],
        false => Vec::new(),
    };
    let greeting = Greeting {
        version,
        features: &features,
        limits: &limits,
        after_welcome: None,
        key: None,
        operator: false,
        rooms,
        motd: None,
        ip: None,
    };
    let id = reg.login(nick, room, outbox.clone(), &greeting)?;
    Ok(Probe {
        id,
        outbox,
        read: BytesMut::new(),
    })
}

/// A version 3 client: the registry's first tests predate version 4 and hold for it
/// unchanged.
pub(super) fn login(reg: &Registry, nick: &str, room: &str, limit_bytes: usize) -> Probe {
    login_as(reg, 3, nick, room, limit_bytes).unwrap()
}

pub(super) fn login4(reg: &Registry, nick: &str, room: &str) -> Probe {
    login_as(reg, 4, nick, room, 1 << 20).unwrap()
}

/// A version 4 client granted the feature "rooms".
pub(super) fn login_rooms(reg: &Registry, nick: &str, room: &str) -> Probe {
    login_with(reg, 4, true, nick, room, 1 << 20).unwrap()
}

pub(super) fn refused_login(reg: &Registry, nick: &str, room: &str) -> Refusal {
    login_as(reg, 3, nick, room, 8).err().expect("refused")
}

/// The room messages a version 4 client got: (seq, event).
pub(super) fn room_events(msgs: &[ServerMsg]) -> Vec<(u64, RoomEvent)> {
    msgs.iter()
        .filter_map(|m| match m.clone().into_reply().1 {
            ServerMsg::Room { seq, event, .. } => Some((seq, event)),
            _ => None,
        })
        .collect()
}
