//! The session: one task that outlives connections.
//!
//! It reads the server's frames, answers its pings, notices a dead connection (keepalive),
//! reconnects with exponential backoff ([`Backoff`]) and rejoins the room under the current
//! nick. What the user sends while disconnected waits in the bounded [`crate::offline`]
//! queue and goes out after reconnecting.
//!
//! A line handed to a connection that dies before the server answers it is in doubt
//! ([`crate::unanswered`]): after the reconnect, before anything else is sent, the
//! session asks the room's history for what followed the last message it saw, and sends
//! again only the lines that are not there ([`Event::Delivered`] for those that are,
//! [`Event::Unconfirmed`] for those it cannot tell). An unanswered line also shortens the
//! keepalive ([`crate::keepalive`]), so that a silent link is noticed within seconds.
//!
//! What the server counts against its request rate (chat lines, commands, a transfer's
//! requests, the keepalive's pings) goes out at the client's own pace ([`crate::pace`]):
//! a burst, then a steady rate a little below the server's, so that a long paste or the
//! backlog after a reconnect never makes the server take the client for a flooder. What is
//! beyond the budget waits in the connection's outbox, in order, and the user is told how
//! much waits ([`Event::Waiting`]); a quit does not wait (what still waits is dropped).
//!
//! Each connection's frames are written by a writer task of its own (`writer.rs`);
//! the reading side stays here and routes the server's file messages to the transfers.
//!
//! A server that grants the feature "rooms" lets the connection be in several rooms at
//! once. The session keeps the rooms it is in, in the order they were joined
//! (`Joined`): after a reconnect, the hello names the first, and a `Join` for each of
//! the others goes out before anything else, so that every room is joined again (each
//! `Joined4` then tells the program to catch that room up). Without the feature, a `Join`
//! moves, and the one room is the one rejoined.
//!
//! Every reconnect proves the client's key and gives the password again, from memory
//! ([`Credentials`]). A server that does not want the client back (a kick, a ban, a
//! password now wrong or missing, the nick registered to another key) is not asked again
//! and again: the session stops ([`Event::Stopped`]) and waits for the user to ask
//! ([`crate::Client::reconnect`]) or to quit.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::SplitStream;
use shared::limits::MAX_JOINED_ROOMS;
use shared::{ClientMsg, ErrorKind, Limits, RoomRequest, ServerMsg, Stamped, names};

use crate::transfer::TransferId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::credentials::Credentials;
use crate::dial::Connector;
use crate::event::Event;
use crate::handshake::{self, Conn, ConnectError, Options, Welcome, in_words};
use crate::keepalive::{Due, Keepalive};
use crate::offline::{Offline, worth_keeping};
use crate::pace::{Outbox, Pacer};
use crate::transfer::{self, Registry};
use crate::unanswered::{CHECK_REQUEST_ID, Doubt, Unanswered};
use crate::writer::{self, WriterEnd};

/// First wait before reconnecting; it doubles after every failed attempt...
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// ...up to this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Time a leaving client's writer gets to send its last frames (the quit).
const QUIT_FLUSH: Duration = Duration::from_secs(1);

/// The waits between attempts to reconnect: [`INITIAL_BACKOFF`], doubling up to
/// [`MAX_BACKOFF`].
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: INITIAL_BACKOFF,
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    /// The wait before the next attempt; never ends.
    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        Some(now)
    }
}

/// What the user asks of the session.
#[derive(Debug)]
pub(crate) enum Request {
    Send(ClientMsg),
    Transfer(transfer::Request),
    /// An upload into this room.
    UploadTo {
        room: String,
        request: transfer::Request,
    },
    /// Connect again now (see [`crate::Client::reconnect`]).
    Reconnect,
}

/// Most uploads whose room the session remembers; past it, the oldest are forgotten (their
/// `UploadStart` then goes to the room the server takes a room-less request to be about).
const MAX_UPLOAD_ROOMS: usize = 256;

