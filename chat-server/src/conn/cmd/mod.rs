//! Acting on a logged-in client's requests: [`Client::handle`] sends each to the file of
//! its family, as mini-redis's `cmd/` does.
//!
//! - `talk`: `Chat`, `Action`, `Private`, and the checks of a text's length.
//! - `rooms`: `Join`, `Nick`, `Who`, `WhoPage`.
//! - `many`: the requests of the feature "rooms": `InRoom` (a request about one of the
//!   client's rooms) and `Away`.
//! - `files`: the file messages, which may wait (for the disk, for room in an upload's
//!   queue), so they are handled apart, beside the writer.
//! - `history`: `History`, `CatchUp`, `Search` (checked here, answered from the store
//!   beside the writer) and `MarkRead`.
//! - `auth`: the requests of the feature "auth": `Register`, `Unregister` and `Operate`.
//! - `operate`: an operator's requests, carried out; the bans at the handshake and the
//!   locked topics.
//!
//! The rest (`Ping`, `Pong`, `Quit`, a second hello) is a line each, here.

mod auth;
mod files;
mod history;
mod many;
mod operate;
mod private;
mod rooms;
mod talk;

use shared::{ChatKind, ClientMsg, ErrorKind, ServerMsg};

use super::Client;
use super::ending::Ending;
use crate::auth::owners::Snapshot;
use crate::common::{ClientId, Refusal};
use crate::history::Permit;
use crate::registry::{Whereabouts, Who};
pub(in crate::conn) use history::Query;
pub(in crate::conn) use operate::banned;

/// A request that may wait, handed back by [`Client::handle`] for
/// [`Connection::later`](super::Connection::later).
#[derive(Debug)]
pub(in crate::conn) enum Later {
    /// A file message: it may wait for the disk, or for room in an upload's queue. With
    /// the room it is about, when the client has the feature "rooms" and it is an
    /// `UploadStart` or a `ListFiles` (found already; without the feature, the client's one
    /// room).
    File(ClientMsg, Option<Whereabouts>),
    /// A history request, checked already: it waits for the store.
    Query(Query),
    /// A change to the registered nicks, to keep on disk before the answer goes out.
    Keep(Snapshot, ServerMsg),
}

impl Client {
    /// Acts on a message from a logged-in client; its answer, or the error it causes,
    /// answers `reply` (the id of its request). `permit` is the history's leave, taken for
    /// a chat or an action ([`crate::history::History::admit`]). `Ok(Some(later))`: a
    /// request that may wait, for [`Connection::later`](super::Connection::later). An
    /// `Err` ends the connection.
    pub(in crate::conn) fn handle(
        &mut self,
        id: ClientId,
        reply: Option<u32>,
        msg: ClientMsg,
        permit: Option<Permit>,
    ) -> Result<Option<Later>, Ending> {
        let done = match msg {
            msg @ (ClientMsg::UploadStart { .. } | ClientMsg::ListFiles) if self.rooms => {
                return self.file_in(id, reply, None, msg);
            }
            msg @ (ClientMsg::UploadStart { .. }
            | ClientMsg::UploadChunk { .. }
            | ClientMsg::UploadFinish { .. }
            | ClientMsg::UploadCancel { .. }
            | ClientMsg::UploadResume { .. }
            | ClientMsg::ListFiles
            | ClientMsg::Download { .. }
            | ClientMsg::DownloadCancel { .. }) => return Ok(Some(Later::File(msg, None))),
            msg @ (ClientMsg::History { .. }
            | ClientMsg::CatchUp { .. }
            | ClientMsg::Search { .. }) => {
                return Ok(self.query(id, reply, msg)?.map(Later::Query));
            }
            ClientMsg::MarkRead { room, seq } => self.mark_read(id, reply, &room, seq),
            ClientMsg::Hello { .. } | ClientMsg::Hello4 { .. } => self.refuse(
                reply,
                ErrorKind::AlreadyLoggedIn,
                "already logged in".into(),
            ),
            // Unwrapped in `on_message`; a second wrapper does not decode.
            ClientMsg::Request { .. } => Ok(()),
            ClientMsg::Chat { text } => self.say(id, reply, None, ChatKind::Say, text, permit),
            ClientMsg::Action { text } => self.say(id, reply, None, ChatKind::Action, text, permit),
            ClientMsg::Private { to, text } => self.private(id, reply, &to, text),
            ClientMsg::Join { room } => self.join(id, reply, &room),
            ClientMsg::Nick { nick } => self.rename(id, reply, &nick),
            ClientMsg::Who => self.who(id, reply, None, Who::Plain),
            ClientMsg::WhoPage { after } => self.who(id, reply, None, Who::After(&after)),
            ClientMsg::Ping { token } => self.send(reply, &ServerMsg::Pong { token }),
            // Its arrival already counted as a sign of life.
            ClientMsg::Pong { .. } => Ok(()),
            ClientMsg::Quit { reason } => Err(Ending::quit(reason)),
            ClientMsg::InRoom { room, msg } if self.rooms => {
                return self.in_room(id, reply, &room, msg, permit);
            }
            ClientMsg::Away { text } if self.rooms => self.away(id, reply, text),
            ClientMsg::InRoom { .. } | ClientMsg::Away { .. } => {
                self.refused(reply, Err(Refusal::rooms_not_granted()))
            }
            // Answered in the handshake; once logged in, it is too late.
            ClientMsg::Prove { .. } => self.refuse(
                reply,
                ErrorKind::AlreadyLoggedIn,
                "already logged in: a proof belongs in the handshake".into(),
            ),
            ClientMsg::Register
            | ClientMsg::Unregister
            | ClientMsg::Operate { .. }
            | ClientMsg::PrivateHistory { .. }
                if !self.auth =>
            {
                self.refuse(
                    reply,
                    ErrorKind::MalformedFrame,
                    "the feature auth was not granted".into(),
                )
            }
            ClientMsg::Register => return self.registration(id, reply, true),
            ClientMsg::Unregister => return self.registration(id, reply, false),
            ClientMsg::Operate { msg } => return self.operate(id, reply, msg),
            ClientMsg::PrivateHistory {
                with,
                before,
                limit,
            } => {
                return Ok(self
                    .private_history(id, reply, with, before, limit)?
                    .map(Later::Query));
            }
        };
        done.map(|()| None)
    }
}
