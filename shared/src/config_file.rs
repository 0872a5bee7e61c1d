//! Reading a TOML configuration file into a settings struct, with errors a person can act
//! on: one line that names the file, and the key or the line at fault.
//!
//! Both programs read their settings this way (`server.toml`, `client.toml`). A file is a
//! flat table of `key = value` lines; the keys are the fields of the settings struct, which
//! must be a `#[derive(Deserialize)]` struct with `#[serde(deny_unknown_fields)]` whose
//! fields are all `Option`s, so that a key left out is simply not set.
//!
//! # Examples
//!
//! ```
//! use serde::Deserialize;
//! use shared::config_file::parse;
//!
//! #[derive(Debug, Default, PartialEq, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Settings {
//!     room: Option<String>,
//!     bell: Option<bool>,
//! }
//!
//! let settings: Settings = parse("room = \"lobby\"\n").unwrap();
//! assert_eq!(settings, Settings { room: Some("lobby".into()), bell: None });
//!
//! let error = parse::<Settings>("bell = \"yes\"\n").unwrap_err();
//! assert_eq!(error.to_string(), r#"key "bell": invalid type: string "yes", expected a boolean"#);
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeOwned, Visitor};

/// Largest configuration file read, in bytes. A settings file is a few dozen lines; a path
/// that names something else (a disk image, `/dev/zero`) is refused instead of read whole.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// What is wrong with the text of a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The text is not TOML. Line and column count from 1; the column in characters.
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// `key` is not a setting, or its value is not one the setting takes.
    Key { key: String, message: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax {
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: {message}"),
            Self::Key { key, message } => write!(f, "key \"{key}\": {message}"),
        }
    }
}

impl std::error::Error for Problem {}

/// A configuration file that could not be used.
#[derive(Debug)]
pub enum FileError {
    /// The file could not be read (missing, unreadable, too large, not UTF-8).
    Read { path: PathBuf, error: io::Error },
    /// The file was read, and its contents are wrong.
    Invalid { path: PathBuf, problem: Problem },
}

impl FileError {
    /// Whether the file does not exist, which is no error where the file is optional.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Read { error, .. } if error.kind() == io::ErrorKind::NotFound)
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            Self::Invalid { path, problem } => write!(f, "error in {}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for FileError {}

/// Reads the settings in the file at `path`.
///
/// # Errors
///
/// [`FileError::Read`] if the file cannot be read, or is larger than
/// [`MAX_CONFIG_FILE_BYTES`]; [`FileError::Invalid`] if its contents are not TOML, hold a
/// key that is not a field of `T`, or a value the field does not take.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let read_error = |error| FileError::Read {
        path: path.to_owned(),
        error,
    };
    let text = read_bounded(path).map_err(read_error)?;
    parse(&text).map_err(|problem| FileError::Invalid {
        path: path.to_owned(),
        problem,
    })
}

fn read_bounded(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(io::Error::other(format!(
            "larger than {} KiB, too large for a configuration file",
            MAX_CONFIG_FILE_BYTES / 1024
        )));
    }
    Ok(text)
}

/// Parses the text of a settings file.
///
/// Each key is checked on its own, so that an error names the key it is about: first
/// whether `T` has such a field, then whether the field takes the value.
///
/// # Errors
///
/// The first problem found: a syntax error with its line and column, else the first key
/// (in alphabetical order) that is unknown or has a value its field does not take.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, Problem> {
    let table: toml::Table = text.parse().map_err(|e| syntax(text, &e))?;
    let known = field_names::<T>();
    for (key, value) in &table {
        if !known.contains(&key.as_str()) {
            return Err(Problem::Key {
                key: key.clone(),
                message: unknown_key(key, known),
            });
        }
        let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = alone.try_into::<T>() {
            return Err(Problem::Key {
                key: key.clone(),
                message: e.message().to_owned(),
            });
        }
    }
    // Every key was taken on its own, so together they are too; an error here would be
    // a settings struct that does not follow the rules of this module.
    table.try_into().map_err(|e| Problem::Key {
        key: String::new(),
        message: e.message().to_owned(),
    })
}