/// How a connected spell ended.
enum End {
    /// The user quit, or the user's end is gone.
    Quit,
    /// The connection was lost, for this reason.
    Lost(String),
    /// The server removed the client (kicked or banned it), for this reason.
    Removed(String),
}

/// What became of trying to connect again.
enum Again<S> {
    Connected(Conn<S>, Limits),
    /// The server does not want the client back as it is, for this reason.
    Stopped(String),
    /// The user quit meanwhile, or reconnecting cannot succeed.
    Quit,
}

/// Where the check of the lines in doubt stands on the current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checking {
    /// Nothing in doubt, or settled.
    Done,
    /// Waiting for the first frame after the welcome: `HistoryInfo` if the server keeps
    /// history, else the answer to the ping sent at once.
    Info(Instant),
    /// The history was asked, at this time.
    Asked(Instant),
}

/// How serving a connection ended.
enum Served {
    Quit,
    Lost(String),
    /// The server kicked or banned the client, saying this.
    Removed(String),
    WriterEnded(WriterEnd),
}

/// The session task's state.
pub(crate) struct Session<C: Connector> {
    connector: C,
    /// The current nick and room, used to rejoin after a reconnect.
    options: Options,
    /// What every reconnect proves.
    credentials: Credentials,
    offline: Offline,
    commands: mpsc::UnboundedReceiver<Request>,
    events: mpsc::Sender<Event>,
    transfers: Registry,
    /// The user's lines sent on this connection and not yet answered.
    unanswered: Unanswered,
    /// Lines whose connection was lost before their answer came.
    doubt: Doubt,
    checking: Checking,
    /// Each room's latest sequence number seen: where the lines in doubt are looked for.
    seqs: HashMap<String, u64>,
    /// The rooms the connection is in.
    joined: Joined,
    /// The room of each upload started for one (see [`crate::Client::upload_to`]).
    upload_rooms: HashMap<TransferId, String>,
}

/// The rooms a connection is in, in the order they were joined, and whether the server
/// lets it be in several (the feature "rooms"). The first is the one a reconnect's hello
/// names; the last is the one the server takes a request that names no room to be about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Joined {
    pub(crate) rooms: Vec<String>,
    pub(crate) several: bool,
}

impl Joined {
    /// Welcomed into `room`, with the feature "rooms" or not. The rooms of the last
    /// connection are kept behind it (to join again) when the feature is granted.
    pub(crate) fn welcomed(&mut self, room: &str, several: bool) {
        self.several = several;
        self.rooms.retain(|r| !names::same_name(r, room));
        self.rooms.insert(0, room.to_owned());
        if !several {
            self.rooms.truncate(1);
        }
    }

    /// The answer to a `Join`: `room` is added (several rooms) or replaces the one.
    pub(crate) fn joined(&mut self, room: &str) {
        if !self.several {
            self.rooms = vec![room.to_owned()];
        } else if let Some(known) = self.rooms.iter_mut().find(|r| names::same_name(r, room)) {
            room.clone_into(known);
        } else if self.rooms.len() < MAX_JOINED_ROOMS {
            // A server that lets a connection into more is not followed past the limit.
            self.rooms.push(room.to_owned());
        }
    }

    /// The answer to a `Part`: the connection is no longer in `room`.
    pub(crate) fn parted(&mut self, room: &str) {
        self.rooms.retain(|r| !names::same_name(r, room));
    }

    /// The room a request that names none is about: the last one joined.
    pub(crate) fn current(&self) -> Option<&str> {
        self.rooms.last().map(String::as_str)
    }

    /// The `Join`s that take a new connection, welcomed into the first room, into the
    /// others.
    pub(crate) fn rejoin(&self) -> Vec<ClientMsg> {
        if !self.several {
            return Vec::new();
        }
        self.rooms
            .iter()
            .skip(1)
            .map(|room| ClientMsg::Join { room: room.clone() })
            .collect()
    }
}

