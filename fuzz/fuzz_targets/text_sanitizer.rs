//! The client's sanitiser for text from the network (`chat_client::sanitize`).
//!
//! For any string, `text` and `nick` give a string with no C0 or C1 control, no DEL, no
//! ESC and no bidi override or isolate; `nick` also shows no invisible character. Text that
//! needs nothing replaced comes back borrowed and unchanged, and sanitising twice changes
//! nothing more than sanitising once. Every character that needs no replacement is kept,
//! in order.

#![no_main]

use std::borrow::Cow;

use chat_client::sanitize;
use libfuzzer_sys::fuzz_target;
// The characters that the module promises to show in nicks.
use shared::names::is_invisible;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    check(&input, sanitize::text, false);
    check(&input, sanitize::nick, true);
});

fn check(input: &str, clean: fn(&str) -> Cow<'_, str>, is_nick: bool) {
    let out = clean(input);
    for c in out.chars() {
        assert!(!c.is_control(), "control {c:?} in {out:?}");
        assert!(!is_bidi_control(c), "bidi control {c:?} in {out:?}");
        if is_nick {
            assert!(!is_invisible(c), "invisible {c:?} in nick {out:?}");
        }
    }
    let unsafe_char =
        |c: char| c.is_control() || is_bidi_control(c) || (is_nick && is_invisible(c));
    if !input.chars().any(unsafe_char) {
        assert!(matches!(out, Cow::Borrowed(_)), "safe input was copied");
        assert_eq!(out, input);
    }
    // Idempotent: the output is safe, so it comes back as it is.
    let twice = clean(&out);
    assert!(
        matches!(twice, Cow::Borrowed(_)),
        "sanitised text changed again"
    );
    assert_eq!(twice, out);
    // Nothing safe is lost: the safe characters of the input appear in the output in order.
    let mut rest = out.chars();
    for c in input.chars().filter(|&c| !unsafe_char(c)) {
        assert!(rest.any(|o| o == c), "{c:?} lost from {input:?}: {out:?}");
    }
}

/// Characters that change the direction of the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
