//! Fuzzing the stack loader on stable Rust (proptest): mutated shipped stacks and YAML-shaped
//! noise must give `Ok` or a located error, never a panic, and in bounded time. The number of
//! cases is bounded for CI (`MCK_FUZZ_CASES`, default 2000 per property); run it longer locally with
//! `MCK_FUZZ_CASES=200000 cargo test -p mck-core --features testing fuzz --release`.

use proptest::prelude::*;

use super::*;

fn cases() -> u32 {
    std::env::var("MCK_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000)
}

/// The shipped `base.yaml`, a complete stack on its own: a realistic, valid starting point.
fn seed() -> String {
    std::fs::read_to_string("../../stacks/base.yaml").unwrap()
}

/// One edit of a text: delete, insert or replace a span with YAML-significant material.
#[derive(Clone, Debug)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Replace { at: usize, len: usize, text: String },
}

fn yaml_bits() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("\n  ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!binary ".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\t".to_string()),
        Just("---\n".to_string()),
        Just("? ".to_string()),
        Just("0x7fffffffffffffff".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("1e400".to_string()),
        Just("10.0.0.0/8".to_string()),
        Just("us-east-1z".to_string()),
        Just("\u{feff}".to_string()),
        Just("é".to_string()),
        "[a-z_]{1,12}".prop_map(|s| s),
        "[ -~]{0,8}".prop_map(|s| s),
    ]
}

fn edit(len: usize) -> impl Strategy<Value = Edit> {
    let at = 0..=len;
    prop_oneof![
        (at.clone(), 1..40usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (at.clone(), yaml_bits()).prop_map(|(at, text)| Edit::Insert { at, text }),
        (at, 1..10usize, yaml_bits()).prop_map(|(at, len, text)| Edit::Replace { at, len, text }),
    ]
}

/// Applies edits at char boundaries (offsets are clamped and moved back to one).
fn apply(mut text: String, edits: &[Edit]) -> String {
    let boundary = |t: &str, mut i: usize| {
        i = i.min(t.len());
        while !t.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    for e in edits {
        match e {
            Edit::Delete { at, len } => {
                let a = boundary(&text, *at);
                let b = boundary(&text, a + len);
                text.replace_range(a..b, "");
            }
            Edit::Insert { at, text: new } => {
                let a = boundary(&text, *at);
                text.insert_str(a, new);
            }
            Edit::Replace { at, len, text: new } => {
                let a = boundary(&text, *at);
                let b = boundary(&text, a + len);
                text.replace_range(a..b, new);
            }
        }
    }
    text
}

/// Loading must end in a stack or a located error: each problem names a place in the file
/// (`fuzz.yaml`, a line of the text or the one after its end, a column from 1). Lowering a
/// loaded stack must end in a graph or an error. Any panic fails the property.
fn load_never_panics(text: &str) {
    match parse_str("fuzz", "fuzz.yaml", text) {
        Ok(stack) => {
            let _ = crate::lower::lower(&stack);
        }
        Err(err) => {
            assert!(!err.diagnostics.is_empty(), "an error says what: {text:?}");
            let n_lines = text.lines().count();
            for diagnostic in &err.diagnostics {
                let loc = diagnostic
                    .loc
                    .as_ref()
                    .unwrap_or_else(|| panic!("{diagnostic} has no location: {text:?}"));
                assert_eq!(&*loc.file, "fuzz.yaml", "{diagnostic}");
                assert!(
                    (1..=n_lines + 1).contains(&loc.line) && loc.col >= 1,
                    "{diagnostic} is outside the text of {n_lines} lines: {text:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_stacks_load_or_fail_with_a_located_error(edits in proptest::collection::vec(edit(2500), 1..8)) {
        let text = apply(seed(), &edits);
        load_never_panics(&text);
    }

    #[test]
    fn yaml_shaped_noise_loads_or_fails_with_a_located_error(bits in proptest::collection::vec(yaml_bits(), 0..60)) {
        load_never_panics(&bits.concat());
    }
}

#[test]
fn the_seed_is_a_valid_stack() {
    parse_str("fuzz", "fuzz.yaml", &seed()).unwrap();
}
