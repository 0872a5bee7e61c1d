//! Private messages kept for their owners (features "auth" and "history"): a private
//! message between two clients that each proved the key their nick is registered to is
//! kept in history under the two keys, and either owner can read it back
//! (`PrivateHistory`), from any device that holds their key, whatever nick the other
//! goes by since. Nothing is kept for a nick no one owns: whoever takes it next must not
//! read what was said to the last one.

use shared::auth::PublicKey;
use shared::names::check_nick;
use shared::{ErrorKind, PrivateLine};

use super::history::Query;
use crate::common::ClientId;
use crate::conn::Client;
use crate::conn::ending::Ending;

impl Client {
    /// Keeps `line`, between two owners whose keys are `from_key` and `to_key`.
    pub(super) fn keep_private(&self, line: PrivateLine, from_key: PublicKey, to_key: PublicKey) {
        self.ctx.history.record_private(&from_key, &to_key, line);
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
        let Some(mine) = self.ctx.registry.owned_key(id) else {
            let text = "private messages are kept only for a nick registered to your key: \
                        /register it first"
                .into();
            self.refuse(reply, ErrorKind::NotIdentified, text)?;
            return Ok(None);
        };
        // A name no one can have is owned by no one: nothing is kept with it.
        let theirs = check_nick(&with)
            .is_ok()
            .then(|| self.ctx.registry.owner_of(&with))
            .flatten();
        Ok(Some(Query::Private {
            mine,
            theirs,
            with,
            before,
            limit,
        }))
    }
}
