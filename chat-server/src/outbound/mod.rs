//! The outbound side of a connection: a bounded byte queue of encoded frames, and the
//! [`Writer`] that the connection's task drives to write it to the socket.
//!
//! Frames are encoded once, by whoever produces them; a broadcast hands the same encoded
//! bytes to every member's queue. A frame that finds a queue empty is kept as it is,
//! shared (a reference count, no copy); the frames that follow it before the writer runs
//! are copied, with it, into one growable buffer: a short copy under an uncontended lock.
//! The writer takes everything queued since its last write in one swap and hands it to
//! the kernel in one `write`. Under load that coalesces tens or hundreds of frames per
//! system call, which is what decides how many deliveries a core can make (one small
//! `write` costs a few microseconds; one delivery here costs a fraction of one).
//!
//! Producers never wait: they use [`Outbox::push`], and a full queue means the client is not
//! reading, which the caller answers by cutting it off ([`Outbox::cut`]). Only the writer
//! ever waits on the socket, so a stuck peer stalls nothing but its own connection. The one
//! frame that bypasses the queue is an answer the connection itself waits for and that may
//! be larger than the whole queue (a page of history): [`Writer::write_now`] writes it
//! after what was queued before it.
//!
//! The writer is not a task of its own: the connection's task polls it beside the socket's
//! read side (a push wakes that task), which saves every connection a second task and the
//! memory it holds while idle. Its state (the batch being written) lives in the [`Writer`],
//! not in a future, so the connection can stop polling it and come back without losing a
//! byte.
//!
//! File data takes a second, short queue, the [`FileLane`]: the writer takes from it only
//! when the chat queue is empty, so chat is never held back by a download, and downloads
//! wait for room in it (they do not count as a slow consumer).
//!
//! - `encode`: frames encoded once, and a room message's frame per protocol version.
//! - `queue`: the [`Outbox`] (the producing end, which never waits) and the state it shares
//!   with the writer: the chat frames, and the stops told to the connection.
//! - `file_lane`: the [`FileLane`], file data behind the chat.
//! - `liveness`: when the client was last heard from, for the keepalive.
//! - `writer`: the [`Writer`], which drains both into the socket.

mod encode;
mod file_lane;
mod liveness;
mod queue;
mod writer;

pub(crate) use encode::{RoomFrames, encode, encode_answer};
pub(crate) use file_lane::FileLane;
pub(crate) use queue::{Outbox, PushError, queue};
pub(crate) use writer::{Stopped, Writer};