/// `path` with a leading `~` (alone or before a `/`) replaced by `home`, as a shell does
/// for a flag: a file is not read by a shell, and `~/Downloads` should mean the same there.
/// Without a home directory the path stays as written.
///
/// # Examples
///
/// ```
/// use std::path::{Path, PathBuf};
/// use shared::config_file::expand_home;
///
/// let home = Some(Path::new("/home/ann"));
/// assert_eq!(expand_home("~/in".into(), home), PathBuf::from("/home/ann/in"));
/// assert_eq!(expand_home("~bob/in".into(), home), PathBuf::from("~bob/in"));
/// assert_eq!(expand_home("in/~".into(), home), PathBuf::from("in/~"));
/// ```
pub fn expand_home(path: PathBuf, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path,
    }
}

/// The message for an unknown key, with a hint where the key is a known one written with
/// dashes (as on the command line) instead of underscores.
fn unknown_key(key: &str, known: &[&str]) -> String {
    let underscored = key.replace('-', "_");
    if underscored != key && known.contains(&underscored.as_str()) {
        format!("unknown key (keys are written with underscores: {underscored})")
    } else {
        "unknown key".to_owned()
    }
}

fn syntax(text: &str, error: &toml::de::Error) -> Problem {
    let offset = error.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Problem::Syntax {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        // toml's own message can span lines (a list of what it expected); keep one.
        message: error
            .message()
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
    }
}

/// The field names of `T`, as its derived `Deserialize` implementation lists them.
///
/// serde's derive passes the list of a struct's fields to `deserialize_struct`; this asks
/// for a `T` from a deserializer that only takes that list and gives up.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(FieldProbe) {
        Err(ProbeEnd::Fields(fields)) => fields,
        _ => &[],
    }
}

/// A deserializer that answers `deserialize_struct` with the fields it is asked for.
struct FieldProbe;

#[derive(Debug)]
enum ProbeEnd {
    Fields(&'static [&'static str]),
    NotAStruct,
}

impl fmt::Display for ProbeEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("only the list of fields was asked for")
    }
}

impl std::error::Error for ProbeEnd {}

impl de::Error for ProbeEnd {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Self::NotAStruct
    }
}

impl<'de> de::Deserializer<'de> for FieldProbe {
    type Error = ProbeEnd;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeEnd> {
        Err(ProbeEnd::NotAStruct)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, ProbeEnd> {
        Err(ProbeEnd::Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        max_rooms: Option<u32>,
        name: Option<String>,
        loud: Option<bool>,
    }

    fn problem(text: &str) -> String {
        parse::<Sample>(text).unwrap_err().to_string()
    }

    #[test]
    fn fields_are_listed() {
        assert_eq!(field_names::<Sample>(), ["max_rooms", "name", "loud"]);
    }

    #[test]
    fn a_file_sets_what_it_names() {
        assert_eq!(parse::<Sample>(""), Ok(Sample::default()));
        assert_eq!(
            parse::<Sample>("# comment\nmax_rooms = 5 # more\nloud = false\n"),
            Ok(Sample {
                max_rooms: Some(5),
                name: None,
                loud: Some(false)
            })
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        assert_eq!(problem("colour = 1"), r#"key "colour": unknown key"#);
        assert_eq!(
            problem("max-rooms = 1"),
            r#"key "max-rooms": unknown key (keys are written with underscores: max_rooms)"#
        );
        assert_eq!(
            problem("[name]\nx = 1"),
            r#"key "name": invalid type: map, expected a string"#
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            problem("max_rooms = \"ten\""),
            r#"key "max_rooms": invalid type: string "ten", expected u32"#
        );
        assert_eq!(
            problem("max_rooms = -1"),
            r#"key "max_rooms": invalid value: integer `-1`, expected u32"#
        );
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let text = "name = \"ann\"\nmax_rooms = = 3\n";
        let Err(Problem::Syntax {
            line,
            column,
            message,
        }) = parse::<Sample>(text)
        else {
            panic!("not a syntax error");
        };
        assert_eq!((line, column), (2, 13), "{message}");
        assert!(!message.is_empty() && !message.contains('\n'));
        let Err(Problem::Syntax { line, .. }) = parse::<Sample>("name = 1\nname = 2\n") else {
            panic!("a key twice is a syntax error");
        };
        assert_eq!(line, 2);
    }

    #[test]
    fn files_are_read_and_errors_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        std::fs::write(&path, "name = \"x\"\nloud = 3\n").unwrap();
        let error = read::<Sample>(&path).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "error in {}: key \"loud\": invalid type: integer `3`, expected a boolean",
                path.display()
            )
        );
        assert!(!error.is_not_found());
        let missing = read::<Sample>(&dir.path().join("missing.toml")).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }
}
