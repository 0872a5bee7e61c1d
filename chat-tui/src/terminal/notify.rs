//! Desktop notifications through the terminal: an escape sequence that the terminal
//! emulator turns into a notification of the desktop.
//!
//! Two sequences are in use, and no terminal answers which it knows, so one is chosen
//! ([`NotifyWith`]):
//!
//! - OSC 777 (`ESC ] 777 ; notify ; TITLE ; BODY ESC \`) carries a title and a body.
//!   foot, WezTerm, Ghostty, the VTE terminals of distributions that carry its
//!   notification patch (Fedora's GNOME Terminal, Ptyxis) and urxvt (with its notify
//!   extension) show it. It is the default: a title of its own, and no clash with the
//!   commands some terminals read in OSC 9.
//! - OSC 9 (`ESC ] 9 ; TEXT ESC \`) carries one text. iTerm2 and kitty show it (and do
//!   not know OSC 777), so it is chosen where their variables say they run.
//!
//! Not both by default: terminals that know both (WezTerm, Ghostty, foot) would show every
//! notification twice.
//!
//! Inside tmux (`$TMUX` set) the sequence is wrapped for passthrough (`ESC P tmux ; ...
//! ESC \`, every ESC inside doubled), so that tmux hands it to the terminal outside;
//! tmux 3.3 and later pass it on only with `set -g allow-passthrough on`.
//!
//! The title and the body come from the network (a nick, a message): every control
//! character is dropped (no ESC, BEL or C1 can end the sequence or start another), `;`
//! in the title becomes `,` (it separates the fields), and both are cut to
//! [`MAX_TITLE_CHARS`] and [`MAX_BODY_CHARS`].

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest title of a notification, in characters.
pub const MAX_TITLE_CHARS: usize = 64;
/// Longest body of a notification, in characters.
pub const MAX_BODY_CHARS: usize = 200;

/// Which sequence carries a notification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NotifyWith {
    /// OSC 9 under iTerm2 and kitty, else OSC 777.
    #[default]
    Auto,
    Osc777,
    Osc9,
    Both,
}

impl FromStr for NotifyWith {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "osc777" => Ok(Self::Osc777),
            "osc9" => Ok(Self::Osc9),
            "both" => Ok(Self::Both),
            other => Err(format!(
                "unknown value \"{}\": one of auto, osc777, osc9, both",
                other.escape_debug()
            )),
        }
    }
}

impl TryFrom<String> for NotifyWith {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<NotifyWith> for String {
    fn from(n: NotifyWith) -> Self {
        n.to_string()
    }
}

impl fmt::Display for NotifyWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Osc777 => "osc777",
            Self::Osc9 => "osc9",
            Self::Both => "both",
        })
    }
}

impl NotifyWith {
    /// `Auto` made concrete from the environment: OSC 9 where iTerm2 or kitty says it
    /// runs (their variables reach programs inside tmux too), else OSC 777.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Self {
        if self != Self::Auto {
            return self;
        }
        let iterm = env("TERM_PROGRAM").as_deref() == Some("iTerm.app")
            || env("ITERM_SESSION_ID").is_some();
        let kitty =
            env("KITTY_WINDOW_ID").is_some() || env("TERM").as_deref() == Some("xterm-kitty");
        if iterm || kitty {
            Self::Osc9
        } else {
            Self::Osc777
        }
    }
}

/// `s` without control characters, cut to `max` characters (`…` at the cut).
fn clean(s: &str, max: usize) -> String {
    let kept: Vec<char> = s.chars().filter(|c| !c.is_control()).collect();
    if kept.len() <= max {
        return kept.into_iter().collect();
    }
    let mut out: String = kept[..max - 1].iter().collect();
    out.push('…');
    out
}

/// The bytes that raise a notification with `title` and `body`; `tmux`: wrapped for
/// tmux's passthrough.
pub fn sequence(with: NotifyWith, title: &str, body: &str, tmux: bool) -> String {
    let title = clean(title, MAX_TITLE_CHARS).replace(';', ",");
    let body = clean(body, MAX_BODY_CHARS);
    let mut out = String::new();
    if matches!(
        with,
        NotifyWith::Osc777 | NotifyWith::Both | NotifyWith::Auto
    ) {
        out.push_str(&format!("\x1b]777;notify;{title};{body}\x1b\\"));
    }
    if matches!(with, NotifyWith::Osc9 | NotifyWith::Both) {
        // The title first: ConEmu reads `9;DIGITS;` as a command of its own, and a title
        // never starts with a digit here.
        out.push_str(&format!("\x1b]9;{title}: {body}\x1b\\"));
    }
    if tmux {
        format!("\x1bPtmux;{}\x1b\\", out.replace('\x1b', "\x1b\x1b"))
    } else {
        out
    }
}

/// Raises a notification (see the module's documentation).
pub fn notify(with: NotifyWith, title: &str, body: &str) {
    let tmux = std::env::var_os("TMUX").is_some_and(|t| !t.is_empty());
    let mut out = std::io::stdout();
    let _ = out.write_all(sequence(with, title, body, tmux).as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sequence_carries_title_and_body() {
        assert_eq!(
            sequence(NotifyWith::Osc777, "#lobby", "bob: hi alice", false),
            "\x1b]777;notify;#lobby;bob: hi alice\x1b\\"
        );
        assert_eq!(
            sequence(NotifyWith::Osc9, "#lobby", "bob: hi", false),
            "\x1b]9;#lobby: bob: hi\x1b\\"
        );
        let both = sequence(NotifyWith::Both, "t", "b", false);
        assert!(both.contains("]777;") && both.contains("]9;"));
    }

    #[test]
    fn inside_tmux_it_is_wrapped_for_passthrough() {
        assert_eq!(
            sequence(NotifyWith::Osc777, "t", "b", true),
            "\x1bPtmux;\x1b\x1b]777;notify;t;b\x1b\x1b\\\x1b\\"
        );
    }

    #[test]
    fn nothing_from_the_network_can_escape_the_sequence() {
        let evil_nick = "ev;il\x1b]0;x\x07";
        let evil_text = "a\x1b\\\x1b]777;notify;fake;x\x07\u{9c}\u{9d}b";
        let out = sequence(NotifyWith::Osc777, evil_nick, evil_text, false);
        assert_eq!(
            out,
            "\x1b]777;notify;ev,il]0,x;a\\]777;notify;fake;xb\x1b\\"
        );
        assert_eq!(out.matches('\x1b').count(), 2, "only our own ESCs");
        let long = sequence(NotifyWith::Osc9, "t", &"x".repeat(1000), false);
        assert!(long.chars().count() < MAX_BODY_CHARS + 20);
    }

    #[test]
    fn auto_picks_osc9_for_iterm_and_kitty_only() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(NotifyWith::Auto.resolve(env(&[])), NotifyWith::Osc777);
        assert_eq!(
            NotifyWith::Auto.resolve(env(&[("TERM_PROGRAM", "iTerm.app")])),
            NotifyWith::Osc9
        );
        assert_eq!(
            NotifyWith::Auto.resolve(env(&[("KITTY_WINDOW_ID", "1")])),
            NotifyWith::Osc9
        );
        assert_eq!(
            NotifyWith::Both.resolve(env(&[("KITTY_WINDOW_ID", "1")])),
            NotifyWith::Both
        );
    }
}
