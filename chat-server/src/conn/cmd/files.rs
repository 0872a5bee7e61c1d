//! The file messages: handed to the connection's transfers (see [`crate::files`]), while
//! the writer goes on sending the client's chat.

use shared::ClientMsg;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::common::ClientId;
use crate::conn::Connection;
use crate::conn::ending::Ending;
use crate::files::Peer;
use crate::registry::Whereabouts;

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Hands a file message to this connection's transfers and sends the answer; `place`:
    /// the room it is about, when the connection found it (feature "rooms").
    pub(in crate::conn) async fn transfer(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
        place: Option<Whereabouts>,
    ) -> Result<(), Ending> {
        let client = &mut self.client;
        // Only a start and a resume need the key: the registry is not asked at every chunk.
        let key = match msg {
            ClientMsg::UploadStart { .. } | ClientMsg::UploadResume { .. } => {
                client.ctx.registry.key_of(id)
            }
            _ => None,
        };
        let peer = Peer {
            files: &client.ctx.files,
            id,
            address: client.peer.ip(),
            outbox: &client.outbox,
            lane: &client.lane,
            rooms: client.rooms,
            key,
        };
        let transfers = client.transfers.get_or_insert_default();
        let (writer, stream) = (&mut self.writer, self.frames.get_mut());
        // The disk or an upload's worker may keep this waiting; the client's chat goes out
        // meanwhile. The file message is handled to the end even if the writer stops, so
        // that no upload is left half set up.
        let mut stopped = None;
        let answer = {
            let handling = transfers.handle(peer, reply, msg, place);
            tokio::pin!(handling);
            loop {
                tokio::select! {
                    answer = &mut handling => break answer,
                    s = writer.run(stream), if stopped.is_none() => stopped = Some(s),
                }
            }
        };
        if let Some(stopped) = stopped {
            return Err(Ending::stopped(stopped, &self.client.policy));
        }
        match answer {
            Some(answer) => self.client.send(reply, &answer),
            None => Ok(()),
        }
    }
}
