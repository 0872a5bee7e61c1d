//! History from a test's side: the server binary on a data directory the test keeps (to
//! stop it, kill it and start it again on the same database), a client granted the
//! feature "history", and its requests with their answers.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use shared::{
    Anchor, ClientMsg, FEATURE_HISTORY, Gap, PROTOCOL_VERSION, RoomEvent, SeqRange, ServerMsg,
    Stamped,
};
use tokio::process::Child;
use tokio::time::{Instant, sleep, timeout};

use crate::binaries::{scratch_dir, start_server_process};
use crate::client::{TestClient, WAIT};
use crate::probe::send_signal;

/// A `chat-server` process on 127.0.0.1 port 0 with its data directory and its standard
/// error in a file, both the test's own: it can be stopped, killed and started again on
/// the same database. Killed if dropped.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The data directory, holding `history.sqlite3`.
    pub data: PathBuf,
    /// Where its standard error goes (its log, at level `warn`).
    log: PathBuf,
}

impl Server {
    /// Starts the server binary on `data` with `args` added.
    pub async fn start(data: &Path, args: &[&str]) -> anyhow::Result<Self> {
        let log = scratch_dir("server-log").join("stderr.log");
        let stderr = File::create(&log).context("create the server's log file")?;
        let data_arg = data.to_str().context("a UTF-8 data directory")?;
        let mut all = vec!["--data-dir", data_arg];
        all.extend_from_slice(args);
        let (child, addr) =
            start_server_process(&[], "127.0.0.1:0", &all, Stdio::from(stderr)).await?;
        Ok(Self {
            child,
            addr,
            data: data.to_owned(),
            log,
        })
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.data.join("history.sqlite3")
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns how it exited.
    pub async fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let pid = self.child.id().context("the server is running")?;
        send_signal(pid, "TERM")?;
        let status = timeout(3 * WAIT, self.child.wait())
            .await
            .context("the server did not stop within 15 s of SIGTERM")??;
        Ok(status)
    }

    /// Kills the server with SIGKILL (`kill -9`) and waits for it to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the server is running")?;
        send_signal(pid, "KILL")?;
        timeout(WAIT, self.child.wait())
            .await
            .context("the server outlived SIGKILL")??;
        Ok(())
    }
}

/// What `HistoryInfo` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub page: u32,
    pub catch_up: u32,
    pub backlog: u32,
    pub search: u32,
    pub max_age_secs: u64,
    pub max_per_room: u64,
}

/// Connects as `nick` into `room` with a version 4 hello that asks for the feature
/// "history"; fails unless the welcome grants it and `HistoryInfo` is the very next frame.
pub async fn connect(
    addr: SocketAddr,
    nick: &str,
    room: &str,
) -> anyhow::Result<(TestClient, Info)> {
    let mut client = TestClient::connect_raw(addr).await?;
    client
        .send(ClientMsg::Hello4 {
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            features: vec![FEATURE_HISTORY.to_owned()],
            nick: nick.to_owned(),
            room: room.to_owned(),
        })
        .await?;
    match client.recv().await? {
        ServerMsg::Welcome4 {
            version,
            features,
            nick,
            room,
            seq,
            members,
            ..
        } => {
            if features != [FEATURE_HISTORY] {
                bail!("the feature history was not granted: {features:?}");
            }
            client.nick = nick;
            client.room = room;
            client.members = members.names;
            client.version = version;
            client.seq = seq;
        }
        other => bail!("expected a welcome, got {other:?}"),
    }
    match client.recv().await? {
        ServerMsg::HistoryInfo {
            page,
            catch_up,
            backlog,
            search,
            max_age_secs,
            max_per_room,
        } => Ok((
            client,
            Info {
                page,
                catch_up,
                backlog,
                search,
                max_age_secs,
                max_per_room,
            },
        )),
        other => Err(anyhow!(
            "expected HistoryInfo right after the welcome, got {other:?}"
        )),
    }
}

/// A fresh request id, unique in the test process.
pub fn next_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A `HistoryPage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub room: String,
    pub messages: Vec<Stamped>,
    pub more_before: bool,
    pub more_after: bool,
    pub lost: Vec<SeqRange>,
}

/// A `CaughtUp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaughtUp {
    pub room: String,
    pub messages: Vec<Stamped>,
    pub gap: Option<Gap>,
    pub more_before: bool,
    pub read: u64,
    pub lost: Vec<SeqRange>,
}

/// A `SearchHits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hits {
    pub room: String,
    pub hits: Vec<Stamped>,
    pub more: bool,
    pub complete: bool,
}

