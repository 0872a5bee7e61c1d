//! How a server announces itself on the LAN, and how a client reads the announcement: a
//! DNS-SD service over multicast DNS (RFC 6762, RFC 6763), the format both ends apply. No
//! networking here; the server's announcer and the client's browser use it.
//!
//! A server is one instance of the service type [`SERVICE_TYPE`]: its SRV record gives the
//! host and the port it listens on, its A/AAAA records the addresses, and its TXT record
//! ([`Announcement::to_txt`]) the rest:
//!
//! | key      | value                                                                  |
//! |----------|------------------------------------------------------------------------|
//! | `v`      | the newest protocol version the server speaks, decimal (`4`)           |
//! | `name`   | the server's name, UTF-8, checked by [`check_name`]                    |
//! | `people` | how many people are connected, decimal                                 |
//! | `fp`     | optional: the SHA-256 of the server's TLS public key, 64 hex digits    |
//!
//! Keys are compared ignoring case and the first of two equal keys counts (RFC 6763,
//! section 6.4); keys this version does not know are ignored, so the record can grow.
//!
//! Anyone on the LAN can announce anything under this service type: [`Announcement::from_txt`]
//! checks every value and refuses a record that breaks a rule, and what it accepts is still
//! only a claim (a name to show, an address to try), never a proof of who answers there.

use std::fmt;

use crate::names::{Forbidden, is_base};

/// The DNS-SD service type of a chat server, with its domain, as mDNS libraries spell it.
pub const SERVICE_TYPE: &str = "_lanchat._tcp.local.";

/// The UDP port of multicast DNS (RFC 6762). Tests use ports of their own.
pub const MDNS_PORT: u16 = 5353;

/// Longest server name, in bytes of UTF-8: the name is also the service instance's name,
/// one DNS label, which holds at most 63 bytes (RFC 1035).
pub const MAX_NAME_BYTES: usize = 63;

/// Length of a fingerprint in hex digits: a SHA-256 digest.
pub const FINGERPRINT_HEX_DIGITS: usize = 64;

/// The TXT key of the protocol version.
pub const KEY_VERSION: &str = "v";
/// The TXT key of the server's name.
pub const KEY_NAME: &str = "name";
/// The TXT key of the number of people connected.
pub const KEY_PEOPLE: &str = "people";
/// The TXT key of the TLS key's fingerprint.
pub const KEY_FINGERPRINT: &str = "fp";

/// What a server says about itself in its TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The server's name, to show in a list of servers ([`check_name`]).
    pub name: String,
    /// The newest protocol version the server speaks.
    pub version: u16,
    /// How many people are connected.
    pub people: u32,
    /// The SHA-256 of the server's TLS public key, 64 lowercase hex digits, when it has one.
    pub fingerprint: Option<String>,
}

impl Announcement {
    /// The TXT record's key=value pairs, in the order of the table in the module's doc.
    pub fn to_txt(&self) -> Vec<(String, String)> {
        let mut txt = vec![
            (KEY_VERSION.to_owned(), self.version.to_string()),
            (KEY_NAME.to_owned(), self.name.clone()),
            (KEY_PEOPLE.to_owned(), self.people.to_string()),
        ];
        if let Some(fp) = &self.fingerprint {
            txt.push((KEY_FINGERPRINT.to_owned(), fp.clone()));
        }
        txt
    }

    /// Reads a TXT record's key=value pairs (a key without a value comes as an empty
    /// value). Refuses a record that lacks `v`, `name` or `people`, or whose values break
    /// their rules; the error is a sentence for a person.
    pub fn from_txt<'a>(
        props: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let (mut version, mut name, mut people, mut fingerprint) = (None, None, None, None);
        for (key, value) in props {
            let slot = if key.eq_ignore_ascii_case(KEY_VERSION) {
                &mut version
            } else if key.eq_ignore_ascii_case(KEY_NAME) {
                &mut name
            } else if key.eq_ignore_ascii_case(KEY_PEOPLE) {
                &mut people
            } else if key.eq_ignore_ascii_case(KEY_FINGERPRINT) {
                &mut fingerprint
            } else {
                continue;
            };
            // RFC 6763: only the first occurrence of a key counts.
            slot.get_or_insert(value);
        }
        let missing = |key: &str| format!("the announcement has no '{key}'");
        let version = version.ok_or_else(|| missing(KEY_VERSION))?;
        let version: u16 = parse_decimal(version).ok_or_else(|| {
            "the protocol version ('v') is not a number from 0 to 65535".to_owned()
        })?;
        let name = name.ok_or_else(|| missing(KEY_NAME))?;
        check_name(name)?;
        let people = people.ok_or_else(|| missing(KEY_PEOPLE))?;
        let people: u32 = parse_decimal(people).ok_or_else(|| {
            "the number of people ('people') is not a number from 0 to 4294967295".to_owned()
        })?;
        let fingerprint = fingerprint.map(parse_fingerprint).transpose()?;
        Ok(Self {
            name: name.to_owned(),
            version,
            people,
            fingerprint,
        })
    }
}

