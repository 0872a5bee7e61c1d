//! The file: its tables, the checks that it is ours before anything is written to it, and
//! where ids go on.
//!
//! A file this server did not write is never changed: it is read first (header,
//! application id, tables, schema version, and after a stop that was not clean an
//! integrity check) and only then put in WAL mode or written. A file that fails any check
//! is one [`OpenError`] and stays byte for byte as it was.
//!
//! The integrity check (`PRAGMA quick_check`) reads the whole file: 0.8 s at a million
//! messages, and more with every message kept. After a clean stop the server left the file
//! whole, its WAL folded in, so the check runs only when the last stop was not clean (a
//! crash, `kill -9`, a power cut), when damage is likeliest. Damage done to the file
//! between a clean stop and the next start (a failing disk, another program) is found when
//! something reads it: a query that meets it answers that the history cannot be read, in
//! SQLite's words, and a write that meets it fails as a full disk does (the stretch
//! recorded lost, one warning).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use super::rows::{PRESENCE, TALK, int};
use super::{ID_BLOCK, OpenError, Resume};

/// The version of the tables below. A newer file is refused; an older one is brought up
/// to this one ([`migrate`]) when it is opened.
///
/// 1: the first. 2: `messages_presence`, so that retention finds a room's oldest joins,
/// leaves and renames without reading its talk. 3: `topics`, the rooms' topics. 4:
/// `private`, private messages between owners of registered nicks.
pub(super) const SCHEMA: i64 = 4;

/// `PRAGMA application_id` of our files ("chat" in ASCII): tells our file from another
/// program's SQLite database before anything is written to it.
const APPLICATION_ID: i32 = 0x6368_6174;

