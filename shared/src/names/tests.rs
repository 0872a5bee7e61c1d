use super::*;
use proptest::prelude::*;
use proptest::sample::select;

#[test]
fn ordinary_names_pass() {
    for name in [
        "bob",
        "Alice_42",
        "小明",
        "🦀",
        "émile",
        "e\u{0301}mile",
        "a-b.c",
        "x",
        "नमस्ते",
        "❤",
    ] {
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
    for c in ['\0', '\x07', '\x1b', '\x7f', '\u{85}', '\u{9b}', '\t'] {
        let name = format!("bo{c}b");
        assert_eq!(
            check_nick(&name),
            Err(NameError::Forbidden(c, Forbidden::Control)),
            "{c:?}"
        );
    }
    // An escape sequence is refused for its ESC.
    assert_eq!(
        check_room("\x1b[2Jroom"),
        Err(NameError::Forbidden('\x1b', Forbidden::Control))
    );
}

#[test]
fn whitespace_is_refused() {
    for c in [
        ' ', '\n', '\u{A0}', '\u{2003}', '\u{3000}', '\u{1680}', '\u{2028}',
    ] {
        let name = format!("a{c}b");
        let refused = check_nick(&name);
        assert!(
            matches!(refused, Err(NameError::Forbidden(f, _)) if f == c),
            "{c:?}: {refused:?}"
        );
        assert_eq!(check_room(&name), refused);
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
        '\u{2065}',
        '\u{2066}',
        '\u{2069}',
        '\u{2800}',
        '\u{3164}',
        '\u{FE0F}',
        '\u{FEFF}',
        '\u{FFA0}',
        '\u{1D173}',
        '\u{E0001}',
        '\u{E0041}',
        '\u{E007F}',
        '\u{E0100}',
    ];
    for c in invisible {
        let name = format!("bob{c}");
        assert_eq!(
            check_nick(&name),
            Err(NameError::Forbidden(c, Forbidden::Invisible)),
            "{c:?}"
        );
        assert_eq!(check_room(&name), check_nick(&name), "{c:?}");
    }
    // Formatting characters that do draw something are refused all the same.
    assert_eq!(
        check_nick("\u{0600}1"),
        Err(NameError::Forbidden('\u{0600}', Forbidden::Format))
    );
}

#[test]
fn what_nobody_can_know_the_look_of_is_refused() {
    for (c, why) in [
        ('\u{FDD0}', Forbidden::Noncharacter),
        ('\u{FFFE}', Forbidden::Noncharacter),
        ('\u{10FFFF}', Forbidden::Noncharacter),
        ('\u{0378}', Forbidden::Unassigned),
        ('\u{50000}', Forbidden::Unassigned),
        ('\u{E000}', Forbidden::PrivateUse),
        ('\u{F8FF}', Forbidden::PrivateUse),
        ('\u{100000}', Forbidden::PrivateUse),
    ] {
        let name = format!("bob{c}");
        assert_eq!(
            check_nick(&name),
            Err(NameError::Forbidden(c, why)),
            "{c:?}"
        );
        assert_eq!(
            check_room(&name),
            Err(NameError::Forbidden(c, why)),
            "{c:?}"
        );
    }
}

/// docs/PROTOCOL.md names the Unicode version whose assigned characters are allowed.
#[test]
fn the_unicode_version_known_is_17() {
    // U+20C1 SAUDI RIYAL SIGN, new in Unicode 17.0.
    assert_eq!(check_nick("\u{20C1}1"), Ok(()));
}

#[test]
fn names_of_nothing_visible_are_refused() {
    assert!(check_nick("\u{200B}\u{200B}").is_err());
    assert!(check_nick("\u{3164}").is_err());
    for marks in [
        "\u{0301}",
        "\u{0301}\u{0300}\u{0308}",
        "\u{20DD}",
        "\u{093F}",
    ] {
        assert_eq!(
            check_nick(marks),
            Err(NameError::NothingVisible),
            "{marks:?}"
        );
        assert_eq!(
            check_room(marks),
            Err(NameError::NothingVisible),
            "{marks:?}"
        );
    }
    // A mark on a letter is a letter with an accent.
    assert_eq!(check_nick("a\u{0301}\u{0300}"), Ok(()));
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(
        NameError::Forbidden('\u{200B}', Forbidden::Invisible).to_string(),
        "holds the character U+200B, which is invisible"
    );
    assert_eq!(
        NameError::Forbidden('\u{378}', Forbidden::Unassigned).to_string(),
        "holds the character U+0378, which is not a character in the Unicode version this \
         server knows"
    );
    assert_eq!(
        NameError::TooLong { max: 32 }.to_string(),
        "is longer than 32 characters"
    );
    assert_eq!(
        NameError::NothingVisible.to_string(),
        "has only combining marks, which display as nothing"
    );
}

#[test]
fn keys_see_through_look_alikes() {
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
        ("lobby", "Iobby"),
        ("ac", "a\u{03F2}"), // the lunate sigma, which NFKC alone makes a final sigma
        ("lobby", "l\u{043E}bby"),
        ("lobby", "\u{FF4C}\u{FF4F}\u{FF42}\u{FF42}\u{FF59}"),
    ];
    for (a, b) in same {
        assert_eq!(look_alike_key(a), look_alike_key(b), "{a:?} and {b:?}");
        assert!(same_name(a, b), "{a:?} and {b:?}");
    }
    let different = [
        ("bob", "bobby"),
        ("bob", "rob"),
        ("alice", "alicia"),
        ("小明", "小朋"),
        ("ann", "anne"),
        ("a1", "a2"),
        ("mail", "mall"),
    ];
    for (a, b) in different {
        assert_ne!(look_alike_key(a), look_alike_key(b), "{a:?} and {b:?}");
        assert!(!same_name(a, b), "{a:?} and {b:?}");
    }
}

