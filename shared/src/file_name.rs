//! Turning a file name sent by a client into one that is safe to show and to save.
//!
//! The name is only metadata: the server stores files under ids it chooses, so a name can
//! never reach a path on the server. Clients save downloads under the cleaned name, so it
//! must be a plain basename that cannot climb out of a download folder, and it is shown
//! in terminals, so it must not carry escape sequences or characters that hide or reorder
//! text (a right-to-left override turns `txt.exe` into what reads as `exe.txt`).
//!
//! The server cleans every name it is sent; the client cleans every name it is offered
//! again before it saves a download, with the same rule.

use crate::limits::MAX_FILE_NAME_BYTES;
use crate::names::is_invisible;
use crate::text::cut;

/// The name used when nothing is left of the one given.
pub const FALLBACK_NAME: &str = "file";

/// Longest extension kept whole when a long name is shortened, in bytes (dot included).
const MAX_KEPT_EXTENSION_BYTES: usize = 32;

/// Cleans a file name sent by a client.
///
/// In this order: terminal escape sequences are removed; only what follows the last `/` or
/// `\` is kept; control, invisible and direction-changing characters are removed; spaces
/// and dots at either end are trimmed (a trailing dot or space is dropped by some file
/// systems, a leading one hides the file); an empty result becomes [`FALLBACK_NAME`];
/// finally the name is cut to [`MAX_FILE_NAME_BYTES`] on a character boundary, keeping
/// the extension when it is short.
///
/// Cleaning a cleaned name changes nothing.
pub fn clean_file_name(raw: &str) -> String {
    let without_escapes = strip_escapes(raw);
    let base = without_escapes
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let visible: String = base
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible(c))
        .collect();
    let trimmed = visible.trim_matches(|c: char| c.is_whitespace() || c == '.');
    if trimmed.is_empty() {
        return FALLBACK_NAME.to_owned();
    }
    shorten(trimmed, MAX_FILE_NAME_BYTES)
}

