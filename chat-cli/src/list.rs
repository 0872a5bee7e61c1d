//! `chat-cli list`: the servers announced on the LAN, one per line, for people and scripts.

use std::fmt::Write as _;
use std::time::Duration;

use chat_client::discover::{BrowseOptions, FoundServer, browse};
use chat_client::sanitize;
use tokio::io::AsyncWriteExt;

use crate::Failure;

/// Looks for servers for `wait`, then prints them; finding none is a note on standard
/// error, not a failure.
pub async fn run(json: bool, wait: Duration, mdns_port: u16) -> Result<(), Failure> {
    let servers = browse(BrowseOptions { wait, mdns_port }).await?;
    if servers.is_empty() {
        eprintln!(
            "chat-cli: no server announced itself on the LAN within {}",
            shown(wait)
        );
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

/// A wait as it is written: `2s`, `500ms`.
fn shown(wait: Duration) -> String {
    if wait.subsec_millis() == 0 {
        format!("{}s", wait.as_secs())
    } else {
        format!("{}ms", wait.as_millis())
    }
}

/// `NAME  ADDR  N people  protocol V`, two spaces between fields.
pub fn line(server: &FoundServer) -> String {
    let people = if server.people == 1 {
        "person"
    } else {
        "people"
    };
    let mut line = String::new();
    // The name passed the announcement's rule (no control characters); cleaned again all
    // the same, since it came from the network.
    let _ = write!(
        line,
        "{}  {}  {} {people}  protocol {}",
        sanitize::text(&server.name),
        server.addr,
        server.people,
        server.version
    );
    line
}

/// One JSON object: `name`, `addr`, `people`, `version`, `fingerprint` (or null).
pub fn json_line(server: &FoundServer) -> String {
    serde_json::json!({
        "name": server.name,
        "addr": server.addr.to_string(),
        "people": server.people,
        "version": server.version,
        "fingerprint": server.fingerprint,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(people: u32) -> FoundServer {
        FoundServer {
            name: "Office chat".into(),
            addr: "10.0.0.2:7878".parse().unwrap(),
            people,
            version: 4,
            fingerprint: None,
        }
    }

    #[test]
    fn a_line_per_server() {
        assert_eq!(
            line(&server(3)),
            "Office chat  10.0.0.2:7878  3 people  protocol 4"
        );
        assert_eq!(
            line(&server(1)),
            "Office chat  10.0.0.2:7878  1 person  protocol 4"
        );
    }

    #[test]
    fn json_lines_carry_every_field() {
        let value: serde_json::Value = serde_json::from_str(&json_line(&server(0))).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "name": "Office chat",
                "addr": "10.0.0.2:7878",
                "people": 0,
                "version": 4,
                "fingerprint": null,
            })
        );
        let with_fp = FoundServer {
            fingerprint: Some("ab".repeat(32)),
            addr: "[fe80::1%2]:7878".parse().unwrap(),
            ..server(0)
        };
        let value: serde_json::Value = serde_json::from_str(&json_line(&with_fp)).unwrap();
        assert_eq!(value["fingerprint"], "ab".repeat(32));
        assert_eq!(value["addr"], "[fe80::1%2]:7878");
    }
}
