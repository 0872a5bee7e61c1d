//! An operator's requests (feature "auth", `Operate`), carried out once `Client::operate`
//! has found the client to be an operator: kick, ban, unban, list the bans, lock a
//! room's topic. And what the bans and the locks mean for everyone else: a banned client
//! refused at the handshake, a topic set in a locked room refused.
//!
//! Everything an operator does is logged: who (nick and key), what, to whom, why.

use bytes::Bytes;
use shared::limits::MAX_REASON_BYTES;
use shared::{BanInfo, ErrorKind, OperatorRequest, ServerMsg};
use tracing::info;

use crate::bans::{AddError, Ban, Target, cut};
use crate::common::{ClientId, now_ms};
use crate::conn::Client;
use crate::conn::ending::Ending;
use crate::outbound::encode;
use crate::registry::{Registered, Seen};

use super::Later;

/// Most bytes of bans one `Bans` answer lists (the newest that fit): far below any
/// client's queue, as a page of members is.
const BANS_ANSWER_BYTES: usize = 64 * 1024;

impl Client {
    /// Carries out `msg` for the operator `id`.
    pub(super) fn carry_out(
        &self,
        id: ClientId,
        reply: Option<u32>,
        msg: OperatorRequest,
    ) -> Result<Option<Later>, Ending> {
        let Some(by) = self.ctx.registry.seen_id(id) else {
            return Ok(None);
        };
        let done = match msg {
            OperatorRequest::Kick { nick, reason } => self.kick(reply, &by, &nick, &reason),
            OperatorRequest::Ban {
                target,
                seconds,
                reason,
            } => self.ban(reply, &by, &target, seconds, &reason),
            OperatorRequest::Unban { target } => self.unban(reply, &by, &target),
            OperatorRequest::ListBans => {
                let bans = newest_that_fit(self.ctx.bans.list(now_ms()));
                self.send(reply, &ServerMsg::Bans { bans })
            }
            OperatorRequest::Release { nick } => return self.release(reply, &by, &nick),
            OperatorRequest::LockTopic { room, locked } => {
                self.lock_topic(reply, &by, &room, locked)
            }
        };
        done.map(|()| None)
    }

    /// Frees the registered nick `nick`, whoever's key holds it; answered once the file
    /// keeps the change ([`Later::Keep`]), at once when nothing changed.
    fn release(&self, reply: Option<u32>, by: &Seen, nick: &str) -> Result<Option<Later>, Ending> {
        let Registered { answer, keep } = self.ctx.registry.release(nick);
        info!(operator = %by.nick, key = ?by.key, %nick, freed = keep.is_some(), "released");
        match keep {
            Some(snapshot) => Ok(Some(Later::Keep(snapshot, answer))),
            None => self.send(reply, &answer).map(|()| None),
        }
    }

    fn kick(&self, reply: Option<u32>, by: &Seen, nick: &str, reason: &str) -> Result<(), Ending> {
        let Some(victim) = self.ctx.registry.seen(nick) else {
            return self.no_such_nick(reply, nick);
        };
        let reason = cut(reason.to_owned(), MAX_REASON_BYTES);
        let text = because(format!("kicked by {}", by.nick), &reason);
        let told = told(ErrorKind::Kicked, &text);
        let removed = self
            .ctx
            .registry
            .remove_where(|c| c.id == victim.id, &text, told);
        if removed.is_empty() {
            return self.no_such_nick(reply, nick);
        }
        info!(
            operator = %by.nick, key = ?by.key, victim = %victim.nick, peer = ?victim.ip,
            %reason, "kicked"
        );
        self.done(reply, format!("kicked {}", victim.nick))
    }

