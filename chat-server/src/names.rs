//! Checking nicks and room names, and comparing them.
//!
//! Names are shown to every member and compared by people, so a name must be something a
//! person can see and type: no control characters (they would reach terminals), no
//! whitespace (a nick is one word in `/msg bob hi`), and no invisible or formatting
//! characters (`bob` followed by a zero-width space would pass for `bob`).
//!
//! Names are compared case-insensitively: `Bob` and `bob` are the same nick, `Dev` and
//! `dev` the same room. Nicks are also compared across look-alike characters
//! ([`look_alike_key`]): `bob` with a Cyrillic `о`, a Greek `ο` or in fullwidth letters is
//! taken while `bob` is connected, so nobody can pass for someone else by spelling. The spelling a
//! name was given with is kept for display.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton;

use shared::limits::{MAX_NICK_CHARS, MAX_ROOM_CHARS};

/// Why a name was refused. The text is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name has more than `max` characters.
    TooLong { max: usize },
    /// The name holds a character that is not allowed.
    Forbidden(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "is empty"),
            NameError::TooLong { max } => write!(f, "is longer than {max} characters"),
            NameError::Forbidden(c) => write!(
                f,
                "holds the character U+{:04X}, which is a control, space or invisible character",
                u32::from(*c)
            ),
        }
    }
}

/// Checks a nick: 1 to [`MAX_NICK_CHARS`] characters, none of them forbidden.
pub fn check_nick(nick: &str) -> Result<(), NameError> {
    check(nick, MAX_NICK_CHARS)
}

/// Checks a room name: 1 to [`MAX_ROOM_CHARS`] characters, none of them forbidden.
pub fn check_room(room: &str) -> Result<(), NameError> {
    check(room, MAX_ROOM_CHARS)
}

/// The key under which a room name is compared: two names are the same when their keys
/// are. It ignores case.
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// Orders names as their [`fold`]s do (case-insensitively), without making the folds;
/// names whose folds are equal are ordered as they are spelled. (A Greek capital sigma at
/// the end of a word folds to `ς` in [`fold`], to `σ` here: lists sort it among the σ.)
pub fn cmp_folded(a: &str, b: &str) -> std::cmp::Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
        .then_with(|| a.cmp(b))
}

/// A second key under which nicks are compared, for look-alikes: two nicks whose
/// look-alike keys are equal pass for each other on a screen, and only one of them may be
/// in use ([`fold`] is the first key; a nick is taken if either key is).
///
/// Compatibility forms are folded first (NFKC: fullwidth `ｂｏｂ` is `bob`, `ﬁ` is `fi`),
/// then every character is replaced by its prototype from Unicode's table of confusables
/// (the "skeleton" of Unicode Technical Standard #39, which maps Cyrillic `о` and Greek
/// `ο` to Latin `o`, `1` and `I` to `l`, `rn` to `m`, ...), then case is folded. Case is
/// folded last because the table tells a capital `I` (like `l`) from a small `i`; that is
/// also why it is a second key beside [`fold`] rather than a replacement (`BILL` and `bill`
/// have different skeletons). This is what the IRC server ergo does, for the same reason.
///
/// # Examples
///
/// ```
/// use chat_server::names::look_alike_key;
///
/// assert_eq!(look_alike_key("bob"), look_alike_key("b\u{043E}b")); // Cyrillic о
/// assert_eq!(look_alike_key("bob"), look_alike_key("\u{FF42}\u{FF4F}\u{FF42}")); // fullwidth
/// assert_eq!(look_alike_key("bill"), look_alike_key("biII"));
/// assert_ne!(look_alike_key("bob"), look_alike_key("rob"));
/// ```
pub fn look_alike_key(nick: &str) -> String {
    let compatible: String = nick.nfkc().collect();
    skeleton(&compatible).collect::<String>().to_lowercase()
}

fn check(name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(c) = name.chars().find(|&c| is_forbidden(c)) {
        return Err(NameError::Forbidden(c));
    }
    // Counted after the character check so that the error names the worse problem.
    if name.chars().count() > max {
        return Err(NameError::TooLong { max });
    }
    Ok(())
}

/// Control characters, whitespace, and characters that print as nothing.
fn is_forbidden(c: char) -> bool {
    c.is_control() || c.is_whitespace() || is_invisible(c)
}

