//! `Chat`, `Action` and `Private`: a text for a room, or for one client; and the checks
//! of every text a client sets (a chat line, a topic, an away text).

use shared::limits::MAX_TEXT_BYTES;
use shared::names::check_nick;
use shared::{ChatKind, ErrorKind};

use crate::common::{ClientId, Refusal};
use crate::conn::Client;
use crate::conn::ending::Ending;
use crate::history::Permit;

impl Client {
    /// Says `text` in `room` (the current room if `None`); `permit`, the history's leave,
    /// goes with it.
    pub(super) fn say(
        &self,
        id: ClientId,
        reply: Option<u32>,
        room: Option<&str>,
        kind: ChatKind,
        text: String,
        permit: Option<Permit>,
    ) -> Result<(), Ending> {
        match check_text(&text) {
            Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
            Ok(false) => Ok(()),
            Ok(true) => {
                let said = self.ctx.registry.say(id, room, kind, text, reply, permit);
                self.refused(reply, said)
            }
        }
    }

    /// Sends a private message to the client called `to`, echoed to the sender.
    pub(super) fn private(
        &self,
        id: ClientId,
        reply: Option<u32>,
        to: &str,
        text: String,
    ) -> Result<(), Ending> {
        // A name no one can have is not looked up, nor repeated in the answer.
        if check_nick(to).is_err() {
            let text = "no one can have the nick given".into();
            return self.refuse(reply, ErrorKind::NoSuchNick, text);
        }
        match check_text(&text) {
            Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
            Ok(false) => Ok(()),
            Ok(true) => match self.ctx.registry.private(id, to, text, reply) {
                Err(refusal) => self.refuse(reply, refusal.kind, refusal.text),
                Ok(Some((line, from_key, to_key))) => {
                    self.keep_private(line, from_key, to_key);
                    Ok(())
                }
                Ok(None) => Ok(()),
            },
        }
    }
}

/// Checks a chat, action or private text. `Ok(false)`: the text is empty and is ignored,
/// since it says nothing, and an error for a stray Enter would only be noise.
fn check_text(text: &str) -> Result<bool, Refusal> {
    check_length("text", text, MAX_TEXT_BYTES)?;
    Ok(!text.is_empty())
}

/// Refuses a text (`what` it is, for the message) longer than `max` bytes with
/// `TextTooLong`. Empty is allowed: for a topic or an away text, it clears it.
pub(super) fn check_length(what: &str, text: &str, max: usize) -> Result<(), Refusal> {
    if text.len() > max {
        return Err(Refusal {
            kind: ErrorKind::TextTooLong,
            text: format!(
                "the {what} is {} bytes, more than the {max} allowed",
                text.len()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits() {
        assert_eq!(check_text(""), Ok(false));
        assert_eq!(check_text("hi"), Ok(true));
        assert_eq!(check_text(&"a".repeat(MAX_TEXT_BYTES)), Ok(true));
        let refused = check_text(&"a".repeat(MAX_TEXT_BYTES + 1)).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::TextTooLong);
    }
}
