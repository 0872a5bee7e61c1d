//! What the server lends every connection: the registry, the files, the history, the
//! bans, and what a reload of the configuration may change ([`Live`]): the rules a
//! connection follows ([`Policy`]), the operators, the message of the day. A connection
//! sees nothing else of the server.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use shared::Limits;
use shared::auth::PublicKey;
use shared::limits::{MAX_FRAME_LEN, MAX_TEXT_BYTES, MEMBER_PAGE};

use crate::Config;
use crate::auth::Auth;
use crate::bans::Bans;
use crate::config::MAX_MOTD_BYTES;
use crate::files::Files;
use crate::history::History;
use crate::outbound::encode;
use crate::registry::Registry;
use crate::topic_locks::TopicLocks;

/// The parts of the server a connection works with; one per server, shared by every
/// connection behind one `Arc`.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) registry: Arc<Registry>,
    pub(crate) files: Arc<Files>,
    /// Where history queries go, and the leave to say something (`History::admit`).
    pub(crate) history: History,
    /// What the configuration says now; a reload replaces it.
    pub(crate) live: Arc<LiveCell>,
    /// The bans in force.
    pub(crate) bans: Arc<Bans>,
    /// The rooms whose topic only operators set.
    pub(crate) topic_locks: TopicLocks,
    /// The keys clients prove, and what they are allowed (feature "auth").
    pub(crate) auth: Arc<Auth>,
}

impl Context {
    /// What the configuration says now. Read when a connection starts (its policy) and
    /// at each request that needs it (an operator's), never on the way of a room message.
    pub(crate) fn live(&self) -> Arc<Live> {
        self.live.get()
    }
}

/// The part of the server's configuration that a reload (SIGHUP) replaces without
/// dropping a connection. Everything else needs a restart (docs/ARCHITECTURE.md).
#[derive(Debug)]
pub(crate) struct Live {
    /// The rules of connections: each takes the policy in force when it is accepted and
    /// keeps it for its life, so that its rate, its queue and what it is told agree.
    pub(crate) policy: Arc<Policy>,
    /// The keys whose holders are operators.
    pub(crate) operators: HashSet<PublicKey>,
    /// The message of the day, if there is one.
    pub(crate) motd: Option<Arc<str>>,
}

impl Live {
    /// What `config` says, with the message of the day read from its file.
    ///
    /// # Errors
    ///
    /// The message of the day cannot be read, is not text, or is too large: one line that
    /// names the file.
    pub(crate) fn new(config: &Config, history: &History) -> Result<Self, String> {
        let motd = match &config.motd {
            Some(path) => read_motd(path)?.map(Arc::from),
            None => None,
        };
        Ok(Self {
            policy: Arc::new(Policy::new(config, history)),
            operators: config.operators.iter().copied().collect(),
            motd,
        })
    }

    pub(crate) fn is_operator(&self, key: Option<&PublicKey>) -> bool {
        key.is_some_and(|key| self.operators.contains(key))
    }
}

/// Where the [`Live`] configuration is, shared by the connections (which read it) and
/// the reload (which replaces it whole). A read is a reference count under a lock that
/// only a reload takes for writing.
#[derive(Debug)]
pub(crate) struct LiveCell(RwLock<Arc<Live>>);

impl LiveCell {
    pub(crate) fn new(live: Live) -> Self {
        Self(RwLock::new(Arc::new(live)))
    }

    pub(crate) fn get(&self) -> Arc<Live> {
        // Replaced whole, never left half written.
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn set(&self, live: Live) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(live);
    }
}

/// The message of the day in the file at `path`: its text without the blank lines at its
/// end; `None` when that leaves nothing.
///
/// # Errors
///
/// The file cannot be read, is larger than [`MAX_MOTD_BYTES`], or is not UTF-8.
pub(crate) fn read_motd(path: &Path) -> Result<Option<String>, String> {
    let what = || format!("the message of the day '{}'", path.display());
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", what()))?;
    let mut bytes = Vec::new();
    file.take(MAX_MOTD_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", what()))?;
    if bytes.len() > MAX_MOTD_BYTES {
        return Err(format!(
            "{} is larger than {MAX_MOTD_BYTES} bytes, the most a client is shown",
            what()
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", what()))?;
    let text = text.trim_end();
    Ok((!text.is_empty()).then(|| text.to_owned()))
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
