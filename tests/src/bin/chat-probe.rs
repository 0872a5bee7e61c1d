//! `chat-probe`: a minimal chat client for tests that need a client in a process of its own
//! (to stop it with SIGSTOP, kill it, or run it in another network namespace).
//!
//! ```text
//! chat-probe --connect ADDR --nick NICK [--room ROOM] [--recv-buffer BYTES]
//! ```
//!
//! It logs in with protocol version 4, answers pings, and prints one line on stdout for
//! each thing it receives (an answer to a request the same as any other frame):
//! `welcome NICK`, `chat FROM TEXT`, `joined NICK`, `left NICK REASON`, `renamed OLD NEW`,
//! `offered ID NAME`, `error KIND TEXT`,
//! `download-start ID OFFSET`, `chunk ID OFFSET LEN`, `download-end ID`,
//! `upload-ready ID OFFSET`, `other DEBUG`, and `closed` when the server closes the
//! connection. Each line of stdin is a command: `say TEXT`, `download ID`,
//! `upload-start NAME SIZE`, `upload-chunks ID OFFSET COUNT` (COUNT chunks of 64 KiB of
//! zeros from OFFSET, then a line `sent ID NEXT_OFFSET`), `quit`. It exits with status 0
//! when the connection ends.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use shared::{ClientCodec, ClientMsg, RoomEvent, ServerMsg};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpSocket;
use tokio_util::codec::Framed;

struct Args {
    connect: SocketAddr,
    nick: String,
    room: String,
    recv_buffer: Option<u32>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = std::env::args().skip(1);
    let (mut connect, mut nick, mut room, mut recv_buffer) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connect" => connect = Some(value.parse().context("--connect")?),
            "--nick" => nick = Some(value),
            "--room" => room = Some(value),
            "--recv-buffer" => recv_buffer = Some(value.parse().context("--recv-buffer")?),
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(Args {
        connect: connect.context("--connect is required")?,
        nick: nick.context("--nick is required")?,
        room: room.unwrap_or_else(|| "lobby".into()),
        recv_buffer,
    })
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("start the runtime");
    let result = parse_args().and_then(|args| runtime.block_on(run(args)));
    // The thread that reads stdin is blocked in a read; do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-probe: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let socket = match args.connect {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(bytes) = args.recv_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    let stream = socket.connect(args.connect).await.context("connect")?;
    let mut frames = Framed::new(stream, ClientCodec::default());
    frames
        .send(ClientMsg::hello4(&args.nick, &args.room))
        .await?;
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(ServerMsg::Ping { token })) => frames.send(ClientMsg::Pong { token }).await?,
                Some(Ok(msg)) => println!("{}", describe(&msg)),
                None | Some(Err(_)) => {
                    println!("closed");
                    return Ok(());
                }
            },
            line = stdin.next_line(), if stdin_open => match line? {
                None => stdin_open = false,
                Some(line) => {
                    let (command, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                    if command == "upload-chunks" {
                        let next = send_zero_chunks(&mut frames, rest).await?;
                        println!("sent {next}");
                        continue;
                    }
                    let msg = match command {
                        "say" => ClientMsg::Chat { text: rest.into() },
                        "upload-start" => {
                            let (name, size) = rest.rsplit_once(' ').context("upload-start NAME SIZE")?;
                            ClientMsg::UploadStart {
                                name: name.into(),
                                size: size.parse().context("upload-start SIZE")?,
                            }
                        }
                        "download" => ClientMsg::Download {
                            file_id: rest.trim().parse().context("download ID")?,
                            offset: 0,
                        },
                        "quit" => ClientMsg::Quit { reason: rest.into() },
                        other => bail!("unknown command {other}"),
                    };
                    frames.send(msg).await?;
                }
            },
        }
    }
}

/// Sends `COUNT` chunks of zeros for upload `ID` from `OFFSET` (the text of an
/// `upload-chunks` command) and returns `ID NEXT_OFFSET`.
async fn send_zero_chunks(
    frames: &mut Framed<tokio::net::TcpStream, ClientCodec>,
    args: &str,
) -> anyhow::Result<String> {
    let numbers: Vec<u64> = args
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("upload-chunks ID OFFSET COUNT")?;
    let [upload_id, mut offset, count] = numbers[..] else {
        bail!("upload-chunks ID OFFSET COUNT");
    };
    let chunk = vec![0u8; shared::limits::MAX_CHUNK_BYTES];
    for _ in 0..count {
        frames
            .feed(ClientMsg::UploadChunk {
                upload_id,
                offset,
                data: chunk.clone(),
            })
            .await?;
        offset += chunk.len() as u64;
    }
    frames.flush().await?;
    Ok(format!("{upload_id} {offset}"))
}

/// One line about a frame from the server.
fn describe(msg: &ServerMsg) -> String {
    match msg {
        ServerMsg::Reply { msg, .. } => describe(msg),
        ServerMsg::UploadReady {
            upload_id, offset, ..
        } => {
            format!("upload-ready {upload_id} {offset}")
        }
        ServerMsg::Welcome4 { nick, .. } => format!("welcome {nick}"),
        ServerMsg::Room { event, .. } => match event {
            RoomEvent::Said { from, text, .. } => format!("chat {from} {text}"),
            RoomEvent::Joined { nick } => format!("joined {nick}"),
            RoomEvent::Left { nick, reason } => format!("left {nick} {reason}"),
            RoomEvent::Renamed { old, new } => format!("renamed {old} {new}"),
            RoomEvent::Shared { file } => format!("offered {} {}", file.id, file.name),
        },
        ServerMsg::Error { kind, text } => format!("error {kind:?} {text}"),
        ServerMsg::DownloadStart { file, offset } => format!("download-start {} {offset}", file.id),
        ServerMsg::DownloadChunk {
            file_id,
            offset,
            data,
        } => format!("chunk {file_id} {offset} {}", data.len()),
        ServerMsg::DownloadEnd { file_id } => format!("download-end {file_id}"),
        other => format!("other {other:?}"),
    }
}