/// How long a connection waits for a lock another holds. Only the writer writes, so this
/// is for a checkpoint or a second server started on the same file by mistake.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The tables. `messages.id` is the message id (the rowid: no second key). `(room, seq)`
/// is unique; `messages_talk` indexes the talk alone, so a replay without presence is
/// one range scan, and `messages_presence` the rest, for retention's cap on it. `fts` is contentless (the text lives in `messages` only) and takes
/// deletes, so retention can remove rows from it; it is filled behind the writes up to
/// `meta.indexed_to`. `topics` holds each room's topic, if it has one. `rooms.key` is the room's fold, which the server reads; `rooms.name`
/// its spelling in its latest stored message (the key until one is stored), kept for
/// whoever reads the file.
pub(super) fn schema_sql() -> String {
    format!(
        "
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE rooms(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
CREATE TABLE messages(
    id INTEGER PRIMARY KEY,
    room INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    nick TEXT NOT NULL,
    text TEXT NOT NULL,
    file BLOB
);
CREATE UNIQUE INDEX messages_room_seq ON messages(room, seq);
CREATE INDEX messages_talk ON messages(room, seq) WHERE {TALK};
{presence_index}
{topics}
{private}
CREATE TABLE gaps(
    room INTEGER NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    PRIMARY KEY(room, from_seq)
) WITHOUT ROWID;
CREATE TABLE read_markers(
    nick TEXT NOT NULL,
    room INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY(nick, room)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5(
    text,
    content = '',
    contentless_delete = 1,
    tokenize = \"unicode61 remove_diacritics 2 categories 'L* N* Co So'\"
);
",
        presence_index = presence_index_sql(),
        topics = TOPICS_SQL,
        private = PRIVATE_SQL,
    )
}

/// Private messages between two clients that each proved the key their nick is
/// registered to (schema 4). `pair` is the two keys, the lower first (64 bytes): the
/// conversation, whatever the nicks; `id` the message's id. Only the two keys' holders
/// ever read a pair's rows.
const PRIVATE_SQL: &str = "CREATE TABLE private(
    id INTEGER PRIMARY KEY,
    pair BLOB NOT NULL,
    time_ms INTEGER NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX private_pair ON private(pair, id);";

/// The rooms' topics (schema 3): one row per room that has one, its text, who set it
/// (the nick as spelt) and when.
const TOPICS_SQL: &str = "CREATE TABLE topics(
    room INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    nick TEXT NOT NULL,
    time_ms INTEGER NOT NULL
);";

/// The index of presence alone (schema 2).
fn presence_index_sql() -> String {
    format!("CREATE INDEX messages_presence ON messages(room, seq) WHERE {PRESENCE};")
}

/// Brings a file of schema `found` (older than [`SCHEMA`]) up to [`SCHEMA`], inside the
/// transaction that opens it: a failure leaves it as it was.
fn migrate(tx: &Connection, found: i64) -> rusqlite::Result<()> {
    if found < 2 {
        tx.execute_batch(&presence_index_sql())?;
    }
    if found < 3 {
        tx.execute_batch(TOPICS_SQL)?;
    }
    if found < 4 {
        tx.execute_batch(PRIVATE_SQL)?;
    }
    set_meta(tx, key::SCHEMA, SCHEMA)
}

/// Keys of `meta`.
pub(super) mod key {
    /// The schema version.
    pub(crate) const SCHEMA: &str = "schema";
    /// No message id at or below it will be handed out again: the exact last id after a
    /// clean stop, a reservation above every id handed out while running.
    pub(crate) const ID_FLOOR: &str = "id_floor";
    /// The highest file id ever handed out.
    pub(crate) const FILE_FLOOR: &str = "file_floor";
    /// 1 after a clean stop, 0 while running.
    pub(crate) const CLEAN: &str = "clean";
    /// Every talk message with an id up to this one is in `fts`.
    pub(crate) const INDEXED_TO: &str = "indexed_to";
}

/// The connection the writer owns, with the ids to go on from.
pub(super) struct Opened {
    pub(super) conn: Connection,
    pub(super) resume: Resume,
    /// The reservation written: ids up to it are safe from reuse after a crash.
    pub(super) reserved: u64,
    pub(super) indexed_to: u64,
}

/// Opens or creates the file at `path` for the writer: checks it, sets WAL mode, reads
/// where ids go on, and reserves the next block of ids.
pub(super) fn open(path: &Path) -> Result<Opened, OpenError> {
    let unusable = |e: &dyn std::fmt::Display| OpenError::Unusable {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let unwritable = |e: &dyn std::fmt::Display| OpenError::Unwritable {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    if path.is_dir() {
        return Err(unusable(&"it is a directory"));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| unwritable(&Sqlite(&e)))?;
    // SQLite opens a file it may not write read-only without a word.
    if conn.is_readonly("main").unwrap_or(true) {
        return Err(unwritable(&"it is read-only"));
    }
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| unusable(&Sqlite(&e)))?;

    // Read before anything is written: a file that is not ours stays as it was.
    let check = |e: rusqlite::Error| unusable(&Sqlite(&e));
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(check)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(check)?;
    let fresh = app == 0 && tables == 0;
    if !fresh {
        if app != APPLICATION_ID {
            return Err(OpenError::NotOurs {
                path: path.to_owned(),
            });
        }
        let found = meta(&conn, key::SCHEMA).map_err(check)?;
        if found < 1 {
            return Err(unusable(&"it has no schema version"));
        }
        if found > SCHEMA {
            return Err(OpenError::NewerSchema {
                path: path.to_owned(),
                found,
                known: SCHEMA,
            });
        }
        let clean = meta(&conn, key::CLEAN).map_err(check)? == 1;
        if !clean {
            let verdict: String = conn
                .pragma_query_value(None, "quick_check", |r| r.get(0))
                .map_err(check)?;
            if verdict != "ok" {
                return Err(unusable(&format_args!(
                    "it is damaged: {}",
                    one_line(&verdict)
                )));
            }
        }
    }

    // Ours, or new: from here on the file may be written.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(|e| unwritable(&Sqlite(&e)))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(unwritable(&format_args!(
            "it cannot be put in WAL mode (it stays in {mode} mode)"
        )));
    }
    // A commit survives a crash of the process; a power cut may lose the last ones.
    let setup = || -> rusqlite::Result<(Resume, u64, u64)> {
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let tx = conn.unchecked_transaction()?;
        if fresh {
            tx.execute_batch(&schema_sql())?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            set_meta(&tx, key::SCHEMA, SCHEMA)?;
        } else {
            let found = meta(&tx, key::SCHEMA)?;
            if found < SCHEMA {
                migrate(&tx, found)?;
            }
        }
        let floor = meta(&tx, key::ID_FLOOR)?;
        let highest: i64 = tx.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| {
            r.get(0)
        })?;
        let last_id = u64::try_from(floor.max(highest)).unwrap_or(0);
        let clean = fresh || meta(&tx, key::CLEAN)? == 1;
        let last_file_id = u64::try_from(meta(&tx, key::FILE_FLOOR)?).unwrap_or(0);
        let indexed_to = u64::try_from(meta(&tx, key::INDEXED_TO)?).unwrap_or(0);
        // Ids handed out from now on are below the reservation, which is on disk before
        // the first of them: a crash never lets one repeat.
        let reserved = last_id + ID_BLOCK;
        set_meta(&tx, key::ID_FLOOR, int(reserved))?;
        set_meta(&tx, key::CLEAN, 0)?;
        tx.commit()?;
        let resume = Resume {
            last_id,
            last_file_id,
            clean,
        };
        Ok((resume, reserved, indexed_to))
    };
    let (resume, reserved, indexed_to) = setup().map_err(|e| {
        // Damage the check did not look for (it runs after a crash only) may show here.
        if damaged(&e) {
            unusable(&format_args!("it is damaged: {}", Sqlite(&e)))
        } else {
            unwritable(&Sqlite(&e))
        }
    })?;
    Ok(Opened {
        conn,
        resume,
        reserved,
        indexed_to,
    })
}

/// Whether `e` is SQLite finding the file damaged.
fn damaged(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// SQLite's integrity report (a line per problem) as the start of one line.
fn one_line(report: &str) -> String {
    let problems: Vec<&str> = report
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("***"))
        .collect();
    let mut line = problems
        .iter()
        .take(2)
        .copied()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > 2 {
        line.push_str(&format!("; and {} more", problems.len() - 2));
    }
    line
}

/// A read-only connection for queries.
pub(super) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// A value of `meta`; 0 when missing.
pub(super) fn meta(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [name], |r| {
        r.get(0)
    })
    .optional()
    .map(Option::unwrap_or_default)
}

/// Sets a value of `meta`.
pub(super) fn set_meta(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![name, value])?;
    Ok(())
}

/// An SQLite error in words: SQLite's own message ("file is not a database", "database or
/// disk is full"), without Rust's debug formatting.
pub(super) struct Sqlite<'a>(pub(super) &'a rusqlite::Error);

impl std::fmt::Display for Sqlite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            rusqlite::Error::SqliteFailure(e, Some(text)) => {
                // SQLite's text for a few codes is terse; say what it means.
                match e.code {
                    ErrorCode::DiskFull => write!(f, "the disk is full"),
                    ErrorCode::ReadOnly => write!(f, "it is read-only"),
                    ErrorCode::CannotOpen => write!(f, "it cannot be opened: {text}"),
                    _ => f.write_str(text),
                }
            }
            rusqlite::Error::SqliteFailure(e, None) => {
                f.write_str(rusqlite::ffi::code_to_str(e.extended_code))
            }
            other => write!(f, "{other}"),
        }
    }
}