    fn ban(
        &self,
        reply: Option<u32>,
        by: &Seen,
        target: &str,
        seconds: u64,
        reason: &str,
    ) -> Result<(), Ending> {
        let now = now_ms();
        let reason = cut(reason.to_owned(), MAX_REASON_BYTES);
        // An address or a key as given, else a nick: its address, and its key if it has one.
        let (targets, nick) = match Target::parse(target) {
            Some(parsed) => (vec![parsed], None),
            None => {
                let Some(victim) = self.ctx.registry.seen(target) else {
                    return self.no_such_nick(reply, target);
                };
                let targets: Vec<Target> = victim
                    .ip
                    .map(Target::Address)
                    .into_iter()
                    .chain(victim.key.map(Target::Key))
                    .collect();
                if targets.is_empty() {
                    let text = format!("{} has neither an address nor a key to ban", victim.nick);
                    return self.refuse(reply, ErrorKind::Internal, text);
                }
                (targets, Some(victim.nick))
            }
        };
        let until_ms = match seconds {
            0 => 0,
            s => now.saturating_add(s.saturating_mul(1000)),
        };
        let bans: Vec<Ban> = targets
            .iter()
            .map(|&target| Ban {
                target,
                nick: nick.clone().unwrap_or_default(),
                until_ms,
                reason: reason.clone(),
                by: by.nick.clone(),
            })
            .collect();
        match self.ctx.bans.add(bans, now) {
            Ok(()) => {}
            Err(AddError::Full) => {
                let text = format!(
                    "the server keeps at most {} bans; lift some first",
                    crate::bans::MAX_BANS
                );
                return self.refuse(reply, ErrorKind::Internal, text);
            }
            Err(AddError::Unwritten(why)) => {
                return self.refuse(reply, ErrorKind::Internal, format!("not banned: {why}"));
            }
        }
        let how_long = match seconds {
            0 => "until unbanned".to_owned(),
            s => format!("for {}", shared::units::duration(s)),
        };
        let text = because(format!("banned by {} {how_long}", by.nick), &reason);
        let live = self.ctx.live();
        // Operators stay, as they may connect (see `banned`).
        let covers = |c: &Seen| {
            !live.is_operator(c.key.as_ref())
                && targets.iter().any(|t| match t {
                    Target::Address(ip) => c.ip == Some(*ip),
                    Target::Key(key) => c.key.as_ref() == Some(key),
                })
        };
        let removed = self
            .ctx
            .registry
            .remove_where(covers, &text, told(ErrorKind::Banned, &text));
        let what = described(&targets, nick.as_deref());
        info!(
            operator = %by.nick, key = ?by.key, banned = %what, %how_long, %reason,
            disconnected = ?removed, "banned"
        );
        let mut answer = because(format!("banned {what} {how_long}"), &reason);
        if !removed.is_empty() {
            answer.push_str(&format!(" (disconnected {})", removed.join(", ")));
        }
        self.done(reply, answer)
    }

    fn unban(&self, reply: Option<u32>, by: &Seen, target: &str) -> Result<(), Ending> {
        let lifted = match self.ctx.bans.remove(target, now_ms()) {
            Ok(lifted) => lifted,
            Err(e) => return self.refuse(reply, ErrorKind::Internal, format!("not unbanned: {e}")),
        };
        if lifted.is_empty() {
            return self.done(reply, format!("no ban on {target}"));
        }
        let targets: Vec<Target> = lifted.iter().map(|b| b.target).collect();
        let nick = lifted
            .iter()
            .map(|b| b.nick.as_str())
            .find(|n| !n.is_empty());
        let what = described(&targets, nick);
        info!(operator = %by.nick, key = ?by.key, lifted = %what, "unbanned");
        self.done(reply, format!("unbanned {what}"))
    }

    fn lock_topic(
        &self,
        reply: Option<u32>,
        by: &Seen,
        room: &str,
        locked: bool,
    ) -> Result<(), Ending> {
        if let Err(e) = shared::names::check_room(room) {
            return self.refuse(reply, ErrorKind::InvalidRoom, format!("the room name {e}"));
        }
        let (_, shown) = self.ctx.registry.room_named(room);
        // Locked by the look of the name, so that a look-alike room opened once the locked
        // one is empty (`lobby` with a Cyrillic о) is locked too.
        let look = shared::names::look_alike_key(&shown);
        if let Err(why) = self.ctx.topic_locks.set(&look, locked) {
            return self.refuse(reply, ErrorKind::Internal, why);
        }
        let what = match locked {
            true => "locked",
            false => "unlocked",
        };
        info!(operator = %by.nick, key = ?by.key, room = %shown, "topic {what}");
        let answer = match locked {
            true => format!("locked the topic of {shown}: only operators set it"),
            false => format!("unlocked the topic of {shown}: everyone in it sets it"),
        };
        self.done(reply, answer)
    }