/// Checks a server's name: 1 to [`MAX_NAME_BYTES`] bytes, no character that a nick may not
/// hold either ([`Forbidden`]) except the plain space, which may stand between words (not
/// first, not last), and at least one character that is not a combining mark. The error
/// is a sentence for a person.
///
/// The server checks its own name with it at start; a client checks every name it reads
/// off the network.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the server name is empty".to_owned());
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "the server name is longer than {MAX_NAME_BYTES} bytes ({} bytes)",
            name.len()
        ));
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err("the server name starts or ends with a space".to_owned());
    }
    let forbidden = name
        .chars()
        .filter(|&c| c != ' ')
        .find_map(|c| Some((c, Forbidden::of(c)?)));
    if let Some((c, why)) = forbidden {
        return Err(format!(
            "the server name holds the character U+{:04X}, which is {why}",
            u32::from(c)
        ));
    }
    if !name.chars().any(|c| c != ' ' && is_base(c)) {
        return Err(
            "the server name has only combining marks, which display as nothing".to_owned(),
        );
    }
    Ok(())
}

/// Reads a fingerprint: [`FINGERPRINT_HEX_DIGITS`] hex digits, either case; returned in
/// lowercase.
pub fn parse_fingerprint(text: &str) -> Result<String, String> {
    if text.len() == FINGERPRINT_HEX_DIGITS && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "the fingerprint ('fp') is not {FINGERPRINT_HEX_DIGITS} hex digits"
        ))
    }
}

