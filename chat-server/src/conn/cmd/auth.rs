//! The requests of the feature "auth" once logged in: `Register` and `Unregister` (a nick
//! bound to the key the client proved), and `Operate` (an operator's requests).

use shared::{ErrorKind, OperatorRequest};

use crate::common::ClientId;
use crate::conn::Client;
use crate::conn::ending::Ending;

impl Client {
    /// Binds the client's current nick, and its look-alikes, to the key it proved.
    pub(super) fn register(&self, id: ClientId, reply: Option<u32>) -> Result<(), Ending> {
        let _ = id;
        self.refuse(
            reply,
            ErrorKind::Internal,
            "this server does not register nicks yet".into(),
        )
    }

    /// Frees the client's current nick, registered to its key.
    pub(super) fn unregister(&self, id: ClientId, reply: Option<u32>) -> Result<(), Ending> {
        let _ = id;
        self.refuse(
            reply,
            ErrorKind::Internal,
            "this server does not register nicks yet".into(),
        )
    }

    /// An operator's request: only a client whose proved key is an operator's
    /// (`Auth::is_operator`) may make one; everyone else is told `NotOperator`.
    pub(super) fn operate(
        &self,
        id: ClientId,
        reply: Option<u32>,
        msg: OperatorRequest,
    ) -> Result<(), Ending> {
        let operator = self
            .ctx
            .registry
            .key_of(id)
            .is_some_and(|key| self.ctx.auth.is_operator(&key));
        if !operator {
            return self.refuse(reply, ErrorKind::NotOperator, "not an operator".into());
        }
        let _ = msg;
        self.refuse(
            reply,
            ErrorKind::Internal,
            "this server carries out no operator's requests yet".into(),
        )
    }
}
