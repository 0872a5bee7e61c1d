//! `chat-cli list`: the servers announced on the LAN, one per line, for people and scripts.

use std::time::Duration;

use chat_client::discover::{BrowseOptions, browse};
use chat_client::listing::{json_line, line, none_found};
use tokio::io::AsyncWriteExt;

use crate::Failure;

/// Looks for servers for `wait`, then prints them; finding none is a note on standard
/// error, not a failure.
pub async fn run(json: bool, wait: Duration, mdns_port: u16) -> Result<(), Failure> {
    let servers = browse(BrowseOptions { wait, mdns_port }).await?;
    if servers.is_empty() {
        eprintln!("chat-cli: {}", none_found(wait));
        return Ok(());
    }
    let mut out = String::new();
    for server in &servers {
        out.push_str(&if json {
            json_line(server)
        } else {
            line(server)
        });
        out.push('\n');
    }
    let mut stdout = tokio::io::stdout();
    let written = async {
        stdout.write_all(out.as_bytes()).await?;
        stdout.flush().await
    };
    match written.await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure(format!("cannot write to standard output: {e}"))),
    }
}
