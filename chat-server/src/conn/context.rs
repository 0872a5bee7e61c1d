//! What the server lends every connection: the registry, the files, the history, and the
//! rules a connection follows ([`Policy`]), taken from the configuration once. A
//! connection sees nothing else of the server.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use shared::Limits;
use shared::limits::{MAX_FRAME_LEN, MAX_TEXT_BYTES, MEMBER_PAGE};

use crate::Config;
use crate::auth::Auth;
use crate::files::Files;
use crate::history::History;
use crate::outbound::encode;
use crate::registry::Registry;

/// The parts of the server a connection works with; one per server, shared by every
/// connection behind one `Arc`.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) registry: Arc<Registry>,
    pub(crate) files: Arc<Files>,
    /// Where history queries go, and the leave to say something (`History::admit`).
    pub(crate) history: History,
    pub(crate) policy: Policy,
    /// The keys clients prove, and what they are allowed (feature "auth").
    pub(crate) auth: Auth,
}

/// The limits and intervals that apply to each connection (see [`Config`] for what each
/// means and its default).
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Most bytes of chat frames queued for a client before it is a slow consumer.
    pub(crate) queue_bytes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) msg_rate: u32,
    pub(crate) msg_burst: u32,
    pub(crate) flood_timeout: Duration,
    /// Only named here, in the message of a client that timed out: the keepalive applies
    /// it.
    pub(crate) idle_timeout: Duration,
    pub(crate) flush_timeout: Duration,
    /// The limits a version 4 welcome tells, from the protocol and the configuration.
    pub(crate) limits: Limits,
    /// The `HistoryInfo` frame, encoded once, that follows the welcome of a client granted
    /// the feature "history"; `None` when the server keeps no history, which then grants
    /// it to no one.
    pub(crate) history_info: Option<Bytes>,
}

impl Policy {
    pub(crate) fn new(config: &Config, history: &History) -> Self {
        let as_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        // A rate of 0 is no limit, and then the burst means nothing.
        let msg_burst = match config.msg_rate {
            0 => 0,
            _ => config.msg_burst.max(1),
        };
        let limits = Limits {
            max_frame: as_u32(MAX_FRAME_LEN),
            max_text: as_u32(MAX_TEXT_BYTES),
            member_page: as_u32(MEMBER_PAGE),
            msg_rate: config.msg_rate,
            msg_burst,
            max_file_size: config.max_file_size,
        };
        Self {
            queue_bytes: config.queue_bytes,
            handshake_timeout: config.handshake_timeout,
            msg_rate: config.msg_rate,
            msg_burst: config.msg_burst,
            flood_timeout: config.flood_timeout,
            idle_timeout: config.idle_timeout,
            flush_timeout: config.flush_timeout,
            limits,
            history_info: history.is_on().then(|| encode(&history.info())),
        }
    }
}
