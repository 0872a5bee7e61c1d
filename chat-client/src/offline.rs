//! What the user sends while there is no connection: kept in a bounded queue, in order,
//! and sent after the reconnect. Beyond [`MAX_QUEUED`] a message is refused, and the user
//! is told; nothing is dropped silently. Frames that are made afresh on the next
//! connection are not kept ([`worth_keeping`]): a history request sent while
//! disconnected is dropped, as the rule of the crate says (every answer a program awaits
//! is forgotten at [`Event::Disconnected`]).

use std::collections::VecDeque;

use shared::ClientMsg;

use crate::event::Event;

/// Messages kept while disconnected; more are refused.
pub const MAX_QUEUED: usize = 100;

/// The queue of messages waiting for a connection.
#[derive(Debug, Default)]
pub(crate) struct Offline {
    queue: VecDeque<ClientMsg>,
}

impl Offline {
    /// Keeps `msgs` in order, as many as fit, and says what became of them: the events
    /// that tell the user (none when `msgs` is empty).
    pub(crate) fn hold(&mut self, msgs: impl IntoIterator<Item = ClientMsg>) -> Vec<Event> {
        let mut refused = 0;
        let mut queued = 0;
        for msg in msgs {
            if self.queue.len() >= MAX_QUEUED {
                refused += 1;
            } else {
                self.queue.push_back(msg);
                queued += 1;
            }
        }
        let mut events = Vec::new();
        if queued > 0 {
            events.push(Event::Queued {
                waiting: self.queue.len(),
            });
        }
        if refused > 0 {
            let what = if refused == 1 {
                "not connected".to_owned()
            } else {
                format!("{refused} messages: not connected")
            };
            let reason = format!("{what}, and {MAX_QUEUED} messages are already waiting");
            events.push(Event::Refused { reason });
        }
        events
    }

    /// Everything kept, oldest first; the queue is then empty.
    pub(crate) fn take(&mut self) -> VecDeque<ClientMsg> {
        std::mem::take(&mut self.queue)
    }
}

/// Whether the user asked for this frame (and it should be sent after a reconnect), as
/// opposed to the keepalive's and the transfers' own frames, which are made afresh, and
/// the history's requests and read markers, which the program derives again from its
/// [`Timeline`](crate::timeline::Timeline) after the reconnect (their answers would
/// belong to the connection that is gone). A request sent with an id is judged by the
/// message it wraps: the id belongs to the connection it was sent on.
pub fn worth_keeping(msg: &ClientMsg) -> bool {
    match msg {
        ClientMsg::Request { msg, .. } => worth_keeping(msg),
        // A transfer's own request: its task asks again on the next connection.
        ClientMsg::InRoom {
            msg: shared::RoomRequest::UploadStart { .. },
            ..
        } => false,
        ClientMsg::History { .. }
        | ClientMsg::CatchUp { .. }
        | ClientMsg::Search { .. }
        | ClientMsg::MarkRead { .. }
        | ClientMsg::Ping { .. }
        | ClientMsg::Pong { .. }
        | ClientMsg::UploadStart { .. }
        | ClientMsg::UploadChunk { .. }
        | ClientMsg::UploadFinish { .. }
        | ClientMsg::UploadCancel { .. }
        | ClientMsg::UploadResume { .. }
        | ClientMsg::Download { .. }
        | ClientMsg::DownloadCancel { .. } => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(n: usize) -> ClientMsg {
        ClientMsg::Chat {
            text: format!("line {n}"),
        }
    }

    #[test]
    fn keeps_in_order_and_says_how_many_wait() {
        let mut offline = Offline::default();
        assert_eq!(offline.hold([chat(0)]), vec![Event::Queued { waiting: 1 }]);
        assert_eq!(
            offline.hold([chat(1), chat(2)]),
            vec![Event::Queued { waiting: 3 }]
        );
        assert_eq!(offline.take(), [chat(0), chat(1), chat(2)]);
        assert!(offline.take().is_empty());
        assert!(offline.hold([]).is_empty());
    }

    #[test]
    fn refuses_beyond_the_bound_and_says_so_once() {
        let mut offline = Offline::default();
        offline.hold((0..MAX_QUEUED - 1).map(chat));
        let events = offline.hold((0..3).map(chat));
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            Event::Queued {
                waiting: MAX_QUEUED
            }
        );
        let Event::Refused { reason } = &events[1] else {
            panic!("expected a refusal, got {events:?}");
        };
        assert_eq!(
            reason,
            "2 messages: not connected, and 100 messages are already waiting"
        );
        let events = offline.hold([chat(9)]);
        assert_eq!(
            events,
            vec![Event::Refused {
                reason: "not connected, and 100 messages are already waiting".into()
            }]
        );
        // The first ones are kept, the refused ones are not.
        let kept = offline.take();
        assert_eq!(kept.len(), MAX_QUEUED);
        assert_eq!(kept.back(), Some(&chat(0)));
    }

    #[test]
    fn only_the_users_frames_are_worth_keeping() {
        assert!(worth_keeping(&chat(0)));
        assert!(worth_keeping(&ClientMsg::Who));
        assert!(worth_keeping(&ClientMsg::Quit { reason: "x".into() }));
        assert!(!worth_keeping(&ClientMsg::Ping { token: 0 }));
        assert!(!worth_keeping(&ClientMsg::UploadChunk {
            upload_id: 1,
            offset: 0,
            data: vec![0],
        }));
        assert!(!worth_keeping(&ClientMsg::Download {
            file_id: 1,
            offset: 0,
        }));
        // A transfer's request with an id is the transfer's own, made afresh.
        let start = ClientMsg::UploadStart {
            name: "a".into(),
            size: 1,
        };
        assert!(!worth_keeping(&start.with_id(3)));
        assert!(worth_keeping(&chat(1).with_id(4)));
        // History is asked again from the timeline after a reconnect.
        let room = "ops".to_owned();
        let history = [
            ClientMsg::CatchUp {
                room: room.clone(),
                after: 7,
            },
            ClientMsg::History {
                room: room.clone(),
                anchor: shared::Anchor::Before(9),
                limit: 10,
                presence: false,
            },
            ClientMsg::Search {
                room: room.clone(),
                words: "w".into(),
                before: 0,
                limit: 5,
            },
            ClientMsg::MarkRead { room, seq: 3 },
        ];
        for msg in history {
            assert!(!worth_keeping(&msg), "{msg:?}");
            assert!(!worth_keeping(&msg.with_id(5)));
        }
    }
}
