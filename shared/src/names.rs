//! Nicks and room names: which are allowed, when two are the same, and in which order they
//! are listed. The server applies these rules when it accepts a name; the client when it
//! sorts the members of its room and shows their nicks.
//!
//! A name is shown to every member and compared by people, so it must be something a person
//! can see and type. Refused ([`check_nick`], [`check_room`]):
//!
//! - control characters (they would reach terminals) and whitespace (a nick is one word in
//!   `/msg bob hi`);
//! - characters that draw nothing or change how their neighbours draw ([`is_invisible`]):
//!   `bob` followed by a zero-width space would pass for `bob`;
//! - other formatting characters, and characters whose look nobody can know: noncharacters,
//!   code points not assigned in the Unicode version this program knows (a later version
//!   may make them invisible), and private-use characters (every font draws its own);
//! - a name with no visible base character: combining marks alone have nothing to sit on,
//!   and display as nothing at all.
//!
//! Two names are the same name when they are equal ignoring case ([`fold`]: `Bob` and
//! `bob`) or when they look alike ([`look_alike_key`]: `bob` with a Cyrillic `о`, a Greek
//! `ο`, in fullwidth letters, or `biII` for `bill`). Nicks and rooms alike: a nick is taken
//! while a nick that is the same is connected, and a room name that is the same as an
//! existing room's name leads into that room. The spelling a name was first given with is
//! kept for display.
//!
//! Members are listed in one order ([`cmp_members`]): by their folded nick, then as
//! spelled, so the server's lists and the client's own insertions agree.

use std::cmp::Ordering;
use std::fmt;

use icu_casemap::CaseMapper;
use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory, NoncharacterCodePoint};
use icu_properties::{CodePointMapData, CodePointSetData};
use unicode_normalization::UnicodeNormalization;
use unicode_security::confusable_detection::skeleton;

use crate::limits::{MAX_NICK_CHARS, MAX_ROOM_CHARS};

/// Why a name was refused. The text is shown to the user as is, after "the nick" or "the
/// room name".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name has more than `max` characters.
    TooLong { max: usize },
    /// The name holds a character that is not allowed, for the reason given.
    Forbidden(char, Forbidden),
    /// Every character of the name is a combining mark: it displays as nothing.
    NothingVisible,
}

/// What makes a character unfit for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    Control,
    Space,
    Invisible,
    Format,
    Noncharacter,
    Unassigned,
    PrivateUse,
}