impl<C: Connector> Session<C> {
    pub(crate) fn new(
        connector: C,
        options: Options,
        credentials: Credentials,
        commands: mpsc::UnboundedReceiver<Request>,
        events: mpsc::Sender<Event>,
        transfers: Registry,
    ) -> Self {
        Self {
            connector,
            options,
            credentials,
            offline: Offline::default(),
            commands,
            events,
            transfers,
            unanswered: Unanswered::default(),
            doubt: Doubt::default(),
            checking: Checking::Done,
            seqs: HashMap::new(),
            joined: Joined::default(),
            upload_rooms: HashMap::new(),
        }
    }

    /// Serves `conn`, whose server has these `limits` and welcomed the client as
    /// `welcome` says, then every connection after it, until the user quits.
    pub(crate) async fn run(
        mut self,
        mut conn: Conn<C::Stream>,
        mut limits: Limits,
        welcome: &Welcome,
    ) {
        self.welcomed(welcome);
        loop {
            let next = match self.connected(conn, &limits).await {
                End::Quit => return,
                End::Lost(reason) => {
                    tracing::info!(%reason, "connection lost");
                    if !self
                        .emit(Event::Disconnected {
                            reason: reason.clone(),
                        })
                        .await
                    {
                        return;
                    }
                    self.reconnect(reason).await
                }
                End::Removed(reason) => Again::Stopped(reason),
            };
            match self.again(next).await {
                Some((new, new_limits)) => (conn, limits) = (new, new_limits),
                None => return,
            }
        }
    }

    /// Follows `next` to a new connection, through stops: each is told, and waits for
    /// the user to ask for a reconnect. `None`: the user quit.
    async fn again(&mut self, mut next: Again<C::Stream>) -> Option<(Conn<C::Stream>, Limits)> {
        loop {
            match next {
                Again::Connected(conn, limits) => return Some((conn, limits)),
                Again::Quit => return None,
                Again::Stopped(reason) => {
                    tracing::info!(%reason, "stopped; reconnecting only when asked");
                    let event = Event::Stopped {
                        reason: reason.clone(),
                    };
                    if !self.emit(event).await || !self.stopped().await {
                        return None;
                    }
                    next = self.reconnect(reason).await;
                }
            }
        }
    }

    /// Waits, stopped, for the user to ask to reconnect (true) or to quit (false). What
    /// is sent meanwhile is refused: nothing says when the server will have it.
    async fn stopped(&mut self) -> bool {
        loop {
            match self.commands.recv().await {
                None | Some(Request::Send(ClientMsg::Quit { .. })) => return false,
                Some(Request::Reconnect) => return true,
                Some(Request::Send(_)) => {
                    let reason = "not connected, and not reconnecting until asked".to_owned();
                    if !self.emit(Event::Refused { reason }).await {
                        return false;
                    }
                }
                // Transfers wait for the connection by themselves.
                Some(Request::Transfer(request)) => self.transfers.request(request).await,
                Some(Request::UploadTo { room, request }) => self.upload_to(room, request).await,
            }
        }
    }

    /// Tells the user; false when the user's end is gone.
    async fn emit(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
    }