/// Characters that render as nothing or as blank space, or that change how their
/// neighbours render, without being `char::is_whitespace`. This is Unicode's
/// Default_Ignorable_Code_Point set plus the fillers that are often used for blank names.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                      // soft hyphen
        | '\u{034F}'                    // combining grapheme joiner
        | '\u{061C}'                    // arabic letter mark
        | '\u{115F}' | '\u{1160}'       // hangul choseong / jungseong fillers
        | '\u{17B4}' | '\u{17B5}'       // khmer inherent vowels
        | '\u{180B}'..='\u{180F}'       // mongolian variation selectors, vowel separator
        | '\u{200B}'..='\u{200F}'       // zero-width space, (non-)joiner, lrm, rlm
        | '\u{2028}'..='\u{202E}'       // line/paragraph separators, bidi embeddings
        | '\u{2060}'..='\u{206F}'       // word joiner, invisible operators, bidi isolates
        | '\u{2800}'                    // braille pattern blank
        | '\u{3164}'                    // hangul filler
        | '\u{FE00}'..='\u{FE0F}'       // variation selectors
        | '\u{FEFF}'                    // zero-width no-break space (BOM)
        | '\u{FFA0}'                    // halfwidth hangul filler
        | '\u{FFF0}'..='\u{FFFB}'       // unassigned specials, interlinear annotations
        | '\u{1BCA0}'..='\u{1BCA3}'     // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}'     // musical symbol formatting
        | '\u{E0000}'..='\u{E0FFF}' // tags, variation selectors supplement
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_as_their_folds_do() {
        let mut names = vec!["bob", "Émile", "alice", "Alice", "émile", "ZOE", "anna"];
        names.sort_unstable_by(|a, b| cmp_folded(a, b));
        assert_eq!(
            names,
            ["Alice", "alice", "anna", "bob", "ZOE", "Émile", "émile"]
        );
        let mut by_fold = names.clone();
        by_fold.sort_by_cached_key(|n| fold(n));
        assert_eq!(names, by_fold);
    }

    #[test]
    fn ordinary_names_pass() {
        for name in ["bob", "Alice_42", "小明", "🦀", "émile", "a-b.c", "x"] {
            assert_eq!(check_nick(name), Ok(()), "{name:?}");
            assert_eq!(check_room(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn empty_is_refused() {
        assert_eq!(check_nick(""), Err(NameError::Empty));
        assert_eq!(check_room(""), Err(NameError::Empty));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let exact = "é".repeat(MAX_NICK_CHARS); // 2 bytes each
        assert_eq!(check_nick(&exact), Ok(()));
        let over = "a".repeat(MAX_NICK_CHARS + 1);
        assert_eq!(
            check_nick(&over),
            Err(NameError::TooLong {
                max: MAX_NICK_CHARS
            })
        );
        let over = "x".repeat(MAX_ROOM_CHARS + 1);
        assert_eq!(
            check_room(&over),
            Err(NameError::TooLong {
                max: MAX_ROOM_CHARS
            })
        );
    }

    #[test]
    fn control_characters_are_refused() {
        for c in ['\0', '\x07', '\x1b', '\x7f', '\u{85}', '\u{9b}'] {
            let name = format!("bo{c}b");
            assert_eq!(check_nick(&name), Err(NameError::Forbidden(c)), "{c:?}");
        }
        // An escape sequence is refused for its ESC.
        assert_eq!(check_room("\x1b[2Jroom"), Err(NameError::Forbidden('\x1b')));
    }

    #[test]
    fn whitespace_is_refused() {
        for c in [
            ' ', '\t', '\n', '\r', '\u{A0}', '\u{2003}', '\u{3000}', '\u{1680}',
        ] {
            let name = format!("a{c}b");
            assert_eq!(check_nick(&name), Err(NameError::Forbidden(c)), "{c:?}");
            assert_eq!(check_room(&name), Err(NameError::Forbidden(c)), "{c:?}");
        }
    }

    #[test]
    fn invisible_and_format_characters_are_refused() {
        let invisible = [
            '\u{00AD}',
            '\u{034F}',
            '\u{061C}',
            '\u{115F}',
            '\u{180E}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202E}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{2069}',
            '\u{2800}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{FEFF}',
            '\u{FFA0}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
            '\u{E0100}',
        ];
        for c in invisible {
            let name = format!("bob{c}");
            assert_eq!(check_nick(&name), Err(NameError::Forbidden(c)), "{c:?}");
            assert_eq!(check_room(&name), Err(NameError::Forbidden(c)), "{c:?}");
        }
    }

    #[test]
    fn a_name_of_only_invisible_characters_is_refused() {
        assert!(check_nick("\u{200B}\u{200B}").is_err());
        assert!(check_nick("\u{3164}").is_err());
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            NameError::Forbidden('\u{200B}').to_string(),
            "holds the character U+200B, which is a control, space or invisible character"
        );
        assert_eq!(
            NameError::TooLong { max: 32 }.to_string(),
            "is longer than 32 characters"
        );
    }

    #[test]
    fn nick_keys_see_through_look_alikes() {
        let same = [
            ("Bob", "B\u{043E}b"),
            ("eve", "\u{0435}ve"),               // Cyrillic е
            ("eve", "\u{0415}VE"),               // Cyrillic Е
            ("oscar", "\u{03BF}scar"),           // Greek omicron
            ("alice", "\u{0430}lice"),           // Cyrillic а
            ("paul", "\u{0440}\u{0430}ul"),      // Cyrillic р, а
            ("bob", "\u{FF42}\u{FF4F}\u{FF42}"), // fullwidth
            ("BOB", "\u{FF22}\u{FF2F}\u{FF22}"), // fullwidth capitals
            ("émile", "e\u{0301}mile"),          // composed or not
            ("bill", "bi11"),
            ("bill", "biII"),
            ("mia", "rnia"),
            ("x", "\u{0445}"), // Cyrillic х
        ];
        for (a, b) in same {
            assert_eq!(look_alike_key(a), look_alike_key(b), "{a:?} and {b:?}");
        }
        let different = [
            ("bob", "bobby"),
            ("bob", "rob"),
            ("alice", "alicia"),
            ("小明", "小朋"),
            ("ann", "anne"),
            ("a1", "a2"),
        ];
        for (a, b) in different {
            assert_ne!(look_alike_key(a), look_alike_key(b), "{a:?} and {b:?}");
        }
    }

    #[test]
    fn fold_ignores_case() {
        assert_eq!(fold("Bob"), fold("bOB"));
        assert_eq!(fold("ÉMILE"), fold("émile"));
        assert_ne!(fold("bob"), fold("bob2"));
    }
}