impl Forbidden {
    /// Why `c` may not be in a name; `None` if it may.
    pub fn of(c: char) -> Option<Forbidden> {
        // The order matters where classes overlap: noncharacters are unassigned too, most
        // invisible characters are formatting characters.
        if c.is_control() {
            return Some(Forbidden::Control);
        }
        if c.is_whitespace() {
            return Some(Forbidden::Space);
        }
        if CodePointSetData::new::<NoncharacterCodePoint>().contains(c) {
            return Some(Forbidden::Noncharacter);
        }
        if is_invisible(c) {
            return Some(Forbidden::Invisible);
        }
        match general_category(c) {
            GeneralCategory::Unassigned => Some(Forbidden::Unassigned),
            GeneralCategory::PrivateUse => Some(Forbidden::PrivateUse),
            GeneralCategory::Format => Some(Forbidden::Format),
            GeneralCategory::SpaceSeparator
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator => Some(Forbidden::Space),
            _ => None,
        }
    }
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forbidden::Control => "a control character",
            Forbidden::Space => "a space",
            Forbidden::Invisible => "invisible",
            Forbidden::Format => "a formatting character",
            Forbidden::Noncharacter => "a noncharacter, reserved for programs' own use",
            Forbidden::Unassigned => "not a character in the Unicode version this server knows",
            Forbidden::PrivateUse => "a private-use character, which every font draws its own way",
        })
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "is empty"),
            NameError::TooLong { max } => write!(f, "is longer than {max} characters"),
            NameError::Forbidden(c, why) => {
                write!(
                    f,
                    "holds the character U+{:04X}, which is {why}",
                    u32::from(*c)
                )
            }
            NameError::NothingVisible => {
                write!(f, "has only combining marks, which display as nothing")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a nick: 1 to [`MAX_NICK_CHARS`] characters, none of them forbidden, at least one
/// of them visible.
pub fn check_nick(nick: &str) -> Result<(), NameError> {
    check(nick, MAX_NICK_CHARS)
}

/// Checks a room name: the same rule as a nick's, up to [`MAX_ROOM_CHARS`] characters.
pub fn check_room(room: &str) -> Result<(), NameError> {
    check(room, MAX_ROOM_CHARS)
}

fn check(name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((c, why)) = name.chars().find_map(|c| Some((c, Forbidden::of(c)?))) {
        return Err(NameError::Forbidden(c, why));
    }
    // Counted after the character check so that the error names the worse problem.
    if name.chars().count() > max {
        return Err(NameError::TooLong { max });
    }
    if !name.chars().any(is_base) {
        return Err(NameError::NothingVisible);
    }
    Ok(())
}

/// Whether `c`, an allowed character, stands on its own: anything but a combining mark.
pub fn is_base(c: char) -> bool {
    !matches!(
        general_category(c),
        GeneralCategory::NonspacingMark
            | GeneralCategory::SpacingMark
            | GeneralCategory::EnclosingMark
    )
}

fn general_category(c: char) -> GeneralCategory {
    CodePointMapData::<GeneralCategory>::new().get(c)
}

/// Characters that draw nothing, or that only change how the characters around them draw
/// (joiners, bidi controls, variation selectors, tags): Unicode's
/// Default_Ignorable_Code_Point set, plus the characters that are blank without being
/// whitespace or ignorable (the blank braille pattern, the interlinear annotation
/// controls) and the line and paragraph separators. The client shows them as code points
/// in nicks; file names lose them.
pub fn is_invisible(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{2800}' | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// The key under which names are compared ignoring case: Unicode's simple case folding,
/// character by character (`Bob` and `bOB`, `ΟΔΥΣΣΕΥΣ` and `οδυσσευς`). [`cmp_members`]
/// orders names as their folds do.
pub fn fold(name: &str) -> String {
    folded(name).collect()
}

fn folded(name: &str) -> impl Iterator<Item = char> + '_ {
    let case = CaseMapper::new();
    name.chars().map(move |c| case.simple_fold(c))
}

/// The key under which names are compared for look-alikes: two names whose keys are equal
/// pass for each other on a screen.
///
/// Every character is replaced by its prototype from Unicode's table of confusables (the
/// "skeleton" of Unicode Technical Standard #39, which maps Cyrillic `о` and Greek `ο` to
/// Latin `o`, `1` and `I` to `l`, `rn` to `m`, ...), compatibility forms are folded (NFKC:
/// fullwidth `ｂｏｂ` is `bob`, `ﬁ` is `fi`, which the table does not all cover), the
/// result is looked up in the table again, and case is folded last. The table comes first
/// because NFKC would turn some look-alikes into letters that look like something else
/// (the lunate sigma `ϲ`, a `c` to the eye, into a final sigma). Case is folded last
/// because the table tells a capital `I` (like `l`) from a small `i`; that is also why it
/// is a second key beside [`fold`] rather than a replacement (`BILL` and `bill` have
/// different keys). The IRC server ergo does the same, for the same reason.
///
/// A round of this can turn up a character that is itself a look-alike (`%` has the
/// prototype `°/₀`, whose `₀` is a `0`, like an `O`), so rounds are repeated until the key
/// stands still: the key of a key is itself.
///
/// # Examples
///
/// ```
/// use shared::names::look_alike_key;
///
/// assert_eq!(look_alike_key("bob"), look_alike_key("b\u{043E}b")); // Cyrillic о
/// assert_eq!(look_alike_key("bob"), look_alike_key("\u{FF42}\u{FF4F}\u{FF42}")); // fullwidth
/// assert_eq!(look_alike_key("bill"), look_alike_key("biII"));
/// assert_ne!(look_alike_key("bob"), look_alike_key("rob"));
/// ```
pub fn look_alike_key(name: &str) -> String {
    let mut key = look_alike_round(name);
    // Two rounds settle every name the tests have found; the bound only keeps the cost of
    // a pathological name fixed.
    for _ in 0..MAX_LOOK_ALIKE_ROUNDS {
        let next = look_alike_round(&key);
        if next == key {
            break;
        }
        key = next;
    }
    key
}

/// Most rounds of [`look_alike_key`] after the first.
const MAX_LOOK_ALIKE_ROUNDS: usize = 4;

fn look_alike_round(name: &str) -> String {
    let prototypes: String = skeleton(name).collect();
    let compatible: String = prototypes.nfkc().collect();
    let prototypes: String = skeleton(&compatible).collect();
    fold(&prototypes)
}

/// Whether `a` and `b` are the same name: equal ignoring case, or alike to the eye.
pub fn same_name(a: &str, b: &str) -> bool {
    NameKeys::of(a).same(&NameKeys::of(b))
}

/// Both keys of a name, made once, for a name compared with many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameKeys {
    /// [`fold`] of the name.
    pub fold: String,
    /// [`look_alike_key`] of the name.
    pub look: String,
}

impl NameKeys {
    pub fn of(name: &str) -> Self {
        Self {
            fold: fold(name),
            look: look_alike_key(name),
        }
    }

    /// Whether the two names are the same name ([`same_name`]).
    pub fn same(&self, other: &NameKeys) -> bool {
        self.fold == other.fold || self.look == other.look
    }
}

/// The order of a member list: by folded nick ([`fold`]), then, for nicks whose folds are
/// equal, as spelled (which cannot happen among connected members, whose folds differ, but
/// makes the order total). Compares without building the folds.
pub fn cmp_members(a: &str, b: &str) -> Ordering {
    folded(a).cmp(folded(b)).then_with(|| a.cmp(b))
}

/// Puts `nick` into `members`, a list in [`cmp_members`] order, at its place; a nick
/// already there is not added twice.
pub fn insert_member(members: &mut Vec<String>, nick: String) {
    if let Err(at) = members.binary_search_by(|m| cmp_members(m, &nick)) {
        members.insert(at, nick);
    }
}

#[cfg(test)]
mod tests;