    /// Serves one connection, to a server with these `limits`, until it ends.
    async fn connected(&mut self, conn: Conn<C::Stream>, limits: &Limits) -> End {
        let (sink, mut stream) = conn.split();
        let writer::Writer {
            chat,
            lane,
            stop,
            task: mut writer,
        } = writer::spawn(sink);
        self.transfers.connected(lane).await;
        // What waited for a connection goes first, at the same pace as the rest: the
        // client's own, or below the server's if the server allows less.
        let mut outbox = Outbox::with_pacer(Pacer::for_server(limits, Instant::now()));
        let mut reported = 0;
        // Back in every room first: what waited may be about any of them.
        for join in self.joined.rejoin() {
            self.pass(&mut outbox, join, &chat).await;
        }
        if self.doubt.is_empty() {
            self.checking = Checking::Done;
            self.flush(Vec::new(), &mut outbox, &chat, &mut reported)
                .await;
        } else {
            // Nothing goes out before the lines in doubt are settled, so that the order
            // is kept. The ping's answer comes after `HistoryInfo` when the server keeps
            // history, and tells that it does not when it comes first.
            self.checking = Checking::Info(Instant::now());
            self.pass(&mut outbox, ClientMsg::Ping { token: 0 }, &chat)
                .await;
        }
        let served = self
            .serve(&mut stream, &chat, &mut writer, &mut outbox, &mut reported)
            .await;
        let removed = matches!(served, Served::Removed(_));
        let end = match served {
            Served::Quit => {
                // The writer sends what is queued (the quit last) and ends.
                drop(chat);
                if timeout(QUIT_FLUSH, &mut writer).await.is_err() {
                    writer.abort();
                }
                return End::Quit;
            }
            Served::Lost(reason) | Served::Removed(reason) => {
                let _ = stop.send(());
                if let Ok(Ok(end)) = timeout(QUIT_FLUSH, &mut writer).await {
                    self.keep(end, outbox.drain()).await;
                } else {
                    writer.abort();
                    self.keep_all(outbox.drain()).await;
                }
                if removed {
                    End::Removed(reason)
                } else {
                    End::Lost(reason)
                }
            }
            Served::WriterEnded(end) => {
                let reason = end
                    .error
                    .clone()
                    .unwrap_or_else(|| "the writer stopped".into());
                self.keep(end, outbox.drain()).await;
                End::Lost(reason)
            }
        };
        self.report(&outbox, &mut reported).await;
        let lines = self.unanswered.take();
        let room = lines
            .first()
            .and_then(|line| room_of(&line.msg))
            .or(self.joined.current())
            .unwrap_or(&self.options.room)
            .to_owned();
        let after = self.seqs.get(&room).copied().unwrap_or(0);
        self.doubt.add(lines, &room, after);
        self.transfers.disconnected().await;
        end
    }

    /// Sends `first` (lines in doubt found missing), then what waited for a connection, at
    /// the same pace as the rest: the client's own, or below the server's if the server
    /// allows less.
    async fn flush(
        &mut self,
        first: Vec<ClientMsg>,
        outbox: &mut Outbox,
        chat: &mpsc::UnboundedSender<ClientMsg>,
        reported: &mut usize,
    ) {
        let backlog: Vec<ClientMsg> = first.into_iter().chain(self.offline.take()).collect();
        let flushed = backlog.len();
        for msg in backlog {
            self.pass(outbox, msg, chat).await;
        }
        if flushed > 0 {
            self.emit(Event::Flushed { sent: flushed }).await;
            self.report(outbox, reported).await;
        }
    }

    /// Settles the lines in doubt by `history` (`None`: the server has none to look in),
    /// tells the user, and lets everything waiting go out.
    async fn settle(
        &mut self,
        history: Option<(&[Stamped], bool)>,
        outbox: &mut Outbox,
        chat: &mpsc::UnboundedSender<ClientMsg>,
        reported: &mut usize,
    ) {
        self.checking = Checking::Done;
        let settled = self.doubt.settle(history);
        tracing::info!(
            delivered = settled.delivered.len(),
            resent = settled.resend.len(),
            unknown = settled.unknown.len(),
            "lines in doubt settled"
        );
        for msg in settled.delivered {
            self.emit(Event::Delivered { msg }).await;
        }
        for msg in settled.unknown {
            self.emit(Event::Unconfirmed { msg }).await;
        }
        self.flush(settled.resend, outbox, chat, reported).await;
    }

