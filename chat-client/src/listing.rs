//! Servers found on the LAN as text, a line each: for people, or JSON for scripts. Both
//! programs that list servers (`chat-cli list`, `chat-tui --list`) print these.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::discover::FoundServer;
use crate::sanitize;

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

/// One JSON object: `name`, `addr`, `people`, `version`, `fingerprint` (or null), in this
/// order. The name is exact; characters a terminal could act on are `\u` escapes
/// ([`sanitize::json`]), so that printing the line is safe too.
pub fn json_line(server: &FoundServer) -> String {
    let fields = [
        ("name", Value::from(server.name.as_str())),
        ("addr", Value::from(server.addr.to_string())),
        ("people", Value::from(server.people)),
        ("version", Value::from(server.version)),
        ("fingerprint", Value::from(server.fingerprint.clone())),
    ];
    sanitize::json_object(&fields)
}

/// What to say when no server answered within `wait`: `no server announced itself on the
/// LAN within 2s`.
pub fn none_found(wait: Duration) -> String {
    format!(
        "no server announced itself on the LAN within {}",
        shown(wait)
    )
}

/// A wait as it is written: `2s`, `500ms`.
fn shown(wait: Duration) -> String {
    if wait.subsec_millis() == 0 {
        format!("{}s", wait.as_secs())
    } else {
        format!("{}ms", wait.as_millis())
    }
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
        let evil = FoundServer {
            name: "ops\troom\x1b[2J".into(),
            ..server(0)
        };
        assert_eq!(
            line(&evil),
            "ops room␛[2J  10.0.0.2:7878  0 people  protocol 4"
        );
    }

    #[test]
    fn json_lines_carry_every_field() {
        assert_eq!(
            json_line(&server(0)),
            r#"{"name":"Office chat","addr":"10.0.0.2:7878","people":0,"version":4,"fingerprint":null}"#
        );
        let with_fp = FoundServer {
            fingerprint: Some("ab".repeat(32)),
            addr: "[fe80::1%2]:7878".parse().unwrap(),
            ..server(0)
        };
        let value: Value = serde_json::from_str(&json_line(&with_fp)).unwrap();
        assert_eq!(value["fingerprint"], "ab".repeat(32));
        assert_eq!(value["addr"], "[fe80::1%2]:7878");
    }

    #[test]
    fn json_lines_are_exact_and_safe() {
        let odd = FoundServer {
            name: "午饭 \"room\"\x1b[2J\u{202e}".into(),
            ..server(1)
        };
        let line = json_line(&odd);
        assert!(!line.chars().any(sanitize::is_unsafe), "{line}");
        assert!(
            line.starts_with(r#"{"name":"午饭 \"room\"\u001b[2J\u202e","#),
            "{line}"
        );
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["name"], odd.name.as_str());
    }

    #[test]
    fn waits_are_written_as_given() {
        assert_eq!(
            none_found(Duration::from_secs(2)),
            "no server announced itself on the LAN within 2s"
        );
        assert!(none_found(Duration::from_millis(1500)).ends_with("within 1500ms"));
    }
}
