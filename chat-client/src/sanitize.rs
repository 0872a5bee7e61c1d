//! Text from the network made harmless before it reaches the terminal.
//!
//! Every peer is untrusted: a message could carry escape sequences that clear the screen,
//! move the cursor, retitle the window or write to the clipboard (OSC 52). Rather than parse
//! and strip sequences (a parser that disagrees with the terminal's is itself a hole), every
//! control character is replaced by a visible stand-in. Without its ESC, `ESC[2J` is the
//! harmless text `␛[2J`, and the reader can see that someone sent control codes.
//!
//! - C0 controls and DEL become their Unicode "control pictures" (`␛`, `␇`, `␍`, `␈`, ...).
//! - 8-bit C1 controls (U+0080..U+009F, CSI and OSC among them) become `<U+009B>`.
//! - Bidi overrides and isolates, which can make a line read backwards, become `<U+202E>`.
//! - In nicks, invisible characters (zero-width space, joiners, variation selectors, BOM,
//!   ...) are shown too, so that two nicks that look alike can be told apart.

use std::borrow::Cow;
use std::fmt::Write as _;

// Characters that draw nothing: the same set the server refuses in nicks and file names.
use shared::names::is_invisible;

/// Makes message text safe to draw. Tabs become a space; everything else that a terminal
/// would interpret is replaced by something visible. Emoji joiners and variation selectors
/// are kept: they are part of how emoji are written.
pub fn text(s: &str) -> Cow<'_, str> {
    clean(s, false)
}

/// Makes a nick (or a room name) safe to draw, and shows invisible characters in it.
pub fn nick(s: &str) -> Cow<'_, str> {
    clean(s, true)
}