    /// Follows the check of the lines in doubt with the server's frame `msg`; true when
    /// the frame was the check's own answer (not for the user).
    async fn check(
        &mut self,
        msg: &ServerMsg,
        outbox: &mut Outbox,
        chat: &mpsc::UnboundedSender<ClientMsg>,
        reported: &mut usize,
    ) -> bool {
        match (self.checking, msg) {
            (Checking::Info(_), ServerMsg::HistoryInfo { page, .. })
                if self
                    .joined
                    .rooms
                    .iter()
                    .any(|r| names::same_name(r, &self.doubt.room)) =>
            {
                let check = self.doubt.check(*page);
                self.checking = Checking::Asked(Instant::now());
                self.pass(outbox, check, chat).await;
                false
            }
            // No history (the ping's answer came first), or the room is another one.
            (Checking::Info(_), _) => {
                self.settle(None, outbox, chat, reported).await;
                false
            }
            (
                Checking::Asked(_),
                ServerMsg::Reply {
                    id: CHECK_REQUEST_ID,
                    msg: answer,
                },
            ) => {
                match answer.as_ref() {
                    ServerMsg::HistoryPage {
                        messages,
                        more_after,
                        lost,
                        ..
                    } => {
                        let complete = !more_after && lost.is_empty();
                        self.settle(Some((messages, complete)), outbox, chat, reported)
                            .await;
                    }
                    _ => self.settle(None, outbox, chat, reported).await,
                }
                true
            }
            _ => false,
        }
    }

    /// A room's latest sequence number, as `msg` tells it.
    fn follow_seq(&mut self, msg: &ServerMsg) {
        match msg {
            // Only rooms joined (a welcome or a `Joined4` came first), so that a server
            // naming others grows nothing, and nothing is allocated per message.
            ServerMsg::Room { room, seq, .. } => {
                if let Some(last) = self.seqs.get_mut(room) {
                    *last = (*last).max(*seq);
                }
            }
            ServerMsg::Joined4 { room, seq, .. } => {
                if !self.joined.several {
                    // One room at a time: the join moved the connection.
                    self.seqs.clear();
                }
                if self.seqs.contains_key(room) || self.seqs.len() < MAX_JOINED_ROOMS {
                    self.seqs.insert(room.clone(), *seq);
                }
            }
            _ => {}
        }
    }

    /// The client is in `welcome`'s room, with or without the feature "rooms".
    fn welcomed(&mut self, welcome: &Welcome) {
        self.options.nick.clone_from(&welcome.nick);
        self.options.room.clone_from(&welcome.room);
        self.joined.welcomed(&welcome.room, welcome.rooms);
        if !welcome.rooms {
            self.seqs.clear();
        }
        self.seqs.insert(welcome.room.clone(), welcome.seq);
    }