    /// Whether a `SetTopic` in the room `room` by the client `id` is refused: the room's
    /// topic is locked and the client is no operator.
    pub(super) fn topic_locked(&self, id: ClientId, room: &str) -> Option<(ErrorKind, String)> {
        if !self
            .ctx
            .topic_locks
            .is_locked(&shared::names::look_alike_key(room))
        {
            return None;
        }
        let key = self.ctx.registry.key_of(id);
        if self.ctx.live().is_operator(key.as_ref()) {
            return None;
        }
        // The feature's error kinds only reach a client granted it.
        let kind = match self.auth {
            true => ErrorKind::NotOperator,
            false => ErrorKind::Internal,
        };
        Some((kind, format!("only operators set the topic of {room}")))
    }

    fn done(&self, reply: Option<u32>, text: String) -> Result<(), Ending> {
        self.send(reply, &ServerMsg::Operated { text })
    }

    fn no_such_nick(&self, reply: Option<u32>, nick: &str) -> Result<(), Ending> {
        self.refuse(
            reply,
            ErrorKind::NoSuchNick,
            format!("no one goes by the nick {nick}"),
        )
    }
}

/// The ending of a client an operator's ban keeps out at the handshake, if one does: from
/// its address, or proving `key`. An operator is never kept out (a ban on an address it
/// shares, behind a NAT, with the one banned). A client granted the feature "auth" is
/// told `Banned`; an older one `NotLoggedIn`, which it can read.
pub(in crate::conn) fn banned(
    client: &Client,
    key: Option<&shared::auth::PublicKey>,
    auth: bool,
) -> Option<Ending> {
    if client.ctx.live().is_operator(key) {
        return None;
    }
    let now = now_ms();
    let ban = client.ctx.bans.find(client.peer.ip(), key, now)?;
    info!(peer = %client.peer, target = %ban.target, "refused: banned");
    let kind = match auth {
        true => ErrorKind::Banned,
        false => ErrorKind::NotLoggedIn,
    };
    Some(Ending::refused(kind, ban.text(now), "banned"))
}

/// What a removed client is told: `kind` (`Kicked`, `Banned`) if it was granted the
/// feature "auth", else a `Shutdown`, which every client reads.
fn told(kind: ErrorKind, text: &str) -> impl Fn(bool) -> Bytes {
    let error = encode(&ServerMsg::Error {
        kind,
        text: text.to_owned(),
    });
    let shutdown = encode(&ServerMsg::Shutdown {
        reason: text.to_owned(),
    });
    move |auth| match auth {
        true => error.clone(),
        false => shutdown.clone(),
    }
}

/// `what`, then `: reason` if there is one.
fn because(what: String, reason: &str) -> String {
    match reason {
        "" => what,
        reason => format!("{what}: {reason}"),
    }
}

/// The targets of bans for people: `10.0.0.7 and bob's key`, `the key 3f2a…`.
fn described(targets: &[Target], nick: Option<&str>) -> String {
    let each: Vec<String> = targets
        .iter()
        .map(|t| match (t, nick) {
            (Target::Address(ip), _) => ip.to_string(),
            (Target::Key(_), Some(nick)) => format!("{nick}'s key"),
            (Target::Key(key), None) => format!("the key {}", key.hex()),
        })
        .collect();
    each.join(" and ")
}

/// The newest of `bans` whose encoding fits in [`BANS_ANSWER_BYTES`], oldest first.
fn newest_that_fit(bans: Vec<BanInfo>) -> Vec<BanInfo> {
    let mut size = 0;
    let mut kept: Vec<BanInfo> = Vec::new();
    for ban in bans.into_iter().rev() {
        // The fields' bytes and their lengths: an upper bound of the encoding.
        size += ban.target.len() + ban.nick.len() + ban.reason.len() + ban.by.len() + 32;
        if size > BANS_ANSWER_BYTES {
            break;
        }
        kept.push(ban);
    }
    kept.reverse();
    kept
}
