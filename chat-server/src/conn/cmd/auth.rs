//! The requests of the feature "auth" once logged in: `Register` and `Unregister` (a nick
//! bound to the key the client proved), and `Operate` (an operator's requests).

use shared::{ErrorKind, OperatorRequest, ServerMsg};
use tracing::{error, info};

use super::Later;
use crate::auth::owners::Snapshot;
use crate::common::ClientId;
use crate::conn::Client;
use crate::conn::ending::Ending;
use crate::registry::Registered;

impl Client {
    /// Binds the client's current nick, and its look-alikes, to the key it proved; or,
    /// with `owned` false, frees it. A change is answered once the file keeps it
    /// ([`Later::Keep`]).
    pub(super) fn registration(
        &self,
        id: ClientId,
        reply: Option<u32>,
        owned: bool,
    ) -> Result<Option<Later>, Ending> {
        let registry = &self.ctx.registry;
        let changed = match owned {
            true => registry.register(id),
            false => registry.unregister(id),
        };
        match changed {
            Err(refusal) => self.refused(reply, Err(refusal)).map(|()| None),
            Ok(Registered { answer, keep: None }) => self.send(reply, &answer).map(|()| None),
            Ok(Registered {
                answer,
                keep: Some(snapshot),
            }) => Ok(Some(Later::Keep(snapshot, answer))),
        }
    }

    /// An operator's request: only a client whose proved key is an operator's (listed in
    /// the configuration in force) may make one; everyone else is told `NotOperator`.
    pub(super) fn operate(
        &self,
        id: ClientId,
        reply: Option<u32>,
        msg: OperatorRequest,
    ) -> Result<Option<Later>, Ending> {
        let key = self.ctx.registry.key_of(id);
        if !self.ctx.live().is_operator(key.as_ref()) {
            let text = "not an operator".into();
            return self
                .refuse(reply, ErrorKind::NotOperator, text)
                .map(|()| None);
        }
        self.carry_out(id, reply, msg)
    }
}

impl Client {
    /// Keeps the registered nicks after a change, then answers: the change holds in
    /// memory either way, and the client is told when the file could not keep it.
    pub(in crate::conn) async fn keep(
        &self,
        id: ClientId,
        reply: Option<u32>,
        snapshot: Snapshot,
        answer: ServerMsg,
    ) -> Result<(), Ending> {
        if let ServerMsg::Registration { nick, owned } = &answer {
            info!(client = id, %nick, owned, "registration changed");
        }
        match self.ctx.auth.owners.keep(snapshot).await {
            Ok(()) => self.send(reply, &answer),
            Err(e) => {
                error!(error = %e, "cannot write the registered nicks");
                let text = "the server could not store the change; it holds until the \
                            server restarts"
                    .to_owned();
                self.refuse(reply, ErrorKind::Internal, text)
            }
        }
    }
}