    /// Reads the connection and carries out the user's requests until one of them ends it.
    async fn serve(
        &mut self,
        stream: &mut SplitStream<Conn<C::Stream>>,
        chat: &mpsc::UnboundedSender<ClientMsg>,
        writer: &mut JoinHandle<WriterEnd>,
        outbox: &mut Outbox,
        reported: &mut usize,
    ) -> Served {
        let mut keepalive = Keepalive::new(Instant::now());
        let mut shutdown_reason = None;
        loop {
            let awaiting = [
                self.unanswered.oldest(),
                match self.checking {
                    Checking::Info(at) | Checking::Asked(at) => Some(at),
                    Checking::Done => None,
                },
            ]
            .into_iter()
            .flatten()
            .min();
            let deadline = keepalive.deadline(awaiting);
            tokio::select! {
                frame = stream.next() => {
                    let msg = match frame {
                        Some(Ok(msg)) => msg,
                        Some(Err(e)) => return Served::Lost(in_words(&e)),
                        None => {
                            // The reason is in the `Shutdown` passed on: said once.
                            return Served::Lost(if shutdown_reason.is_some() {
                                "the server shut down".to_owned()
                            } else {
                                "the server closed the connection".to_owned()
                            });
                        }
                    };
                    keepalive.heard(Instant::now());
                    if self.checking != Checking::Done
                        && self.check(&msg, outbox, chat, reported).await
                    {
                        continue;
                    }
                    match &msg {
                        ServerMsg::Ping { token } => {
                            let _ = chat.send(ClientMsg::Pong { token: *token });
                            continue;
                        }
                        ServerMsg::Pong { .. } => continue,
                        _ => {}
                    }
                    // An answer says the same whether its request had an id or not: a nick
                    // changed by a request with an id is the nick to rejoin with.
                    self.unanswered.heard(&msg);
                    let answer = match &msg {
                        ServerMsg::Reply { msg, .. } => msg.as_ref(),
                        bare => bare,
                    };
                    self.follow_seq(answer);
                    match answer {
                        ServerMsg::NickChanged { nick } => self.options.nick.clone_from(nick),
                        ServerMsg::Joined4 { room, .. } | ServerMsg::Joined { room, .. } => {
                            self.joined.joined(room);
                            self.first_room();
                        }
                        ServerMsg::Parted { room, .. } => {
                            self.joined.parted(room);
                            self.seqs.remove(room);
                            self.first_room();
                        }
                        ServerMsg::Shutdown { .. } => shutdown_reason = Some(()),
                        // The server closes the connection next; its words are the reason.
                        ServerMsg::Error {
                            kind: ErrorKind::Kicked | ErrorKind::Banned,
                            text,
                        } => return Served::Removed(text.clone()),
                        _ => {}
                    }
                    let Some(msg) = self.transfers.route(msg).await else { continue };
                    if !self.emit(Event::Server(msg)).await {
                        return Served::Quit;
                    }
                }
                request = self.commands.recv() => match request {
                    None => return Served::Quit,
                    Some(Request::Send(msg)) => {
                        if matches!(msg, ClientMsg::Quit { .. }) {
                            // Leaving does not wait for the outbox.
                            if !outbox.is_empty() {
                                tracing::info!(dropped = outbox.len(), "quit before all was sent");
                            }
                            let _ = chat.send(msg);
                            return Served::Quit;
                        }
                        if self.checking != Checking::Done && worth_keeping(&msg) {
                            // After the lines in doubt, in order.
                            self.hold_quietly(msg).await;
                            continue;
                        }
                        self.pass(outbox, msg, chat).await;
                        self.report(outbox, reported).await;
                    }
                    Some(Request::Transfer(request)) => self.transfers.request(request).await,
                    Some(Request::UploadTo { room, request }) => self.upload_to(room, request).await,
                    // Connected already.
                    Some(Request::Reconnect) => {}
                },
                Some(msg) = self.transfers.control() => {
                    let msg = self.in_upload_room(msg);
                    self.pass(outbox, msg, chat).await;
                    self.report(outbox, reported).await;
                }
                // A timer only while something waits for its turn.
                () = sleep_until(outbox.next_at().unwrap_or(deadline)), if !outbox.is_empty() => {
                    for msg in outbox.release(Instant::now()) {
                        self.forward(msg, chat).await;
                    }
                    self.report(outbox, reported).await;
                }
                end = &mut *writer => return match end {
                    Ok(end) => Served::WriterEnded(end),
                    Err(_) => Served::Lost("the connection's writer stopped unexpectedly".into()),
                },
                () = sleep_until(deadline) => match keepalive.due(Instant::now()) {
                    Due::GiveUp(silent) => {
                        return Served::Lost(format!(
                            "no answer from the server for {} s",
                            silent.as_secs()
                        ));
                    }
                    Due::Ping => {
                        self.pass(outbox, ClientMsg::Ping { token: 0 }, chat).await;
                        self.report(outbox, reported).await;
                    }
                }
            }
        }
    }

    /// Starts an upload that belongs to `room`.
    async fn upload_to(&mut self, room: String, request: transfer::Request) {
        if let transfer::Request::Upload { id, .. } = &request {
            if self.upload_rooms.len() >= MAX_UPLOAD_ROOMS
                && let Some(oldest) = self.upload_rooms.keys().min().copied()
            {
                self.upload_rooms.remove(&oldest);
            }
            self.upload_rooms.insert(*id, room);
        }
        self.transfers.request(request).await;
    }