/// An answer that is an error: its kind and text.
pub fn refusal(answer: &ServerMsg) -> Option<(shared::ErrorKind, &str)> {
    match answer {
        ServerMsg::Error { kind, text } => Some((*kind, text)),
        _ => None,
    }
}

/// Asks for a page of `room`'s history, with a request id; the frames that come before the
/// answer (live room messages) are returned by [`TestClient::request`]'s rules: skipped.
pub async fn page(
    client: &mut TestClient,
    room: &str,
    anchor: Anchor,
    limit: u32,
    presence: bool,
) -> anyhow::Result<Page> {
    let msg = ClientMsg::History {
        room: room.to_owned(),
        anchor,
        limit,
        presence,
    };
    match client.request(next_id(), msg).await? {
        ServerMsg::HistoryPage {
            room,
            messages,
            more_before,
            more_after,
            lost,
        } => Ok(Page {
            room,
            messages,
            more_before,
            more_after,
            lost,
        }),
        other => Err(anyhow!("expected a page of history, got {other:?}")),
    }
}

/// Catches up on `room` after the sequence number `after`.
pub async fn catch_up(client: &mut TestClient, room: &str, after: u64) -> anyhow::Result<CaughtUp> {
    let msg = ClientMsg::CatchUp {
        room: room.to_owned(),
        after,
    };
    match client.request(next_id(), msg).await? {
        ServerMsg::CaughtUp {
            room,
            messages,
            gap,
            more_before,
            read,
            lost,
        } => Ok(CaughtUp {
            room,
            messages,
            gap,
            more_before,
            read,
            lost,
        }),
        other => Err(anyhow!("expected a catch-up, got {other:?}")),
    }
}

/// Searches `room` for `words`.
pub async fn search(
    client: &mut TestClient,
    room: &str,
    words: &str,
    before: u64,
    limit: u32,
) -> anyhow::Result<Hits> {
    let msg = ClientMsg::Search {
        room: room.to_owned(),
        words: words.to_owned(),
        before,
        limit,
    };
    match client.request(next_id(), msg).await? {
        ServerMsg::SearchHits {
            room,
            hits,
            more,
            complete,
        } => Ok(Hits {
            room,
            hits,
            more,
            complete,
        }),
        other => Err(anyhow!("expected search hits, got {other:?}")),
    }
}

/// The room's whole stored history, oldest first, paged back from the newest with
/// `Before` (presence as asked). Bounded: at most `most` messages, else an error.
pub async fn everything(
    client: &mut TestClient,
    room: &str,
    presence: bool,
    most: usize,
) -> anyhow::Result<(Vec<Stamped>, Vec<SeqRange>)> {
    let mut all: Vec<Stamped> = Vec::new();
    let mut lost = Vec::new();
    let mut anchor = Anchor::Latest;
    loop {
        let page = page(client, room, anchor, 200, presence).await?;
        if let (Some(first), Some(known)) = (page.messages.last(), all.first()) {
            if first.seq >= known.seq {
                bail!("a page Before({}) ended at {}", known.seq, first.seq);
            }
        }
        lost.extend(page.lost);
        let mut older = page.messages;
        older.append(&mut all);
        all = older;
        if all.len() > most {
            bail!("more than {most} messages stored");
        }
        match all.first() {
            Some(first) if page.more_before => anchor = Anchor::Before(first.seq),
            _ => break,
        }
    }
    lost.sort_by_key(|r| r.from);
    lost.dedup();
    Ok((all, lost))
}

/// The text of a chat line or action, if `m` is one.
pub fn text(m: &Stamped) -> Option<&str> {
    match &m.event {
        RoomEvent::Said { text, .. } => Some(text),
        _ => None,
    }
}

/// The texts of the chat lines among `messages`, in order.
pub fn texts(messages: &[Stamped]) -> Vec<String> {
    messages
        .iter()
        .filter_map(text)
        .map(str::to_owned)
        .collect()
}

/// A bounded wait for something that happens in the background (indexing, retention,
/// storing): a loop checks, then calls [`Poll::next`], which pauses 100 ms, or fails once
/// the time is up.
#[derive(Debug)]
pub struct Poll {
    what: String,
    within: Duration,
    deadline: Instant,
}

impl Poll {
    /// A wait of at most `within` for `what`.
    pub fn new(what: &str, within: Duration) -> Self {
        Self {
            what: what.to_owned(),
            within,
            deadline: Instant::now() + within,
        }
    }

    /// Pauses before the next check; an error once the time is up.
    pub async fn next(&self) -> anyhow::Result<()> {
        if Instant::now() > self.deadline {
            bail!("{}: not within {:?}", self.what, self.within);
        }
        sleep(Duration::from_millis(100)).await;
        Ok(())
    }
}
