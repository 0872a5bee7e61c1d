//! Slash commands typed in the input line.

use shared::limits::{
    MAX_AWAY_BYTES, MAX_NICK_CHARS, MAX_REASON_BYTES, MAX_ROOM_CHARS, MAX_TEXT_BYTES,
    MAX_TOPIC_BYTES,
};

/// What a submitted line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Say this text in the room.
    Say(String),
    Command(Command),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Nick(String),
    Join(String),
    Who,
    Me(String),
    Msg {
        to: String,
        text: String,
    },
    Clear,
    Quit(String),
    /// Upload the file at this path (as typed) to the room.
    SendFile(String),
    /// List the room's files.
    Files,
    /// Download the room's file with this id.
    Get(u64),
    /// Stop a transfer: this one, or the latest.
    Cancel(Option<TransferRef>),
    /// Search the room's history for these words.
    Search(String),
    /// Leave a room: `[ROOM] [REASON]` as typed (the app knows which words name a room).
    Part(String),
    /// Open the private conversation with this nick, sending nothing.
    Query(String),
    /// Close the buffer shown (leaving its room).
    Close,
    /// Show the buffer numbered this (from 1).
    Buffer(usize),
    /// Show the room's topic (`None`), or set it (empty: clear it).
    Topic(Option<String>),
    /// Away with this message, or back (empty).
    Away(String),
    /// Search what the buffer holds for these words.
    Last(String),
    /// Hide this nick's lines (without one: list the ignored nicks).
    Ignore(Option<String>),
    /// Show this nick's lines again.
    Unignore(String),
    /// Bind the current nick to this client's key.
    Register,
    /// Free the current nick, registered to this client's key.
    Unregister,
    /// Show this client's nick, key and standing on the server.
    WhoAmI,
    /// Connect again after the server stopped the client (a kick, say).
    Reconnect,
    /// Let only operators set the room's topic (`true`), or everyone again.
    LockTopic(bool),
    /// A request only an operator may make.
    Operate(Operate),
}

/// An operator's command, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operate {
    /// Disconnect a nick, telling why.
    Kick { nick: String, reason: String },
    /// Keep a nick (its address and key) or an address out for `seconds` (0: until
    /// unbanned).
    Ban {
        target: String,
        seconds: u64,
        reason: String,
    },
    /// Lift the bans on a nick, address or key.
    Unban(String),
    /// List the bans in force.
    Bans,
    /// Free a registered nick whose owner lost their key.
    Release(String),
}

/// Every command with its arguments and what it does, for `/help` and Tab completion.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("/help", "", "show commands and keys"),
    ("/nick", "NAME", "change your nick"),
    (
        "/join",
        "ROOM",
        "join a room in a buffer of its own (a server of one room per connection: move)",
    ),
    (
        "/part",
        "[ROOM] [REASON]",
        "leave a room (default: this buffer's) and close its buffer",
    ),
    (
        "/reconnect",
        "",
        "connect again after the server let you go (a kick); it never retries by itself then",
    ),
    (
        "/query",
        "NICK",
        "open the private conversation with NICK, sending nothing",
    ),
    ("/close", "", "close this buffer (a room's: leave the room)"),
    ("/buffer", "N", "show buffer N (Alt-1…9)"),
    (
        "/who",
        "",
        "list the members of this room, and who is away (also /names)",
    ),
    (
        "/topic",
        "[TEXT]",
        "show this room's topic, or set it (-delete clears it; operators: -lock, -unlock)",
    ),
    (
        "/away",
        "[MESSAGE]",
        "mark yourself away; without a message, back",
    ),
    ("/me", "TEXT", "say what you are doing"),
    ("/msg", "NICK TEXT", "send a private message"),
    ("/clear", "", "clear the screen (scroll up to see it again)"),
    (
        "/send-file",
        "PATH",
        "upload a file to this room (Tab completes the path)",
    ),
    ("/files", "", "list the files shared in this room"),
    (
        "/get",
        "ID",
        "download a shared file into the download folder",
    ),
    (
        "/cancel",
        "[ID|uN]",
        "stop the download of file ID or upload uN, as their bars say (default: the latest)",
    ),
    (
        "/search",
        "WORDS",
        "search this room's history (Enter shows a hit where it was said)",
    ),
    (
        "/last",
        "WORDS",
        "list the lines of this buffer, as loaded, that hold every word",
    ),
    (
        "/ignore",
        "[NICK]",
        "hide a nick's lines and private messages (alone: list them)",
    ),
    ("/unignore", "NICK", "show a nick's lines again"),
    (
        "/whoami",
        "",
        "show your nick and your key (what an operator lists), and whether you own the nick",
    ),
    (
        "/register",
        "",
        "make your nick yours: only your key can use it (and nicks that look like it)",
    ),
    ("/unregister", "", "free your registered nick"),
    ("/kick", "NICK [REASON]", "operators: disconnect NICK"),
    (
        "/ban",
        "NICK|ADDRESS [DURATION] [REASON]",
        "operators: keep NICK (its address and key) or an address out, for 10m, 2h, 1d… or \
         until /unban",
    ),
    ("/unban", "NICK|ADDRESS|KEY", "operators: lift a ban"),
    ("/bans", "", "operators: list the bans in force"),
    (
        "/release",
        "NICK",
        "operators: free a registered nick whose owner lost their key",
    ),
    ("/quit", "[REASON]", "leave"),
];