    /// A transfer's frame, addressed to its upload's room when the server lets the
    /// connection be in several.
    fn in_upload_room(&self, msg: ClientMsg) -> ClientMsg {
        let ClientMsg::Request { id, msg: inner } = &msg else {
            return msg;
        };
        let ClientMsg::UploadStart { name, size } = inner.as_ref() else {
            return msg;
        };
        let room = self
            .transfers
            .transfer_of(*id)
            .and_then(|transfer| self.upload_rooms.get(&transfer));
        match room {
            Some(room) if self.joined.several => ClientMsg::InRoom {
                room: room.clone(),
                msg: RoomRequest::UploadStart {
                    name: name.clone(),
                    size: *size,
                },
            }
            .with_id(*id),
            _ => msg,
        }
    }

    /// The room a reconnect's hello names: the first of those the client is in (when it
    /// has left them all, the last it was in).
    fn first_room(&mut self) {
        if let Some(first) = self.joined.rooms.first() {
            self.options.room.clone_from(first);
        }
    }

    /// Hands a frame to the connection's outbox, and on to the writer if its turn has come.
    async fn pass(
        &mut self,
        outbox: &mut Outbox,
        msg: ClientMsg,
        chat: &mpsc::UnboundedSender<ClientMsg>,
    ) {
        if let Some(msg) = outbox.push(msg, Instant::now()) {
            self.forward(msg, chat).await;
        }
    }

    /// Gives a frame to the writer. If the writer has stopped (the next turn of the loop
    /// hears why), the user's frames are kept for the next connection.
    async fn forward(&mut self, msg: ClientMsg, chat: &mpsc::UnboundedSender<ClientMsg>) {
        self.unanswered
            .sent(&msg, &self.options.nick, Instant::now());
        if let Err(unsent) = chat.send(msg) {
            self.unanswered.unsent(&unsent.0);
            if worth_keeping(&unsent.0) {
                self.hold(vec![unsent.0]).await;
            }
        }
    }

    /// Tells the user how many frames wait in the outbox, when that has changed.
    async fn report(&self, outbox: &Outbox, reported: &mut usize) {
        if outbox.len() != *reported {
            *reported = outbox.len();
            self.emit(Event::Waiting { waiting: *reported }).await;
        }
    }

    /// Keeps what the user sent that the writer could not, then what still waited in the
    /// outbox, for the next connection.
    async fn keep(&mut self, end: WriterEnd, outbox: Vec<ClientMsg>) {
        let WriterEnd {
            unsent, mut chat, ..
        } = end;
        let mut left = Vec::from_iter(unsent);
        while let Ok(msg) = chat.try_recv() {
            left.push(msg);
        }
        left.extend(outbox);
        self.keep_all(left).await;
    }

    /// Keeps a frame for after the lines in doubt, telling the user only of a refusal.
    async fn hold_quietly(&mut self, msg: ClientMsg) {
        for event in self.offline.hold([msg]) {
            if matches!(event, Event::Refused { .. }) {
                self.emit(event).await;
            }
        }
    }

    /// Keeps the user's frames among `msgs`. A transfer's own frames are not kept: its
    /// task starts over on the next connection.
    async fn keep_all(&mut self, msgs: Vec<ClientMsg>) {
        // Never written: not in doubt, simply unsent.
        for msg in &msgs {
            self.unanswered.unsent(msg);
        }
        let mine = msgs.into_iter().filter(worth_keeping).collect();
        self.hold(mine).await;
    }

    /// Keeps messages for after the reconnect, and tells the user.
    async fn hold(&mut self, msgs: Vec<ClientMsg>) {
        for event in self.offline.hold(msgs) {
            self.emit(event).await;
        }
    }

