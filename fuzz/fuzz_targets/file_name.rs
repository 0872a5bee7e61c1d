//! The file-name cleaner that the server and the client apply (`shared::file_name::clean_file_name`).
//!
//! For any string the cleaned name is non-empty, at most `MAX_FILE_NAME_BYTES` long, has
//! no `/` or `\`, is not `.` or `..`, neither starts nor ends with a dot or whitespace,
//! carries no control character (so no escape sequence) and no bidi control, and cleaning
//! it again changes nothing. A plain ASCII name is kept as it is (not every alphanumeric
//! character is plain: U+FFA0, the halfwidth Hangul filler, is a letter that draws nothing).

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::file_name::clean_file_name;
use shared::limits::MAX_FILE_NAME_BYTES;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let cleaned = clean_file_name(&raw);
    assert!(!cleaned.is_empty());
    assert!(
        cleaned.len() <= MAX_FILE_NAME_BYTES,
        "{} bytes",
        cleaned.len()
    );
    assert!(!cleaned.contains(['/', '\\']), "{cleaned:?}");
    assert!(cleaned != "." && cleaned != "..");
    assert!(
        !cleaned.starts_with(|c: char| c == '.' || c.is_whitespace()),
        "{cleaned:?}"
    );
    assert!(
        !cleaned.ends_with(|c: char| c == '.' || c.is_whitespace()),
        "{cleaned:?}"
    );
    for c in cleaned.chars() {
        assert!(!c.is_control(), "control {c:?} in {cleaned:?}");
        assert!(
            !matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'),
            "bidi control {c:?} in {cleaned:?}"
        );
    }
    assert_eq!(
        clean_file_name(&cleaned),
        cleaned,
        "cleaning is not idempotent"
    );
    if raw.len() <= MAX_FILE_NAME_BYTES
        && !raw.is_empty()
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        assert_eq!(cleaned, raw, "a plain name was changed");
    }
});
