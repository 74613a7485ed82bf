//! dialin.config: `Rules::parse`, then `first_match`/`allows` for a caller ID.
//!
//! Input: the first line is the caller ID, the rest is the file text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgetty::config::dialin::Rules;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (cid, file) = text.split_once('\n').unwrap_or(("none", &text));
    let rules = Rules::parse(file);
    for r in &rules.rules {
        assert!(!r.prefix.contains([' ', '\t', ',', '\n', '\r']), "{r:?}");
    }
    for id in [cid, "none", ""] {
        let first = rules.first_match(id);
        assert_eq!(rules.allows(id), first.is_none_or(|r| !r.deny));
        if let Some(r) = first {
            assert!(r.prefix == "all" || id.starts_with(r.prefix.as_str()));
        }
    }
    // an empty file lets everybody in
    if rules.rules.is_empty() {
        assert!(rules.allows(cid));
    }
});
