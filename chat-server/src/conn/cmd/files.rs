//! The file messages: handed to the connection's transfers (see [`crate::files`]), while
//! the writer goes on sending the client's chat.

use shared::ClientMsg;

use crate::common::ClientId;
use crate::conn::Connection;
use crate::conn::ending::Ending;
use crate::files::Peer;

impl Connection {
    /// Hands a file message to this connection's transfers and sends the answer.
    pub(in crate::conn) async fn transfer(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
    ) -> Result<(), Ending> {
        let peer = Peer {
            files: &self.ctx.files,
            id,
            outbox: &self.outbox,
            lane: &self.lane,
        };
        let transfers = self.transfers.get_or_insert_default();
        let writer = &mut self.writer;
        // The disk or an upload's worker may keep this waiting; the client's chat goes out
        // meanwhile. The file message is handled to the end even if the writer stops, so
        // that no upload is left half set up.
        let mut stopped = None;
        let answer = {
            let handling = transfers.handle(peer, reply, msg);
            tokio::pin!(handling);
            loop {
                tokio::select! {
                    answer = &mut handling => break answer,
                    s = writer.run(), if stopped.is_none() => stopped = Some(s),
                }
            }
        };
        if let Some(stopped) = stopped {
            return Err(Ending::stopped(stopped, &self.ctx.policy));
        }
        match answer {
            Some(answer) => self.send(reply, &answer),
            None => Ok(()),
        }
    }
}
