//! Acting on a logged-in client's requests: [`Client::handle`] sends each to the file of
//! its family, as mini-redis's `cmd/` does.
//!
//! - `talk`: `Chat`, `Action`, `Private`.
//! - `rooms`: `Join`, `Nick`, `Who`, `WhoPage`.
//! - `files`: the file messages, which may wait (for the disk, for room in an upload's
//!   queue), so they are handled apart, beside the writer.
//!
//! The rest (`Ping`, `Pong`, `Quit`, a second hello) is a line each, here.

mod files;
mod rooms;
mod talk;

use shared::{ChatKind, ClientMsg, ErrorKind, ServerMsg};

use super::Client;
use super::ending::Ending;
use crate::common::ClientId;
use crate::registry::Who;

impl Client {
    /// Acts on a message from a logged-in client; its answer, or the error it causes,
    /// answers `reply` (the id of its request). `Ok(Some(msg))`: a file message, which
    /// may wait (for the disk, for room in an upload's queue), for
    /// [`Connection::transfer`](super::Connection::transfer). An `Err` ends the connection.
    pub(in crate::conn) fn handle(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
    ) -> Result<Option<ClientMsg>, Ending> {
        let done = match msg {
            msg @ (ClientMsg::UploadStart { .. }
            | ClientMsg::UploadChunk { .. }
            | ClientMsg::UploadFinish { .. }
            | ClientMsg::UploadCancel { .. }
            | ClientMsg::UploadResume { .. }
            | ClientMsg::ListFiles
            | ClientMsg::Download { .. }
            | ClientMsg::DownloadCancel { .. }) => return Ok(Some(msg)),
            ClientMsg::Hello { .. } | ClientMsg::Hello4 { .. } => self.refuse(
                reply,
                ErrorKind::AlreadyLoggedIn,
                "already logged in".into(),
            ),
            // Unwrapped in `on_message`; a second wrapper does not decode.
            ClientMsg::Request { .. } => Ok(()),
            ClientMsg::Chat { text } => self.say(id, reply, ChatKind::Say, text),
            ClientMsg::Action { text } => self.say(id, reply, ChatKind::Action, text),
            ClientMsg::Private { to, text } => self.private(id, reply, &to, text),
            ClientMsg::Join { room } => self.join(id, reply, &room),
            ClientMsg::Nick { nick } => self.rename(id, reply, &nick),
            ClientMsg::Who => self.who(id, reply, Who::Plain),
            ClientMsg::WhoPage { after } => self.who(id, reply, Who::After(&after)),
            ClientMsg::Ping { token } => self.send(reply, &ServerMsg::Pong { token }),
            // Its arrival already counted as a sign of life.
            ClientMsg::Pong { .. } => Ok(()),
            ClientMsg::Quit { reason } => Err(Ending::quit(reason)),
            ClientMsg::History { .. }
            | ClientMsg::CatchUp { .. }
            | ClientMsg::Search { .. }
            | ClientMsg::MarkRead { .. } => self.refuse(
                reply,
                ErrorKind::NoHistory,
                "this server keeps no history".into(),
            ),
        };
        done.map(|()| None)
    }
}
