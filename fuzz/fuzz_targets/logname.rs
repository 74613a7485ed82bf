//! The login-name editor: every name it hands out must be safe for the login program, every
//! echoed byte printable ASCII, CR, LF or BS.
//!
//! Input: the first byte sets the maximum name length, the rest is what the caller types.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::logname::{Edit, Editor, EditorConfig, NameOutcome, is_safe_name};

fn check(step: &Edit, max_len: usize) -> bool {
    assert!(
        step.echo
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\r' | b'\n' | 0x08)),
        "echo {:?}",
        step.echo
    );
    match &step.outcome {
        Some(NameOutcome::Name { name, .. }) => {
            assert!(is_safe_name(name), "unsafe name {name:?}");
            assert!(name.len() <= max_len, "{} > {max_len}", name.len());
            true
        }
        Some(NameOutcome::Eof | NameOutcome::AutoPpp { .. }) => true,
        Some(NameOutcome::Empty { .. } | NameOutcome::Reprompt) | None => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&len, input)) = data.split_first() else {
        return;
    };
    let cfg = EditorConfig {
        max_len: usize::from(len),
    };
    let mut ed = Editor::new(cfg);
    let max_len = ed.max_len();
    assert!((1..=rgetty::proto::logname::HARD_MAX_LEN).contains(&max_len));
    for &b in input {
        let mut done = check(&ed.feed(b), max_len);
        // Empty and Reprompt may leave typed-ahead bytes queued
        while !done {
            match ed.resume() {
                Some(step) => done = check(&step, max_len),
                None => break,
            }
        }
        assert!(ed.name_so_far().len() <= max_len);
        if done {
            // the getty would exec or exit; start a fresh attempt to keep fuzzing
            ed = Editor::new(cfg);
        }
    }
});