/// Parses a submitted line. `//text` sends `/text` as a message. An error is a message for
/// the user, shown inline.
pub fn parse(line: &str) -> Result<Input, String> {
    let Some(rest) = line.strip_prefix('/') else {
        return say(line);
    };
    if rest.starts_with('/') {
        return say(rest);
    }
    let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim();
    let command = match name {
        "help" | "h" | "?" => Command::Help,
        "nick" => Command::Nick(one_name(args, "nick", MAX_NICK_CHARS)?),
        "join" | "j" => {
            let room = args.strip_prefix('#').unwrap_or(args);
            Command::Join(one_name(room, "join", MAX_ROOM_CHARS)?)
        }
        "who" | "names" => no_args(args, "who", Command::Who)?,
        "me" => Command::Me(text_arg(args, "me")?),
        "msg" => {
            let (to, text) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
            Command::Msg {
                to: one_name(to, "msg", MAX_NICK_CHARS)?,
                text: text_arg(text.trim_start(), "msg")?,
            }
        }
        "clear" => no_args(args, "clear", Command::Clear)?,
        "quit" | "exit" | "q" => {
            if args.len() > MAX_REASON_BYTES {
                return Err(format!(
                    "/quit: reason longer than {MAX_REASON_BYTES} bytes"
                ));
            }
            Command::Quit(args.to_owned())
        }
        "send-file" | "sendfile" | "send" => {
            if args.is_empty() {
                return Err(usage("send-file"));
            }
            // The whole rest is the path: file names may hold spaces.
            Command::SendFile(args.to_owned())
        }
        "files" => no_args(args, "files", Command::Files)?,
        "get" => Command::Get(number(args, "get")?),
        "cancel" => Command::Cancel(if args.is_empty() {
            None
        } else {
            Some(transfer_ref(args)?)
        }),
        "search" | "find" => Command::Search(text_arg(args, "search")?),
        "part" | "leave" => Command::Part(args.to_owned()),
        "query" => Command::Query(one_name(args, "query", MAX_NICK_CHARS)?),
        "close" => no_args(args, "close", Command::Close)?,
        "buffer" | "b" => Command::Buffer(number(args, "buffer")?.try_into().unwrap_or(0)),
        "topic" => match args {
            "" => Command::Topic(None),
            "-delete" => Command::Topic(Some(String::new())),
            "-lock" => Command::LockTopic(true),
            "-unlock" => Command::LockTopic(false),
            text => Command::Topic(Some(bounded(text, "topic", MAX_TOPIC_BYTES)?)),
        },
        "away" => Command::Away(bounded(args, "away", MAX_AWAY_BYTES)?),
        "last" => Command::Last(text_arg(args, "last")?),
        "ignore" => Command::Ignore(if args.is_empty() {
            None
        } else {
            Some(one_name(args, "ignore", MAX_NICK_CHARS)?)
        }),
        "unignore" => Command::Unignore(one_name(args, "unignore", MAX_NICK_CHARS)?),
        "register" => no_args(args, "register", Command::Register)?,
        "unregister" => no_args(args, "unregister", Command::Unregister)?,
        "whoami" => no_args(args, "whoami", Command::WhoAmI)?,
        "reconnect" => no_args(args, "reconnect", Command::Reconnect)?,
        "kick" => {
            let (nick, reason) = first_word(args);
            Command::Operate(Operate::Kick {
                nick: one_name(nick, "kick", MAX_NICK_CHARS)?,
                reason: bounded(reason, "kick", MAX_REASON_BYTES)?,
            })
        }
        "ban" => Command::Operate(ban(args)?),
        "unban" => Command::Operate(Operate::Unban(target(args, "unban")?)),
        "bans" => no_args(args, "bans", Command::Operate(Operate::Bans))?,
        "release" => Command::Operate(Operate::Release(one_name(args, "release", MAX_NICK_CHARS)?)),
        "" => return Err("empty command; type /help for the list".into()),
        other => return Err(format!("unknown command /{other}; type /help for the list")),
    };
    Ok(Input::Command(command))
}

