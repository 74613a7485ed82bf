//! Console escapes: `escape::Escapes` gives the same data and actions whatever the reads;
//! input without the escape character passes through unchanged; a `~!` name holds only
//! letters, digits, `-` and `_` and at most `MAX_NAME` of them; `~p` counts stay within
//! `MAX_REPLAY`.
//!
//! Input: the first byte is the escape character and sets the read size, the rest is typed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::proto::escape::{Action, Escapes, Item, MAX_NAME, MAX_REPLAY};

/// Feed `chunks`, joining data items that a read boundary split.
fn run<'a>(esc: u8, chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Item> {
    let mut e = Escapes::new(esc);
    let mut out: Vec<Item> = Vec::new();
    for c in chunks {
        for it in e.feed(c) {
            match (out.last_mut(), it) {
                (Some(Item::Data(d)), Item::Data(more)) => d.extend(more),
                (_, it) => out.push(it),
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&esc, typed)) = data.split_first() else {
        return;
    };
    let whole = run(esc, std::iter::once(typed));
    let size = usize::from(esc % 5) + 1;
    assert_eq!(whole, run(esc, typed.chunks(size)), "read size {size}");
    if !typed.contains(&esc) && !typed.is_empty() {
        assert_eq!(whole, vec![Item::Data(typed.to_vec())]);
    }
    for it in &whole {
        match it {
            Item::Data(d) => assert!(!d.is_empty()),
            Item::Act(Action::Reset(n)) => assert!(
                !n.is_empty()
                    && n.len() <= MAX_NAME
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            ),
            Item::Act(Action::Replay(n)) => assert!(*n <= MAX_REPLAY),
            Item::Act(_) => {}
        }
    }
});