/// A decimal number of ASCII digits only: no sign, no space, no leading `+` that Rust's
/// own parser would accept.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl fmt::Display for Announcement {
    /// `NAME (N people, protocol V)`, for logs; the name as given (log it only once it has
    /// passed [`check_name`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let people = if self.people == 1 { "person" } else { "people" };
        write!(
            f,
            "{} ({} {people}, protocol {})",
            self.name, self.people, self.version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement() -> Announcement {
        Announcement {
            name: "Office chat".into(),
            version: 4,
            people: 3,
            fingerprint: Some("ab".repeat(32)),
        }
    }

    fn read(pairs: &[(&str, &str)]) -> Result<Announcement, String> {
        Announcement::from_txt(pairs.iter().copied())
    }

    #[test]
    fn round_trips_through_txt() {
        let a = announcement();
        let txt = a.to_txt();
        assert_eq!(
            txt,
            [
                ("v".to_owned(), "4".to_owned()),
                ("name".to_owned(), "Office chat".to_owned()),
                ("people".to_owned(), "3".to_owned()),
                ("fp".to_owned(), "ab".repeat(32)),
            ]
        );
        let back = Announcement::from_txt(txt.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(back, Ok(a));
        let no_fp = Announcement {
            fingerprint: None,
            ..announcement()
        };
        assert_eq!(no_fp.to_txt().len(), 3);
    }

    #[test]
    fn keys_ignore_case_the_first_counts_and_unknown_keys_are_ignored() {
        let a = read(&[
            ("V", "4"),
            ("Name", "first"),
            ("name", "second"),
            ("people", "0"),
            ("future", "whatever"),
            ("FP", &"AB".repeat(32)),
        ])
        .unwrap();
        assert_eq!(a.name, "first");
        assert_eq!(a.version, 4);
        assert_eq!(a.fingerprint.as_deref(), Some(&*"ab".repeat(32)));
    }

    #[test]
    fn missing_or_malformed_values_are_refused_in_words() {
        let ok = [("v", "4"), ("name", "lan"), ("people", "2")];
        assert!(read(&ok).is_ok());
        for (pairs, expected) in [
            (vec![("name", "lan"), ("people", "2")], "has no 'v'"),
            (vec![("v", "4"), ("people", "2")], "has no 'name'"),
            (vec![("v", "4"), ("name", "lan")], "has no 'people'"),
            (vec![("v", "+4"), ("name", "lan"), ("people", "2")], "'v'"),
            (
                vec![("v", "65536"), ("name", "lan"), ("people", "2")],
                "'v'",
            ),
            (vec![("v", ""), ("name", "lan"), ("people", "2")], "'v'"),
            (
                vec![("v", "4"), ("name", "lan"), ("people", "-1")],
                "'people'",
            ),
            (
                vec![("v", "4"), ("name", "lan"), ("people", " 2")],
                "'people'",
            ),
            (
                vec![("v", "4"), ("name", "lan"), ("people", "4294967296")],
                "'people'",
            ),
            (vec![("v", "4"), ("name", ""), ("people", "2")], "is empty"),
            (
                vec![("v", "4"), ("name", "lan"), ("people", "2"), ("fp", "abc")],
                "'fp'",
            ),
            (
                vec![
                    ("v", "4"),
                    ("name", "lan"),
                    ("people", "2"),
                    ("fp", &*"zz".repeat(32)),
                ],
                "'fp'",
            ),
        ] {
            let err = Announcement::from_txt(pairs.iter().copied()).unwrap_err();
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("Office chat").is_ok());
        assert!(check_name("Büro-Server 2").is_ok());
        assert!(check_name("会议室").is_ok());
        assert!(check_name(&"a".repeat(MAX_NAME_BYTES)).is_ok());
        let refused = |name: &str, expected: &str| {
            let err = check_name(name).unwrap_err();
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
        };
        refused("", "empty");
        refused(&"a".repeat(MAX_NAME_BYTES + 1), "longer than 63 bytes");
        // 22 three-byte characters: 66 bytes.
        refused(&"会".repeat(22), "longer than 63 bytes");
        refused(" lan", "starts or ends with a space");
        refused("lan ", "starts or ends with a space");
        refused("lan\u{1b}[2J", "U+001B, which is a control character");
        refused("lan\nchat", "U+000A, which is a control character");
        refused("lan\tchat", "U+0009");
        refused("lan\u{202e}chat", "U+202E");
        refused("lan\u{200b}", "U+200B, which is invisible");
        refused("a\u{00a0}b", "U+00A0, which is a space");
        refused("\u{0301}\u{0301}", "only combining marks");
        refused("\u{0301} \u{0301}", "only combining marks");
    }

    /// docs/PROTOCOL.md's example TXT record is what [`Announcement::to_txt`] writes, and
    /// reads back.
    #[test]
    fn the_protocol_page_shows_the_txt_record_as_written() {
        let page = include_str!("../../docs/PROTOCOL.md");
        let section = page
            .split_once("## 14. Discovery")
            .expect("the page has a discovery section")
            .1;
        let block = section
            .split_once("```text\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .expect("an example TXT record")
            .0;
        let pairs: Vec<(&str, &str)> = block
            .lines()
            .map(|line| line.split_once('=').expect("key=value"))
            .collect();
        let announcement = Announcement {
            name: "Office chat".into(),
            version: crate::PROTOCOL_VERSION,
            people: 3,
            fingerprint: None,
        };
        let written: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(written, announcement.to_txt());
        assert_eq!(Announcement::from_txt(pairs), Ok(announcement));
        for key in [KEY_VERSION, KEY_NAME, KEY_PEOPLE, KEY_FINGERPRINT] {
            assert!(section.contains(&format!("| `{key}` |")), "{key}");
        }
        assert!(section.contains(SERVICE_TYPE));
    }

    #[test]
    fn shows_for_logs() {
        assert_eq!(
            announcement().to_string(),
            "Office chat (3 people, protocol 4)"
        );
        let one = Announcement {
            people: 1,
            ..announcement()
        };
        assert_eq!(one.to_string(), "Office chat (1 person, protocol 4)");
    }
}