/// The first word of `args`, and the rest (trimmed).
fn first_word(args: &str) -> (&str, &str) {
    let (first, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    (first, rest.trim())
}

/// Longest target of `/ban` and `/unban`, in characters: a nick, an IP address, or a key
/// in its grouped form (16 groups of 4 hex digits and their colons).
const MAX_TARGET_CHARS: usize = 79;

/// The one word naming what `/ban` or `/unban` is about: a nick, an address, or a key,
/// which is sent in the form the server keeps it (64 hex digits) whichever way it was
/// written.
fn target(arg: &str, cmd: &str) -> Result<String, String> {
    let target = one_name(arg, cmd, MAX_TARGET_CHARS)?;
    Ok(match chat_client::shared::auth::PublicKey::parse(&target) {
        Ok(key) => key.hex(),
        Err(_) => target,
    })
}

/// `/ban NICK|ADDRESS [DURATION] [REASON]`: a second word that reads as a duration
/// (`10m`, `2h`, `1d`; a bare number is seconds) is the ban's length; without one, the
/// ban lasts until it is lifted.
fn ban(args: &str) -> Result<Operate, String> {
    let (first, rest) = first_word(args);
    let target = target(first, "ban")?;
    let (word, after) = first_word(rest);
    let (seconds, reason) = match shared::units::parse_duration(word) {
        Ok(duration) if !word.is_empty() => {
            let seconds = duration.as_secs();
            if seconds == 0 {
                return Err(
                    "/ban: a ban lasts at least 1s; without a duration it lasts until /unban"
                        .into(),
                );
            }
            (seconds, after)
        }
        _ => (0, rest),
    };
    Ok(Operate::Ban {
        target,
        seconds,
        reason: bounded(reason, "ban", MAX_REASON_BYTES)?,
    })
}

/// The usage line of a command, e.g. `/msg NICK TEXT`.
fn usage(name: &str) -> String {
    COMMANDS
        .iter()
        .find(|(n, _, _)| n[1..] == *name)
        .map(|(n, args, _)| format!("usage: {n} {args}").trim_end().to_owned())
        .unwrap_or_default()
}

fn say(text: &str) -> Result<Input, String> {
    if text.trim().is_empty() {
        return Err(String::new());
    }
    check_len(text)?;
    Ok(Input::Say(text.to_owned()))
}

/// Refuses a text longer than the protocol allows, with the message the user sees.
pub fn check_len(text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "message too long: {} bytes, at most {MAX_TEXT_BYTES}",
            text.len()
        ));
    }
    Ok(())
}

fn one_name(arg: &str, cmd: &str, max_chars: usize) -> Result<String, String> {
    if arg.is_empty() || arg.contains(char::is_whitespace) {
        return Err(usage(cmd));
    }
    if arg.chars().count() > max_chars {
        return Err(format!("/{cmd}: name longer than {max_chars} characters"));
    }
    Ok(arg.to_owned())
}

fn text_arg(arg: &str, cmd: &str) -> Result<String, String> {
    if arg.is_empty() {
        return Err(usage(cmd));
    }
    check_len(arg)?;
    Ok(arg.to_owned())
}

/// A text of at most `max` bytes.
fn bounded(arg: &str, cmd: &str, max: usize) -> Result<String, String> {
    if arg.len() > max {
        return Err(format!("/{cmd}: {} bytes, at most {max}", arg.len()));
    }
    Ok(arg.to_owned())
}

fn number(arg: &str, cmd: &str) -> Result<u64, String> {
    let digits = arg.strip_prefix('#').unwrap_or(arg);
    digits
        .parse()
        .map_err(|_| format!("{}: '{arg}' is not a number", usage(cmd)))
}

/// The number a transfer's bar shows, as typed: a download by the id of its file (`7`,
/// `#7`: what `/get` took), an upload by `u` and its number (`u2`). One number for each
/// thing on the screen: a file's id is never an upload's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferRef {
    /// The download of this file.
    File(u64),
    /// The upload with this number.
    Upload(u64),
}

fn transfer_ref(arg: &str) -> Result<TransferRef, String> {
    let upload = arg.strip_prefix(['u', 'U']);
    let digits = upload.or(arg.strip_prefix('#')).unwrap_or(arg);
    let n = digits.parse().map_err(|_| {
        format!(
            "{}: '{arg}' is neither a file id (as in /get) nor an upload (u1, u2...)",
            usage("cancel")
        )
    })?;
    Ok(match upload {
        Some(_) => TransferRef::Upload(n),
        None => TransferRef::File(n),
    })
}