/// Removes ANSI escape sequences: CSI (`ESC [` or U+009B, up to a final byte `@`..`~`),
/// OSC, DCS, SOS, PM and APC strings (up to BEL or `ESC \`), and two-character escapes.
/// A lone `ESC` at the end is dropped; the control-character filter removes the rest.
fn strip_escapes(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        let introducer = match c {
            '\u{1b}' => chars.next(),
            '\u{9b}' => Some('['),
            '\u{9d}' => Some(']'),
            _ => {
                out.push(c);
                continue;
            }
        };
        match introducer {
            // CSI: parameter and intermediate bytes, then one final byte.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // String sequences end at BEL or at the string terminator ESC \.
            Some(']' | 'P' | 'X' | '^' | '_') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || c == '\u{9c}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        if chars.peek() == Some(&'\\') {
                            chars.next();
                        }
                        break;
                    }
                }
            }
            // Any other escape is ESC and one character.
            _ => {}
        }
    }
    out
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping a short extension
/// (one that leaves room for some of the name before it).
pub fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let extension = name
        .rfind('.')
        .map(|dot| name.len() - dot)
        .filter(|&len| len < name.len() && len <= MAX_KEPT_EXTENSION_BYTES && len < max)
        .map_or("", |len| &name[name.len() - len..]);
    let stem = &name[..name.len() - extension.len()];
    let stem = cut(stem, max - extension.len());
    // A stem cut down to dots or spaces would make a hidden or blank name.
    let stem = stem.trim_end_matches(|c: char| c.is_whitespace() || c == '.');
    if stem.is_empty() {
        return cut(name, max)
            .trim_end_matches(|c: char| c.is_whitespace() || c == '.')
            .to_owned();
    }
    format!("{stem}{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_names_are_kept() {
        for name in [
            "report.pdf",
            "日本語のファイル.txt",
            "🦀 notes.md",
            "a",
            "my file (2).tar.gz",
            "名前 📄.txt",
        ] {
            assert_eq!(clean_file_name(name), name);
        }
    }

    #[test]
    fn paths_keep_only_the_basename() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("/etc/shadow"), "shadow");
        assert_eq!(clean_file_name("..\\..\\windows\\system.ini"), "system.ini");
        assert_eq!(clean_file_name("dir/sub\\mixed/name.txt"), "name.txt");
        assert_eq!(clean_file_name("trailing/"), FALLBACK_NAME);
    }

    #[test]
    fn dots_and_empty_names_fall_back() {
        for name in [
            "", ".", "..", "...", "/", "\\", "../..", " ", " . ", "\u{202e}",
        ] {
            assert_eq!(clean_file_name(name), FALLBACK_NAME, "{name:?}");
        }
        assert_eq!(clean_file_name(".bashrc"), "bashrc");
        assert_eq!(clean_file_name("name."), "name");
    }

    #[test]
    fn control_characters_and_escape_sequences_are_removed() {
        assert_eq!(
            clean_file_name("a\nb\tc\u{7}d\u{0}e\u{7f}f.txt"),
            "abcdef.txt"
        );
        assert_eq!(clean_file_name("\u{1b}[31mred\u{1b}[0m.txt"), "red.txt");
        assert_eq!(clean_file_name("\u{1b}[2J\u{1b}[Hclear.txt"), "clear.txt");
        assert_eq!(
            clean_file_name("\u{1b}]8;;http://x/y\u{1b}\\link\u{1b}]8;;\u{1b}\\.txt"),
            "link.txt"
        );
        assert_eq!(clean_file_name("\u{1b}]0;title\u{7}t.txt"), "t.txt");
        assert_eq!(clean_file_name("\u{9b}1mbold.txt"), "bold.txt");
        assert_eq!(clean_file_name("esc at end\u{1b}"), "esc at end");
        // U+009B opens a control sequence, which `z` ends.
        assert_eq!(clean_file_name("x\u{200b}y\u{9b}z\n"), "xy");
        assert_eq!(clean_file_name("\x00\x07"), FALLBACK_NAME);
    }

    #[test]
    fn invisible_and_direction_changing_characters_are_removed() {
        // "evil\u{202e}txt.exe" displays as "evilexe.txt".
        assert_eq!(clean_file_name("evil\u{202e}txt.exe"), "eviltxt.exe");
        assert_eq!(
            clean_file_name("a\u{200b}b\u{2066}c\u{2069}\u{feff}.txt"),
            "abc.txt"
        );
        // A letter that draws nothing (found by the file_name fuzz target).
        assert_eq!(clean_file_name("\u{ffa0}3"), "3");
    }

    /// A limit shorter than the extension cuts the whole name (it used to subtract the
    /// extension's length from the limit, below zero).
    #[test]
    fn a_limit_shorter_than_the_extension_cuts_the_whole_name() {
        assert_eq!(shorten("report.pdf", 3), "rep");
        assert_eq!(shorten("report.pdf", 4), "repo");
        assert_eq!(shorten("report.pdf", 5), "r.pdf");
        assert_eq!(shorten("report.pdf", 0), "");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary_keeping_the_extension() {
        let long = format!("{}.pdf", "é".repeat(300));
        let cleaned = clean_file_name(&long);
        assert!(cleaned.len() <= MAX_FILE_NAME_BYTES);
        assert!(cleaned.ends_with(".pdf"), "{cleaned}");
        assert!(cleaned.starts_with("éé"));
        let no_extension = "🦀".repeat(100);
        let cleaned = clean_file_name(&no_extension);
        assert_eq!(cleaned.len(), 252, "63 crabs of 4 bytes");
        // An extension too long to be one is cut like the rest.
        let odd = format!("a.{}", "b".repeat(400));
        assert_eq!(clean_file_name(&odd).len(), MAX_FILE_NAME_BYTES);
    }

    proptest! {
        #[test]
        fn cleaned_names_are_safe(raw in any::<String>()) {
            let cleaned = clean_file_name(&raw);
            prop_assert!(!cleaned.is_empty());
            prop_assert!(cleaned.len() <= MAX_FILE_NAME_BYTES);
            prop_assert!(cleaned != "." && cleaned != "..");
            prop_assert!(!cleaned.contains(['/', '\\']));
            prop_assert!(!cleaned.chars().any(|c| c.is_control() || is_invisible(c)));
            prop_assert!(!cleaned.starts_with('.') && !cleaned.ends_with('.'));
            prop_assert!(!cleaned.starts_with(char::is_whitespace));
            prop_assert!(!cleaned.ends_with(char::is_whitespace));
            prop_assert_eq!(clean_file_name(&cleaned), cleaned);
        }

        #[test]
        fn plain_names_are_kept(raw in "[A-Za-z0-9_-]([A-Za-z0-9_ -]{0,60}[A-Za-z0-9_-])?(\\.[a-z0-9]{1,8}){0,2}") {
            prop_assert_eq!(clean_file_name(&raw), raw);
        }

        #[test]
        fn long_names_keep_a_short_extension(
            stem in "[a-zé🦀 ]{1,300}",
            extension in "[a-z0-9]{1,8}",
        ) {
            let raw = format!("x{stem}.{extension}");
            let cleaned = clean_file_name(&raw);
            prop_assert!(cleaned.len() <= MAX_FILE_NAME_BYTES);
            let dot_extension = format!(".{extension}");
            prop_assert!(cleaned.ends_with(&dot_extension), "{:?}", cleaned);
            prop_assert!(cleaned.starts_with('x'));
        }

        #[test]
        fn names_made_of_risky_pieces_are_safe(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just("../"), Just(".."), Just("/"), Just("\\"), Just("\u{1b}["),
                    Just("\u{1b}]"), Just("\u{7}"), Just("\u{202e}"), Just("\u{200b}"),
                    Just("."), Just(" "), Just("a"), Just("é"), Just("🦀"), Just("m"),
                ],
                0..120,
            )
        ) {
            let raw: String = pieces.concat();
            let cleaned = clean_file_name(&raw);
            prop_assert!(cleaned.len() <= MAX_FILE_NAME_BYTES);
            prop_assert!(!cleaned.contains(['/', '\\', '\x1b']));
            prop_assert!(cleaned != "." && cleaned != "..");
            prop_assert_eq!(clean_file_name(&cleaned), cleaned);
        }
    }
}