fn clean(s: &str, show_invisible: bool) -> Cow<'_, str> {
    let needs = |c: char| replacement(c).is_some() || (show_invisible && is_invisible(c));
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if let Some(r) = replacement(c) {
            r.push_to(&mut out, c);
        } else if show_invisible && is_invisible(c) {
            Replacement::CodePoint.push_to(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[derive(Clone, Copy)]
enum Replacement {
    Space,
    Picture,
    CodePoint,
}

impl Replacement {
    fn push_to(self, out: &mut String, c: char) {
        match self {
            Replacement::Space => out.push(' '),
            Replacement::Picture => out.push(control_picture(c)),
            Replacement::CodePoint => {
                let _ = write!(out, "<U+{:04X}>", u32::from(c));
            }
        }
    }
}

/// Whether a terminal could act on `c` instead of drawing it: what [`text`] replaces (C0
/// and C1 controls, DEL, bidi controls, and tab). For output that escapes rather than
/// replaces, such as JSON.
pub fn is_unsafe(c: char) -> bool {
    replacement(c).is_some()
}

/// One JSON object on one line, its keys in the order given (scripts and people reading
/// the output find them where they expect), made safe to print by [`json`].
pub fn json_object(fields: &[(&str, serde_json::Value)]) -> String {
    let mut line = String::from("{");
    for (n, (key, value)) in fields.iter().enumerate() {
        if n > 0 {
            line.push(',');
        }
        // `Value` and `str` print as JSON; the key through serde_json too, so it is quoted
        // and escaped whatever it holds.
        let _ = write!(line, "{}:{value}", serde_json::Value::from(*key));
    }
    line.push('}');
    json(line)
}

/// Escapes in a JSON document what a terminal could act on and JSON leaves as it is (DEL,
/// C1 controls, bidi controls), so that printing the document is safe too. Outside ASCII
/// and DEL, such characters can only stand inside a JSON string, where `\uXXXX` means the
/// same character, so the document's value is unchanged.
pub fn json(json: String) -> String {
    if !json.chars().any(is_unsafe) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            // Every such character is in the Basic Multilingual Plane: four digits.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// How `c` must be replaced in any text, if at all.
fn replacement(c: char) -> Option<Replacement> {
    match c {
        '\t' => Some(Replacement::Space),
        '\0'..='\x1f' | '\x7f' => Some(Replacement::Picture),
        '\u{80}'..='\u{9f}' => Some(Replacement::CodePoint),
        c if is_bidi_control(c) => Some(Replacement::CodePoint),
        _ => None,
    }
}

/// The Unicode control picture of a C0 control or DEL (U+2400 block).
fn control_picture(c: char) -> char {
    match c {
        '\x7f' => '\u{2421}',
        c => char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'),
    }
}

/// Characters that change the direction of the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(text("hello 你好 👋"), Cow::Borrowed(_)));
        assert!(matches!(nick("alice"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escapes_what_a_terminal_would_act_on() {
        let doc = "{\"t\":\"a\u{7f}b\u{9b}c\u{202e}d 你好\"}".to_owned();
        assert_eq!(json(doc), r#"{"t":"a\u007fb\u009bc\u202ed 你好"}"#);
        let plain = r#"{"t":"\u001b[2J"}"#.to_owned();
        assert_eq!(json(plain.clone()), plain);
    }

    #[test]
    fn csi_loses_its_escape() {
        assert_eq!(text("a\x1b[2Jb"), "a\u{241b}[2Jb");
        assert!(!text("\x1b[31mred\x1b[0m").contains('\x1b'));
    }

    #[test]
    fn osc_and_bel_are_visible() {
        assert_eq!(text("\x1b]0;pwned\x07"), "\u{241b}]0;pwned\u{2407}");
    }

    #[test]
    fn carriage_return_backspace_and_del() {
        assert_eq!(text("ok\rno\x08\x7f"), "ok\u{240d}no\u{2408}\u{2421}");
    }

    #[test]
    fn c1_controls_are_shown_as_code_points() {
        assert_eq!(text("\u{9b}2J"), "<U+009B>2J");
        assert_eq!(text("\u{9d}x"), "<U+009D>x");
    }

    #[test]
    fn tab_and_newline() {
        assert_eq!(text("a\tb"), "a b");
        assert_eq!(text("a\nb"), "a\u{240a}b");
    }

    #[test]
    fn bidi_override_is_visible_everywhere() {
        assert_eq!(text("abc\u{202e}def"), "abc<U+202E>def");
        assert_eq!(nick("evil\u{2067}"), "evil<U+2067>");
    }

    #[test]
    fn emoji_sequences_survive_in_text() {
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(text(family), family);
        assert_eq!(text("❤\u{fe0f}"), "❤\u{fe0f}");
    }

    #[test]
    fn invisible_characters_in_nicks_are_shown() {
        assert_eq!(nick("al\u{200b}ice"), "al<U+200B>ice");
        assert_eq!(nick("\u{feff}bob"), "<U+FEFF>bob");
        assert_eq!(nick("x\u{fe0f}"), "x<U+FE0F>");
    }

    #[test]
    fn no_control_character_ever_survives() {
        let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
        for out in [text(&all), nick(&all)] {
            assert!(!out.chars().any(|c| c.is_control()), "{out:?}");
        }
    }

    /// Whether `c` must not reach the terminal as it is.
    fn is_unsafe(c: char, in_nick: bool) -> bool {
        c.is_control() || is_bidi_control(c) || (in_nick && is_invisible(c))
    }

    /// Strings made mostly of what the sanitiser replaces, mixed with text it keeps.
    fn risky_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("\x1b["),
                Just("\x1b]0;"),
                Just("\x07"),
                Just("\u{9b}"),
                Just("\u{9d}"),
                Just("\r\n\t\x08\x7f\0"),
                Just("\u{202e}"),
                Just("\u{2066}"),
                Just("\u{200b}"),
                Just("\u{200d}"),
                Just("\u{fe0f}"),
                Just("\u{e0041}"),
                Just("<U+"),
                Just("\u{241b}"),
                Just("a"),
                Just("你好"),
                Just("👩"),
            ],
            0..40,
        )
        .prop_map(|pieces| pieces.concat())
    }

    fn check_sanitised(input: &str) -> Result<(), TestCaseError> {
        for (clean, in_nick) in [(text as fn(&str) -> Cow<'_, str>, false), (nick, true)] {
            let out = clean(input);
            prop_assert!(!out.chars().any(|c| is_unsafe(c, in_nick)), "{:?}", out);
            // Sanitising what is already safe changes nothing and copies nothing.
            let twice = clean(&out);
            prop_assert!(matches!(twice, Cow::Borrowed(_)));
            prop_assert_eq!(&twice, &out);
            if !input.chars().any(|c| is_unsafe(c, in_nick)) {
                prop_assert!(matches!(out, Cow::Borrowed(_)));
            }
            // Every safe character of the input is kept, in order.
            let mut rest = out.chars();
            for c in input.chars().filter(|&c| !is_unsafe(c, in_nick)) {
                prop_assert!(rest.any(|o| o == c), "{:?} lost from {:?}", c, input);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_text_comes_out_safe_and_stays_put(input in any::<String>()) {
            check_sanitised(&input)?;
        }

        #[test]
        fn escape_sequences_and_invisibles_come_out_safe(input in risky_text()) {
            check_sanitised(&input)?;
            prop_assert!(!text(&input).contains('\x1b'));
        }
    }
}