fn no_args(args: &str, cmd: &str, command: Command) -> Result<Command, String> {
    if args.is_empty() {
        Ok(command)
    } else {
        Err(format!("/{cmd} takes no arguments"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> Command {
        match parse(line) {
            Ok(Input::Command(c)) => c,
            other => panic!("{line:?} -> {other:?}"),
        }
    }

    #[test]
    fn plain_text_is_said() {
        assert_eq!(parse("hello 你好"), Ok(Input::Say("hello 你好".into())));
        assert_eq!(parse("//etc/passwd"), Ok(Input::Say("/etc/passwd".into())));
    }

    #[test]
    fn blank_line_is_nothing() {
        assert_eq!(parse("   "), Err(String::new()));
    }

    #[test]
    fn commands_with_arguments() {
        assert_eq!(cmd("/help"), Command::Help);
        assert_eq!(cmd("/nick bob"), Command::Nick("bob".into()));
        assert_eq!(cmd("/join #rust"), Command::Join("rust".into()));
        assert_eq!(cmd("/join 中文"), Command::Join("中文".into()));
        assert_eq!(cmd("/who"), Command::Who);
        assert_eq!(cmd("/me waves  hi"), Command::Me("waves  hi".into()));
        assert_eq!(
            cmd("/msg bob  hi there"),
            Command::Msg {
                to: "bob".into(),
                text: "hi there".into()
            }
        );
        assert_eq!(cmd("/clear"), Command::Clear);
        assert_eq!(cmd("/quit"), Command::Quit(String::new()));
        assert_eq!(cmd("/quit bye all"), Command::Quit("bye all".into()));
    }

    #[test]
    fn bad_arguments_say_how() {
        assert_eq!(parse("/nick"), Err("usage: /nick NAME".into()));
        assert_eq!(parse("/nick a b"), Err("usage: /nick NAME".into()));
        assert_eq!(parse("/msg bob"), Err("usage: /msg NICK TEXT".into()));
        assert_eq!(parse("/me"), Err("usage: /me TEXT".into()));
        assert_eq!(parse("/who x"), Err("/who takes no arguments".into()));
        let long = "n".repeat(MAX_NICK_CHARS + 1);
        assert!(
            parse(&format!("/nick {long}"))
                .unwrap_err()
                .contains("longer")
        );
        let text = "x".repeat(MAX_TEXT_BYTES + 1);
        assert!(parse(&text).unwrap_err().contains("too long"));
    }

    #[test]
    fn file_commands() {
        assert_eq!(
            cmd("/send-file ~/My Documents/report 1.pdf "),
            Command::SendFile("~/My Documents/report 1.pdf".into())
        );
        assert_eq!(parse("/send-file"), Err("usage: /send-file PATH".into()));
        assert_eq!(cmd("/files"), Command::Files);
        assert_eq!(parse("/files x"), Err("/files takes no arguments".into()));
        assert_eq!(cmd("/get 3"), Command::Get(3));
        assert_eq!(cmd("/get #12"), Command::Get(12));
        assert_eq!(
            parse("/get report.pdf"),
            Err("usage: /get ID: 'report.pdf' is not a number".into())
        );
        assert!(parse("/get").is_err());
        assert!(parse("/get -1").is_err());
        assert_eq!(cmd("/cancel"), Command::Cancel(None));
        assert_eq!(
            cmd("/cancel 2"),
            Command::Cancel(Some(TransferRef::File(2)))
        );
        assert_eq!(
            cmd("/cancel #2"),
            Command::Cancel(Some(TransferRef::File(2)))
        );
        assert_eq!(
            cmd("/cancel u3"),
            Command::Cancel(Some(TransferRef::Upload(3)))
        );
        assert_eq!(
            parse("/cancel all"),
            Err(
                "usage: /cancel [ID|uN]: 'all' is neither a file id (as in /get) nor an upload \
                 (u1, u2...)"
                    .into()
            )
        );
        assert!(parse("/cancel u").is_err());
    }

    #[test]
    fn search_takes_the_rest_of_the_line() {
        assert_eq!(
            cmd("/search  deploy 你好 \"AND\" "),
            Command::Search("deploy 你好 \"AND\"".into())
        );
        assert_eq!(parse("/search"), Err("usage: /search WORDS".into()));
        let long = "w".repeat(MAX_TEXT_BYTES + 1);
        assert!(
            parse(&format!("/search {long}"))
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn buffer_and_room_commands() {
        assert_eq!(cmd("/part"), Command::Part(String::new()));
        assert_eq!(
            cmd("/part #dev  bye now"),
            Command::Part("#dev  bye now".into())
        );
        assert_eq!(cmd("/query bob"), Command::Query("bob".into()));
        assert_eq!(parse("/query"), Err("usage: /query NICK".into()));
        assert_eq!(cmd("/close"), Command::Close);
        assert_eq!(cmd("/buffer 3"), Command::Buffer(3));
        assert_eq!(
            parse("/buffer dev"),
            Err("usage: /buffer N: 'dev' is not a number".into())
        );
        assert_eq!(cmd("/topic"), Command::Topic(None));
        assert_eq!(cmd("/topic -delete"), Command::Topic(Some(String::new())));
        assert_eq!(
            cmd("/topic Rust 2 · 你好"),
            Command::Topic(Some("Rust 2 · 你好".into()))
        );
        let long = "t".repeat(MAX_TOPIC_BYTES + 1);
        assert_eq!(
            parse(&format!("/topic {long}")),
            Err(format!(
                "/topic: {} bytes, at most {MAX_TOPIC_BYTES}",
                MAX_TOPIC_BYTES + 1
            ))
        );
        assert_eq!(cmd("/away"), Command::Away(String::new()));
        assert_eq!(
            cmd("/away lunch, back at 2"),
            Command::Away("lunch, back at 2".into())
        );
        assert!(parse(&format!("/away {}", "a".repeat(MAX_AWAY_BYTES + 1))).is_err());
        assert_eq!(cmd("/names"), Command::Who);
        assert_eq!(
            cmd("/last deploy  prod"),
            Command::Last("deploy  prod".into())
        );
        assert_eq!(parse("/last"), Err("usage: /last WORDS".into()));
    }

    #[test]
    fn auth_and_operator_commands() {
        assert_eq!(cmd("/register"), Command::Register);
        assert_eq!(cmd("/unregister"), Command::Unregister);
        assert_eq!(cmd("/whoami"), Command::WhoAmI);
        assert_eq!(cmd("/reconnect"), Command::Reconnect);
        assert_eq!(
            parse("/register bob"),
            Err("/register takes no arguments".into())
        );
        assert_eq!(cmd("/topic -lock"), Command::LockTopic(true));
        assert_eq!(cmd("/topic -unlock"), Command::LockTopic(false));
        let operate = |line: &str| match cmd(line) {
            Command::Operate(operate) => operate,
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(
            operate("/kick bob  too  loud "),
            Operate::Kick {
                nick: "bob".into(),
                reason: "too  loud".into()
            }
        );
        assert_eq!(
            operate("/kick bob"),
            Operate::Kick {
                nick: "bob".into(),
                reason: String::new()
            }
        );
        assert_eq!(parse("/kick"), Err("usage: /kick NICK [REASON]".into()));
        let ban = |target: &str, seconds, reason: &str| Operate::Ban {
            target: target.into(),
            seconds,
            reason: reason.into(),
        };
        assert_eq!(operate("/ban bob"), ban("bob", 0, ""));
        assert_eq!(operate("/ban bob 10m spam"), ban("bob", 600, "spam"));
        assert_eq!(operate("/ban 10.0.0.7 1d"), ban("10.0.0.7", 86_400, ""));
        assert_eq!(operate("/ban ::1 2h"), ban("::1", 7200, ""));
        assert_eq!(
            operate("/ban bob spam and more"),
            ban("bob", 0, "spam and more")
        );
        assert!(parse("/ban bob 0s").unwrap_err().contains("at least 1s"));
        assert_eq!(
            parse("/ban"),
            Err("usage: /ban NICK|ADDRESS [DURATION] [REASON]".into())
        );
        // A key in either form is sent as the server keeps it.
        let key = chat_client::shared::auth::PublicKey::from_bytes(&[0xab; 32]).unwrap();
        assert_eq!(operate(&format!("/unban {key}")), Operate::Unban(key.hex()));
        assert_eq!(
            operate("/unban 10.0.0.7"),
            Operate::Unban("10.0.0.7".into())
        );
        assert_eq!(operate("/bans"), Operate::Bans);
        assert_eq!(operate("/release bob"), Operate::Release("bob".into()));
        assert_eq!(parse("/release"), Err("usage: /release NICK".into()));
        let long = "r".repeat(MAX_REASON_BYTES + 1);
        assert!(
            parse(&format!("/kick bob {long}"))
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn unknown_command() {
        assert_eq!(
            parse("/frobnicate now"),
            Err("unknown command /frobnicate; type /help for the list".into())
        );
        assert!(parse("/").is_err());
    }
}