#[test]
fn a_key_is_its_own_key() {
    // The prototype of % is °/₀, and ₀ is a 0, whose prototype is O.
    assert_eq!(look_alike_key("%"), "°/o");
    assert_eq!(look_alike_key("°/o"), "°/o");
}

#[test]
fn fold_ignores_case() {
    assert_eq!(fold("Bob"), fold("bOB"));
    assert_eq!(fold("ÉMILE"), fold("émile"));
    // A final sigma is a sigma.
    assert_eq!(fold("ΟΔΥΣΣΕΥΣ"), fold("οδυσσευς"));
    assert_ne!(fold("bob"), fold("bob2"));
    // BILL and bill are the same name by case, though not by look (I is like l).
    assert!(same_name("BILL", "bill"));
}

#[test]
fn members_sort_case_insensitively() {
    let mut names = vec!["bob", "Émile", "alice", "Alice", "émile", "ZOE", "anna"];
    names.sort_unstable_by(|a, b| cmp_members(a, b));
    assert_eq!(
        names,
        ["Alice", "alice", "anna", "bob", "ZOE", "Émile", "émile"]
    );
    let mut members: Vec<String> = ["Amy", "bo", "zed"].map(String::from).to_vec();
    insert_member(&mut members, "Carl".into());
    assert_eq!(members, ["Amy", "bo", "Carl", "zed"]);
    insert_member(&mut members, "Carl".into());
    assert_eq!(members.len(), 4, "no nick twice");
}

/// Every code point of a binary property, for drawing from.
fn chars_of(ranges: impl Iterator<Item = std::ops::RangeInclusive<u32>>) -> Vec<char> {
    ranges.flatten().filter_map(char::from_u32).collect()
}

/// Characters a name may not hold however it is written: default-ignorable code points,
/// noncharacters and unassigned code points.
fn never_allowed() -> impl Strategy<Value = char> {
    let ignorable = chars_of(CodePointSetData::new::<DefaultIgnorableCodePoint>().iter_ranges());
    let nonchars = chars_of(CodePointSetData::new::<NoncharacterCodePoint>().iter_ranges());
    let unassigned = chars_of(
        CodePointMapData::<GeneralCategory>::new()
            .iter_ranges_for_value(GeneralCategory::Unassigned),
    );
    prop_oneof![select(ignorable), select(nonchars), select(unassigned)]
}

fn combining_marks() -> Vec<char> {
    let gc = CodePointMapData::<GeneralCategory>::new();
    let mut marks = chars_of(gc.iter_ranges_for_value(GeneralCategory::NonspacingMark));
    marks.extend(chars_of(
        gc.iter_ranges_for_value(GeneralCategory::SpacingMark),
    ));
    marks.extend(chars_of(
        gc.iter_ranges_for_value(GeneralCategory::EnclosingMark),
    ));
    marks.retain(|&c| Forbidden::of(c).is_none());
    marks
}

/// Names built from pieces that people use and pieces that attackers use.
fn risky_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9_.-]{1,3}",
        1 => Just("é".to_owned()),
        1 => Just("小".to_owned()),
        1 => Just("🦀".to_owned()),
        1 => Just("\u{0430}".to_owned()),
        1 => Just("\u{FF42}".to_owned()),
        2 => select(combining_marks()).prop_map(String::from),
        1 => never_allowed().prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 1..8).prop_map(|pieces| pieces.concat())
}

