//! The block list: `BlockList::parse`, `lookup` and `decide` for a caller ID.
//!
//! Input: the first line is the caller ID, the rest is the file text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::config::blocklist::{Action, BlockList, Screen, Verdict, decide};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (cid, file) = text.split_once('\n').unwrap_or(("none", &text));
    let (list, errors) = BlockList::parse(file, "f");
    for e in &errors {
        assert!(e.loc.line >= 1, "{e}");
    }
    for id in [cid, "none", "", "P"] {
        let hit = list.lookup(id);
        if let Some(e) = hit {
            assert!(e.pattern.matches(id));
            // an allow entry anywhere wins
            let any_allow = list
                .entries
                .iter()
                .any(|x| x.action == Action::Allow && x.pattern.matches(id));
            assert_eq!(e.action == Action::Allow, any_allow);
        }
        let v = decide(&Screen::Missing, &Screen::Ok(list.clone()), "d", id);
        match hit.map(|e| e.action) {
            Some(Action::Block) => assert!(matches!(v, Verdict::Block(_))),
            Some(Action::Ignore) => assert!(matches!(v, Verdict::Refuse(_))),
            _ => assert_eq!(v, Verdict::Answer),
        }
    }
});