    /// Tries to connect again, waiting longer after each failure; returns the connection
    /// and its server's limits, or why the server does not want the client back, or
    /// [`Again::Quit`] when the user quits meanwhile or reconnecting cannot succeed.
    async fn reconnect(&mut self, mut error: String) -> Again<C::Stream> {
        for (attempt, delay) in (1..).zip(Backoff::default()) {
            let event = Event::Reconnecting {
                attempt,
                delay,
                error: error.clone(),
            };
            if !self.emit(event).await {
                return Again::Quit;
            }
            let wake = sleep(delay);
            tokio::pin!(wake);
            loop {
                tokio::select! {
                    () = &mut wake => break,
                    cmd = self.commands.recv() => match cmd {
                        None | Some(Request::Send(ClientMsg::Quit { .. })) => return Again::Quit,
                        // Asked to try now.
                        Some(Request::Reconnect) => break,
                        Some(Request::Send(msg)) if worth_keeping(&msg) => {
                            self.hold(vec![msg]).await;
                        }
                        // Asked again after the reconnect (see `offline::worth_keeping`).
                        Some(Request::Send(msg)) => {
                            tracing::debug!(?msg, "not kept while disconnected");
                        }
                        // Transfers wait for the connection by themselves.
                        Some(Request::Transfer(request)) => self.transfers.request(request).await,
                        Some(Request::UploadTo { room, request }) => {
                            self.upload_to(room, request).await;
                        }
                    },
                }
            }
            match handshake::open(&self.connector, &self.options, &self.credentials).await {
                Ok((conn, welcome, limits)) => {
                    tracing::info!(attempt, "reconnected");
                    self.welcomed(&welcome);
                    if !self.emit(Event::Reconnected(welcome)).await {
                        return Again::Quit;
                    }
                    // The queue goes out on the connection, paced (see `connected`).
                    return Again::Connected(conn, limits);
                }
                // Knocking again would be refused again (and count against the
                // password's attempts): the user decides.
                Err(
                    refused @ (ConnectError::NeedsPassword { .. }
                    | ConnectError::Refused {
                        kind: ErrorKind::WrongPassword | ErrorKind::Banned | ErrorKind::NickOwned,
                        ..
                    }),
                ) => return Again::Stopped(refused.to_string()),
                Err(ConnectError::Refused {
                    kind: ErrorKind::VersionMismatch,
                    text,
                    ..
                }) => {
                    let reason = format!("the server now speaks another protocol version: {text}");
                    self.emit(Event::Fatal(reason)).await;
                    return Again::Quit;
                }
                // A server whose key changed, or that stopped speaking TLS, is not tried
                // again: the user decides.
                Err(
                    refused @ (ConnectError::OlderServer { .. }
                    | ConnectError::Untrusted { .. }
                    | ConnectError::NotTls { .. }),
                ) => {
                    self.emit(Event::Fatal(refused.to_string())).await;
                    return Again::Quit;
                }
                Err(e) => error = e.to_string(),
            }
            tracing::info!(attempt, %error, "reconnect failed");
        }
        Again::Quit
    }
}

/// The room a line names (`InRoom`), if it names one.
fn room_of(msg: &ClientMsg) -> Option<&str> {
    match msg {
        ClientMsg::Request { msg, .. } => room_of(msg),
        ClientMsg::InRoom { room, .. } => Some(room),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rooms_joined_are_kept_in_order_and_joined_again() {
        let mut joined = Joined::default();
        joined.welcomed("lobby", true);
        joined.joined("dev");
        joined.joined("ops");
        joined.joined("DEV");
        assert_eq!(joined.rooms, ["lobby", "DEV", "ops"]);
        assert_eq!(joined.current(), Some("ops"));
        joined.parted("lobby");
        assert_eq!(
            joined.rejoin(),
            [ClientMsg::Join { room: "ops".into() }],
            "the hello names DEV"
        );
        // Welcomed into the first room again: the others follow it.
        joined.welcomed("dev", true);
        assert_eq!(joined.rooms, ["dev", "ops"]);
        // A server without the feature: one room at a time, and a join moves.
        joined.welcomed("dev", false);
        assert_eq!(joined.rooms, ["dev"]);
        assert_eq!(joined.rejoin(), []);
        joined.joined("ops");
        assert_eq!(joined.rooms, ["ops"]);
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let waits: Vec<_> = Backoff::default().take(8).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            waits,
            [
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                MAX_BACKOFF,
                MAX_BACKOFF,
                MAX_BACKOFF
            ]
        );
    }
}