/// An allowed ASCII name, and a look-alike spelling of it: letters swapped for their
/// Cyrillic or Greek twins, for fullwidth or mathematical forms, `l` for `I` or `1`.
fn name_and_look_alike() -> impl Strategy<Value = (String, String)> {
    "[a-z][a-z0-9]{0,11}".prop_flat_map(|name| {
        let swaps: Vec<_> = name
            .chars()
            .map(|c| {
                let mut twins = vec![c, fullwidth(c), bold(c)];
                twins.extend(match c {
                    'a' => &['\u{0430}'][..],
                    'c' => &['\u{0441}', '\u{03F2}'],
                    'e' => &['\u{0435}'],
                    'o' => &['\u{043E}', '\u{03BF}', '0'],
                    'p' => &['\u{0440}', '\u{03C1}'],
                    'x' => &['\u{0445}'],
                    'y' => &['\u{0443}'],
                    'l' => &['I', '1', '|'],
                    'i' => &['\u{0456}'],
                    _ => &[],
                });
                select(twins)
            })
            .collect();
        (
            Just(name),
            swaps.prop_map(|cs| cs.into_iter().collect::<String>()),
        )
    })
}

fn fullwidth(c: char) -> char {
    char::from_u32(u32::from(c) - 0x21 + 0xFF01).unwrap_or(c)
}

/// MATHEMATICAL BOLD SMALL A... and digits.
fn bold(c: char) -> char {
    let base = match c {
        'a'..='z' => 0x1D41A + u32::from(c) - u32::from('a'),
        '0'..='9' => 0x1D7CE + u32::from(c) - u32::from('0'),
        _ => return c,
    };
    char::from_u32(base).unwrap_or(c)
}

proptest! {
    #[test]
    fn an_accepted_name_has_a_visible_base_and_nothing_forbidden(name in risky_name()) {
        if check_nick(&name).is_ok() {
            prop_assert!(name.chars().any(is_base), "{:?}", name);
            prop_assert!(name.chars().all(|c| Forbidden::of(c).is_none()), "{:?}", name);
            prop_assert!(name.chars().all(|c| !is_invisible(c)), "{:?}", name);
            prop_assert!(name.chars().count() <= MAX_NICK_CHARS);
        }
        prop_assert_eq!(check_room(&name).is_ok(), check_nick(&name).is_ok()
            || (name.chars().count() > MAX_NICK_CHARS && name.chars().count() <= MAX_ROOM_CHARS));
    }

    #[test]
    fn a_forbidden_character_anywhere_refuses_the_name(
        name in "[a-z]{1,8}",
        bad in never_allowed(),
        at in 0usize..9,
    ) {
        let mut chars: Vec<char> = name.chars().collect();
        chars.insert(at.min(chars.len()), bad);
        let spoiled: String = chars.into_iter().collect();
        let refused = check_nick(&spoiled);
        prop_assert!(
            matches!(refused, Err(NameError::Forbidden(c, _)) if c == bad),
            "{:?}: {:?}", spoiled, refused
        );
        prop_assert_eq!(check_room(&spoiled), refused);
    }

    #[test]
    fn combining_marks_alone_are_refused(
        marks in proptest::collection::vec(select(combining_marks()), 1..6),
    ) {
        let name: String = marks.into_iter().collect();
        prop_assert_eq!(check_nick(&name), Err(NameError::NothingVisible));
        prop_assert_eq!(check_room(&name), Err(NameError::NothingVisible));
    }

    #[test]
    fn look_alikes_share_a_key((name, twin) in name_and_look_alike()) {
        prop_assert_eq!(check_nick(&twin), Ok(()));
        prop_assert_eq!(look_alike_key(&name), look_alike_key(&twin), "{:?}", twin);
        prop_assert!(same_name(&name, &twin));
        // Case does not matter either way.
        prop_assert!(same_name(&name.to_uppercase(), &name));
    }

    #[test]
    fn keys_are_idempotent(name in risky_name()) {
        let key = look_alike_key(&name);
        prop_assert_eq!(look_alike_key(&key), key.clone(), "{:?}", name);
        let folded = fold(&name);
        prop_assert_eq!(fold(&folded), folded);
    }

    #[test]
    fn member_order_is_the_order_of_folds(a in risky_name(), b in risky_name()) {
        let expected = fold(&a).cmp(&fold(&b)).then_with(|| a.cmp(&b));
        prop_assert_eq!(cmp_members(&a, &b), expected);
        prop_assert_eq!(cmp_members(&b, &a), expected.reverse());
        prop_assert_eq!(cmp_members(&a, &b).is_eq(), a == b);
    }

    #[test]
    fn inserting_members_one_by_one_sorts_them(
        names in proptest::collection::vec("[a-zA-Zé]{1,4}", 0..30),
    ) {
        let mut members = Vec::new();
        for name in &names {
            insert_member(&mut members, name.clone());
        }
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| cmp_members(a, b));
        sorted.dedup();
        prop_assert_eq!(members, sorted);
    }
}
